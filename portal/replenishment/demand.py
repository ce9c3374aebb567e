"""Demand: which (location, SKU) pairs are at or below their reorder point, and by how much.

One SQL statement per batch of locations does the arithmetic for every pair: the rule in force
(the location's own override for the SKU, else HQ's most specific default for its level and the
SKU's category), the units sold or shipped out over the velocity window, what is inbound on open
orders, and from those the reorder point and the target. Only the pairs that need an order come
back; `engine` turns them into proposals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import (
    Float,
    Integer,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    select,
    union,
    union_all,
)
from sqlalchemy.orm import aliased

from portal.catalog.models import Category, Product, Variant
from portal.core.db import utcnow
from portal.extensions import db
from portal.inventory.models import Grade, Location, MoveReason, StockLevel, StockMove
from portal.network.models import ChannelLink
from portal.ordering.models import Order, OrderLine, OrderStatus
from portal.replenishment.models import ReplenishmentRule

VELOCITY_DAYS = 28  # the sales window velocity is averaged over
INBOUND_STATUSES = (
    OrderStatus.PENDING_BUYER_APPROVAL,
    OrderStatus.SUBMITTED,
    OrderStatus.AWAITING_APPROVAL,
    OrderStatus.CONFIRMED,
    OrderStatus.PARTIALLY_SHIPPED,
    OrderStatus.SHIPPED,
)


@dataclass
class Need:
    """One (location, SKU) below its reorder point, with the figures that say so."""

    location_id: int
    variant_id: int
    rule_id: int
    mode: str  # "min_max" or "cover"
    on_hand: int
    reserved: int
    inbound: int
    velocity: float  # units per day
    reorder_point: float
    target: float
    rule: dict[str, Any]

    @property
    def position(self) -> int:
        return self.on_hand + self.inbound - self.reserved

    @property
    def raw_qty(self) -> int:
        return max(math.ceil(self.target - self.position - 1e-9), 0)


def needs(brand_id: int, location_ids: Sequence[int], *, at: datetime | None = None) -> list[Need]:
    """Every (location, SKU) of the brand at these locations that is at or below its reorder
    point and under its target, in one statement."""
    if not location_ids:
        return []
    at = at or utcnow()
    since = velocity_since(at)
    loc_ids = list(location_ids)

    # The pairs to look at: every stocked SKU, and every SKU with an override (even at zero).
    stocked = select(StockLevel.location_id, StockLevel.variant_id).where(
        StockLevel.brand_id == brand_id,
        StockLevel.grade == Grade.A,
        StockLevel.location_id.in_(loc_ids),
    )
    overridden = select(ReplenishmentRule.location_id, ReplenishmentRule.variant_id).where(
        ReplenishmentRule.brand_id == brand_id, ReplenishmentRule.location_id.in_(loc_ids)
    )
    pairs = union(stocked, overridden).subquery("pairs")

    level = aliased(StockLevel)
    sold = (
        select(
            StockMove.location_id,
            StockMove.variant_id,
            func.sum(-StockMove.on_hand_delta).label("units"),
        )
        .where(
            StockMove.location_id.in_(loc_ids),
            StockMove.brand_id == brand_id,
            StockMove.reason.in_((MoveReason.SALE, MoveReason.SHIPMENT)),
            StockMove.on_hand_delta < 0,
            # the day of the sale, not of the report: a week reported late counts on its days
            StockMove.occurred_at >= since,
        )
        .group_by(StockMove.location_id, StockMove.variant_id)
        .subquery("sold")
    )
    inbound = (
        select(
            Order.destination_location_id.label("location_id"),
            OrderLine.variant_id,
            func.sum(OrderLine.qty - OrderLine.received_qty).label("units"),
        )
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(
            Order.destination_location_id.in_(loc_ids),
            Order.brand_id == brand_id,
            Order.status.in_(INBOUND_STATUSES),
        )
        .group_by(Order.destination_location_id, OrderLine.variant_id)
        .subquery("inbound")
    )
    override = aliased(ReplenishmentRule)
    defaults = _default_rules(brand_id)
    rule = aliased(ReplenishmentRule)
    rule_id = func.coalesce(override.id, defaults.c.rule_id)
    on_hand = func.coalesce(level.on_hand, 0)
    reserved = func.coalesce(level.reserved, 0)
    inbound_units = func.coalesce(inbound.c.units, 0)
    velocity = cast(func.coalesce(sold.c.units, 0), Float) / VELOCITY_DAYS
    position = on_hand + inbound_units - reserved
    is_cover = rule.cover_days.is_not(None)
    reorder_point = case(
        (is_cover, velocity * rule.lead_days + rule.safety_qty),
        else_=cast(func.coalesce(rule.min_qty, 0), Float),
    )
    target = case(
        (is_cover, velocity * (rule.cover_days + rule.lead_days) + rule.safety_qty),
        else_=cast(rule.max_qty, Float),
    )
    rows = (
        select(
            pairs.c.location_id,
            pairs.c.variant_id,
            rule.id.label("rule_id"),
            on_hand.label("on_hand"),
            reserved.label("reserved"),
            inbound_units.label("inbound"),
            velocity.label("velocity"),
            reorder_point.label("reorder_point"),
            target.label("target"),
            rule.min_qty,
            rule.max_qty,
            rule.cover_days,
            rule.lead_days,
            rule.safety_qty,
            rule.review_days,
        )
        .select_from(pairs)
        .join(Location, Location.id == pairs.c.location_id)
        .join(
            ChannelLink,
            and_(ChannelLink.buyer_org_id == Location.org_id, ChannelLink.brand_id == brand_id),
        )
        .join(Variant, Variant.id == pairs.c.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .outerjoin(
            level,
            and_(
                level.location_id == pairs.c.location_id,
                level.variant_id == pairs.c.variant_id,
                level.grade == Grade.A,
            ),
        )
        .outerjoin(
            override,
            and_(
                override.location_id == pairs.c.location_id,
                override.variant_id == pairs.c.variant_id,
            ),
        )
        .outerjoin(
            defaults,
            and_(
                defaults.c.level == ChannelLink.level,
                defaults.c.category_id == Product.category_id,
            ),
        )
        .join(rule, rule.id == rule_id)
        .outerjoin(
            sold,
            and_(
                sold.c.location_id == pairs.c.location_id, sold.c.variant_id == pairs.c.variant_id
            ),
        )
        .outerjoin(
            inbound,
            and_(
                inbound.c.location_id == pairs.c.location_id,
                inbound.c.variant_id == pairs.c.variant_id,
            ),
        )
        .where(Product.status == "active", position <= reorder_point, target - position >= 1)
        .order_by(pairs.c.location_id, pairs.c.variant_id)
    )
    result = []
    for row in db.session.execute(rows):
        mode = "cover" if row.cover_days is not None else "min_max"
        result.append(
            Need(
                location_id=row.location_id,
                variant_id=row.variant_id,
                rule_id=row.rule_id,
                mode=mode,
                on_hand=int(row.on_hand),
                reserved=int(row.reserved),
                inbound=int(row.inbound),
                velocity=float(row.velocity),
                reorder_point=float(row.reorder_point),
                target=float(row.target),
                rule={
                    "min": row.min_qty,
                    "max": row.max_qty,
                    "cover_days": row.cover_days,
                    "lead_days": row.lead_days,
                    "safety": row.safety_qty,
                    "review_days": row.review_days,
                },
            )
        )
    return result


def velocity_since(at: datetime) -> datetime:
    """Where the velocity window starts: local midnight (the portal's time zone, whose days the
    runs and the stores keep) VELOCITY_DAYS days before `at`'s day. The window is those whole
    days plus today so far, so the 02:00 nightly run averages almost exactly VELOCITY_DAYS
    days, and a sale reported during the day counts in the next run on demand."""
    zone = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    first = at.astimezone(zone).date() - timedelta(days=VELOCITY_DAYS)
    return datetime.combine(first, time(), tzinfo=zone).astimezone(UTC)


def _default_rules(brand_id: int) -> Any:
    """HQ's most specific default per (store level, category) of the brand, as a small VALUES
    table to join: a level's own default beats the every-level one, then a category's own beats
    the every-category one. Worked out here once, instead of a sub-query per (location, SKU)
    (126,000 of them in one batch of 148 stores at scale)."""
    rules = db.session.execute(
        select(ReplenishmentRule.id, ReplenishmentRule.level, ReplenishmentRule.category_id).where(
            ReplenishmentRule.brand_id == brand_id, ReplenishmentRule.location_id.is_(None)
        )
    ).all()
    levels = set(
        db.session.execute(
            select(ChannelLink.level).where(ChannelLink.brand_id == brand_id).distinct()
        ).scalars()
    )
    categories = list(
        db.session.execute(select(Category.id).where(Category.brand_id == brand_id)).scalars()
    )
    rows = []
    for level in levels:
        for category_id in categories:
            matching = [
                r for r in rules if r.level in (level, "") and r.category_id in (category_id, None)
            ]
            if matching:
                best = min(matching, key=lambda r: (r.level == "", r.category_id is None))
                rows.append((level, category_id, best.id))
    if not rows:  # the table needs a row; this one matches nothing
        rows.append(("", 0, 0))
    # A UNION of one-row SELECTs: SQLite has no column list for a VALUES alias.
    return union_all(
        *(
            select(
                literal(level, String).label("level"),
                literal(category_id, Integer).label("category_id"),
                literal(rule_id, Integer).label("rule_id"),
            )
            for level, category_id, rule_id in rows
        )
    ).subquery("defaults")
