"""Reads of the consumer side that answer "may this one see it?" themselves: a consumer's own
orders, a location's queue for its staff, an order's payment, an order's timeline (its events
and its returns), and HQ's reads of the brand's consumer orders (the list with its filters, one
order, where it was offered) and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.core.access import Actor
from portal.core.errors import NotFound
from portal.core.pagination import Page, paginate
from portal.extensions import db
from portal.inventory.models import Location
from portal.storefront.models import (
    Consumer,
    ConsumerOrder,
    ConsumerOrderRoute,
    ConsumerOrderStatus,
)
from portal.storefront.payments.models import Payment
from portal.storefront.return_models import ConsumerReturn, ReturnStatus


def payment_of(order: ConsumerOrder) -> Payment | None:
    """The order's payment (the order is already the caller's to see)."""
    if order.payment_id is None:
        return None
    payment = db.session.get(Payment, order.payment_id)
    return payment if payment is not None and payment.brand_id == order.brand_id else None


def get_own_order(consumer: Consumer, number: str) -> ConsumerOrder:
    """One of the consumer's own orders in its brand; anyone else's is a 404."""
    order = db.session.execute(
        select(ConsumerOrder).where(
            ConsumerOrder.number == number,
            ConsumerOrder.consumer_id == consumer.id,
            ConsumerOrder.brand_id == consumer.brand_id,
        )
    ).scalar_one_or_none()
    if order is None:
        raise NotFound()
    return order


def list_own_orders(consumer: Consumer, *, limit: int = 50) -> list[ConsumerOrder]:
    return list(
        db.session.execute(
            select(ConsumerOrder)
            .where(
                ConsumerOrder.consumer_id == consumer.id,
                ConsumerOrder.brand_id == consumer.brand_id,
            )
            .order_by(ConsumerOrder.id.desc())
            .limit(limit)
        ).scalars()
    )


def get_location_order(actor: Actor, number: str) -> ConsumerOrder:
    """An order fulfilled at one of the actor's org's locations; any other is a 404."""
    stmt = select(ConsumerOrder).where(ConsumerOrder.number == number)
    if not actor.is_system:
        stmt = stmt.join(Location, Location.id == ConsumerOrder.location_id).where(
            Location.org_id == actor.org_id
        )
    order = db.session.execute(stmt).scalar_one_or_none()
    if order is None:
        raise NotFound()
    return order


def location_queue(
    actor: Actor,
    statuses: tuple[ConsumerOrderStatus, ...],
    *,
    fulfilment: str | None = None,
    limit: int = 100,
) -> list[ConsumerOrder]:
    """The actor's locations' orders in these statuses (and of this fulfilment, if given),
    oldest first (the order of work)."""
    if actor.org_id is None:
        return []
    stmt = (
        select(ConsumerOrder)
        .join(Location, Location.id == ConsumerOrder.location_id)
        .where(Location.org_id == actor.org_id, ConsumerOrder.status.in_(statuses))
    )
    if fulfilment is not None:
        stmt = stmt.where(ConsumerOrder.fulfilment == fulfilment)
    return list(db.session.execute(stmt.order_by(ConsumerOrder.id).limit(limit)).scalars())


# -- HQ's reads of the brand's consumer orders -----------------------------------------------


def get_brand_order(actor: Actor, number: str) -> ConsumerOrder:
    """One order of the actor's own brand (the actor is its HQ); any other is a 404."""
    if not actor.is_hq or actor.org_id is None:
        raise NotFound()
    order = db.session.execute(
        select(ConsumerOrder).where(
            ConsumerOrder.number == number, ConsumerOrder.brand_id == actor.org_id
        )
    ).scalar_one_or_none()
    if order is None:
        raise NotFound()
    return order


