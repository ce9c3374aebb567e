"""Suggestions written by a run, edited and submitted by the buyer; sell-out reports; aging."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.core.db import utcnow
from portal.core.errors import Conflict, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.inventory.models import StockMove
from portal.ordering.errors import OrderRefused
from portal.ordering.models import OrderKind
from portal.replenishment import engine, jobs, sales, services
from portal.replenishment.models import Suggestion, SuggestionStatus
from portal.replenishment.services import RuleInput

TODAY = date(2026, 11, 23)


def rule(shop, short: str, sku: str, **fields):
    return services.set_location_rule(
        shop.hq, shop.locations[short], shop.net.variants[sku], RuleInput(**fields)
    )


def write(shop, short: str, day: date = TODAY) -> Suggestion | None:
    (proposal,) = engine.propose(shop.net.brand.id, [shop.locations[short].id])
    return services.write_suggestion(
        proposal, brand_id=shop.net.brand.id, business_date=day, run_id="test"
    )


def count_suggestions(shop) -> int:
    return db.session.execute(
        select(func.count(Suggestion.id)).where(Suggestion.brand_id == shop.net.brand.id)
    ).scalar_one()


def test_one_suggestion_per_location_and_day(shop):
    rule(shop, "S1", "TEE-BLK-M", min_qty=0, max_qty=6)
    first = write(shop, "S1")
    assert first is not None and first.lines[0].qty == 6
    assert write(shop, "S1") is None  # the same day again: nothing
    assert write(shop, "S1", TODAY + timedelta(days=1)) is not None
    assert count_suggestions(shop) == 2


def test_the_buyer_edits_and_submits_through_the_order_checks(shop):
    rule(shop, "S1", "TEE-BLK-M", min_qty=0, max_qty=6)
    suggestion = write(shop, "S1")
    (line,) = suggestion.lines
    with pytest.raises(PermissionDenied):
        services.edit_suggestion(shop.buyer("A1"), suggestion, {line.id: 3})
    services.edit_suggestion(shop.buyer("S1"), suggestion, {line.id: 4})
    assert (line.qty, line.suggested_qty) == (4, 6)
    order = services.submit_suggestion(shop.buyer("S1"), suggestion)
    assert (order.kind, order.lines[0].qty) == (OrderKind.REPLENISHMENT, 4)
    assert suggestion.status == SuggestionStatus.SUBMITTED
    assert shop.level("A1", "TEE-BLK-M") == (20, 4)
    with pytest.raises(Conflict):
        services.submit_suggestion(shop.buyer("S1"), suggestion)


def test_a_refused_submit_changes_nothing(shop):
    rule(shop, "S1", "TEE-BLK-M", min_qty=0, max_qty=6)
    suggestion = write(shop, "S1")
    (line,) = suggestion.lines
    services.edit_suggestion(shop.buyer("S1"), suggestion, {line.id: 21})  # A1 has 20
    with pytest.raises(OrderRefused) as excinfo:
        services.submit_suggestion(shop.buyer("S1"), suggestion)
    assert excinfo.value.code == "insufficient_stock"
    assert suggestion.status == SuggestionStatus.OPEN
    assert shop.level("A1", "TEE-BLK-M") == (20, 0)
    with pytest.raises(ValidationFailed):
        services.edit_suggestion(shop.buyer("S1"), suggestion, {line.id: -1})


def test_auto_submit_places_the_order_or_records_why_not(shop):
    rule(shop, "S1", "TEE-BLK-M", min_qty=0, max_qty=6)
    services.set_auto_submit(shop.admin("S1"), shop.locations["S1"], shop.net.brand.id, on=True)
    suggestion = write(shop, "S1")
    services.auto_submit(suggestion)
    assert suggestion.status == SuggestionStatus.SUBMITTED and suggestion.order_id
    shop.net.publish("PO-MIN", kind="region", values=("north",), min_order_cents=10**7)
    shop.receive("A1", "TEE-BLK-L", 10)
    rule(shop, "S1", "TEE-BLK-L", min_qty=0, max_qty=3)
    refused = write(shop, "S1", TODAY + timedelta(days=1))
    services.auto_submit(refused)
    assert refused.status == SuggestionStatus.OPEN
    assert "at least" in refused.problem


def test_run_job_inline_is_idempotent(shop):
    rule(shop, "S1", "TEE-BLK-M", min_qty=0, max_qty=6)
    rule(shop, "A1", "POLO-WHT-M", min_qty=0, max_qty=4)
    db.session.commit()
    first = jobs.run_replenishment(shop.net.brand.id, "brand", "", TODAY.isoformat())
    assert first["suggestions"] == 2
    again = jobs.run_replenishment(shop.net.brand.id, "brand", "", TODAY.isoformat())
    assert (again["suggestions"], again["already_there"]) == (0, 2)
    assert count_suggestions(shop) == 2


def test_sales_report_moves_stock_once(shop):
    shop.receive("S1", "TEE-BLK-M", 10)
    lines = [{"sku": "tee-blk-m", "qty": 3}]
    sold_at = utcnow() - timedelta(hours=1)
    report, new = sales.record_sales(
        shop.admin("S1"), shop.locations["S1"], external_id="POS-1", sold_at=sold_at, lines=lines
    )
    assert new and report.units == 3
    again, new = sales.record_sales(
        shop.admin("S1"), shop.locations["S1"], external_id="POS-1", sold_at=sold_at, lines=lines
    )
    assert (again.id, new) == (report.id, False)
    assert shop.level("S1", "TEE-BLK-M") == (7, 0)
    with pytest.raises(Conflict) as excinfo:
        sales.record_sales(
            shop.admin("S1"),
            shop.locations["S1"],
            external_id="POS-1",
            sold_at=sold_at,
            lines=[{"sku": "TEE-BLK-M", "qty": 4}],
        )
    assert excinfo.value.code == "duplicate_report"


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ([{"sku": "NOPE", "qty": 1}], "lines.0.sku"),
        ([{"sku": "TEE-BLK-M", "qty": 0}], "lines.0.qty"),
        ([], "lines"),
    ],
)
def test_bad_sales_reports_change_nothing(shop, lines, field):
    shop.receive("S1", "TEE-BLK-M", 10)
    before = db.session.execute(select(func.count(StockMove.id))).scalar_one()
    with pytest.raises(ValidationFailed) as excinfo:
        sales.record_sales(
            shop.admin("S1"), shop.locations["S1"], external_id="X", sold_at=utcnow(), lines=lines
        )
    assert field in excinfo.value.fields
    assert db.session.execute(select(func.count(StockMove.id))).scalar_one() == before


def test_sales_for_another_orgs_location_are_refused(shop):
    with pytest.raises(PermissionDenied):
        sales.record_sales(
            shop.admin("A1"),
            shop.locations["S1"],
            external_id="X",
            sold_at=utcnow(),
            lines=[{"sku": "TEE-BLK-M", "qty": 1}],
        )


def test_owner_overrides_only_where_hq_allows(shop):
    from portal.replenishment.services import set_default_rule

    rule_input = RuleInput(min_qty=0, max_qty=3)
    services.set_location_rule(
        shop.admin("S1"), shop.locations["S1"], shop.net.variants["TEE-BLK-M"], rule_input
    )
    set_default_rule(
        shop.hq,
        shop.net.brand,
        level="",
        category=None,
        data=RuleInput(min_qty=0, max_qty=3, owners_may_override=False),
    )
    with pytest.raises(PermissionDenied):
        services.set_location_rule(
            shop.admin("S1"), shop.locations["S1"], shop.net.variants["TEE-BLK-M"], rule_input
        )
    with pytest.raises(PermissionDenied):  # never someone else's location
        services.set_location_rule(
            shop.admin("A1"), shop.locations["S1"], shop.net.variants["TEE-BLK-M"], rule_input
        )


def test_a_sku_waits_for_its_review_cadence(shop):
    rule(shop, "S1", "TEE-BLK-M", min_qty=0, max_qty=6, review_days=7)
    db.session.commit()
    day = TODAY.isoformat()
    assert jobs.run_replenishment(shop.net.brand.id, "location", "POS1", day)["suggestions"] == 1
    suggestion = db.session.execute(
        select(Suggestion).where(Suggestion.brand_id == shop.net.brand.id)
    ).scalar_one()
    services.dismiss_suggestion(shop.buyer("S1"), suggestion)
    rule(shop, "S1", "TEE-BLK-L", min_qty=0, max_qty=6, review_days=1)
    shop.receive("A1", "TEE-BLK-L", 10)
    suggestion_again = write(shop, "S1", TODAY + timedelta(days=3))  # a dismissed one: due again
    assert {line.variant.sku for line in suggestion_again.lines} == {"TEE-BLK-M", "TEE-BLK-L"}
    later = TODAY + timedelta(days=4)
    (proposal,) = engine.propose(shop.net.brand.id, [shop.locations["S1"].id], business_date=later)
    # TEE-BLK-M was suggested a day ago with a 7-day cadence; TEE-BLK-L's cadence is 1 day.
    assert [line.variant.sku for line in proposal.lines] == ["TEE-BLK-L"]
