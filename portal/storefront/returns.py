"""Consumer returns of a completed order: the consumer asks (within CONSUMER_RETURN_DAYS of
completion, at most what was bought less what is already being or was returned), the location
that fulfilled the order receives and inspects the goods (grade A or B per line: the units go
back on hand there through the stock ledger), the received lines' value is refunded through the
payment provider once, or the location rejects the request with a reason.

An exchange is a return plus a new order: there is no exchange flow of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from portal.core.access import Actor, Permission
from portal.core.db import utcnow
from portal.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.inventory.ledger import MoveLine, apply_moves
from portal.inventory.models import Grade, Location, MoveReason
from portal.storefront import orders, queries
from portal.storefront.models import Consumer, ConsumerOrder, ConsumerOrderStatus
from portal.storefront.orders import lock_order
from portal.storefront.payments.models import RefundReason
from portal.storefront.return_models import ConsumerReturn, ConsumerReturnLine, ReturnStatus
from portal.storefront.words import say

R = ReturnStatus
# A rejected request gives its units back to what may be asked for again.
HOLDS_UNITS = (R.REQUESTED, R.RECEIVED, R.REFUNDED)


class ReturnConflict(Conflict):
    code = "return_conflict"


@dataclass(frozen=True)
class ReturnLineInput:
    order_line_id: int
    qty: int


# -- reads ---------------------------------------------------------------------------------------


def return_deadline(order: ConsumerOrder) -> datetime | None:
    """Until when the order's goods may be returned; None while it is not completed."""
    if order.status != ConsumerOrderStatus.COMPLETED or order.completed_at is None:
        return None
    return order.completed_at + timedelta(days=current_app.config["CONSUMER_RETURN_DAYS"])


def may_return(order: ConsumerOrder, *, now: datetime | None = None) -> bool:
    deadline = return_deadline(order)
    return deadline is not None and (now or utcnow()) <= deadline


def returned_qty(order: ConsumerOrder) -> dict[int, int]:
    """Per order line, the units asked back in requests that were not rejected."""
    rows = db.session.execute(
        select(ConsumerReturnLine.order_line_id, func.sum(ConsumerReturnLine.qty))
        .join(ConsumerReturn, ConsumerReturn.id == ConsumerReturnLine.return_id)
        .where(ConsumerReturn.order_id == order.id, ConsumerReturn.status.in_(HOLDS_UNITS))
        .group_by(ConsumerReturnLine.order_line_id)
    ).all()
    return {line_id: int(qty) for line_id, qty in rows}


def list_order_returns(order: ConsumerOrder) -> list[ConsumerReturn]:
    """The order's returns with their lines, oldest first (the caller may see the order)."""
    return queries.order_returns(order)


def list_location_returns(
    actor: Actor, statuses: tuple[str, ...] = (R.REQUESTED, R.RECEIVED), *, limit: int = 100
) -> list[ConsumerReturn]:
    """Returns coming back to the actor's org's locations, oldest first (the order of work)."""
    if actor.org_id is None:
        return []
    return list(
        db.session.execute(
            select(ConsumerReturn)
            .join(Location, Location.id == ConsumerReturn.location_id)
            .where(Location.org_id == actor.org_id, ConsumerReturn.status.in_(statuses))
            .order_by(ConsumerReturn.id)
            .limit(limit)
        ).scalars()
    )


def get_location_return(actor: Actor, number: str) -> ConsumerReturn:
    """A return received at one of the actor's org's locations; any other is a 404."""
    stmt = select(ConsumerReturn).where(ConsumerReturn.number == number)
    if not actor.is_system:
        stmt = stmt.join(Location, Location.id == ConsumerReturn.location_id).where(
            Location.org_id == actor.org_id
        )
    found = db.session.execute(stmt).scalar_one_or_none()
    if found is None:
        raise NotFound()
    return found


# -- the consumer --------------------------------------------------------------------------------


