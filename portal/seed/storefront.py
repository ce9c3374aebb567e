"""The demo storefronts: ACME's and LUMI's consumer prices (a policy addressed to everyone), the
shops' look, last season's ACME T-shirts moved to the outlet, stores in Beijing, Shanghai and
Hangzhou selling online with ACME's warehouse delivering, and a few consumers.

Every step is get-or-create, like the rest of the demo, so seeding twice changes nothing."""

from __future__ import annotations

from sqlalchemy import select

from portal.catalog.models import Product, Variant
from portal.core.access import Actor
from portal.extensions import db
from portal.inventory import services as inventory
from portal.network.models import Organization
from portal.seed.catalog import retail_policy
from portal.seed.images import seed_images
from portal.storefront import consumers, look, stock, tiers
from portal.storefront.models import Consumer, OnlineLocation, Tier

CONSUMER_PASSWORD = "demo1234"

LOOKS = {
    "ACME": ("ACME 服饰", "#0f3d5e", "#d9480f"),
    "LUMI": ("LUMI 美妆", "#5b2a86", "#c2255c"),
}
OUTLET_PRODUCTS = {"ACME": ("ACME-TEE-002",)}  # last season's tee: on to the members' outlet

# org code: pickup, delivery, safety stock (the brand's own warehouse is its HQ's location)
ONLINE = {
    "ACME": {
        "ACME": (False, True, 0),
        "S1": (True, True, 1),  # Wangfujing, Beijing
        "C1": (True, True, 1),  # Sanlitun, Beijing
        "C2": (True, True, 1),  # Shanghai
        "S6": (True, False, 2),  # Hangzhou: pickup only
    },
}

# phone, name, brand, (recipient, province, city, district, line, lat, lng)
CONSUMERS = [
    (
        "+8613800138001",
        "李娜",
        "ACME",
        ("李娜", "北京市", "北京市", "东城区", "王府井大街 88 号", 39.9139, 116.4103),
    ),
    (
        "+8613900139002",
        "王芳",
        "ACME",
        ("王芳", "上海市", "上海市", "黄浦区", "南京东路 300 号", 31.2356, 121.4805),
    ),
]
EMAIL_CONSUMERS = [("shopper@acme-demo.cn", "Sam Shopper", "ACME")]


def _brand(code: str) -> Organization:
    return db.session.execute(select(Organization).where(Organization.code == code)).scalar_one()


def seed_storefront() -> int:
    """Create whatever of the demo storefronts is missing; return how many things were created."""
    system = Actor.system()
    created = 0
    for code in ("ACME", "LUMI"):
        created += retail_policy(code)
        created += seed_images(_brand(code).id)
    for code, (title, primary, accent) in LOOKS.items():
        brand = _brand(code)
        if look.find_look(brand.id) is None:
            look.set_look(system, brand.id, title=title, primary_color=primary, accent_color=accent)
            created += 1
    for code, products in OUTLET_PRODUCTS.items():
        brand = _brand(code)
        variants = list(
            db.session.execute(
                select(Variant)
                .join(Product, Product.id == Variant.product_id)
                .where(Product.brand_id == brand.id, Product.code.in_(products))
                .order_by(Variant.id)
            ).scalars()
        )
        if variants and tiers.tier_of(variants[0].id) != Tier.OUTLET:
            tiers.move_tier(system, variants, Tier.OUTLET, note="last season")
            created += len(variants)
    for brand_code, locations in ONLINE.items():
        brand = _brand(brand_code)
        for org_code, (pickup, delivery, safety) in locations.items():
            location = inventory.default_location(_brand(org_code))
            exists = db.session.execute(
                select(OnlineLocation.id).where(
                    OnlineLocation.brand_id == brand.id,
                    OnlineLocation.location_id == location.id,
                )
            ).first()
            if exists is None:
                stock.set_online_location(
                    system,
                    brand,
                    location,
                    enabled=True,
                    pickup=pickup,
                    delivery=delivery,
                    safety_stock=safety,
                )
                created += 1
    for phone, name, brand_code, address in CONSUMERS:
        brand = _brand(brand_code)
        if consumers.find_consumer_by_phone(brand, phone) is not None:
            continue
        consumer = Consumer(brand_id=brand.id, phone=phone, name=name)
        db.session.add(consumer)
        db.session.flush()
        recipient, province, city, district, line, lat, lng = address
        consumers.add_address(
            consumer,
            {
                "recipient": recipient,
                "phone": phone,
                "province": province,
                "city": city,
                "district": district,
                "line": line,
                "latitude": lat,
                "longitude": lng,
                "is_default": True,
            },
        )
        created += 1
    for email, name, brand_code in EMAIL_CONSUMERS:
        brand = _brand(brand_code)
        known = db.session.execute(
            select(Consumer.id).where(Consumer.brand_id == brand.id, Consumer.email == email)
        ).first()
        if known is None:
            consumers.sign_up_with_password(brand, email, CONSUMER_PASSWORD, name=name)
            created += 1
    db.session.flush()
    return created
