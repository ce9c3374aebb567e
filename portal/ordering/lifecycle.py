"""An order after it is placed: who may do what to it now, and each move (approve, reject,
cancel, close, ship, receive) as one transaction with its stock moves, ledger entries and
timeline event. The row is locked first, so two clicks, or a cancel racing an approval, are
applied one after the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from portal.core.access import Actor, Permission
from portal.core.db import utcnow
from portal.core.errors import NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.finance import queries as finance_queries
from portal.finance import services as finance
from portal.inventory import allocations
from portal.inventory import services as stock
from portal.inventory.models import MoveReason
from portal.ordering.checks import whole_number
from portal.ordering.errors import OrderStateConflict
from portal.ordering.models import (
    Order,
    OrderKind,
    OrderLine,
    OrderStatus,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
)
from portal.ordering.placing import credit_check
from portal.ordering.transitions import Action, Side, allowed, expect, transition


def lock_order(order: Order) -> Order:
    """Re-read the order under a row lock (PostgreSQL): two clicks on "ship", or a cancel racing
    an approval, are applied one after the other and the second sees the first's status."""
    db.session.execute(select(Order.id).where(Order.id == order.id).with_for_update()).scalar_one()
    db.session.refresh(order)
    for line in order.lines:
        db.session.refresh(line)
    return order


def as_supplier(actor: Actor, order: Order) -> None:
    """The actor acts for the order's supplier, with the fulfilment permission (else 403)."""
    if actor.is_system:
        return
    actor.ensure(Permission.ORDER_FULFIL)
    if actor.org_id != order.supplier_org_id:
        raise PermissionDenied("Only the supplier of this order can do this.")


def as_buyer(actor: Actor, order: Order, permission: Permission = Permission.ORDER_PLACE) -> None:
    """The actor acts for the order's buyer, with `permission` (else 403)."""
    if actor.is_system:
        return
    actor.ensure(permission)
    if actor.org_id != order.buyer_org_id:
        raise PermissionDenied("Only the buyer of this order can do this.")


@dataclass(frozen=True)
class OrderActions:
    """What the actor may do to an order now; pages show only these."""

    approve: bool = False  # the supplier confirms (including over credit)
    reject: bool = False
    buyer_approve: bool = False
    buyer_reject: bool = False
    cancel: bool = False
    ship: bool = False
    close: bool = False
    receive: bool = False
    request_return: bool = False
    reorder: bool = False  # the buyer puts the lines in its cart again


def permitted_actions(actor: Actor, order: Order) -> OrderActions:
    supplier = actor.is_system or (
        actor.org_id == order.supplier_org_id and actor.can(Permission.ORDER_FULFIL)
    )
    buyer = actor.is_system or (
        actor.org_id == order.buyer_org_id and actor.can(Permission.ORDER_PLACE)
    )
    buyer_admin = actor.is_system or (
        actor.org_id == order.buyer_org_id and actor.can(Permission.ORDER_APPROVE)
    )
    status = order.status
    shipped = order.has_shipments
    pending_receipt = any(s.status == ShipmentStatus.SHIPPED for s in shipments_of(order))
    returnable = any(line.received_qty > line.returned_qty for line in order.lines)

    # The transition table says what each side may do from this status; the flags above say
    # whether the actor acts for that side (with the permission it needs).
    def can(side: Side, action: Action) -> bool:
        return allowed(status, action, side)

    return OrderActions(
        approve=supplier and can(Side.SUPPLIER, Action.APPROVE),
        reject=supplier and can(Side.SUPPLIER, Action.REJECT) and not shipped,
        buyer_approve=buyer_admin and can(Side.BUYER, Action.BUYER_APPROVE),
        buyer_reject=buyer_admin and can(Side.BUYER, Action.REJECT),
        cancel=buyer
        and can(Side.BUYER, Action.CANCEL)
        and not shipped
        and order.kind != OrderKind.PUSH,
        ship=supplier and can(Side.SUPPLIER, Action.SHIP),
        close=supplier and can(Side.SUPPLIER, Action.CLOSE),
        receive=buyer and pending_receipt,
        request_return=buyer and returnable,
        reorder=buyer and not actor.is_system,
    )


def shipments_of(order: Order) -> list[Shipment]:
    return list(
        db.session.execute(
            select(Shipment).where(Shipment.order_id == order.id).order_by(Shipment.seq)
        ).scalars()
    )


# -- the moves -----------------------------------------------------------------------------------


def approve_order(actor: Actor, order: Order, *, note: str = "") -> Order:
    """The supplier confirms a submitted order, or one waiting for credit approval (accepting
    the excess). A buyer can never approve its own credit excess."""
    as_supplier(actor, order)
    lock_order(order)
    expect(order, Action.APPROVE)
    credit = order.status == OrderStatus.AWAITING_APPROVAL
    order.confirmed_at = utcnow()
    order.hold_reason = ""
    transition(actor, order, Action.APPROVE, note=note, credit_excess=credit)
    return order