def request_return(
    consumer: Consumer,
    order: ConsumerOrder,
    lines: list[ReturnLineInput],
    *,
    reason: str = "",
    now: datetime | None = None,
) -> ConsumerReturn:
    """The consumer asks to send back some units of a completed order of theirs, within the
    return window. Raises NotFound for someone else's order, ReturnConflict outside the window
    or before completion, ValidationFailed naming the line (`lines.<i>.qty`) that asks for more
    than was bought less what is already asked back, or for a line not of this order."""
    if order.consumer_id != consumer.id or order.brand_id != consumer.brand_id:
        raise NotFound()
    locked = lock_order(order.id) or order  # two requests at once take turns on the order
    if locked.status != ConsumerOrderStatus.COMPLETED:
        raise ReturnConflict(say(_l("Only a completed order can be returned.")))
    if not may_return(locked, now=now):
        raise ReturnConflict(
            say(
                _l("The return window of %(days)s days after completion has passed."),
                days=current_app.config["CONSUMER_RETURN_DAYS"],
            )
        )
    by_id = {line.id: line for line in locked.lines}
    taken = returned_qty(locked)
    asked: dict[int, int] = {}
    errors: dict[str, str] = {}
    for index, wanted in enumerate(lines):
        line = by_id.get(wanted.order_line_id)
        if line is None:
            errors[f"lines.{index}.order_line_id"] = say(_l("This line is not in the order."))
            continue
        asked[line.id] = asked.get(line.id, 0) + wanted.qty
        left = line.qty - taken.get(line.id, 0)
        if wanted.qty < 1 or asked[line.id] > left:
            errors[f"lines.{index}.qty"] = say(
                _l("%(sku)s: at most %(left)s can be returned."), sku=line.variant.sku, left=left
            )
    if not asked and not errors:
        errors["lines"] = say(_l("Choose at least one item to return."))
    if errors:
        raise ValidationFailed(fields=errors)
    count = db.session.execute(
        select(func.count(ConsumerReturn.id)).where(ConsumerReturn.order_id == locked.id)
    ).scalar_one()
    created = ConsumerReturn(
        number=f"{locked.number}-R{count + 1}",
        brand_id=locked.brand_id,
        order_id=locked.id,
        consumer_id=consumer.id,
        location_id=locked.location_id,
        status=R.REQUESTED,
        reason=(reason or "").strip()[:200],
        currency=locked.currency,
        refund_cents=0,
        reject_reason="",
        requested_at=now or utcnow(),
    )
    for line_id, qty in asked.items():
        line = by_id[line_id]
        created.lines.append(
            ConsumerReturnLine(
                brand_id=locked.brand_id,
                order_line_id=line.id,
                variant_id=line.variant_id,
                qty=qty,
                # what a unit cost after the order's coupons
                unit_price_cents=(line.line_cents - line.discount_cents) // line.qty,
            )
        )
    db.session.add(created)
    db.session.flush()
    return created


# -- the receiving location ----------------------------------------------------------------------


def _lock(actor: Actor, found: ConsumerReturn) -> ConsumerReturn:
    """The return under its row lock, for the receiving location's own people (or the system):
    a double tap or two clerks take turns. Another org's return is a 404."""
    locked = db.session.execute(
        select(ConsumerReturn)
        .where(ConsumerReturn.id == found.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    if actor.is_system:
        return locked
    org_id = db.session.execute(
        select(Location.org_id).where(Location.id == locked.location_id)
    ).scalar_one()
    if actor.org_id is None or org_id != actor.org_id:
        raise NotFound()
    if not actor.can(Permission.SHOP_FULFIL):
        raise PermissionDenied(say(_l("Your role does not receive online returns.")))
    return locked


def receive(actor: Actor, found: ConsumerReturn, grades: dict[int, str]) -> ConsumerReturn:
    """The goods arrived and were inspected: each line's units go back on hand at the receiving
    location as grade A or B (`grades` by return line id). Raises ReturnConflict unless the
    return was requested, ValidationFailed naming a line (`grade.<line id>`) without A or B."""
    locked = _lock(actor, found)
    if locked.status != R.REQUESTED:
        raise ReturnConflict(say(_l("This return is not waiting to be received.")))
    errors = {
        f"grade.{line.id}": say(_l("The grade is A or B."))
        for line in locked.lines
        if grades.get(line.id) not in tuple(Grade)
    }
    if errors:
        raise ValidationFailed(fields=errors)
    for line in locked.lines:
        line.grade = grades[line.id]
    apply_moves(
        actor,
        [
            MoveLine(
                locked.location_id, line.variant_id, on_hand_delta=line.qty, grade=grades[line.id]
            )
            for line in locked.lines
        ],
        reason=MoveReason.RETURN,
        reference=locked.order.number,
        note=locked.number,
    )
    locked.status = R.RECEIVED
    locked.received_at = utcnow()
    locked.received_by_user_id = actor.user_id
    db.session.flush()
    return locked


def refund(actor: Actor, found: ConsumerReturn) -> ConsumerReturn:
    """Pay back the received lines' value through the order's payment, once: asking again finds
    the return refunded (and the payment service knows the refund by its reference). Raises
    ReturnConflict unless the return was received."""
    locked = _lock(actor, found)
    if locked.status == R.REFUNDED:
        return locked
    if locked.status != R.RECEIVED:
        raise ReturnConflict(say(_l("Only received goods are refunded.")))
    order = locked.order
    if order.paid_at is None:
        raise ReturnConflict(say(_l("This order has no payment to refund.")))
    amount = sum(line.value_cents for line in locked.lines)
    made = orders.refund_money(
        order,
        amount_cents=amount,
        reason=RefundReason.RETURNED,
        suffix=f"RT{locked.id}",
        full=False,
    )
    locked.status = R.REFUNDED
    locked.refund_cents = amount
    locked.refund_id = made.id if made is not None else None
    locked.refunded_at = utcnow()
    db.session.flush()
    return locked


def reject(actor: Actor, found: ConsumerReturn, *, reason: str) -> ConsumerReturn:
    """The location refuses a request that was not received (nothing came back, or not what was
    bought): the units may be asked for again. Raises ValidationFailed without a reason,
    ReturnConflict once the goods were received."""
    locked = _lock(actor, found)
    if not (reason or "").strip():
        raise ValidationFailed(fields={"reason": say(_l("Say why the return is rejected."))})
    if locked.status != R.REQUESTED:
        raise ReturnConflict(say(_l("Only a return not yet received can be rejected.")))
    locked.status = R.REJECTED
    locked.reject_reason = reason.strip()[:200]
    locked.rejected_at = utcnow()
    locked.rejected_by_user_id = actor.user_id
    db.session.flush()
    return locked
