"""A small brand of its own for policy tests, independent of the demo seed's catalog and policies.

brand PX (HQ actor `net.hq`)
├── PXA1 distributor  level A  north   credit 5,000.00 / 30 days
│   └── PXS1 store    level A  north
├── PXA2 distributor  level A  south
├── PXB1 distributor  level B  north
├── PXB2 distributor  level B  south
└── PXX  distributor  level A  east    suspended

TOPS:  TEE  (MSRP 199.00)  TEE-BLK-M, TEE-BLK-L
       POLO (MSRP 299.00)  POLO-WHT-M
SHOES: RUN  (MSRP 599.00)  RUN-BLK-42 (case pack 6)
BAGS:  TOTE (MSRP 123.45)  TOTE-RED-OS
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from portal.catalog.models import Category, Product, Variant
from portal.core.access import ROLE_PERMISSIONS, Actor, OrgKind, Role
from portal.core.db import utcnow
from portal.extensions import db
from portal.network import services as network
from portal.network.models import ChannelLink, Organization, OrgStatus
from portal.policy import queries, services
from portal.policy.models import Notification, Policy, PolicyVersion, Section

CATALOG = {
    "TOPS": {"TEE": (19900, 1, ["BLK-M", "BLK-L"]), "POLO": (29900, 1, ["WHT-M"])},
    "SHOES": {"RUN": (59900, 6, ["BLK-42"])},
    "BAGS": {"TOTE": (12345, 1, ["RED-OS"])},
}
ORGS = (
    # code, kind, supplier, level, region, credit cents, payment days
    ("A1", "distributor", None, "A", "north", 500_000, 30),
    ("S1", "store", "A1", "A", "north", 0, 0),
    ("A2", "distributor", None, "A", "south", 0, 0),
    ("B1", "distributor", None, "B", "north", 0, 0),
    ("B2", "distributor", None, "B", "south", 0, 0),
    ("X", "distributor", None, "A", "east", 0, 0),
)


def hq_actor(brand: Organization, role: Role = Role.HQ_ADMIN) -> Actor:
    return Actor(
        org_id=brand.id,
        org_kind=OrgKind.BRAND,
        permissions=ROLE_PERMISSIONS[role],
        paths={brand.id: f"/{brand.id}/"},
        role=role,
        org_code=brand.code,
    )


@dataclass
class Net:
    brand: Organization
    hq: Actor
    links: dict[str, ChannelLink]  # by short code ("A1")
    variants: dict[str, Variant]  # by SKU

    @property
    def prefix(self) -> str:
        return self.brand.code

    def code(self, short: str) -> str:
        return f"{self.prefix}{short}"

    def org_id(self, short: str) -> int:
        return self.links[short].buyer_org_id

    def buyer(self, short: str) -> queries.Buyer:
        return queries.Buyer.of(self.links[short], self.code(short))

    def actor(self, short: str, role: Role | None = None) -> Actor:
        link = self.links[short]
        kind = OrgKind(db.session.get(Organization, link.buyer_org_id).kind)
        role = role or (Role.DISTRIBUTOR_BUYER if kind == OrgKind.DISTRIBUTOR else Role.STORE_OWNER)
        return Actor(
            org_id=link.buyer_org_id,
            org_kind=kind,
            permissions=ROLE_PERMISSIONS[role],
            paths={self.brand.id: link.path},
            role=role,
            org_code=self.code(short),
        )

    def price(self, short: str, sku: str, at: datetime | None = None) -> int | None:
        terms = queries.resolve_one(self.buyer(short), self.variants[sku], at)
        return terms.price_cents if terms.authorized else None

    def notifications(self, version: PolicyVersion | None = None) -> dict[int, int]:
        """Notifications per org id (for one version, or all of the brand's)."""
        stmt = (
            select(Notification.org_id, func.count())
            .where(Notification.brand_id == self.brand.id)
            .group_by(Notification.org_id)
        )
        if version is not None:
            stmt = stmt.where(Notification.version_id == version.id)
        return dict(db.session.execute(stmt).all())

    def policy_count(self) -> int:
        return db.session.execute(
            select(func.count(Policy.id)).where(Policy.brand_id == self.brand.id)
        ).scalar_one()

    def write(
        self,
        code: str,
        *,
        kind: str = "all",
        values: tuple[str, ...] = (),
        price: str = "",
        order: str = "",
        floor: str = "",
        exclude: str = "",
        actor: Actor | None = None,
        **fields,
    ) -> PolicyVersion:
        """A draft written as HQ types it: one text area per section."""
        rules = [
            *services.parse_rule_lines(Section.PRICE, price, label="prices"),
            *services.parse_rule_lines(Section.ORDER, order, label="order rules"),
            *services.parse_rule_lines(Section.FLOOR, floor, label="floors"),
            *services.parse_rule_lines(Section.EXCLUDE, exclude, label="exclusions"),
        ]
        fields.setdefault("effective_from", utcnow())
        data = services.PolicyInput(
            code=code,
            name=f"Policy {code}",
            audience_kind=kind,
            audience_values=[self.code(v) if kind == "orgs" else v for v in values],
            rules=rules,
            **fields,
        )
        return services.create_policy(actor or self.hq, self.brand.id, data)

    def publish(self, code: str, **kwargs) -> PolicyVersion:
        return services.publish_policy(self.hq, self.write(code, **kwargs))


def build_network(prefix: str = "PX") -> Net:
    system = Actor.system()
    brand = network.create_brand(system, code=prefix, name=f"Brand {prefix}")
    links: dict[str, ChannelLink] = {}
    for short, kind, supplier, level, region, credit, days in ORGS:
        links[short] = network.add_org(
            system,
            brand_id=brand.id,
            kind=kind,
            code=f"{prefix}{short}",
            name=f"{prefix} {short}",
            supplier=db.session.get(Organization, links[supplier].buyer_org_id)
            if supplier
            else None,
            level=level,
            region=region,
            credit_limit_cents=credit,
            payment_terms_days=days,
        )
    db.session.get(Organization, links["X"].buyer_org_id).status = OrgStatus.SUSPENDED
    variants: dict[str, Variant] = {}
    for category_code, products in CATALOG.items():
        category = Category(brand_id=brand.id, code=category_code, name=category_code.title())
        db.session.add(category)
        for product_code, (msrp, case_pack, skus) in products.items():
            product = Product(
                brand_id=brand.id,
                code=product_code,
                name=product_code.title(),
                category=category,
                season="SS26",
                msrp_cents=msrp,
                currency="CNY",
            )
            db.session.add(product)
            for suffix in skus:
                color, size = suffix.split("-")
                sku = f"{product_code}-{suffix}"
                variant = Variant(
                    brand_id=brand.id,
                    product=product,
                    sku=sku,
                    color=color,
                    size=size,
                    case_pack=case_pack,
                )
                db.session.add(variant)
                variants[sku] = variant
    db.session.flush()
    return Net(brand=brand, hq=hq_actor(brand), links=links, variants=variants)
