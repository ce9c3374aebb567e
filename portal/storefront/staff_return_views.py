"""Store staff's pages for consumer returns coming back to their own org's locations: the list
of returns to receive or refund, and one return's page (receive with a grade per line, refund,
or reject with a reason). Routes join `staff_views.bp` under `/shop-returns/`, for org users
holding `shop.fulfil`; a return received elsewhere is a 404."""

from __future__ import annotations

from collections.abc import Callable

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.core import transaction
from portal.core.access import Permission, current_actor, require
from portal.core.errors import Conflict, ValidationFailed
from portal.storefront import returns
from portal.storefront.return_models import ConsumerReturn
from portal.storefront.return_views import return_status_labels
from portal.storefront.staff_views import bp


def _page(found: ConsumerReturn, *, errors: dict[str, str] | None = None, status: int = 200):
    return render_template(
        "storefront/returns/staff_return.html",
        ret=found,
        labels=return_status_labels(),
        errors=errors or {},
        form=request.form if errors else {},
    ), status


def _failed(found: ConsumerReturn, error: ValidationFailed | Conflict):
    """Nothing of the step stays; the return's page says what was wrong."""
    transaction.discard()
    fields = dict(getattr(error, "fields", None) or {})
    if not fields:
        fields["step"] = error.message
    status = 409 if isinstance(error, Conflict) else 422
    return _page(
        returns.get_location_return(current_actor(), found.number), errors=fields, status=status
    )


def _step(found: ConsumerReturn, take: Callable[[], object], done: str):
    """Take one step on the return: back to its page saying `done`, or, refused, the page says
    what was wrong and nothing of the step stays."""
    try:
        take()
    except (ValidationFailed, Conflict) as error:
        return _failed(found, error)
    flash(done, "success")
    return redirect(url_for("shop_orders.return_detail", number=found.number))


@bp.get("/shop-returns/")
@require(Permission.SHOP_FULFIL)
def returns_queue():
    return render_template(
        "storefront/returns/staff_queue.html",
        rows=returns.list_location_returns(current_actor()),
        labels=return_status_labels(),
    )


@bp.get("/shop-returns/<number>")
@require(Permission.SHOP_FULFIL, load=returns.get_location_return)
def return_detail(found: ConsumerReturn):
    return _page(found)


@bp.post("/shop-returns/<number>/receive")
@require(Permission.SHOP_FULFIL, load=returns.get_location_return)
def return_receive(found: ConsumerReturn):
    grades = {line.id: request.form.get(f"grade-{line.id}", "") for line in found.lines}
    return _step(
        found,
        lambda: returns.receive(current_actor(), found, grades),
        _("Return %(number)s received: the items are back in stock.", number=found.number),
    )


@bp.post("/shop-returns/<number>/refund")
@require(Permission.SHOP_FULFIL, load=returns.get_location_return)
def return_refund(found: ConsumerReturn):
    return _step(
        found,
        lambda: returns.refund(current_actor(), found),
        _("Return %(number)s refunded.", number=found.number),
    )


@bp.post("/shop-returns/<number>/reject")
@require(Permission.SHOP_FULFIL, load=returns.get_location_return)
def return_reject(found: ConsumerReturn):
    return _step(
        found,
        lambda: returns.reject(current_actor(), found, reason=request.form.get("reason", "")),
        _("Return %(number)s rejected.", number=found.number),
    )
