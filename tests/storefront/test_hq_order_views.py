"""HQ sees every consumer order of its brand, filtered by status, location and day, and one
order's timeline, routing and consumer; another brand's order is a 404, and no one else gets
these pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.catalog.models import Variant
from portal.core.access import Actor
from portal.core.db import utcnow
from portal.extensions import db
from portal.inventory.ledger import MoveLine, apply_moves
from portal.inventory.models import MoveReason
from portal.storefront import orders
from portal.storefront.models import Fulfilment
from tests.support.consumer_orders import SHANGHAI, build_shop, consumer_of, default_location, place
from tests.support.services import org

PAGE = "/hq/shop-orders"


@pytest.fixture
def shop(app):
    return build_shop()


def test_hq_lists_every_order_of_its_brand_with_the_consumer(shop, login):
    a = place(
        shop.brand,
        shop.s1,
        {shop.variant.id: 1},
        consumer=consumer_of(shop.brand, name="Wang Fang", phone="+8613911112222"),
    )
    b = place(
        shop.brand, shop.s2, {shop.variant.id: 1}, fulfilment=Fulfilment.DELIVERY, point=SHANGHAI
    )
    db.session.commit()
    html = login("hq@demo.test").get(PAGE).get_data(as_text=True)
    assert f'data-order="{a.number}"' in html and f'data-order="{b.number}"' in html
    assert "Wang Fang" in html and "+8613911112222" in html


def test_hq_filters_by_status_location_and_day(shop, login):
    paid = place(shop.brand, shop.s1, {shop.variant.id: 1})
    accepted = place(shop.brand, shop.s2, {shop.variant.id: 1})
    orders.accept(Actor.system(), accepted)
    db.session.commit()
    client = login("hq@demo.test")

    def listed(**args) -> set[str]:
        html = client.get(PAGE, query_string=args).get_data(as_text=True)
        return {n for n in (paid.number, accepted.number) if f'data-order="{n}"' in html}

    assert listed(status="preparing") == {accepted.number}
    assert listed(status="paid") == {paid.number}
    assert listed(location=shop.s1.code) == {paid.number}
    today = utcnow().date()
    assert listed(since=today.isoformat(), until=today.isoformat()) == {
        paid.number,
        accepted.number,
    }
    assert listed(since=(today + timedelta(days=1)).isoformat()) == set()
    assert listed(until=(today - timedelta(days=1)).isoformat()) == set()
    assert listed(since="not a day") == {paid.number, accepted.number}


def test_hq_order_page_shows_timeline_routes_and_consumer(shop, login):
    order = place(
        shop.brand,
        shop.s1,
        {shop.variant.id: 1},
        fulfilment=Fulfilment.DELIVERY,
        point=SHANGHAI,
        consumer=consumer_of(shop.brand, name="Zhao Lei", phone="+8613933334444"),
    )
    db.session.commit()
    page = login("hq@demo.test").get(f"{PAGE}/{order.number}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Zhao Lei · +8613933334444" in html
    assert f'data-location="{shop.s1.code}"' in html and "Offered, waiting" in html
    assert "Order placed" in html and "Paid" in html


def test_another_brands_order_is_not_found(shop, login):
    lumi = org("LUMI")
    variant = db.session.execute(
        select(Variant).where(Variant.brand_id == lumi.id).order_by(Variant.id).limit(1)
    ).scalar_one()
    l2 = default_location("L2")
    apply_moves(
        Actor.system(), [MoveLine(l2.id, variant.id, 5)], reason=MoveReason.RECEIPT, reference="x"
    )
    order = place(lumi, l2, {variant.id: 1})
    db.session.commit()
    client = login("hq@demo.test")
    assert client.get(f"{PAGE}/{order.number}").status_code == 404
    assert f'data-order="{order.number}"' not in client.get(PAGE).get_data(as_text=True)
    assert login("hq2@demo.test").get(f"{PAGE}/{order.number}").status_code == 200


def test_stores_and_distributors_are_forbidden_and_hq_has_the_link(shop, login):
    for email in ("store1@demo.test", "staff1@demo.test", "dist1@demo.test"):
        client = login(email)
        assert client.get(PAGE).status_code == 403
        assert 'data-testid="consumer-orders-link"' not in client.get("/").get_data(as_text=True)
    hq = login("merch@demo.test")
    assert 'data-testid="consumer-orders-link"' in hq.get("/").get_data(as_text=True)
    assert hq.get(PAGE).status_code == 200
