"""Month-end commission settlement (DESIGN §7): the monthly job makes one statement per guide and
one per store (the sum of its guides'), HQ approves them and records their payment.

A period is a calendar month in the portal's time zone (PORTAL_TIMEZONE), the months a guide's
pages count in: "2026-11" takes every entry of the brand that matured by 2026-12-01 00:00 there
(`matures_at <= end`) and is in no earlier statement. Entries that mature later
wait for a later month; an entry written late with a past maturity goes into the next month
settled. A period is settled once per brand: a second run finds its statements and makes nothing
(so a daily schedule entry is harmless), and two runs at once queue on the brand's row lock.

All set-based: four INSERT/UPDATE ... SELECT statements whatever the number of entries, the same
SQL on SQLite and PostgreSQL. The ledger is never edited; `CommissionSettled` names each entry's
statement, and a guide statement's amount is the sum of exactly the entries it names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    and_,
    cast,
    exists,
    func,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.sql.expression import null

from portal.core.access import Actor, Permission
from portal.core.db import UTCDateTime, utcnow
from portal.core.errors import Conflict, ValidationFailed
from portal.extensions import db
from portal.guides.models import (
    CommissionEntry,
    CommissionSettled,
    CommissionStatement,
    Guide,
    StatementParty,
    StatementStatus,
)
from portal.network.models import Organization
from portal.storefront.words import say

PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class StatementConflict(Conflict):
    code = "statement_status"


def portal_zone() -> ZoneInfo:
    """The time zone whose months statements and the guides' pages count in."""
    return ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "UTC")


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """The first instant of the month and of the next one in the portal's time zone (as UTC
    moments)."""
    match = PERIOD.match(period or "")
    if match is None:
        raise ValidationFailed(fields={"period": say(_l("A month as YYYY-MM, e.g. 2026-11."))})
    year, month = int(match[1]), int(match[2])
    zone = portal_zone()
    start = datetime(year, month, 1, tzinfo=zone).astimezone(UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone).astimezone(UTC)
    return start, end


def previous_period(now: datetime | None = None) -> str:
    """The month before `now`'s (in the portal's time zone)."""
    now = (now or utcnow()).astimezone(portal_zone())
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    return f"{year:04d}-{month:02d}"


@dataclass(frozen=True)
class SettlementRun:
    brand_id: int
    period: str
    guide_statements: int
    store_statements: int
    entries: int
    amount_cents: int
    made: bool  # False: the period was settled before, nothing new

    def as_dict(self) -> dict[str, object]:
        return {
            "brand_id": self.brand_id,
            "period": self.period,
            "guide_statements": self.guide_statements,
            "store_statements": self.store_statements,
            "entries": self.entries,
            "amount_cents": self.amount_cents,
            "made": self.made,
        }


def _summary(brand_id: int, period: str, made: bool) -> SettlementRun:
    S = CommissionStatement
    rows = db.session.execute(
        select(S.party, func.count(S.id), func.sum(S.entries), func.sum(S.amount_cents))
        .where(S.brand_id == brand_id, S.period == period)
        .group_by(S.party)
    ).all()
    by_party = {party: (count, entries or 0, amount or 0) for party, count, entries, amount in rows}
    guides = by_party.get(StatementParty.GUIDE, (0, 0, 0))
    stores = by_party.get(StatementParty.STORE, (0, 0, 0))
    return SettlementRun(
        brand_id, period, guides[0], stores[0], int(guides[1]), int(guides[2]), made
    )


