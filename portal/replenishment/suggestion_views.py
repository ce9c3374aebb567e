"""Pages: one suggested order, why each line is there, and the buyer's changes to it (quantities,
submit as an order, dismiss)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.core import idempotency, transaction
from portal.core.access import Permission, current_actor, require
from portal.core.errors import DomainError
from portal.core.idempotency import IdempotencyInProgress
from portal.replenishment import queries, services
from portal.replenishment.forms import SubmitSuggestionForm
from portal.replenishment.models import Suggestion, SuggestionLine
from portal.replenishment.shared_views import below_min, bp, new_token, reason_words


@dataclass
class LineView:
    line: SuggestionLine
    reason: list[str]
    below_min: bool
    value: str  # what the quantity box shows
    error: str | None
    problems: list[str]


def _render_suggestion(
    suggestion: Suggestion,
    *,
    typed: dict[int, str] | None = None,
    qty_errors: dict[str, str] | None = None,
    problems: list[dict[str, Any]] | None = None,
    status: int = 200,
):
    actor = current_actor()
    typed = typed or {}
    qty_errors = qty_errors or {}
    lines = queries.lines_of(suggestion)
    # A refused submit names lines by their position in the suggestion.
    by_line: dict[int, list[str]] = defaultdict(list)
    for problem in problems or []:
        index = problem.get("line")
        if index is not None and 0 <= index < len(lines):
            by_line[lines[index].id].append(problem["message"])
    views = [
        LineView(
            line,
            reason_words(line),
            below_min(line),
            typed.get(line.id, str(line.qty)),
            qty_errors.get(f"qty_{line.id}"),
            by_line.get(line.id, []),
        )
        for line in lines
    ]
    orgs = queries.orgs_by_id(
        [suggestion.brand_id, suggestion.buyer_org_id, suggestion.supplier_org_id]
    )
    brand = orgs[suggestion.brand_id]
    body = render_template(
        "replenishment/suggestion.html",
        suggestion=suggestion,
        brand=brand,
        buyer=orgs.get(suggestion.buyer_org_id),
        supplier=orgs.get(suggestion.supplier_org_id),
        currency=brand.currency,
        lines=views,
        total_units=sum(line.qty for line in lines),
        order_number=queries.order_numbers([suggestion]).get(suggestion.id),
        may_order=services.may_order(actor, suggestion),
        form=SubmitSuggestionForm(formdata=None, submit_token=new_token()),
    )
    return body, status


def _detail_url(suggestion: Suggestion) -> str:
    return url_for("replenishment.suggestion_detail", suggestion_id=suggestion.id)


def _typed(suggestion: Suggestion) -> dict[int, str]:
    """The quantities typed on the page, per line id; an emptied box drops the line (0)."""
    typed = {}
    for line in suggestion.lines:
        name = f"qty_{line.id}"
        if name in request.form:
            typed[line.id] = (request.form.get(name) or "").strip() or "0"
    return typed


@bp.get("/replenishment/suggestions/<bigint:suggestion_id>")
@require(Permission.REPLENISHMENT_VIEW, load=queries.get_suggestion)
def suggestion_detail(suggestion: Suggestion):
    return _render_suggestion(suggestion)


@bp.post("/replenishment/suggestions/<bigint:suggestion_id>/update")
@require(Permission.ORDER_PLACE, load=queries.get_suggestion)
def suggestion_update(suggestion: Suggestion):
    typed = _typed(suggestion)
    try:
        services.edit_suggestion(current_actor(), suggestion, dict(typed))
    except DomainError as error:
        transaction.discard()
        flash(error.message, "error")
        return _render_suggestion(suggestion, typed=typed, qty_errors=error.fields, status=422)
    flash(_("Quantities saved."), "success")
    return redirect(_detail_url(suggestion))


@bp.post("/replenishment/suggestions/<bigint:suggestion_id>/submit")
@require(Permission.ORDER_PLACE, load=queries.get_suggestion)
def suggestion_submit(suggestion: Suggestion):
    """Place the suggestion (with the quantities on the page) as a replenishment order, once per
    rendered page: its one-time token is the idempotency key, so a double click finds the first
    order. A refusal names every problem and leaves the suggestion as it was."""
    actor = current_actor()
    services.ensure_buyer(actor, suggestion)  # a 403 for anyone else, whatever the form holds
    form = SubmitSuggestionForm()
    try:
        token = str(uuid.UUID(form.submit_token.data or "")) if form.validate_on_submit() else ""
    except ValueError:
        token = ""
    if not token:
        flash(_("The form expired: check the quantities and submit again."), "error")
        return redirect(_detail_url(suggestion))
    typed = _typed(suggestion)

    def work() -> tuple[int, dict[str, Any], int | None]:
        if typed:
            services.edit_suggestion(actor, suggestion, dict(typed))
        order = services.submit_suggestion(actor, suggestion)
        return 303, {"number": order.number}, order.id

    payload = {"suggestion": suggestion.id, "quantities": {str(k): v for k, v in typed.items()}}
    try:
        # The buyer's org: ensure_buyer above made sure it is the actor's own.
        key_org = suggestion.buyer_org_id
        response = idempotency.run_once(key_org, f"web:suggestion:{token}", payload, work)
    except IdempotencyInProgress:  # a second click while the first is still being placed
        transaction.discard()
        flash(_("Your order is being placed: it will be in your orders in a moment."), "info")
        return redirect(url_for("ordering.order_list", tab="buying"))
    except DomainError as error:  # the token of another page's form
        transaction.discard()
        flash(error.message, "error")
        return redirect(_detail_url(suggestion))
    if response.status < 400:
        number = response.body["number"]
        if response.replayed:
            flash(_("Order %(number)s was already placed.", number=number), "info")
        else:
            flash(_("Order %(number)s placed.", number=number), "success")
        return redirect(url_for("ordering.order_detail", number=number))
    # The refusal is the key's stored answer: it must outlast this 422, so a replay of the same
    # page's form gets the same answer instead of trying again.
    transaction.keep()
    refusal = response.body.get("error") or {}
    problems = refusal.get("problems") or []
    for problem in problems:
        flash(problem["message"], "error")
    fields = refusal.get("fields") or {}
    if not problems:
        flash(refusal.get("message") or _("The order cannot be placed."), "error")
        for name, message in fields.items():
            if not name.startswith("qty_"):
                flash(message, "error")
    return _render_suggestion(
        suggestion, typed=typed, qty_errors=fields, problems=problems, status=422
    )


@bp.post("/replenishment/suggestions/<bigint:suggestion_id>/dismiss")
@require(Permission.ORDER_PLACE, load=queries.get_suggestion)
def suggestion_dismiss(suggestion: Suggestion):
    try:
        services.dismiss_suggestion(current_actor(), suggestion)
    except DomainError as error:
        transaction.discard()
        flash(error.message, "error")
        return redirect(_detail_url(suggestion))
    flash(_("Suggestion dismissed: nothing was ordered."), "success")
    return redirect(url_for("replenishment.suggestions"))
