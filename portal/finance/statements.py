"""Statements (对账单): one account's ledger over a period of calendar days in the portal's time
zone, with the balance it opened and closed on and totals per kind; exported as CSV (UTF-8 with a
BOM, so Excel in China shows Chinese correctly) and XLSX."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import LazyString, get_timezone
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.core.errors import ValidationFailed
from portal.core.inputs import parse_day
from portal.core.money import MINOR_UNITS, from_cents
from portal.core.spreadsheets import csv_bytes, mark_text
from portal.extensions import db
from portal.finance import queries
from portal.finance.models import AccountEntry, EntryKind
from portal.finance.queries import LinkAccount

# Keyed by `str`: an entry's `kind` column reads back as a plain string, which the enum equals.
KIND_LABELS: dict[str, LazyString] = {
    EntryKind.INVOICE: _l("Invoice"),
    EntryKind.PAYMENT: _l("Payment"),
    EntryKind.CREDIT_NOTE: _l("Credit note"),
    EntryKind.ADJUSTMENT: _l("Adjustment"),
    EntryKind.SETTLEMENT: _l("Consumer sale share"),
}

CSV_MIMETYPE = "text/csv; charset=utf-8"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def portal_timezone() -> tzinfo:
    """The time zone whose calendar days a statement covers (BABEL_DEFAULT_TIMEZONE)."""
    return ZoneInfo(str(get_timezone()))


@dataclass(frozen=True)
class Period:
    """Calendar days `start` to `end`, both included, in `tz`."""

    start: date
    end: date
    tz: tzinfo

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time(), tzinfo=self.tz)

    @property
    def end_at(self) -> datetime:
        """The first moment after the period (midnight after `end`)."""
        return datetime.combine(self.end + timedelta(days=1), time(), tzinfo=self.tz)


def month_of(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


def check_order(start: date | None, end: date | None) -> None:
    if start is not None and end is not None and end < start:
        raise ValidationFailed(
            _("The period is not valid."),
            fields={"end": _("The end (%(end)s) is before the start.", end=end.isoformat())},
        )


def parse_period(
    start: str | None, end: str | None, *, tz: tzinfo, today: date | None = None
) -> Period:
    """The statement's period from the query string. Without dates: the current calendar month;
    with one only, the calendar month of that one."""
    first, last = parse_day(start, field="start"), parse_day(end, field="end")
    check_order(first, last)
    if first is None or last is None:
        month = month_of(first or last or today or datetime.now(tz).date())
        first, last = first or month[0], last or month[1]
        check_order(first, last)
    return Period(first, last, tz)


# -- the statement --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatementLine:
    entry: AccountEntry
    day: date
    due: date | None
    balance_cents: int  # right after this entry


@dataclass(frozen=True)
class Statement:
    account: LinkAccount
    period: Period
    opening_cents: int
    lines: list[StatementLine]
    # every B2B kind, in EntryKind order, 0 when the period has none; consumer sale shares
    # (settlement) only when the period has some, as most accounts never see one
    totals: dict[str, int]

    @property
    def currency(self) -> str:
        return self.account.currency

    @property
    def closing_cents(self) -> int:
        return self.opening_cents + sum(self.totals.values())


def build_statement(line: LinkAccount, period: Period) -> Statement:
    """Opening balance (everything before the period), the period's entries in time order with the
    balance after each, totals per kind and (as a property) the closing balance."""
    totals = {kind.value: 0 for kind in EntryKind if kind != EntryKind.SETTLEMENT}
    if line.account is None:
        return Statement(line, period, 0, [], totals)
    opening = queries.balance(line.account.id, before=period.start_at)
    entries = db.session.execute(
        queries.entries_stmt(line.account.id, start=period.start_at, end=period.end_at).order_by(
            AccountEntry.created_at, AccountEntry.id
        )
    ).scalars()
    running = opening
    lines = []
    for entry in entries:
        running += entry.amount_cents
        totals[entry.kind] = totals.get(entry.kind, 0) + entry.amount_cents
        due = entry.due_at.astimezone(period.tz).date() if entry.due_at else None
        lines.append(
            StatementLine(entry, entry.created_at.astimezone(period.tz).date(), due, running)
        )
    return Statement(line, period, opening, lines, totals)


# -- exports --------------------------------------------------------------------------------------


def _amount(cents: int, currency: str) -> Decimal:
    """Major units with the currency's decimals (1234.50): exact, nothing is rounded."""
    digits = MINOR_UNITS.get(currency, 2)
    return from_cents(cents, currency).quantize(Decimal(1).scaleb(-digits))


def export_filename(statement: Statement, extension: str) -> str:
    link = statement.account.link
    period = statement.period
    name = (
        f"statement-{link.brand.code}-{link.buyer.code}-"
        f"{period.start.isoformat()}-{period.end.isoformat()}"
    )
    # A header value: codes are free text, so keep only what every client reads safely.
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) + f".{extension}"


def export_rows(statement: Statement, orders: dict[int, str]) -> list[list[Any]]:
    """The statement as rows of typed values (dates, Decimal amounts): who and when, then the
    ledger between an opening and a closing balance row, then the totals per kind."""
    link, currency = statement.account.link, statement.currency
    period = statement.period

    def money(cents: int) -> Decimal:
        return _amount(cents, currency)

    rows: list[list[Any]] = [
        [_("Statement"), link.brand.code, link.brand.name],
        [_("Buyer"), link.buyer.code, link.buyer.name],
        [_("Supplier"), link.supplier.code, link.supplier.name],
        [_("Period"), period.start, period.end],
        [_("Currency"), currency],
        [],
        [
            _("Date"),
            _("Kind"),
            _("Reference"),
            _("Order"),
            _("Note"),
            _("Due date"),
            _("Amount"),
            _("Balance"),
        ],
        [
            period.start,
            _("Opening balance"),
            "",
            "",
            "",
            None,
            None,
            money(statement.opening_cents),
        ],
    ]
    for line in statement.lines:
        entry = line.entry
        rows.append(
            [
                line.day,
                str(KIND_LABELS.get(entry.kind, entry.kind)),
                entry.reference,
                orders.get(entry.order_id, "") if entry.order_id else "",
                entry.note,
                line.due,
                money(entry.amount_cents),
                money(line.balance_cents),
            ]
        )
    rows.append(
        [period.end, _("Closing balance"), "", "", "", None, None, money(statement.closing_cents)]
    )
    rows.append([])
    rows.append([_("Totals"), _("Amount")])
    for kind, cents in statement.totals.items():
        rows.append([str(KIND_LABELS.get(kind, kind)), money(cents)])
    return rows


def _csv_cell(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def to_csv(statement: Statement, orders: dict[int, str]) -> bytes:
    return csv_bytes(
        [[_csv_cell(value) for value in row] for row in export_rows(statement, orders)]
    )


def to_xlsx(statement: Statement, orders: dict[int, str]) -> bytes:
    """One sheet; dates are dates and amounts numbers, so Excel sorts and sums them."""
    import openpyxl
    from openpyxl.cell import WriteOnlyCell

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("statement")
    money_format = "#,##0." + "0" * MINOR_UNITS.get(statement.currency, 2)
    for row in export_rows(statement, orders):
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, Decimal):
                cell.number_format = money_format.rstrip(".")
            elif isinstance(value, date):
                cell.number_format = "yyyy-mm-dd"
            elif isinstance(value, str):
                mark_text(cell)  # never a formula, whatever the text starts with
            cells.append(cell)
        sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