def approve_orders(actor: Actor, orders: Sequence[Order]) -> tuple[list[Order], list[str]]:
    """Bulk approve from the supplier's queue: each order on its own; the ones that cannot be
    approved (taken meanwhile) are named, not fatal."""
    done, skipped = [], []
    for order in orders:
        try:
            with db.session.begin_nested():
                done.append(approve_order(actor, order))
        except (OrderStateConflict, PermissionDenied):
            skipped.append(order.number)
    return done, skipped


def buyer_approve_order(actor: Actor, order: Order, *, note: str = "") -> Order:
    """The buyer org's admin lets an order held by its own rules go to the supplier; credit is
    checked now."""
    as_buyer(actor, order, Permission.ORDER_APPROVE)
    lock_order(order)
    expect(order, Action.BUYER_APPROVE)
    link = order.link
    account = finance.lock_account(link)
    status = credit_check(order, account, finance_queries.credit_limit(link))
    transition(actor, order, Action.BUYER_APPROVE, status, note=note)
    return order


def reject_order(actor: Actor, order: Order, *, reason: str) -> Order:
    """The supplier refuses an order before shipping it, or the buyer org's admin declines one
    held for its approval; every reservation is released."""
    lock_order(order)  # the side that may reject depends on the status as it is now
    if order.status == OrderStatus.PENDING_BUYER_APPROVAL:
        as_buyer(actor, order, Permission.ORDER_APPROVE)
    else:
        as_supplier(actor, order)
    reason = required_text(reason, "reason")
    expect(order, Action.REJECT)
    if order.has_shipments:
        raise OrderStateConflict("Part of the order has shipped: close the rest instead.")
    return _close(actor, order, Action.REJECT, OrderStatus.REJECTED, reason)


def cancel_order(actor: Actor, order: Order, *, reason: str = "") -> Order:
    """The buyer withdraws an order before anything ships; every reservation is released."""
    as_buyer(actor, order)
    lock_order(order)
    expect(order, Action.CANCEL)
    if order.kind == OrderKind.PUSH:
        raise OrderStateConflict("A push order is the brand's: ask HQ to reject it instead.")
    if order.has_shipments:
        raise OrderStateConflict("Part of the order has shipped: it can no longer be cancelled.")
    return _close(actor, order, Action.CANCEL, OrderStatus.CANCELLED, reason)


def close_order(actor: Actor, order: Order, *, reason: str) -> Order:
    """The supplier ends a partly shipped order: what is left unshipped is released."""
    as_supplier(actor, order)
    reason = required_text(reason, "reason")
    lock_order(order)
    expect(order, Action.CLOSE)
    received_all = all(s.status == ShipmentStatus.RECEIVED for s in shipments_of(order))
    status = OrderStatus.COMPLETED if received_all else OrderStatus.SHIPPED
    return _close(actor, order, Action.CLOSE, status, reason)


def _close(actor: Actor, order: Order, action: Action, status: OrderStatus, reason: str) -> Order:
    """Release what the order still holds: units (to its quota while open, else to the pool)
    and the credit its unshipped part committed."""
    moves = []
    released_cents = 0
    # Quotas are given back in SKU order, as orders draw them (no lock cycle).
    for line in sorted(order.lines, key=lambda ln: ln.variant_id):
        left = line.open_qty
        if left <= 0:
            continue
        released_cents += left * line.unit_price_cents
        if line.quota_id and allocations.give_back(line.quota_id, left):
            continue
        moves.append(
            stock.MoveLine(order.source_location_id, line.variant_id, reserved_delta=-left)
        )
    stock.apply_moves(actor, moves, reason=MoveReason.RELEASE, reference=order.number)
    if released_cents:
        link = order.link
        finance.commit_credit(finance.lock_account(link), -released_cents)
    order.closed_at = (
        utcnow()
        if status in (OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.COMPLETED)
        else None
    )
    order.hold_reason = ""
    transition(actor, order, action, status, note=reason, released_cents=released_cents)
    return order


def required_text(text: str, name: str) -> str:
    """A reason or note that must be given (field `name`), cut to 500 characters."""
    text = (text or "").strip()
    if not text:
        raise ValidationFailed(fields={name: "Say why."})
    return text[:500]


