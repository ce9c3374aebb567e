"""/api/v1/accounts: balances, credit and ledger entries for an ERP, and payments the supplier
records. Accounts are addressed by their channel link id, as on the pages: a link whose account
does not exist yet (no order so far) has a balance of zero and no entries."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint, Schema
from apiflask.fields import Integer, List, Nested, String
from apiflask.validators import Length, Range, Regexp

from portal.core.access import Permission, current_actor, require
from portal.core.errors import PermissionDenied, ValidationFailed
from portal.core.inputs import Date
from portal.core.pagination import MAX_PAGE
from portal.finance import queries, services, statements
from portal.finance.models import AccountEntry, EntryKind
from portal.finance.queries import CreditPosition, LinkAccount
from portal.network import queries as network_queries

bp = APIBlueprint("api_finance", __name__, url_prefix="/api/v1", tag="Finance")

# @require sits right under the route: access (and the scoped load of the link, so another org's
# account is a 404) is decided before the query string or the body is validated.


# -- schemas -------------------------------------------------------------------------------------


class AccountQuery(Schema):
    brand = String(
        load_default=None,
        validate=Length(max=32),
        metadata={"description": "brand code; only that brand's accounts"},
    )
    q = String(
        load_default=None, validate=Length(max=100), metadata={"description": "buyer code or name"}
    )
    page = Integer(load_default=1, validate=Range(min=1, max=MAX_PAGE))
    per_page = Integer(load_default=50, validate=Range(min=1, max=200))


class AccountOut(Schema):
    link_id = Integer(metadata={"description": "the channel link: the account's address"})
    brand = String(metadata={"description": "brand code"})
    buyer = String(metadata={"description": "buyer org code"})
    supplier = String(metadata={"description": "supplier org code"})
    currency = String()
    balance_cents = Integer(metadata={"description": "owed by the buyer; negative: in its favour"})
    committed_cents = Integer(metadata={"description": "open orders not yet invoiced"})
    credit_limit_cents = Integer(metadata={"description": "from the live policy, else the link"})
    credit_available_cents = Integer(
        metadata={"description": "limit - balance - committed, never below 0"}
    )


class AccountPage(Schema):
    items = List(Nested(AccountOut))
    page = Integer()
    per_page = Integer()
    total = Integer()


class EntryQuery(Schema):
    start = Date(
        load_default=None, metadata={"description": "first day included (portal time zone)"}
    )
    end = Date(load_default=None, metadata={"description": "last day included (portal time zone)"})
    page = Integer(load_default=1, validate=Range(min=1, max=MAX_PAGE))
    per_page = Integer(load_default=50, validate=Range(min=1, max=200))


class EntryOut(Schema):
    id = Integer()
    kind = String(metadata={"enum": [k.value for k in EntryKind]})
    amount_cents = Integer(metadata={"description": "positive raises what the buyer owes"})
    currency = String()
    reference = String()
    order_number = String(allow_none=True)
    note = String()
    due_at = String(allow_none=True)
    created_at = String()
    balance_cents = Integer(metadata={"description": "the account's balance right after it"})


class EntryPage(Schema):
    link_id = Integer()
    currency = String()
    start = String(allow_none=True)
    end = String(allow_none=True)
    opening_balance_cents = Integer(metadata={"description": "balance before `start` (0 without)"})
    closing_balance_cents = Integer(
        metadata={"description": "balance at the end of `end` (today's without)"}
    )
    items = List(Nested(EntryOut))
    page = Integer()
    per_page = Integer()
    total = Integer()


class PaymentIn(Schema):
    amount_cents = Integer(
        required=True,
        strict=True,
        validate=Range(min=1, max=services.MAX_AMOUNT_CENTS),
        metadata={"description": "money received, in minor units (12345 = 123.45)"},
    )
    reference = String(
        required=True,
        validate=[Length(min=1, max=80), Regexp(r"\s*\S", error="The payment's reference.")],
        metadata={"description": "bank transfer or receipt reference; a repeat is refused"},
    )
    note = String(load_default="", validate=Length(max=500))


class AdjustmentIn(Schema):
    amount_cents = Integer(
        required=True,
        strict=True,
        validate=Range(min=-services.MAX_AMOUNT_CENTS, max=services.MAX_AMOUNT_CENTS),
        metadata={"description": "positive: the buyer owes more; negative: in its favour; not 0"},
    )
    note = String(
        required=True,
        validate=[Length(min=1, max=500), Regexp(r"\s*\S", error="Say why.")],
        metadata={"description": "why (shown on the statement)"},
    )
    reference = String(
        required=True,
        validate=[Length(min=1, max=80), Regexp(r"\s*\S", error="The adjustment's reference.")],
        metadata={"description": "the ERP's credit or debit note number; a repeat is refused"},
    )


class PaymentOut(Schema):
    entry = Nested(EntryOut)
    account = Nested(AccountOut)


# -- helpers -------------------------------------------------------------------------------------


def _account_json(line: LinkAccount, position: CreditPosition) -> dict[str, Any]:
    link = line.link
    return {
        "link_id": link.id,
        "brand": link.brand.code,
        "buyer": link.buyer.code,
        "supplier": link.supplier.code,
        "currency": position.currency,
        "balance_cents": position.balance_cents,
        "committed_cents": position.committed_cents,
        "credit_limit_cents": position.limit_cents,
        "credit_available_cents": position.available_cents,
    }


def _entry_json(entry: AccountEntry, orders: dict[int, str], balance: int) -> dict[str, Any]:
    return {
        "id": entry.id,
        "kind": entry.kind,
        "amount_cents": entry.amount_cents,
        "currency": entry.currency,
        "reference": entry.reference,
        "order_number": orders.get(entry.order_id) if entry.order_id else None,
        "note": entry.note,
        "due_at": entry.due_at.isoformat() if entry.due_at else None,
        "created_at": entry.created_at.isoformat(),
        "balance_cents": balance,
    }


# -- routes --------------------------------------------------------------------------------------


@bp.get("/accounts")
@require(Permission.FINANCE_VIEW)
@bp.input(AccountQuery, location="query", arg_name="query")
@bp.output(AccountPage)
@bp.doc(
    summary="Accounts the caller can see, with balance and credit",
    description="One per channel link: the caller's own (as a buyer) first, then its buyers' "
    "and those below it. A link without orders yet has zero balance.",
    security="BearerAuth",
)
def list_accounts(query: dict[str, Any]):
    actor = current_actor()
    brand_id = None
    if query["brand"]:
        code = query["brand"].strip().upper()
        brands = network_queries.brands_of(actor)
        brand_id = next((b.id for b in brands if b.code == code), 0)  # 0: none of the caller's
    result = queries.list_link_accounts(
        actor, brand_id=brand_id, q=query["q"], page=query["page"], per_page=query["per_page"]
    )
    positions = queries.positions(result.items)
    return result.as_json([_account_json(line, positions[line.link.id]) for line in result.items])


@bp.get("/accounts/<int:link_id>/entries")
@require(Permission.FINANCE_VIEW, load=queries.get_link_account)
@bp.input(EntryQuery, location="query", arg_name="query")
@bp.output(EntryPage)
@bp.doc(
    summary="One account's ledger entries, oldest first",
    description="Entries are never changed or removed, so oldest-first pages stay stable while "
    "new entries arrive. `start` and `end` are calendar days in the portal's time zone, both "
    "included. Errors: 404 for an account the caller cannot see; 422 `validation_error` "
    "naming `start` or `end`.",
    security="BearerAuth",
)
def list_entries(line: LinkAccount, query: dict[str, Any]):
    start, end = query["start"], query["end"]
    statements.check_order(start, end)
    tz = statements.portal_timezone()
    start_at = end_at = None
    if start or end:
        # One day given alone bounds only its own side; the period still needs two days.
        period = statements.Period(start or end, end or start, tz)
        start_at = period.start_at if start else None
        end_at = period.end_at if end else None
    result = queries.list_entries(
        line,
        start=start_at,
        end=end_at,
        newest_first=False,
        page=query["page"],
        per_page=query["per_page"],
    )
    opening = closing = 0
    if line.account is not None:
        opening = queries.balance(line.account.id, before=start_at) if start_at else 0
        closing = queries.balance(line.account.id, before=end_at)
    orders = queries.order_numbers(result.items)
    running = queries.balances_after(result.items)
    return result.as_json(
        [_entry_json(entry, orders, running[entry.id]) for entry in result.items],
        link_id=line.link.id,
        currency=line.currency,
        start=start.isoformat() if start else None,
        end=end.isoformat() if end else None,
        opening_balance_cents=opening,
        closing_balance_cents=closing,
    )


def _recorded(line: LinkAccount, entry) -> dict[str, Any]:
    """The answer to a recorded entry: the entry with the balance after it, and the account."""
    orders = queries.order_numbers([entry])
    return {
        "entry": _entry_json(entry, orders, queries.balances_after([entry])[entry.id]),
        "account": _account_json(line, queries.position_of(line)),
    }


@bp.post("/accounts/<int:link_id>/payments")
@require(Permission.FINANCE_MANAGE, load=queries.get_link_account)
@bp.input(PaymentIn, arg_name="body")
@bp.output(PaymentOut, status_code=201)
@bp.doc(
    summary="Record a payment received from the buyer (the supplier only)",
    description="Errors: 404 for an account the caller cannot see; 403 when the caller is not "
    "the account's supplier (the buyer, an org above); 422 `validation_error` naming "
    "`amount_cents` (a whole number above zero) or `reference` (required; a reference already "
    "recorded on this account is refused, so a retried call never records a payment twice).",
    security="BearerAuth",
)
def create_payment(line: LinkAccount, body: dict[str, Any]):
    actor = current_actor()
    if not services.may_manage_link(actor, line.link, line.account):
        raise PermissionDenied("Only the supplier records payments on this account.")
    account = services.ensure_account(line.link)
    entry = services.record_payment(
        actor,
        account,
        amount_cents=body["amount_cents"],
        reference=body["reference"],
        note=body["note"],
    )
    return _recorded(LinkAccount(line.link, account), entry)


@bp.post("/accounts/<int:link_id>/adjustments")
@require(Permission.FINANCE_MANAGE, load=queries.get_link_account)
@bp.input(AdjustmentIn, arg_name="body")
@bp.output(PaymentOut, status_code=201)
@bp.doc(
    summary="Record an adjustment either way (the supplier only)",
    description="A correction of what the buyer owes, with a required note. Errors: 404 for an "
    "account the caller cannot see; 403 "
    "when the caller is not the account's supplier; 422 `validation_error` naming "
    "`amount_cents` (a whole number, not zero), `note` (required) or `reference` (required; a "
    "reference already used by an adjustment of this account is refused, so a retried call "
    "never records it twice).",
    security="BearerAuth",
)
def create_adjustment(line: LinkAccount, body: dict[str, Any]):
    actor = current_actor()
    if not services.may_manage_link(actor, line.link, line.account):
        raise PermissionDenied("Only the supplier records adjustments on this account.")
    account = services.ensure_account(line.link)
    try:
        entry = services.record_adjustment(
            actor,
            account,
            amount_cents=body["amount_cents"],
            note=body["note"],
            reference=body["reference"],
        )
    except ValidationFailed as error:
        # The service names the page's `amount` field; the API's is `amount_cents`.
        fields = {("amount_cents" if k == "amount" else k): v for k, v in error.fields.items()}
        raise ValidationFailed(fields=fields) from error
    return _recorded(LinkAccount(line.link, account), entry)
