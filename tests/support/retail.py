"""Consumer prices for the storefront tests: a policy addressed to everyone of a test brand
(tests/support/policy.py) with official, outlet and employee prices typed as HQ types them; and
a whole shop selling online (`build_retail_shop`) for the checkout and order tests."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sqlalchemy import func, select

from portal.core.access import Actor, OrgKind, Role
from portal.core.db import utcnow
from portal.extensions import db
from portal.inventory.ledger import MoveLine, apply_moves
from portal.inventory.models import Grade, Location, MoveReason, StockLevel
from portal.inventory.services import default_location
from portal.members import membership
from portal.network import services as network
from portal.network.models import Organization
from portal.policy import services
from portal.policy.models import PolicyVersion, Section
from portal.storefront import consumers, stock
from portal.storefront.models import Consumer, ConsumerAddress
from tests.support.policy import Net, build_network


def retail_rules(
    *, official: str = "", outlet: str = "", employee: str = "", floor: str = "", price: str = ""
) -> list[services.RuleInput]:
    return [
        *services.parse_rule_lines(Section.PRICE, price, label="prices"),
        *services.parse_rule_lines(Section.FLOOR, floor, label="floors"),
        *services.parse_rule_lines(Section.OFFICIAL, official, label="official_prices"),
        *services.parse_rule_lines(Section.OUTLET, outlet, label="outlet_prices"),
        *services.parse_rule_lines(Section.EMPLOYEE, employee, label="employee_prices"),
    ]


def write_retail(
    net: Net,
    code: str = "RETAIL",
    *,
    kind: str = "all",
    member_terms: dict | None = None,
    effective_from=None,
    **sections,
) -> PolicyVersion:
    """A draft retail policy (`sections` as `retail_rules`), with the consumer programme's
    `member_terms` if given (policy/consumer_terms.py)."""
    values = ["A"] if kind == "level" else []
    data = services.PolicyInput(
        code=code,
        name=f"Retail {code}",
        audience_kind=kind,
        audience_values=values,
        effective_from=effective_from or utcnow(),
        member_terms=member_terms or {},
        rules=retail_rules(**sections),
    )
    return services.create_policy(net.hq, net.brand.id, data)


def publish_retail(net: Net, code: str = "RETAIL", **kwargs) -> PolicyVersion:
    return services.publish_policy(net.hq, write_retail(net, code, **kwargs))


# -- a shop that sells online ----------------------------------------------------------------------

# short code, name, latitude, longitude, pickup, delivery, enabled, safety stock, units by SKU
RETAIL_STORES = (
    ("JA", "Jing'an", 31.2235, 121.4453, True, True, True, 2, {"TEE-BLK-M": 3, "POLO-WHT-M": 5}),
    ("LJ", "Lujiazui", 31.2397, 121.4998, True, True, True, 0, {"TEE-BLK-M": 5, "TEE-BLK-L": 2}),
    ("HQS", "Hongqiao", 31.1979, 121.3365, True, True, False, 0, {"TEE-BLK-M": 10}),
    ("XJ", "Xujiahui", 31.1955, 121.4365, False, True, True, 0, {"TEE-BLK-M": 1}),
)
WAREHOUSE_UNITS = {"TEE-BLK-M": 20, "TEE-BLK-L": 10, "POLO-WHT-M": 10, "RUN-BLK-42": 6}
NEAR_JINGAN = (31.2290, 121.4560)  # 1.2 km from Jing'an, 4.3 km from Lujiazui
# Official prices: everything at MSRP, but TEE-BLK-L at 150.00 (TEE 199.00, POLO 299.00).
OFFICIAL = "all 100%\nsku TEE-BLK-L 150"


@dataclass
class RetailShop:
    """A brand of its own selling online: stores at known points in Shanghai (`RETAIL_STORES`:
    Jing'an keeps 2 of its 3 tees for walk-ins, Hongqiao is switched off, Xujiahui delivers
    only and holds one tee), the brand's warehouse delivering, official prices (`OFFICIAL`)
    and wholesale prices for its distributors (50%)."""

    net: Net
    locations: dict[str, Location]  # by store short code, and "warehouse"

    @property
    def brand(self) -> Organization:
        return self.net.brand

    def variant_id(self, sku: str) -> int:
        return self.net.variants[sku].id

    def staff(self, short: str, role: Role = Role.STORE_STAFF, *, user_id: int | None = None):
        """A person of the store (or "HQ") acting on its consumer orders."""
        if short == "HQ":
            return dataclasses.replace(self.net.hq, user_id=user_id)
        return dataclasses.replace(self.net.actor(short, role), user_id=user_id)

    def consumer(
        self, phone: str | None = None, name: str = "Han Meimei", *, member: bool = True
    ) -> Consumer:
        """A consumer of the brand; the first one's phone is +8613800138000, the next ones'
        count up unless named. A member of the brand's programme (the outlet's door) unless
        `member=False`."""
        if phone is None:
            taken = db.session.execute(
                select(func.count(Consumer.id)).where(Consumer.brand_id == self.brand.id)
            ).scalar_one()
            phone = f"+86138{138000 + taken:08d}"
        row = Consumer(brand_id=self.brand.id, phone=phone, name=name)
        db.session.add(row)
        db.session.flush()
        if member:
            membership.join(row)
        return row

    def address(self, consumer: Consumer, point=NEAR_JINGAN) -> ConsumerAddress:
        latitude, longitude = point if point is not None else ("", "")
        return consumers.add_address(
            consumer,
            {
                "recipient": consumer.name or "Li Lei",
                "phone": "13900139000",
                "province": "Shanghai",
                "city": "Shanghai",
                "district": "Jing'an",
                "line": "1 Nanjing West Road",
                "latitude": str(latitude),
                "longitude": str(longitude),
            },
        )

    def receive(self, short: str, sku: str, qty: int) -> None:
        apply_moves(
            Actor.system(),
            [MoveLine(self.locations[short].id, self.variant_id(sku), qty)],
            reason=MoveReason.RECEIPT,
            reference="retail-receipt",
        )

    def level(self, short: str, sku: str) -> tuple[int, int]:
        """(on hand, reserved) of a SKU's grade-A units at a location."""
        row = db.session.execute(
            select(StockLevel.on_hand, StockLevel.reserved).where(
                StockLevel.location_id == self.locations[short].id,
                StockLevel.variant_id == self.variant_id(sku),
                StockLevel.grade == Grade.A,
            )
        ).one_or_none()
        return (0, 0) if row is None else (row[0], row[1])

    def levels(self) -> dict[tuple[str, str], tuple[int, int]]:
        """Every (location, SKU) this shop stocks, to show that a refusal moved nothing."""
        return {
            (short, sku): self.level(short, sku)
            for short in self.locations
            for sku in self.net.variants
        }


