"""Finance pages: every visible channel link has an account page (zero until its first entry); the
supplier records payments and adjustments there; buyers and orgs above read; statements add up
and export to CSV and XLSX."""

from __future__ import annotations

import codecs
import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import event

from portal.core.access import Actor
from portal.extensions import db
from portal.finance import queries, services
from portal.finance.models import EntryKind
from tests.finance.conftest import FRESH, FRESH_OWNER, UNTOUCHED


def _table(response, testid: str) -> str:
    html = response.get_data(as_text=True)
    start = html.index(f'data-testid="{testid}"')
    return html[start : html.index("</table>", start)]


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- the list ------------------------------------------------------------------------------------


def test_the_account_list_shows_every_visible_link_with_balance_and_credit(app, login, ledger):
    ledger.invoice(ledger.account(FRESH), 1_234_550)
    db.session.commit()
    page = login("dist1@demo.test").get("/accounts")
    assert page.status_code == 200
    table = _table(page, "accounts")
    for buyer in ("D1", "S1", "S3", "S4", "L1"):
        assert f'data-buyer="{buyer}"' in table
    assert 'data-buyer="S2"' not in table
    assert table.index('data-buyer="D1"') < table.index('data-buyer="S1"')
    row = table[table.index(f'data-buyer="{FRESH}"') :]
    row = row[: row.index("</tr>")]
    assert "12,345.50" in row  # balance
    assert "17,654.50" in row  # 30,000.00 limit less the balance
    assert 'href="/accounts/' in row


def test_the_account_list_filters_by_brand_and_buyer(app, login):
    client = login("dist1@demo.test")
    lumi = _table(client.get("/accounts?brand=lumi"), "accounts")
    assert 'data-buyer="L1"' in lumi and 'data-buyer="S1"' not in lumi
    searched = _table(client.get("/accounts?q=S3"), "accounts")
    assert 'data-buyer="S3"' in searched and 'data-buyer="S1"' not in searched
    unknown = _table(client.get("/accounts?brand=NOPE"), "accounts")
    assert "data-buyer" not in unknown


def test_the_account_list_costs_the_same_queries_for_one_row_or_many(app, login, ledger):
    for buyer in ("S3", "S4", "D1"):
        ledger.invoice(ledger.account(buyer), 1_000)
    db.session.commit()
    client = login("hq@demo.test")
    counted: list[str] = []

    def count(conn, cursor, statement, *args):
        counted.append(statement)

    def statements_for(url: str) -> int:
        counted.clear()
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            assert client.get(url).status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return len(counted)

    few, many = statements_for("/accounts?per_page=2"), statements_for("/accounts?per_page=25")
    # A query per row would add 23; related orgs already loaded may save one (identity map).
    assert many <= few + 1


def test_store_staff_has_no_finance_pages(app, login):
    client = login("staff1@demo.test")
    assert client.get("/accounts").status_code == 403
    assert 'href="/accounts"' not in client.get("/stock").get_data(as_text=True)
    assert 'href="/accounts"' in login("store1@demo.test").get("/stock").get_data(as_text=True)


# -- one account ---------------------------------------------------------------------------------


