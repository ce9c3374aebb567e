"""Consumer orders after checkout: paid by the provider's notice, prepared and handed over or
shipped by the fulfilling location, or called off (cancelled before payment, refunded after).

Units: an order holds its units reserved at its location from checkout (`RESERVE`, keeping the
location's safety stock); calling it off gives them back (`RELEASE`); handing over or shipping
takes them out (`SALE`: on hand and reserved both drop). Every change goes through the one stock
ledger with the order number as reference, so a B2B order and a consumer order never sell the
same unit. Money: the order's `Payment` (portal.storefront.payments) is expired or cancelled with
an unpaid order, and refunded in full when a paid order is called off; the refund is sent by a
job after the commit.

A held order (`on_hold`, set by a layer above at checkout: a group buy waiting for its group) is
paid and holds its units like any other, but its store cannot accept it (transitions.py) until
the layer lets it go (`release_hold`), or gives up on it (`call_off_for_system`: cancelled unpaid,
refunded in full once paid).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from portal.core import jobs
from portal.core.access import Actor, Permission
from portal.core.db import utcnow
from portal.core.errors import NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.inventory.ledger import MoveLine, apply_moves
from portal.inventory.models import Location, MoveReason
from portal.storefront import couriers, hooks, queries, transitions
from portal.storefront.hooks import RefundRequest
from portal.storefront.models import (
    Consumer,
    ConsumerOrder,
    ConsumerOrderRoute,
    ConsumerOrderStatus,
    DeliveryMethod,
    Fulfilment,
    RouteOutcome,
)
from portal.storefront.payments import services as payments
from portal.storefront.payments.jobs import send_refund
from portal.storefront.payments.models import (
    PayableKind,
    Payment,
    PaymentRefund,
    PaymentStatus,
    RefundReason,
)
from portal.storefront.transitions import Action, Who
from portal.storefront.words import say

S = ConsumerOrderStatus
PICKUP_CODE_DIGITS = 8


# -- units ---------------------------------------------------------------------------------------


def _units(actor: Actor, order: ConsumerOrder, reason: MoveReason) -> None:
    """Give back (RELEASE) or take out (SALE) every unit the order holds at its location."""
    if reason == MoveReason.RELEASE:
        lines = [
            MoveLine(order.location_id, line.variant_id, reserved_delta=-line.qty, grade=line.grade)
            for line in order.lines
        ]
    else:
        lines = [
            MoveLine(
                order.location_id,
                line.variant_id,
                on_hand_delta=-line.qty,
                reserved_delta=-line.qty,
                grade=line.grade,
            )
            for line in order.lines
        ]
    apply_moves(actor, lines, reason=reason, reference=order.number)


def _call_off(actor: Actor, order: ConsumerOrder, action: Action, who: Who, **details: Any) -> None:
    """Cancel, expire or refund the order: its units are released first, then it moves, so the
    status listeners (storefront/hooks) find them free. A move not allowed moves nothing."""
    transitions.ensure(order, action, who)
    for listener in hooks.before_call_off:  # their locks before the stock rows (hooks.py)
        listener(order)
    _units(actor, order, MoveReason.RELEASE)
    transitions.transition(order, action, who, **details)


def _refund_in_full(order: ConsumerOrder) -> None:
    """Everything the order has not already paid back (a return, a refunded fee)."""
    left = order.total_cents - order.refunded_cents
    refund_money(order, amount_cents=left, reason=RefundReason.CANCELLED, suffix="C")


def _provider_refunded(payment: Payment) -> int:
    return db.session.execute(
        select(func.coalesce(func.sum(PaymentRefund.amount_cents), 0)).where(
            PaymentRefund.payment_id == payment.id
        )
    ).scalar_one()


def refund_money(
    order: ConsumerOrder, *, amount_cents: int, reason: RefundReason, suffix: str, full: bool = True
) -> PaymentRefund | None:
    """Pay `amount_cents` of the order back where it came from, in proportion to how it was
    paid: the provider's share (rounded down) through the provider, the rest (wallet, points)
    through the hooks members registered, which hear of every refund (points earned on it are
    taken back, coupons follow their rule). `full` pays back everything left: the provider all
    it has not refunded yet, the hooks all that is left of theirs. `suffix` makes the refund's
    references (one per refund: asking again pays nothing twice). Returns the provider's refund,
    if it takes part."""
    if order.paid_at is None or amount_cents <= 0:
        return None  # nothing was paid (an unpaid order's wallet and points go back on cancel)
    payment = queries.payment_of(order)
    if payment is None or payment.status != PaymentStatus.PAID:
        provider_cents = 0
    elif full:
        provider_cents = payment.amount_cents - _provider_refunded(payment)
    else:
        provider_cents = amount_cents * payment.amount_cents // max(order.total_cents, 1)
    rest = amount_cents - provider_cents
    made = None
    if payment is not None and provider_cents > 0:
        made = payments.request_refund(
            payment,
            amount_cents=provider_cents,
            reason=reason,
            reference=f"{payment.reference}-{suffix}",
        )
        jobs.enqueue(send_refund, made.id, brand_id=order.brand_id, title=f"Refund {order.number}")
    order.refunded_cents += amount_cents
    if rest > 0 and not hooks.refund_rest:
        raise RuntimeError(f"order {order.number} spent more than money: no hook refunds it")
    request = RefundRequest(
        order=order,
        amount_cents=amount_cents,
        provider_cents=provider_cents,
        rest_cents=rest,
        reference=f"{order.number}-{suffix}",
        full=full,
    )
    # Every refund: earned points and coupons follow it, then whatever else listens (guides).
    for pay_back in (*hooks.refund_rest, *hooks.refund_listeners):
        pay_back(request)
    return made


# -- payment -------------------------------------------------------------------------------------


def order_paid(payment: Payment) -> ConsumerOrder | None:
    """A notice said the payment is paid: its order moves to paid (once; a repeated notice
    finds it paid already). An order that is no longer waiting for payment is left alone: the
    payment service has already written the refund of money that came too late."""
    if payment.payable_kind != PayableKind.CONSUMER_ORDER or payment.status != PaymentStatus.PAID:
        return None
    order = lock_order(payment.payable_id)
    if order is None or order.status != S.AWAITING_PAYMENT or order.payment_id != payment.id:
        return order
    transitions.transition(order, Action.PAY, Who.SYSTEM, payment=payment.reference)
    if order.fulfilment == Fulfilment.PICKUP:
        order.pickup_code = _new_pickup_code(order.brand_id)
    db.session.flush()
    return order


def paid_without_provider(order: ConsumerOrder) -> ConsumerOrder:
    """Checkout found nothing left for the provider to collect (points, wallet and coupons
    paid it all): the order is paid as it is placed."""
    transitions.transition(order, Action.PAY, Who.SYSTEM, paid_by="points_wallet")
    if order.fulfilment == Fulfilment.PICKUP:
        order.pickup_code = _new_pickup_code(order.brand_id)
    db.session.flush()
    return order


def _new_pickup_code(brand_id: int) -> str:
    """Digits a consumer reads out at the counter; unique in the brand (a clash is drawn again)."""
    while True:
        code = "".join(secrets.choice("0123456789") for _ in range(PICKUP_CODE_DIGITS))
        taken = db.session.execute(
            select(ConsumerOrder.id).where(
                ConsumerOrder.brand_id == brand_id, ConsumerOrder.pickup_code == code
            )
        ).first()
        if taken is None:
            return code


def lock_order(order_id: int) -> ConsumerOrder | None:
    """The order under a row lock (PostgreSQL) until the transaction ends: a notice, the expiry
    job and a cancel of one order take turns. Its payment is locked first: a notice holds the
    payment when it comes to the order (`order_paid`), so everyone takes the two in that order
    and no two transactions wait on each other in a cycle (a deadlock aborts one of them)."""
    payment_id = select(ConsumerOrder.payment_id).where(ConsumerOrder.id == order_id)
    db.session.execute(
        select(Payment.id).where(Payment.id == payment_id.scalar_subquery()).with_for_update()
    )
    return db.session.execute(
        select(ConsumerOrder)
        .where(ConsumerOrder.id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def lock_order_if_free(order_id: int) -> ConsumerOrder | None:
    """The order under its row lock (its payment's first, as `lock_order` takes them), or None
    at once when another transaction holds either (PostgreSQL SKIP LOCKED; SQLite has one
    writer, so never). For a caller that already holds other rows and must not wait for this
    one (two transactions waiting on each other's rows is a deadlock); it leaves the order to a
    later pass."""
    payment_id = db.session.execute(
        select(ConsumerOrder.payment_id).where(ConsumerOrder.id == order_id)
    ).scalar_one_or_none()
    if payment_id is not None:
        payment = db.session.execute(
            select(Payment.id).where(Payment.id == payment_id).with_for_update(skip_locked=True)
        ).scalar_one_or_none()
        if payment is None:
            return None
    return db.session.execute(
        select(ConsumerOrder)
        .where(ConsumerOrder.id == order_id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


# -- the consumer --------------------------------------------------------------------------------


def cancel(consumer: Consumer, order: ConsumerOrder, *, reason: str = "") -> ConsumerOrder:
    """The consumer calls the order off: before payment it is cancelled; paid but not yet taken
    on by the store, it is refunded in full. Later, only the store can."""
    _ensure_own(consumer, order)
    locked = lock_order(order.id) or order
    actor = _consumer_actor()
    if locked.status == S.AWAITING_PAYMENT:
        _call_off(actor, locked, Action.CANCEL, Who.CONSUMER, reason=reason[:200])
        payment = queries.payment_of(locked)
        if payment is not None:
            payments.cancel_payment(payment)
    else:
        _call_off(actor, locked, Action.REFUND, Who.CONSUMER, reason=reason[:200])
        _refund_in_full(locked)
    locked.cancel_reason = reason[:200]
    db.session.flush()
    return locked


def confirm_delivery(consumer: Consumer, order: ConsumerOrder) -> ConsumerOrder:
    """The consumer says the parcel arrived."""
    _ensure_own(consumer, order)
    lock_order(order.id)
    transitions.transition(order, Action.DELIVER, Who.CONSUMER)
    db.session.flush()
    return order


def _ensure_own(consumer: Consumer, order: ConsumerOrder) -> None:
    if order.consumer_id != consumer.id or order.brand_id != consumer.brand_id:
        raise NotFound()


def _consumer_actor() -> Actor:
    """Ledger rows of a consumer's own step carry no org user: the order number says whose."""
    return Actor.system()


# -- the fulfilling location ---------------------------------------------------------------------


def _ensure_staff(actor: Actor, order: ConsumerOrder) -> None:
    """The fulfilling location's own people (or the system). Another org's order is a 404.
    The order is read again under its row lock first, as `cancel` and the jobs do: a store's
    step and the consumer's cancel (or a re-route, or a second tap) take turns, so neither
    writes over a status the other has just changed."""
    lock_order(order.id)  # refreshes `order` itself (populate_existing)
    if actor.is_system:
        return
    if actor.org_id is None or order.location.org_id != actor.org_id:
        raise NotFound()
    if not actor.can(Permission.SHOP_FULFIL):
        raise PermissionDenied(say(_l("Your role does not hand over or ship online orders.")))


def accept(actor: Actor, order: ConsumerOrder) -> ConsumerOrder:
    """The location takes the paid order on: it is being prepared."""
    _ensure_staff(actor, order)
    transitions.transition(order, Action.ACCEPT, Who.STAFF, actor_user_id=actor.user_id)
    # The offer this location holds is settled: re-routing leaves an accepted order alone.
    for route in db.session.execute(
        select(ConsumerOrderRoute).where(
            ConsumerOrderRoute.order_id == order.id,
            ConsumerOrderRoute.location_id == order.location_id,
            ConsumerOrderRoute.outcome == RouteOutcome.OFFERED,
        )
    ).scalars():
        route.outcome, route.decided_at = RouteOutcome.ACCEPTED, order.accepted_at
    db.session.flush()
    return order


def mark_ready(actor: Actor, order: ConsumerOrder) -> ConsumerOrder:
    """Packed and waiting at the counter (pickup orders)."""
    _ensure_staff(actor, order)
    if order.fulfilment != Fulfilment.PICKUP:
        raise ValidationFailed(say(_l("A delivery order is shipped, not collected.")))
    transitions.transition(order, Action.READY, Who.STAFF, actor_user_id=actor.user_id)
    db.session.flush()
    return order


def hand_over(actor: Actor, order: ConsumerOrder, code: str) -> ConsumerOrder:
    """The consumer collects the order against its pickup code: the units leave the shelf."""
    _ensure_staff(actor, order)
    typed = "".join(ch for ch in (code or "") if ch.isdigit())
    if not order.pickup_code or not secrets.compare_digest(typed, order.pickup_code):
        raise ValidationFailed(
            say(_l("That is not this order's pickup code.")),
            fields={"code": say(_l("Not this order's code."))},
        )
    transitions.transition(order, Action.HAND_OVER, Who.STAFF, actor_user_id=actor.user_id)
    _units(actor, order, MoveReason.SALE)
    db.session.flush()
    return order


def find_by_pickup_code(actor: Actor, code: str) -> ConsumerOrder:
    """The order waiting at the actor's own location under this code (typed or scanned)."""
    typed = "".join(ch for ch in (code or "") if ch.isdigit())
    if len(typed) != PICKUP_CODE_DIGITS or actor.org_id is None:
        raise ValidationFailed(
            fields={
                "code": say(_l("A pickup code has %(count)d digits."), count=PICKUP_CODE_DIGITS)
            }
        )
    order = db.session.execute(
        select(ConsumerOrder)
        .join(Location, Location.id == ConsumerOrder.location_id)
        .where(ConsumerOrder.pickup_code == typed, Location.org_id == actor.org_id)
    ).scalar_one_or_none()
    if order is None:
        raise ValidationFailed(fields={"code": say(_l("No order here has this code."))})
    return order


def ship(
    actor: Actor, order: ConsumerOrder, *, carrier: str, tracking_number: str
) -> ConsumerOrder:
    """A delivery order leaves with a carrier: the units leave the shelf."""
    _ensure_staff(actor, order)
    fields = {}
    if order.fulfilment != Fulfilment.DELIVERY:
        raise ValidationFailed(say(_l("A pickup order is collected, not shipped.")))
    if not (carrier or "").strip() or len(carrier) > 60:
        fields["carrier"] = say(_l("Name the carrier (at most %(count)d characters)."), count=60)
    if not (tracking_number or "").strip() or len(tracking_number) > 60:
        fields["tracking_number"] = say(
            _l("Enter the tracking number (at most %(count)d characters)."), count=60
        )
    if fields:
        raise ValidationFailed(fields=fields)
    order.carrier, order.tracking_number = carrier.strip(), tracking_number.strip()
    transitions.transition(
        order,
        Action.SHIP,
        Who.STAFF,
        actor_user_id=actor.user_id,
        carrier=order.carrier,
        tracking_number=order.tracking_number,
    )
    _units(actor, order, MoveReason.SALE)
    db.session.flush()
    return order


def dispatch_courier(
    actor: Actor, order: ConsumerOrder, *, courier_name: str, courier_phone: str
) -> ConsumerOrder:
    """A same-city order leaves with a courier (portal/storefront/couriers.py): the same SHIP
    move as `ship`, with the courier recorded instead of a carrier and tracking number."""
    _ensure_staff(actor, order)
    if order.delivery_method != DeliveryMethod.SAME_CITY:
        raise ValidationFailed(say(_l("Only a same-city order goes by courier.")))
    if not transitions.may(order, Action.SHIP, Who.STAFF):
        # Before any courier is booked: the table's own refusal (wrong status, not staff's).
        transitions.transition(order, Action.SHIP, Who.STAFF)
    sent = couriers.dispatch(actor, order, courier_name=courier_name, courier_phone=courier_phone)
    transitions.transition(
        order,
        Action.SHIP,
        Who.STAFF,
        actor_user_id=actor.user_id,
        courier=sent.courier_name,
        dispatch=sent.dispatch_ref,
    )
    _units(actor, order, MoveReason.SALE)
    db.session.flush()
    return order


def refund_by_store(actor: Actor, order: ConsumerOrder, *, reason: str) -> ConsumerOrder:
    """The location cannot fulfil a paid order: refunded in full, units given back."""
    _ensure_staff(actor, order)
    if not (reason or "").strip():
        raise ValidationFailed(fields={"reason": say(_l("Say why the order cannot be fulfilled."))})
    _call_off(
        actor, order, Action.REFUND, Who.STAFF, actor_user_id=actor.user_id, reason=reason[:200]
    )
    order.cancel_reason = reason[:200]
    _refund_in_full(order)
    db.session.flush()
    return order


# -- the system ----------------------------------------------------------------------------------


def refund_unfulfilled(order: ConsumerOrder, *, reason: str) -> ConsumerOrder:
    """No location will fulfil a paid order (re-routing ran out of locations): it is refunded in
    full and its units go back where they are held. The caller holds the order's row lock."""
    _call_off(Actor.system(), order, Action.REFUND, Who.SYSTEM, reason=reason[:200])
    order.cancel_reason = reason[:200]
    _refund_in_full(order)
    db.session.flush()
    return order


def release_hold(order: ConsumerOrder, **details: Any) -> bool:
    """The layer that held a paid order lets it go to its store (a group buy's group is
    complete): it is held no more, its accept clocks start now (`released_at`, rerouting.py),
    and its timeline says so (RELEASE, with `details`). The caller holds the order's row lock.
    False, writing nothing, for an order not held or not paid."""
    if not order.on_hold or order.status != S.PAID:
        return False
    order.on_hold = False
    order.released_at = utcnow()
    transitions.transition(order, Action.RELEASE, Who.SYSTEM, **details)
    db.session.flush()
    return True


def call_off_for_system(order: ConsumerOrder, *, reason: str) -> bool:
    """The system calls off an order for a reason of its own (a group buy's group did not fill
    in time): unpaid, it is cancelled and its payment stops taking money (money arriving later
    is refunded by the payment service); paid, it is refunded in full through the provider. Its
    units go back either way. The caller holds the order's row lock (`lock_order`). False,
    writing nothing, for an order already called off or gone further than paid."""
    if order.status == S.AWAITING_PAYMENT:
        payment = queries.payment_of(order)
        if payment is not None:
            payments.cancel_payment(payment)
        _call_off(Actor.system(), order, Action.CANCEL, Who.SYSTEM, reason=reason[:200])
        order.cancel_reason = reason[:200]
        db.session.flush()
        return True
    if order.status == S.PAID:
        refund_unfulfilled(order, reason=reason)
        return True
    return False


def _due(status: S, column: Any, before: datetime, limit: int) -> list[int]:
    # No lock here: each order is locked on its own, payment first (`_lock`), and its status
    # checked again; holding the whole batch's orders while waiting for one payment would
    # deadlock with a notice that holds that payment and waits for its order.
    stmt = (
        select(ConsumerOrder.id)
        .where(ConsumerOrder.status == status, column < before)
        .order_by(ConsumerOrder.id)
        .limit(limit)
    )
    return list(db.session.execute(stmt).scalars())


def expire_unpaid(*, now: datetime | None = None, limit: int = 500) -> int:
    """Orders not paid by their deadline are cancelled and their units go back; their payment
    stops taking money (a notice arriving later is refunded by the payment service)."""
    now = now or utcnow()
    done = 0
    for order_id in _due(S.AWAITING_PAYMENT, ConsumerOrder.expires_at, now, limit):
        order = lock_order(order_id)
        if order is None or order.status != S.AWAITING_PAYMENT:
            continue
        payment = queries.payment_of(order)
        # Paid meanwhile: the notice's transaction moves the order. A payment closed some other
        # way (cancelled, expired) still lets the order expire, or it would come first in every
        # later run and hold the batch up.
        closed = payment is None or payments.expire_payment(payment)
        if not closed and payment is not None and payment.status == PaymentStatus.PAID:
            continue
        _call_off(Actor.system(), order, Action.EXPIRE, Who.SYSTEM)
        order.cancel_reason = "not paid in time"
        done += 1
    db.session.flush()
    return done


def cancel_uncollected(*, now: datetime | None = None, limit: int = 500) -> int:
    """Pickup orders waiting at the counter longer than PICKUP_UNCOLLECTED_DAYS are refunded and
    their units go back on the shelf."""
    now = now or utcnow()
    days = int(current_app.config["PICKUP_UNCOLLECTED_DAYS"])
    done = 0
    for order_id in _due(
        S.READY_FOR_PICKUP, ConsumerOrder.ready_at, now - timedelta(days=days), limit
    ):
        order = lock_order(order_id)
        if order is None or order.status != S.READY_FOR_PICKUP:
            continue
        _call_off(Actor.system(), order, Action.REFUND, Who.SYSTEM, reason="not collected")
        order.cancel_reason = "not collected"
        _refund_in_full(order)
        done += 1
    db.session.flush()
    return done
