"""What each storefront lists (DESIGN §7): official = SKUs that never moved or moved back, with an
official price; outlet = outlet SKUs with an outlet price; employee = outlet and employee SKUs
and grade-B stock for sale online, at the employee price. Pages of 24, filters and search."""

from __future__ import annotations

import pytest

from portal.catalog.models import Category, Product, ProductStatus, Variant
from portal.core.errors import NotFound
from portal.extensions import db
from portal.inventory.models import Grade, Location, StockLevel
from portal.storefront import catalog, tiers
from portal.storefront.models import OnlineLocation, Tier
from tests.support.policy import Net, build_network
from tests.support.retail import publish_retail


@pytest.fixture
def net(app) -> Net:
    built = build_network("CL")
    db.session.commit()
    return built


def codes(brand_id: int, tier: str, **filters) -> list[str]:
    page = catalog.list_products(brand_id, tier, catalog.Filters(**filters))
    return [p.code for p in page.items]


def grade_b(net: Net, sku: str, on_hand: int, *, safety: int = 0, enabled: bool = True) -> None:
    location = Location(org_id=net.brand.id, code=f"{net.prefix}-WH-B", name="Seconds")
    db.session.add(location)
    db.session.flush()
    db.session.add(
        OnlineLocation(
            brand_id=net.brand.id,
            location_id=location.id,
            delivery=True,
            safety_stock=safety,
            is_enabled=enabled,
        )
    )
    db.session.add(
        StockLevel(
            brand_id=net.brand.id,
            location_id=location.id,
            variant_id=net.variants[sku].id,
            grade=Grade.B,
            on_hand=on_hand,
            reserved=0,
        )
    )
    db.session.flush()


def test_official_lists_priced_skus_that_never_moved(net):
    assert codes(net.brand.id, Tier.OFFICIAL) == []  # no official price yet: nothing listed
    publish_retail(net, official="category TOPS 100%\ncategory SHOES 100%")
    assert codes(net.brand.id, Tier.OFFICIAL) == ["RUN", "POLO", "TEE"]  # newest first
    tiers.move_tier(net.hq, [net.variants["POLO-WHT-M"]], Tier.OUTLET, pinned=False, note="")
    assert codes(net.brand.id, Tier.OFFICIAL) == ["RUN", "TEE"]
    net.variants["RUN-BLK-42"].product.status = ProductStatus.RETIRED
    db.session.flush()
    assert codes(net.brand.id, Tier.OFFICIAL) == ["TEE"]


def test_a_product_shows_its_lowest_listed_price(net):
    publish_retail(net, official="all 100%\nsku TEE-BLK-L 150")
    page = catalog.list_products(net.brand.id, Tier.OFFICIAL)
    tee = next(p for p in page.items if p.code == "TEE")
    assert (tee.min_cents, tee.max_cents) == (15000, 19900)


def test_outlet_lists_outlet_skus_with_an_outlet_price(net):
    publish_retail(net, official="all 100%", outlet="category TOPS 60%")
    tiers.move_tier(
        net.hq,
        [net.variants["TEE-BLK-M"], net.variants["RUN-BLK-42"]],
        Tier.OUTLET,
        pinned=False,
        note="",
    )
    assert codes(net.brand.id, Tier.OUTLET) == ["TEE"]  # RUN has no outlet price
    offer = catalog.get_offer(net.brand.id, Tier.OUTLET, "tee")
    assert offer.prices == {net.variants["TEE-BLK-M"].id: 11940}  # only the SKU that moved
    assert codes(net.brand.id, Tier.OFFICIAL) == ["TOTE", "POLO", "TEE"]  # TEE-BLK-L stayed
    official = catalog.get_offer(net.brand.id, Tier.OFFICIAL, "TEE")
    assert list(official.prices) == [net.variants["TEE-BLK-L"].id]
    with pytest.raises(NotFound):
        catalog.get_offer(net.brand.id, Tier.OUTLET, "RUN")


def test_employee_lists_outlet_and_employee_skus_and_grade_b_stock(net):
    publish_retail(net, official="all 100%", employee="all 40%")
    tiers.move_tier(net.hq, [net.variants["TEE-BLK-M"]], Tier.OUTLET, pinned=False, note="")
    tiers.move_tier(net.hq, [net.variants["RUN-BLK-42"]], Tier.EMPLOYEE, pinned=False, note="")
    assert codes(net.brand.id, Tier.EMPLOYEE) == ["RUN", "TEE"]
    grade_b(net, "TOTE-RED-OS", on_hand=3, safety=3)  # all kept back for walk-in customers
    assert "TOTE" not in codes(net.brand.id, Tier.EMPLOYEE)
    db.session.execute(
        StockLevel.__table__.update()
        .where(StockLevel.variant_id == net.variants["TOTE-RED-OS"].id)
        .values(on_hand=5)
    )
    assert codes(net.brand.id, Tier.EMPLOYEE) == ["TOTE", "RUN", "TEE"]
    assert "TOTE" in codes(net.brand.id, Tier.OFFICIAL)  # its grade-A units stay official


def test_filters_and_search(net):
    publish_retail(net, official="all 100%")
    brand = net.brand.id
    assert codes(brand, Tier.OFFICIAL, category="tops") == ["POLO", "TEE"]
    assert codes(brand, Tier.OFFICIAL, color="BLK") == ["RUN", "TEE"]
    assert codes(brand, Tier.OFFICIAL, size="L") == ["TEE"]
    assert codes(brand, Tier.OFFICIAL, min_cents=20000, max_cents=60000) == ["RUN", "POLO"]
    assert codes(brand, Tier.OFFICIAL, q="olo") == ["POLO"]
    assert codes(brand, Tier.OFFICIAL, q="ru") == ["RUN"]
    assert codes(brand, Tier.OFFICIAL, q="%") == []  # a wildcard is a character like any other
    tee = catalog.list_products(brand, Tier.OFFICIAL, catalog.Filters(size="L")).items[0]
    assert (tee.min_cents, tee.colors) == (19900, ["BLK"])


def test_pages_of_24_follow_each_other_without_repeats(net):
    category = Category(brand_id=net.brand.id, code="MANY", name="Many")
    db.session.add(category)
    db.session.flush()
    publish_retail(net, official="category MANY 50%")
    for n in range(30):
        product = Product(
            brand_id=net.brand.id,
            code=f"P{n:02d}",
            name=f"Product {n}",
            category=category,
            msrp_cents=10000 + n,
            currency="CNY",
        )
        product.variants = [
            Variant(brand_id=net.brand.id, sku=f"P{n:02d}-S", color="RED", size="S")
        ]
        db.session.add(product)
    db.session.flush()
    first = catalog.list_products(net.brand.id, Tier.OFFICIAL)
    assert len(first.items) == catalog.PER_PAGE
    assert first.next_after == first.items[-1].id
    second = catalog.list_products(net.brand.id, Tier.OFFICIAL, after=first.next_after)
    assert len(second.items) == 6 and second.next_after is None
    seen = [p.code for p in first.items + second.items]
    assert sorted(seen) == [f"P{n:02d}" for n in range(30)]


def test_a_colour_size_grid_of_the_listed_skus(net):
    publish_retail(net, official="all 100%")
    offer = catalog.get_offer(net.brand.id, Tier.OFFICIAL, "TEE")
    assert offer.grid.colors == ["BLK"]
    assert offer.grid.sizes == ["M", "L"]
    assert offer.min_cents == 19900
