"""SKU tiers: which storefront sells a SKU, as a ledger of moves (`TierMove`) with the current
tier kept beside it (`SkuTier`), both written in one transaction.

HQ moves and pins by hand here (`move_tier`); the nightly job moves what the policy says,
set-based (`portal/storefront/aging.py`), and leaves a pinned SKU where HQ put it
(`is_pinned`). Both take the brand's tier lock first (`lock_brand_tiers`), so a hand move and
the job never interleave. No SkuTier row means the SKU never moved: it is official.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select

from portal.catalog.models import Variant
from portal.core import audit
from portal.core.access import Actor, Permission
from portal.core.db import utcnow
from portal.core.errors import NotFound, ValidationFailed
from portal.extensions import db
from portal.storefront.models import SkuTier, Tier, TierMove

HQ_REASON = "hq"
MAX_NOTE = 500
TIER_LOCK_SPACE = 16  # first key of the PostgreSQL advisory locks on a brand's tiers


def lock_brand_tiers(brand_id: int) -> None:
    """Moves of one brand's SKUs run one at a time: HQ's hand moves and the nightly job each
    take this first. PostgreSQL: a transaction-scoped advisory lock; SQLite: a writing
    transaction already holds the only write lock."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(func.pg_advisory_xact_lock(TIER_LOCK_SPACE, brand_id)))


def is_pinned(variant_id: int) -> bool:
    """Whether HQ pinned the SKU to its tier: automatic moves must leave it alone."""
    pinned = db.session.execute(
        select(SkuTier.pinned).where(SkuTier.variant_id == variant_id)
    ).scalar_one_or_none()
    return bool(pinned)


def current_tiers(variant_ids: Sequence[int]) -> dict[int, SkuTier]:
    """Each SKU's current tier row (SKUs without one are official and missing here)."""
    if not variant_ids:
        return {}
    rows = db.session.execute(select(SkuTier).where(SkuTier.variant_id.in_(list(variant_ids))))
    return {row.variant_id: row for row in rows.scalars()}


def tier_of(variant_id: int) -> str:
    row = current_tiers([variant_id]).get(variant_id)
    return row.tier if row is not None else Tier.OFFICIAL


def history(variant_ids: Sequence[int], *, limit: int = 200) -> list[TierMove]:
    """The moves of some SKUs, newest first."""
    if not variant_ids:
        return []
    stmt = (
        select(TierMove)
        .where(TierMove.variant_id.in_(list(variant_ids)))
        .order_by(TierMove.id.desc())
        .limit(limit)
    )
    return list(db.session.execute(stmt).scalars())


def move_tier(
    actor: Actor,
    variants: Sequence[Variant],
    tier: str,
    *,
    pinned: bool = False,
    reason: str = HQ_REASON,
    note: str = "",
    at: datetime | None = None,
) -> list[TierMove]:
    """Move SKUs to a tier: one `TierMove` per SKU and its `SkuTier` row updated, in the
    caller's transaction. Only the brand's HQ (or the system) may move; a move by anyone but
    HQ skips SKUs that HQ pinned (the nightly job moves set-based: storefront/aging.py).
    `pinned` pins (or unpins) the SKUs where they land. Raises NotFound for another brand's
    SKUs, PermissionDenied without catalog.manage, ValidationFailed for an unknown tier or a
    note too long."""
    if not variants:
        return []
    brand_ids = {v.brand_id for v in variants}
    if len(brand_ids) != 1:
        raise ValidationFailed(fields={"variants": "Move the SKUs of one brand at a time."})
    brand_id = brand_ids.pop()
    if not (actor.is_system or (actor.is_hq and actor.org_id == brand_id)):
        raise NotFound()
    actor.ensure(Permission.CATALOG_MANAGE)
    if tier not in tuple(Tier):
        raise ValidationFailed(fields={"tier": "Choose official, outlet or employee."})
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise ValidationFailed(fields={"note": f"At most {MAX_NOTE} characters."})
    reason = (reason or HQ_REASON).strip()[:40]
    by_hq = not actor.is_system
    now = at or utcnow()
    lock_brand_tiers(brand_id)
    # Rows locked in key order, so two moves of overlapping SKUs queue instead of deadlocking.
    ordered = sorted({v.id: v for v in variants}.values(), key=lambda v: v.id)
    ids = [v.id for v in ordered]
    existing = {
        row.variant_id: row
        for row in db.session.execute(
            select(SkuTier)
            .where(SkuTier.variant_id.in_(ids))
            .order_by(SkuTier.variant_id)
            .with_for_update()
        ).scalars()
    }
    moves: list[TierMove] = []
    for variant in ordered:
        current = existing.get(variant.id)
        if current is not None and current.pinned and not by_hq:
            continue  # HQ pinned it: the automatic move leaves it where HQ put it
        move = TierMove(
            brand_id=brand_id,
            variant_id=variant.id,
            tier=tier,
            pinned=pinned,
            reason=reason,
            note=note,
            actor_user_id=actor.user_id,
            created_at=now,
        )
        db.session.add(move)
        moves.append(move)
    db.session.flush()  # the moves' ids, for the current rows
    for move in moves:
        current = existing.get(move.variant_id)
        if current is None:
            db.session.add(
                SkuTier(
                    variant_id=move.variant_id,
                    brand_id=brand_id,
                    tier=tier,
                    pinned=pinned,
                    move_id=move.id,
                    moved_at=now,
                )
            )
        else:
            current.tier, current.pinned = tier, pinned
            current.move_id, current.moved_at = move.id, now
    db.session.flush()
    if moves:
        audit.record(
            actor,
            "storefront.tier_moved",
            brand_id=brand_id,
            tier=tier,
            pinned=pinned,
            reason=reason,
            skus=len(moves),
        )
    return moves
