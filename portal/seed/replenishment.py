"""Demo replenishment: ACME's default rule for accessories at level-A stores (reorder up to 6
once at 2 or fewer), two of S1's own rules on SKUs D1 has plenty of, D1 on auto-submit with a
rule for a SKU it has none of, a sell-out report from S1's till, and today's run for the whole
brand, so the suggestions pages have something true to show. Idempotent: rules are set (not
added) and a run is once per day."""

from __future__ import annotations

from sqlalchemy import select

from portal.catalog.models import Category, Variant
from portal.core.access import Actor
from portal.core.db import utcnow
from portal.extensions import db
from portal.inventory import services as stock
from portal.inventory.models import StockLevel
from portal.replenishment import jobs, sales, services
from portal.replenishment.models import SalesReport
from portal.replenishment.services import RuleInput
from portal.seed.lookup import org as _org

TILL = "TILL-0001"  # the demo's sell-out report


def seed_replenishment() -> int:
    """Returns 1 when it seeded, 0 when the demo already has its replenishment."""
    system = Actor.system()
    acme = _org("ACME")
    if db.session.execute(select(SalesReport.id).where(SalesReport.external_id == TILL)).first():
        return 0
    accessories = db.session.execute(
        select(Category).where(Category.brand_id == acme.id, Category.code == "ACCESSORIES")
    ).scalar_one()
    services.set_default_rule(
        system,
        acme,
        level="A",
        category=accessories,
        data=RuleInput(min_qty=2, max_qty=6, lead_days=3),
    )
    s1 = stock.default_location(_org("S1"))
    d1 = stock.default_location(_org("D1"))
    # Two SKUs D1 has plenty of: S1 keeps one between 4 and 10 and covers the other.
    plenty = list(
        db.session.execute(
            select(StockLevel)
            .where(StockLevel.location_id == d1.id, StockLevel.brand_id == acme.id)
            .where(StockLevel.on_hand - StockLevel.reserved >= 15)
            .order_by(StockLevel.variant_id)
            .limit(2)
        ).scalars()
    )
    services.set_location_rule(system, s1, plenty[0].variant, RuleInput(min_qty=4, max_qty=10))
    services.set_location_rule(
        system, s1, plenty[1].variant, RuleInput(cover_days=14, lead_days=3, safety_qty=6)
    )
    # D1 carries none of one ACME SKU yet: on auto-submit, today's run orders it from ACME.
    missing = db.session.execute(
        select(StockLevel.variant_id)
        .where(
            StockLevel.brand_id == acme.id,
            StockLevel.location_id == stock.default_location(acme).id,
        )
        .where(
            ~StockLevel.variant_id.in_(
                select(StockLevel.variant_id).where(StockLevel.location_id == d1.id)
            )
        )
        .order_by(StockLevel.variant_id)
        .limit(1)
    ).scalar_one()
    services.set_location_rule(
        system, d1, db.session.get_one(Variant, missing), RuleInput(min_qty=0, max_qty=24)
    )
    services.set_auto_submit(system, d1, acme.id, on=True)
    on_shelf = db.session.execute(
        select(StockLevel)
        .where(StockLevel.location_id == s1.id, StockLevel.brand_id == acme.id)
        .where(StockLevel.on_hand - StockLevel.reserved >= 2)
        .order_by(StockLevel.variant_id)
        .limit(1)
    ).scalar_one()
    sales.record_sales(
        system,
        s1,
        external_id=TILL,
        sold_at=utcnow(),
        lines=[{"sku": on_shelf.variant.sku, "qty": 2}],
    )
    jobs.request_run(acme.id, "brand")
    db.session.flush()
    return 1
