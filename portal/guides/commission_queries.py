"""Reads of commission statements, scoped to who asks: HQ (and anyone managing guides) sees the
statements of its own org and the orgs below it (HQ: the whole brand; a store owner: its store);
a guide who manages nothing sees only their own guide statements. Anything else is a 404."""

from __future__ import annotations

import io
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import joinedload

from portal.core.access import Actor, Permission, org_visible
from portal.core.errors import NotFound
from portal.core.money import MINOR_UNITS, from_cents
from portal.core.spreadsheets import mark_text
from portal.extensions import db
from portal.guides.models import (
    CommissionEntry,
    CommissionSettled,
    CommissionStatement,
    Guide,
    StatementParty,
)
from portal.network.models import User

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def visible(actor: Actor) -> ColumnElement[bool]:
    S = CommissionStatement
    scoped = org_visible(actor, S.org_id, S.brand_id)
    if actor.is_hq and actor.org_id is not None:
        # HQ pays what its brand's sales earned, also to guides of a sister brand's store
        # (cross-brand sales in a group), whose store is outside its own tree.
        scoped = or_(scoped, S.brand_id == actor.org_id)
    if actor.is_system or actor.can(Permission.GUIDES_MANAGE):
        return scoped
    if actor.user_id is None:
        return S.id.is_(None)
    own = select(Guide.id).where(Guide.user_id == actor.user_id)
    return and_(scoped, S.party == StatementParty.GUIDE, S.guide_id.in_(own))


def list_periods(actor: Actor) -> list[str]:
    S = CommissionStatement
    return list(
        db.session.execute(
            select(S.period).where(visible(actor)).distinct().order_by(S.period.desc())
        ).scalars()
    )


def list_statements(actor: Actor, period: str, *, brand_id: int | None = None):
    """The period's statements the actor may see, stores first with their guides after each."""
    S = CommissionStatement
    cond = [visible(actor), S.period == period]
    if brand_id is not None:
        cond.append(S.brand_id == brand_id)
    return list(
        db.session.execute(
            select(S)
            .options(joinedload(S.org), joinedload(S.guide).joinedload(Guide.user))
            .where(*cond)
            .order_by(S.brand_id, S.org_id, S.guide_id.is_not(None), S.guide_id)
        )
        .scalars()
        .all()
    )


def get_statement(actor: Actor, statement_id: int) -> CommissionStatement:
    S = CommissionStatement
    found = db.session.execute(
        select(S).where(S.id == statement_id, visible(actor))
    ).scalar_one_or_none()
    if found is None:
        raise NotFound()
    return found


def statement_entries(statement: CommissionStatement) -> list[CommissionEntry]:
    """The ledger entries a statement took (a store's: all of its guides')."""
    E, S = CommissionEntry, CommissionStatement
    if statement.party == StatementParty.GUIDE:
        which: ColumnElement[bool] = CommissionSettled.statement_id == statement.id
    else:
        which = CommissionSettled.statement_id.in_(
            select(S.id).where(
                S.brand_id == statement.brand_id,
                S.period == statement.period,
                S.org_id == statement.org_id,
                S.party == StatementParty.GUIDE,
            )
        )
    return list(
        db.session.execute(
            select(E)
            .join(CommissionSettled, CommissionSettled.entry_id == E.id)
            .where(which)
            .order_by(E.guide_id, E.matures_at, E.id)
        )
        .scalars()
        .all()
    )


def guides_by_id(ids: set[int]) -> dict[int, Guide]:
    if not ids:
        return {}
    rows = db.session.execute(
        select(Guide).options(joinedload(Guide.user)).where(Guide.id.in_(ids))
    ).scalars()
    return {guide.id: guide for guide in rows}


def guide_statements_of(statement: CommissionStatement) -> list[CommissionStatement]:
    S = CommissionStatement
    if statement.party == StatementParty.GUIDE:
        return []
    return list(
        db.session.execute(
            select(S)
            .options(joinedload(S.guide).joinedload(Guide.user))
            .where(
                S.brand_id == statement.brand_id,
                S.period == statement.period,
                S.org_id == statement.org_id,
                S.party == StatementParty.GUIDE,
            )
            .order_by(S.guide_id)
        )
        .scalars()
        .all()
    )


@dataclass(frozen=True)
class Totals:
    stores: int
    guides: int
    entries: int
    amount_cents: int


def totals(rows: list[CommissionStatement]) -> Totals:
    guides = [r for r in rows if r.party == StatementParty.GUIDE]
    return Totals(
        stores=sum(1 for r in rows if r.party == StatementParty.STORE),
        guides=len(guides),
        entries=sum(r.entries for r in guides),
        amount_cents=sum(r.amount_cents for r in guides),
    )


def _name(user: User | None) -> str:
    if user is None:
        return ""
    return getattr(user, "name", "") or getattr(user, "email", "") or ""


HEADER = (
    "period",
    "party",
    "store code",
    "store name",
    "guide code",
    "guide",
    "entries",
    "amount",
    "currency",
    "status",
    "approved at",
    "paid at",
    "paid reference",
)


def export_rows(rows: list[CommissionStatement]) -> list[list[Any]]:
    out: list[list[Any]] = [list(HEADER)]
    for row in rows:
        guide = row.guide
        out.append(
            [
                row.period,
                row.party,
                row.org.code,
                row.org.name,
                guide.code if guide else "",
                _name(guide.user) if guide else "",
                row.entries,
                from_cents(row.amount_cents, row.currency),
                row.currency,
                row.status,
                row.approved_at.replace(tzinfo=None) if row.approved_at else "",
                row.paid_at.replace(tzinfo=None) if row.paid_at else "",
                row.paid_reference,
            ]
        )
    return out


def to_xlsx(rows: list[CommissionStatement]) -> bytes:
    """One sheet; amounts are numbers and times are times, so Excel sums and sorts them."""
    import openpyxl
    from openpyxl.cell import WriteOnlyCell

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("commission")
    for values in export_rows(rows):
        cells = []
        for value in values:
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, Decimal):
                digits = MINOR_UNITS.get(str(values[8]), 2)
                cell.number_format = "#,##0" + ("." + "0" * digits if digits else "")
            elif isinstance(value, str):
                mark_text(cell)
            elif hasattr(value, "hour"):
                cell.number_format = "yyyy-mm-dd hh:mm"
            cells.append(cell)
        sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
