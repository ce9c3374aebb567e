"""The orders API as an ERP uses it, on the demo network: store S1 buys ACME from distributor D1."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.inventory import services as stock
from portal.ordering.models import Order


def bearer(client, email: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", json={"email": email, "password": "demo1234"})
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


@pytest.fixture
def store1(client):
    return bearer(client, "store1@demo.test")


MIN_ORDER_CENTS = 200_000  # the demo's ACME-BASE minimum order


def units(variant: dict) -> int:
    """The fewest units of one SKU that make an order above the minimum amount."""
    return -(-MIN_ORDER_CENTS // variant["price_cents"])


def orderable(client, headers, *, spare: int = 2) -> dict:
    """A SKU S1 may order one by one, with enough stock at D1 for a minimum order and `spare`
    units more, from its own catalog."""
    for page in range(1, 10):
        body = client.get(
            f"/api/v1/catalog?brand=ACME&per_page=50&page={page}", headers=headers
        ).get_json()
        for product in body["items"]:
            for variant in product["variants"]:
                if variant["moq"] != 1 or variant["multiple"] != 1 or not variant["price_cents"]:
                    continue
                if variant["available"] >= units(variant) + spare:
                    return variant
    raise AssertionError("no orderable SKU in the demo catalog")


def order_count() -> int:
    return db.session.execute(select(func.count(Order.id))).scalar_one()


def test_catalog_shows_what_is_available_from_the_callers_supplier(client, store1):
    variant = orderable(client, store1)
    assert variant["price_cents"] > 0
    assert isinstance(variant["available"], int)


def test_place_order_returns_the_snapshot(client, store1):
    variant = orderable(client, store1)
    response = client.post(
        "/api/v1/orders",
        json={
            "brand": "ACME",
            "lines": [{"sku": variant["sku"], "qty": units(variant)}],
            "po_number": "ERP-1",
        },
        headers=store1,
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] in ("submitted", "awaiting_approval")
    assert body["supplier"] == "D1" and body["buyer"] == "S1"
    assert body["lines"][0]["sku"] == variant["sku"]
    assert body["lines"][0]["unit_price_cents"] == variant["price_cents"]
    assert body["total_cents"] == units(variant) * variant["price_cents"]
    assert body["currency"] == "CNY"
    assert body["events"][0]["kind"] == "submitted"
    again = client.get(f"/api/v1/orders/{body['number']}", headers=store1).get_json()
    assert again["number"] == body["number"]


def test_refusals_name_the_line_and_code(client, store1):
    variant = orderable(client, store1)
    before = order_count()
    response = client.post(
        "/api/v1/orders",
        json={
            "brand": "ACME",
            "lines": [
                {"sku": variant["sku"], "qty": 1},
                {"sku": "NO-SUCH-SKU", "qty": 1},
                {"sku": variant["sku"], "qty": 10**5},
            ],
        },
        headers=store1,
    )
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "unknown_sku"
    assert "lines.1" in error["fields"]
    assert {p["code"] for p in error["problems"]} >= {"unknown_sku"}
    assert order_count() == before


@pytest.mark.parametrize("qty", [0, -1, 1.5, "2", None])
def test_bad_quantities_are_refused_naming_the_field(client, store1, qty):
    response = client.post(
        "/api/v1/orders",
        json={"brand": "ACME", "lines": [{"sku": "X", "qty": qty}]},
        headers=store1,
    )
    assert response.status_code == 422
    assert "lines.0.qty" in response.get_json()["error"]["fields"]


def test_insufficient_stock_says_available(client, store1):
    variant = orderable(client, store1)
    response = client.post(
        "/api/v1/orders",
        json={"brand": "ACME", "lines": [{"sku": variant["sku"], "qty": variant["available"] + 1}]},
        headers=store1,
    )
    error = response.get_json()["error"]
    assert (response.status_code, error["code"]) == (422, "insufficient_stock")
    assert error["available"] == variant["available"]
    assert "lines.0" in error["fields"]


def test_supplier_must_be_the_callers_own(client, store1):
    variant = orderable(client, store1)
    response = client.post(
        "/api/v1/orders",
        json={"brand": "ACME", "supplier": "ACME", "lines": [{"sku": variant["sku"], "qty": 1}]},
        headers=store1,
    )
    assert response.status_code == 422
    assert "supplier" in response.get_json()["error"]["fields"]
    unknown_brand = client.post(
        "/api/v1/orders", json={"brand": "NOPE", "lines": [{"sku": "X", "qty": 1}]}, headers=store1
    )
    assert unknown_brand.status_code == 404


def test_idempotency_key_replays_and_refuses_another_body(client, store1):
    variant = orderable(client, store1)
    body = {"brand": "ACME", "lines": [{"sku": variant["sku"], "qty": units(variant)}]}
    headers = {**store1, "Idempotency-Key": "k-123"}
    first = client.post("/api/v1/orders", json=body, headers=headers)
    count = order_count()
    replay = client.post("/api/v1/orders", json=body, headers=headers)
    assert replay.status_code == first.status_code == 201
    assert replay.get_json() == first.get_json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert order_count() == count
    other = client.post(
        "/api/v1/orders",
        json={**body, "lines": [{"sku": variant["sku"], "qty": units(variant) + 1}]},
        headers=headers,
    )
    assert other.status_code == 422
    assert other.get_json()["error"]["code"] == "idempotency_key_reused"


def test_two_orgs_using_the_same_key_each_get_their_own_order(client, store1):
    """Keys belong to the org. Were they global, the second org's request (another body under
    the same key) would be refused as a reused key, or with the same body get the first org's
    order back."""
    store2 = bearer(client, "store2@demo.test")
    mine, theirs = orderable(client, store1), orderable(client, store2)
    their_lines = [{"sku": theirs["sku"], "qty": units(theirs) + 1}]
    key = {"Idempotency-Key": "erp-0001"}
    first = client.post(
        "/api/v1/orders",
        json={"brand": "ACME", "lines": [{"sku": mine["sku"], "qty": units(mine)}]},
        headers={**store1, **key},
    )
    count = order_count()
    second = client.post(
        "/api/v1/orders", json={"brand": "ACME", "lines": their_lines}, headers={**store2, **key}
    )
    assert (first.status_code, second.status_code) == (201, 201), second.get_json()
    assert "Idempotent-Replayed" not in second.headers
    assert order_count() == count + 1
    ours, theirs_order = first.get_json(), second.get_json()
    assert theirs_order["number"] != ours["number"]
    assert (ours["buyer"], theirs_order["buyer"]) == ("S1", "S2")
    assert [(line["sku"], line["qty"]) for line in theirs_order["lines"]] == [
        (theirs["sku"], units(theirs) + 1)
    ]
    # Each org's retry replays its own order.
    again = client.post(
        "/api/v1/orders", json={"brand": "ACME", "lines": their_lines}, headers={**store2, **key}
    )
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["number"] == theirs_order["number"]


def test_a_refusal_is_replayed_too(client, store1):
    body = {"brand": "ACME", "lines": [{"sku": "NO-SUCH", "qty": 1}]}
    headers = {**store1, "Idempotency-Key": "bad-1"}
    first = client.post("/api/v1/orders", json=body, headers=headers)
    replay = client.post("/api/v1/orders", json=body, headers=headers)
    assert first.status_code == replay.status_code == 422
    assert first.get_json() == replay.get_json()
    error = first.get_json()["error"]
    assert (error["code"], list(error["fields"])) == ("unknown_sku", ["lines.0"])


def test_lifecycle_through_the_api(client, store1):
    variant = orderable(client, store1)
    qty = units(variant) + 1
    number = client.post(
        "/api/v1/orders",
        json={"brand": "ACME", "lines": [{"sku": variant["sku"], "qty": qty}]},
        headers=store1,
    ).get_json()["number"]
    dist = bearer(client, "dist1@demo.test")
    # the store cannot approve its own order, even over credit
    assert client.post(f"/api/v1/orders/{number}/approve", headers=store1).status_code == 403
    approved = client.post(f"/api/v1/orders/{number}/approve", headers=dist)
    assert approved.get_json()["status"] == "confirmed"
    too_many = client.post(
        f"/api/v1/orders/{number}/ship",
        json={"lines": [{"sku": variant["sku"], "qty": qty + 1}]},
        headers=dist,
    )
    assert too_many.status_code == 422
    assert f"lines.{variant['sku']}" in too_many.get_json()["error"]["fields"]
    shipped = client.post(
        f"/api/v1/orders/{number}/ship",
        json={"lines": [{"sku": variant["sku"], "qty": 3}], "tracking_number": "SF1"},
        headers=dist,
    ).get_json()
    assert shipped["status"] == "partially_shipped"
    assert shipped["shipments"][0]["tracking_number"] == "SF1"
    received = client.post(f"/api/v1/orders/{number}/receive", json={}, headers=store1)
    assert received.status_code == 200
    assert received.get_json()["lines"][0]["received_qty"] == 3
    assert received.get_json()["status"] == "partially_shipped"
    twice = client.post(f"/api/v1/orders/{number}/receive", json={"shipment": 1}, headers=store1)
    assert twice.status_code == 409
    assert twice.get_json()["error"]["code"] == "invalid_transition"
    cancel = client.post(f"/api/v1/orders/{number}/cancel", json={}, headers=store1)
    assert cancel.status_code == 409
    assert stock.check_ledger() == []


def test_orders_are_scoped(client, store1):
    variant = orderable(client, store1)
    number = client.post(
        "/api/v1/orders",
        json={"brand": "ACME", "lines": [{"sku": variant["sku"], "qty": units(variant)}]},
        headers=store1,
    ).get_json()["number"]
    store2 = bearer(client, "store2@demo.test")
    assert client.get(f"/api/v1/orders/{number}", headers=store2).status_code == 404
    cancel = client.post(f"/api/v1/orders/{number}/cancel", json={}, headers=store2)
    assert cancel.status_code == 404
    hq = bearer(client, "hq@demo.test")
    assert client.get(f"/api/v1/orders/{number}", headers=hq).status_code == 200  # above S1
    assert client.post(f"/api/v1/orders/{number}/approve", headers=hq).status_code == 403
    mine = client.get("/api/v1/orders?side=buying", headers=store1).get_json()
    assert number in [o["number"] for o in mine["items"]]
    theirs = client.get("/api/v1/orders", headers=store2).get_json()
    assert number not in [o["number"] for o in theirs["items"]]


def test_openapi_documents_the_orders_api(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/orders" in spec["paths"]
    assert "Idempotency-Key" in spec["paths"]["/api/v1/orders"]["post"]["description"]


def test_each_side_does_only_its_own_steps(client, store1):
    """A buyer never ships or approves; the supplier never cancels or receives for the buyer;
    C1's order over its credit line waits and C1 cannot approve it."""
    variant = orderable(client, store1)
    number = client.post(
        "/api/v1/orders",
        json={"brand": "ACME", "lines": [{"sku": variant["sku"], "qty": units(variant)}]},
        headers=store1,
    ).get_json()["number"]
    dist = bearer(client, "dist1@demo.test")
    ship = {"lines": [{"sku": variant["sku"], "qty": 1}]}
    assert (
        client.post(f"/api/v1/orders/{number}/ship", json=ship, headers=store1).status_code == 403
    )
    assert client.post(f"/api/v1/orders/{number}/cancel", json={}, headers=dist).status_code == 403
    assert (
        client.post(f"/api/v1/orders/{number}/reject", json={}, headers=store1).status_code == 403
    )
    chain = bearer(client, "chain1@demo.test")
    held = client.get("/api/v1/orders?status=awaiting_approval&side=buying", headers=chain)
    (order,) = held.get_json()["items"]
    assert order["buyer"] == "C1"
    refused = client.post(f"/api/v1/orders/{order['number']}/approve", headers=chain)
    assert refused.status_code == 403
    hq = bearer(client, "hq@demo.test")
    approved = client.post(f"/api/v1/orders/{order['number']}/approve", headers=hq)
    assert approved.get_json()["status"] == "confirmed"
