"""Per-person limits of the employee store (portal/members/limits.py), on both backends: units of
one SKU and money per person within the programme terms' period, counted over the person's
orders that are paid or waiting for payment. A refusal names the limit and what is left, and
leaves nothing held. (A private sale's own limits: tests/members/test_private_sales.py; two
checkouts of one person racing: tests/members/test_private_sale_race.py.)"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.core.db import utcnow
from portal.core.errors import ValidationFailed
from portal.extensions import db
from portal.inventory.models import Grade
from portal.members.limits import allowance
from portal.storefront import orders, returns, tiers
from portal.storefront.checkout import CheckoutLine, checkout
from portal.storefront.models import ConsumerOrder, Fulfilment, Tier
from tests.members.test_private_sales import SaleShop, build_sale_shop, buy
from tests.support.consumer_orders import pay_by_notice

TERMS = {"units_per_sku": 3, "amount_per_period_cents": 50_000, "period_days": 30}
TEE, POLO = 7_960, 11_960  # the employee prices: 40% of 199.00 and 299.00


@pytest.fixture
def built(app, monkeypatch) -> SaleShop:
    built = build_sale_shop("LM", monkeypatch, **TERMS)
    variants = [built.shop.net.variants[sku] for sku in ("TEE-BLK-M", "POLO-WHT-M")]
    tiers.move_tier(built.hq, variants, Tier.OUTLET)  # listed in the employee store
    built.shop.receive("LJ", "TEE-BLK-M", 10)
    return built


def shop(built: SaleShop, consumer, wanted: dict[str, int], token: str = "tok-1"):
    """An employee-store order, picked up at Lujiazui (grade A)."""
    return buy(built, consumer, wanted, code=None, token=token, grade=Grade.A)


def count_orders(built: SaleShop) -> int:
    return db.session.execute(
        select(func.count(ConsumerOrder.id)).where(ConsumerOrder.brand_id == built.brand.id)
    ).scalar_one()


def test_units_of_one_sku_per_person_name_the_line_and_what_is_left(built):
    consumer = built.person()
    first = shop(built, consumer, {"TEE-BLK-M": 2})
    assert first.lines[0].unit_price_cents == TEE
    before = built.level("TEE-BLK-M")
    with pytest.raises(ValidationFailed) as refused:
        shop(built, consumer, {"POLO-WHT-M": 1, "TEE-BLK-M": 2}, token="again")
    message = "Limit 3 per person for TEE-BLK-M in 30 days: 1 left."
    assert refused.value.fields == {"lines.1": message}
    assert refused.value.message == message
    assert built.level("TEE-BLK-M") == before and count_orders(built) == 1
    shop(built, consumer, {"POLO-WHT-M": 1, "TEE-BLK-M": 1}, token="within")
    # Each person has their own allowance.
    shop(built, built.person(), {"TEE-BLK-M": 3}, token="someone-else")


def test_money_per_person_names_what_is_left(built):
    consumer = built.person()
    shop(built, consumer, {"TEE-BLK-M": 3, "POLO-WHT-M": 2})  # 478.00 of 500.00
    with pytest.raises(ValidationFailed) as refused:
        shop(built, consumer, {"POLO-WHT-M": 1}, token="again")
    assert refused.value.fields == {
        "lines": "Limit CN¥500.00 per person in 30 days in the employee store: CN¥22.00 left."
    }
    assert allowance(built.brand, consumer, []).cents == 2_200


def test_cancelled_orders_and_orders_before_the_period_do_not_count(built):
    consumer = built.person()
    cancelled = shop(built, consumer, {"TEE-BLK-M": 3})
    orders.cancel(consumer, cancelled)
    old = shop(built, consumer, {"TEE-BLK-M": 3}, token="old")
    pay_by_notice(old)
    old.created_at = utcnow() - timedelta(days=31)
    db.session.flush()
    allowed = allowance(built.brand, consumer, [built.variant_id("TEE-BLK-M")])
    assert allowed.units == {built.variant_id("TEE-BLK-M"): 3}
    shop(built, consumer, {"TEE-BLK-M": 3}, token="now")


def test_units_returned_and_refunded_no_longer_count(built):
    consumer = built.person()
    order = shop(built, consumer, {"TEE-BLK-M": 3})
    pay_by_notice(order)
    staff = built.shop.staff("LJ")
    orders.accept(staff, order)
    orders.mark_ready(staff, order)
    orders.hand_over(staff, order, order.pickup_code)
    asked = returns.request_return(
        consumer, order, [returns.ReturnLineInput(order.lines[0].id, 2)], reason="too big"
    )
    with pytest.raises(ValidationFailed):  # asked back, not yet refunded: still counts
        shop(built, consumer, {"TEE-BLK-M": 1}, token="asked")
    returns.receive(staff, asked, {asked.lines[0].id: Grade.A})
    returns.refund(staff, asked)
    shop(built, consumer, {"TEE-BLK-M": 2}, token="after-refund")


def test_a_consumer_who_is_no_member_is_counted_by_their_account(built):
    consumer = built.shop.consumer(member=False)
    built.people[consumer.id] = frozenset({"employee"})
    shop(built, consumer, {"TEE-BLK-M": 2})
    with pytest.raises(ValidationFailed) as refused:
        shop(built, consumer, {"TEE-BLK-M": 2}, token="again")
    assert refused.value.fields == {
        "lines.0": "Limit 3 per person for TEE-BLK-M in 30 days: 1 left."
    }


def test_the_other_storefronts_have_no_such_limits(built):
    consumer = built.person()
    for token in ("one", "two"):
        checkout(
            consumer,
            built.brand,
            Tier.OUTLET,
            [CheckoutLine(built.variant_id("TEE-BLK-M"), 2)],
            fulfilment=Fulfilment.PICKUP,
            checkout_token=token,
            pickup_location_id=built.shop.locations["LJ"].id,
        )
    assert count_orders(built) == 2
