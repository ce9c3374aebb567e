"""Pages listing orders: the buying, selling and below-us tabs, and the supplier's queue (bulk
approval and the pick list)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext, to_utc

from portal.core.access import Actor, OrgKind, Permission, current_actor, require
from portal.core.errors import ValidationFailed
from portal.core.inputs import parse_day
from portal.core.pagination import parse_page_args
from portal.core.spreadsheets import csv_bytes
from portal.ordering import queries, services
from portal.ordering.models import Order
from portal.ordering.shared_views import STATUS_LABELS, bp

TABS = {
    "buying": _l("Buying"),
    "selling": _l("Selling"),
    "below": _l("Below us"),
}


def _moment(text: str | None, field: str, *, end: bool = False) -> datetime | None:
    """A date typed in the portal's time zone as a UTC moment (the start of the next day for
    an "until" date, so the day itself is included); a bad one is said and left out."""
    try:
        day = parse_day(text, field=field)
    except ValidationFailed as error:
        flash(error.message, "error")
        return None
    if day is None:
        return None
    moment = datetime.combine(day + timedelta(days=1) if end else day, time())
    return to_utc(moment).replace(tzinfo=UTC)


def _tabs(actor: Actor) -> list[str]:
    tabs = []
    if queries.buyer_links(actor):
        tabs.append("buying")
    if actor.can(Permission.ORDER_FULFIL) or queries.supplies_anyone(actor):
        tabs.append("selling")
    if actor.org_kind in (OrgKind.BRAND, OrgKind.DISTRIBUTOR):
        tabs.append("below")
    return tabs or ["buying"]


@bp.get("/orders")
@require(Permission.ORDER_VIEW)
def order_list():
    actor = current_actor()
    tabs = _tabs(actor)
    tab = request.args.get("tab") or tabs[0]
    if tab not in tabs:
        tab = tabs[0]
    page, per_page = parse_page_args(request.args, default_per_page=25)
    status = request.args.get("status") or None
    if status not in STATUS_LABELS:
        status = None
    result = queries.list_orders(
        actor,
        side={"buying": "buying", "selling": "selling"}.get(tab, ""),
        status=status,
        buyer=request.args.get("buyer") or None,
        since=_moment(request.args.get("since"), "since"),
        until=_moment(request.args.get("until"), "until", end=True),
        number=request.args.get("q") or None,
        page=page,
        per_page=per_page,
    )
    return render_template(
        "ordering/orders.html",
        page=result,
        tab=tab,
        tabs=[(name, TABS[name]) for name in tabs],
        queue=tab == "selling" and actor.can(Permission.ORDER_FULFIL),
        status=status,
    )


@bp.post("/orders/approve")
@require(Permission.ORDER_FULFIL)
def order_approve_many():
    """The supplier's queue: approve the ticked orders, each on its own; those that cannot be
    approved (taken meanwhile, not one's own) are named."""
    actor = current_actor()
    numbers = [n.strip().upper() for n in request.form.getlist("numbers") if n.strip()]
    if not numbers:
        flash(_("Tick the orders to approve."), "error")
        return redirect(url_for("ordering.order_list", tab="selling"))
    orders = queries.get_orders(actor, numbers)
    done, skipped = services.approve_orders(actor, orders)
    found = {order.number for order in orders}
    skipped = [*skipped, *(n for n in numbers if n not in found)]
    flash(ngettext("%(num)d order approved.", "%(num)d orders approved.", len(done)), "success")
    if skipped:
        flash(
            _("Not approved (not waiting for you): %(numbers)s", numbers=", ".join(skipped)),
            "error",
        )
    return redirect(url_for("ordering.order_list", tab="selling"))


def _pick_rows() -> tuple[list[Order], list[queries.PickRow]]:
    numbers = request.args.getlist("numbers")
    if len(numbers) == 1 and "," in numbers[0]:
        numbers = numbers[0].split(",")
    orders = queries.get_supplied_orders(current_actor(), numbers)
    return orders, queries.pick_list(orders)


@bp.get("/orders/pick-list")
@require(Permission.ORDER_FULFIL)
def pick_list():
    orders, rows = _pick_rows()
    return render_template(
        "ordering/pick_list.html",
        orders=orders,
        rows=rows,
        numbers=[o.number for o in orders],
        total=sum(r.qty for r in rows),
    )


@bp.get("/orders/pick-list.csv")
@require(Permission.ORDER_FULFIL)
def pick_list_csv():
    _orders, rows = _pick_rows()
    body = csv_bytes(
        [
            ("sku", "product", "color", "size", "qty", "orders"),
            *((r.sku, r.product, r.color, r.size, r.qty, " ".join(r.orders)) for r in rows),
        ]
    )
    return Response(
        body,
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="pick-list.csv"'},
    )
