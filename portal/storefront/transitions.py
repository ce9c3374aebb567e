"""A consumer order's life as one table, like the B2B order's (`portal.ordering.transitions`):
which moves exist, who may make each, and the event each writes. Every change of
`ConsumerOrder.status`, and every timeline event, goes through `transition`.

Who: the consumer who placed the order, the staff of the fulfilling location (pick, pack, hand
over, ship), and the system (payment notices, expiry, re-routing, uncollected pickups). A move the
table does not have is refused with `ConsumerOrderConflict` (409); a move by someone the row does
not name, with `PermissionDenied`.

A held order (`ConsumerOrder.on_hold`: a layer above waits for something, today a group buy's
group to fill) is paid and holds its units, but it is not its store's yet: no one accepts it or
passes it on, and its staff take no step on it (409, saying what it waits for); the consumer may
still call it off, and the system refund it. When the layer lets it go, the system's RELEASE move
(paid to paid) writes it on the timeline (`orders.release_hold`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l

from portal.core.db import utcnow
from portal.core.errors import Conflict, PermissionDenied
from portal.extensions import db
from portal.storefront import hooks
from portal.storefront.models import ConsumerOrder, ConsumerOrderEvent
from portal.storefront.models import ConsumerOrderStatus as S
from portal.storefront.words import say


class Who(enum.StrEnum):
    CONSUMER = "consumer"
    STAFF = "staff"  # the fulfilling location's people
    SYSTEM = "system"


class Action(enum.StrEnum):
    PLACE = "place"  # checkout: units reserved, waiting for payment
    PAY = "pay"  # the provider's notice says paid
    EXPIRE = "expire"  # not paid in time
    CANCEL = "cancel"  # by the consumer, before it is accepted
    ACCEPT = "accept"  # the fulfilling location takes it on
    REROUTE = "reroute"  # offered to the next location (not accepted in time, or declined)
    READY = "ready"  # packed and waiting at the store for pickup
    HAND_OVER = "hand_over"  # the consumer collected it, against the pickup code
    SHIP = "ship"
    DELIVER = "deliver"  # the consumer confirms, or the carrier says delivered
    REFUND = "refund"  # called off after payment: the money goes back
    RELEASE = "release"  # a held order goes to its store (the group it waited for is complete)


class ConsumerOrderConflict(Conflict):
    code = "invalid_transition"


EVENT_LABELS = {
    Action.PLACE: _l("Order placed"),
    Action.PAY: _l("Paid"),
    Action.EXPIRE: _l("Not paid in time: cancelled"),
    Action.CANCEL: _l("Cancelled"),
    Action.ACCEPT: _l("Accepted by the store"),
    Action.REROUTE: _l("Passed to another store"),
    Action.READY: _l("Ready for pickup"),
    Action.HAND_OVER: _l("Collected"),
    Action.SHIP: _l("Shipped"),
    Action.DELIVER: _l("Delivered"),
    Action.REFUND: _l("Refunded"),
    # The one hold there is today is a group buy's (ConsumerOrder.on_hold).
    Action.RELEASE: _l("Group complete"),
}

STATUS_LABELS = {
    S.AWAITING_PAYMENT: _l("Awaiting payment"),
    S.PAID: _l("Paid"),
    S.PREPARING: _l("Being prepared"),
    S.READY_FOR_PICKUP: _l("Ready for pickup"),
    S.SHIPPED: _l("Shipped"),
    S.COMPLETED: _l("Completed"),
    S.CANCELLED: _l("Cancelled"),
    S.REFUNDED: _l("Refunded"),
}

NEW = ""  # the "from" of the move that creates an order


@dataclass(frozen=True)
class Move:
    from_status: str
    action: Action
    to_status: S
    who: frozenset[Who]


def _moves(froms: tuple[str, ...], action: Action, to: S, *who: Who) -> list[Move]:
    return [Move(f, action, to, frozenset((*who, Who.SYSTEM))) for f in froms]


CONSUMER, STAFF = Who.CONSUMER, Who.STAFF

TABLE: tuple[Move, ...] = tuple(
    [
        *_moves((NEW,), Action.PLACE, S.AWAITING_PAYMENT, CONSUMER),
        *_moves((S.AWAITING_PAYMENT,), Action.PAY, S.PAID),
        *_moves((S.AWAITING_PAYMENT,), Action.EXPIRE, S.CANCELLED),
        *_moves((S.AWAITING_PAYMENT,), Action.CANCEL, S.CANCELLED, CONSUMER),
        *_moves((S.PAID,), Action.ACCEPT, S.PREPARING, STAFF),
        *_moves((S.PAID,), Action.REROUTE, S.PAID, STAFF),
        *_moves((S.PREPARING,), Action.READY, S.READY_FOR_PICKUP, STAFF),
        *_moves((S.READY_FOR_PICKUP,), Action.HAND_OVER, S.COMPLETED, STAFF),
        *_moves((S.PREPARING,), Action.SHIP, S.SHIPPED, STAFF),
        *_moves((S.SHIPPED,), Action.DELIVER, S.COMPLETED, CONSUMER),
        # The consumer may call off a paid order the store has not taken on; after that only
        # the store (it cannot fulfil) or the system (an uncollected pickup) may.
        *_moves((S.PAID,), Action.REFUND, S.REFUNDED, CONSUMER, STAFF),
        *_moves((S.PREPARING, S.READY_FOR_PICKUP), Action.REFUND, S.REFUNDED, STAFF),
        *_moves((S.PAID,), Action.RELEASE, S.PAID),  # the system only
    ]
)
_BY_KEY: dict[tuple[str, Action], Move] = {(m.from_status, m.action): m for m in TABLE}
assert len(_BY_KEY) == len(TABLE), "a move is in the table twice"


def find_move(from_status: str, action: Action) -> Move | None:
    return _BY_KEY.get((from_status, action))


def may(order: ConsumerOrder, action: Action, who: Who) -> bool:
    """Whether `who` may make `action` on the order now (what a page offers)."""
    move = find_move(order.status, action)
    return move is not None and who in move.who and not _held_back(order, action, who)


def _held_back(order: ConsumerOrder, action: Action, who: Who) -> bool:
    """A held order is not its store's yet: nobody accepts it or passes it on, and its staff
    take no step on it (the consumer may still call it off, the system refund it)."""
    return bool(order.on_hold) and (action in (Action.ACCEPT, Action.REROUTE) or who == STAFF)


def consumer_may_call_off(order: ConsumerOrder) -> bool:
    """Whether the consumer may still call the order off: cancelled unpaid, refunded once paid,
    until the store takes it on."""
    return may(order, Action.CANCEL, Who.CONSUMER) or may(order, Action.REFUND, Who.CONSUMER)


def transition(
    order: ConsumerOrder,
    action: Action,
    who: Who,
    *,
    actor_user_id: int | None = None,
    **details: Any,
) -> ConsumerOrderEvent:
    """Make one move of the table and write its event; refuse any other."""
    return _write(order, ensure(order, action, who), who, actor_user_id, details)


def ensure(order: ConsumerOrder, action: Action, who: Who) -> Move:
    """The move `who` may make with `action` on the order now, or the refusal `transition`
    raises (a caller with work to do before the move refuses before doing any)."""
    move = find_move(order.status, action)
    if move is None:
        raise ConsumerOrderConflict(
            say(
                _l("Order %(number)s is %(status)s: that step is not possible now."),
                number=order.number,
                status=_label(order.status).lower(),
            ),
            status=order.status,
            action=action.value,
        )
    if who not in move.who:
        raise PermissionDenied(say(_l("This step is not yours to take on this order.")))
    if _held_back(order, action, who):
        raise ConsumerOrderConflict(
            say(
                _l(
                    "Order %(number)s is waiting for its group to fill: the store takes it on "
                    "once the group is complete."
                ),
                number=order.number,
            ),
            status=order.status,
            action=action.value,
            on_hold=True,
        )
    return move


def _label(status: str) -> str:
    """The status's name in the language of the message it goes into."""
    return say(STATUS_LABELS.get(S(status), status))


