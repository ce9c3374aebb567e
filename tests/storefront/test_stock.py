"""Which locations sell online, set by the brand's HQ, and what they can sell after safety stock:
per SKU over the pool, and store by store near a shopper."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select

from portal.core.access import Actor
from portal.core.audit import AuditEvent
from portal.core.errors import NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.inventory.models import Location
from portal.inventory.services import default_location
from portal.storefront import stock
from portal.storefront.geo import CoordinatesOutOfRange
from portal.storefront.models import OnlineLocation
from tests.storefront.test_routing import NANJING_WEST_RD, build_geo_brand
from tests.support.services import actor_for, org


@pytest.fixture
def geo(app):
    return build_geo_brand()


def online_rows() -> list[tuple]:
    """Every online location's settings, to show that a refusal changed nothing (the demo seed
    may have switched some on)."""
    return [
        tuple(row)
        for row in db.session.execute(
            select(
                OnlineLocation.location_id,
                OnlineLocation.is_enabled,
                OnlineLocation.pickup,
                OnlineLocation.delivery,
                OnlineLocation.safety_stock,
            ).order_by(OnlineLocation.id)
        )
    ]


def _shelf(code: str) -> Location:
    return default_location(org(code))


# -- switching locations online --------------------------------------------------------------


def test_hq_enables_a_store_for_pickup_with_safety_stock(app):
    hq = actor_for("hq@demo.test")
    row = stock.set_online_location(
        hq, org("ACME"), _shelf("S1"), enabled=True, pickup=True, safety_stock="2"
    )
    assert (row.is_enabled, row.pickup, row.delivery, row.safety_stock) == (True, True, False, 2)
    assert row.enabled_by_user_id == hq.user_id
    event_row = db.session.execute(
        select(AuditEvent).where(
            AuditEvent.action == "storefront.online_location",
            AuditEvent.actor_user_id == hq.user_id,
        )
    ).scalar_one()
    assert event_row.details["location"] == "S1-SHELF"
    # Switched off and on again: one row, its settings changed.
    stock.set_online_location(hq, org("ACME"), _shelf("S1"), enabled=False)
    again = stock.set_online_location(
        hq, org("ACME"), _shelf("S1"), enabled=True, delivery=True, safety_stock=0
    )
    assert again.id == row.id and (again.pickup, again.delivery) == (False, True)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"enabled": True, "pickup": True, "safety_stock": -1}, "safety_stock"),
        ({"enabled": True, "pickup": True, "safety_stock": "two"}, "safety_stock"),
        ({"enabled": True, "pickup": True, "safety_stock": 10**9}, "safety_stock"),
        ({"enabled": True, "pickup": True, "safety_stock": True}, "safety_stock"),
        ({"enabled": True}, "pickup"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(app, kwargs, field):
    before = online_rows()
    with pytest.raises(ValidationFailed) as refused:
        stock.set_online_location(actor_for("hq@demo.test"), org("ACME"), _shelf("S1"), **kwargs)
    assert list(refused.value.fields) == [field]
    assert online_rows() == before


def test_a_warehouse_delivers_only(app):
    hq = actor_for("hq@demo.test")
    warehouse = _shelf("ACME")
    with pytest.raises(ValidationFailed) as refused:
        stock.set_online_location(hq, org("ACME"), warehouse, enabled=True, pickup=True)
    assert "pickup" in refused.value.fields
    row = stock.set_online_location(hq, org("ACME"), warehouse, enabled=True, delivery=True)
    assert row.delivery and not row.pickup


def test_a_store_without_coordinates_cannot_sell_online(app):
    store = org("S1")
    store.latitude = None
    with pytest.raises(ValidationFailed) as refused:
        stock.set_online_location(
            actor_for("hq@demo.test"), org("ACME"), _shelf("S1"), enabled=True, pickup=True
        )
    assert "location" in refused.value.fields


@pytest.mark.parametrize(
    ("email", "code", "error"),
    [
        ("hq2@demo.test", "S1", NotFound),  # another brand's HQ
        ("dist1@demo.test", "S1", PermissionDenied),  # its role may not push stock
        ("hq@demo.test", "L2", NotFound),  # a LUMI store is not in ACME's network
        ("hq@demo.test", "D1", NotFound),  # a distributor's warehouse does not sell online
    ],
)
def test_only_the_brands_hq_switches_its_own_networks_stores(app, email, code, error):
    with pytest.raises(error):
        stock.set_online_location(
            actor_for(email), org("ACME"), _shelf(code), enabled=True, delivery=True
        )


def test_the_merchandiser_may_switch_too(app):
    merch = actor_for("merch@demo.test")
    row = stock.set_online_location(merch, org("ACME"), _shelf("S6"), enabled=True, delivery=True)
    assert row.is_enabled


def test_enable_a_region_at_once_skips_stores_without_coordinates(app):
    org("S3").latitude = None
    result = stock.enable_region(
        actor_for("hq@demo.test"), org("ACME"), "North", pickup=True, delivery=True, safety_stock=7
    )
    # North: S1, S3, S4 and the flagship C1; S3 has no point.
    assert result.enabled == 3 and result.skipped == ["S3-SHELF"]
    codes = set(
        db.session.execute(
            select(Location.code)
            .join(OnlineLocation, OnlineLocation.location_id == Location.id)
            .where(OnlineLocation.is_enabled.is_(True), OnlineLocation.safety_stock == 7)
        ).scalars()
    )
    assert codes == {"S1-SHELF", "S4-SHELF", "C1-SHELF"}


def test_enable_an_unknown_region_is_refused(app):
    with pytest.raises(ValidationFailed) as refused:
        stock.enable_region(
            actor_for("hq@demo.test"), org("ACME"), "moon", pickup=True, delivery=False
        )
    assert "region" in refused.value.fields


def test_hq_lists_its_warehouse_first_then_its_stores(app):
    hq = actor_for("hq@demo.test")
    stock.set_online_location(hq, org("ACME"), _shelf("S2"), enabled=True, pickup=True)
    page = stock.list_online_locations(hq, org("ACME"))
    codes = [row.location.code for row in page.items]
    assert codes[0] == "ACME-WH" and page.items[0].is_warehouse
    assert {"S1-SHELF", "S2-SHELF", "C2-SHELF"} <= set(codes)
    assert not any(code.startswith(("D1", "L")) for code in codes)
    assert [r.is_online for r in page.items if r.location.code == "S2-SHELF"] == [True]
    south = stock.list_online_locations(hq, org("ACME"), region="south")
    assert {row.location.code for row in south.items} == {"S2-SHELF", "S5-SHELF"}
    with pytest.raises(NotFound):
        stock.list_online_locations(actor_for("dist1@demo.test"), org("ACME"))


# -- what sells online -------------------------------------------------------------------------


def test_availability_sums_the_pool_after_safety_stock(geo):
    answer = stock.availability(geo.brand, [geo.v1, geo.v2.id])
    # V1: Jing'an 3-2, Lujiazui 5, Xujiahui 10, West Lake 2, Binjiang 4-1, warehouse 20.
    assert answer[geo.v1.id].sellable == 1 + 5 + 10 + 2 + 3 + 20
    assert answer[geo.v1.id].stores == 5
    # V2: Jing'an 7-2, Lujiazui 5, Xujiahui 10, Binjiang 4-1, warehouse 1 (Hongqiao is off).
    assert answer[geo.v2.id].sellable == 5 + 5 + 10 + 3 + 1
    assert answer[geo.v2.id].stores == 4
    assert answer[geo.v1.id].stores_near is None


def test_availability_counts_pickup_stores_near_a_point(geo):
    answer = stock.availability(geo.brand, [geo.v1.id], near=NANJING_WEST_RD)
    # Jing'an (1.2 km) and Xujiahui (4.2 km); Lujiazui is near but delivers only.
    assert answer[geo.v1.id].stores_near == 2
    far = stock.availability(geo.brand, [geo.v1.id], near=NANJING_WEST_RD, radius_km=2)
    assert far[geo.v1.id].stores_near == 1


def test_availability_of_a_sku_nowhere_online_is_zero(geo):
    system = Actor.system()
    for name in ("Jing'an Temple", "Lujiazui", "Xujiahui", "Binjiang", "warehouse"):
        stock.set_online_location(system, geo.brand, geo.locations[name], enabled=False)
    answer = stock.availability(geo.brand, [geo.v2.id], near=NANJING_WEST_RD)
    assert answer[geo.v2.id] == stock.VariantAvailability(geo.v2.id, 0, 0, 0)


def test_availability_of_grade_b(geo):
    answer = stock.availability(geo.brand, [geo.v1.id], grade="B")
    assert (answer[geo.v1.id].sellable, answer[geo.v1.id].stores) == (3, 0)


def _statements(run) -> int:
    statements = []

    def count(*args, **kwargs):
        statements.append(args[2])

    engine = db.session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(statements)


def test_availability_runs_one_query_whatever_the_number_of_skus(geo):
    ids = [geo.v1.id, geo.v2.id]
    assert _statements(lambda: stock.availability(geo.brand, ids, near=NANJING_WEST_RD)) == 1


def test_stores_near_reads_a_few_circles_then_the_nearest_stores_levels(geo):
    lines = {geo.v1.id: 1, geo.v2.id: 1}
    # Two stores within 30 km: the first circle is enough.
    near = _statements(lambda: stock.stores_near(geo.brand, *NANJING_WEST_RD, lines, limit=2))
    assert near == 2
    # Asked for more stores than there are: every circle, and no query per store.
    assert _statements(lambda: stock.stores_near(geo.brand, *NANJING_WEST_RD, lines)) == 5


def test_stores_near_a_point_nearest_first_saying_which_have_everything(geo):
    stores = stock.stores_near(geo.brand, *NANJING_WEST_RD, {geo.v1.id: 2})
    assert [s.name for s in stores] == ["Jing'an Temple", "Xujiahui", "Binjiang", "West Lake"]
    assert [s.has_all for s in stores] == [False, True, True, True]
    assert stores[0].free == {(geo.v1.id, "A"): 1}
    assert stores[0].distance_km == pytest.approx(1.2, abs=0.1)
    assert stores[0].distance_km < stores[1].distance_km < stores[2].distance_km
    both = stock.stores_near(geo.brand, *NANJING_WEST_RD, {geo.v1.id: 1, geo.v2.id: 1}, limit=4)
    assert [(s.name, s.has_all) for s in both] == [
        ("Jing'an Temple", True),
        ("Xujiahui", True),
        ("Binjiang", True),
        ("West Lake", False),  # no V2
    ]


def test_stores_near_refuses_bad_input(geo):
    with pytest.raises(CoordinatesOutOfRange):
        stock.stores_near(geo.brand, 95, 121, {geo.v1.id: 1})
    with pytest.raises(ValidationFailed) as refused:
        stock.stores_near(geo.brand, *NANJING_WEST_RD, {geo.v1.id: -1})
    assert "qty" in refused.value.fields
    with pytest.raises(ValidationFailed) as refused:
        stock.stores_near(geo.brand, *NANJING_WEST_RD, {})
    assert "lines" in refused.value.fields
