"""The order's life as one table: which moves exist, which side may make each and which event
it writes. Every change of `Order.status`, and every timeline event, goes through `transition`.

A row is (from status, action, to status): an action whose outcome depends on the order (a
shipment that empties it or not, a credit check) has one row per outcome. `NEW` is the "from" of
the actions that create an order. Rows whose status does not change (a receipt that leaves
shipments in transit, a return) still write their event through the table. Checks that are not
about the status (a push order cannot be cancelled, nothing may be rejected once part has
shipped) stay with the services.

A move the table does not have is refused with `OrderStateConflict` (409 `invalid_transition`);
a move made by a side the row does not name is refused with `PermissionDenied`. The system (jobs,
CLI) may make every move, as it always could. `transition` moves an order from its status;
`create` makes the first move of an order just built.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l

from portal.core.access import Actor
from portal.core.db import utcnow
from portal.core.errors import PermissionDenied
from portal.extensions import db
from portal.ordering.errors import OrderStateConflict
from portal.ordering.models import Order, OrderEvent, OrderStatus


class Side(enum.StrEnum):
    BUYER = "buyer"
    SUPPLIER = "supplier"
    SYSTEM = "system"


class Action(enum.StrEnum):
    SUBMIT = "submit"
    PUSH = "push"  # HQ sends stock down: the order is created confirmed
    APPROVE = "approve"  # the supplier confirms (over credit too)
    BUYER_APPROVE = "buyer_approve"  # the buyer org's admin lets a held order go
    REJECT = "reject"
    CANCEL = "cancel"
    SHIP = "ship"
    CLOSE = "close"  # the supplier ends a partly shipped order
    RECEIVE = "receive"  # the buyer receives a shipment
    REQUEST_RETURN = "request_return"
    APPROVE_RETURN = "approve_return"
    REJECT_RETURN = "reject_return"
    RECEIVE_RETURN = "receive_return"


class EventKind(enum.StrEnum):
    """What `OrderEvent.kind` holds."""

    SUBMITTED = "submitted"
    PUSHED = "pushed"
    APPROVED = "approved"
    BUYER_APPROVED = "buyer_approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    CLOSED = "closed"
    SHIPPED = "shipped"
    RECEIVED = "received"
    RETURN_REQUESTED = "return_requested"
    RETURN_APPROVED = "return_approved"
    RETURN_REJECTED = "return_rejected"
    RETURN_RECEIVED = "return_received"


class ProblemCode(enum.StrEnum):
    """Why submit refuses a line or the order: the error `code` and each problem's `code`."""

    EMPTY_ORDER = "empty_order"
    TOO_MANY_LINES = "too_many_lines"
    UNKNOWN_SKU = "unknown_sku"
    INVALID_QUANTITY = "invalid_quantity"
    SKU_NOT_AUTHORIZED = "sku_not_authorized"
    BELOW_MOQ = "below_moq"
    NOT_MULTIPLE = "not_multiple"
    OUTSIDE_ORDER_WINDOW = "outside_order_window"
    BELOW_MIN_AMOUNT = "below_min_amount"
    QUOTA_EXCEEDED = "quota_exceeded"
    INSUFFICIENT_STOCK = "insufficient_stock"


EVENT_LABELS = {
    EventKind.SUBMITTED: _l("Submitted"),
    EventKind.PUSHED: _l("Pushed by HQ"),
    EventKind.APPROVED: _l("Approved by the supplier"),
    EventKind.BUYER_APPROVED: _l("Approved by the buyer's admin"),
    EventKind.REJECTED: _l("Rejected"),
    EventKind.CANCELLED: _l("Cancelled"),
    EventKind.CLOSED: _l("Closed"),
    EventKind.SHIPPED: _l("Shipped"),
    EventKind.RECEIVED: _l("Received"),
    EventKind.RETURN_REQUESTED: _l("Return requested"),
    EventKind.RETURN_APPROVED: _l("Return approved"),
    EventKind.RETURN_REJECTED: _l("Return rejected"),
    EventKind.RETURN_RECEIVED: _l("Return received"),
}

