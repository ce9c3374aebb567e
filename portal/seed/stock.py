"""Demo stock: a default location for every demo org and its opening stock.

Quantities come from each SKU's position in its brand's catalog (ordered by SKU) and the org's
id, never from chance, so every machine gets the same numbers. Brand warehouses hold every SKU of
their brand, distributors about half of each brand they carry, stores about a quarter; ACME's
warehouse also holds a few grade-B units. Opening stock goes through `apply_moves` like any other
receipt, one call per location, so the ledger and `flask inventory check` agree from the start.
A location that already has a move is left alone: a second run changes nothing.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select

from portal.catalog.models import Variant
from portal.core.access import Actor, OrgKind
from portal.extensions import db
from portal.inventory import services
from portal.inventory.models import Grade, MoveReason, StockMove
from portal.inventory.services import MoveLine
from portal.network.models import ChannelLink, Organization

OPENING_REFERENCE = "opening-stock"
GRADE_B_AT = "ACME-WH"


def _quantity(kind: str, index: int, org_id: int) -> int:
    """Opening units of the index-th SKU of a brand at an org of this kind (0: none)."""
    if kind == OrgKind.BRAND:
        return 200 + (index * 37) % 401  # 200-600 of everything
    if kind == OrgKind.DISTRIBUTOR:
        return 20 + (index * 13 + org_id) % 61 if (index + org_id) % 2 == 0 else 0  # 20-80
    return (index * 7 + org_id) % 13 if (index + org_id) % 4 == 0 else 0  # 0-12


def seed_stock() -> int:
    """Create the missing default locations and the opening stock of each location that has
    none yet; return how many moves were written."""
    system = Actor.system()
    skus: dict[int, list[int]] = defaultdict(list)
    for variant_id, brand_id in db.session.execute(
        select(Variant.id, Variant.brand_id).order_by(Variant.brand_id, Variant.sku)
    ):
        skus[brand_id].append(variant_id)
    carried: dict[int, set[int]] = defaultdict(set)
    for buyer_id, brand_id in db.session.execute(
        select(ChannelLink.buyer_org_id, ChannelLink.brand_id)
    ):
        carried[buyer_id].add(brand_id)
    orgs = db.session.execute(select(Organization).order_by(Organization.id)).scalars()
    written = 0
    for org in orgs:
        location = services.default_location(org)
        stocked = db.session.execute(
            select(StockMove.id).where(StockMove.location_id == location.id).limit(1)
        ).first()
        if stocked:
            continue
        brand_ids = {org.id} if org.kind == OrgKind.BRAND else carried[org.id]
        lines = [
            MoveLine(location.id, variant_id, qty)
            for brand_id in sorted(brand_ids)
            for index, variant_id in enumerate(skus[brand_id])
            if (qty := _quantity(org.kind, index, org.id))
        ]
        if location.code == GRADE_B_AT:
            lines += [
                MoveLine(location.id, variant_id, 1 + index % 5, grade=Grade.B)
                for index, variant_id in enumerate(skus[org.id][::97])
            ]
        moves = services.apply_moves(
            system, lines, reason=MoveReason.RECEIPT, reference=OPENING_REFERENCE, note="Opening"
        )
        written += len(moves)
    db.session.flush()
    return written
