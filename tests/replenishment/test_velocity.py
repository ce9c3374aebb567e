"""Velocity counts a sale on the day it happened (its report's `sold_at`, in the portal's time
zone), not on the day the report arrives: a week sent late counts as that week, and a week sent
at once suggests what the same week sent day by day does. Future and too-old reports follow the
written rule (refused beyond the clock-skew allowance; taken but never counted)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import current_app
from sqlalchemy import func, select

import portal.core.db
from portal.core.db import utcnow
from portal.core.errors import ValidationFailed
from portal.extensions import db
from portal.replenishment import demand, engine, sales, services
from portal.replenishment.models import SalesReport
from portal.replenishment.services import RuleInput
from tests.support.shop import Shop


def local_noon(days_ago: int) -> datetime:
    """Noon, in the portal's time zone, `days_ago` local days before today."""
    zone = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    day = utcnow().astimezone(zone).date() - timedelta(days=days_ago)
    return datetime.combine(day, time(12), tzinfo=zone).astimezone(UTC)


def report(shop: Shop, external_id: str, sold_at: datetime, sku: str, qty: int) -> None:
    sales.record_sales(
        shop.admin("S1"),
        shop.locations["S1"],
        external_id=external_id,
        sold_at=sold_at,
        lines=[{"sku": sku, "qty": qty}],
    )


def reports(shop: Shop) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(SalesReport)
        .where(SalesReport.location_id == shop.locations["S1"].id)
    )


def velocity(shop: Shop, sku: str, at: datetime | None = None) -> float:
    """Units a day the engine sees for S1 (the rule's safety stock keeps every SKU in need)."""
    found = demand.needs(shop.net.brand.id, [shop.locations["S1"].id], at=at)
    [need] = [n for n in found if n.variant_id == shop.net.variants[sku].id]
    return need.velocity


def cover_rule(shop: Shop, sku: str) -> None:
    services.set_location_rule(
        shop.hq,
        shop.locations["S1"],
        shop.net.variants[sku],
        RuleInput(cover_days=14, lead_days=7, safety_qty=100, max_qty=None),
    )


class Clock(datetime):
    """The portal's clock (portal.core.db.utcnow) set to a moment, to report on past days."""

    moment: datetime

    @classmethod
    def now(cls, tz=None):
        return cls.moment.astimezone(tz)


@pytest.fixture
def clock(monkeypatch):
    def set_to(moment: datetime) -> None:
        Clock.moment = moment
        monkeypatch.setattr(portal.core.db, "datetime", Clock)

    yield set_to
    monkeypatch.undo()


def test_a_late_report_counts_on_the_days_it_covers_not_today(shop):
    shop.receive("S1", "TEE-BLK-M", 100)
    cover_rule(shop, "TEE-BLK-M")
    # Days 10 to 16 ago, four units a day, all reported today.
    for days_ago in range(10, 17):
        report(shop, f"LATE-{days_ago}", local_noon(days_ago), "TEE-BLK-M", 4)
    assert velocity(shop, "TEE-BLK-M") == pytest.approx(28 / 28)
    # Twenty days on, those days have left the 28-day window, though the report came today.
    assert velocity(shop, "TEE-BLK-M", at=utcnow() + timedelta(days=20)) == 0
    # Fifteen days on, the window starts 13 days before today: days 10 to 13 ago still count.
    later = velocity(shop, "TEE-BLK-M", at=utcnow() + timedelta(days=15))
    assert later == pytest.approx(4 * 4 / 28)


def test_a_week_reported_at_once_suggests_what_daily_reports_do(shop, clock):
    # The week runs over the window's edge (days 25 to 31 ago), where the day decides.
    for sku in ("TEE-BLK-M", "TEE-BLK-L"):
        shop.receive("S1", sku, 50)
        shop.receive("A1", sku, 500)  # the supplier has enough of both
        cover_rule(shop, sku)
    now = utcnow()
    week = {days_ago: local_noon(days_ago) for days_ago in range(25, 32)}
    for days_ago, sold_at in week.items():  # TEE-BLK-M: each day's report sent that evening
        clock(sold_at + timedelta(hours=8))
        report(shop, f"DAILY-{days_ago}", sold_at, "TEE-BLK-M", 2)
    clock(now)
    for days_ago, sold_at in week.items():  # TEE-BLK-L: the same week, all sent today
        report(shop, f"WEEK-{days_ago}", sold_at, "TEE-BLK-L", 2)
    db.session.commit()

    [proposal] = engine.propose(shop.net.brand.id, [shop.locations["S1"].id])
    lines = {line.variant.sku: line for line in proposal.lines}
    daily, weekly = lines["TEE-BLK-M"], lines["TEE-BLK-L"]
    assert daily.qty == weekly.qty
    assert daily.reason["velocity"] == weekly.reason["velocity"] == round(4 * 2 / 28, 2)


@pytest.mark.parametrize(
    ("ahead", "taken"), [(timedelta(minutes=1), True), (timedelta(hours=1), False)]
)
def test_a_report_from_the_future_is_refused_beyond_the_clock_skew(shop, ahead, taken):
    shop.receive("S1", "TEE-BLK-M", 10)
    sold_at = utcnow() + ahead
    if taken:  # a till's clock a minute fast: taken on its own time
        report(shop, "POS-AHEAD", sold_at, "TEE-BLK-M", 3)
        assert shop.level("S1", "TEE-BLK-M") == (7, 0)
        return
    with pytest.raises(ValidationFailed) as refused:
        report(shop, "POS-AHEAD", sold_at, "TEE-BLK-M", 3)
    assert list(refused.value.fields) == ["sold_at"]
    assert shop.level("S1", "TEE-BLK-M") == (10, 0)
    assert reports(shop) == 0


def test_a_report_older_than_the_window_is_taken_but_never_counted(shop):
    shop.receive("S1", "TEE-BLK-M", 10)
    cover_rule(shop, "TEE-BLK-M")
    report(shop, "POS-OLD", local_noon(demand.VELOCITY_DAYS + 5), "TEE-BLK-M", 6)
    assert shop.level("S1", "TEE-BLK-M") == (4, 0)  # the units left the shelf
    assert reports(shop) == 1
    assert velocity(shop, "TEE-BLK-M") == 0  # but not into today's velocity