def settle_month(brand_id: int, period: str, *, now: datetime | None = None) -> SettlementRun:
    """Make the period's draft statements of one brand from its matured, unsettled entries.
    Raises ValidationFailed for a malformed period or one that has not ended yet."""
    _start, end = period_bounds(period)
    moment = now or utcnow()
    if end > moment:
        raise ValidationFailed(
            fields={"period": say(_l("%(period)s has not ended yet.", period=period))}
        )
    # One settlement of a brand at a time: a second waits here, then finds the statements.
    db.session.execute(
        select(Organization.id).where(Organization.id == brand_id).with_for_update()
    ).all()
    S, E, G = CommissionStatement, CommissionEntry, Guide
    already = db.session.execute(
        select(S.id).where(S.brand_id == brand_id, S.period == period).limit(1)
    ).first()
    if already is not None:
        return _summary(brand_id, period, made=False)

    stamp = literal(moment, UTCDateTime())
    unsettled = ~exists().where(CommissionSettled.entry_id == E.id)
    due = and_(E.brand_id == brand_id, E.matures_at <= end, unsettled)
    columns = [
        S.brand_id,
        S.period,
        S.party,
        S.org_id,
        S.guide_id,
        S.amount_cents,
        S.entries,
        S.currency,
        S.status,
        S.paid_reference,
        S.created_at,
        S.updated_at,
    ]
    # 1. A statement for every guide with something due (totals come in step 3).
    guides = (
        select(
            E.brand_id,
            literal(period),
            literal(StatementParty.GUIDE.value),
            G.org_id,
            E.guide_id,
            literal(0),
            literal(0),
            func.max(E.currency),
            literal(StatementStatus.DRAFT.value),
            literal(""),
            stamp,
            stamp,
        )
        .join(G, G.id == E.guide_id)
        .where(due)
        .group_by(E.brand_id, E.guide_id, G.org_id)
    )
    db.session.execute(db.insert(S).from_select(columns, guides))
    _analyze("commission_statements")
    # 2. Each due entry named by its guide's statement of the period.
    taken = (
        select(E.id, S.id)
        .join(S, and_(S.guide_id == E.guide_id, S.brand_id == E.brand_id, S.period == period))
        .where(due)
    )
    postgres = db.session.get_bind().dialect.name == "postgresql"
    if postgres:
        # The anti-join reads the table this statement writes: a nested loop would rescan it
        # for every entry while it grows (quadratic when it was empty at planning time).
        db.session.execute(text("SET LOCAL enable_nestloop = off"))
    db.session.execute(
        db.insert(CommissionSettled).from_select(
            [CommissionSettled.entry_id, CommissionSettled.statement_id], taken
        )
    )
    if postgres:
        db.session.execute(text("SET LOCAL enable_nestloop TO DEFAULT"))
    _analyze("commission_settled")
    # 3. A guide statement's totals: exactly the entries it names.
    sums = (
        select(
            CommissionSettled.statement_id.label("statement_id"),
            func.sum(E.amount_cents).label("amount"),
            func.count(E.id).label("entries"),
        )
        .join(E, E.id == CommissionSettled.entry_id)
        .join(S, S.id == CommissionSettled.statement_id)
        .where(S.brand_id == brand_id, S.period == period)
        .group_by(CommissionSettled.statement_id)
        .subquery()
    )
    db.session.execute(
        update(S)
        .where(S.id == sums.c.statement_id)
        .values(amount_cents=sums.c.amount, entries=sums.c.entries)
        .execution_options(synchronize_session=False)
    )
    # 4. A store's statement: the sum of its guides'.
    mine = select(S).where(S.brand_id == brand_id, S.period == period).subquery()
    stores = select(
        mine.c.brand_id,
        literal(period),
        literal(StatementParty.STORE.value),
        mine.c.org_id,
        cast(null(), BigInteger),
        func.sum(mine.c.amount_cents),
        func.sum(mine.c.entries),
        func.max(mine.c.currency),
        literal(StatementStatus.DRAFT.value),
        literal(""),
        stamp,
        stamp,
    ).group_by(mine.c.brand_id, mine.c.org_id)
    db.session.execute(db.insert(S).from_select(columns, stores))
    db.session.flush()
    return _summary(brand_id, period, made=True)


