"""One order's page (lines, shipments, returns, timeline) and the moves made from it: approve,
reject, the buyer org's own approval, cancel, ship, close, receive a shipment, reorder."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.core import transaction
from portal.core.access import Actor, Permission, current_actor, require
from portal.core.errors import DomainError, ValidationFailed
from portal.core.money import format_money
from portal.ordering import queries, services
from portal.ordering.forms import NoteForm, ReasonForm, ShipForm
from portal.ordering.models import Order, Shipment
from portal.ordering.shared_views import (
    act_on_order,
    bp,
    error_text,
    load_order,
    typed_quantities,
    typed_reason,
)
from portal.ordering.transitions import EVENT_LABELS

# Why an order waits, as its buyer reads it and as everyone else does.
HOLD_LABELS = {
    "credit": (
        _l("Over the credit limit: waiting for the supplier's approval."),
        _l("Over the credit limit: waiting for the supplier's approval."),
    ),
    "amount": (
        _l("Above your organization's approval amount: waiting for your admin's approval."),
        _l("Above the buyer's approval amount: waiting for the buyer's admin."),
    ),
    "spending_limit": (
        _l("Over the buyer's monthly spending limit: waiting for your admin's approval."),
        _l("Over a monthly spending limit: waiting for the buyer's admin."),
    ),
}


def _load_shipment(actor: Actor, number: str, seq: int) -> tuple[Order, Shipment]:
    order = queries.get_order(actor, number)
    return order, queries.get_shipment(order, seq)


def _event_details(event: Any, currency: str) -> list[str]:
    d = event.details or {}
    parts = []
    if "shipment" in d:
        parts.append(_("shipment %(seq)s", seq=d["shipment"]))
    if "ret" in d:
        parts.append(_("return R%(seq)s", seq=d["ret"]))
    if "lines" in d:
        parts.append(_("%(num)d lines", num=d["lines"]))
    if "units" in d:
        parts.append(_("%(num)d units", num=d["units"]))
    if "total_cents" in d:
        parts.append(_("total %(amount)s", amount=format_money(d["total_cents"], currency)))
    if "invoiced_cents" in d:
        parts.append(_("invoiced %(amount)s", amount=format_money(d["invoiced_cents"], currency)))
    if "released_cents" in d:
        parts.append(_("released %(amount)s", amount=format_money(d["released_cents"], currency)))
    if "credited_cents" in d:
        parts.append(
            _("credit note %(amount)s", amount=format_money(d["credited_cents"], currency))
        )
    if d.get("carrier"):
        parts.append(_("carrier %(name)s", name=d["carrier"]))
    if d.get("tracking_number"):
        parts.append(_("tracking %(number)s", number=d["tracking_number"]))
    if d.get("short"):
        short = ", ".join(f"{sku} −{qty}" for sku, qty in d["short"].items())
        parts.append(_("short: %(lines)s", lines=short))
    if d.get("credit_excess"):
        parts.append(_("accepted over the credit limit"))
    if d.get("hold") in HOLD_LABELS:
        parts.append(str(HOLD_LABELS[d["hold"]][1]))
    return parts


@bp.get("/orders/<number>")
@require(Permission.ORDER_VIEW, load=load_order)
def order_detail(order: Order):
    actor = current_actor()
    is_buyer = actor.org_id == order.buyer_org_id
    actions = services.permitted_actions(actor, order)
    shipments = queries.shipments(order)
    returns = queries.returns(order)
    events = queries.order_events(order)
    hold = HOLD_LABELS.get(order.hold_reason) if order.is_open else None
    return render_template(
        "ordering/order.html",
        order=order,
        actions=actions,
        is_buyer=is_buyer,
        can_reorder=actions.reorder,
        hold=(hold[0] if is_buyer else hold[1]) if hold else None,
        shipments=shipments,
        returns=returns,
        return_actions={
            ret.seq: services.permitted_return_actions(actor, order, ret) for ret in returns
        },
        returnable={
            line.sku: line.received_qty - line.returned_qty
            for line in order.lines
            if line.received_qty > line.returned_qty
        },
        events=events,
        event_labels=EVENT_LABELS,
        event_details={e.id: _event_details(e, order.currency) for e in events},
        versions=queries.version_labels(order),
        ship_form=ShipForm(formdata=None),
        reason_form=ReasonForm(formdata=None),
        note_form=NoteForm(formdata=None),
    )


@bp.post("/orders/<number>/approve")
@require(Permission.ORDER_FULFIL, load=load_order)
def order_approve(order: Order):
    def change() -> str:
        services.approve_order(current_actor(), order)
        return _("Order %(number)s approved.", number=order.number)

    return act_on_order(order, change)


@bp.post("/orders/<number>/reject")
@require(Permission.ORDER_FULFIL, load=load_order)
def order_reject(order: Order):
    def change() -> str:
        services.reject_order(current_actor(), order, reason=typed_reason())
        return _("Order %(number)s rejected.", number=order.number)

    return act_on_order(order, change)


@bp.post("/orders/<number>/buyer-approve")
@require(Permission.ORDER_APPROVE, load=load_order)
def order_buyer_approve(order: Order):
    def change() -> str:
        services.buyer_approve_order(current_actor(), order)
        return _("Order %(number)s approved: it goes to the supplier.", number=order.number)

    return act_on_order(order, change)


@bp.post("/orders/<number>/buyer-reject")
@require(Permission.ORDER_APPROVE, load=load_order)
def order_buyer_reject(order: Order):
    def change() -> str:
        services.reject_order(current_actor(), order, reason=typed_reason())
        return _("Order %(number)s declined.", number=order.number)

    return act_on_order(order, change)


@bp.post("/orders/<number>/cancel")
@require(Permission.ORDER_PLACE, load=load_order)
def order_cancel(order: Order):
    def change() -> str:
        services.cancel_order(current_actor(), order, reason=typed_reason())
        return _("Order %(number)s cancelled.", number=order.number)

    return act_on_order(order, change)


@bp.post("/orders/<number>/ship")
@require(Permission.ORDER_FULFIL, load=load_order)
def order_ship(order: Order):
    def change() -> str:
        form = ShipForm()
        if not form.validate():
            raise ValidationFailed(fields={k: " ".join(v) for k, v in form.errors.items()})
        shipment = services.ship_order(
            current_actor(),
            order,
            typed_quantities([line.sku for line in order.lines if line.open_qty > 0]),
            carrier=form.carrier.data or "",
            tracking_number=form.tracking_number.data or "",
        )
        return _("Shipment %(label)s sent.", label=shipment.label)

    return act_on_order(order, change)


@bp.post("/orders/<number>/close")
@require(Permission.ORDER_FULFIL, load=load_order)
def order_close(order: Order):
    def change() -> str:
        services.close_order(current_actor(), order, reason=typed_reason())
        return _("Order %(number)s closed: the rest will not ship.", number=order.number)

    return act_on_order(order, change)


@bp.post("/orders/<number>/shipments/<int:seq>/receive")
@require(Permission.ORDER_PLACE, load=_load_shipment)
def shipment_receive(loaded: tuple[Order, Shipment]):
    order, shipment = loaded

    def change() -> str:
        form = NoteForm()
        form.validate()
        services.receive_shipment(
            current_actor(),
            order,
            shipment,
            received=typed_quantities([sl.order_line.sku for sl in shipment.lines]),
            note=form.note.data or "",
        )
        return _("Shipment %(label)s received.", label=shipment.label)

    return act_on_order(order, change)


@bp.post("/orders/<number>/reorder")
@require(Permission.ORDER_PLACE, load=load_order)
def order_reorder(order: Order):
    """The past order's lines go in the cart at today's prices; what changed is said."""
    actor = current_actor()
    number = order.number
    brand_code = order.brand.code
    currency = order.currency
    try:
        _cart, differences = services.reorder(actor, order)
    except DomainError as error:
        transaction.discard()
        flash(error_text(error), "error")
        return redirect(url_for("ordering.order_detail", number=number))
    flash(_("The lines of %(number)s are in the cart at today's prices.", number=number), "success")
    for diff in differences:
        if diff.now_cents is None:
            flash(_("%(sku)s: no longer orderable, left out.", sku=diff.sku), "error")
        else:
            flash(
                _(
                    "%(sku)s: was %(was)s, now %(now)s.",
                    sku=diff.sku,
                    was=format_money(diff.was_cents, currency),
                    now=format_money(diff.now_cents, currency),
                ),
                "info",
            )
    return redirect(url_for("ordering.cart_detail", brand_code=brand_code))