def create(
    order: ConsumerOrder, who: Who, *, actor_user_id: int | None = None, **details: Any
) -> ConsumerOrderEvent:
    """The first move of an order just built (placing it)."""
    move = _BY_KEY[(NEW, Action.PLACE)]
    if who not in move.who:
        raise PermissionDenied(say(_l("Only the consumer places an order.")))
    order.status = move.to_status
    return _write(order, move, who, actor_user_id, details)


def _write(
    order: ConsumerOrder,
    move: Move,
    who: Who,
    actor_user_id: int | None,
    details: dict[str, Any],
) -> ConsumerOrderEvent:
    from_status = move.from_status
    order.status = move.to_status
    now = utcnow()
    stamp = {
        Action.PAY: "paid_at",
        Action.ACCEPT: "accepted_at",
        Action.READY: "ready_at",
        Action.SHIP: "shipped_at",
        Action.HAND_OVER: "completed_at",
        Action.DELIVER: "completed_at",
        Action.EXPIRE: "cancelled_at",
        Action.CANCEL: "cancelled_at",
        Action.REFUND: "cancelled_at",
    }.get(move.action)
    if stamp is not None:
        setattr(order, stamp, now)
    event = ConsumerOrderEvent(
        order=order,
        brand_id=order.brand_id,
        kind=move.action.value,
        from_status=from_status,
        to_status=move.to_status,
        actor_user_id=actor_user_id,
        by_consumer=who == Who.CONSUMER,
        details={k: v for k, v in details.items() if v not in (None, "", [], {})},
        created_at=now,
    )
    db.session.add(event)
    hooks.order_moved(order, move.action.value)
    return event
