"""A consumer sends back goods of a completed order: the order's returns page lists what was
asked before with its status and, within the return window, offers a form with a quantity per
line. Another consumer's order is a 404 (`queries.get_own_order`).

Also the order's timeline as the pages show it (`order_timeline`, a template global for the
consumer's, the store's and HQ's order pages alike): every event of the order and every step
of its returns (asked, received, refunded, rejected) with the return's number and amounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.core import transaction
from portal.core.errors import Conflict, ValidationFailed
from portal.core.money import format_money
from portal.storefront import queries, rerouting, returns
from portal.storefront.auth import consumer_required, signed_in_consumer
from portal.storefront.models import ConsumerOrder, DeliveryMethod
from portal.storefront.return_models import ReturnStatus
from portal.storefront.returns import ReturnLineInput
from portal.storefront.shared_views import bp, shop_brand
from portal.storefront.transitions import EVENT_LABELS, Action


def return_status_labels() -> dict[str, str]:
    return {
        ReturnStatus.REQUESTED: _("Requested: send the items back"),
        ReturnStatus.RECEIVED: _("Received"),
        ReturnStatus.REFUNDED: _("Refunded"),
        ReturnStatus.REJECTED: _("Rejected"),
    }


# -- the order's timeline ------------------------------------------------------------------------

RETURN_LABELS = {
    queries.RETURN_REQUESTED: _l("Return requested"),
    queries.RETURN_RECEIVED: _l("Return received"),
    queries.RETURN_REFUNDED: _l("Return refunded"),
    queries.RETURN_REJECTED: _l("Return rejected"),
}
TIMELINE_LABELS = {
    **{str(action): label for action, label in EVENT_LABELS.items()},
    **RETURN_LABELS,
}
# Reasons the system writes in English on the order; a person's own words are shown as typed.
SYSTEM_REASONS = {
    rerouting.NO_LOCATION_LEFT: _l("No store accepted the order in time."),
    rerouting.PICKUP_NOT_ACCEPTED: _l("The store did not accept the pickup in time."),
    "not accepted in time": _l("The store did not accept it in time."),
    "not collected": _l("Not collected in time."),
    "not paid in time": _l("Not paid in time."),
    "the group did not fill in time": _l("The group did not fill in time: refunded in full."),
}


@dataclass(frozen=True)
class TimelineRow:
    at: datetime
    kind: str
    label: str
    note: str


def _reason(text: str) -> str:
    known = SYSTEM_REASONS.get(text)
    return str(known) if known is not None else text


def _note(entry: queries.TimelineEntry) -> str:
    """What an entry says beyond its label, in the page's language."""
    got = entry.details
    if entry.kind in RETURN_LABELS:
        number, items = got.get("number", ""), got.get("items", 0)
        currency = got.get("currency", "CNY")
        if entry.kind == queries.RETURN_REQUESTED:
            note = _(
                "%(number)s: %(items)s item(s) worth %(amount)s",
                number=number,
                items=items,
                amount=format_money(got.get("value_cents", 0), currency),
            )
            return f"{note} · {got['reason']}" if got.get("reason") else note
        if entry.kind == queries.RETURN_RECEIVED:
            return _(
                "%(number)s: %(items)s item(s) back at the store",
                number=number,
                items=items,
            )
        if entry.kind == queries.RETURN_REFUNDED:
            return _(
                "%(number)s: %(amount)s refunded",
                number=number,
                amount=format_money(got.get("refund_cents", 0), currency),
            )
        return _("%(number)s: %(reason)s", number=number, reason=got.get("reason", ""))
    if entry.kind == Action.REROUTE:
        notes = [_reason(str(got["reason"]))] if got.get("reason") else []
        if got.get("delivery_method") == DeliveryMethod.PARCEL and got.get("fee_refunded_cents"):
            notes.append(
                _(
                    "The next store is too far for a same-city courier: the order goes by "
                    "parcel, and the same-city fee of %(fee)s is refunded.",
                    fee=format_money(got["fee_refunded_cents"], got.get("currency", "CNY")),
                )
            )
        elif got.get("delivery_method") == DeliveryMethod.PARCEL:
            notes.append(
                _("The next store is too far for a same-city courier: the order goes by parcel.")
            )
        return " ".join(notes)
    if entry.kind == Action.SHIP:
        if got.get("courier"):
            return _("Courier %(name)s", name=got["courier"])
        return " ".join(str(got.get(k, "")) for k in ("carrier", "tracking_number")).strip()
    if entry.kind in (Action.CANCEL, Action.REFUND) and got.get("reason"):
        return _reason(str(got["reason"]))
    return ""


@bp.app_template_global("order_timeline")
def order_timeline(order: ConsumerOrder) -> list[TimelineRow]:
    """The order's timeline for a page (`queries.order_timeline`, labelled): the caller has
    already loaded the order through a query that says it may see it."""
    rows = []
    for entry in queries.order_timeline(order):
        label = TIMELINE_LABELS.get(entry.kind, entry.kind)
        rows.append(TimelineRow(entry.at, entry.kind, str(label), _note(entry)))
    return rows


# -- the consumer's returns page -----------------------------------------------------------------


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
