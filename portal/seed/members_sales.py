"""The demo's private sales (内购会) of a brand's employee store, at its warehouse: one open now
(a grade-B item and an item sold only in the sale), and one opening tomorrow, to show the
countdown. Both published, so their units are set aside. Get-or-create by code, like the rest
of the demo: seeding twice changes nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal.catalog.models import Variant
from portal.core.access import Actor
from portal.core.db import utcnow
from portal.extensions import db
from portal.inventory import services as inventory
from portal.inventory.models import Grade, StockLevel
from portal.members import private_sales
from portal.members.sale_models import PrivateSale, SaleAudience
from portal.network.models import Organization
from portal.storefront.catalog import price_variants
from portal.storefront.models import OnlineLocation, Tier

NOW_CODE, NEXT_CODE = "NEIGOU-NOW", "NEIGOU-NEXT"


def _levels(location_id: int, grade: str, at_least: int) -> list[StockLevel]:
    return list(
        db.session.execute(
            select(StockLevel)
            .where(
                StockLevel.location_id == location_id,
                StockLevel.grade == grade,
                StockLevel.on_hand - StockLevel.reserved >= at_least,
            )
            .order_by(StockLevel.variant_id)
            .limit(200)
        ).scalars()
    )


def _sku(variant_id: int) -> str:
    return db.session.execute(select(Variant.sku).where(Variant.id == variant_id)).scalar_one()


def seed_private_sale(brand: Organization) -> int:
    """Create the brand's demo sales that are missing; return how many were created. Nothing
    when its warehouse does not sell online or holds nothing to set aside."""
    system = Actor.system()
    location = inventory.default_location(brand)
    online = db.session.execute(
        select(OnlineLocation).where(
            OnlineLocation.brand_id == brand.id,
            OnlineLocation.location_id == location.id,
            OnlineLocation.is_enabled.is_(True),
        )
    ).scalar_one_or_none()
    if online is None:
        return 0
    keep = online.safety_stock
    grade_b = _levels(location.id, Grade.B, keep + 2)
    grade_a = _levels(location.id, Grade.A, keep + 20)
    listed = price_variants(brand.id, Tier.EMPLOYEE, [level.variant_id for level in grade_a])
    only_here = [level for level in grade_a if level.variant_id not in listed]
    if not grade_b or len(only_here) < 2:
        return 0
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    plans = (
        (
            NOW_CODE,
            "员工内购会 · 本周",
            now - timedelta(hours=1),
            now + timedelta(days=14),
            SaleAudience.FRIENDS,
            [(grade_b[0], Grade.B, 2, None), (only_here[0], Grade.A, 10, 2)],
        ),
        (
            NEXT_CODE,
            "员工内购会 · 明日开场",
            now + timedelta(days=1),
            now + timedelta(days=4),
            SaleAudience.EMPLOYEES,
            [(only_here[1], Grade.A, 10, 3)],
        ),
    )
    created = 0
    for code, name, starts_at, ends_at, audience, items in plans:
        known = db.session.execute(
            select(PrivateSale.id).where(PrivateSale.brand_id == brand.id, PrivateSale.code == code)
        ).first()
        if known is not None:
            continue
        sale = private_sales.create_sale(
            system,
            brand,
            private_sales.SaleInput(
                code=code,
                name=name,
                description="员工价 · 每人限购",
                starts_at=starts_at,
                ends_at=ends_at,
                audience=audience,
                location_id=location.id,
                units_per_person=6,
            ),
        )
        for level, grade, units, limit in items:
            available = level.on_hand - level.reserved - keep
            private_sales.add_item(
                system,
                sale,
                private_sales.ItemInput(
                    sku=_sku(level.variant_id),
                    grade=grade,
                    price_cents=4_900 if grade == Grade.B else 9_900,
                    set_aside_qty=min(units, available),
                    limit_per_person=limit,
                ),
            )
        private_sales.publish_sale(system, sale)
        created += 1
    return created