def list_brand_orders(
    actor: Actor,
    *,
    status: str = "",
    location: str = "",
    since: date | None = None,
    until: date | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page:
    """The brand's orders, newest first; days are whole UTC days, `until` included."""
    if not actor.is_hq or actor.org_id is None:
        raise NotFound()
    stmt = select(ConsumerOrder).where(ConsumerOrder.brand_id == actor.org_id)
    if status in tuple(ConsumerOrderStatus):
        stmt = stmt.where(ConsumerOrder.status == status)
    if location:
        stmt = stmt.join(Location, Location.id == ConsumerOrder.location_id).where(
            Location.code == location
        )
    if since is not None:
        stmt = stmt.where(ConsumerOrder.created_at >= datetime.combine(since, time(), UTC))
    if until is not None:
        end = datetime.combine(until + timedelta(days=1), time(), UTC)
        stmt = stmt.where(ConsumerOrder.created_at < end)
    return paginate(stmt.order_by(ConsumerOrder.id.desc()), page, per_page)


def brand_order_locations(actor: Actor) -> list[Location]:
    """The locations the brand's consumer orders were fulfilled at, for the filter."""
    held = select(ConsumerOrder.location_id).where(ConsumerOrder.brand_id == actor.org_id)
    return list(
        db.session.execute(
            select(Location).where(Location.id.in_(held)).order_by(Location.code)
        ).scalars()
    )


def order_routes(order: ConsumerOrder) -> list[Any]:
    """Each location the order was offered to, in turn, with the location (the caller may see
    the order)."""
    return list(
        db.session.execute(
            select(ConsumerOrderRoute, Location)
            .join(Location, Location.id == ConsumerOrderRoute.location_id)
            .where(ConsumerOrderRoute.order_id == order.id)
            .order_by(ConsumerOrderRoute.id)
        )
    )


# -- an order's timeline -------------------------------------------------------------------------

RETURN_REQUESTED = "return_requested"
RETURN_RECEIVED = "return_received"
RETURN_REFUNDED = "return_refunded"
RETURN_REJECTED = "return_rejected"


@dataclass(frozen=True)
class TimelineEntry:
    """One moment of an order's life: one of its events (`kind` is the move's action: "pay",
    "reroute", ...) or a step of one of its returns (`kind` is one of RETURN_*, `details`
    names the return and its units and amounts)."""

    at: datetime
    kind: str
    details: dict[str, Any] = field(default_factory=dict)
    by_consumer: bool = False
    by_staff: bool = False


def order_returns(order: ConsumerOrder) -> list[ConsumerReturn]:
    """The order's returns with their lines, oldest first (the caller may see the order)."""
    return list(
        db.session.execute(
            select(ConsumerReturn)
            .where(ConsumerReturn.order_id == order.id, ConsumerReturn.brand_id == order.brand_id)
            .options(selectinload(ConsumerReturn.lines))
            .order_by(ConsumerReturn.id)
        ).scalars()
    )


def order_timeline(order: ConsumerOrder) -> list[TimelineEntry]:
    """The order's events and each return's request, receipt, refund and rejection, in the
    order they happened (the caller may see the order)."""
    entries = [
        TimelineEntry(
            at=event.created_at,
            kind=event.kind,
            details=dict(event.details or {}),
            by_consumer=event.by_consumer,
            by_staff=event.actor_user_id is not None,
        )
        for event in order.events
    ]
    for found in order_returns(order):
        about = {
            "number": found.number,
            "currency": found.currency,
            "items": sum(line.qty for line in found.lines),
            "value_cents": sum(line.value_cents for line in found.lines),
        }
        entries.append(
            TimelineEntry(
                found.requested_at,
                RETURN_REQUESTED,
                {**about, "reason": found.reason},
                by_consumer=True,
            )
        )
        if found.received_at is not None:
            grades = sorted({line.grade for line in found.lines if line.grade})
            entries.append(
                TimelineEntry(
                    found.received_at, RETURN_RECEIVED, {**about, "grades": grades}, by_staff=True
                )
            )
        if found.refunded_at is not None:
            entries.append(
                TimelineEntry(
                    found.refunded_at,
                    RETURN_REFUNDED,
                    {**about, "refund_cents": found.refund_cents},
                    by_staff=True,
                )
            )
        if found.rejected_at is not None:
            entries.append(
                TimelineEntry(
                    found.rejected_at,
                    RETURN_REJECTED,
                    {**about, "reason": found.reject_reason},
                    by_staff=True,
                )
            )
    entries.sort(key=lambda entry: entry.at)  # stable: events keep their order on a tie
    return entries


# -- HQ's reads of the brand's consumer returns --------------------------------------------------


def list_brand_returns(
    actor: Actor, *, status: str = "", page: int = 1, per_page: int = 50
) -> Page:
    """The brand's consumer returns, newest first, in one status if given (an unknown status is
    no filter). Only the brand's own HQ reads them; anyone else gets a 404."""
    if not actor.is_hq or actor.org_id is None:
        raise NotFound()
    stmt = (
        select(ConsumerReturn)
        .where(ConsumerReturn.brand_id == actor.org_id)
        .options(selectinload(ConsumerReturn.lines), selectinload(ConsumerReturn.order))
    )
    if status in tuple(ReturnStatus):
        stmt = stmt.where(ConsumerReturn.status == status)
    return paginate(stmt.order_by(ConsumerReturn.id.desc()), page, per_page)