def ship_order(
    actor: Actor,
    order: Order,
    quantities: dict[str, Any],
    *,
    carrier: str = "",
    tracking_number: str = "",
) -> Shipment:
    """The supplier ships some or all of what is still open ({sku: qty}); the units leave its
    location, the shipped value is invoiced to the buyer's account. More than is open on a line
    is refused, naming the SKU."""
    as_supplier(actor, order)
    lock_order(order)
    expect(order, Action.SHIP)
    by_sku = {line.sku: line for line in order.lines}
    picked: list[tuple[OrderLine, int]] = []
    errors: dict[str, str] = {}
    for raw_sku, raw_qty in quantities.items():
        sku = str(raw_sku).strip().upper()
        qty = whole_number(raw_qty)
        line = by_sku.get(sku)
        if line is None:
            errors[f"lines.{sku}"] = f"{sku} is not on this order."
        elif qty is None or qty < 0:
            errors[f"lines.{sku}"] = f"{sku}: a whole number of units."
        elif qty > line.open_qty:
            errors[f"lines.{sku}"] = f"{sku}: only {line.open_qty} left to ship."
        elif qty:
            picked.append((line, qty))
    if errors:
        raise ValidationFailed(fields=errors)
    if not picked:
        raise ValidationFailed(fields={"lines": "Ship at least one unit."})
    if len(carrier) > 60 or len(tracking_number) > 80:
        raise ValidationFailed(fields={"tracking_number": "Too long."})
    seq = len(shipments_of(order)) + 1
    shipment = Shipment(
        order_id=order.id,
        brand_id=order.brand_id,
        seq=seq,
        carrier=carrier.strip(),
        tracking_number=tracking_number.strip(),
        shipped_by_user_id=actor.user_id,
    )
    db.session.add(shipment)
    value = 0
    moves = []
    for line, qty in picked:
        shipment.lines.append(ShipmentLine(order_line_id=line.id, qty=qty))
        line.shipped_qty += qty
        value += qty * line.unit_price_cents
        moves.append(
            stock.MoveLine(
                order.source_location_id,
                line.variant_id,
                on_hand_delta=-qty,
                reserved_delta=-qty,
                where=f"lines.{line.sku}",
            )
        )
    db.session.flush()
    stock.apply_moves(actor, moves, reason=MoveReason.SHIPMENT, reference=f"{order.number}/{seq}")
    link = order.link
    account = finance.lock_account(link)
    finance.commit_credit(account, -value)
    finance.post_invoice(
        actor,
        account,
        amount_cents=value,
        reference=f"shipment:{order.number}/{seq}",
        order_id=order.id,
        payment_terms_days=finance_queries.account_terms(link).payment_terms_days,
    )
    fully = all(line.open_qty == 0 for line in order.lines)
    transition(
        actor,
        order,
        Action.SHIP,
        OrderStatus.SHIPPED if fully else OrderStatus.PARTIALLY_SHIPPED,
        shipment=seq,
        units=sum(qty for _line, qty in picked),
        invoiced_cents=value,
        carrier=shipment.carrier,
        tracking_number=shipment.tracking_number,
    )
    return shipment


def receive_shipment(
    actor: Actor,
    order: Order,
    shipment: Shipment,
    *,
    received: dict[str, Any] | None = None,
    note: str = "",
) -> Shipment:
    """The buyer confirms a shipment arrived: the units land at its location. Fewer units than
    shipped ({sku: qty}) is a discrepancy that needs a note; a shipment is received once."""
    as_buyer(actor, order)
    lock_order(order)
    db.session.refresh(shipment)
    if shipment.order_id != order.id:
        raise NotFound()
    if shipment.status != ShipmentStatus.SHIPPED:
        raise OrderStateConflict(f"Shipment {order.number}/{shipment.seq} was already received.")
    received = {str(k).strip().upper(): v for k, v in (received or {}).items()}
    errors: dict[str, str] = {}
    counts: list[tuple[ShipmentLine, int]] = []
    for sl in shipment.lines:
        sku = sl.order_line.sku
        qty = whole_number(received.get(sku, sl.qty))
        if qty is None or qty < 0:
            errors[f"lines.{sku}"] = f"{sku}: a whole number of units."
        elif qty > sl.qty:
            errors[f"lines.{sku}"] = f"{sku}: only {sl.qty} were shipped."
        else:
            counts.append((sl, qty))
    unknown = set(received) - {sl.order_line.sku for sl in shipment.lines}
    for sku in sorted(unknown):
        errors[f"lines.{sku}"] = f"{sku} is not in this shipment."
    if errors:
        raise ValidationFailed(fields=errors)
    short = {sl.order_line.sku: sl.qty - qty for sl, qty in counts if qty < sl.qty}
    note = (note or "").strip()
    if short and not note:
        raise ValidationFailed(fields={"note": "Say what was missing or damaged."})
    moves = []
    for sl, qty in counts:
        sl.received_qty = qty
        sl.order_line.received_qty += qty
        if qty:
            moves.append(
                stock.MoveLine(order.destination_location_id, sl.order_line.variant_id, qty)
            )
    stock.apply_moves(
        actor, moves, reason=MoveReason.RECEIPT, reference=f"{order.number}/{shipment.seq}"
    )
    shipment.status = ShipmentStatus.RECEIVED
    shipment.received_at = utcnow()
    shipment.received_by_user_id = actor.user_id
    shipment.discrepancy_note = note[:500] if short else ""
    db.session.flush()
    status = order.status
    if order.status == OrderStatus.SHIPPED and all(
        s.status == ShipmentStatus.RECEIVED for s in shipments_of(order)
    ):
        status = OrderStatus.COMPLETED
        order.closed_at = utcnow()
    transition(
        actor,
        order,
        Action.RECEIVE,
        status,
        note=note,
        shipment=shipment.seq,
        units=sum(qty for _sl, qty in counts),
        short=short,
    )
    return shipment
