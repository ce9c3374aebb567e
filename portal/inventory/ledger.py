"""Every change to stock goes through `apply_moves`: one conditional UPDATE per level, taken in a
fixed order, and one ledger row per change, in the caller's transaction.

The conditional UPDATE (`... WHERE on_hand + d >= 0 AND on_hand + d - (reserved + r) >= keep`) is
what makes overselling impossible on PostgreSQL and SQLite alike: of two buyers racing for the
last unit, the second one's UPDATE matches no row once the first has committed (PostgreSQL
re-checks the condition after the row lock is released). Levels are touched in (location, SKU,
grade) order, so two transactions never wait on each other in a cycle. `keep` is 0 but for moves
that must leave units behind (an online order keeps a store's safety stock for walk-in customers).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import BigInteger, Table, bindparam, insert, select, text, update

from portal.catalog.models import Variant
from portal.core.access import Actor
from portal.core.db import utcnow
from portal.core.errors import ValidationFailed
from portal.extensions import db
from portal.inventory.errors import InsufficientStock
from portal.inventory.models import Grade, MoveReason, StockLevel, StockMove

MAX_QUANTITY = 10_000_000  # no single move of a SKU is larger; anything above is a typo


# The two statements every line runs, built once: building them per line with literal values
# cost several times more than running them (and SQLAlchemy caches no compiled form of a dialect
# `on_conflict_do_nothing()`, so the insert is plain SQL both SQLite and PostgreSQL accept).
_LEVELS = cast(Table, StockLevel.__table__)
_DH = bindparam("dh", type_=BigInteger)
_DR = bindparam("dr", type_=BigInteger)
_KEEP = bindparam("keep", type_=BigInteger)
_UPDATE_LEVEL = (
    update(_LEVELS)
    .where(
        _LEVELS.c.location_id == bindparam("loc"),
        _LEVELS.c.variant_id == bindparam("var"),
        _LEVELS.c.grade == bindparam("gr"),
        _LEVELS.c.on_hand + _DH >= 0,
        _LEVELS.c.reserved + _DR >= 0,
        _LEVELS.c.on_hand + _DH - (_LEVELS.c.reserved + _DR) >= _KEEP,
    )
    .values(on_hand=_LEVELS.c.on_hand + _DH, reserved=_LEVELS.c.reserved + _DR)
)
_INSERT_LEVEL = text(
    "INSERT INTO stock_levels (brand_id, location_id, variant_id, grade, on_hand, reserved) "
    "VALUES (:brand_id, :location_id, :variant_id, :grade, 0, 0) ON CONFLICT DO NOTHING"
)


@dataclass(frozen=True)
class MoveLine:
    """One change to one level. `where` names it in errors ("lines.3"); `keep`: units the level
    must still have available after the move, or the move is refused (a safety stock)."""

    location_id: int
    variant_id: int
    on_hand_delta: int = 0
    reserved_delta: int = 0
    grade: str = Grade.A
    where: str = "qty"
    keep: int = 0


def apply_moves(
    actor: Actor,
    lines: Iterable[MoveLine],
    *,
    reason: str,
    reference: str = "",
    note: str = "",
    occurred_at: datetime | None = None,
) -> list[StockMove]:
    """Change levels and write the ledger, all or nothing: on InsufficientStock (naming the line
    and the quantity available) nothing of this call stays, even if the caller catches the error
    and commits. Pass every line of one operation in one call: the fixed lock order holds
    within a call. `occurred_at` is when it happened in the business (a reported sale's
    `sold_at`); velocity counts by it. Without it, now."""
    with db.session.begin_nested():
        return _apply_moves(
            actor,
            lines,
            reason=reason,
            reference=reference,
            note=note,
            occurred_at=occurred_at or utcnow(),
        )


def _apply_moves(
    actor: Actor,
    lines: Iterable[MoveLine],
    *,
    reason: str,
    reference: str,
    note: str,
    occurred_at: datetime,
) -> list[StockMove]:
    if reason not in tuple(MoveReason):
        raise ValueError(f"unknown stock move reason {reason!r}")
    merged: dict[tuple[int, int, str], list] = {}
    for line in lines:
        if line.grade not in tuple(Grade):
            raise ValidationFailed(fields={line.where: "The grade is A or B."})
        for delta in (line.on_hand_delta, line.reserved_delta):
            if not isinstance(delta, int) or isinstance(delta, bool) or abs(delta) > MAX_QUANTITY:
                raise ValidationFailed(fields={line.where: "Not a usable quantity."})
        if not isinstance(line.keep, int) or not 0 <= line.keep <= MAX_QUANTITY:
            raise ValidationFailed(fields={line.where: "Not a usable quantity."})
        key = (line.location_id, line.variant_id, line.grade)
        entry = merged.setdefault(key, [0, 0, line.where, 0])
        entry[0] += line.on_hand_delta
        entry[1] += line.reserved_delta
        entry[3] = max(entry[3], line.keep)
    brands = _brands_of({variant_id for _loc, variant_id, _g in merged})
    connection = db.session.connection()  # the session's own; its per-statement work is skipped
    moves = []
    for key in sorted(merged):  # a fixed order: no lock cycles between transactions
        location_id, variant_id, grade = key
        on_hand_delta, reserved_delta, where, keep = merged[key]
        if on_hand_delta == 0 and reserved_delta == 0:
            continue
        if on_hand_delta > 0:
            ensure_level(brands[variant_id], location_id, variant_id, grade)
        changed = connection.execute(
            _UPDATE_LEVEL,
            {
                "loc": location_id,
                "var": variant_id,
                "gr": grade,
                "dh": on_hand_delta,
                "dr": reserved_delta,
                "keep": keep,
            },
        )
        if changed.rowcount != 1:
            have = max(0, available(location_id, variant_id, grade) - keep)
            raise InsufficientStock(
                f"Only {have} available.",
                fields={where: f"Only {have} available."},
                available=have,
            )
        moves.append(
            {
                "brand_id": brands[variant_id],
                "location_id": location_id,
                "variant_id": variant_id,
                "grade": grade,
                "on_hand_delta": on_hand_delta,
                "reserved_delta": reserved_delta,
                "reason": reason,
                "reference": reference[:80],
                "note": note[:500],
                "actor_user_id": actor.user_id,
                "actor_org_id": actor.org_id,
                "occurred_at": occurred_at,
            }
        )
    if not moves:
        return []
    # One multi-row INSERT ... RETURNING: the rows come back as session objects, in order.
    return list(
        db.session.scalars(
            insert(StockMove).returning(StockMove, sort_by_parameter_order=True), moves
        )
    )


def _brands_of(variant_ids: set[int]) -> dict[int, int]:
    rows = db.session.execute(
        select(Variant.id, Variant.brand_id).where(Variant.id.in_(variant_ids))
    ).all()
    found = {variant_id: brand_id for variant_id, brand_id in rows}
    missing = variant_ids - set(found)
    if missing:
        raise ValidationFailed(fields={"sku": "Unknown SKU."})
    return found


def ensure_level(brand_id: int, location_id: int, variant_id: int, grade: str) -> None:
    """Create the level row at zero if it is missing (concurrent callers: one wins, quietly)."""
    db.session.connection().execute(
        _INSERT_LEVEL,
        {
            "brand_id": brand_id,
            "location_id": location_id,
            "variant_id": variant_id,
            "grade": grade,
        },
    )


def available(location_id: int, variant_id: int, grade: str = Grade.A) -> int:
    value = db.session.execute(
        select(StockLevel.on_hand - StockLevel.reserved).where(
            StockLevel.location_id == location_id,
            StockLevel.variant_id == variant_id,
            StockLevel.grade == grade,
        )
    ).scalar_one_or_none()
    return int(value or 0)
