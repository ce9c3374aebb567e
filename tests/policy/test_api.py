"""The catalog, prices, policies and notifications API, as an ERP or POS integration uses it."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.extensions import db
from portal.policy.models import Notification, Policy


def _bearer(client, email: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", json={"email": email, "password": "demo1234"})
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def _policy(**overrides) -> dict:
    body = {
        "code": "ACME-API",
        "name": "Named stores via the API",
        "audience_kind": "orgs",
        "audience_values": ["S3", "S4"],
        "effective_from": "2026-01-01T00:00:00+00:00",
        "min_order_cents": 150_000,
        "rules": [
            {"section": "price", "scope": "category", "target": "TOPS", "percent_bp": 4200},
            {"section": "order", "scope": "category", "target": "TOPS", "moq": 4, "multiple": 2},
        ],
    }
    body.update(overrides)
    return body


def test_catalog_is_scoped_to_the_caller_with_its_own_prices(client):
    headers = _bearer(client, "dist2@demo.test")  # level B: no outerwear
    body = client.get("/api/v1/catalog?brand=ACME&per_page=200", headers=headers).get_json()
    assert body["total"] >= 40
    assert {item["category"] for item in body["items"]} == {
        "TOPS",
        "BOTTOMS",
        "SHOES",
        "ACCESSORIES",
    }
    variant = body["items"][0]["variants"][0]
    assert set(variant) >= {
        "sku",
        "color",
        "size",
        "price_cents",
        "currency",
        "moq",
        "multiple",
        "case_pack",
        "floor_price_cents",
    }
    level_a = client.get(
        "/api/v1/catalog?brand=ACME&per_page=200", headers=_bearer(client, "dist1@demo.test")
    ).get_json()
    a_prices = {v["sku"]: v["price_cents"] for i in level_a["items"] for v in i["variants"]}
    b_prices = {v["sku"]: v["price_cents"] for i in body["items"] for v in i["variants"]}
    shared = set(a_prices) & set(b_prices)
    assert shared and all(a_prices[s] < b_prices[s] for s in shared)


def test_price_comes_with_its_explanation(client):
    headers = _bearer(client, "store1@demo.test")  # S1 has its own named-org policy
    body = client.get("/api/v1/prices/ACME-TEE-001-BLK-M?brand=ACME", headers=headers).get_json()
    assert body["price_cents"] == 13900
    rule = body["explanation"]["price"]["rule"]
    assert (rule["policy"], rule["version"], rule["scope"], rule["audience_kind"]) == (
        "ACME-S1",
        1,
        "sku",
        "orgs",
    )
    assert body["explanation"]["price"]["base_cents"] == body["explanation"]["msrp_cents"]
    assert client.get("/api/v1/prices/NOPE?brand=ACME", headers=headers).status_code == 404


def test_lumi_hq_sees_nothing_of_acme(client):
    headers = _bearer(client, "hq2@demo.test")
    assert client.get("/api/v1/catalog?brand=ACME", headers=headers).status_code == 404
    policies = client.get("/api/v1/policies?per_page=200", headers=headers).get_json()
    assert {p["code"] for p in policies["items"]} == {"LUMI-BASE"}


def test_policy_lifecycle_over_the_api(client):
    headers = _bearer(client, "hq@demo.test")
    created = client.post("/api/v1/policies", json=_policy(), headers=headers)
    assert created.status_code == 201, created.get_json()
    version = created.get_json()
    assert (version["status"], version["version"], version["audience_values"]) == (
        "draft",
        1,
        ["S3", "S4"],
    )
    changed = client.put(
        f"/api/v1/policies/{version['id']}", json=_policy(name="Renamed"), headers=headers
    )
    assert changed.status_code == 200 and changed.get_json()["name"] == "Renamed"
    published = client.post(f"/api/v1/policies/{version['id']}/publish", headers=headers)
    assert published.status_code == 202
    assert published.get_json()["job_id"]
    job = client.get(published.get_json()["job_url"], headers=headers).get_json()
    assert job["status"] == "finished"
    again = client.put(f"/api/v1/policies/{version['id']}", json=_policy(), headers=headers)
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "policy_not_editable"
    twice = client.post(f"/api/v1/policies/{version['id']}/publish", headers=headers)
    assert twice.status_code == 409
    count = db.session.execute(
        select(func.count(Notification.id)).where(Notification.version_id == version["id"])
    ).scalar_one()
    assert count == 2  # S3 and S4, once each

    store = _bearer(client, "owner34@demo.test")
    inbox = client.get("/api/v1/notifications?unread=true", headers=store).get_json()
    mine = [n for n in inbox["items"] if n["policy"] == "ACME-API"]
    assert len(mine) == 1 and mine[0]["acknowledged_at"] is None
    acked = client.post(f"/api/v1/notifications/{mine[0]['id']}/ack", headers=store)
    assert acked.status_code == 200 and acked.get_json()["acknowledged_at"]
    price = client.get(
        "/api/v1/catalog?brand=ACME&category=TOPS&per_page=1", headers=store
    ).get_json()
    variant = price["items"][0]["variants"][0]
    assert (variant["moq"], variant["multiple"]) == (4, 2)


def test_bad_policy_bodies_name_the_field_and_store_nothing(client):
    headers = _bearer(client, "hq@demo.test")
    before = db.session.execute(select(func.count(Policy.id))).scalar_one()
    cases = [
        (
            {"rules": [{"section": "price", "scope": "all", "price_cents": -1}]},
            "rules.0",
            "below zero",
        ),
        (
            {
                "rules": [
                    {"section": "order", "scope": "sku", "target": "ACME-TEE-001-BLK-M", "moq": 0}
                ]
            },
            "rules.0",
            "MOQ",
        ),
        (
            {"rules": [{"section": "price", "scope": "sku", "target": "NOPE-1", "price_cents": 1}]},
            "rules.0",
            "Unknown sku",
        ),
        (
            {"audience_kind": "region", "audience_values": ["mars"]},
            "audience_values",
            "region mars",
        ),
        ({"audience_values": ["ZZZ"]}, "audience_values", "ZZZ"),
        (
            {"effective_to": "2025-01-01T00:00:00+00:00"},
            "effective_to",
            "after the start",
        ),
    ]
    for overrides, field, words in cases:
        response = client.post("/api/v1/policies", json=_policy(**overrides), headers=headers)
        assert response.status_code in (409, 422), (overrides, response.get_json())
        error = response.get_json()["error"]
        assert field in error["fields"], (overrides, error)
        assert words in error["fields"][field], (overrides, error)
    missing = client.post("/api/v1/policies", json={"name": "x"}, headers=headers)
    assert missing.status_code == 422
    assert "code" in missing.get_json()["error"]["fields"]
    assert db.session.execute(select(func.count(Policy.id))).scalar_one() == before


def test_overlapping_window_for_the_same_audience_is_refused(client):
    headers = _bearer(client, "hq@demo.test")
    body = _policy(code="ACME-A2", audience_kind="level", audience_values=["A"])
    created = client.post("/api/v1/policies", json=body, headers=headers).get_json()
    response = client.post(f"/api/v1/policies/{created['id']}/publish", headers=headers)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "policy_overlap"
    assert "ACME-LEVEL-A" in response.get_json()["error"]["message"]


def test_writes_need_a_bearer_token_not_a_cookie(login):
    client = login("hq@demo.test")
    assert client.get("/api/v1/policies").status_code == 200
    assert client.post("/api/v1/policies", json=_policy()).status_code == 401
