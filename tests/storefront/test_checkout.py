"""Checkout as a service, on both backends (tests/support/retail.py: stores at known points in
Shanghai, official prices from the policy): what is charged, where the units are held, what is
refused and how, and that a retried checkout is one order."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.core.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.inventory.errors import InsufficientStock
from portal.inventory.models import MoveReason, StockMove
from portal.inventory.services import check_ledger
from portal.network.models import Organization, OrgStatus
from portal.storefront import tiers
from portal.storefront.checkout import CheckoutLine, checkout
from portal.storefront.models import ConsumerOrder, Fulfilment, Tier
from portal.storefront.payments.models import PayableKind, Payment, PaymentStatus
from portal.storefront.routing import CannotRoute
from tests.support.retail import RetailShop, build_retail_shop


@pytest.fixture
def shop(app) -> RetailShop:
    return build_retail_shop()


def lines(shop: RetailShop, **qty_by_sku: int) -> list[CheckoutLine]:
    """lines(shop, TEE_BLK_M=2): SKUs spelt with underscores."""
    return [
        CheckoutLine(shop.variant_id(sku.replace("_", "-")), qty) for sku, qty in qty_by_sku.items()
    ]


def pickup(shop, consumer, store: str, wanted, *, token: str = "tok-1", tier: str = Tier.OFFICIAL):
    return checkout(
        consumer,
        shop.brand,
        tier,
        wanted,
        fulfilment=Fulfilment.PICKUP,
        checkout_token=token,
        pickup_location_id=shop.locations[store].id,
    )


def deliver(shop, consumer, wanted, *, token: str = "tok-1", address=None):
    address = address or shop.address(consumer)
    return checkout(
        consumer,
        shop.brand,
        Tier.OFFICIAL,
        wanted,
        fulfilment=Fulfilment.DELIVERY,
        checkout_token=token,
        address_id=address.id,
    )


def where(shop: RetailShop, order: ConsumerOrder) -> str:
    return next(short for short, loc in shop.locations.items() if loc.id == order.location_id)


def count(model, *conditions) -> int:
    return db.session.execute(
        select(func.count()).select_from(model).where(*conditions)
    ).scalar_one()


# -- prices --------------------------------------------------------------------------------------


def test_prices_come_from_the_policy(shop):
    consumer = shop.consumer()
    order = pickup(shop, consumer, "LJ", lines(shop, TEE_BLK_M=2, TEE_BLK_L=1))
    by_sku = {line.variant_id: line for line in order.lines}
    tee_m, tee_l = by_sku[shop.variant_id("TEE-BLK-M")], by_sku[shop.variant_id("TEE-BLK-L")]
    assert (tee_m.unit_price_cents, tee_m.line_cents) == (19_900, 39_800)
    assert (tee_l.unit_price_cents, tee_l.line_cents) == (15_000, 15_000)
    assert tee_m.price_rule_id is not None and tee_l.price_rule_id != tee_m.price_rule_id
    assert (order.goods_cents, order.total_cents, order.total_qty) == (54_800, 54_800, 3)
    assert order.currency == "CNY"
    payment = db.session.get(Payment, order.payment_id)
    assert (payment.amount_cents, payment.currency) == (54_800, "CNY")
    assert (payment.payable_kind, payment.payable_id) == (PayableKind.CONSUMER_ORDER, order.id)
    assert payment.status == PaymentStatus.PENDING
    assert payment.expires_at == order.expires_at


def test_a_new_price_applies_to_new_orders_only(shop):
    consumer = shop.consumer()
    first = pickup(shop, consumer, "LJ", lines(shop, TEE_BLK_M=1), token="before")
    # The official price is the MSRP: HQ lowers it.
    shop.net.variants["TEE-BLK-M"].product.msrp_cents = 17_900
    db.session.flush()
    second = pickup(shop, consumer, "LJ", lines(shop, TEE_BLK_M=1), token="after")
    assert second.lines[0].unit_price_cents == 17_900
    assert first.lines[0].unit_price_cents == 19_900


def test_an_sku_this_storefront_does_not_sell_is_refused_naming_the_line(shop):
    tiers.move_tier(
        shop.net.hq, [shop.net.variants["POLO-WHT-M"]], Tier.OUTLET, pinned=False, note=""
    )
    before = shop.levels()
    with pytest.raises(ValidationFailed) as refused:
        pickup(shop, shop.consumer(), "JA", lines(shop, TEE_BLK_M=1, POLO_WHT_M=1))
    assert list(refused.value.fields) == ["lines.1"]
    assert shop.levels() == before
    assert count(ConsumerOrder) == count(ConsumerOrder, ConsumerOrder.brand_id != shop.brand.id)


def test_a_refusal_names_the_line_as_sent_when_an_sku_comes_twice(shop):
    tiers.move_tier(
        shop.net.hq, [shop.net.variants["POLO-WHT-M"]], Tier.OUTLET, pinned=False, note=""
    )
    tee, polo = shop.variant_id("TEE-BLK-M"), shop.variant_id("POLO-WHT-M")
    wanted = [CheckoutLine(tee, 1), CheckoutLine(tee, 1), CheckoutLine(polo, 1)]
    with pytest.raises(ValidationFailed) as refused:
        pickup(shop, shop.consumer(), "LJ", wanted)
    assert list(refused.value.fields) == ["lines.2"]
    # Two lines of one SKU are one reservation of their sum, checked against what is left.
    with pytest.raises(InsufficientStock) as refused:
        pickup(shop, shop.consumer(), "LJ", [CheckoutLine(tee, 3), CheckoutLine(tee, 3)])
    assert refused.value.fields == {"lines.0": "Only 5 available."}


@pytest.mark.parametrize(
    ("qty", "grade"), [(0, "A"), (100, "A"), (-1, "A"), (True, "A"), (1, "B"), (1, "Z")]
)
def test_bad_lines_are_refused_naming_the_line(shop, qty, grade):
    wanted = [
        CheckoutLine(shop.variant_id("TEE-BLK-L"), 1),
        CheckoutLine(shop.variant_id("TEE-BLK-M"), qty, grade),
    ]
    with pytest.raises(ValidationFailed) as refused:
        pickup(shop, shop.consumer(), "LJ", wanted)
    assert list(refused.value.fields) == ["lines.1"]


def test_an_empty_cart_and_a_missing_token_are_refused(shop):
    consumer = shop.consumer()
    with pytest.raises(ValidationFailed) as refused:
        pickup(shop, consumer, "LJ", [])
    assert list(refused.value.fields) == ["lines"]
    with pytest.raises(ValidationFailed) as refused:
        pickup(shop, consumer, "LJ", lines(shop, TEE_BLK_M=1), token="  ")
    assert list(refused.value.fields) == ["checkout_token"]


def test_a_consumer_of_another_brand_or_a_closed_storefront_is_refused(shop):
    stranger = build_retail_shop("RT").consumer()
    with pytest.raises(PermissionDenied):
        pickup(shop, stranger, "LJ", lines(shop, TEE_BLK_M=1))
    with pytest.raises(PermissionDenied):  # the employee store opens with invite codes
        pickup(shop, shop.consumer(), "LJ", lines(shop, TEE_BLK_M=1), tier=Tier.EMPLOYEE)


# -- pickup --------------------------------------------------------------------------------------


@pytest.mark.parametrize("store", ["HQS", "XJ", "warehouse"])
def test_pickup_at_a_store_that_does_not_hand_over_is_refused_naming_the_field(shop, store):
    # Hongqiao is switched off, Xujiahui delivers only, the warehouse never hands over.
    before = shop.levels()
    with pytest.raises(ValidationFailed) as refused:
        pickup(shop, shop.consumer(), store, lines(shop, TEE_BLK_M=1))
    assert list(refused.value.fields) == ["pickup_location_id"]
    assert shop.levels() == before


def test_pickup_at_a_suspended_store_is_refused(shop):
    store = db.session.get(Organization, shop.locations["LJ"].org_id)
    store.status = OrgStatus.SUSPENDED
    db.session.flush()
    with pytest.raises(ValidationFailed) as refused:
        pickup(shop, shop.consumer(), "LJ", lines(shop, TEE_BLK_M=1))
    assert list(refused.value.fields) == ["pickup_location_id"]
    assert shop.level("LJ", "TEE-BLK-M") == (5, 0)


def test_pickup_at_another_brands_store_is_refused(shop):
    other = build_retail_shop("RT")
    with pytest.raises(ValidationFailed) as refused:
        checkout(
            shop.consumer(),
            shop.brand,
            Tier.OFFICIAL,
            lines(shop, TEE_BLK_M=1),
            fulfilment=Fulfilment.PICKUP,
            checkout_token="t",
            pickup_location_id=other.locations["LJ"].id,
        )
    assert list(refused.value.fields) == ["pickup_location_id"]


def test_pickup_reserves_the_units_at_the_chosen_store(shop):
    consumer = shop.consumer()
    order = pickup(shop, consumer, "LJ", lines(shop, TEE_BLK_M=2))
    assert where(shop, order) == "LJ"
    assert order.fulfilment == Fulfilment.PICKUP and order.status == "awaiting_payment"
    assert (order.contact_name, order.contact_phone) == ("Han Meimei", "+8613800138000")
    assert shop.level("LJ", "TEE-BLK-M") == (5, 2)
    moves = (
        db.session.execute(select(StockMove).where(StockMove.reference == order.number))
        .scalars()
        .all()
    )
    assert [(m.reason, m.on_hand_delta, m.reserved_delta) for m in moves] == [
        (MoveReason.RESERVE, 0, 2)
    ]
    assert check_ledger() == []
    assert [event.kind for event in order.events] == ["place"]


def test_the_safety_stock_stays_on_the_shelf(shop):
    # Jing'an holds 3 tees and keeps 2 for walk-in customers: 1 sells online.
    with pytest.raises(InsufficientStock) as refused:
        pickup(shop, shop.consumer(), "JA", lines(shop, POLO_WHT_M=1, TEE_BLK_M=2))
    assert refused.value.fields == {"lines.1": "Only 1 available."}
    assert "Jing'an" in refused.value.message
    assert shop.level("JA", "TEE-BLK-M") == (3, 0)
    assert shop.level("JA", "POLO-WHT-M") == (5, 0)  # all or nothing
    pickup(shop, shop.consumer(), "JA", lines(shop, TEE_BLK_M=1))
    assert shop.level("JA", "TEE-BLK-M") == (3, 1)
    with pytest.raises(InsufficientStock) as refused:
        pickup(shop, shop.consumer("+8613900139999"), "JA", lines(shop, TEE_BLK_M=1))
    assert refused.value.fields == {"lines.0": "Only 0 available."}
    assert check_ledger() == []


# -- delivery ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wanted", "store"),
    [
        ({"TEE_BLK_M": 1}, "JA"),  # the nearest, its one tee after safety stock
        ({"TEE_BLK_M": 2}, "LJ"),  # Jing'an keeps its safety stock: the next nearest
        ({"TEE_BLK_M": 1, "TEE_BLK_L": 1}, "LJ"),  # Jing'an has no L
        ({"TEE_BLK_M": 6}, "warehouse"),  # no store holds 6 (Hongqiao is switched off)
        ({"RUN_BLK_42": 1}, "warehouse"),
    ],
)
def test_delivery_goes_to_the_nearest_location_with_every_line(shop, wanted, store):
    consumer = shop.consumer()
    order = deliver(shop, consumer, lines(shop, **wanted))
    assert where(shop, order) == store
    assert order.fulfilment == Fulfilment.DELIVERY
    assert order.address["line"] == "1 Nanjing West Road"
    assert (order.latitude, order.longitude) == pytest.approx((31.2290, 121.4560))
    for sku, qty in wanted.items():
        on_hand, reserved = shop.level(store, sku.replace("_", "-"))
        assert reserved == qty
    assert check_ledger() == []


def test_delivery_nobody_can_ship_is_refused_naming_what_is_short(shop):
    before = shop.levels()
    with pytest.raises(CannotRoute) as refused:
        deliver(shop, shop.consumer(), lines(shop, TEE_BLK_M=21))
    assert refused.value.fields == {"TEE-BLK-M": "Only 20 can be sold."}
    assert shop.levels() == before


def test_delivery_needs_one_of_ones_own_addresses_with_a_map_position(shop):
    consumer = shop.consumer()
    someone = shop.consumer("+8613900139999")
    for address in (shop.address(someone), shop.address(consumer, point=None)):
        with pytest.raises(ValidationFailed) as refused:
            deliver(shop, consumer, lines(shop, TEE_BLK_M=1), address=address)
        assert list(refused.value.fields) == ["address_id"]
    with pytest.raises(ValidationFailed) as refused:
        checkout(
            consumer,
            shop.brand,
            Tier.OFFICIAL,
            lines(shop, TEE_BLK_M=1),
            fulfilment="drone",
            checkout_token="t",
        )
    assert list(refused.value.fields) == ["fulfilment"]


# -- one order per checkout token ----------------------------------------------------------------


def test_a_retried_checkout_gets_the_same_order(shop):
    consumer = shop.consumer()
    first = deliver(shop, consumer, lines(shop, TEE_BLK_M=2), token="tap-tap")
    again = deliver(shop, consumer, lines(shop, TEE_BLK_M=2), token="tap-tap")
    assert again.id == first.id
    assert shop.level("LJ", "TEE-BLK-M") == (5, 2)
    assert count(StockMove, StockMove.reference == first.number) == 1
    assert count(Payment, Payment.payable_id == first.id) == 1
    assert count(ConsumerOrder, ConsumerOrder.consumer_id == consumer.id) == 1
    # Another token is another order; another consumer's same token is theirs.
    other = deliver(shop, consumer, lines(shop, TEE_BLK_M=1), token="second")
    assert other.id != first.id
    neighbour = shop.consumer("+8613900139999")
    theirs = pickup(shop, neighbour, "LJ", lines(shop, TEE_BLK_M=1), token="tap-tap")
    assert theirs.id != first.id and theirs.consumer_id == neighbour.id
    assert check_ledger() == []
