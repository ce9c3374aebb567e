"""A paid delivery order that its location does not take on in time moves to the next location.

The clock: ROUTE_ACCEPT_HOURS from the later of the payment and the order's last route offer
(the first offer is written at checkout, before the store can act on it, so for that one the
clock starts at payment). When it runs out, the routing rule (`routing.route_delivery`) picks the
next location, skipping every location the order was already offered to; the units are reserved
there (keeping its safety stock) and released where they were, one ledger call each; the old
offer is marked timed out and a new one written; the timeline says "passed to another store".
When no location is left, the order is refunded in full and its units go back.

A same-city order's delivery follows its new location (`couriers.is_same_city`): it stays with a
courier while the new location is within SAME_CITY_MAX_KM of the address, and otherwise goes by
parcel, and the same-city fee it paid (`delivery_cents`) is refunded through
`orders.refund_money(full=False)`, whose rule is proportional: the provider pays back
fee x (what the provider collected) / (the order's total), rounded down to the fen, and the
members' hooks the rest (wallet, points). An order the provider alone paid gets the whole fee
back through the provider. The order's amounts stay as charged; the re-route's timeline event
names the new method and the fee refunded. A parcel order never turns into a same-city one (its
consumer did not choose, nor pay for, a courier).

An order bought in a private sale is never moved either: its units were set aside at the sale's
location, which ships it (members/private_sales.py).

A pickup order is never moved: the consumer chose the store. It stays paid until the store
accepts or refunds it, or the consumer cancels it (a paid order not yet accepted may be); one the
store has not accepted within PICKUP_ACCEPT_HOURS of payment is refunded in full and its units go
back (`refund_unaccepted_pickups`).

A held order (`ConsumerOrder.on_hold`: a group buy waiting for its group) is neither moved nor
refunded here: no store may accept it yet, so no accept clock runs. Once released, both clocks
run from the later of its payment and its release (`clock_start`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import exists, or_, select

from portal.core.access import Actor
from portal.core.db import utcnow
from portal.core.errors import ValidationFailed
from portal.extensions import db
from portal.inventory.errors import InsufficientStock
from portal.inventory.ledger import MoveLine, apply_moves
from portal.inventory.models import Location, MoveReason
from portal.network.models import Organization
from portal.storefront import couriers, orders, routing, transitions
from portal.storefront.geo import haversine_km
from portal.storefront.models import (
    ConsumerOrder,
    ConsumerOrderRoute,
    ConsumerOrderStatus,
    DeliveryMethod,
    Fulfilment,
    OnlineLocation,
    RouteOutcome,
)
from portal.storefront.payments.models import RefundReason
from portal.storefront.transitions import Action, Who

NO_LOCATION_LEFT = "no store accepted the order in time"
PICKUP_NOT_ACCEPTED = "the store did not accept the pickup in time"
# A location chosen by the rule can lose its units to another order between the read and the
# reservation; it is skipped for this pass and the next one tried, a few times at most.
MAX_RACES = 5


@dataclass(frozen=True)
class Outcome:
    order_number: str
    moved_to: int | None  # the new location; None: refunded, no location left


def offer_first(order: ConsumerOrder) -> ConsumerOrderRoute:
    """The checkout's offer of a delivery order to the location routing chose."""
    return _offer(order, order.location_id, _distance(order, order.location_id), utcnow())


def _offer(
    order: ConsumerOrder, location_id: int, distance_km: float | None, now: datetime
) -> ConsumerOrderRoute:
    route = ConsumerOrderRoute(
        order_id=order.id,
        brand_id=order.brand_id,
        location_id=location_id,
        distance_km=distance_km,
        outcome=RouteOutcome.OFFERED,
        offered_at=now,
    )
    db.session.add(route)
    return route


def _distance(order: ConsumerOrder, location_id: int) -> float | None:
    point = db.session.execute(
        select(Organization.latitude, Organization.longitude)
        .join(Location, Location.org_id == Organization.id)
        .where(Location.id == location_id)
    ).first()
    if point is None or order.latitude is None or order.longitude is None or None in point:
        return None
    return round(haversine_km(order.latitude, order.longitude, point[0], point[1]), 3)


