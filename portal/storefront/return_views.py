"""A consumer sends back goods of a completed order: the order's returns page lists what was
asked before with its status and, within the return window, offers a form with a quantity per
line. Another consumer's order is a 404 (`queries.get_own_order`)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.core import transaction
from portal.core.errors import Conflict, ValidationFailed
from portal.storefront import queries, returns
from portal.storefront.auth import consumer_required, signed_in_consumer
from portal.storefront.models import ConsumerOrder
from portal.storefront.return_models import ReturnStatus
from portal.storefront.returns import ReturnLineInput
from portal.storefront.shared_views import bp, shop_brand


def return_status_labels() -> dict[str, str]:
    return {
        ReturnStatus.REQUESTED: _("Requested: send the items back"),
        ReturnStatus.RECEIVED: _("Received"),
        ReturnStatus.REFUNDED: _("Refunded"),
        ReturnStatus.REJECTED: _("Rejected"),
    }


def _page(brand, order: ConsumerOrder, *, errors: dict[str, str] | None = None, status=200):
    taken = returns.returned_qty(order)
    return render_template(
        "storefront/returns/order_returns.html",
        brand=brand,
        order=order,
        returns=returns.list_order_returns(order),
        left={line.id: line.qty - taken.get(line.id, 0) for line in order.lines},
        may_return=returns.may_return(order),
        deadline=returns.return_deadline(order),
        labels=return_status_labels(),
        errors=errors or {},
        form=request.form if errors else {},
    ), status


@bp.get("/orders/<number>/returns")
@consumer_required
def order_returns(brand_code: str, number: str):
    brand = shop_brand(brand_code)
    return _page(brand, queries.get_own_order(signed_in_consumer(), number))


@bp.post("/orders/<number>/returns")
@consumer_required
def order_return_request(brand_code: str, number: str):
    brand = shop_brand(brand_code)
    consumer = signed_in_consumer()
    order = queries.get_own_order(consumer, number)
    # Only lines with a quantity are asked for; the errors come back keyed by the form's field.
    wanted: list[tuple[str, ReturnLineInput]] = []
    errors: dict[str, str] = {}
    for line in order.lines:
        field = f"qty-{line.id}"
        raw = (request.form.get(field) or "").strip()
        if raw in ("", "0"):
            continue
        if not raw.isdigit() or len(raw) > 6:
            errors[field] = _("Enter a whole number.")
            continue
        wanted.append((field, ReturnLineInput(line.id, int(raw))))
    if errors:
        return _page(brand, order, errors=errors, status=422)
    try:
        returns.request_return(
            consumer,
            order,
            [line for _field, line in wanted],
            reason=(request.form.get("reason") or "")[:200],
        )
    except (ValidationFailed, Conflict) as error:
        transaction.discard()
        fields = dict(getattr(error, "fields", None) or {})
        for key in list(fields):
            parts = key.split(".")
            if parts[0] == "lines" and len(parts) == 3 and parts[1].isdigit():
                fields[wanted[int(parts[1])][0]] = fields.pop(key)
        if not fields:
            fields["step"] = error.message
        status = 409 if isinstance(error, Conflict) else 422
        return _page(brand, order, errors=fields, status=status)
    flash(_("Your return is requested. Bring or send the items back to the store."), "success")
    return redirect(url_for("storefront.order_returns", brand_code=brand.code, number=number))