def test_an_account_without_entries_shows_its_credit_and_no_transactions(app, login, ledger):
    link = ledger.link(FRESH)
    page = login(FRESH_OWNER).get(f"/accounts/{link.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-testid="no-entries"' in html
    assert "30,000.00" in html  # the credit limit, all available
    assert 'data-testid="read-only"' in html
    assert "payment-form" not in html
    assert queries.find_account(link.id) is None  # reading creates nothing


def test_hq_reads_a_store_account_below_it_read_only(app, login, ledger):
    account = ledger.account(FRESH)
    ledger.invoice(account, 50_000, reference="shipment:9")
    db.session.commit()
    page = login("hq@demo.test").get(f"/accounts/{ledger.link(FRESH).id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "shipment:9" in _table(page, "entries")
    assert 'data-testid="read-only"' in html and "payment-form" not in html


def test_another_orgs_account_is_not_found(app, login, ledger):
    client = login("dist1@demo.test")
    link = ledger.link("S2")
    assert client.get(f"/accounts/{link.id}").status_code == 404
    assert client.get(f"/accounts/{link.id}/statement").status_code == 404
    assert client.post(f"/accounts/{link.id}/payments", data={}).status_code == 404
    assert client.get("/accounts/999999").status_code == 404


def test_the_ledger_is_newest_first_with_the_balance_after_each_entry(app, login, ledger):
    account = ledger.account(FRESH)
    ledger.invoice(account, 10_000, "shipment:1")
    ledger.invoice(account, 5_000, "shipment:2")
    db.session.commit()
    client = login("dist1@demo.test")
    client.post(
        f"/accounts/{ledger.link(FRESH).id}/payments",
        data={"payment-amount": "30", "payment-reference": "BANK-1"},
    )
    table = _table(client.get(f"/accounts/{ledger.link(FRESH).id}"), "entries")
    assert table.index("BANK-1") < table.index("shipment:2") < table.index("shipment:1")
    rows = table.split("<tr data-entry=")[1:]
    assert "120.00" in rows[0] and "150.00" in rows[1] and "100.00" in rows[2]


def test_an_entry_links_to_its_order(app, login, ledger):
    order = ledger.order("S1", "PO-FIN-2")
    services.post_invoice(
        Actor.system(), ledger.account("S1"), amount_cents=900, reference="s:7", order_id=order.id
    )
    db.session.commit()
    table = _table(login("store1@demo.test").get(f"/accounts/{ledger.link('S1').id}"), "entries")
    assert ">PO-FIN-2</a>" in table
    assert 'href="/orders/PO-FIN-2"' in table


# -- recording -----------------------------------------------------------------------------------


def test_the_supplier_records_a_payment_and_the_balance_drops(app, login, ledger):
    link = ledger.link(FRESH)
    ledger.invoice(ledger.account(FRESH), 500_000)
    db.session.commit()
    client = login("dist1@demo.test")
    page = client.get(f"/accounts/{link.id}")
    assert 'data-testid="payment-form"' in page.get_data(as_text=True)
    response = client.post(
        f"/accounts/{link.id}/payments",
        data={
            "payment-amount": "1,234.50",
            "payment-reference": "ICBC-2026-001",
            "payment-note": "March transfer",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/accounts/{link.id}")
    (payment,) = [e for e in ledger.entries(ledger.account(FRESH)) if e.kind == EntryKind.PAYMENT]
    assert (payment.amount_cents, payment.reference, payment.note) == (
        -123_450,
        "ICBC-2026-001",
        "March transfer",
    )
    html = client.get(f"/accounts/{link.id}").get_data(as_text=True)
    assert "Payment of" in html and "3,765.50" in html


def test_a_first_payment_creates_the_account(app, login, ledger):
    link = ledger.link(UNTOUCHED)
    response = login("dist1@demo.test").post(
        f"/accounts/{link.id}/payments",
        data={"payment-amount": "800", "payment-reference": "PREPAY-1"},
    )
    assert response.status_code == 302
    account = queries.find_account(link.id)
    assert account is not None and queries.balance(account.id) == -80_000


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("0", "above zero"),
        ("-5", "above zero"),
        ("12.345", "At most 2 decimals"),
        ("twelve", "Not an amount"),
        ("", "This field is required"),
    ],
)
def test_a_bad_payment_amount_is_refused_on_the_amount_field(app, login, ledger, amount, message):
    link = ledger.link(FRESH)
    response = login("dist1@demo.test").post(
        f"/accounts/{link.id}/payments",
        data={"payment-amount": amount, "payment-reference": "R-1"},
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    error = html[html.index('id="payment-amount-error"') :]
    assert message in error[: error.index("</small>")]
    account = queries.find_account(link.id)
    assert account is None or ledger.entries(account) == []


def test_a_repeated_payment_reference_is_refused_on_the_reference_field(app, login, ledger):
    link = ledger.link(FRESH)
    client = login("dist1@demo.test")
    data = {"payment-amount": "100", "payment-reference": "BANK-9"}
    assert client.post(f"/accounts/{link.id}/payments", data=data).status_code == 302
    again = client.post(f"/accounts/{link.id}/payments", data=data)
    assert again.status_code == 422
    assert 'id="payment-reference-error"' in again.get_data(as_text=True)
    assert len(ledger.entries(ledger.account(FRESH))) == 1


def test_an_adjustment_needs_a_note_and_may_go_either_way(app, login, ledger):
    link = ledger.link(FRESH)
    client = login("dist1@demo.test")
    refused = client.post(f"/accounts/{link.id}/adjustments", data={"adjustment-amount": "10"})
    assert refused.status_code == 422
    assert 'id="adjustment-note-error"' in refused.get_data(as_text=True)
    for amount in ("25.00", "−5"):  # a typographic minus sign works too
        response = client.post(
            f"/accounts/{link.id}/adjustments",
            data={"adjustment-amount": amount, "adjustment-note": "freight agreed"},
        )
        assert response.status_code == 302
    assert [e.amount_cents for e in ledger.entries(ledger.account(FRESH))] == [2_500, -500]


@pytest.mark.parametrize(
    ("email", "buyer"),
    [
        ("store1@demo.test", "S1"),  # the buyer
        ("buyer1@demo.test", "S1"),  # the supplier, without finance.manage
        ("hq@demo.test", "S1"),  # above the supplier
        ("dist1@demo.test", "D1"),  # D1 is the buyer of this one
    ],
)
def test_only_the_supplier_may_record(app, login, ledger, email, buyer):
    link = ledger.link(buyer)
    before = queries.find_account(link.id)
    count = len(ledger.entries(before)) if before else 0
    client = login(email)
    data = {"payment-amount": "10", "payment-reference": "X"}
    assert client.post(f"/accounts/{link.id}/payments", data=data).status_code == 403
    data = {"adjustment-amount": "10", "adjustment-note": "x"}
    assert client.post(f"/accounts/{link.id}/adjustments", data=data).status_code == 403
    after = queries.find_account(link.id)
    assert (after is None) == (before is None)
    assert (len(ledger.entries(after)) if after else 0) == count


# -- statements ----------------------------------------------------------------------------------


@pytest.fixture
def history(ledger):
    """S3's ledger: before, inside and after February 2026 (Shanghai days)."""
    account = ledger.account(FRESH)
    ledger.entry(account, EntryKind.INVOICE, 100_000, _utc(2026, 1, 10), reference="shipment:1")
    ledger.entry(account, EntryKind.INVOICE, 50_000, _utc(2026, 2, 3), reference="shipment:2")
    ledger.entry(account, EntryKind.PAYMENT, -70_000, _utc(2026, 2, 20), reference="银行-7")
    ledger.entry(account, EntryKind.ADJUSTMENT, 1_250, _utc(2026, 2, 21), note="运费")
    ledger.entry(account, EntryKind.PAYMENT, -10_000, _utc(2026, 3, 2), reference="B-8")
    db.session.commit()
    return ledger.link(FRESH)


FEB = "start=2026-02-01&end=2026-02-28"


def test_the_statement_shows_opening_entries_totals_and_closing(app, login, history):
    page = login(FRESH_OWNER).get(f"/accounts/{history.id}/statement?{FEB}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)

    def value(testid: str) -> str:
        start = html.index(f'data-testid="{testid}">') + len(f'data-testid="{testid}">')
        return html[start : html.index("<", start)]

    assert "1,000.00" in value("opening")
    assert "812.50" in value("closing")
    assert "500.00" in value("total-invoice") and "-" in value("total-payment")
    table = _table(page, "statement")
    assert "shipment:2" in table and "银行-7" in table and "运费" in table
    assert "shipment:1" not in table and "B-8" not in table


def test_the_statement_defaults_to_this_month(app, login, history):
    page = login(FRESH_OWNER).get(f"/accounts/{history.id}/statement")
    assert page.status_code == 200
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()  # the portal's time zone
    assert f'value="{today.replace(day=1).isoformat()}"' in page.get_data(as_text=True)


@pytest.mark.parametrize(
    ("query", "field"),
    [("start=2026-02-31&end=2026-03-01", "start"), ("start=2026-03-01&end=2026-02-01", "end")],
)
def test_a_bad_period_is_refused_naming_the_field(app, login, history, query, field):
    client = login(FRESH_OWNER)
    page = client.get(f"/accounts/{history.id}/statement?{query}")
    assert page.status_code == 422
    assert f'data-testid="error-{field}"' in page.get_data(as_text=True)
    export = client.get(f"/accounts/{history.id}/statement.csv?{query}")
    assert export.status_code == 422
    assert f"<strong>{field}</strong>" in export.get_data(as_text=True)


def _rows_after_header(rows: list[list]) -> list[list]:
    start = next(i for i, row in enumerate(rows) if row and row[0] == "Date") + 1
    end = next(i for i in range(start, len(rows)) if not rows[i] or rows[i][0] is None)
    return rows[start:end]


def test_the_statement_csv_is_utf8_with_bom_and_parses_back(app, login, history):
    response = login(FRESH_OWNER).get(f"/accounts/{history.id}/statement.csv?{FEB}")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "statement-ACME-S3-2026-02-01-2026-02-28.csv" in response.headers["Content-Disposition"]
    assert response.data.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0][:2] == ["Statement", "ACME"]
    assert rows[3] == ["Period", "2026-02-01", "2026-02-28"]
    ledger_rows = _rows_after_header(rows)
    assert [row[:3] + row[6:] for row in ledger_rows] == [
        ["2026-02-01", "Opening balance", "", "", "1000.00"],
        ["2026-02-03", "Invoice", "shipment:2", "500.00", "1500.00"],
        ["2026-02-20", "Payment", "银行-7", "-700.00", "800.00"],
        ["2026-02-21", "Adjustment", "", "12.50", "812.50"],
        ["2026-02-28", "Closing balance", "", "", "812.50"],
    ]
    assert ledger_rows[3][4] == "运费"
    totals = dict(row for row in rows[rows.index(["Totals", "Amount"]) + 1 :])
    assert totals == {
        "Invoice": "500.00",
        "Payment": "-700.00",
        "Credit note": "0.00",
        "Adjustment": "12.50",
    }


def test_the_statement_xlsx_parses_back_with_dates_and_numbers(app, login, history):
    response = login(FRESH_OWNER).get(f"/accounts/{history.id}/statement.xlsx?{FEB}")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    book = openpyxl.load_workbook(io.BytesIO(response.data))
    rows = [list(row) for row in book["statement"].iter_rows(values_only=True)]
    ledger_rows = _rows_after_header(rows)
    assert len(ledger_rows) == 5
    opening, first, *_rest, closing = ledger_rows
    assert (opening[1], float(opening[7])) == ("Opening balance", 1000.0)
    assert first[0].date() == date(2026, 2, 3)
    assert (first[1], first[2], Decimal(str(first[6]))) == ("Invoice", "shipment:2", Decimal(500))
    assert (closing[1], float(closing[7])) == ("Closing balance", 812.5)


def test_an_account_without_entries_exports_an_empty_statement(app, login, ledger):
    link = ledger.link(UNTOUCHED)
    response = login("dist1@demo.test").get(f"/accounts/{link.id}/statement.csv?{FEB}")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert [row[1] for row in _rows_after_header(rows)] == ["Opening balance", "Closing balance"]


def test_exported_text_is_never_run_as_a_formula(app, login, ledger):
    account = ledger.account(FRESH)
    note = '=HYPERLINK("http://example.test","pay here")'
    ledger.entry(account, EntryKind.ADJUSTMENT, 100, _utc(2026, 2, 5), note=note)
    db.session.commit()
    client = login(FRESH_OWNER)
    url = f"/accounts/{ledger.link(FRESH).id}/statement"
    rows = list(csv.reader(io.StringIO(client.get(f"{url}.csv?{FEB}").data.decode("utf-8-sig"))))
    assert _rows_after_header(rows)[1][4] == "'" + note
    book = openpyxl.load_workbook(io.BytesIO(client.get(f"{url}.xlsx?{FEB}").data))
    cell = book["statement"].cell(row=9, column=5)
    assert (cell.value, cell.data_type) == (note, "s")