def _analyze(table: str) -> None:
    """PostgreSQL plans the next step on the rows just written (its statistics would still say
    the table is as it was): without it, joining a million entries to the new statements can
    pick a nested loop. Counts this transaction's own rows; SQLite has nothing to refresh."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text(f"ANALYZE {table}"))


def brands_due(period: str) -> list[int]:
    """Brands with entries matured by the period's end that no statement has taken yet."""
    _start, end = period_bounds(period)
    E = CommissionEntry
    unsettled = ~exists().where(CommissionSettled.entry_id == E.id)
    return list(
        db.session.execute(
            select(E.brand_id).where(E.matures_at <= end, unsettled).distinct().order_by(E.brand_id)
        ).scalars()
    )


# -- HQ's actions --------------------------------------------------------------------------------


def _with_guides(statement: CommissionStatement) -> list[CommissionStatement]:
    """A store's statement and its guides' (a guide's: itself), locked in id order."""
    S = CommissionStatement
    if statement.party == StatementParty.GUIDE:
        which: list[ColumnElement[bool]] = [S.id == statement.id]
    else:
        which = [
            S.brand_id == statement.brand_id,
            S.period == statement.period,
            S.org_id == statement.org_id,
        ]
    return list(
        db.session.execute(select(S).where(*which).order_by(S.id).with_for_update()).scalars().all()
    )


def _store_follows(statement: CommissionStatement, status: str, **stamp: object) -> None:
    """Once every guide statement of a store has reached `status`, so has the store's."""
    S = CommissionStatement
    if statement.party != StatementParty.GUIDE:
        return
    same = and_(
        S.brand_id == statement.brand_id, S.period == statement.period, S.org_id == statement.org_id
    )
    behind = db.session.execute(
        select(func.count(S.id)).where(same, S.party == StatementParty.GUIDE, S.status != status)
    ).scalar_one()
    if behind:
        return
    store = db.session.execute(
        select(S).where(same, S.party == StatementParty.STORE).with_for_update()
    ).scalar_one_or_none()
    if store is not None and store.status != status:
        store.status = status
        for key, value in stamp.items():
            setattr(store, key, value)


def approve(actor: Actor, statement: CommissionStatement) -> list[CommissionStatement]:
    """HQ agrees to a draft statement: a store's approves its guides' with it; a guide's
    approves the store's once all of its guides' are. Raises PermissionDenied without
    COMMISSION_APPROVE, StatementConflict if it is no longer a draft."""
    actor.ensure(Permission.COMMISSION_APPROVE)
    rows = _with_guides(statement)
    if statement.status != StatementStatus.DRAFT:
        raise StatementConflict(say(_l("Only a draft statement can be approved.")))
    now = utcnow()
    changed = []
    for row in rows:
        if row.status == StatementStatus.DRAFT:
            row.status = StatementStatus.APPROVED
            row.approved_by_user_id, row.approved_at = actor.user_id, now
            changed.append(row)
    _store_follows(
        statement, StatementStatus.APPROVED, approved_by_user_id=actor.user_id, approved_at=now
    )
    db.session.flush()
    return changed


def mark_paid(
    actor: Actor, statement: CommissionStatement, reference: str
) -> list[CommissionStatement]:
    """HQ records the payment of an approved statement with the transfer's reference (a store's
    with its guides'). Raises PermissionDenied, ValidationFailed without a reference,
    StatementConflict unless approved."""
    actor.ensure(Permission.COMMISSION_APPROVE)
    reference = (reference or "").strip()
    if not reference:
        raise ValidationFailed(fields={"reference": say(_l("The payment's reference."))})
    rows = _with_guides(statement)
    if statement.status != StatementStatus.APPROVED:
        raise StatementConflict(say(_l("Only an approved statement can be marked paid.")))
    now = utcnow()
    changed = []
    for row in rows:
        if row.status == StatementStatus.APPROVED:
            row.status = StatementStatus.PAID
            row.paid_by_user_id, row.paid_at = actor.user_id, now
            row.paid_reference = reference[:80]
            changed.append(row)
    _store_follows(
        statement,
        StatementStatus.PAID,
        paid_by_user_id=actor.user_id,
        paid_at=now,
        paid_reference=reference[:80],
    )
    db.session.flush()
    return changed
