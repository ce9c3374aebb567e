"""Money between a buyer and its supplier: ledger entries move the balance, nothing is ever edited,
the supplier alone records payments, and statements add up over any period."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import DBAPIError

from portal.core.access import Actor
from portal.core.errors import NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.finance import queries, services, statements
from portal.finance.models import AccountEntry, EntryKind
from tests.finance.conftest import FRESH
from tests.support.policy import build_network
from tests.support.services import actor_for

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- balance -------------------------------------------------------------------------------------


def test_invoice_payment_credit_note_and_adjustment_move_the_balance(ledger):
    account = ledger.account(FRESH)
    dist1 = actor_for("dist1@demo.test")
    assert queries.balance(account.id) == 0
    invoice = ledger.invoice(account, 100_000)
    assert (invoice.kind, invoice.amount_cents, invoice.due_at is not None) == (
        "invoice",
        100_000,
        True,
    )
    assert queries.balance(account.id) == 100_000
    payment = services.record_payment(dist1, account, amount_cents=30_000, reference="BANK-1")
    assert payment.amount_cents == -30_000
    assert queries.balance(account.id) == 70_000
    services.post_credit_note(Actor.system(), account, amount_cents=5_000, reference="return:1")
    assert queries.balance(account.id) == 65_000
    services.record_adjustment(dist1, account, amount_cents=-500, note="rounding agreed by phone")
    assert queries.balance(account.id) == 64_500
    assert [e.kind for e in ledger.entries(account)] == [
        "invoice",
        "payment",
        "credit_note",
        "adjustment",
    ]
    assert [e.actor_user_id is not None for e in ledger.entries(account)] == [
        False,
        True,
        False,
        True,
    ]


def test_credit_available_is_the_limit_less_balance_and_open_orders(ledger):
    account = ledger.account(FRESH)
    ledger.invoice(account, 2_000_000)
    services.commit_credit(account, 500_000)
    position = queries.credit_position(account)
    assert position.limit_cents == 3_000_000  # S3's link: 30,000.00
    assert (position.balance_cents, position.committed_cents) == (2_000_000, 500_000)
    assert position.available_cents == 500_000
    assert position.allows(500_000) and not position.allows(500_001)
    services.commit_credit(account, 1_000_000)
    assert queries.credit_position(account).available_cents == 0  # never below zero


def test_balances_are_summed_per_account_in_one_query(ledger):
    s3, s4 = ledger.account("S3"), ledger.account("S4")
    ledger.invoice(s3, 1_000)
    ledger.invoice(s3, 2_000, "shipment:2")
    ledger.invoice(s4, 500)
    empty = ledger.account("L1", "LUMI")
    assert queries.balances([s3.id, s4.id, empty.id]) == {s3.id: 3_000, s4.id: 500, empty.id: 0}


def test_balance_after_each_entry_walks_the_page_in_either_order(ledger):
    account = ledger.account(FRESH)
    first = ledger.invoice(account, 1_000)
    second = ledger.invoice(account, 2_000, "shipment:2")
    third = services.record_payment(
        actor_for("dist1@demo.test"), account, amount_cents=500, reference="R"
    )
    expected = {first.id: 1_000, second.id: 3_000, third.id: 2_500}
    assert queries.balances_after([third, second, first]) == expected
    assert queries.balances_after([second, third]) == {second.id: 3_000, third.id: 2_500}


# -- append-only ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE account_entries SET amount_cents = 1 WHERE account_id = :account",
        "DELETE FROM account_entries WHERE account_id = :account",
    ],
    ids=["update", "delete"],
)
def test_the_database_refuses_to_change_or_remove_a_ledger_entry(ledger, statement):
    account = ledger.account(FRESH)
    ledger.invoice(account, 10_000)
    db.session.commit()
    with pytest.raises(DBAPIError, match="append-only"), db.session.begin_nested():
        db.session.execute(text(statement), {"account": account.id})
    with pytest.raises(DBAPIError, match="append-only"), db.session.begin_nested():
        db.session.execute(
            update(AccountEntry)
            .where(AccountEntry.account_id == account.id)
            .values(note="edited")
            .execution_options(synchronize_session=False)
        )
    assert [(e.amount_cents, e.note) for e in ledger.entries(account)] == [(10_000, "")]


def test_the_orm_refuses_to_edit_or_delete_an_entry(ledger):
    account = ledger.account(FRESH)
    entry = ledger.invoice(account, 10_000)
    db.session.commit()
    entry.amount_cents = 1
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    db.session.delete(ledger.entries(account)[0])
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    assert [e.amount_cents for e in ledger.entries(account)] == [10_000]


# -- payments and adjustments: the supplier's, checked -------------------------------------------


def test_a_payment_reference_is_recorded_once_per_account(ledger):
    dist1 = actor_for("dist1@demo.test")
    s3, s4 = ledger.account("S3"), ledger.account("S4")
    services.record_payment(dist1, s3, amount_cents=1_000, reference="BANK-77")
    with pytest.raises(ValidationFailed) as refused:
        services.record_payment(dist1, s3, amount_cents=2_000, reference=" BANK-77 ")
    assert set(refused.value.fields) == {"reference"}
    services.record_payment(dist1, s4, amount_cents=2_000, reference="BANK-77")  # another buyer
    assert queries.balances([s3.id, s4.id]) == {s3.id: -1_000, s4.id: -2_000}


@pytest.mark.parametrize("amount", [0, -100, 12.5, "100", True, services.MAX_AMOUNT_CENTS + 1])
def test_a_payment_amount_must_be_whole_cents_above_zero(ledger, amount):
    account = ledger.account(FRESH)
    with pytest.raises(ValidationFailed) as refused:
        services.record_payment(
            actor_for("dist1@demo.test"), account, amount_cents=amount, reference="R-1"
        )
    assert set(refused.value.fields) == {"amount"}
    assert ledger.entries(account) == []


def test_a_payment_needs_a_reference_and_an_adjustment_a_note_and_an_amount(ledger):
    dist1, account = actor_for("dist1@demo.test"), ledger.account(FRESH)
    with pytest.raises(ValidationFailed) as refused:
        services.record_payment(dist1, account, amount_cents=100, reference="  ")
    assert set(refused.value.fields) == {"reference"}
    with pytest.raises(ValidationFailed) as refused:
        services.record_adjustment(dist1, account, amount_cents=100, note=" ")
    assert set(refused.value.fields) == {"note"}
    with pytest.raises(ValidationFailed) as refused:
        services.record_adjustment(dist1, account, amount_cents=0, note="why")
    assert set(refused.value.fields) == {"amount"}
    assert ledger.entries(account) == []


@pytest.mark.parametrize(
    ("email", "buyer"),
    [
        ("store1@demo.test", "S1"),  # the buyer itself
        ("buyer1@demo.test", "S1"),  # the supplier's org, a role without finance.manage
        ("hq@demo.test", "S1"),  # an org above the supplier reads only
        ("dist1@demo.test", "D1"),  # D1's own account with ACME: ACME records
    ],
)
def test_only_the_supplier_records_payments(ledger, email, buyer):
    line = queries.LinkAccount(ledger.link(buyer), ledger.account(buyer))
    actor = actor_for(email)
    assert not services.may_manage_link(actor, line.link, line.account)
    assert not services.may_manage_link(actor, line.link)
    with pytest.raises(PermissionDenied):
        services.record_payment(actor, line.account, amount_cents=100, reference="R")
    with pytest.raises(PermissionDenied):
        services.record_adjustment(actor, line.account, amount_cents=100, note="n")


def test_the_supplier_may_manage_before_the_account_exists(ledger):
    assert queries.find_account(ledger.link(FRESH).id) is None
    assert services.may_manage_link(actor_for("dist1@demo.test"), ledger.link(FRESH))
    assert services.may_manage_link(actor_for("hq@demo.test"), ledger.link("D1"))


# -- what each actor sees ------------------------------------------------------------------------


def _buyers(actor, **filters) -> list[tuple[str, str]]:
    page = queries.list_link_accounts(actor, per_page=200, **filters)
    return [(line.link.buyer.code, line.link.brand.code) for line in page.items]


def test_accounts_are_listed_per_link_own_first_whether_or_not_they_exist(ledger):
    ledger.account("S3")
    dist1 = _buyers(actor_for("dist1@demo.test"))
    assert dist1[:2] == [("D1", "ACME"), ("D1", "LUMI")]
    assert set(dist1[2:]) == {("S1", "ACME"), ("S3", "ACME"), ("S4", "ACME"), ("L1", "LUMI")}
    hq = set(_buyers(actor_for("hq@demo.test")))
    assert {("D1", "ACME"), ("S1", "ACME"), ("S2", "ACME"), ("C1", "ACME")} <= hq
    assert all(brand == "ACME" for _buyer, brand in hq)
    assert _buyers(actor_for("store1@demo.test")) == [("S1", "ACME")]
    assert _buyers(actor_for("dist1@demo.test"), q="s3") == [("S3", "ACME")]
    lumi = _buyers(actor_for("dist1@demo.test"), brand_id=ledger.link("L1", "LUMI").brand_id)
    assert lumi == [("D1", "LUMI"), ("L1", "LUMI")]


def test_another_orgs_account_is_not_found_and_one_below_is_read(ledger):
    s2 = ledger.link("S2").id
    with pytest.raises(NotFound):
        queries.get_link_account(actor_for("dist1@demo.test"), s2)
    line = queries.get_link_account(actor_for("hq@demo.test"), ledger.link(FRESH).id)
    assert (line.link.buyer.code, line.account) == (FRESH, None)
    assert line.currency == "CNY"


def test_page_positions_agree_with_one_accounts_position(ledger):
    s3 = ledger.account(FRESH)
    ledger.invoice(s3, 700_000)
    services.commit_credit(s3, 100_000)
    page = queries.list_link_accounts(actor_for("dist1@demo.test"), per_page=200)
    positions = queries.positions(page.items)
    for line in page.items:
        assert positions[line.link.id] == queries.position_of(line), line.link.buyer.code
    assert positions[ledger.link(FRESH).id].available_cents == 3_000_000 - 800_000


def test_credit_limits_of_a_page_follow_the_most_specific_live_policy(app):
    net = build_network()
    net.publish("ALL", credit_limit_cents=111)
    net.publish("LVB", kind="level", values=("B",), credit_limit_cents=222)
    net.publish("NORTH", kind="region", values=("north",), credit_limit_cents=333)
    net.publish("A2", kind="orgs", values=("A2",), credit_limit_cents=444)
    net.publish("TERMS", kind="level", values=("A",), payment_terms_days=60)  # no limit
    links = list(net.links.values())
    batch = queries.credit_limits(links)
    assert batch == {link.id: queries.credit_limit(link) for link in links}
    by_short = {short: batch[link.id] for short, link in net.links.items()}
    assert by_short == {
        "A1": 333,  # level A, north: region beats level and all
        "S1": 333,
        "A2": 444,  # named org beats everything
        "B1": 333,  # region beats level
        "B2": 222,
        "X": 111,
    }


# -- statements ---------------------------------------------------------------------------------


def _statement(ledger, start: date, end: date) -> statements.Statement:
    line = queries.LinkAccount(ledger.link(FRESH), queries.find_account(ledger.link(FRESH).id))
    return statements.build_statement(line, statements.Period(start, end, SHANGHAI))


def test_a_statement_opens_and_closes_on_the_balances_around_its_period(ledger):
    account = ledger.account(FRESH)
    ledger.entry(account, EntryKind.INVOICE, 100_000, _utc(2026, 1, 10, 4), reference="shipment:1")
    ledger.entry(account, EntryKind.PAYMENT, -40_000, _utc(2026, 1, 31, 15, 59), reference="B-1")
    # 2026-01-31 16:30 UTC is 00:30 on February 1st in Shanghai: inside February.
    ledger.entry(account, EntryKind.INVOICE, 50_000, _utc(2026, 1, 31, 16, 30), reference="s:2")
    ledger.entry(account, EntryKind.CREDIT_NOTE, -5_000, _utc(2026, 2, 14), reference="return:1")
    ledger.entry(account, EntryKind.ADJUSTMENT, 300, _utc(2026, 2, 28, 15, 0), note="fee")
    ledger.entry(account, EntryKind.PAYMENT, -20_000, _utc(2026, 2, 28, 16, 0), reference="B-2")
    february = _statement(ledger, date(2026, 2, 1), date(2026, 2, 28))
    assert february.opening_cents == 60_000
    assert [(line.day, line.entry.amount_cents) for line in february.lines] == [
        (date(2026, 2, 1), 50_000),
        (date(2026, 2, 14), -5_000),
        (date(2026, 2, 28), 300),
    ]
    assert [line.balance_cents for line in february.lines] == [110_000, 105_000, 105_300]
    assert february.totals == {
        "invoice": 50_000,
        "payment": 0,
        "credit_note": -5_000,
        "adjustment": 300,
    }
    assert february.closing_cents == 105_300
    march = _statement(ledger, date(2026, 3, 1), date(2026, 3, 31))
    assert (march.opening_cents, march.closing_cents) == (105_300, 85_300)
    whole = _statement(ledger, date(2025, 12, 1), date(2026, 3, 31))
    assert (whole.opening_cents, len(whole.lines), whole.closing_cents) == (0, 6, 85_300)


def test_a_statement_of_a_link_without_an_account_is_empty(ledger):
    statement = _statement(ledger, date(2026, 1, 1), date(2026, 1, 31))
    assert (statement.opening_cents, statement.lines, statement.closing_cents) == (0, [], 0)


def test_the_period_defaults_to_the_calendar_month_and_names_a_bad_field(app):
    with app.test_request_context():  # the messages are in the reader's language
        _check_periods()


def _check_periods() -> None:
    today = date(2026, 2, 11)
    default = statements.parse_period(None, "", tz=SHANGHAI, today=today)
    assert (default.start, default.end) == (date(2026, 2, 1), date(2026, 2, 28))
    only_start = statements.parse_period("2024-02-05", None, tz=SHANGHAI, today=today)
    assert (only_start.start, only_start.end) == (date(2024, 2, 5), date(2024, 2, 29))
    assert default.start_at == datetime(2026, 1, 31, 16, tzinfo=UTC)
    assert default.end_at == datetime(2026, 2, 28, 16, tzinfo=UTC)
    with pytest.raises(ValidationFailed) as bad:
        statements.parse_period("2026-02-30", "2026-03-01", tz=SHANGHAI)
    assert set(bad.value.fields) == {"start"}
    with pytest.raises(ValidationFailed) as bad:
        statements.parse_period("2026-02-01", "yesterday", tz=SHANGHAI)
    assert set(bad.value.fields) == {"end"}
    with pytest.raises(ValidationFailed) as backwards:
        statements.parse_period("2026-03-01", "2026-02-01", tz=SHANGHAI)
    assert set(backwards.value.fields) == {"end"}
    only_end = statements.parse_period("", "2026-03-09", tz=SHANGHAI, today=today)
    assert (only_end.start, only_end.end) == (date(2026, 3, 1), date(2026, 3, 9))