def build_retail_shop(prefix: str = "RS") -> RetailShop:
    net = build_network(prefix)
    publish_retail(net, f"{prefix}-RETAIL", price="all 50%", official=OFFICIAL)
    system = Actor.system()
    locations: dict[str, Location] = {}
    for short, name, lat, lon, pickup, delivery, enabled, safety, _units in RETAIL_STORES:
        link = network.add_org(
            system,
            brand_id=net.brand.id,
            kind=OrgKind.STORE,
            code=f"{prefix}{short}",
            name=name,
            region="shanghai",
            latitude=lat,
            longitude=lon,
        )
        net.links[short] = link
        location = default_location(link.buyer)
        locations[short] = location
        stock.set_online_location(
            system,
            net.brand,
            location,
            enabled=True,
            pickup=pickup,
            delivery=delivery,
            safety_stock=safety,
        )
        if not enabled:
            stock.set_online_location(system, net.brand, location, enabled=False)
    locations["warehouse"] = default_location(net.brand)
    warehouse = locations["warehouse"]
    stock.set_online_location(system, net.brand, warehouse, enabled=True, delivery=True)
    shop = RetailShop(net=net, locations=locations)
    for short, *_settings, units in RETAIL_STORES:
        for sku, qty in units.items():
            shop.receive(short, sku, qty)
    for sku, qty in WAREHOUSE_UNITS.items():
        shop.receive("warehouse", sku, qty)
    db.session.flush()
    return shop
