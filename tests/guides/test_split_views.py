"""The split's pages: HQ sees the month's shares of its brand's consumer orders per party and
org, with every row as CSV; a store owner sees only its own store's shares; store staff and
distributors are refused. The order pages' partial shows one order's division, and the store's
account ledger shows the posted shares by name."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from flask import g, render_template
from sqlalchemy import select

from portal.core.db import utcnow
from portal.extensions import db
from portal.network.models import ChannelLink
from tests.support.consumer_orders import build_shop, place
from tests.support.services import org


@pytest.fixture
def sales(app):
    """Two paid orders of ACME: two units at S1, one at S2 (99.00 each)."""
    shop = build_shop()
    first = place(shop.brand, shop.s1, {shop.variant.id: 2})
    second = place(shop.brand, shop.s2, {shop.variant.id: 1})
    db.session.commit()
    return first, second


def html_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def month() -> str:
    return f"{utcnow():%Y-%m}"


def test_hq_sees_each_partys_share_of_the_month(sales, login):
    first, second = sales
    html = html_of(login("hq@demo.test").get("/splits", query_string={"month": month()}))
    assert 'data-party="fulfilling_store" data-org="S1"' in html
    assert 'data-party="fulfilling_store" data-org="S2"' in html
    assert 'data-party="payment_fee" data-org=""' in html
    assert "Payment fee" in html and "Fulfilling store" in html
    # 198.00 less 1.18 fee at S1, 99.00 less 0.59 at S2
    assert "CN¥196.82" in html and "CN¥98.41" in html
    assert "CN¥297.00" in html  # the total is what the consumers paid


def test_a_store_owner_sees_only_its_own_share(sales, login):
    html = html_of(login("store1@demo.test").get("/splits"))
    assert 'data-org="S1"' in html and "CN¥196.82" in html
    assert 'data-org="S2"' not in html
    assert "payment_fee" not in html
    other = html_of(login("store2@demo.test").get("/splits"))
    assert 'data-org="S2"' in other and 'data-org="S1"' not in other


def test_another_month_has_no_split(sales, login):
    earlier = (utcnow().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    html = html_of(login("hq@demo.test").get("/splits", query_string={"month": earlier}))
    assert 'data-testid="no-splits"' in html


def test_hq_of_another_brand_sees_none_of_it(sales, login):
    html = html_of(login("hq2@demo.test").get("/splits"))
    assert 'data-org="S1"' not in html and 'data-testid="no-splits"' in html


@pytest.mark.parametrize(
    ("email", "status"),
    [
        ("staff1@demo.test", 403),  # store staff may not read money at all
        ("dist1@demo.test", 404),  # a distributor has no share in consumer sales
    ],
)
def test_staff_and_distributors_are_refused(sales, login, email, status):
    client = login(email)
    assert client.get("/splits").status_code == status
    assert client.get("/splits.csv").status_code == status


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get("/splits")
    assert response.status_code in (302, 401)


def test_the_csv_has_every_share_of_the_month(sales, login):
    first, second = sales
    response = login("hq@demo.test").get("/splits.csv", query_string={"month": month()})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["Date", "Order", "Party", "Org", "Kind", "Reference", "Amount"]
    mine = [r for r in rows[1:] if r[1] in (first.number, second.number)]
    assert sorted((r[1], r[2], r[3], r[6]) for r in mine) == sorted(
        [
            (first.number, "Fulfilling store", "S1", "196.82"),
            (first.number, "Payment fee", "", "1.18"),
            (second.number, "Fulfilling store", "S2", "98.41"),
            (second.number, "Payment fee", "", "0.59"),
        ]
    )
    store = login("store1@demo.test").get("/splits.csv").get_data(as_text=True)
    assert first.number in store and second.number not in store


def test_the_order_partial_shows_the_division_to_hq_and_the_store_only(sales, actor_for, app):
    first, second = sales
    with app.test_request_context("/"):
        g.actor = actor_for("hq@demo.test")
        html = render_template("splits/_order_split.html", order=first)
        assert 'data-testid="order-split"' in html
        assert 'data-party="fulfilling_store"' in html and "CN¥196.82" in html
        g.actor = actor_for("staff1@demo.test")
        assert "order-split" not in render_template("splits/_order_split.html", order=first)
        g.actor = actor_for("hq2@demo.test")
        assert "order-split" not in render_template("splits/_order_split.html", order=first)
        assert 'data-party="payment_fee"' in html  # HQ sees every share
        g.actor = actor_for("store1@demo.test")  # its own order, not S2's
        own = render_template("splits/_order_split.html", order=first)
        assert "order-split" in own and 'data-party="fulfilling_store"' in own
        assert 'data-party="payment_fee"' not in own  # a store sees its own share only
        assert "order-split" not in render_template("splits/_order_split.html", order=second)


def test_the_stores_account_shows_the_posted_share(sales, login):
    link = db.session.execute(
        select(ChannelLink).where(
            ChannelLink.brand_id == org("ACME").id, ChannelLink.buyer_org_id == org("S1").id
        )
    ).scalar_one()
    html = html_of(login("store1@demo.test").get(f"/accounts/{link.id}"))
    assert 'data-kind="settlement"' in html
    assert "Consumer sale share" in html and "-CN¥196.82" in html