PROBLEM_LABELS = {
    ProblemCode.EMPTY_ORDER: _l("The order has no lines"),
    ProblemCode.TOO_MANY_LINES: _l("Too many lines"),
    ProblemCode.UNKNOWN_SKU: _l("Unknown SKU"),
    ProblemCode.INVALID_QUANTITY: _l("Invalid quantity"),
    ProblemCode.SKU_NOT_AUTHORIZED: _l("SKU not authorized for you"),
    ProblemCode.BELOW_MOQ: _l("Below the minimum order quantity"),
    ProblemCode.NOT_MULTIPLE: _l("Not a multiple of the order unit"),
    ProblemCode.OUTSIDE_ORDER_WINDOW: _l("Outside the ordering window"),
    ProblemCode.BELOW_MIN_AMOUNT: _l("Below the minimum order amount"),
    ProblemCode.QUOTA_EXCEEDED: _l("More than the quota left"),
    ProblemCode.INSUFFICIENT_STOCK: _l("Not enough stock"),
}

# How a refusal names the action: "Order X is shipped: it cannot be cancelled."
_DOING = {
    Action.SUBMIT: "submitted",
    Action.PUSH: "pushed",
    Action.APPROVE: "approved",
    Action.BUYER_APPROVE: "approved",
    Action.REJECT: "rejected",
    Action.CANCEL: "cancelled",
    Action.SHIP: "shipped",
    Action.CLOSE: "closed",
    Action.RECEIVE: "received",
    Action.REQUEST_RETURN: "returned",
    Action.APPROVE_RETURN: "given a return",
    Action.REJECT_RETURN: "given a return",
    Action.RECEIVE_RETURN: "given a return",
}

NEW = ""  # the "from" of an order being created (and the event's from_status)


@dataclass(frozen=True)
class Move:
    from_status: str
    action: Action
    to_status: OrderStatus
    sides: frozenset[Side]
    event: EventKind


def _moves(
    froms: tuple[str, ...], action: Action, tos: tuple[OrderStatus, ...], *sides: Side
) -> list[Move]:
    who = frozenset((*sides, Side.SYSTEM))
    event = {
        Action.SUBMIT: EventKind.SUBMITTED,
        Action.PUSH: EventKind.PUSHED,
        Action.APPROVE: EventKind.APPROVED,
        Action.BUYER_APPROVE: EventKind.BUYER_APPROVED,
        Action.REJECT: EventKind.REJECTED,
        Action.CANCEL: EventKind.CANCELLED,
        Action.SHIP: EventKind.SHIPPED,
        Action.CLOSE: EventKind.CLOSED,
        Action.RECEIVE: EventKind.RECEIVED,
        Action.REQUEST_RETURN: EventKind.RETURN_REQUESTED,
        Action.APPROVE_RETURN: EventKind.RETURN_APPROVED,
        Action.REJECT_RETURN: EventKind.RETURN_REJECTED,
        Action.RECEIVE_RETURN: EventKind.RETURN_RECEIVED,
    }[action]
    return [Move(f, action, t, who, event) for f in froms for t in tos]


S = OrderStatus
BUYER, SUPPLIER = Side.BUYER, Side.SUPPLIER
# Statuses with something received: where returns happen (the status does not change).
_RECEIVED = (S.PARTIALLY_SHIPPED, S.SHIPPED, S.COMPLETED)

