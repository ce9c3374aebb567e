"""A shop for ordering and replenishment tests: a fresh brand (tests.support.policy.build_network)
with a base price list, default locations and stock at HQ and at distributor A1.

    PO (HQ)     PO-WH     TEE-BLK-M 100, TEE-BLK-L 100, POLO-WHT-M 10, RUN-BLK-42 60, TOTE 0
    ├── POA1    POA1-WH   TEE-BLK-M 20                       credit 5,000.00 / 30 days
    │   └── POS1 POS1-SHELF
    └── POA2 ...                                               credit 0

Prices: everything at 50% of MSRP (TEE 99.50, POLO 149.50, RUN 299.50 case pack 6, TOTE 61.73).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sqlalchemy import select

from portal.core.access import Actor, Role
from portal.extensions import db
from portal.finance import queries as finance_queries
from portal.finance import services as finance
from portal.inventory import services as stock
from portal.inventory.models import Grade, Location, MoveReason, StockLevel
from portal.network import services as network
from portal.network.models import Organization
from portal.ordering import services
from portal.ordering.models import Order
from tests.support.policy import Net, build_network

HQ_STOCK = {"TEE-BLK-M": 100, "TEE-BLK-L": 100, "POLO-WHT-M": 10, "RUN-BLK-42": 60}


@dataclass
class Shop:
    net: Net
    locations: dict[str, Location]  # "HQ", "A1", "S1", "A2"

    def org(self, short: str) -> Organization:
        if short == "HQ":
            return self.net.brand
        return db.session.get(Organization, self.net.org_id(short))

    def buyer(self, short: str, role: Role | None = None) -> Actor:
        return self.net.actor(short, role)

    def person(self, short: str, email: str, role: Role | None = None) -> Actor:
        """A signed-in buyer (spending limits are per person)."""
        user = network.create_user(email=email, name=email.split("@")[0], password="x" * 12)
        db.session.flush()
        return dataclasses.replace(self.buyer(short, role), user_id=user.id)

    def admin(self, short: str) -> Actor:
        return self.net.actor(
            short, Role.STORE_OWNER if short.startswith("S") else Role.DISTRIBUTOR_ADMIN
        )

    @property
    def hq(self) -> Actor:
        return self.net.hq

    def receive(self, short: str, sku: str, qty: int) -> None:
        stock.apply_moves(
            Actor.system(),
            [stock.MoveLine(self.locations[short].id, self.net.variants[sku].id, qty)],
            reason=MoveReason.RECEIPT,
            reference="test-receipt",
        )

    def level(self, short: str, sku: str, grade: str = Grade.A) -> tuple[int, int]:
        row = db.session.execute(
            select(StockLevel.on_hand, StockLevel.reserved).where(
                StockLevel.location_id == self.locations[short].id,
                StockLevel.variant_id == self.net.variants[sku].id,
                StockLevel.grade == grade,
            )
        ).one_or_none()
        return (0, 0) if row is None else (row[0], row[1])

    def order(self, short: str, lines, *, actor: Actor | None = None, **kwargs) -> Order:
        actor = actor or self.buyer(short)
        link = self.net.links[short]
        return services.place_order(actor, link, services.parse_lines(lines), **kwargs)

    def balance(self, short: str) -> int:
        account = finance.ensure_account(self.net.links[short])
        return finance_queries.balance(account.id)

    def committed(self, short: str) -> int:
        account = finance.ensure_account(self.net.links[short])
        db.session.refresh(account)
        return account.committed_cents


def build_shop() -> Shop:
    net = build_network("PO")
    net.publish("PO-BASE", price="all 50%")
    locations = {"HQ": stock.default_location(net.brand)}
    for short in ("A1", "S1", "A2"):
        locations[short] = stock.default_location(db.session.get(Organization, net.org_id(short)))
    built = Shop(net=net, locations=locations)
    for sku, qty in HQ_STOCK.items():
        built.receive("HQ", sku, qty)
    built.receive("A1", "TEE-BLK-M", 20)
    db.session.commit()
    return built
