"""Sell-out reports: what a store's till sold, taken off its shelf as `sale` moves on the day it
was sold, which is what replenishment counts as velocity."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.catalog.models import Variant
from portal.core.access import Actor, Permission
from portal.core.db import utcnow
from portal.core.errors import Conflict, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.inventory import queries as inventory_queries
from portal.inventory import services as stock
from portal.inventory.models import Location, MoveReason
from portal.replenishment.models import SalesReport

MAX_LINE_QTY = 1_000_000  # units of one SKU in one report; anything above is a typo
# A till's clock may run a little ahead of ours: a sale up to this far in the future is taken
# (on its own time); one further ahead is refused.
CLOCK_SKEW = timedelta(minutes=5)


def _report_hash(location: Location, sold_at: datetime, lines: list[dict[str, Any]]) -> str:
    payload = json.dumps(
        [location.code, sold_at.isoformat(), sorted((ln["sku"], ln["qty"]) for ln in lines)],
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def record_sales(
    actor: Actor,
    location: Location,
    *,
    external_id: str,
    sold_at: datetime,
    lines: Sequence[dict[str, Any]],
) -> tuple[SalesReport, bool]:
    """A store's POS reports what it sold: the units leave the shelf as `sale` moves, which
    replenishment counts as velocity on the day of `sold_at`, not the day the report arrives.
    A report dated more than CLOCK_SKEW ahead is refused; one older than the velocity window is
    taken (the units still left the shelf) but, its day being outside the window, never counts
    as velocity. Idempotent by the report's own id: the same report again returns the first one
    (False: nothing new); the same id with other content is refused."""
    if not actor.is_system:
        actor.ensure(Permission.STOCK_ADJUST)
        if location.org_id != actor.org_id:
            raise PermissionDenied("Sales are reported for one's own locations.")
    external_id = (external_id or "").strip()
    if not external_id or len(external_id) > 80:
        raise ValidationFailed(fields={"id": "The report's own id, up to 80 characters."})
    if sold_at > utcnow() + CLOCK_SKEW:
        raise ValidationFailed(fields={"sold_at": "Sales cannot be in the future."})
    if not lines:
        raise ValidationFailed(fields={"lines": "Report at least one line."})
    errors: dict[str, str] = {}
    merged: dict[int, tuple[Variant, int]] = {}
    first_index: dict[int, int] = {}  # a short SKU is named by its first line in the report
    clean = []
    for index, line in enumerate(lines):
        sku = str(line.get("sku") or "").strip().upper()
        qty = line.get("qty")
        variant = inventory_queries.find_stockable_variant(location, sku) if sku else None
        if variant is None:
            errors[f"lines.{index}.sku"] = f"{sku or '?'} is not carried at this location."
        elif not isinstance(qty, int) or isinstance(qty, bool) or not 0 < qty <= MAX_LINE_QTY:
            errors[f"lines.{index}.qty"] = "A whole number of units above zero."
        else:
            previous = merged.get(variant.id, (variant, 0))[1]
            merged[variant.id] = (variant, previous + qty)
            first_index.setdefault(variant.id, index)
            clean.append({"sku": variant.sku, "qty": qty})
    if errors:
        raise ValidationFailed(fields=errors)
    digest = _report_hash(location, sold_at, clean)
    existing = db.session.execute(
        select(SalesReport).where(
            SalesReport.org_id == location.org_id, SalesReport.external_id == external_id
        )
    ).scalar_one_or_none()
    if existing is not None:
        if existing.request_hash != digest:
            raise DuplicateReport()
        return existing, False
    report = SalesReport(
        org_id=location.org_id,
        external_id=external_id,
        location_id=location.id,
        sold_at=sold_at,
        request_hash=digest,
        lines=clean,
        units=sum(qty for _v, qty in merged.values()),
        created_by_user_id=actor.user_id,
        created_at=utcnow(),
    )
    try:
        with db.session.begin_nested():
            db.session.add(report)
            db.session.flush()
            stock.apply_moves(
                actor,
                [
                    stock.MoveLine(location.id, vid, -qty, where=f"lines.{first_index[vid]}")
                    for vid, (_v, qty) in sorted(merged.items())
                ],
                reason=MoveReason.SALE,
                reference=f"sales:{external_id}"[:80],
                occurred_at=sold_at,
            )
    except IntegrityError:  # the same report arriving twice at once: the first one stands
        existing = db.session.execute(
            select(SalesReport).where(
                SalesReport.org_id == location.org_id, SalesReport.external_id == external_id
            )
        ).scalar_one()
        if existing.request_hash != digest:
            raise DuplicateReport() from None
        return existing, False
    return report, True


class DuplicateReport(Conflict):
    code = "duplicate_report"
    message = "A different report with this id was already received."
