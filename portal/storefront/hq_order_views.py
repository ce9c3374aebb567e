"""HQ's view of its brand's consumer orders: every order of the brand, filtered by status, the
location fulfilling it and the day it was placed, and one order's page with its timeline, the
locations it was offered to in turn (and how each offer ended) and the consumer's name and
phone (HQ sees the brand's consumers); and the list of the brand's consumer returns, filtered by
status. Portal pages at `/hq/shop-orders` and `/hq/shop-returns`, for the brand's own HQ holding
`shop.manage`; another brand's order is a 404, and its returns are never listed."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import render_template, request
from flask_babel import lazy_gettext as _l

from portal.core.access import Permission, current_actor, require
from portal.core.errors import NotFound, ValidationFailed
from portal.core.inputs import parse_day
from portal.core.pagination import parse_page_args
from portal.storefront import queries
from portal.storefront.models import (
    ConsumerOrder,
    ConsumerOrderStatus,
    RouteOutcome,
)
from portal.storefront.return_models import ReturnStatus
from portal.storefront.return_views import return_status_labels
from portal.storefront.staff_views import bp
from portal.storefront.transitions import STATUS_LABELS

ROUTE_LABELS = {
    RouteOutcome.OFFERED: _l("Offered, waiting"),
    RouteOutcome.ACCEPTED: _l("Accepted"),
    RouteOutcome.DECLINED: _l("Declined"),
    RouteOutcome.TIMED_OUT: _l("Not accepted in time"),
}


def _day(value: str) -> date | None:
    """A typed filter day; one that does not read as a day is left out, as before."""
    try:
        return parse_day(value, field="date")
    except ValidationFailed:
        return None


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
    page = queries.list_brand_orders(
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
        locations=queries.brand_order_locations(actor),
        statuses=list(ConsumerOrderStatus),
        status_labels=STATUS_LABELS,
    )


@bp.get("/hq/shop-orders/<number>")
@require(Permission.SHOP_MANAGE, load=queries.get_brand_order)
def hq_order_detail(order: ConsumerOrder):
    routes = queries.order_routes(order)
    return render_template(
        "storefront/hq/order.html",
        order=order,
        routes=routes,
        payment=queries.payment_of(order),
        status_labels=STATUS_LABELS,
        route_labels=ROUTE_LABELS,
    )


@bp.get("/hq/shop-returns")
@require(Permission.SHOP_MANAGE)
def hq_returns():
    actor = current_actor()
    if not actor.is_hq:
        raise NotFound()
    page_no, per_page = parse_page_args(request.args)
    status = (request.args.get("status") or "").strip()[:20]
    return render_template(
        "storefront/hq/returns.html",
        page=queries.list_brand_returns(actor, status=status, page=page_no, per_page=per_page),
        status=status,
        statuses=list(ReturnStatus),
        labels=return_status_labels(),
    )
