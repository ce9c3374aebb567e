"""Store staff's pages for consumer orders at their own org's locations (a store's shelf, HQ's
warehouses): the pickup queue (accept, ready, hand over against the consumer's code, typed or
scanned) and the ship-from-store queue (accept, ship with carrier and tracking number, or for a
same-city order send a courier and record who came), and
refusing a paid order with a reason (refunded in full). Portal pages under `/shop-orders/`, for
org users holding `shop.fulfil`; an order held elsewhere is a 404. The consumer's name and phone
show here because every order on these pages is the actor's own to fulfil. An order held by a
layer above (a group buy waiting for its group: `ConsumerOrder.on_hold`) is listed as waiting for
its group, with no step offered; accepting it anyway is refused (409) until it is released."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.core import transaction
from portal.core.access import Permission, current_actor, require
from portal.core.errors import Conflict, ValidationFailed
from portal.storefront import orders, queries
from portal.storefront.models import (
    ConsumerOrder,
    ConsumerOrderStatus,
    DeliveryMethod,
    Fulfilment,
)
from portal.storefront.transitions import EVENT_LABELS, STATUS_LABELS, Action, Who, may

bp = Blueprint("shop_orders", __name__)

S = ConsumerOrderStatus
QUEUES = {
    Fulfilment.PICKUP: (S.PAID, S.PREPARING, S.READY_FOR_PICKUP),
    Fulfilment.DELIVERY: (S.PAID, S.PREPARING),
}


def _common() -> dict[str, Any]:
    return {
        "status_labels": STATUS_LABELS,
        "event_labels": EVENT_LABELS,
        "may": lambda order, action: may(order, Action(action), Who.STAFF),
    }


def _queue(fulfilment: str, *, errors: dict[str, str] | None = None, status: int = 200):
    actor = current_actor()
    rows = queries.location_queue(actor, QUEUES[Fulfilment(fulfilment)], fulfilment=fulfilment)
    return render_template(
        "storefront/staff/queue.html",
        fulfilment=fulfilment,
        orders=rows,
        errors=errors or {},
        form=request.form if errors else {},
        **_common(),
    ), status


def _order_page(order: ConsumerOrder, *, errors: dict[str, str] | None = None, status=200):
    return render_template(
        "storefront/staff/order.html",
        order=order,
        payment=queries.payment_of(order),
        errors=errors or {},
        form=request.form if errors else {},
        **_common(),
    ), status


def _back(order: ConsumerOrder):
    """To the queue the form was sent from, else the order's page."""
    target = request.form.get("back", "")
    if target in tuple(Fulfilment):
        endpoint = (
            "shop_orders.pickups" if target == Fulfilment.PICKUP else "shop_orders.deliveries"
        )
        return redirect(url_for(endpoint))
    return redirect(url_for("shop_orders.order_detail", number=order.number))


def _failed(order: ConsumerOrder, error: ValidationFailed | Conflict):
    """Nothing of the step stays; the order's page says what was wrong, field by field."""
    transaction.discard()
    fields = dict(getattr(error, "fields", None) or {})
    if not fields:
        fields["step"] = error.message
    status = 409 if isinstance(error, Conflict) else 422
    return _order_page(
        queries.get_location_order(current_actor(), order.number), errors=fields, status=status
    )


@bp.get("/shop-orders/pickups")
@require(Permission.SHOP_FULFIL)
def pickups():
    return _queue(Fulfilment.PICKUP)


@bp.get("/shop-orders/deliveries")
@require(Permission.SHOP_FULFIL)
def deliveries():
    return _queue(Fulfilment.DELIVERY)


@bp.post("/shop-orders/hand-over")
@require(Permission.SHOP_FULFIL)
def hand_over_by_code():
    """The counter's one field: the consumer shows or reads out the code; a wrong one is said so
    and changes nothing."""
    actor = current_actor()
    code = request.form.get("code", "")
    try:
        order = orders.find_by_pickup_code(actor, code)
        orders.hand_over(actor, order, code)
    except (ValidationFailed, Conflict) as error:
        transaction.discard()
        fields = dict(getattr(error, "fields", None) or {}) or {"code": error.message}
        return _queue(
            Fulfilment.PICKUP, errors=fields, status=409 if isinstance(error, Conflict) else 422
        )
    flash(_("Order %(number)s handed over.", number=order.number), "success")
    return redirect(url_for("shop_orders.pickups"))


@bp.get("/shop-orders/<number>")
@require(Permission.SHOP_FULFIL, load=queries.get_location_order)
def order_detail(order: ConsumerOrder):
    return _order_page(order)


@bp.post("/shop-orders/<number>/accept")
@require(Permission.SHOP_FULFIL, load=queries.get_location_order)
def accept(order: ConsumerOrder):
    try:
        orders.accept(current_actor(), order)
    except (ValidationFailed, Conflict) as error:
        return _failed(order, error)
    flash(_("Order %(number)s accepted: prepare it now.", number=order.number), "success")
    return _back(order)


@bp.post("/shop-orders/<number>/ready")
@require(Permission.SHOP_FULFIL, load=queries.get_location_order)
def ready(order: ConsumerOrder):
    try:
        orders.mark_ready(current_actor(), order)
    except (ValidationFailed, Conflict) as error:
        return _failed(order, error)
    flash(_("Order %(number)s is ready for pickup.", number=order.number), "success")
    return _back(order)


@bp.post("/shop-orders/<number>/hand-over")
@require(Permission.SHOP_FULFIL, load=queries.get_location_order)
def hand_over(order: ConsumerOrder):
    try:
        orders.hand_over(current_actor(), order, request.form.get("code", ""))
    except (ValidationFailed, Conflict) as error:
        return _failed(order, error)
    flash(_("Order %(number)s handed over.", number=order.number), "success")
    return _back(order)


@bp.post("/shop-orders/<number>/ship")
@require(Permission.SHOP_FULFIL, load=queries.get_location_order)
def ship(order: ConsumerOrder):
    try:
        if order.delivery_method == DeliveryMethod.SAME_CITY:
            orders.dispatch_courier(
                current_actor(),
                order,
                courier_name=request.form.get("courier_name", ""),
                courier_phone=request.form.get("courier_phone", ""),
            )
        else:
            orders.ship(
                current_actor(),
                order,
                carrier=request.form.get("carrier", ""),
                tracking_number=request.form.get("tracking_number", ""),
            )
    except (ValidationFailed, Conflict) as error:
        return _failed(order, error)
    flash(_("Order %(number)s shipped.", number=order.number), "success")
    return _back(order)


@bp.post("/shop-orders/<number>/refund")
@require(Permission.SHOP_FULFIL, load=queries.get_location_order)
def refund(order: ConsumerOrder):
    try:
        orders.refund_by_store(current_actor(), order, reason=request.form.get("reason", ""))
    except (ValidationFailed, Conflict) as error:
        return _failed(order, error)
    flash(_("Order %(number)s refused: the consumer is refunded.", number=order.number), "success")
    return _back(order)
