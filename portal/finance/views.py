"""Pages: accounts per channel link, their ledger and credit, statements and their export.

Pages are keyed by the channel link, not the account: accounts are created by the first order,
and a buyer without one still has a supplier, a credit limit and a balance of zero to look at.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_wtf import FlaskForm

from portal.core import transaction
from portal.core.access import Permission, current_actor, require
from portal.core.errors import DomainError, PermissionDenied, ValidationFailed
from portal.core.forms import apply_errors
from portal.core.money import MINOR_UNITS, format_money, to_cents
from portal.core.pagination import parse_page_args
from portal.finance import queries, services, statements
from portal.finance.forms import AdjustmentForm, PaymentForm
from portal.finance.models import Account, AccountEntry
from portal.finance.queries import LinkAccount
from portal.network import queries as network_queries

bp = Blueprint("finance", __name__)

FORMS: dict[str, type[FlaskForm]] = {"payment": PaymentForm, "adjustment": AdjustmentForm}


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {"kind_labels": statements.KIND_LABELS}


def _ensure_permitted(line: LinkAccount) -> None:
    """Buyers and orgs above the supplier only read: refused before any form is read."""
    if not services.may_manage_link(current_actor(), line.link, line.account):
        raise PermissionDenied(_("Only the supplier records payments and adjustments here."))


def _order_links(entries: list[AccountEntry]) -> dict[int, tuple[str, str]]:
    """(number, url) of each entry's order, by order id."""
    has_page = "ordering.order_detail" in current_app.view_functions
    links = {}
    for order_id, number in queries.order_numbers(entries).items():
        if has_page:
            url = url_for("ordering.order_detail", number=number)
        else:  # the ordering pages are not registered yet: their URL as DESIGN names it
            url = f"{request.script_root}/orders/{quote(number)}"
        links[order_id] = (number, url)
    return links


def _amount_cents(text: str, currency: str) -> int:
    """A typed amount in major units; more decimals than the currency has is a typo, not
    something to round away."""
    cleaned = (text or "").replace(",", "").replace("\u2212", "-").strip()
    try:
        value = Decimal(cleaned)
    except InvalidOperation as exc:
        raise ValidationFailed(
            fields={"amount": _("Not an amount: %(value)s.", value=text[:30])}
        ) from exc
    digits = MINOR_UNITS.get(currency, 2)
    if value.is_finite() and value.as_tuple().exponent < -digits:  # type: ignore[operator]
        raise ValidationFailed(fields={"amount": _("At most %(digits)d decimals.", digits=digits)})
    return to_cents(cleaned, currency)


# -- pages ---------------------------------------------------------------------------------------


@bp.get("/accounts")
@require(Permission.FINANCE_VIEW)
def account_list():
    """Every link the actor may read, with balance, open orders and credit; the actor's own
    accounts (as a buyer) first."""
    actor = current_actor()
    page, per_page = parse_page_args(request.args, default_per_page=25)
    brands = network_queries.brands_of(actor)
    brand_code = (request.args.get("brand") or "").strip().upper()
    brand_id = None
    if brand_code:
        brand_id = next((b.id for b in brands if b.code == brand_code), 0)  # 0: no such brand
    result = queries.list_link_accounts(
        actor, brand_id=brand_id, q=request.args.get("q") or None, page=page, per_page=per_page
    )
    return render_template(
        "finance/accounts.html",
        page=result,
        positions=queries.positions(result.items),
        brands=brands,
    )


def _render_account(
    line: LinkAccount, forms: dict[str, FlaskForm] | None = None, status: int = 200
) -> tuple[str, int]:
    actor = current_actor()
    permitted = services.may_manage_link(actor, line.link, line.account)
    page, per_page = parse_page_args(request.args)
    terms = queries.account_terms(line.link)
    entries = queries.list_entries(line, page=page, per_page=per_page)
    forms = forms or {}
    if permitted:
        for name, form_class in FORMS.items():
            forms.setdefault(name, form_class(prefix=name, formdata=None))
    body = render_template(
        "finance/account.html",
        line=line,
        link=line.link,
        position=queries.position_of(line, limit_cents=terms.credit_limit_cents),
        payment_terms_days=terms.payment_terms_days,
        page=entries,
        running=queries.balances_after(entries.items),
        orders=_order_links(entries.items),
        authors=network_queries.actor_names(entries.items),
        permitted=permitted,
        is_buyer=line.link.buyer_org_id == actor.org_id,
        forms=forms,
    )
    return body, status


