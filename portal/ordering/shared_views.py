"""What the ordering pages share: their blueprint (`ordering`), the status labels every template
reads, the loaders of a buyer's brand and of an order, and how a refused change is told. The
routes live in cart_views, queue_views, rules_views, order_views and return_views; `views`
gathers them. (Named `_views` so the import contract keeps other packages out of it.)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.core import transaction
from portal.core.access import Actor, current_actor
from portal.core.errors import DomainError
from portal.network.models import ChannelLink, Organization
from portal.ordering import queries, services
from portal.ordering.forms import ReasonForm
from portal.ordering.models import Order, OrderStatus, ReturnStatus, ShipmentStatus
from portal.policy import queries as policy_queries

bp = Blueprint("ordering", __name__)

STATUS_LABELS = {
    OrderStatus.PENDING_BUYER_APPROVAL: _l("Awaiting buyer approval"),
    OrderStatus.SUBMITTED: _l("Submitted"),
    OrderStatus.AWAITING_APPROVAL: _l("Awaiting credit approval"),
    OrderStatus.CONFIRMED: _l("Confirmed"),
    OrderStatus.PARTIALLY_SHIPPED: _l("Partially shipped"),
    OrderStatus.SHIPPED: _l("Shipped"),
    OrderStatus.COMPLETED: _l("Completed"),
    OrderStatus.CANCELLED: _l("Cancelled"),
    OrderStatus.REJECTED: _l("Rejected"),
}
SHIPMENT_LABELS = {
    ShipmentStatus.SHIPPED: _l("In transit"),
    ShipmentStatus.RECEIVED: _l("Received"),
}
RETURN_LABELS = {
    ReturnStatus.REQUESTED: _l("Requested"),
    ReturnStatus.APPROVED: _l("Approved"),
    ReturnStatus.REJECTED: _l("Rejected"),
    ReturnStatus.RECEIVED: _l("Received, credited"),
}


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {
        "status_labels": STATUS_LABELS,
        "shipment_labels": SHIPMENT_LABELS,
        "return_labels": RETURN_LABELS,
    }


# -- loaders -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Buying:
    """The actor's org as a buyer of one brand: its link (supplier, terms) and price group."""

    brand: Organization
    link: ChannelLink
    buyer: policy_queries.Buyer


def load_buying(actor: Actor, brand_code: str) -> Buying:
    brand = policy_queries.get_buying_brand(actor, brand_code)
    link = services.buyer_link(actor, brand.id)  # 404 when the org does not buy the brand
    return Buying(brand, link, policy_queries.Buyer.for_link(link))


def current_buying(brand_code: str) -> Buying:
    """Cart pages load after the permission check: the cart is one's own org's, so a role
    without ordering is told so (403) before a brand one does not buy is a 404."""
    return load_buying(current_actor(), brand_code)


def load_order(actor: Actor, number: str) -> Order:
    return queries.get_order(actor, number)


# -- a refused change ----------------------------------------------------------------------------


def error_text(error: DomainError) -> str:
    return " ".join([error.message, *(str(m) for m in error.fields.values())])


def problem_lines(error: DomainError, where: str) -> list[str]:
    """Every refused line of a paste or a file, named by its line or row number."""
    problems = error.extra.get("problems") or []
    if not problems:
        return [error_text(error)]
    messages = []
    for problem in problems:
        if problem.get("line") is None:
            messages.append(problem["message"])
        elif where == "row":
            messages.append(
                _("Row %(row)d: %(message)s", row=problem["line"] + 1, message=problem["message"])
            )
        else:
            messages.append(
                _(
                    "Line %(line)d: %(message)s",
                    line=problem["line"] + 1,
                    message=problem["message"],
                )
            )
    return messages


def new_token() -> str:
    return str(uuid.uuid4())


# -- moving one order along ----------------------------------------------------------------------


def act_on_order(order: Order, change: Callable[[], str]) -> Any:
    """Run one service on the order: done and flashed, or refused with its reasons; either way
    back to the order's page."""
    number = order.number
    try:
        message = change()
    except DomainError as error:
        transaction.discard()
        flash(error_text(error), "error")
    else:
        flash(message, "success")
    return redirect(url_for("ordering.order_detail", number=number))


def typed_reason() -> str:
    form = ReasonForm()
    return (form.reason.data or "").strip() if form.validate() else ""


def typed_quantities(skus: list[str]) -> dict[str, str]:
    """Per-SKU quantities typed on the page; an empty box is left out."""
    out = {}
    for sku in skus:
        value = (request.form.get(f"qty_{sku}") or "").strip()
        if value:
            out[sku] = value
    return out
