"""The stock API as an ERP or POS uses it: the caller's locations, levels at one of them, and
adjustments at its own."""

from __future__ import annotations

from sqlalchemy import select

from portal.catalog.models import Variant
from portal.extensions import db
from portal.inventory.models import Grade, Location, StockLevel, StockMove
from tests.support.services import org


def _bearer(client, email: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", json={"email": email, "password": "demo1234"})
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def _level(code: str, brand: str = "ACME") -> StockLevel:
    """The first grade-A level of the brand at a location (by SKU)."""
    return db.session.execute(
        select(StockLevel)
        .join(Location, Location.id == StockLevel.location_id)
        .join(Variant, Variant.id == StockLevel.variant_id)
        .where(
            Location.code == code,
            StockLevel.brand_id == org(brand).id,
            StockLevel.grade == Grade.A,
        )
        .order_by(Variant.sku)
        .limit(1)
    ).scalar_one()


def _adjust(client, headers, **overrides):
    body = {"location": "S1-SHELF", "sku": _level("S1-SHELF").variant.sku, "delta": 4}
    body.update({"reason": "found", "note": "Found in the back room"})
    body.update(overrides)
    return client.post("/api/v1/stock/adjustments", json=body, headers=headers)


def test_locations_are_the_callers_own_and_those_below_it(client):
    body = client.get("/api/v1/locations", headers=_bearer(client, "dist1@demo.test")).get_json()
    codes = [item["code"] for item in body["items"]]
    assert codes[0] == "D1-WH"
    assert {"S1-SHELF", "S3-SHELF", "S4-SHELF", "L1-SHELF"} <= set(codes)
    assert "S2-SHELF" not in codes and "ACME-WH" not in codes
    assert body["total"] == len(codes)
    first = body["items"][0]
    assert first == {
        "code": "D1-WH",
        "org": "D1",
        "kind": "warehouse",
        "name": first["name"],
        "is_own": True,
    }
    store = client.get("/api/v1/locations", headers=_bearer(client, "store1@demo.test"))
    assert [item["code"] for item in store.get_json()["items"]] == ["S1-SHELF"]
    paged = client.get(
        "/api/v1/locations?per_page=2&page=2", headers=_bearer(client, "hq@demo.test")
    ).get_json()
    assert (paged["page"], paged["per_page"], len(paged["items"])) == (2, 2, 2)


def test_stock_at_a_location_has_levels_and_hides_other_brands_from_orgs_above(client):
    level = _level("D1-WH", "LUMI")
    own = client.get(
        f"/api/v1/stock?location=d1-wh&q={level.variant.sku}",
        headers=_bearer(client, "dist1@demo.test"),
    ).get_json()
    assert own["location"] == "D1-WH"
    assert own["items"] == [
        {
            "sku": level.variant.sku,
            "grade": "A",
            "on_hand": level.on_hand,
            "reserved": level.reserved,
            "available": level.on_hand - level.reserved,
        }
    ]
    hq = client.get(
        "/api/v1/stock?location=D1-WH&per_page=200", headers=_bearer(client, "hq@demo.test")
    ).get_json()
    assert hq["total"] > 0
    assert all(item["sku"].startswith("ACME-") for item in hq["items"])
    hidden = client.get(
        f"/api/v1/stock?location=D1-WH&q={level.variant.sku}",
        headers=_bearer(client, "hq@demo.test"),
    ).get_json()
    assert hidden["items"] == []


def test_stock_of_a_location_one_cannot_see_is_not_found(client):
    headers = _bearer(client, "dist1@demo.test")
    response = client.get("/api/v1/stock?location=S2-SHELF", headers=headers)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    missing = client.get("/api/v1/stock", headers=headers)
    assert missing.status_code == 422
    assert "location" in missing.get_json()["error"]["fields"]


def test_an_adjustment_returns_the_move_and_the_new_level(client):
    level = _level("S1-SHELF")
    on_hand, reserved = level.on_hand, level.reserved
    response = _adjust(client, _bearer(client, "store1@demo.test"))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["move"]["sku"] == level.variant.sku
    assert (body["move"]["grade"], body["move"]["on_hand_delta"], body["move"]["reason"]) == (
        "A",
        4,
        "found",
    )
    assert body["level"] == {
        "sku": level.variant.sku,
        "grade": "A",
        "on_hand": on_hand + 4,
        "reserved": reserved,
        "available": on_hand + 4 - reserved,
    }
    move = db.session.get(StockMove, body["move"]["id"])
    assert move.note == "Found in the back room"


def test_adjustment_errors_name_the_field_and_change_nothing(client):
    headers = _bearer(client, "store1@demo.test")
    level = _level("S1-SHELF")
    before = (level.on_hand, level.reserved)
    cases = [
        ({"delta": 0}, "delta"),
        ({"delta": "lots"}, "delta"),
        ({"sku": "NOPE-1"}, "sku"),
        ({"sku": _level("LUMI-WH", "LUMI").variant.sku}, "sku"),  # not carried by S1
        ({"note": ""}, "note"),
        ({"note": "   "}, "note"),
        ({"reason": "sale"}, "reason"),
    ]
    for overrides, field in cases:
        response = _adjust(client, headers, **overrides)
        assert response.status_code == 422, (overrides, response.get_json())
        error = response.get_json()["error"]
        assert field in error["fields"], (overrides, error)
    without_note = {"location": "S1-SHELF", "sku": level.variant.sku, "delta": 1}
    response = client.post("/api/v1/stock/adjustments", json=without_note, headers=headers)
    assert response.status_code == 422
    assert "note" in response.get_json()["error"]["fields"]
    db.session.refresh(level)
    assert (level.on_hand, level.reserved) == before


def test_taking_away_more_than_is_available_is_insufficient_stock(client):
    level = _level("S1-SHELF")
    response = _adjust(
        client, _bearer(client, "store1@demo.test"), delta=-(level.on_hand + 1), reason="adjustment"
    )
    assert response.status_code in (409, 422)
    error = response.get_json()["error"]
    assert error["code"] == "insufficient_stock"
    assert error["available"] == level.on_hand - level.reserved
    assert "delta" in error["fields"]


def test_adjusting_another_orgs_location_is_not_found_and_one_below_is_forbidden(client):
    sku = _level("D1-WH").variant.sku
    hidden = _adjust(client, _bearer(client, "dist2@demo.test"), location="D1-WH", sku=sku)
    assert hidden.status_code == 404
    above = _adjust(client, _bearer(client, "hq@demo.test"), location="D1-WH", sku=sku)
    assert above.status_code == 403
    assert above.get_json()["error"]["code"] == "forbidden"
    staff = _adjust(client, _bearer(client, "staff1@demo.test"))
    assert staff.status_code == 403


def test_the_stock_api_is_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert {"/api/v1/locations", "/api/v1/stock", "/api/v1/stock/adjustments"} <= set(spec["paths"])
    adjust = spec["paths"]["/api/v1/stock/adjustments"]["post"]
    assert "201" in adjust["responses"]
    assert {"AdjustmentIn", "AdjustmentOut", "LevelOut", "LocationPage"} <= set(
        spec["components"]["schemas"]
    )
