"""The consumer order's transition table walked whole, on both backends: every (status, action)
the table lacks is refused with 409 and changes nothing; every move by someone its row does not
name is refused with 403; and the services refuse the same way on real orders."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.core.errors import PermissionDenied
from portal.extensions import db
from portal.storefront import hooks, orders
from portal.storefront.checkout import CheckoutLine, checkout
from portal.storefront.models import (
    ConsumerOrder,
    ConsumerOrderEvent,
    ConsumerOrderStatus,
    Fulfilment,
    Tier,
)
from portal.storefront.transitions import (
    EVENT_LABELS,
    NEW,
    STATUS_LABELS,
    TABLE,
    Action,
    ConsumerOrderConflict,
    Who,
    find_move,
    may,
    transition,
)
from tests.support.consumer_orders import pay_by_notice
from tests.support.retail import RetailShop, build_retail_shop

S = ConsumerOrderStatus
MISSING = [(s, a) for s in S for a in Action if find_move(s, a) is None]
NOT_NAMED = [(m.from_status, m.action, who) for m in TABLE for who in Who if who not in m.who]


def test_the_table_is_the_one_the_issue_describes():
    moves = {(m.from_status, m.action): (m.to_status, m.who) for m in TABLE}
    assert moves[(NEW, Action.PLACE)] == (S.AWAITING_PAYMENT, {Who.CONSUMER, Who.SYSTEM})
    assert moves[(S.AWAITING_PAYMENT, Action.PAY)] == (S.PAID, {Who.SYSTEM})
    assert moves[(S.AWAITING_PAYMENT, Action.EXPIRE)] == (S.CANCELLED, {Who.SYSTEM})
    assert moves[(S.PAID, Action.ACCEPT)][1] == {Who.STAFF, Who.SYSTEM}
    assert moves[(S.READY_FOR_PICKUP, Action.HAND_OVER)] == (S.COMPLETED, {Who.STAFF, Who.SYSTEM})
    assert moves[(S.SHIPPED, Action.DELIVER)] == (S.COMPLETED, {Who.CONSUMER, Who.SYSTEM})
    assert moves[(S.PAID, Action.REFUND)][1] == {Who.CONSUMER, Who.STAFF, Who.SYSTEM}
    assert moves[(S.PREPARING, Action.REFUND)][1] == {Who.STAFF, Who.SYSTEM}
    # Finished orders are final.
    for status in (S.COMPLETED, S.CANCELLED, S.REFUNDED):
        assert all(find_move(status, action) is None for action in Action)
    assert set(STATUS_LABELS) == set(S) and set(EVENT_LABELS) == set(Action)


def _order(status: str) -> ConsumerOrder:
    return ConsumerOrder(number="C-TABLE", brand_id=1, status=status, events=[])


@pytest.mark.parametrize(("status", "action"), MISSING)
def test_a_move_the_table_lacks_is_refused_with_409(app, status, action):
    order = _order(status)
    for who in Who:
        with pytest.raises(ConsumerOrderConflict) as refused:
            transition(order, action, who)
        assert refused.value.status == 409
        assert refused.value.code == "invalid_transition"
        assert not may(order, action, who)
    assert order.status == status and order.events == []


@pytest.mark.parametrize(("status", "action", "who"), NOT_NAMED)
def test_a_move_by_someone_its_row_does_not_name_is_refused_with_403(app, status, action, who):
    order = _order(status)
    with pytest.raises(PermissionDenied) as refused:
        transition(order, action, who)
    assert refused.value.status == 403
    assert not may(order, action, who)
    assert order.status == status and order.events == []


@pytest.mark.parametrize("move", [m for m in TABLE if m.from_status != NEW], ids=str)
def test_every_move_of_the_table_writes_its_event(app, move, monkeypatch):
    # The table alone: the layers above (members, guides) hear of real orders, not of this one.
    monkeypatch.setattr(hooks, "status_listeners", [])
    order = _order(move.from_status)
    for who in move.who:
        order.status = move.from_status
        assert may(order, move.action, who)
        event = transition(order, move.action, who, reason="why")
        assert order.status == move.to_status
        assert (event.kind, event.from_status, event.to_status) == (
            move.action.value,
            move.from_status,
            move.to_status,
        )
        assert event.by_consumer == (who == Who.CONSUMER)
        assert event.details == {"reason": "why"}
    db.session.expunge_all()  # the order was never meant to be stored


# -- the services on real orders -----------------------------------------------------------------


@pytest.fixture
def shop(app) -> RetailShop:
    return build_retail_shop()


def place(shop: RetailShop) -> ConsumerOrder:
    consumer = shop.consumer()
    return checkout(
        consumer,
        shop.brand,
        Tier.OFFICIAL,
        [CheckoutLine(shop.variant_id("TEE-BLK-M"), 1)],
        fulfilment=Fulfilment.PICKUP,
        checkout_token="t",
        pickup_location_id=shop.locations["LJ"].id,
    )


def events(order: ConsumerOrder) -> int:
    return db.session.execute(
        select(func.count(ConsumerOrderEvent.id)).where(ConsumerOrderEvent.order_id == order.id)
    ).scalar_one()


def test_steps_out_of_turn_are_refused_and_change_nothing(shop):
    order = place(shop)
    staff = shop.staff("LJ")
    for step in (
        lambda: orders.accept(staff, order),  # not paid yet
        lambda: orders.mark_ready(staff, order),
        lambda: orders.confirm_delivery(order.consumer, order),
    ):
        with pytest.raises(ConsumerOrderConflict):
            step()
    assert (order.status, events(order)) == (S.AWAITING_PAYMENT, 1)
    assert shop.level("LJ", "TEE-BLK-M") == (5, 1)
    pay_by_notice(order)
    with pytest.raises(ConsumerOrderConflict):  # paid, not yet accepted or ready
        orders.hand_over(staff, order, order.pickup_code)
    assert shop.level("LJ", "TEE-BLK-M") == (5, 1)
    orders.cancel(order.consumer, order)
    with pytest.raises(ConsumerOrderConflict):  # refunded already
        orders.cancel(order.consumer, order)
    with pytest.raises(ConsumerOrderConflict):
        orders.accept(staff, order)
    assert (order.status, events(order)) == (S.REFUNDED, 3)
    assert shop.level("LJ", "TEE-BLK-M") == (5, 0)


def test_the_consumer_may_not_take_the_stores_steps_nor_call_off_a_prepared_order(shop):
    order = place(shop)
    pay_by_notice(order)
    orders.accept(shop.staff("LJ"), order)
    with pytest.raises(PermissionDenied) as refused:
        orders.cancel(order.consumer, order)
    assert refused.value.status == 403
    assert (order.status, events(order)) == (S.PREPARING, 3)
