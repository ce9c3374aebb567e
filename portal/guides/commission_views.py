"""Pages: the month's commission statements (HQ approves and records payment, exports XLSX; a
store owner reads its store's; a guide reads their own) and one statement's entries."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.core import transaction
from portal.core.access import Permission, current_actor, require
from portal.core.errors import DomainError
from portal.core.money import format_money
from portal.guides import commission_queries as queries
from portal.guides import settlement
from portal.guides.models import CommissionStatement, StatementParty, StatementStatus

bp = Blueprint("commission", __name__, url_prefix="/commission")

STATUS_LABELS = {
    StatementStatus.DRAFT: _l("Draft"),
    StatementStatus.APPROVED: _l("Approved"),
    StatementStatus.PAID: _l("Paid"),
}
KIND_LABELS = {
    "earn": _l("Sale"),
    "new_member": _l("New member"),
    "reverse": _l("Return"),
    "adjust": _l("Adjustment"),
}


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {
        "status_labels": STATUS_LABELS,
        "kind_labels": KIND_LABELS,
        "format_money": format_money,
        "StatementParty": StatementParty,
        "StatementStatus": StatementStatus,
    }


def _period(periods: list[str]) -> str:
    asked = (request.args.get("period") or "").strip()
    if asked and settlement.PERIOD.match(asked):
        return asked
    return periods[0] if periods else settlement.previous_period()


@bp.get("/statements")
@require(Permission.GUIDES_USE)
def statements():
    actor = current_actor()
    periods = queries.list_periods(actor)
    period = _period(periods)
    rows = queries.list_statements(actor, period)
    return render_template(
        "commission/statements.html",
        period=period,
        periods=periods,
        rows=rows,
        totals=queries.totals(rows),
        may_approve=actor.can(Permission.COMMISSION_APPROVE),
    )


@bp.get("/statements.xlsx")
@require(Permission.GUIDES_MANAGE)
def statements_xlsx():
    actor = current_actor()
    period = _period(queries.list_periods(actor))
    rows = queries.list_statements(actor, period)
    return Response(
        queries.to_xlsx(rows),
        mimetype=queries.XLSX_MIMETYPE,
        headers={"Content-Disposition": f'attachment; filename="commission-{period}.xlsx"'},
    )


@bp.get("/statements/<int:statement_id>")
@require(Permission.GUIDES_USE, load=queries.get_statement)
def statement_detail(statement: CommissionStatement):
    entries = queries.statement_entries(statement)
    guides = queries.guides_by_id({e.guide_id for e in entries})
    return render_template(
        "commission/statement.html",
        statement=statement,
        entries=entries,
        guides=guides,
        guide_rows=queries.guide_statements_of(statement),
        may_approve=current_actor().can(Permission.COMMISSION_APPROVE),
    )


def _back(statement: CommissionStatement):
    target = request.form.get("next") or ""
    if target == "list":
        return redirect(url_for("commission.statements", period=statement.period))
    return redirect(url_for("commission.statement_detail", statement_id=statement.id))


@bp.post("/statements/<int:statement_id>/approve")
@require(Permission.COMMISSION_APPROVE, load=queries.get_statement)
def approve_statement(statement: CommissionStatement):
    try:
        settlement.approve(current_actor(), statement)
    except DomainError as exc:
        transaction.discard()
        flash(str(exc), "error")
        return _back(statement)
    flash(_("Statement approved."), "success")
    return _back(statement)


@bp.post("/statements/<int:statement_id>/paid")
@require(Permission.COMMISSION_APPROVE, load=queries.get_statement)
def mark_statement_paid(statement: CommissionStatement):
    try:
        settlement.mark_paid(current_actor(), statement, request.form.get("reference", ""))
    except DomainError as exc:
        transaction.discard()
        message = getattr(exc, "fields", None) or {}
        flash(message.get("reference") or str(exc), "error")
        return _back(statement)
    flash(_("Payment recorded."), "success")
    return _back(statement)
