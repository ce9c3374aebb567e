"""Spending points, wallet money and coupons on the checkout page (storefront/checkout_views.py,
checkout.html, members/spend_options.py), on both backends: what a member is offered, an order
that adds up and asks the provider for the rest only, one paid at once when nothing is left, bad
input refused on its field with nothing spent, and calling off or refunding giving it all back.

The shop is the coupon tests' (tests/members/test_coupons.py): official prices TEE-BLK-M 199.00,
POLO-WHT-M 299.00, everything picked up at Lujiazui. Default programme terms: a point is worth a
fen, points pay at most 20% of the goods after coupons.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.members.coupon_models import Coupon
from portal.storefront import orders
from portal.storefront.models import Consumer, ConsumerOrder
from portal.storefront.payments.models import Payment, PaymentRefund
from tests.members.test_coupons import CouponShop, build_coupon_shop, fresh
from tests.members.test_points import fund, held, till_points, wallet_of
from tests.storefront.test_cart_views import add, page, sign_in
from tests.storefront.test_checkout_views import form_of
from tests.storefront.test_pay_views import press

SHOP = "/shop/SP"
# TEE-BLK-M and POLO-WHT-M: 199.00 + 299.00
GOODS = 49_800


@pytest.fixture
def cs(app) -> CouponShop:
    built = build_coupon_shop("SP")
    db.session.commit()
    return built


@dataclass
class Member:
    consumer: Consumer
    coupon: Coupon


def member_with_money(client, cs: CouponShop, *, points: int = 12_000, wallet: int = 10_000):
    """A member signed in to the browser with `points` usable points, `wallet` fen in the
    wallet and a ¥20.00 coupon, and the tee and the polo in the cart."""
    consumer = sign_in(client, cs.shop)
    if points:
        till_points(cs.shop, consumer, points)
    if wallet:
        fund(cs.shop, consumer, wallet)
    coupon = cs.give(cs.template(), consumer)
    db.session.commit()
    add(client, cs.shop, "TEE-BLK-M")
    add(client, cs.shop, "POLO-WHT-M")
    return Member(consumer, coupon)


def checkout_form(client, cs: CouponShop, **choices) -> dict:
    html = page(client.get(f"{SHOP}/checkout"))
    return {
        **form_of(html),
        "fulfilment": "pickup",
        "pickup_location_id": str(cs.shop.locations["LJ"].id),
        **choices,
    }


def gateway_address(client, number: str) -> str:
    """The pay page's button: the test gateway's page with the signed particulars."""
    response = client.get(f"{SHOP}/orders/{number}/pay")
    assert response.status_code == 200
    href = re.search(r'href="([^"]+)" data-testid="pay-start"', page(response)).group(1)
    parts = urlsplit(href.replace("&amp;", "&"))
    return f"{parts.path}?{parts.query}"


def order_numbered(number: str) -> ConsumerOrder:
    db.session.expire_all()
    return db.session.execute(select(ConsumerOrder).filter_by(number=number)).scalar_one()


def placed_number(response) -> str:
    assert response.status_code == 302, page(response)[:3000]
    return re.search(r"/orders/(C\w+)/pay$", response.headers["Location"]).group(1)


def orders_of(consumer: Consumer) -> int:
    return db.session.execute(
        select(func.count(ConsumerOrder.id)).where(ConsumerOrder.consumer_id == consumer.id)
    ).scalar_one()


def field_error(html: str, field: str) -> str:
    found = re.findall(rf'data-field="{field}"(?: data-coupon="\d+")?>([^<]+)<', html)
    assert len(found) == 1, (field, found)
    return found[0]


def shown(html: str, name: str) -> str:
    """The text inside the element of that data-testid, tags dropped."""
    found = re.search(rf'data-testid="{name}"[^>]*>(.*?)</p>', html, re.S)
    assert found, name
    return unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip()


# -- what is offered -----------------------------------------------------------------------------


def test_a_member_is_offered_points_wallet_and_coupon_and_someone_else_nothing(client, cs):
    member = member_with_money(client, cs)
    html = page(client.get(f"{SHOP}/checkout"))
    assert 'data-testid="checkout-spend"' in html
    # 12,000 points held; 20% of 498.00 is 99.60, so 9,960 points at most.
    assert "Points to use (you have 12000; at most 9960 on this order)" in html
    assert "From my wallet (CN¥100.00)" in html
    coupon = re.search(r'data-testid="checkout-coupon" data-coupon="(\d+)">.*?<span>([^<]+)<',
                       html, re.S)  # fmt: skip
    assert coupon.groups() == (str(member.coupon.id), "CN¥20.00 off")

    stranger = app_client(client)
    outsider = sign_in(stranger, cs.shop, cs.shop.consumer(member=False))
    db.session.commit()
    add(stranger, cs.shop, "TEE-BLK-M")
    html = page(stranger.get(f"{SHOP}/checkout"))
    assert 'data-testid="checkout-place"' in html
    assert 'data-testid="checkout-spend"' not in html
    assert 'name="points"' not in html and 'name="coupon_ids"' not in html
    assert outsider.member_id is None


def app_client(client):
    """A second browser."""
    return client.application.test_client()


def test_a_member_holding_nothing_to_spend_sees_no_such_section(client, cs):
    consumer = sign_in(client, cs.shop)
    db.session.commit()
    add(client, cs.shop, "TEE-BLK-M")
    assert consumer.member_id is not None
    assert 'data-testid="checkout-spend"' not in page(client.get(f"{SHOP}/checkout"))


# -- spending ------------------------------------------------------------------------------------


def test_coupon_points_and_wallet_add_up_and_the_provider_is_asked_for_the_rest(client, cs):
    member = member_with_money(client, cs)
    form = checkout_form(client, cs, points="3000", wallet="50", coupon_ids=[member.coupon.id])
    number = placed_number(client.post(f"{SHOP}/checkout", data=form))
    order = order_numbered(number)
    assert (order.goods_cents, order.delivery_cents, order.discount_cents) == (GOODS, 0, 2000)
    assert order.total_cents == GOODS - 2000 == 47_800
    assert (order.points_used, order.points_cents, order.wallet_cents) == (3000, 3000, 5000)
    assert order.pay_cents == 47_800 - 3000 - 5000 == 39_800
    payment = db.session.get(Payment, order.payment_id)
    assert (payment.amount_cents, payment.status) == (39_800, "pending")
    # Exactly what the order took, gone from the balances.
    assert held(member.consumer) == (0, 9000)
    assert wallet_of(member.consumer) == 5000
    assert (fresh(member.coupon).status, member.coupon.order_id) == ("used", order.id)

    pay_page = page(client.get(f"{SHOP}/orders/{number}/pay"))
    assert shown(pay_page, "pay-points") == "Paid with 3000 points: CN¥30.00"
    assert shown(pay_page, "pay-wallet") == "Paid from your wallet: CN¥50.00"
    assert re.search(r'data-testid="pay-order-total">.*?CN¥478.00<', pay_page)
    assert re.search(r'data-testid="pay-total">.*?CN¥398.00<', pay_page)
    unpaid = page(client.get(f"{SHOP}/orders/{number}"))
    assert shown(unpaid, "order-pay") == "To pay: CN¥398.00"
    # The gateway is asked for 398.00 and pays it.
    response = press(client, gateway_address(client, number), "pay")
    assert response.status_code == 302
    assert order_numbered(number).status == "paid"

    html = page(client.get(f"{SHOP}/orders/{number}"))
    assert shown(html, "order-discount") == "Coupons: −CN¥20.00"
    assert shown(html, "order-total") == "CN¥478.00"
    assert shown(html, "order-points") == "Paid with 3000 points: CN¥30.00"
    assert shown(html, "order-wallet") == "Paid from your wallet: CN¥50.00"
    assert shown(html, "order-pay") == "Paid online: CN¥398.00"
    assert 'data-testid="pickup-code"' in html
    # The cart is empty, and the member's own pages say the same.
    assert 'data-testid="cart-empty"' in page(client.get(f"{SHOP}/cart"))
    assert 'data-testid="points-available">9000<' in page(client.get(f"{SHOP}/member/points"))
    wallet_page = page(client.get(f"{SHOP}/member/wallet"))
    assert 'data-testid="wallet-balance"><span class="shop-price">CN¥50.00<' in wallet_page
    mine = page(client.get(f"{SHOP}/member/coupons"))
    assert 'data-state="used"' in mine and number in mine


def test_points_and_wallet_paying_everything_pay_the_order_at_once(client, cs):
    consumer = sign_in(client, cs.shop)
    till_points(cs.shop, consumer, 5000)
    fund(cs.shop, consumer, 20_000)
    db.session.commit()
    add(client, cs.shop, "TEE-BLK-M")  # 199.00: points pay at most 39.80
    form = checkout_form(client, cs, points="3980", wallet="159.20")
    number = placed_number(client.post(f"{SHOP}/checkout", data=form))
    order = order_numbered(number)
    assert (order.status, order.pay_cents, order.payment_id) == ("paid", 0, None)
    assert (order.points_cents, order.wallet_cents, order.total_cents) == (3980, 15_920, 19_900)
    assert held(consumer) == (0, 1020) and wallet_of(consumer) == 4080
    assert db.session.execute(select(func.count(Payment.id))).scalar_one() == 0
    # The pay page has nothing to ask: on to the order, with its pickup code.
    response = client.get(f"{SHOP}/orders/{number}/pay")
    assert response.status_code == 302 and response.location.endswith(f"/orders/{number}")
    html = page(client.get(f"{SHOP}/orders/{number}"))
    assert re.search(r'data-testid="pickup-code">\d+<', html)
    assert shown(html, "order-points") == "Paid with 3980 points: CN¥39.80"
    assert shown(html, "order-wallet") == "Paid from your wallet: CN¥159.20"
    assert 'data-testid="order-pay"' not in html  # nothing went through a provider


# -- bad input -----------------------------------------------------------------------------------

BAD = [
    pytest.param({"points": "abc"}, "points", "Whole points, or leave it empty.", id="points-abc"),
    pytest.param({"points": "-5"}, "points", "Whole points, or leave it empty.", id="points-neg"),
    pytest.param({"points": "²"}, "points", "Whole points, or leave it empty.", id="points-sup"),
    pytest.param({"points": "12001"}, "points", "You have 12000 points to use.", id="points-held"),
    pytest.param(  # 20% of the goods after the coupon: of 478.00, not 498.00
        {"points": "9561"},
        "points",
        "Points pay at most 20% of the goods: 9560 points on this order.",
        id="points-cap",
    ),
    pytest.param(
        {"wallet": "1,2,3"},
        "wallet",
        "An amount like 25.50, or leave it empty.",
        id="wallet-commas",
    ),
    pytest.param(
        {"wallet": "1.234"}, "wallet", "An amount like 25.50, or leave it empty.", id="wallet-fen"
    ),
    pytest.param(
        {"wallet": "1e3"}, "wallet", "An amount like 25.50, or leave it empty.", id="wallet-exp"
    ),
    pytest.param({"wallet": "100.01"}, "wallet", "Your wallet holds CN¥100.00.", id="wallet-held"),
]


@pytest.mark.parametrize(("typed", "field", "message"), BAD)
def test_a_wrong_amount_is_named_on_its_field_and_nothing_is_spent(
    client, cs, typed, field, message
):
    member = member_with_money(client, cs)
    before = orders_of(member.consumer)
    form = checkout_form(client, cs, coupon_ids=[member.coupon.id], **typed)
    response = client.post(f"{SHOP}/checkout", data=form)
    assert response.status_code == 422
    html = page(response)
    assert field_error(html, field) == message
    assert f'aria-describedby="f-{field}-error"' in html
    # What was typed and chosen is shown again.
    assert f'value="{typed[field]}" data-testid="checkout-{field}"' in html
    assert re.search(rf'value="{member.coupon.id}" checked', html)
    assert orders_of(member.consumer) == before
    assert held(member.consumer) == (0, 12_000)
    assert wallet_of(member.consumer) == 10_000
    assert fresh(member.coupon).status == "held"
    assert 'data-testid="cart-empty"' not in page(client.get(f"{SHOP}/cart"))


def test_digits_of_other_scripts_are_refused_by_name_not_crashed_on(client, cs):
    member = member_with_money(client, cs)
    form = checkout_form(client, cs, points="²", wallet="٣", coupon_ids=["¹", member.coupon.id])
    response = client.post(f"{SHOP}/checkout", data=form)
    assert response.status_code == 422
    html = page(response)
    assert field_error(html, "points") == "Whole points, or leave it empty."
    assert field_error(html, "wallet") == "An amount like 25.50, or leave it empty."
    assert field_error(html, "coupon_ids") == "This is not one of your coupons."
    response = client.post(
        f"{SHOP}/checkout", data=checkout_form(client, cs, pickup_location_id="²")
    )
    assert response.status_code == 422
    assert "Choose a store that hands over online orders." in page(response)
    assert orders_of(member.consumer) == 0


def test_another_members_coupon_or_a_used_one_is_refused_and_nothing_is_spent(client, cs):
    member = member_with_money(client, cs)
    others = cs.give(cs.template(name="Theirs"), cs.shop.consumer())
    used = cs.give(cs.template(name="Used"), member.consumer)
    cs.buy(member.consumer, coupon_ids=(used.id,))
    db.session.commit()
    before = orders_of(member.consumer)

    form = checkout_form(client, cs, points="100", wallet="10", coupon_ids=[others.id])
    response = client.post(f"{SHOP}/checkout", data=form)
    assert response.status_code == 422
    assert field_error(page(response), "coupon_ids") == "This is not one of your coupons."

    form = checkout_form(client, cs, wallet="10", coupon_ids=[member.coupon.id, used.id])
    response = client.post(f"{SHOP}/checkout", data=form)
    assert response.status_code == 422
    assert field_error(page(response), "coupon_ids") == "This coupon has already been used."

    assert orders_of(member.consumer) == before
    assert held(member.consumer) == (0, 12_000) and wallet_of(member.consumer) == 10_000
    assert fresh(member.coupon).status == "held" and fresh(others).status == "held"


def test_a_coupon_used_in_another_tab_is_named_beside_it(client, cs):
    member = member_with_money(client, cs)
    form = checkout_form(client, cs, coupon_ids=[member.coupon.id])
    cs.buy(member.consumer, coupon_ids=(member.coupon.id,))  # the other tab
    db.session.commit()
    response = client.post(f"{SHOP}/checkout", data=form)
    assert response.status_code == 422
    assert field_error(page(response), "coupon_ids") == "This coupon has already been used."


def test_someone_who_never_joined_cannot_spend_points_and_is_told_so(client, cs):
    sign_in(client, cs.shop, cs.shop.consumer(member=False))
    db.session.commit()
    add(client, cs.shop, "TEE-BLK-M")
    response = client.post(f"{SHOP}/checkout", data=checkout_form(client, cs, points="10"))
    assert response.status_code == 422
    assert field_error(page(response), "points") == (
        "Join the membership to pay with points or the wallet."
    )


# -- calling off and refunds ---------------------------------------------------------------------


def test_calling_off_before_payment_gives_points_wallet_and_coupon_back(client, cs):
    member = member_with_money(client, cs)
    form = checkout_form(client, cs, points="3000", wallet="50", coupon_ids=[member.coupon.id])
    number = placed_number(client.post(f"{SHOP}/checkout", data=form))
    assert held(member.consumer) == (0, 9000) and wallet_of(member.consumer) == 5000
    response = client.post(f"{SHOP}/orders/{number}/cancel")
    assert response.status_code == 302
    assert order_numbered(number).status == "cancelled"
    html = page(client.get(f"{SHOP}/orders/{number}"))
    assert shown(html, "order-wallet") == "Paid from your wallet: CN¥50.00"
    assert 'data-testid="order-pay"' not in html  # nothing was paid online
    assert held(member.consumer) == (0, 12_000)
    assert wallet_of(member.consumer) == 10_000
    assert fresh(member.coupon).status == "held"
    # ... and the next checkout offers them all again.
    add(client, cs.shop, "TEE-BLK-M")
    html = page(client.get(f"{SHOP}/checkout"))
    assert f'data-coupon="{member.coupon.id}"' in html and "From my wallet (CN¥100.00)" in html


def test_a_store_refund_pays_the_provider_part_back_through_it_and_the_rest_to_the_member(
    client, cs
):
    member = member_with_money(client, cs)
    form = checkout_form(client, cs, points="3000", wallet="50", coupon_ids=[member.coupon.id])
    number = placed_number(client.post(f"{SHOP}/checkout", data=form))
    press(client, gateway_address(client, number), "pay")
    order = order_numbered(number)
    assert order.status == "paid"
    orders.refund_by_store(cs.shop.staff("LJ"), order, reason="Damaged in the store")
    db.session.commit()

    refunds = db.session.execute(
        select(PaymentRefund.amount_cents).where(PaymentRefund.payment_id == order.payment_id)
    ).scalars()
    assert list(refunds) == [39_800]  # the provider gives back what it took, no more
    assert (order.status, order.refunded_cents) == ("refunded", 47_800)
    # What the member sees: their points, wallet money and coupon back.
    assert 'data-testid="points-available">12000<' in page(client.get(f"{SHOP}/member/points"))
    wallet_page = page(client.get(f"{SHOP}/member/wallet"))
    assert 'data-testid="wallet-balance"><span class="shop-price">CN¥100.00<' in wallet_page
    assert re.findall(r'data-testid="wallet-entry" data-kind="(\w+)"', wallet_page)[:2] == [
        "refund",
        "pay",
    ]
    assert 'data-state="usable"' in page(client.get(f"{SHOP}/member/coupons"))
    html = page(client.get(f"{SHOP}/orders/{number}"))
    assert shown(html, "order-refunded").startswith("Refunded: CN¥478.00")
    assert "Damaged in the store" in html
