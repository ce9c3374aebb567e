"""A consumer order's life after checkout, as services on both backends: paid by the provider's
notice, prepared, handed over against its pickup code or shipped, or called off (cancelled,
expired, refunded). After every step the stock levels, the ledger and the money agree."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.core.access import Permission, Role
from portal.core.errors import NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.inventory.models import MoveReason, StockMove
from portal.inventory.services import check_ledger
from portal.storefront import hooks, jobs, orders
from portal.storefront.checkout import CheckoutLine, checkout
from portal.storefront.models import ConsumerOrder, ConsumerOrderStatus, Fulfilment, Tier
from portal.storefront.payments import services as payments
from portal.storefront.payments.base import Notice, NoticeStatus
from portal.storefront.payments.models import (
    NoticeOutcome,
    Payment,
    PaymentRefund,
    PaymentStatus,
    RefundReason,
)
from portal.storefront.transitions import ConsumerOrderConflict
from tests.support.retail import RetailShop, build_retail_shop

S = ConsumerOrderStatus


@pytest.fixture
def shop(app) -> RetailShop:
    return build_retail_shop()


def place(
    shop: RetailShop, *, store: str = "LJ", qty: int = 2, delivery: bool = False, consumer=None
):
    consumer = consumer or shop.consumer()
    wanted = [CheckoutLine(shop.variant_id("TEE-BLK-M"), qty)]
    if delivery:
        address = shop.address(consumer)
        return checkout(
            consumer,
            shop.brand,
            Tier.OFFICIAL,
            wanted,
            fulfilment=Fulfilment.DELIVERY,
            checkout_token=f"t-{consumer.id}",
            address_id=address.id,
        )
    return checkout(
        consumer,
        shop.brand,
        Tier.OFFICIAL,
        wanted,
        fulfilment=Fulfilment.PICKUP,
        checkout_token=f"t-{consumer.id}",
        pickup_location_id=shop.locations[store].id,
    )


def payment_of(order: ConsumerOrder) -> Payment:
    return db.session.get(Payment, order.payment_id)


def notice(order: ConsumerOrder, name: str = "N-1", transaction: str = "T-1") -> Notice:
    payment = payment_of(order)
    return Notice(
        "test",
        f"{name}-{order.number}",
        payment.reference,
        f"{transaction}-{order.number}",
        payment.amount_cents,
        payment.currency,
        NoticeStatus.PAID,
    )


def pay(order: ConsumerOrder, name: str = "N-1", transaction: str = "T-1"):
    """What the notice route does: record the notice, then move the order, in one transaction."""
    result = payments.record_notice(notice(order, name, transaction))
    orders.order_paid(result.payment)
    return result


def refunds(order: ConsumerOrder) -> list[tuple[int, str]]:
    return [
        (r.amount_cents, r.reason)
        for r in db.session.execute(
            select(PaymentRefund).where(PaymentRefund.payment_id == order.payment_id)
        ).scalars()
    ]


def ledger(order: ConsumerOrder) -> list[tuple[str, int, int]]:
    return [
        (m.reason, m.on_hand_delta, m.reserved_delta)
        for m in db.session.execute(
            select(StockMove).where(StockMove.reference == order.number).order_by(StockMove.id)
        ).scalars()
    ]


def kinds(order: ConsumerOrder) -> list[str]:
    db.session.flush()
    db.session.refresh(order, ["events"])
    return [event.kind for event in sorted(order.events, key=lambda e: e.id)]


RESERVE2 = (MoveReason.RESERVE, 0, 2)
RELEASE2 = (MoveReason.RELEASE, 0, -2)
SALE2 = (MoveReason.SALE, -2, -2)


# -- payment -------------------------------------------------------------------------------------


def test_a_paid_notice_pays_the_order_once_and_gives_a_pickup_code(shop):
    order = place(shop)
    pay(order)
    assert order.status == S.PAID and order.paid_at is not None
    assert order.pickup_code is not None and len(order.pickup_code) == 8
    assert order.pickup_code.isdigit()
    code = order.pickup_code
    again = pay(order)  # the provider tells it again
    assert again.repeated
    assert (order.status, order.pickup_code) == (S.PAID, code)
    assert kinds(order) == ["place", "pay"]
    assert shop.level("LJ", "TEE-BLK-M") == (5, 2)


def test_a_delivery_order_paid_has_no_pickup_code(shop):
    order = place(shop, delivery=True)
    pay(order)
    assert order.status == S.PAID and order.pickup_code is None


# -- called off by the consumer ------------------------------------------------------------------


def test_cancelled_before_payment_gives_the_units_back_and_stops_the_payment(shop):
    order = place(shop)
    orders.cancel(order.consumer, order, reason="changed my mind")
    assert (order.status, order.cancel_reason) == (S.CANCELLED, "changed my mind")
    assert order.cancelled_at is not None
    assert payment_of(order).status == PaymentStatus.CANCELLED
    assert shop.level("LJ", "TEE-BLK-M") == (5, 0)
    assert ledger(order) == [RESERVE2, RELEASE2]
    assert refunds(order) == []
    assert check_ledger() == []
    assert kinds(order) == ["place", "cancel"]


def test_cancelled_after_payment_is_refunded_in_full(shop):
    order = place(shop)
    pay(order)
    orders.cancel(order.consumer, order)
    assert order.status == S.REFUNDED
    assert refunds(order) == [(order.total_cents, RefundReason.CANCELLED)]
    assert shop.level("LJ", "TEE-BLK-M") == (5, 0)
    assert ledger(order) == [RESERVE2, RELEASE2]
    assert check_ledger() == []


@pytest.mark.parametrize(
    "paid, call_off",
    [
        (False, lambda shop, order: orders.cancel(order.consumer, order)),
        (
            False,
            lambda shop, order: orders.expire_unpaid(now=order.expires_at + timedelta(hours=1)),
        ),
        (True, lambda shop, order: orders.cancel(order.consumer, order)),
        (True, lambda shop, order: orders.refund_by_store(shop.staff("LJ"), order, reason="torn")),
        (True, lambda shop, order: orders.refund_unfulfilled(order, reason="none left")),
    ],
)
def test_a_status_listener_finds_a_called_off_orders_units_free(shop, monkeypatch, paid, call_off):
    order = place(shop)
    if paid:
        pay(order)
    heard: list[tuple[str, tuple[int, int]]] = []
    listen = [lambda order, action: heard.append((action, shop.level("LJ", "TEE-BLK-M")))]
    monkeypatch.setattr(hooks, "status_listeners", listen)
    call_off(shop, order)
    assert len(heard) == 1
    assert heard[0][0] in ("cancel", "expire", "refund")
    assert heard[0][1] == (5, 0)  # the units were released before the listeners heard
    assert check_ledger() == []


def test_a_consumer_cannot_call_off_an_order_the_store_took_on(shop):
    order = place(shop)
    pay(order)
    orders.accept(shop.staff("LJ"), order)
    with pytest.raises(PermissionDenied):
        orders.cancel(order.consumer, order)
    assert order.status == S.PREPARING
    assert shop.level("LJ", "TEE-BLK-M") == (5, 2)
    assert refunds(order) == []


def test_another_consumers_order_is_not_found(shop):
    order = place(shop)
    stranger = shop.consumer()
    with pytest.raises(NotFound):
        orders.cancel(stranger, order)
    with pytest.raises(NotFound):
        orders.confirm_delivery(stranger, order)
    assert order.status == S.AWAITING_PAYMENT


# -- expiry --------------------------------------------------------------------------------------


def test_unpaid_past_the_deadline_is_cancelled_and_a_late_payment_refunded(shop):
    order = place(shop)
    assert orders.expire_unpaid(now=order.expires_at - timedelta(seconds=1)) == 0
    assert order.status == S.AWAITING_PAYMENT
    assert orders.expire_unpaid(now=order.expires_at + timedelta(minutes=1)) == 1
    assert (order.status, order.cancel_reason) == (S.CANCELLED, "not paid in time")
    assert payment_of(order).status == PaymentStatus.EXPIRED
    assert shop.level("LJ", "TEE-BLK-M") == (5, 0)
    assert ledger(order) == [RESERVE2, RELEASE2]
    # The consumer paid in the last second; the provider's notice comes after the expiry.
    result = pay(order)
    assert result.notice.outcome == NoticeOutcome.LATE
    assert refunds(order) == [(order.total_cents, RefundReason.LATE_PAYMENT)]
    assert order.status == S.CANCELLED and order.pickup_code is None
    assert shop.level("LJ", "TEE-BLK-M") == (5, 0)
    assert kinds(order) == ["place", "expire"]
    assert check_ledger() == []
    assert orders.expire_unpaid(now=order.expires_at + timedelta(hours=1)) == 0


def test_an_order_paid_before_the_expiry_job_stays_paid(shop):
    order = place(shop)
    pay(order)
    assert orders.expire_unpaid(now=order.expires_at + timedelta(minutes=1)) == 0
    assert order.status == S.PAID
    assert payment_of(order).status == PaymentStatus.PAID
    assert shop.level("LJ", "TEE-BLK-M") == (5, 2)


def test_an_order_whose_payment_was_closed_already_still_expires(shop):
    """A payment closed by some other path (here: by hand) must not leave its order waiting
    forever at the head of every expiry run."""
    order = place(shop)
    payment_of(order).status = PaymentStatus.CANCELLED
    db.session.flush()
    assert orders.expire_unpaid(now=order.expires_at + timedelta(minutes=1)) == 1
    assert order.status == S.CANCELLED
    assert shop.level("LJ", "TEE-BLK-M") == (5, 0)
    assert check_ledger() == []


def test_the_expiry_job_cancels_what_is_overdue(shop):
    overdue, waiting = place(shop), place(shop, qty=1)
    overdue.expires_at = overdue.expires_at - timedelta(hours=1)
    db.session.flush()
    assert jobs.expire_unpaid_orders() == {"cancelled": 1}
    db.session.refresh(overdue)
    db.session.refresh(waiting)
    assert (overdue.status, waiting.status) == (S.CANCELLED, S.AWAITING_PAYMENT)
    assert shop.level("LJ", "TEE-BLK-M") == (5, 1)
    assert jobs.expire_unpaid_orders() == {"cancelled": 0}
    assert check_ledger() == []


# -- pickup at the store -------------------------------------------------------------------------


def test_accepted_ready_and_handed_over_with_its_code_the_units_leave(shop):
    order = place(shop)
    pay(order)
    staff = shop.staff("LJ")
    orders.accept(staff, order)
    assert (order.status, order.accepted_at is not None) == (S.PREPARING, True)
    orders.mark_ready(staff, order)
    assert (order.status, order.ready_at is not None) == (S.READY_FOR_PICKUP, True)
    assert orders.find_by_pickup_code(staff, order.pickup_code).id == order.id
    spaced = f"{order.pickup_code[:4]} {order.pickup_code[4:]}"  # as read out at the counter
    orders.hand_over(staff, order, spaced)
    assert (order.status, order.completed_at is not None) == (S.COMPLETED, True)
    assert shop.level("LJ", "TEE-BLK-M") == (3, 0)
    assert ledger(order) == [RESERVE2, SALE2]
    assert check_ledger() == []
    assert kinds(order) == ["place", "pay", "accept", "ready", "hand_over"]
    assert refunds(order) == []


def test_a_wrong_pickup_code_changes_nothing(shop):
    order = place(shop)
    pay(order)
    staff = shop.staff("LJ")
    orders.accept(staff, order)
    orders.mark_ready(staff, order)
    wrong = str((int(order.pickup_code) + 1) % 10**8).zfill(8)
    for code in (wrong, "", order.pickup_code[:7]):
        with pytest.raises(ValidationFailed) as refused:
            orders.hand_over(staff, order, code)
        assert list(refused.value.fields) == ["code"]
    assert order.status == S.READY_FOR_PICKUP
    assert shop.level("LJ", "TEE-BLK-M") == (5, 2)
    assert ledger(order) == [RESERVE2]
    assert kinds(order) == ["place", "pay", "accept", "ready"]


def test_a_pickup_code_finds_orders_of_ones_own_store_only(shop):
    order = place(shop)
    pay(order)
    with pytest.raises(ValidationFailed) as refused:
        orders.find_by_pickup_code(shop.staff("JA"), order.pickup_code)
    assert list(refused.value.fields) == ["code"]
    with pytest.raises(ValidationFailed):
        orders.find_by_pickup_code(shop.staff("LJ"), "1234")


def test_a_pickup_order_is_not_shipped_nor_a_delivery_order_made_ready(shop):
    pickup_order, delivery_order = place(shop), place(shop, delivery=True, qty=1)
    staff = shop.staff("LJ")
    for order in (pickup_order, delivery_order):
        pay(order)
        orders.accept(shop.staff(shop_of(shop, order)), order)
    with pytest.raises(ValidationFailed):
        orders.ship(staff, pickup_order, carrier="SF", tracking_number="SF1")
    with pytest.raises(ValidationFailed):
        orders.mark_ready(shop.staff(shop_of(shop, delivery_order)), delivery_order)
    assert (pickup_order.status, delivery_order.status) == (S.PREPARING, S.PREPARING)


def shop_of(shop: RetailShop, order: ConsumerOrder) -> str:
    return next(short for short, loc in shop.locations.items() if loc.id == order.location_id)


def test_uncollected_pickups_are_refunded_after_the_days_allowed(shop, app):
    order = place(shop)
    pay(order)
    staff = shop.staff("LJ")
    orders.accept(staff, order)
    orders.mark_ready(staff, order)
    days = app.config["PICKUP_UNCOLLECTED_DAYS"]
    assert days == 7
    ready = order.ready_at
    assert orders.cancel_uncollected(now=ready + timedelta(days=days) - timedelta(minutes=1)) == 0
    assert order.status == S.READY_FOR_PICKUP
    assert orders.cancel_uncollected(now=ready + timedelta(days=days, minutes=1)) == 1
    assert (order.status, order.cancel_reason) == (S.REFUNDED, "not collected")
    assert refunds(order) == [(order.total_cents, RefundReason.CANCELLED)]
    assert shop.level("LJ", "TEE-BLK-M") == (5, 0)
    assert ledger(order) == [RESERVE2, RELEASE2]
    assert check_ledger() == []
    assert orders.cancel_uncollected(now=ready + timedelta(days=30)) == 0
    assert len(refunds(order)) == 1


def test_the_uncollected_job_refunds_what_waited_too_long(shop, app):
    old, fresh = place(shop), place(shop, qty=1)
    staff = shop.staff("LJ")
    for order in (old, fresh):
        pay(order)
        orders.accept(staff, order)
        orders.mark_ready(staff, order)
    old.ready_at = old.ready_at - timedelta(days=app.config["PICKUP_UNCOLLECTED_DAYS"] + 1)
    db.session.flush()
    assert jobs.cancel_uncollected_pickups() == {"refunded": 1}
    db.session.refresh(old)
    db.session.refresh(fresh)
    assert (old.status, fresh.status) == (S.REFUNDED, S.READY_FOR_PICKUP)
    assert shop.level("LJ", "TEE-BLK-M") == (5, 1)
    assert check_ledger() == []


# -- delivery ------------------------------------------------------------------------------------


def test_shipped_with_carrier_and_tracking_the_units_leave_then_delivered(shop):
    order = place(shop, delivery=True)
    assert shop_of(shop, order) == "LJ"
    pay(order)
    staff = shop.staff("LJ")
    orders.accept(staff, order)
    with pytest.raises(ValidationFailed) as refused:
        orders.ship(staff, order, carrier=" ", tracking_number="x" * 61)
    assert set(refused.value.fields) == {"carrier", "tracking_number"}
    assert order.status == S.PREPARING and shop.level("LJ", "TEE-BLK-M") == (5, 2)
    orders.ship(staff, order, carrier=" SF Express ", tracking_number="SF1234567890")
    assert (order.status, order.carrier, order.tracking_number) == (
        S.SHIPPED,
        "SF Express",
        "SF1234567890",
    )
    assert shop.level("LJ", "TEE-BLK-M") == (3, 0)
    assert ledger(order) == [RESERVE2, SALE2]
    ship_event = [e for e in order.events if e.kind == "ship"][0]
    assert ship_event.details == {"carrier": "SF Express", "tracking_number": "SF1234567890"}
    with pytest.raises(ConsumerOrderConflict):  # a parcel on its way is not refunded
        orders.refund_by_store(staff, order, reason="lost")
    orders.confirm_delivery(order.consumer, order)
    assert order.status == S.COMPLETED
    assert check_ledger() == []


def test_a_store_that_cannot_fulfil_refunds_in_full(shop):
    order = place(shop)
    pay(order)
    staff = shop.staff("LJ", user_id=None)
    orders.accept(staff, order)
    with pytest.raises(ValidationFailed) as refused:
        orders.refund_by_store(staff, order, reason="  ")
    assert list(refused.value.fields) == ["reason"]
    assert order.status == S.PREPARING
    orders.refund_by_store(staff, order, reason="stained")
    assert (order.status, order.cancel_reason) == (S.REFUNDED, "stained")
    assert refunds(order) == [(order.total_cents, RefundReason.CANCELLED)]
    assert shop.level("LJ", "TEE-BLK-M") == (5, 0)
    assert ledger(order) == [RESERVE2, RELEASE2]
    assert check_ledger() == []


def test_a_store_refunding_an_unpaid_order_is_refused(shop):
    order = place(shop)
    with pytest.raises(ConsumerOrderConflict) as refused:
        orders.refund_by_store(shop.staff("LJ"), order, reason="no")
    assert refused.value.status == 409
    assert f"Order {order.number} is awaiting payment" in refused.value.message  # in a job too
    assert order.status == S.AWAITING_PAYMENT and shop.level("LJ", "TEE-BLK-M") == (5, 2)


# -- whose order ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "step",
    [
        lambda staff, order: orders.accept(staff, order),
        lambda staff, order: orders.refund_by_store(staff, order, reason="no"),
        lambda staff, order: orders.hand_over(staff, order, order.pickup_code),
        lambda staff, order: orders.mark_ready(staff, order),
    ],
)
def test_staff_of_another_org_get_not_found(shop, step):
    order = place(shop)
    pay(order)
    other_brand = build_retail_shop("RT")
    for outsider in (shop.staff("JA"), shop.staff("HQ"), other_brand.staff("LJ")):
        with pytest.raises(NotFound):
            step(outsider, order)
    assert order.status == S.PAID
    assert shop.level("LJ", "TEE-BLK-M") == (5, 2)


def test_a_role_without_the_fulfil_permission_is_refused(shop):
    order = place(shop)
    pay(order)
    staff = shop.staff("LJ", Role.STORE_OWNER)
    no_fulfil = dataclasses.replace(staff, permissions=staff.permissions - {Permission.SHOP_FULFIL})
    with pytest.raises(PermissionDenied):
        orders.accept(no_fulfil, order)
    orders.accept(staff, order)  # the store's owner may
    assert order.status == S.PREPARING


def test_the_brands_warehouse_orders_are_hqs(shop):
    order = place(shop, delivery=True, qty=6)
    assert shop_of(shop, order) == "warehouse"
    pay(order)
    with pytest.raises(NotFound):
        orders.accept(shop.staff("LJ"), order)
    orders.accept(shop.staff("HQ"), order)
    orders.ship(shop.staff("HQ"), order, carrier="EMS", tracking_number="E1")
    assert order.status == S.SHIPPED
    assert shop.level("warehouse", "TEE-BLK-M") == (14, 0)
    assert check_ledger() == []
