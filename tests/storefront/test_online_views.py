"""HQ's page for selling online: the brand's stores with their points and switches, one store or
a region at a time; no one but the brand's HQ sees it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.inventory.models import Location
from portal.storefront.models import OnlineLocation
from tests.storefront.test_stock import online_rows

PAGE = "/shop/ACME/hq/online-locations"


@pytest.fixture(autouse=True)
def english(client):
    """HQ chose English: pages under /shop/ are Chinese until one chooses."""
    with client.session_transaction() as session:
        session["lang"] = "en"


def _online(code: str) -> OnlineLocation | None:
    return db.session.execute(
        select(OnlineLocation)
        .join(Location, Location.id == OnlineLocation.location_id)
        .where(Location.code == code)
    ).scalar_one_or_none()


def test_hq_sees_its_warehouse_and_stores_with_their_coordinates(app, login):
    page = login("hq@demo.test").get(PAGE)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-location="ACME-WH"' in html and 'data-location="S6-SHELF"' in html
    assert "30.2741, 120.1551" in html  # Hangzhou West Lake Store
    assert 'data-location="L2-SHELF"' not in html and 'data-location="D1-WH"' not in html


def test_hq_switches_a_store_on_for_pickup_and_delivery(app, login):
    client = login("hq@demo.test")
    response = client.post(
        f"{PAGE}/S6-SHELF",
        data={"enabled": "1", "pickup": "1", "delivery": "1", "safety_stock": "2"},
    )
    assert response.status_code == 302
    row = _online("S6-SHELF")
    assert (row.is_enabled, row.pickup, row.delivery, row.safety_stock) == (True, True, True, 2)
    assert "S6-SHELF sells online." in client.get(response.headers["Location"]).get_data(
        as_text=True
    )
    client.post(f"{PAGE}/S6-SHELF", data={"safety_stock": "2"})
    assert not _online("S6-SHELF").is_enabled


def test_a_bad_safety_stock_is_shown_beside_the_store_and_changes_nothing(app, login):
    before = online_rows()
    response = login("hq@demo.test").post(
        f"{PAGE}/S6-SHELF", data={"enabled": "1", "pickup": "1", "safety_stock": "-3"}
    )
    assert response.status_code == 422
    assert "Must be between 0 and 100000 units." in response.get_data(as_text=True)
    assert online_rows() == before


def test_hq_switches_a_region_on(app, login):
    s1 = _online("S1-SHELF")
    s1_before = (s1.is_enabled, s1.safety_stock) if s1 else None
    client = login("hq@demo.test")
    response = client.post(
        f"{PAGE}/by-region",
        data={"region": "south", "pickup": "1", "delivery": "1", "safety_stock": "6"},
    )
    assert response.status_code == 302
    for code in ("S2-SHELF", "S5-SHELF"):
        row = _online(code)
        assert (row.is_enabled, row.pickup, row.delivery, row.safety_stock) == (
            True,
            True,
            True,
            6,
        )
    s1 = _online("S1-SHELF")
    assert ((s1.is_enabled, s1.safety_stock) if s1 else None) == s1_before  # north


@pytest.mark.parametrize(
    ("email", "method", "url", "status"),
    [
        ("hq2@demo.test", "GET", PAGE, 404),  # LUMI's HQ
        ("dist1@demo.test", "GET", PAGE, 404),  # below HQ: not its page
        ("store1@demo.test", "GET", PAGE, 404),
        ("dist1@demo.test", "POST", f"{PAGE}/S1-SHELF", 403),  # its role may not push stock
        ("hq2@demo.test", "POST", f"{PAGE}/S1-SHELF", 404),
        ("hq@demo.test", "POST", f"{PAGE}/L2-SHELF", 404),  # a LUMI store
        ("hq@demo.test", "POST", f"{PAGE}/D1-WH", 404),  # a distributor's warehouse
    ],
)
def test_only_the_brands_hq_reaches_the_page(app, login, email, method, url, status):
    before = online_rows()
    data = {"enabled": "1", "delivery": "1", "safety_stock": "0"}
    response = login(email).open(url, method=method, data=data)
    assert response.status_code == status
    assert online_rows() == before


def test_the_merchandiser_may_switch_but_signed_out_visitors_may_not(app, login, client):
    assert client.get(PAGE).status_code == 302
    response = login("merch@demo.test").post(
        f"{PAGE}/S1-SHELF", data={"enabled": "1", "delivery": "1", "safety_stock": "0"}
    )
    assert response.status_code == 302
    assert _online("S1-SHELF").delivery