TABLE: tuple[Move, ...] = tuple(
    [
        # submitted as it is, over credit (the supplier decides) or held by the buyer org's rules
        *_moves(
            (NEW,),
            Action.SUBMIT,
            (S.SUBMITTED, S.AWAITING_APPROVAL, S.PENDING_BUYER_APPROVAL),
            BUYER,
        ),
        *_moves((NEW,), Action.PUSH, (S.CONFIRMED,), SUPPLIER),
        *_moves((S.SUBMITTED, S.AWAITING_APPROVAL), Action.APPROVE, (S.CONFIRMED,), SUPPLIER),
        *_moves(
            (S.PENDING_BUYER_APPROVAL,),
            Action.BUYER_APPROVE,
            (S.SUBMITTED, S.AWAITING_APPROVAL),
            BUYER,
        ),
        *_moves(
            (S.SUBMITTED, S.AWAITING_APPROVAL, S.CONFIRMED), Action.REJECT, (S.REJECTED,), SUPPLIER
        ),
        *_moves((S.PENDING_BUYER_APPROVAL,), Action.REJECT, (S.REJECTED,), BUYER),
        *_moves(
            (S.PENDING_BUYER_APPROVAL, S.SUBMITTED, S.AWAITING_APPROVAL, S.CONFIRMED),
            Action.CANCEL,
            (S.CANCELLED,),
            BUYER,
        ),
        *_moves(
            (S.CONFIRMED, S.PARTIALLY_SHIPPED),
            Action.SHIP,
            (S.PARTIALLY_SHIPPED, S.SHIPPED),
            SUPPLIER,
        ),
        *_moves((S.PARTIALLY_SHIPPED,), Action.CLOSE, (S.SHIPPED, S.COMPLETED), SUPPLIER),
        *_moves((S.PARTIALLY_SHIPPED,), Action.RECEIVE, (S.PARTIALLY_SHIPPED,), BUYER),
        *_moves((S.SHIPPED,), Action.RECEIVE, (S.SHIPPED, S.COMPLETED), BUYER),
        *[
            move
            for status in _RECEIVED
            for move in (
                *_moves((status,), Action.REQUEST_RETURN, (status,), BUYER),
                *_moves((status,), Action.APPROVE_RETURN, (status,), SUPPLIER),
                *_moves((status,), Action.REJECT_RETURN, (status,), SUPPLIER),
                *_moves((status,), Action.RECEIVE_RETURN, (status,), SUPPLIER),
            )
        ],
    ]
)
_BY_KEY: dict[tuple[str, Action, str], Move] = {
    (m.from_status, m.action, m.to_status): m for m in TABLE
}
assert len(_BY_KEY) == len(TABLE), "a move is in the table twice"


def side_of(actor: Actor, order: Order) -> Side | None:
    """The side the actor is on for this order (None: neither)."""
    if actor.is_system:
        return Side.SYSTEM
    if actor.org_id is not None and actor.org_id == order.supplier_org_id:
        return Side.SUPPLIER
    if actor.org_id is not None and actor.org_id == order.buyer_org_id:
        return Side.BUYER
    return None


def moves_from(status: str, action: Action) -> list[Move]:
    return [m for m in TABLE if m.from_status == status and m.action == action]


def allowed(status: str, action: Action, side: Side | None = None) -> bool:
    """The table has this action from this status (for this side, when given)."""
    return any(side is None or side in m.sides for m in moves_from(status, action))


def refused(order: Order, action: Action) -> OrderStateConflict:
    return OrderStateConflict(
        f"Order {order.number} is {order.status.replace('_', ' ')}: it cannot be {_DOING[action]}.",
        status=order.status,
    )


def expect(order: Order, action: Action) -> None:
    """Refuse at once (before any other check) an action the order's status does not allow."""
    if not allowed(order.status, action):
        raise refused(order, action)


def transition(
    actor: Actor,
    order: Order,
    action: Action,
    to: str | None = None,
    *,
    note: str = "",
    **details: Any,
) -> OrderEvent:
    """Make one move of the table from the order's status: check it exists and that the actor's
    side may make it, set the status and write the event. `to` picks among several outcomes
    (left out: the only one, or the status unchanged)."""
    return _move(actor, order, order.status, action, to, note, details)


def create(
    actor: Actor, order: Order, action: Action, to: str, *, note: str = "", **details: Any
) -> OrderEvent:
    """The first move of an order just built (submit, push): from `NEW` to `to`."""
    return _move(actor, order, NEW, action, to, note, details)


def _move(
    actor: Actor,
    order: Order,
    before: str,
    action: Action,
    to: str | None,
    note: str,
    details: dict[str, Any],
) -> OrderEvent:
    if to is None:
        outcomes = {m.to_status for m in moves_from(before, action)}
        to = outcomes.pop() if len(outcomes) == 1 else order.status
    move = _BY_KEY.get((before, action, to))
    if move is None:
        raise refused(order, action)
    side = side_of(actor, order)
    if side not in move.sides:
        raise PermissionDenied(f"The {side or 'other'} side cannot do this to the order.")
    order.status = move.to_status
    event = OrderEvent(
        order_id=order.id,
        brand_id=order.brand_id,
        kind=move.event.value,
        from_status=str(move.from_status),
        to_status=move.to_status.value,
        note=(note or "")[:500],
        details={k: v for k, v in details.items() if v not in (None, "", [], {})},
        actor_user_id=actor.user_id,
        actor_org_id=actor.org_id,
        created_at=utcnow(),
    )
    db.session.add(event)
    return event
