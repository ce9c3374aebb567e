"""Delivery routing on a fixture of stores at known points in Shanghai and Hangzhou: the nearest
enabled delivery store with every line after safety stock, else the brand's warehouse, else a
split when configured, else a refusal naming what is short."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from portal.catalog.models import Category, Product, Variant
from portal.core.access import Actor, OrgKind
from portal.core.errors import ValidationFailed
from portal.extensions import db
from portal.inventory.models import Location, MoveReason
from portal.inventory.services import MoveLine, apply_moves, default_location
from portal.network import services as network
from portal.network.models import Organization, OrgStatus
from portal.storefront import stock
from portal.storefront.geo import CoordinatesOutOfRange, haversine_km
from portal.storefront.routing import (
    Candidate,
    CannotRoute,
    plan_route,
    route_delivery,
)

# name, code, region, latitude, longitude, pickup, delivery, enabled, safety, units of V1, V2
STORES = [
    ("Jing'an Temple", "GSH1", "shanghai", 31.2235, 121.4453, True, True, True, 2, 3, 7),
    ("Lujiazui", "GSH2", "shanghai", 31.2397, 121.4998, False, True, True, 0, 5, 5),
    ("Xujiahui", "GSH3", "shanghai", 31.1955, 121.4365, True, False, True, 0, 10, 10),
    ("Hongqiao", "GSH4", "shanghai", 31.1979, 121.3365, True, True, False, 0, 10, 10),
    ("West Lake", "GHZ1", "hangzhou", 30.2590, 120.1490, True, True, True, 0, 2, 0),
    ("Binjiang", "GHZ2", "hangzhou", 30.2084, 120.2119, True, True, True, 1, 4, 4),
]
WAREHOUSE_UNITS = {"A": (20, 1), "B": (3, 0)}

NANJING_WEST_RD = (31.2290, 121.4560)  # 1.2 km from Jing'an Temple, 4.3 km from Lujiazui
NEAR_XUJIAHUI = (31.1940, 121.4370)
WULIN_HANGZHOU = (30.2750, 120.1640)  # 2.3 km from West Lake, 8.7 km from Binjiang


@dataclass
class GeoBrand:
    """A brand of its own (no demo stock or online location can interfere), two SKUs."""

    brand: Organization
    v1: Variant
    v2: Variant
    locations: dict[str, Location]  # by store name, and "warehouse"

    def name_of(self, location_id: int) -> str:
        return next(n for n, loc in self.locations.items() if loc.id == location_id)

    def names(self, plan) -> list[str]:
        return [self.name_of(leg.location_id) for leg in plan.legs]


def build_geo_brand() -> GeoBrand:
    system = Actor.system()
    brand = network.create_brand(system, code="GEO", name="Geo Apparel")
    category = Category(brand_id=brand.id, code="TEE", name="Tees")
    db.session.add(category)
    db.session.flush()
    product = Product(
        brand_id=brand.id, code="GEO-TEE", name="Tee", category_id=category.id, msrp_cents=9900
    )
    db.session.add(product)
    db.session.flush()
    v1 = Variant(brand_id=brand.id, product_id=product.id, sku="GEO-TEE-W-M", color="W", size="M")
    v2 = Variant(brand_id=brand.id, product_id=product.id, sku="GEO-TEE-B-L", color="B", size="L")
    db.session.add_all([v1, v2])
    db.session.flush()
    locations: dict[str, Location] = {}
    lines: list[MoveLine] = []
    for name, code, region, lat, lon, pickup, delivery, enabled, safety, u1, u2 in STORES:
        link = network.add_org(
            system,
            brand_id=brand.id,
            kind=OrgKind.STORE,
            code=code,
            name=name,
            region=region,
            latitude=lat,
            longitude=lon,
        )
        location = default_location(link.buyer)
        locations[name] = location
        lines += [MoveLine(location.id, v.id, u) for v, u in ((v1, u1), (v2, u2)) if u]
        stock.set_online_location(
            system,
            brand,
            location,
            enabled=True,
            pickup=pickup,
            delivery=delivery,
            safety_stock=safety,
        )
        if not enabled:
            stock.set_online_location(system, brand, location, enabled=False)
    warehouse = default_location(brand)
    locations["warehouse"] = warehouse
    for grade, units in WAREHOUSE_UNITS.items():
        lines += [
            MoveLine(warehouse.id, v.id, u, grade=grade)
            for v, u in zip((v1, v2), units, strict=True)
            if u
        ]
    stock.set_online_location(system, brand, warehouse, enabled=True, delivery=True)
    apply_moves(system, lines, reason=MoveReason.RECEIPT, reference="geo-opening")
    db.session.flush()
    return GeoBrand(brand, v1, v2, locations)


@pytest.fixture
def geo(app) -> GeoBrand:
    return build_geo_brand()


def test_nearest_store_with_every_line_gets_the_order(geo):
    plan = route_delivery(geo.brand, {geo.v1.id: 1}, *NANJING_WEST_RD)
    assert geo.names(plan) == ["Jing'an Temple"]
    assert not plan.is_split
    leg = plan.legs[0]
    assert leg.distance_km == pytest.approx(1.2, abs=0.1)
    assert leg.lines == {(geo.v1.id, "A"): 1}


def test_safety_stock_is_kept_back_so_the_next_store_ships(geo):
    # Jing'an holds 3 of V1 but keeps 2 for walk-in customers: 1 sells online.
    plan = route_delivery(geo.brand, {geo.v1.id: 2}, *NANJING_WEST_RD)
    assert geo.names(plan) == ["Lujiazui"]


def test_pickup_only_and_disabled_stores_never_ship(geo):
    # Xujiahui (pickup only) and Hongqiao (switched off) are nearer; both hold 10.
    plan = route_delivery(geo.brand, {geo.v1.id: 2}, *NEAR_XUJIAHUI)
    assert geo.names(plan) == ["Lujiazui"]


def test_a_store_missing_one_line_is_passed_over(geo):
    plan = route_delivery(geo.brand, {geo.v1.id: 1, geo.v2.id: 1}, *WULIN_HANGZHOU)
    assert geo.names(plan) == ["Binjiang"]
    assert plan.legs[0].distance_km == pytest.approx(8.7, abs=0.5)


def test_reserved_units_do_not_count(geo):
    system = Actor.system()
    lujiazui = geo.locations["Lujiazui"]
    apply_moves(
        system, [MoveLine(lujiazui.id, geo.v1.id, reserved_delta=4)], reason=MoveReason.RESERVE
    )
    plan = route_delivery(geo.brand, {geo.v1.id: 2}, *NANJING_WEST_RD)
    assert geo.names(plan) == ["Binjiang"]


def test_re_routing_skips_the_locations_already_offered(geo):
    binjiang = geo.locations["Binjiang"]
    plan = route_delivery(
        geo.brand, {geo.v1.id: 1, geo.v2.id: 1}, *WULIN_HANGZHOU, exclude={binjiang.id}
    )
    # The next nearest with both lines is in Shanghai: Jing'an lies west of Lujiazui.
    assert geo.names(plan) == ["Jing'an Temple"]
    assert plan.legs[0].distance_km > 150


def test_no_store_has_enough_so_the_warehouse_ships(geo):
    plan = route_delivery(geo.brand, {geo.v1.id: 6}, *NANJING_WEST_RD)
    assert geo.names(plan) == ["warehouse"]
    assert plan.legs[0].is_warehouse


def test_grade_b_lines_come_from_where_grade_b_is(geo):
    plan = route_delivery(geo.brand, {(geo.v1.id, "B"): 2}, *WULIN_HANGZHOU)
    assert geo.names(plan) == ["warehouse"]


def test_a_suspended_store_never_ships(geo):
    jingan = geo.locations["Jing'an Temple"]
    db.session.get(Organization, jingan.org_id).status = OrgStatus.SUSPENDED
    db.session.flush()
    plan = route_delivery(geo.brand, {geo.v1.id: 1}, *NANJING_WEST_RD)
    assert geo.names(plan) == ["Lujiazui"]


def test_scattered_lines_are_refused_without_split(geo):
    # 8 of V2: Jing'an and Lujiazui hold 5 each, Binjiang 3, the warehouse 1.
    with pytest.raises(CannotRoute) as refused:
        route_delivery(geo.brand, {geo.v2.id: 8}, *NANJING_WEST_RD)
    error = refused.value
    assert error.code == "cannot_route"
    assert error.fields == {"GEO-TEE-B-L": "Only 5 can be sold."}
    assert "GEO-TEE-B-L only 5" in error.message
    assert error.extra["available"] == {"GEO-TEE-B-L": 5}


def test_split_takes_the_fewest_locations_nearest_first(geo, app):
    app.config["ROUTING_ALLOW_SPLIT"] = True
    try:
        plan = route_delivery(geo.brand, {geo.v2.id: 8}, *NANJING_WEST_RD)
    finally:
        app.config.pop("ROUTING_ALLOW_SPLIT")
    assert plan.is_split
    assert geo.names(plan) == ["Jing'an Temple", "Lujiazui"]
    assert [leg.lines for leg in plan.legs] == [{(geo.v2.id, "A"): 5}, {(geo.v2.id, "A"): 3}]


def test_split_refuses_more_than_the_whole_pool(geo):
    with pytest.raises(CannotRoute) as refused:
        route_delivery(geo.brand, {geo.v2.id: 30, geo.v1.id: 1}, *NANJING_WEST_RD, allow_split=True)
    # Delivery locations only (Xujiahui picks up): 5 + 5 + 3 + 1.
    assert refused.value.fields == {"GEO-TEE-B-L": "Only 14 can be sold."}


def test_lines_in_stock_but_never_together_say_so(geo):
    # Only the warehouse holds 6 of V1, but it has 1 of V2; the stores with V2 lack V1.
    with pytest.raises(CannotRoute) as refused:
        route_delivery(geo.brand, {geo.v1.id: 6, geo.v2.id: 2}, *NANJING_WEST_RD)
    assert refused.value.message == "No single location can ship every line of this order."
    assert set(refused.value.fields) == {"GEO-TEE-W-M", "GEO-TEE-B-L"}
    assert refused.value.extra["available"] == {"GEO-TEE-W-M": 20, "GEO-TEE-B-L": 5}


def test_more_than_any_location_holds_names_how_many_can_be_sold(geo):
    with pytest.raises(CannotRoute) as refused:
        route_delivery(geo.brand, {geo.v1.id: 21}, *NANJING_WEST_RD)
    assert refused.value.fields == {"GEO-TEE-W-M": "Only 20 can be sold."}


@pytest.mark.parametrize(
    ("point", "field"),
    [((91, 121.0), "latitude"), ((31.2, -181), "longitude"), (("x", 121.0), "latitude")],
)
def test_coordinates_out_of_range_are_refused(geo, point, field):
    with pytest.raises(CoordinatesOutOfRange) as refused:
        route_delivery(geo.brand, {geo.v1.id: 1}, *point)
    assert field in refused.value.fields
    assert refused.value.code == "coordinates_out_of_range"


def test_bad_lines_are_refused_naming_the_field(geo):
    with pytest.raises(ValidationFailed) as refused:
        route_delivery(geo.brand, {geo.v1.id: 0}, *NANJING_WEST_RD)
    assert refused.value.fields == {"qty": "A whole number from 1 to 10000."}


def test_plan_route_on_plain_values():
    lines = {(1, "A"): 2}
    near_empty = Candidate(10, False, 1.0, {(1, "A"): 1})
    far_full = Candidate(11, False, 9.0, {(1, "A"): 5})
    no_point = Candidate(12, False, None, {(1, "A"): 9})
    warehouse = Candidate(13, True, None, {(1, "A"): 9})
    plan = plan_route([warehouse, no_point, far_full, near_empty], lines, allow_split=False)
    assert [leg.location_id for leg in plan.legs] == [11]
    plan = plan_route([warehouse, no_point, near_empty], lines, allow_split=False)
    assert [leg.location_id for leg in plan.legs] == [13]
    assert plan_route([no_point, near_empty], lines, allow_split=False) is None
    split = plan_route(
        [near_empty, Candidate(14, False, 3.0, {(1, "A"): 1})], lines, allow_split=True
    )
    assert [leg.location_id for leg in split.legs] == [10, 14]


def test_haversine_matches_a_known_distance():
    # Shanghai People's Square to Hangzhou West Lake: about 165 km as the crow flies.
    assert haversine_km(31.2304, 121.4737, 30.2590, 120.1490) == pytest.approx(165, abs=3)
    assert haversine_km(10, 20, 10, 20) == 0


def test_the_fixture_points_are_where_the_tests_say(geo):
    store = db.session.execute(select(Organization).where(Organization.code == "GSH1")).scalar_one()
    assert haversine_km(*NANJING_WEST_RD, store.latitude, store.longitude) < 1.5
