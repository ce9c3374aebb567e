"""Stock fixtures: a fresh brand (tests.support.policy.build_network) with one default location per
org, inside the test's rollback.

    PX (HQ)      location PX-WH     warehouse
    ├── PXA1     location PXA1-WH   warehouse (distributor)
    │   └── PXS1 location PXS1-ST   store shelf
    └── PXA2     location PXA2-WH   warehouse (distributor)
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from portal.catalog.models import Variant
from portal.core.access import Actor, Role
from portal.extensions import db
from portal.inventory import services
from portal.inventory.models import (
    Grade,
    Location,
    LocationKind,
    MoveReason,
    StockLevel,
    StockMove,
)
from tests.support.policy import Net, build_network


@dataclass
class Stock:
    net: Net
    hq_wh: Location
    a1_wh: Location
    s1_shelf: Location
    a2_wh: Location

    def variant(self, sku: str) -> Variant:
        return self.net.variants[sku]

    def receive(self, location: Location, sku: str, qty: int, grade: str = Grade.A) -> None:
        """Goods in from outside the network (what a production receipt does)."""
        services.apply_moves(
            Actor.system(),
            [services.MoveLine(location.id, self.variant(sku).id, qty, grade=grade)],
            reason=MoveReason.RECEIPT,
            reference="test-receipt",
        )

    def level(self, location: Location, sku: str, grade: str = Grade.A) -> tuple[int, int] | None:
        """(on_hand, reserved) as the database has it now, or None when there is no level."""
        row = db.session.execute(
            select(StockLevel.on_hand, StockLevel.reserved).where(
                StockLevel.location_id == location.id,
                StockLevel.variant_id == self.variant(sku).id,
                StockLevel.grade == grade,
            )
        ).one_or_none()
        return None if row is None else (row[0], row[1])

    def moves(self, location: Location | None = None, sku: str | None = None) -> list[StockMove]:
        """This brand's ledger rows (the demo seed has stock of its own)."""
        stmt = (
            select(StockMove).where(StockMove.brand_id == self.net.brand.id).order_by(StockMove.id)
        )
        if location is not None:
            stmt = stmt.where(StockMove.location_id == location.id)
        if sku is not None:
            stmt = stmt.where(StockMove.variant_id == self.variant(sku).id)
        return list(db.session.execute(stmt).scalars())

    def move_count(self) -> int:
        return db.session.execute(
            select(func.count(StockMove.id)).where(StockMove.brand_id == self.net.brand.id)
        ).scalar_one()

    def admin(self, short: str) -> Actor:
        """The actor allowed to adjust an org's stock: distributor admin or store owner."""
        kind = "store" if short.startswith("S") else "distributor"
        return self.net.actor(
            short, Role.STORE_OWNER if kind == "store" else Role.DISTRIBUTOR_ADMIN
        )


def _location(org_id: int, code: str, kind: str) -> Location:
    return services.ensure_default_location(org_id, code=code, name=code.title(), kind=kind)


@pytest.fixture
def net(app) -> Net:
    built = build_network()
    db.session.commit()
    return built


@pytest.fixture
def stock(net: Net) -> Stock:
    """The network's locations, committed to the test's savepoint, with no stock yet."""
    built = Stock(
        net=net,
        hq_wh=_location(net.brand.id, "PX-WH", LocationKind.WAREHOUSE),
        a1_wh=_location(net.org_id("A1"), "PXA1-WH", LocationKind.WAREHOUSE),
        s1_shelf=_location(net.org_id("S1"), "PXS1-ST", LocationKind.STORE),
        a2_wh=_location(net.org_id("A2"), "PXA2-WH", LocationKind.WAREHOUSE),
    )
    db.session.commit()
    return built
