"""A consumer's own orders in a shop: the list, one order with its lines, status and timeline
(its returns' steps included), "Return items" while the return window is open, the pickup code
as digits and as a QR code, calling an order off before the store takes it on, and confirming a
delivery. Another consumer's order is a 404 (`queries.get_own_order`)."""

from __future__ import annotations

import io

import segno
from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.core import transaction
from portal.core.errors import DomainError, NotFound
from portal.storefront import orders, queries, returns
from portal.storefront.auth import consumer_required, signed_in_consumer
from portal.storefront.models import ConsumerOrder, ConsumerOrderStatus
from portal.storefront.shared_views import bp, shop_brand
from portal.storefront.transitions import (
    STATUS_LABELS,
    Action,
    Who,
    consumer_may_call_off,
    may,
)


def _actions(order: ConsumerOrder) -> dict[str, bool]:
    may_return = returns.may_return(order)
    return {
        "pay": order.status == ConsumerOrderStatus.AWAITING_PAYMENT,
        "cancel": consumer_may_call_off(order),
        "confirm": may(order, Action.DELIVER, Who.CONSUMER),
        # Goods go back only within the return window of a completed order; past it, the
        # returns already asked for stay one link away.
        "return": may_return,
        "returns": not may_return and bool(returns.list_order_returns(order)),
    }


@bp.get("/orders/")
@consumer_required
def consumer_orders(brand_code: str):
    brand = shop_brand(brand_code)
    return render_template(
        "storefront/orders.html",
        brand=brand,
        orders=queries.list_own_orders(signed_in_consumer()),
        status_labels=STATUS_LABELS,
    )


@bp.get("/orders/<number>")
@consumer_required
def consumer_order(brand_code: str, number: str):
    brand = shop_brand(brand_code)
    order = queries.get_own_order(signed_in_consumer(), number)
    return render_template(
        "storefront/order.html",
        brand=brand,
        order=order,
        status_labels=STATUS_LABELS,
        actions=_actions(order),
    )


@bp.get("/orders/<number>/pickup-code.svg")
@consumer_required
def pickup_qr(brand_code: str, number: str):
    """The pickup code as a QR code, for the store to scan: an image, since the pages run no
    script and take no inline styles."""
    order = queries.get_own_order(signed_in_consumer(), number)
    if not order.pickup_code:
        raise NotFound()
    out = io.BytesIO()
    segno.make(order.pickup_code, error="m").save(
        out, kind="svg", scale=6, border=4, xmldecl=False, svgns=True
    )
    response = Response(out.getvalue(), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/orders/<number>/cancel")
@consumer_required
def consumer_order_cancel(brand_code: str, number: str):
    brand = shop_brand(brand_code)
    consumer = signed_in_consumer()
    order = queries.get_own_order(consumer, number)
    try:
        orders.cancel(consumer, order, reason=(request.form.get("reason") or "").strip())
    except DomainError as error:
        if error.status == 404:
            raise
        transaction.discard()
        flash(_("This order can no longer be cancelled here."), "error")
    else:
        flash(_("Your order is cancelled."), "success")
    return redirect(url_for("storefront.consumer_order", brand_code=brand.code, number=number))


@bp.post("/orders/<number>/confirm-delivery")
@consumer_required
def consumer_order_delivered(brand_code: str, number: str):
    brand = shop_brand(brand_code)
    consumer = signed_in_consumer()
    order = queries.get_own_order(consumer, number)
    try:
        orders.confirm_delivery(consumer, order)
    except DomainError as error:
        if error.status == 404:
            raise
        transaction.discard()
        flash(_("This order is not on its way to you."), "error")
    else:
        flash(_("Thank you: the order is complete."), "success")
    return redirect(url_for("storefront.consumer_order", brand_code=brand.code, number=number))
