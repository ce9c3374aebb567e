"""Returns: the buyer asks to send back received units, the supplier accepts or refuses, and the
goods arriving back move the stock and credit the buyer's account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from portal.core.access import Actor, Permission
from portal.core.errors import ValidationFailed
from portal.extensions import db
from portal.finance import services as finance
from portal.inventory import services as stock
from portal.inventory.models import MoveReason
from portal.ordering.checks import whole_number
from portal.ordering.errors import OrderStateConflict
from portal.ordering.lifecycle import as_buyer, as_supplier, lock_order, required_text
from portal.ordering.models import Order, OrderLine, ReturnLine, ReturnRequest, ReturnStatus
from portal.ordering.transitions import Action, transition


@dataclass(frozen=True)
class ReturnActions:
    decide: bool = False  # approve or refuse the request (the supplier)
    receive: bool = False  # the goods are back (the supplier)


def permitted_return_actions(actor: Actor, order: Order, ret: ReturnRequest) -> ReturnActions:
    supplier = actor.is_system or (
        actor.org_id == order.supplier_org_id and actor.can(Permission.ORDER_FULFIL)
    )
    return ReturnActions(
        decide=supplier and ret.status == ReturnStatus.REQUESTED,
        receive=supplier and ret.status == ReturnStatus.APPROVED,
    )


def returns_of(order: Order) -> list[ReturnRequest]:
    return list(
        db.session.execute(
            select(ReturnRequest)
            .where(ReturnRequest.order_id == order.id)
            .order_by(ReturnRequest.seq)
        ).scalars()
    )


def _pending_return_qty(order: Order) -> dict[int, int]:
    pending: dict[int, int] = {}
    for ret in returns_of(order):
        if ret.status in (ReturnStatus.REQUESTED, ReturnStatus.APPROVED):
            for rl in ret.lines:
                pending[rl.order_line_id] = pending.get(rl.order_line_id, 0) + rl.qty
    return pending


def request_return(
    actor: Actor, order: Order, quantities: dict[str, Any], *, reason: str
) -> ReturnRequest:
    """The buyer asks to send back received units ({sku: qty}); no more than it received and
    has not already returned or asked to return."""
    as_buyer(actor, order)
    reason = required_text(reason, "reason")
    lock_order(order)
    pending = _pending_return_qty(order)
    by_sku = {line.sku: line for line in order.lines}
    errors: dict[str, str] = {}
    picked: list[tuple[OrderLine, int]] = []
    for raw_sku, raw_qty in quantities.items():
        sku = str(raw_sku).strip().upper()
        qty = whole_number(raw_qty)
        line = by_sku.get(sku)
        if line is None:
            errors[f"lines.{sku}"] = f"{sku} is not on this order."
            continue
        left = line.received_qty - line.returned_qty - pending.get(line.id, 0)
        if qty is None or qty < 0:
            errors[f"lines.{sku}"] = f"{sku}: a whole number of units."
        elif qty > left:
            errors[f"lines.{sku}"] = f"{sku}: at most {left} can be returned."
        elif qty:
            picked.append((line, qty))
    if errors:
        raise ValidationFailed(fields=errors)
    if not picked:
        raise ValidationFailed(fields={"lines": "Return at least one unit."})
    ret = ReturnRequest(
        order_id=order.id,
        brand_id=order.brand_id,
        seq=len(returns_of(order)) + 1,
        reason=reason,
        requested_by_user_id=actor.user_id,
    )
    for line, qty in picked:
        ret.lines.append(ReturnLine(order_line_id=line.id, qty=qty))
    db.session.add(ret)
    db.session.flush()
    transition(
        actor,
        order,
        Action.REQUEST_RETURN,
        note=reason,
        ret=ret.seq,
        units=sum(q for _l, q in picked),
    )
    return ret


def _lock_return(ret: ReturnRequest) -> ReturnRequest:
    db.session.execute(
        select(ReturnRequest.id).where(ReturnRequest.id == ret.id).with_for_update()
    ).scalar_one()
    db.session.refresh(ret)
    return ret


def decide_return(
    actor: Actor, ret: ReturnRequest, *, approve: bool, note: str = ""
) -> ReturnRequest:
    """The supplier accepts or refuses a return request."""
    order = ret.order
    as_supplier(actor, order)
    _lock_return(ret)
    if ret.status != ReturnStatus.REQUESTED:
        raise OrderStateConflict(f"Return {ret.label} is {ret.status} already.")
    if not approve:
        note = required_text(note, "note")
    ret.status = ReturnStatus.APPROVED if approve else ReturnStatus.REJECTED
    transition(
        actor,
        order,
        Action.APPROVE_RETURN if approve else Action.REJECT_RETURN,
        note=note,
        ret=ret.seq,
    )
    return ret


def receive_return(actor: Actor, ret: ReturnRequest) -> ReturnRequest:
    """The returned units arrive back at the supplier: they leave the buyer's location and land
    at the supplier's, and a credit note for their value goes to the buyer's account."""
    order = ret.order
    as_supplier(actor, order)
    lock_order(order)
    _lock_return(ret)
    if ret.status != ReturnStatus.APPROVED:
        raise OrderStateConflict(f"Return {ret.label} is {ret.status}: it cannot be received.")
    moves = []
    credit = 0
    for rl in ret.lines:
        line = rl.order_line
        line.returned_qty += rl.qty
        credit += rl.qty * line.unit_price_cents
        moves.append(
            stock.MoveLine(
                order.destination_location_id, line.variant_id, -rl.qty, where=f"lines.{line.sku}"
            )
        )
        moves.append(stock.MoveLine(order.source_location_id, line.variant_id, rl.qty))
    stock.apply_moves(actor, moves, reason=MoveReason.RETURN, reference=ret.label)
    link = order.link
    finance.post_credit_note(
        actor,
        finance.ensure_account(link),
        amount_cents=credit,
        reference=f"return:{ret.label}",
        order_id=order.id,
        note=ret.reason,
    )
    ret.status = ReturnStatus.RECEIVED
    ret.credit_cents = credit
    db.session.flush()
    transition(
        actor,
        order,
        Action.RECEIVE_RETURN,
        ret=ret.seq,
        credited_cents=credit,
    )
    return ret