def accept_deadline_passed(now: datetime | None = None) -> datetime:
    """Offers made (or payments taken) before this moment have run out of time."""
    hours = float(current_app.config["ROUTE_ACCEPT_HOURS"])
    return (now or utcnow()) - timedelta(hours=hours)


def clock_start(order: ConsumerOrder) -> datetime | None:
    """When the store's time to accept the paid order began: its payment, or its release from a
    hold if that came later (None: not paid)."""
    if order.paid_at is None:
        return None
    if order.released_at is not None and order.released_at > order.paid_at:
        return order.released_at
    return order.paid_at


def _clock_ran_out(cutoff: datetime) -> list[Any]:
    """Paid, not held, and paid (and released, if it was held) before `cutoff`."""
    return [
        ConsumerOrder.on_hold.is_(False),
        ConsumerOrder.paid_at < cutoff,
        or_(ConsumerOrder.released_at.is_(None), ConsumerOrder.released_at < cutoff),
    ]


def due(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Paid delivery orders whose location has not accepted in time, oldest first."""
    cutoff = accept_deadline_passed(now)
    recent_offer = exists().where(
        ConsumerOrderRoute.order_id == ConsumerOrder.id, ConsumerOrderRoute.offered_at >= cutoff
    )
    stmt = (
        select(ConsumerOrder.id)
        .where(
            ConsumerOrder.status == ConsumerOrderStatus.PAID,
            ConsumerOrder.fulfilment == Fulfilment.DELIVERY,
            ConsumerOrder.event_id.is_(None),  # a private sale's stock is at its own location
            *_clock_ran_out(cutoff),
            ~recent_offer,
        )
        .order_by(ConsumerOrder.id)
        .limit(limit)
    )
    # Nothing is locked here: each order is locked on its own, payment first, and checked again
    # (`orders.lock_order`), the order every writer of an order takes its locks in.
    return list(db.session.execute(stmt).scalars())


def reroute_unaccepted(*, now: datetime | None = None, limit: int = 500) -> list[Outcome]:
    """Move (or, with no location left, refund) every order that is due; see the docstring."""
    now = now or utcnow()
    cutoff = accept_deadline_passed(now)
    done = []
    for order_id in due(now=now, limit=limit):
        order = orders.lock_order(order_id)
        if order is None or order.status != ConsumerOrderStatus.PAID or order.on_hold:
            continue  # accepted, refunded or cancelled meanwhile
        began = clock_start(order)
        if began is None or began >= cutoff or _last_offer(order) >= cutoff:
            continue
        done.append(reroute(order, now=now))
    db.session.flush()
    return done


def _routes(order: ConsumerOrder) -> list[ConsumerOrderRoute]:
    return list(
        db.session.execute(
            select(ConsumerOrderRoute)
            .where(ConsumerOrderRoute.order_id == order.id)
            .order_by(ConsumerOrderRoute.id)
        ).scalars()
    )


def _last_offer(order: ConsumerOrder) -> datetime:
    offers = [r.offered_at for r in _routes(order)]
    return max(offers, default=order.paid_at or utcnow())


def reroute(order: ConsumerOrder, *, now: datetime | None = None) -> Outcome:
    """Offer the (locked, paid, delivery) order to the next location, or refund it."""
    now = now or utcnow()
    routes = _routes(order)
    old_location_id = order.location_id
    if not any(r.location_id == old_location_id for r in routes):
        # An order placed before offers were written: its first offer is recorded as it ended.
        routes.append(_offer(order, old_location_id, _distance(order, old_location_id), now))
        routes[-1].offered_at = order.paid_at or now
    for route in routes:
        if route.location_id == old_location_id and route.outcome == RouteOutcome.OFFERED:
            route.outcome, route.decided_at = RouteOutcome.TIMED_OUT, now
    tried = {r.location_id for r in routes} | {old_location_id}
    leg = _reserve_at_next(order, tried)
    if leg is None:
        orders.refund_unfulfilled(order, reason=NO_LOCATION_LEFT)
        return Outcome(order.number, None)
    apply_moves(
        Actor.system(),
        [
            MoveLine(old_location_id, line.variant_id, reserved_delta=-line.qty, grade=line.grade)
            for line in order.lines
        ],
        reason=MoveReason.RELEASE,
        reference=order.number,
    )
    _offer(order, leg.location_id, leg.distance_km, now)
    order.location_id = leg.location_id
    transitions.transition(
        order,
        Action.REROUTE,
        Who.SYSTEM,
        from_location=old_location_id,
        to_location=leg.location_id,
        reason="not accepted in time",
        **_delivery_follows(order, leg.distance_km),
    )
    db.session.flush()
    return Outcome(order.number, leg.location_id)


def _delivery_follows(order: ConsumerOrder, distance_km: float | None) -> dict[str, Any]:
    """A same-city order moved beyond SAME_CITY_MAX_KM of its address goes by parcel from now
    on, and the same-city fee it paid goes back (see the module's docstring for the rule); what
    changed, for the re-route's timeline event (nothing: it still goes as it went)."""
    if order.delivery_method != DeliveryMethod.SAME_CITY or couriers.is_same_city(distance_km):
        return {}
    order.delivery_method = DeliveryMethod.PARCEL
    fee = order.delivery_cents or 0
    if fee <= 0:
        return {"delivery_method": DeliveryMethod.PARCEL.value}
    orders.refund_money(
        order, amount_cents=fee, reason=RefundReason.CANCELLED, suffix="FEE", full=False
    )
    return {
        "delivery_method": DeliveryMethod.PARCEL.value,
        "fee_refunded_cents": fee,
        "currency": order.currency,
    }


def _reserve_at_next(order: ConsumerOrder, tried: set[int]) -> routing.Leg | None:
    """Reserve the order's units at the next location by the routing rule (never splitting:
    the order is one parcel from one place); None when no location can take it."""
    skip = set(tried)
    for _attempt in range(MAX_RACES):
        try:
            plan = routing.route_delivery(
                order.brand_id,
                order.lines,
                order.latitude,
                order.longitude,
                exclude=skip,
                allow_split=False,
            )
        except (InsufficientStock, ValidationFailed):
            return None  # CannotRoute, or an order without a usable point
        leg = plan.legs[0]
        keep = db.session.execute(
            select(OnlineLocation.safety_stock).where(
                OnlineLocation.brand_id == order.brand_id,
                OnlineLocation.location_id == leg.location_id,
            )
        ).scalar_one_or_none()
        try:
            apply_moves(
                Actor.system(),
                [
                    MoveLine(
                        leg.location_id,
                        line.variant_id,
                        reserved_delta=line.qty,
                        grade=line.grade,
                        keep=keep or 0,
                    )
                    for line in order.lines
                ],
                reason=MoveReason.RESERVE,
                reference=order.number,
            )
        except InsufficientStock:
            skip.add(leg.location_id)
            continue
        return leg
    return None


def refund_unaccepted_pickups(*, now: datetime | None = None, limit: int = 500) -> int:
    """Paid pickup orders their store has not accepted within PICKUP_ACCEPT_HOURS of payment (or
    of their release from a hold, if later; held ones never) are
    refunded in full and their units released; returns how many. Each is locked and checked
    again, so an acceptance (or a cancel) that got there first wins."""
    hours = float(current_app.config["PICKUP_ACCEPT_HOURS"])
    cutoff = (now or utcnow()) - timedelta(hours=hours)
    stmt = (
        select(ConsumerOrder.id)
        .where(
            ConsumerOrder.status == ConsumerOrderStatus.PAID,
            ConsumerOrder.fulfilment == Fulfilment.PICKUP,
            *_clock_ran_out(cutoff),
        )
        .order_by(ConsumerOrder.id)
        .limit(limit)
    )
    done = 0
    for order_id in list(db.session.execute(stmt).scalars()):
        order = orders.lock_order(order_id)
        if order is None or order.status != ConsumerOrderStatus.PAID or order.on_hold:
            continue
        began = clock_start(order)
        if began is None or began >= cutoff:
            continue
        orders.refund_unfulfilled(order, reason=PICKUP_NOT_ACCEPTED)
        done += 1
    db.session.flush()
    return done
