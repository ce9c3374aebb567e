"""The replenishment computation: what each location should order, for many locations at once.

`demand` finds, in one SQL statement per batch, the (location, SKU) pairs below their reorder
point. This module does what needs the channel policy: authorization, MOQ and multiples
(rounded up with the case pack), the buyer's quotas and what the supplier has, and the review
cadence; and it names the locations a run covers.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from portal.catalog.models import Product, Variant
from portal.extensions import db
from portal.inventory import allocations
from portal.inventory.models import Location
from portal.network.models import ChannelLink, Organization
from portal.ordering import queries as ordering_queries
from portal.policy import queries as policy
from portal.replenishment.demand import Need, needs
from portal.replenishment.models import Suggestion, SuggestionLine, SuggestionStatus


@dataclass
class ProposedLine:
    variant: Variant
    qty: int
    unit_price_cents: int | None
    reason: dict[str, Any]


@dataclass
class Proposal:
    """What one location should order from its supplier today."""

    location: Location
    link: ChannelLink
    lines: list[ProposedLine] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)  # SKUs needed but not proposed


def _step(case_pack: int, multiple: int) -> int:
    return math.lcm(max(case_pack, 1), max(multiple, 1))


def round_up(qty: int, *, case_pack: int, multiple: int, moq: int) -> int:
    """At least the MOQ, in whole case packs and order multiples."""
    step = _step(case_pack, multiple)
    qty = max(qty, moq)
    return math.ceil(qty / step) * step


def round_down(qty: int, *, case_pack: int, multiple: int, moq: int) -> int:
    """The most that fits under a cap in whole steps; 0 when that is below the MOQ."""
    step = _step(case_pack, multiple)
    qty = (qty // step) * step
    return qty if qty >= moq else 0


class Supply:
    """What suppliers have left to promise during one run (shared across its locations, so two
    stores of one distributor are not both promised the same units)."""

    def __init__(self) -> None:
        self._free: dict[tuple[int, int], int] = {}

    def load(self, location: Location, variant_ids: Sequence[int]) -> None:
        missing = [v for v in variant_ids if (location.id, v) not in self._free]
        if not missing:
            return
        for variant_id, free in ordering_queries.free_at(location, missing).items():
            self._free[(location.id, variant_id)] = free

    def free(self, location_id: int, variant_id: int) -> int:
        return self._free.get((location_id, variant_id), 0)

    def take(self, location_id: int, variant_id: int, qty: int) -> None:
        self._free[(location_id, variant_id)] = self.free(location_id, variant_id) - qty


def propose(
    brand_id: int,
    location_ids: Sequence[int],
    *,
    supply: Supply | None = None,
    at: datetime | None = None,
    business_date: date | None = None,
) -> list[Proposal]:
    """Turn the needs of these locations into order proposals, one per location with lines.
    With `business_date`, SKUs suggested within their review cadence before it are left out."""
    supply = supply or Supply()
    found = needs(brand_id, location_ids, at=at)
    if business_date is not None:
        found = _due_for_review(brand_id, found, business_date)
    if not found:
        return []
    by_location: dict[int, list[Need]] = defaultdict(list)
    for need in found:
        by_location[need.location_id].append(need)
    locations = {
        loc.id: loc
        for loc in db.session.execute(
            select(Location).where(Location.id.in_(list(by_location)))
        ).scalars()
    }
    links = {
        link.buyer_org_id: link
        for link in db.session.execute(
            select(ChannelLink)
            .where(
                ChannelLink.brand_id == brand_id,
                ChannelLink.buyer_org_id.in_({loc.org_id for loc in locations.values()}),
            )
            .options(selectinload(ChannelLink.buyer), selectinload(ChannelLink.supplier))
        ).scalars()
    }
    variants = {
        v.id: v
        for v in db.session.execute(
            select(Variant)
            .where(Variant.id.in_({n.variant_id for n in found}))
            .options(selectinload(Variant.product).selectinload(Product.category))
        ).scalars()
    }
    sources = _supplier_locations({link.supplier_org_id for link in links.values()})
    versions = policy.VersionsByBuyer(brand_id, at)
    proposals = []
    for location_id in sorted(by_location):
        location = locations[location_id]
        link = links[location.org_id]
        source = sources.get(link.supplier_org_id)
        wanted = by_location[location_id]
        proposal = Proposal(location=location, link=link)
        buyer = policy.Buyer.for_link(link)
        terms = policy.resolve(
            buyer, [variants[n.variant_id] for n in wanted], at, versions=versions.of(buyer)
        )
        variant_ids = [n.variant_id for n in wanted]
        allocated: set[int] = set()
        quotas: dict[int, list] = {}
        if source is not None:
            supply.load(source, variant_ids)
            allocated, quotas = allocations.quotas_at(
                source.id, link.buyer_org_id, variant_ids, at=at
            )
        for need in wanted:
            variant = variants[need.variant_id]
            t = terms[need.variant_id]
            reason = {
                "rule": need.mode,
                "rule_id": need.rule_id,
                **need.rule,
                "velocity": round(need.velocity, 2),
                "on_hand": need.on_hand,
                "reserved": need.reserved,
                "inbound": need.inbound,
                "position": need.position,
                "reorder_point": round(need.reorder_point, 1),
                "target": round(need.target, 1),
                "needed": need.raw_qty,
            }
            if not t.authorized:
                proposal.skipped.append({"sku": variant.sku, "why": "not_authorized", **reason})
                continue
            steps = {"case_pack": variant.case_pack, "multiple": t.multiple, "moq": t.moq}
            qty = round_up(need.raw_qty, **steps)
            cap = None
            if source is None:
                cap = 0
            elif need.variant_id in allocated or need.variant_id in quotas:
                cap = allocations.drawable(quotas.get(need.variant_id, []))
                reason["capped_by"] = "quota"
            if source is not None:
                free = supply.free(source.id, need.variant_id)
                if cap is None or free < cap:
                    cap = free
                    reason["capped_by"] = "supplier"
            if cap is not None and qty > cap:
                qty = round_down(cap, **steps)
                reason["capped"] = True
            else:
                reason.pop("capped_by", None)
            if qty <= 0:
                proposal.skipped.append({"sku": variant.sku, "why": "supplier_short", **reason})
                continue
            if source is not None and need.variant_id not in quotas:
                supply.take(source.id, need.variant_id, qty)
            proposal.lines.append(ProposedLine(variant, qty, t.price_cents, reason))
        if proposal.lines:
            proposals.append(proposal)
    return proposals


def _due_for_review(brand_id: int, found: list[Need], business_date: date) -> list[Need]:
    """A SKU suggested to a location less than its rule's review cadence ago waits for its next
    review (only the SKUs that need an order are looked up)."""
    if not found:
        return found
    last = {
        (location_id, variant_id): day
        for location_id, variant_id, day in db.session.execute(
            select(
                Suggestion.location_id,
                SuggestionLine.variant_id,
                func.max(Suggestion.business_date),
            )
            .join(SuggestionLine, SuggestionLine.suggestion_id == Suggestion.id)
            .where(
                Suggestion.brand_id == brand_id,
                Suggestion.location_id.in_({n.location_id for n in found}),
                Suggestion.business_date < business_date,
                Suggestion.status != SuggestionStatus.DISMISSED,
            )
            .group_by(Suggestion.location_id, SuggestionLine.variant_id)
        )
    }
    due = []
    for need in found:
        previous = last.get((need.location_id, need.variant_id))
        if previous is None or (business_date - previous).days >= need.rule["review_days"]:
            due.append(need)
    return due


def _supplier_locations(org_ids: set[int]) -> dict[int, Location]:
    """Each supplier's default location (where it ships from), by the supplier's org id."""
    locations = db.session.execute(
        select(Location).where(Location.org_id.in_(org_ids), Location.is_default.is_(True))
    ).scalars()
    return {location.org_id: location for location in locations}


def scope_locations(
    brand_id: int, *, region: str | None = None, org_ids: Sequence[int] | None = None
) -> list[int]:
    """The default locations of the brand's buyers (all, one region's, or the named orgs')."""
    stmt = (
        select(Location.id)
        .join(ChannelLink, ChannelLink.buyer_org_id == Location.org_id)
        .join(Organization, Organization.id == Location.org_id)
        .where(
            ChannelLink.brand_id == brand_id,
            Location.is_default.is_(True),
            Organization.status == "active",
        )
        .order_by(Location.id)
    )
    if region:
        stmt = stmt.where(ChannelLink.region == region)
    if org_ids is not None:
        stmt = stmt.where(Location.org_id.in_(list(org_ids)))
    return list(db.session.execute(stmt).scalars())
