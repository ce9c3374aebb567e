"""Stock moving down the tiers by itself (DESIGN §7 "Tier moves"): what the nightly job
(`portal.storefront.jobs.move_tiers`) does, as a few set-based statements over every brand.

Each brand's policy says when (`consumer_terms.terms_for(brand).tier_moves`; a `None` setting
turns its rule off):

- **aging** (official → outlet): `outlet_after_weeks` after the product's launch date. A product
  without a launch date counts from the SKU's first stock receipt anywhere in the network.
- **sell_through** (official → outlet): out at least `sell_through_after_weeks` (from the same
  date) and sold less than `sell_through_below_bp` of what came in. From the stock ledger,
  network-wide: *sold* = units out by `sale` (till, report or consumer order) less consumer
  `return`s (a return between two network orgs is a pair of `return` moves that cancel out);
  *received* = units in by `receipt` less those `shipment`s moved between two of the network's
  locations (the buyer receives them again), so a unit counts once however far it travelled. A
  unit still on its way between two locations is out of the count until it arrives, which can
  only make the sell-through look higher (the move comes a night later, never wrongly). A SKU
  nothing came in for is not judged by this rule.
- **outlet_age** (outlet → employee): `employee_after_weeks` in the outlet, counted from the
  SKU's latest move there (`SkuTier.moved_at`, by HQ or by this job).

Never touched: SKUs HQ pinned, SKUs of retired products, SKUs already lower than the rule's
target (nothing moves up here), and SKUs in the employee store. Days are whole local days
(PORTAL's time zone, as the launch date is), so a run at 03:30 and its repeat at 03:40 agree.

Every move is one `TierMove` (reason as above, a note with the numbers) and its `SkuTier` row,
written in the caller's transaction, like `tiers.move_tier`, which stays the one path for HQ's
hand moves; both take the brand's tier lock first. A run is one timestamp: its moves share
`created_at`, which is how `recent_runs` and the HQ page find them. A second run the same night
finds nothing more to move: what moved to the outlet has been there for 0 days, and what stayed
official still fails the same tests.

One run is one transaction over every brand: the ledger is read once for all of them (a scan
of the stock moves joined by hash to the SKUs that need it; there is no index by SKU, and 24
scans would cost more than the rest of the night), then the moves are inserted and the current
rows written from them. A moved SKU costs two rows and their foreign-key checks, a night that
moves nothing a read of every SKU and of the ledger: see bench/tier_moves.py for the figures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from typing import cast as typed
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    String,
    Table,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import selectinload

from portal.catalog.models import Product, ProductStatus, Variant
from portal.core import audit
from portal.core.access import Actor
from portal.core.db import UTCDateTime, utcnow
from portal.core.jobs import JobRun, JobStatus
from portal.core.pagination import Page, paginate
from portal.extensions import db
from portal.inventory.models import MoveReason, StockMove
from portal.network.models import Organization
from portal.policy.consumer_terms import TierMoveTerms, terms_for
from portal.storefront.models import SkuTier, Tier, TierMove
from portal.storefront.tiers import lock_brand_tiers

AGING = "aging"
SELL_THROUGH = "sell_through"
OUTLET_AGE = "outlet_age"
REASONS = (AGING, SELL_THROUGH, OUTLET_AGE)
# Where each automatic move comes from (the ledger keeps only where it went).
FROM_TIER = {AGING: Tier.OFFICIAL, SELL_THROUGH: Tier.OFFICIAL, OUTLET_AGE: Tier.OUTLET}

MOVES = typed(Table, TierMove.__table__)
CURRENT = typed(Table, SkuTier.__table__)
SOLD = (MoveReason.SALE, MoveReason.RETURN)
RECEIVED = (MoveReason.RECEIPT, MoveReason.SHIPMENT)


@dataclass
class RunResult:
    """One run: when (every move of it has this `created_at`) and what moved, per brand and
    reason."""

    at: datetime
    brands: int = 0
    moved: dict[int, dict[str, int]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(sum(counts.values()) for counts in self.moved.values())

    def by_reason(self) -> dict[str, int]:
        totals = dict.fromkeys(REASONS, 0)
        for counts in self.moved.values():
            for reason, n in counts.items():
                totals[reason] += n
        return totals


def business_today(at: datetime) -> date:
    """The local day of `at` (PORTAL's time zone): launch dates are local days."""
    return at.astimezone(_zone()).date()


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


class _Days:
    """Whole local days in SQL, on either backend: `local_date(ts)`, `since(d)` (days from `d`
    to today) and `text(d)` ("2026-03-01")."""

    def __init__(self, today: date, at: datetime) -> None:
        self.postgres = db.session.get_bind().dialect.name == "postgresql"
        self.today = literal(today, Date)
        self.zone = current_app.config["BABEL_DEFAULT_TIMEZONE"]
        offset = at.astimezone(_zone()).utcoffset()
        minutes = int(offset.total_seconds() // 60) if offset else 0
        self.modifier = f"{minutes:+d} minutes"  # SQLite: stored values are UTC

    def local_date(self, value: Any) -> Any:
        if self.postgres:
            return cast(func.timezone(self.zone, value), Date)
        return func.date(value, self.modifier, type_=Date)

    def since(self, day: Any) -> Any:
        if self.postgres:
            return cast(self.today - day, Integer)
        return cast(func.julianday(self.today) - func.julianday(day), Integer)

    def text(self, day: Any) -> Any:
        if self.postgres:
            return func.to_char(day, "YYYY-MM-DD", type_=String)
        return func.date(day, type_=String)


def _number(value: int | None) -> Any:
    return cast(literal(value) if value is not None else null(), Integer)


def _days(weeks: int | None) -> int | None:
    return weeks * 7 if weeks is not None else None


Settings = Sequence[tuple[int, TierMoveTerms]]


def _terms_table(settings: Settings, name: str) -> Any:
    """The brands' settings as rows (brand_id, outlet_days, st_days, st_bp, employee_days), so
    one statement applies each brand's own. A subquery, not a CTE: PostgreSQL keeps a plan
    that reads a CTE to one process, and the ledger scan wants its parallel workers."""
    rows = [
        select(
            _number(brand_id).label("brand_id"),
            _number(_days(t.outlet_after_weeks)).label("outlet_days"),
            _number(
                _days(t.sell_through_after_weeks) if t.sell_through_below_bp is not None else None
            ).label("st_days"),
            _number(t.sell_through_below_bp).label("st_bp"),
            _number(_days(t.employee_after_weeks)).label("employee_days"),
        )
        for brand_id, t in settings
    ]
    return (rows[0] if len(rows) == 1 else union_all(*rows)).subquery(name)


def _text(value: Any) -> Any:
    return cast(value, String)


def _ledger(settings: Settings, days: _Days) -> Any:
    """Per SKU whose answer depends on the ledger, network-wide: units sold, units received and
    the first receipt. Those are the SKUs without a launch date (their first receipt dates them)
    and those in the sell-through window not yet old enough to move by age."""
    v, p, m = Variant.__table__, Product.__table__, StockMove.__table__
    terms = _terms_table(settings, "tier_terms_ledger")
    age = days.since(p.c.launch_date)
    needed = (
        select(v.c.id)
        .select_from(
            v.join(p, p.c.id == v.c.product_id).join(terms, terms.c.brand_id == v.c.brand_id)
        )
        .where(
            p.c.status == ProductStatus.ACTIVE,
            or_(
                p.c.launch_date.is_(None),
                and_(
                    terms.c.st_days.is_not(None),
                    age >= terms.c.st_days,
                    or_(terms.c.outlet_days.is_(None), age < terms.c.outlet_days),
                ),
            ),
        )
    )
    return (
        select(
            m.c.variant_id,
            cast(
                func.sum(case((m.c.reason.in_(SOLD), -m.c.on_hand_delta), else_=0)), BigInteger
            ).label("sold"),
            cast(
                func.sum(case((m.c.reason.in_(RECEIVED), m.c.on_hand_delta), else_=0)),
                BigInteger,
            ).label("received"),
            func.min(
                case(
                    (
                        and_(m.c.reason == MoveReason.RECEIPT, m.c.on_hand_delta > 0),
                        m.c.occurred_at,
                    )
                )
            ).label("first_in"),
        )
        .where(m.c.variant_id.in_(needed), m.c.reason.in_(SOLD + RECEIVED))
        .group_by(m.c.variant_id)
        .subquery("tier_ledger")
    )


def _to_outlet(settings: Settings, days: _Days, at: datetime) -> Any:
    """Official SKUs (not pinned, of active products) that the aging or the sell-through rule
    sends to the outlet, as rows of `sku_tier_moves`."""
    v, p, t = Variant.__table__, Product.__table__, CURRENT
    terms = _terms_table(settings, "tier_terms")
    ledger = _ledger(settings, days)
    s = ledger.c
    since = func.coalesce(p.c.launch_date, days.local_date(s.first_in))
    age = days.since(since)
    weeks = _text(age // 7)
    aging = and_(terms.c.outlet_days.is_not(None), age >= terms.c.outlet_days)
    selling = and_(
        terms.c.st_days.is_not(None),
        age >= terms.c.st_days,
        s.received > 0,
        s.sold * 10000 < terms.c.st_bp * s.received,
    )
    sold = case((s.sold < 0, 0), else_=s.sold)
    per_mille = sold * 1000 // s.received
    percent = _text(per_mille // 10) + "." + _text(per_mille - per_mille // 10 * 10) + "%"
    dated = p.c.launch_date.is_not(None)
    note = case(
        (
            aging,
            case(
                (dated, "launched " + days.text(since)),
                else_="first received " + days.text(since) + " (no launch date)",
            )
            + ", "
            + weeks
            + " weeks ago",
        ),
        else_="sell-through "
        + percent
        + " ("
        + _text(sold)
        + " of "
        + _text(s.received)
        + " units) "
        + weeks
        + " weeks after "
        + case((dated, "launch"), else_="the first receipt"),
    )
    return (
        select(
            v.c.brand_id,
            v.c.id,
            literal(Tier.OUTLET.value),
            false(),
            case((aging, AGING), else_=SELL_THROUGH),
            note,
            null(),
            literal(at, UTCDateTime()),
        )
        .select_from(
            v.join(p, p.c.id == v.c.product_id)
            .join(terms, terms.c.brand_id == v.c.brand_id)
            .outerjoin(t, t.c.variant_id == v.c.id)
            .outerjoin(ledger, s.variant_id == v.c.id)
        )
        .where(
            p.c.status == ProductStatus.ACTIVE,
            or_(t.c.variant_id.is_(None), and_(t.c.tier == Tier.OFFICIAL, t.c.pinned == false())),
            since.is_not(None),
            or_(aging, selling),
        )
    )


def _to_employee(settings: Settings, days: _Days, at: datetime) -> Any:
    """Outlet SKUs (not pinned, of active products) in the outlet long enough."""
    v, p, t = Variant.__table__, Product.__table__, CURRENT
    terms = _terms_table(settings, "tier_terms")
    moved = days.local_date(t.c.moved_at)
    in_outlet = days.since(moved)
    note = _text(in_outlet // 7) + " weeks in the outlet (since " + days.text(moved) + ")"
    return (
        select(
            t.c.brand_id,
            t.c.variant_id,
            literal(Tier.EMPLOYEE.value),
            false(),
            literal(OUTLET_AGE),
            note,
            null(),
            literal(at, UTCDateTime()),
        )
        .select_from(
            t.join(v, v.c.id == t.c.variant_id)
            .join(p, p.c.id == v.c.product_id)
            .join(terms, terms.c.brand_id == t.c.brand_id)
        )
        .where(
            t.c.tier == Tier.OUTLET,
            t.c.pinned == false(),
            p.c.status == ProductStatus.ACTIVE,
            terms.c.employee_days.is_not(None),
            in_outlet >= terms.c.employee_days,
        )
    )


MOVE_COLUMNS = (
    "brand_id",
    "variant_id",
    "tier",
    "pinned",
    "reason",
    "note",
    "actor_user_id",
    "created_at",
)
ANALYZE_AFTER = 1000  # moves in one run past which PostgreSQL counts the moves table again
CURRENT_COLUMNS = ("variant_id", "brand_id", "tier", "pinned", "move_id", "moved_at")


def move_all(*, at: datetime | None = None, brand_ids: Sequence[int] | None = None) -> RunResult:
    """Apply every brand's tier-move policy (or only `brand_ids`'), in the caller's
    transaction. `at` is the run's moment (now): tests and the benchmark pass a later one."""
    at = at or utcnow()
    stmt = select(Organization.id).where(Organization.kind == "brand").order_by(Organization.id)
    if brand_ids is not None:
        stmt = stmt.where(Organization.id.in_(list(brand_ids)))
    brands = list(db.session.execute(stmt).scalars())
    result = RunResult(at=at, brands=len(brands))
    for brand_id in brands:  # in id order, one at a time: HQ's hand moves wait, never deadlock
        lock_brand_tiers(brand_id)
    settings = [(b, terms_for(b, at).tier_moves) for b in brands]
    settings = [(b, t) for b, t in settings if _any_rule(t)]
    if not settings:
        return result
    days = _Days(business_today(at), at)
    mv = MOVES
    db.session.flush()
    before = db.session.execute(select(func.coalesce(func.max(mv.c.id), 0))).scalar_one()
    # Both steps read the tiers as they were before the run (the current rows change after
    # both): a SKU moves one step a night.
    steps = (_to_employee(settings, days, at), _to_outlet(settings, days, at))
    if days.postgres:
        # A run reads whole tables: hash joins, and the ledger's per-SKU sums in memory. A
        # nested loop, picked on statistics that have not yet seen the last night's moves,
        # would read sku_tiers once per SKU.
        db.session.execute(text("SET LOCAL work_mem = '64MB'"))
        db.session.execute(text("SET LOCAL enable_nestloop = off"))
    # No statement reads the table it writes: the moves first (both read sku_tiers as it was),
    # then the current rows from the moves.
    for rows in steps:
        db.session.execute(insert(mv).from_select(MOVE_COLUMNS, rows))
    counts = db.session.execute(
        select(mv.c.brand_id, mv.c.reason, func.count())
        .where(_this_run(before, at))
        .group_by(mv.c.brand_id, mv.c.reason)
    ).all()
    if days.postgres and sum(n for _b, _r, n in counts) >= ANALYZE_AFTER:
        # Each current row's foreign key is checked against the moves just written, by a
        # query planned on the table's statistics: planned on "empty" (the first night, or a
        # night after a quiet season) it may walk a whole index per row: analysed first.
        db.session.execute(text("ANALYZE sku_tier_moves"))
    _write_current(_this_run(before, at), postgres=days.postgres)
    moved: dict[int, dict[str, int]] = defaultdict(dict)
    for brand_id, reason, n in counts:
        moved[brand_id][reason] = n
    result.moved = dict(moved)
    system = Actor.system()
    for brand_id, by_reason in sorted(result.moved.items()):
        audit.record(
            system,
            "storefront.tiers_moved_by_policy",
            org_id=brand_id,
            brand_id=brand_id,
            at=at.isoformat(),
            skus=sum(by_reason.values()),
            **by_reason,
        )
    db.session.flush()
    # The rows changed under the ORM: SkuTier objects this session holds are read again.
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, SkuTier):
            db.session.expire(obj)
    return result


def _this_run(before: int, at: datetime) -> Any:
    mv = MOVES
    return and_(
        mv.c.id > before,
        mv.c.created_at == literal(at, UTCDateTime()),
        mv.c.actor_user_id.is_(None),
        mv.c.reason.in_(REASONS),
    )


def _write_current(this_run: Any, *, postgres: bool) -> None:
    """Each moved SKU's current row, from the run's moves: inserted or replaced in one
    statement on PostgreSQL; elsewhere (SQLite) replaced, then the missing ones added."""
    mv, t = MOVES, CURRENT
    rows = select(
        mv.c.variant_id, mv.c.brand_id, mv.c.tier, false(), mv.c.id, mv.c.created_at
    ).where(this_run)
    if postgres:
        upsert = pg_insert(t).from_select(CURRENT_COLUMNS, rows)
        db.session.execute(
            upsert.on_conflict_do_update(
                index_elements=[t.c.variant_id],
                set_={
                    "tier": upsert.excluded.tier,
                    "pinned": False,
                    "move_id": upsert.excluded.move_id,
                    "moved_at": upsert.excluded.moved_at,
                },
            )
        )
        return
    db.session.execute(
        update(t)
        .where(t.c.variant_id == mv.c.variant_id, this_run)
        .values(tier=mv.c.tier, pinned=False, move_id=mv.c.id, moved_at=mv.c.created_at)
    )
    db.session.execute(
        insert(t).from_select(
            CURRENT_COLUMNS, rows.where(~exists().where(t.c.variant_id == mv.c.variant_id))
        )
    )


def _any_rule(t: TierMoveTerms) -> bool:
    return (
        t.outlet_after_weeks is not None
        or (t.sell_through_below_bp is not None and t.sell_through_after_weeks is not None)
        or t.employee_after_weeks is not None
    )


# -- what HQ reads: the runs and their moves -----------------------------------------------------

JOB_NAME = "portal.storefront.jobs.move_tiers"  # the job that calls move_all (for its last run)


@dataclass(frozen=True)
class Run:
    """One run as a brand saw it: its first move (the run's id in URLs), when, and how many SKUs
    moved for each reason."""

    first_move_id: int
    at: datetime
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _brand_auto_moves(brand_id: int) -> list[Any]:
    return [
        TierMove.brand_id == brand_id,
        TierMove.reason.in_(REASONS),
        TierMove.actor_user_id.is_(None),
    ]


def recent_runs(brand_id: int, *, limit: int = 10) -> list[Run]:
    """The brand's latest runs that moved something, newest first."""
    latest = (
        select(TierMove.created_at)
        .where(*_brand_auto_moves(brand_id))
        .group_by(TierMove.created_at)
        .order_by(TierMove.created_at.desc())
        .limit(limit)
        .subquery()
    )
    rows = db.session.execute(
        select(TierMove.created_at, TierMove.reason, func.count(), func.min(TierMove.id))
        .where(*_brand_auto_moves(brand_id), TierMove.created_at.in_(select(latest.c.created_at)))
        .group_by(TierMove.created_at, TierMove.reason)
    ).all()
    runs: dict[datetime, tuple[int, dict[str, int]]] = {}
    for at, reason, n, first in rows:
        first_id, counts = runs.get(at, (first, {}))
        counts[reason] = n
        runs[at] = (min(first_id, first), counts)
    return [
        Run(first_id, at, counts)
        for at, (first_id, counts) in sorted(runs.items(), key=lambda item: item[0], reverse=True)
    ]


def find_run(brand_id: int, first_move_id: int) -> Run | None:
    """The brand's run a move belongs to (another brand's move, or a hand move: None)."""
    at = db.session.execute(
        select(TierMove.created_at).where(
            TierMove.id == first_move_id, *_brand_auto_moves(brand_id)
        )
    ).scalar_one_or_none()
    if at is None:
        return None
    rows = db.session.execute(
        select(TierMove.reason, func.count(), func.min(TierMove.id))
        .where(*_brand_auto_moves(brand_id), TierMove.created_at == at)
        .group_by(TierMove.reason)
    ).all()
    return Run(min(row[2] for row in rows), at, {row[0]: row[1] for row in rows})


def run_moves(brand_id: int, run: Run, *, reason: str | None, page: int, per_page: int) -> Page:
    """One page of a run's moves (with their SKUs and products), in SKU order."""
    stmt = (
        select(TierMove)
        .join(Variant, Variant.id == TierMove.variant_id)
        .where(*_brand_auto_moves(brand_id), TierMove.created_at == run.at)
        .options(selectinload(TierMove.variant).selectinload(Variant.product))
        .order_by(Variant.sku, TierMove.id)
    )
    if reason in REASONS:
        stmt = stmt.where(TierMove.reason == reason)
    return paginate(stmt, page, per_page)


def last_checked() -> datetime | None:
    """When the nightly job last finished (a night that moved nothing leaves no move behind)."""
    return db.session.execute(
        select(func.max(JobRun.finished_at)).where(
            JobRun.name == JOB_NAME, JobRun.status == JobStatus.FINISHED
        )
    ).scalar_one_or_none()
