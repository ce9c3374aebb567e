"""A member's points and wallet pages and API (portal/members/wallet_views.py, points_api.py):
balances and history as the member sees them, and a top-up paid in the browser through the
test gateway's page, credited once."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.members.ledger_models import WalletTopUp
from portal.storefront.auth import start_session
from tests.members.test_points import (
    buy,
    fund,
    till_points,
    wallet_of,
)
from tests.storefront.test_cart_views import page, sign_in
from tests.storefront.test_pay_views import press
from tests.support.retail import RetailShop, build_retail_shop


@pytest.fixture
def shop(app) -> RetailShop:
    return build_retail_shop("PT")


def test_the_wallet_page_shows_the_balance_and_what_moved(client, shop):
    consumer = sign_in(client, shop)
    fund(shop, consumer, 12_345)
    buy(shop, consumer, wallet_cents=2345)
    db.session.commit()
    html = page(client.get("/shop/PT/member/wallet"))
    assert 'data-testid="wallet-balance"><span class="shop-price">CN¥100.00<' in html
    assert re.findall(r'data-testid="wallet-entry" data-kind="(\w+)"', html) == ["pay", "top_up"]
    assert "cannot be withdrawn as cash" in html
    assert "-CN¥23.45" in html and "+CN¥123.45" in html


def test_the_points_page_shows_usable_and_pending_points(client, shop):
    consumer = sign_in(client, shop)
    till_points(shop, consumer, 300)
    buy(shop, consumer, points_=120)
    db.session.commit()
    html = page(client.get("/shop/PT/member/points"))
    assert 'data-testid="points-available">180<' in html
    assert 'data-testid="points-pending">0<' in html
    kinds = re.findall(r'data-testid="points-entry" data-kind="(\w+)"', html)
    assert kinds == ["redeem", "mature", "pos_earn"]


def test_someone_who_never_joined_is_offered_the_membership(client, shop):
    sign_in(client, shop, shop.consumer(member=False))
    for path in ("points", "wallet", "wallet/top-up"):
        html = page(client.get(f"/shop/PT/member/{path}"))
        assert 'data-testid="not-member"' in html
        assert 'href="/shop/PT/member/join"' in html


def test_signed_out_visitors_are_sent_to_sign_in(client, shop):
    db.session.commit()
    response = client.get("/shop/PT/member/wallet")
    assert response.status_code == 302 and "/shop/PT/account/sign-in" in response.location


def test_a_top_up_paid_at_the_gateway_reaches_the_wallet_once(client, shop):
    consumer = sign_in(client, shop)
    form = page(client.get("/shop/PT/member/wallet/top-up"))
    assert 'data-testid="top-up-form"' in form
    response = client.post("/shop/PT/member/wallet/top-up", data={"amount": "88.50"})
    assert response.status_code == 302
    top_up_page = response.location
    html = page(client.get(top_up_page))
    assert 'data-testid="top-up-waiting"' in html
    href = re.search(r'href="([^"]+)" data-testid="pay-start"', html).group(1)
    parts = urlsplit(href.replace("&amp;", "&"))
    paid = press(client, f"{parts.path}?{parts.query}", "pay")
    assert paid.status_code == 302 and paid.location == top_up_page
    assert 'data-testid="top-up-paid"' in page(client.get(top_up_page))
    assert wallet_of(consumer) == 8850
    # Paying again from the same page: the top-up is paid, nothing more is asked or credited.
    assert 'data-testid="pay-start"' not in page(client.get(top_up_page))
    assert wallet_of(consumer) == 8850
    html = page(client.get("/shop/PT/member/wallet"))
    assert 'data-testid="wallet-balance"><span class="shop-price">CN¥88.50<' in html


def test_a_top_up_out_of_range_names_the_amount_and_makes_nothing(client, shop):
    sign_in(client, shop)
    response = client.post("/shop/PT/member/wallet/top-up", data={"amount": "0.50"})
    assert response.status_code == 422
    assert 'id="f-amount-error"' in page(response)
    assert "An amount from CN¥1.00 to CN¥5,000.00." in page(response)
    made = select(func.count(WalletTopUp.id)).where(WalletTopUp.brand_id == shop.brand.id)
    assert db.session.execute(made).scalar_one() == 0


def test_another_consumers_top_up_is_not_found(client, shop):
    sign_in(client, shop)
    response = client.post("/shop/PT/member/wallet/top-up", data={"amount": "10"})
    address = response.location
    sign_in(client, shop)  # someone else now
    assert client.get(address).status_code == 404


# -- the API -------------------------------------------------------------------------------------


def _token(consumer) -> dict[str, str]:
    secret, _expires = start_session(consumer, kind="api")
    db.session.commit()
    return {"Authorization": f"Bearer {secret}"}


def test_the_api_gives_the_member_their_points_and_wallet(client, shop):
    consumer = shop.consumer()
    till_points(shop, consumer, 300)
    fund(shop, consumer, 5000)
    buy(shop, consumer, points_=100, wallet_cents=1000)
    headers = _token(consumer)
    got = client.get("/api/v1/shop/PT/member/points", headers=headers).get_json()
    assert (got["pending"], got["available"], got["cents_per_point"]) == (0, 200, 1)
    assert [e["kind"] for e in got["entries"]] == ["redeem", "mature", "pos_earn"]
    assert got["entries"][0]["available_delta"] == -100
    money = client.get("/api/v1/shop/PT/member/wallet", headers=headers).get_json()
    assert (money["balance_cents"], money["currency"]) == (4000, "CNY")
    assert [(e["kind"], e["amount_cents"]) for e in money["entries"]] == [
        ("pay", -1000),
        ("top_up", 5000),
    ]


def test_the_api_answers_a_consumer_who_never_joined_with_zeros(client, shop):
    headers = _token(shop.consumer(member=False))
    got = client.get("/api/v1/shop/PT/member/wallet", headers=headers).get_json()
    assert (got["member_number"], got["balance_cents"], got["entries"]) == (None, 0, [])


def test_the_api_refuses_a_token_of_another_brand_or_none(client, shop):
    from tests.support.retail import build_retail_shop

    other = build_retail_shop("PU")
    headers = _token(other.consumer())
    assert client.get("/api/v1/shop/PT/member/points", headers=headers).status_code == 401
    assert client.get("/api/v1/shop/PT/member/wallet").status_code == 401
