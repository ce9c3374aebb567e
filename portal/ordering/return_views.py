"""Returns on an order's page: the buyer asks to send units back, the supplier approves or
refuses the request and receives the goods."""

from __future__ import annotations

from flask_babel import gettext as _

from portal.core.access import Actor, Permission, current_actor, require
from portal.ordering import queries, services
from portal.ordering.forms import NoteForm
from portal.ordering.models import Order, ReturnRequest
from portal.ordering.shared_views import (
    act_on_order,
    bp,
    load_order,
    typed_quantities,
    typed_reason,
)


def _load_return(actor: Actor, number: str, seq: int) -> tuple[Order, ReturnRequest]:
    order = queries.get_order(actor, number)
    return order, queries.get_return(order, seq)


@bp.post("/orders/<number>/return")
@require(Permission.ORDER_PLACE, load=load_order)
def order_return(order: Order):
    def change() -> str:
        ret = services.request_return(
            current_actor(),
            order,
            typed_quantities([line.sku for line in order.lines]),
            reason=typed_reason(),
        )
        return _("Return %(label)s requested.", label=ret.label)

    return act_on_order(order, change)


def _decide_return(loaded: tuple[Order, ReturnRequest], *, approve: bool):
    order, ret = loaded

    def change() -> str:
        form = NoteForm()
        form.validate()
        services.decide_return(current_actor(), ret, approve=approve, note=form.note.data or "")
        if approve:
            return _("Return %(label)s approved.", label=ret.label)
        return _("Return %(label)s refused.", label=ret.label)

    return act_on_order(order, change)


@bp.post("/orders/<number>/returns/<int:seq>/approve")
@require(Permission.ORDER_FULFIL, load=_load_return)
def return_approve(loaded: tuple[Order, ReturnRequest]):
    return _decide_return(loaded, approve=True)


@bp.post("/orders/<number>/returns/<int:seq>/reject")
@require(Permission.ORDER_FULFIL, load=_load_return)
def return_reject(loaded: tuple[Order, ReturnRequest]):
    return _decide_return(loaded, approve=False)


@bp.post("/orders/<number>/returns/<int:seq>/receive")
@require(Permission.ORDER_FULFIL, load=_load_return)
def return_receive(loaded: tuple[Order, ReturnRequest]):
    order, ret = loaded

    def change() -> str:
        services.receive_return(current_actor(), ret)
        return _("Return %(label)s received: a credit note was issued.", label=ret.label)

    return act_on_order(order, change)
