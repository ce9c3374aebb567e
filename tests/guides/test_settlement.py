"""Month-end settlement (portal/guides/settlement.py): one statement per guide and per store,
from the entries that matured by the month's end (UTC); a second run makes nothing new; an entry
maturing after the month's end waits for a later month."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from portal.core.errors import ValidationFailed
from portal.extensions import db
from portal.guides import settlement
from portal.guides.models import CommissionKind, CommissionSettled, CommissionStatement
from tests.guides.commission_support import entry, make_guide
from tests.support.retail import build_retail_shop

LOCAL = ZoneInfo("Asia/Shanghai")  # the portal's time zone: the months settled are its months


def at(day: int, month: int = 3, hour: int = 12) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=LOCAL).astimezone(UTC)


@pytest.fixture
def setup(app):
    shop = build_retail_shop("SM")
    ja, lj = shop.net.links["JA"].buyer, shop.net.links["LJ"].buyer
    guides = {
        "ja1": make_guide(shop.brand.id, ja),
        "ja2": make_guide(shop.brand.id, ja),
        "lj1": make_guide(shop.brand.id, lj),
    }
    return shop, guides


def statements(brand_id: int, period: str) -> dict[tuple[str, int, int | None], tuple[int, int]]:
    rows = db.session.execute(
        select(CommissionStatement).where(
            CommissionStatement.brand_id == brand_id, CommissionStatement.period == period
        )
    ).scalars()
    return {(s.party, s.org_id, s.guide_id): (s.amount_cents, s.entries) for s in rows}


def test_statements_per_guide_and_store_sum_the_matured_entries(setup):
    shop, g = setup
    entry(g["ja1"], 1000, at(3))
    entry(g["ja1"], 500, at(31, hour=23))
    entry(g["ja1"], -200, at(20), kind=CommissionKind.REVERSE)
    entry(g["ja2"], 300, at(10))
    entry(g["lj1"], 700, at(1, hour=0))
    entry(g["lj1"], 900, at(1, month=4, hour=0))  # matures at the first instant of April: March's
    entry(g["lj1"], 111, at(1, month=4, hour=1))  # an hour into April: April's

    run = settlement.settle_month(shop.brand.id, "2025-03")

    ja, lj = g["ja1"].org_id, g["lj1"].org_id
    assert statements(shop.brand.id, "2025-03") == {
        ("guide", ja, g["ja1"].id): (1300, 3),
        ("guide", ja, g["ja2"].id): (300, 1),
        ("guide", lj, g["lj1"].id): (1600, 2),
        ("store", ja, None): (1600, 4),
        ("store", lj, None): (1600, 2),
    }
    assert (run.guide_statements, run.store_statements, run.entries, run.amount_cents) == (
        3,
        2,
        6,
        3200,
    )
    assert run.made


def test_a_second_run_makes_nothing_new_and_never_counts_twice(setup):
    shop, g = setup
    entry(g["ja1"], 1000, at(3))
    first = settlement.settle_month(shop.brand.id, "2025-03")
    entry(g["ja2"], 400, at(5))  # written late with a past maturity
    again = settlement.settle_month(shop.brand.id, "2025-03")
    assert not again.made
    assert (again.guide_statements, again.amount_cents) == (first.guide_statements, 1000)
    settled = db.session.execute(select(func.count()).select_from(CommissionSettled)).scalar_one()
    assert settled == 1
    april = settlement.settle_month(shop.brand.id, "2025-04")  # the late one goes next month
    assert (april.guide_statements, april.amount_cents, april.entries) == (1, 400, 1)


def test_an_entry_maturing_after_the_month_end_waits_for_its_month(setup):
    shop, g = setup
    entry(g["ja1"], 1000, at(28))
    entry(g["ja1"], 250, at(5, month=4))
    march = settlement.settle_month(shop.brand.id, "2025-03")
    assert (march.amount_cents, march.entries) == (1000, 1)
    april = settlement.settle_month(shop.brand.id, "2025-04")
    assert (april.amount_cents, april.entries) == (250, 1)
    may = settlement.settle_month(shop.brand.id, "2025-05")
    assert (may.guide_statements, may.amount_cents) == (0, 0)


def test_a_month_not_ended_or_malformed_is_refused(setup):
    shop, _g = setup
    with pytest.raises(ValidationFailed):
        settlement.settle_month(shop.brand.id, "2025-13")
    with pytest.raises(ValidationFailed):
        settlement.settle_month(shop.brand.id, "2025-03", now=at(31))


def test_other_brands_entries_stay_out(setup):
    shop, g = setup
    other = build_retail_shop("SO")
    stranger = make_guide(other.brand.id, other.net.links["JA"].buyer)
    entry(g["ja1"], 1000, at(3))
    entry(stranger, 777, at(3))
    run = settlement.settle_month(shop.brand.id, "2025-03")
    assert run.amount_cents == 1000
    assert settlement.brands_due("2025-03") == [other.brand.id]


def test_period_helpers(app):
    assert settlement.period_bounds("2025-12") == (
        datetime(2025, 11, 30, 16, tzinfo=UTC),  # midnight of the 1st in Shanghai
        datetime(2025, 12, 31, 16, tzinfo=UTC),
    )
    assert settlement.previous_period(datetime(2026, 1, 15, tzinfo=UTC)) == "2025-12"
    assert settlement.previous_period(datetime(2026, 3, 1, tzinfo=UTC)) == "2026-02"
    # 1 March 02:00 in Shanghai is still 28 February in UTC: March has begun, February is last.
    assert settlement.previous_period(datetime(2026, 2, 28, 18, tzinfo=UTC)) == "2026-02"