@bp.get("/accounts/<int:link_id>")
@require(Permission.FINANCE_VIEW, load=queries.get_link_account)
def account_detail(line: LinkAccount):
    return _render_account(line)


# -- changes (the supplier only) -----------------------------------------------------------------


def _submit(line: LinkAccount, name: str, change: Callable[[FlaskForm, Account], str]) -> Any:
    """Validate the named form, record the entry; on any refusal show the page again
    with the errors on the form and nothing recorded."""
    _ensure_permitted(line)
    form = FORMS[name](prefix=name)
    if form.validate_on_submit():
        try:
            message = change(form, services.ensure_account(line.link))
            flash(message, "success")
            return redirect(url_for("finance.account_detail", link_id=line.link.id))
        except DomainError as error:
            transaction.discard()
            apply_errors(form, error)
    return _render_account(line, forms={name: form}, status=422)


@bp.post("/accounts/<int:link_id>/payments")
@require(Permission.FINANCE_MANAGE, load=queries.get_link_account)
def account_payment(line: LinkAccount):
    def change(form: PaymentForm, account: Account) -> str:
        cents = _amount_cents(form.amount.data, account.currency)
        services.record_payment(
            current_actor(),
            account,
            amount_cents=cents,
            reference=form.reference.data,
            note=form.note.data or "",
        )
        return _(
            "Payment of %(amount)s recorded (%(reference)s).",
            amount=format_money(cents, account.currency),
            reference=form.reference.data,
        )

    return _submit(line, "payment", change)


@bp.post("/accounts/<int:link_id>/adjustments")
@require(Permission.FINANCE_MANAGE, load=queries.get_link_account)
def account_adjustment(line: LinkAccount):
    def change(form: AdjustmentForm, account: Account) -> str:
        cents = _amount_cents(form.amount.data, account.currency)
        services.record_adjustment(
            current_actor(), account, amount_cents=cents, note=form.note.data
        )
        return _("Adjustment of %(amount)s recorded.", amount=format_money(cents, account.currency))

    return _submit(line, "adjustment", change)


# -- statements ----------------------------------------------------------------------------------


def _period() -> statements.Period:
    return statements.parse_period(
        request.args.get("start"), request.args.get("end"), tz=statements.portal_timezone()
    )


@bp.get("/accounts/<int:link_id>/statement")
@require(Permission.FINANCE_VIEW, load=queries.get_link_account)
def account_statement(line: LinkAccount):
    try:
        period = _period()
    except ValidationFailed as error:
        body = render_template(
            "finance/statement.html", line=line, link=line.link, statement=None, errors=error.fields
        )
        return body, 422
    statement = statements.build_statement(line, period)
    return render_template(
        "finance/statement.html",
        line=line,
        link=line.link,
        statement=statement,
        orders=_order_links([entry.entry for entry in statement.lines]),
        errors={},
    )


def _download(line: LinkAccount, extension: str) -> Response:
    statement = statements.build_statement(line, _period())
    orders = queries.order_numbers([entry.entry for entry in statement.lines])
    if extension == "csv":
        data, mimetype = statements.to_csv(statement, orders), statements.CSV_MIMETYPE
    else:
        data, mimetype = statements.to_xlsx(statement, orders), statements.XLSX_MIMETYPE
    filename = statements.export_filename(statement, extension)
    return Response(
        data,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.get("/accounts/<int:link_id>/statement.csv")
@require(Permission.FINANCE_VIEW, load=queries.get_link_account)
def account_statement_csv(line: LinkAccount):
    return _download(line, "csv")


@bp.get("/accounts/<int:link_id>/statement.xlsx")
@require(Permission.FINANCE_VIEW, load=queries.get_link_account)
def account_statement_xlsx(line: LinkAccount):
    return _download(line, "xlsx")
