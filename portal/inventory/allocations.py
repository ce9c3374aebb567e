"""Quotas: stock set aside at a supplier's location for one recipient until a date.

Allocating reserves the units at the location (the pool shrinks at once). An order against the
quota takes the reservation over (the quota's `used_qty` grows, the level does not move); a
cancelled order gives it back while the quota is open. At expiry, what is left is released to
the pool by `expire_allocations` (a periodic job), once: the status changes conditionally.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update

from portal.core import audit
from portal.core.access import Actor, Permission
from portal.core.db import in_ids, utcnow
from portal.core.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.inventory.models import Allocation, AllocationStatus, Location, MoveReason
from portal.inventory.services import MAX_QUANTITY, MoveLine, apply_moves


@dataclass(frozen=True)
class QuotaLine:
    recipient_org_id: int
    variant_id: int
    qty: int
    where: str = "qty"


def may_push(actor: Actor) -> bool:
    """Only a brand's HQ sends stock down its network (as push orders or quotas)."""
    return actor.is_system or (actor.is_hq and actor.can(Permission.STOCK_PUSH))


def allocate(
    actor: Actor,
    location: Location,
    lines: Iterable[QuotaLine],
    *,
    expires_at: datetime,
    reference: str,
) -> list[Allocation]:
    """Set stock aside for recipients (HQ, at its own location): all lines or none, and
    InsufficientStock naming the line when the pool is short."""
    if not actor.is_system:
        actor.ensure(Permission.STOCK_PUSH)
        if location.org_id != actor.org_id:
            raise PermissionDenied("Quotas are set aside at one's own location.")
    lines = list(lines)
    if expires_at <= utcnow():
        raise ValidationFailed(fields={"expires_at": "The expiry must be in the future."})
    for line in lines:
        if not isinstance(line.qty, int) or not 0 < line.qty <= MAX_QUANTITY:
            raise ValidationFailed(fields={line.where: "A whole number of units above zero."})
    apply_moves(
        actor,
        [
            MoveLine(location.id, ln.variant_id, reserved_delta=ln.qty, where=ln.where)
            for ln in lines
        ],
        reason=MoveReason.PUSH,
        reference=reference,
        note="quota set aside",
    )
    brand_of = _brands(location)
    allocations = [
        Allocation(
            brand_id=brand_of,
            recipient_org_id=ln.recipient_org_id,
            location_id=location.id,
            variant_id=ln.variant_id,
            qty=ln.qty,
            expires_at=expires_at,
            reference=reference[:80],
            created_by_user_id=actor.user_id,
        )
        for ln in lines
    ]
    db.session.add_all(allocations)
    db.session.flush()
    audit.record(
        actor,
        "stock.quotas_allocated",
        org_id=location.org_id,
        brand_id=brand_of,
        reference=reference,
        lines=len(allocations),
        units=sum(ln.qty for ln in lines),
    )
    return allocations


def _brands(location: Location) -> int:
    return location.org_id  # quotas are set aside by HQ: the brand is the location's org


def drawable(quotas: Iterable[Allocation]) -> int:
    """What one order line may draw from a recipient's open quotas of a SKU: a line takes its
    units from a single quota, so the largest one left."""
    return max((a.remaining for a in quotas), default=0)


def quotas_at(
    location_id: int,
    recipient_org_id: int,
    variant_ids: Iterable[int],
    *,
    at: datetime | None = None,
) -> tuple[set[int], dict[int, list[Allocation]]]:
    """In one query: the SKUs under any open quota at the location (only quota holders may order
    them), and the recipient's own open quotas there, per SKU, oldest expiry first."""
    stmt = (
        select(Allocation)
        .where(
            Allocation.location_id == location_id,
            in_ids(Allocation.variant_id, variant_ids),
            Allocation.status == AllocationStatus.ACTIVE,
            Allocation.expires_at > (at or utcnow()),
        )
        .order_by(Allocation.expires_at, Allocation.id)
    )
    allocated: set[int] = set()
    own: dict[int, list[Allocation]] = {}
    for allocation in db.session.execute(stmt).scalars():
        allocated.add(allocation.variant_id)
        if allocation.recipient_org_id == recipient_org_id:
            own.setdefault(allocation.variant_id, []).append(allocation)
    return allocated, own


def draw(allocation_id: int, qty: int) -> bool:
    """Use `qty` of an open quota; False when it has not that much left (or has closed). One
    conditional UPDATE: two orders racing for the last units of a quota cannot both win."""
    changed = cast(
        CursorResult[Any],
        db.session.execute(
            update(Allocation)
            .where(
                Allocation.id == allocation_id,
                Allocation.status == AllocationStatus.ACTIVE,
                Allocation.expires_at > utcnow(),
                Allocation.used_qty + qty <= Allocation.qty,
            )
            .values(used_qty=Allocation.used_qty + qty)
            .execution_options(synchronize_session=False)
        ),
    )
    return changed.rowcount == 1


def give_back(allocation_id: int, qty: int) -> bool:
    """Return units of a cancelled order to its quota if the quota is still open (True); a
    closed quota has released its units already, so the caller releases the order's hold."""
    changed = cast(
        CursorResult[Any],
        db.session.execute(
            update(Allocation)
            .where(
                Allocation.id == allocation_id,
                Allocation.status == AllocationStatus.ACTIVE,
                Allocation.expires_at > utcnow(),
                Allocation.used_qty >= qty,
            )
            .values(used_qty=Allocation.used_qty - qty)
            .execution_options(synchronize_session=False)
        ),
    )
    return changed.rowcount == 1


def expire_allocations(actor: Actor, *, at: datetime | None = None, limit: int = 1000) -> int:
    """Close quotas past their expiry and release what was left to the pool; returns how many
    closed. Safe to run twice and beside orders: a quota is closed by a conditional UPDATE
    before its units are released, so nothing draws on it afterwards."""
    at = at or utcnow()
    due = list(
        db.session.execute(
            select(Allocation.id)
            .where(Allocation.status == AllocationStatus.ACTIVE, Allocation.expires_at <= at)
            .order_by(Allocation.variant_id, Allocation.id)  # the order orders draw them in
            .limit(limit)
        ).scalars()
    )
    closed = 0
    releases = []
    for allocation_id in due:
        row = db.session.execute(
            update(Allocation)
            .where(Allocation.id == allocation_id, Allocation.status == AllocationStatus.ACTIVE)
            .values(status=AllocationStatus.EXPIRED)
            .returning(
                Allocation.location_id, Allocation.variant_id, Allocation.qty, Allocation.used_qty
            )
            .execution_options(synchronize_session=False)
        ).first()
        if row is None:
            continue
        location_id, variant_id, qty, used = row
        if qty - used > 0:
            releases.append(MoveLine(location_id, variant_id, reserved_delta=-(qty - used)))
        closed += 1
    # All the batch's units in one call: levels are locked in one fixed order.
    apply_moves(
        actor, releases, reason=MoveReason.RELEASE, reference="quota-expiry", note="quota expired"
    )
    return closed
