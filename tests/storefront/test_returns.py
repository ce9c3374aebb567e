"""Consumer returns as services on both backends: asked within the window for what was bought,
received and graded by the store that fulfilled the order (units back on hand through the
ledger), refunded once through the provider, or rejected. After every step the ledger agrees."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.core.errors import NotFound, ValidationFailed
from portal.extensions import db
from portal.inventory.models import Grade, MoveReason, StockLevel, StockMove
from portal.inventory.services import check_ledger
from portal.storefront import orders, returns
from portal.storefront.checkout import CheckoutLine, checkout
from portal.storefront.models import ConsumerOrder, Fulfilment, Tier
from portal.storefront.payments.models import PaymentRefund, RefundReason
from portal.storefront.return_models import ReturnStatus
from portal.storefront.returns import ReturnConflict, ReturnLineInput
from tests.support.consumer_orders import pay_by_notice
from tests.support.retail import RetailShop, build_retail_shop

R = ReturnStatus


@pytest.fixture
def shop(app) -> RetailShop:
    return build_retail_shop()


def completed_order(shop: RetailShop, *, consumer=None, qty: int = 2) -> ConsumerOrder:
    """A pickup order at Lujiazui for `qty` black tees (199.00 each), paid and handed over."""
    consumer = consumer or shop.consumer()
    order = checkout(
        consumer,
        shop.brand,
        Tier.OFFICIAL,
        [CheckoutLine(shop.variant_id("TEE-BLK-M"), qty)],
        fulfilment=Fulfilment.PICKUP,
        checkout_token=f"t-{consumer.id}",
        pickup_location_id=shop.locations["LJ"].id,
    )
    pay_by_notice(order)
    staff = shop.staff("LJ")
    orders.accept(staff, order)
    orders.mark_ready(staff, order)
    orders.hand_over(staff, order, order.pickup_code)
    return order


def ask(order: ConsumerOrder, qty: int = 1, **kwargs):
    return returns.request_return(
        order.consumer, order, [ReturnLineInput(order.lines[0].id, qty)], **kwargs
    )


def refunds(order: ConsumerOrder) -> list[tuple[int, str]]:
    return [
        (r.amount_cents, r.reason)
        for r in db.session.execute(
            select(PaymentRefund).where(PaymentRefund.payment_id == order.payment_id)
        ).scalars()
    ]


def grade_b(shop: RetailShop, short: str, sku: str) -> int:
    return (
        db.session.execute(
            select(StockLevel.on_hand).where(
                StockLevel.location_id == shop.locations[short].id,
                StockLevel.variant_id == shop.variant_id(sku),
                StockLevel.grade == Grade.B,
            )
        ).scalar_one_or_none()
        or 0
    )


def test_a_return_is_asked_received_graded_and_refunded_once(shop):
    order = completed_order(shop)
    assert shop.level("LJ", "TEE-BLK-M") == (3, 0)
    asked = ask(order, 2, reason="too small")
    assert (asked.status, asked.number, asked.location_id) == (
        R.REQUESTED,
        f"{order.number}-R1",
        shop.locations["LJ"].id,
    )
    assert check_ledger() == []
    staff = shop.staff("LJ")
    returns.receive(staff, asked, {asked.lines[0].id: Grade.A})
    assert asked.status == R.RECEIVED and asked.received_at is not None
    assert shop.level("LJ", "TEE-BLK-M") == (5, 0)
    moves = db.session.execute(
        select(StockMove.reason, StockMove.on_hand_delta, StockMove.grade).where(
            StockMove.reference == order.number, StockMove.reason == MoveReason.RETURN
        )
    ).all()
    assert [tuple(m) for m in moves] == [(MoveReason.RETURN, 2, "A")]
    assert check_ledger() == []
    returns.refund(staff, asked)
    returns.refund(staff, asked)  # asked twice: one refund
    assert (asked.status, asked.refund_cents) == (R.REFUNDED, 39_800)
    assert refunds(order) == [(39_800, RefundReason.RETURNED)]
    assert check_ledger() == []


def test_units_returned_damaged_go_back_as_grade_b(shop):
    order = completed_order(shop)
    asked = ask(order, 1)
    returns.receive(shop.staff("LJ"), asked, {asked.lines[0].id: Grade.B})
    assert shop.level("LJ", "TEE-BLK-M") == (3, 0)
    assert grade_b(shop, "LJ", "TEE-BLK-M") == 1
    returns.refund(shop.staff("LJ"), asked)
    assert refunds(order) == [(19_900, RefundReason.RETURNED)]
    assert check_ledger() == []


def test_more_than_bought_less_already_asked_is_refused_naming_the_line(shop):
    order = completed_order(shop)
    with pytest.raises(ValidationFailed) as error:
        ask(order, 3)
    assert "at most 2" in error.value.fields["lines.0.qty"]
    ask(order, 1)
    with pytest.raises(ValidationFailed) as error:
        ask(order, 2)
    assert "TEE-BLK-M: at most 1" in error.value.fields["lines.0.qty"]
    with pytest.raises(ValidationFailed) as error:
        returns.request_return(order.consumer, order, [ReturnLineInput(999_999, 1)])
    assert "lines.0.order_line_id" in error.value.fields
    assert len(returns.list_order_returns(order)) == 1
    assert check_ledger() == []


def test_a_rejected_request_frees_its_units_to_be_asked_again(shop):
    order = completed_order(shop)
    asked = ask(order, 2)
    with pytest.raises(ValidationFailed):
        returns.reject(shop.staff("LJ"), asked, reason="  ")
    returns.reject(shop.staff("LJ"), asked, reason="Nothing arrived")
    assert (asked.status, asked.reject_reason) == (R.REJECTED, "Nothing arrived")
    with pytest.raises(ReturnConflict):
        returns.receive(shop.staff("LJ"), asked, {asked.lines[0].id: Grade.A})
    assert ask(order, 2).number == f"{order.number}-R2"
    assert shop.level("LJ", "TEE-BLK-M") == (3, 0)
    assert refunds(order) == []
    assert check_ledger() == []


def test_only_completed_orders_within_the_window_can_be_returned(app, shop):
    order = completed_order(shop)
    days = app.config["CONSUMER_RETURN_DAYS"]
    late = order.completed_at + timedelta(days=days, minutes=1)
    with pytest.raises(ReturnConflict):
        ask(order, 1, now=late)
    assert ask(order, 1, now=order.completed_at + timedelta(days=days)).status == R.REQUESTED
    consumer = shop.consumer()
    unpaid = checkout(
        consumer,
        shop.brand,
        Tier.OFFICIAL,
        [CheckoutLine(shop.variant_id("TEE-BLK-M"), 1)],
        fulfilment=Fulfilment.PICKUP,
        checkout_token="open",
        pickup_location_id=shop.locations["LJ"].id,
    )
    with pytest.raises(ReturnConflict):
        ask(unpaid, 1)
    assert check_ledger() == []


def test_another_consumer_or_another_store_gets_a_404(shop):
    order = completed_order(shop)
    with pytest.raises(NotFound):
        returns.request_return(shop.consumer(), order, [ReturnLineInput(order.lines[0].id, 1)])
    asked = ask(order, 1)
    with pytest.raises(NotFound):
        returns.receive(shop.staff("JA"), asked, {asked.lines[0].id: Grade.A})
    with pytest.raises(NotFound):
        returns.get_location_return(shop.staff("JA"), asked.number)
    assert returns.get_location_return(shop.staff("LJ"), asked.number).id == asked.id
    assert check_ledger() == []


def test_a_receipt_needs_a_grade_per_line_and_changes_nothing_without(shop):
    order = completed_order(shop)
    asked = ask(order, 1)
    with pytest.raises(ValidationFailed) as error:
        returns.receive(shop.staff("LJ"), asked, {asked.lines[0].id: "C"})
    assert f"grade.{asked.lines[0].id}" in error.value.fields
    with pytest.raises(ReturnConflict):
        returns.refund(shop.staff("LJ"), asked)
    assert asked.status == R.REQUESTED
    assert shop.level("LJ", "TEE-BLK-M") == (3, 0)
    assert check_ledger() == []
