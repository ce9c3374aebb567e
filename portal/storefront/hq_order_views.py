"""HQ's view of its brand's consumer orders: every order of the brand, filtered by status, the
location fulfilling it and the day it was placed, and one order's page with its timeline, the
locations it was offered to in turn (and how each offer ended) and the consumer's name and
phone (HQ sees the brand's consumers). Portal pages at `/hq/shop-orders`, for the brand's own
HQ holding `shop.manage`; another brand's order is a 404."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import render_template, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.core.access import Actor, Permission, current_actor, require
from portal.core.errors import NotFound
from portal.core.pagination import Page, paginate, parse_page_args
from portal.extensions import db
from portal.inventory.models import Location
from portal.storefront import queries
from portal.storefront.models import (
    ConsumerOrder,
    ConsumerOrderRoute,
    ConsumerOrderStatus,
    RouteOutcome,
)
from portal.storefront.staff_views import bp
from portal.storefront.transitions import EVENT_LABELS, STATUS_LABELS

ROUTE_LABELS = {
    RouteOutcome.OFFERED: _l("Offered, waiting"),
    RouteOutcome.ACCEPTED: _l("Accepted"),
    RouteOutcome.DECLINED: _l("Declined"),
    RouteOutcome.TIMED_OUT: _l("Not accepted in time"),
}


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


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


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


def _locations(actor: Actor) -> list[Location]:
    """The locations the brand's consumer orders were fulfilled at, for the filter."""
    held = select(ConsumerOrder.location_id).where(ConsumerOrder.brand_id == actor.org_id)
    return list(
        db.session.execute(
            select(Location).where(Location.id.in_(held)).order_by(Location.code)
        ).scalars()
    )


@bp.get("/hq/shop-orders")
@require(Permission.SHOP_MANAGE)
def hq_orders():
    actor = current_actor()
    if not actor.is_hq:
        raise NotFound()
    page_no, per_page = parse_page_args(request.args)
    filters: dict[str, Any] = {
        "status": (request.args.get("status") or "").strip()[:30],
        "location": (request.args.get("location") or "").strip()[:40],
        "since": (request.args.get("since") or "").strip()[:10],
        "until": (request.args.get("until") or "").strip()[:10],
    }
    page = list_brand_orders(
        actor,
        status=filters["status"],
        location=filters["location"],
        since=_day(filters["since"]),
        until=_day(filters["until"]),
        page=page_no,
        per_page=per_page,
    )
    return render_template(
        "storefront/hq/orders.html",
        page=page,
        filters=filters,
        locations=_locations(actor),
        statuses=list(ConsumerOrderStatus),
        status_labels=STATUS_LABELS,
    )


@bp.get("/hq/shop-orders/<number>")
@require(Permission.SHOP_MANAGE, load=get_brand_order)
def hq_order_detail(order: ConsumerOrder):
    routes = list(
        db.session.execute(
            select(ConsumerOrderRoute, Location)
            .join(Location, Location.id == ConsumerOrderRoute.location_id)
            .where(ConsumerOrderRoute.order_id == order.id)
            .order_by(ConsumerOrderRoute.id)
        )
    )
    return render_template(
        "storefront/hq/order.html",
        order=order,
        routes=routes,
        payment=queries.payment_of(order),
        status_labels=STATUS_LABELS,
        event_labels=EVENT_LABELS,
        route_labels=ROUTE_LABELS,
    )
