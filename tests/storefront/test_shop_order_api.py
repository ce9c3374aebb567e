"""Buying through the mini-program's API (/api/v1/shop/<brand>, shop_order_api.py), on both
backends, in the shop of tests/support/retail.py (stores at known points in Shanghai):
browse, fill the cart, check out for pickup, start paying, get paid by the test gateway's
notice, read the order; a retried checkout is one order; bad input is refused by name."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.members import membership
from portal.storefront.models import Consumer, ConsumerOrder
from portal.storefront.payments.providers import provider_named
from tests.support.retail import NEAR_JINGAN, RetailShop, build_retail_shop

BASE = "/api/v1/shop/RS"


@pytest.fixture
def shop(app) -> RetailShop:
    built = build_retail_shop()
    db.session.commit()
    return built


def bearer(client, phone: str = "13800138000", base: str = BASE) -> dict[str, str]:
    sent = client.post(f"{base}/sign-in/code", json={"phone": phone})
    assert sent.status_code == 202, sent.get_json()
    issued = client.post(
        f"{base}/token/code", json={"phone": phone, "code": sent.get_json()["demo_code"]}
    )
    assert issued.status_code == 201, issued.get_json()
    return {"Authorization": f"Bearer {issued.get_json()['token']}"}


def orders_of(shop: RetailShop) -> int:
    return db.session.execute(
        select(func.count()).where(ConsumerOrder.brand_id == shop.brand.id)
    ).scalar_one()


def sellable(shop: RetailShop, sku: str) -> int:
    """Units sold online: every enabled location's, less Jing'an's safety stock of 2."""
    units = [shop.level(short, sku)[0] for short in ("JA", "LJ", "XJ", "warehouse")]
    return max(units[0] - 2, 0) + sum(units[1:])


def fields(response) -> dict[str, str]:
    assert response.status_code == 422, response.get_json()
    return response.get_json()["error"]["fields"]


def place(client, shop, headers, *, token: str = "tok-1", store: str = "LJ", qty: int = 2):
    added = client.post(
        f"{BASE}/cart/lines",
        json={"variant_id": shop.variant_id("TEE-BLK-M"), "qty": qty},
        headers=headers,
    )
    assert added.status_code == 200, added.get_json()
    return client.post(
        f"{BASE}/checkout",
        json={
            "checkout_token": token,
            "fulfilment": "pickup",
            "pickup_location_id": shop.locations[store].id,
        },
        headers=headers,
    )


def test_browse_cart_checkout_pay_and_read_the_order(client, shop):
    # Browse: the official storefront is public.
    listing = client.get(f"{BASE}/catalog", query_string={"category": "TOPS"})
    assert listing.status_code == 200
    assert [item["code"] for item in listing.get_json()["items"]] == ["POLO", "TEE"]
    tee = next(i for i in listing.get_json()["items"] if i["code"] == "TEE")
    assert (tee["min_cents"], tee["max_cents"]) == (15_000, 19_900)
    lat, lon = NEAR_JINGAN
    product = client.get(f"{BASE}/products/tee", query_string={"lat": lat, "lon": lon})
    assert product.status_code == 200
    by_sku = {v["sku"]: v for v in product.get_json()["variants"]}
    tee_m = by_sku["TEE-BLK-M"]
    assert tee_m["price_cents"] == 19_900
    # Jing'an keeps 2 back for walk-ins; Hongqiao is switched off; Xujiahui only delivers.
    tees = sellable(shop, "TEE-BLK-M")
    assert tee_m["stock"] == [{"grade": "A", "sellable": tees, "stores": 3, "stores_near": 2}]
    tee_l = by_sku["TEE-BLK-L"]["id"]
    near = client.get(
        f"{BASE}/availability",
        query_string={"variant_id": [tee_m["id"], tee_l], "lat": lat, "lon": lon},
    ).get_json()["items"]
    assert [(i["variant_id"], i["sellable"], i["stores_near"]) for i in near] == [
        (tee_m["id"], tees, 2),
        (tee_l, sellable(shop, "TEE-BLK-L"), 1),
    ]

    headers = bearer(client)
    # The cart: added, changed, priced now.
    added = client.post(
        f"{BASE}/cart/lines", json={"variant_id": tee_m["id"], "qty": 1}, headers=headers
    )
    line_id = added.get_json()["lines"][0]["id"]
    changed = client.put(f"{BASE}/cart/lines/{line_id}", json={"qty": 2}, headers=headers)
    cart = client.get(f"{BASE}/cart", headers=headers).get_json()
    assert changed.status_code == 200 and cart == changed.get_json()
    assert (cart["total_cents"], cart["total_qty"], cart["can_check_out"]) == (39_800, 2, True)

    # Which stores can hand over the cart: Lujiazui has both, Jing'an keeps its last two.
    stores = client.post(
        f"{BASE}/pickup-stores",
        json={"lat": lat, "lon": lon, "lines": [{"variant_id": tee_m["id"], "qty": 2}]},
    ).get_json()["items"]
    assert [(s["name"], s["has_all"]) for s in stores] == [
        ("Jing'an", False),
        ("Lujiazui", True),
    ]

    placed = client.post(
        f"{BASE}/checkout",
        json={
            "checkout_token": "tap-1",
            "fulfilment": "pickup",
            "pickup_location_id": stores[1]["location_id"],
        },
        headers=headers,
    )
    assert placed.status_code == 201, placed.get_json()
    order = placed.get_json()
    assert (order["status"], order["total_cents"], order["may_pay"]) == (
        "awaiting_payment",
        39_800,
        True,
    )
    assert order["store"]["name"] == "Lujiazui" and order["pickup_code"] is None
    assert [(x["sku"], x["qty"], x["unit_price_cents"]) for x in order["lines"]] == [
        ("TEE-BLK-M", 2, 19_900)
    ]
    assert shop.level("LJ", "TEE-BLK-M") == (5, 2)
    assert client.get(f"{BASE}/cart", headers=headers).get_json()["lines"] == []

    # Paying: the test gateway's page, then its signed notice to the shop's callback.
    started = client.post(f"{BASE}/orders/{order['number']}/pay", json={}, headers=headers)
    assert started.status_code == 200, started.get_json()
    pay = started.get_json()
    assert pay["provider"] == "test" and pay["redirect_url"]
    page = parse_qs(urlsplit(pay["redirect_url"]).query)
    assert page["amount_cents"] == ["39800"]
    assert page["notify_url"][0].endswith("/shop/RS/pay/notify/test")
    notice = provider_named("test").build_notice(pay["reference"], 39_800)
    told = client.post("/shop/RS/pay/notify/test", data=notice.body, headers=notice.headers)
    assert told.status_code == 204

    listed = client.get(f"{BASE}/orders", headers=headers).get_json()["items"]
    assert [(o["number"], o["status"]) for o in listed] == [(order["number"], "paid")]
    detail = client.get(f"{BASE}/orders/{order['number']}", headers=headers).get_json()
    assert detail["status"] == "paid" and detail["payment_status"] == "paid"
    assert detail["pickup_code"] and len(detail["pickup_code"]) == 8
    assert [e["kind"] for e in detail["events"]] == ["place", "pay"]
    assert detail["may_pay"] is False
    again = client.post(f"{BASE}/orders/{order['number']}/pay", json={}, headers=headers)
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "payment_not_payable"


def test_a_replayed_checkout_is_the_same_order(client, shop):
    headers = bearer(client)
    first = place(client, shop, headers, token="double-tap")
    assert first.status_code == 201
    again = client.post(
        f"{BASE}/checkout",
        json={
            "checkout_token": "double-tap",
            "fulfilment": "pickup",
            "pickup_location_id": shop.locations["LJ"].id,
        },
        headers=headers,
    )
    assert again.status_code == 200
    assert again.get_json()["number"] == first.get_json()["number"]
    assert orders_of(shop) == 1
    assert shop.level("LJ", "TEE-BLK-M") == (5, 2)


def test_lines_sent_with_the_checkout_skip_the_cart(client, shop):
    headers = bearer(client)
    placed = client.post(
        f"{BASE}/checkout",
        json={
            "checkout_token": "buy-now",
            "fulfilment": "pickup",
            "pickup_location_id": shop.locations["LJ"].id,
            "lines": [{"variant_id": shop.variant_id("TEE-BLK-L"), "qty": 1}],
        },
        headers=headers,
    )
    assert placed.status_code == 201, placed.get_json()
    assert placed.get_json()["total_cents"] == 15_000


def test_the_consumer_cancels_an_unpaid_order_and_the_units_go_back(client, shop):
    headers = bearer(client)
    number = place(client, shop, headers).get_json()["number"]
    cancelled = client.post(
        f"{BASE}/orders/{number}/cancel", json={"reason": "changed my mind"}, headers=headers
    )
    assert cancelled.status_code == 200
    body = cancelled.get_json()
    assert (body["status"], body["may_cancel"]) == ("cancelled", False)
    assert [e["kind"] for e in body["events"]] == ["place", "cancel"]
    assert shop.level("LJ", "TEE-BLK-M") == (5, 0)
    twice = client.post(f"{BASE}/orders/{number}/cancel", json={}, headers=headers)
    assert twice.status_code == 409


def test_another_consumers_order_is_not_found_and_another_brands_token_is_401(client, shop):
    mine = bearer(client)
    number = place(client, shop, mine).get_json()["number"]
    theirs = bearer(client, phone="13900139001")
    for method, path in (
        ("GET", f"/orders/{number}"),
        ("POST", f"/orders/{number}/pay"),
        ("POST", f"/orders/{number}/cancel"),
    ):
        response = client.open(f"{BASE}{path}", method=method, json={}, headers=theirs)
        assert response.status_code == 404, path
    assert client.get(f"{BASE}/orders", headers=theirs).get_json()["items"] == []
    acme = bearer(client, phone="13700137000", base="/api/v1/shop/ACME")
    for method, path in (("GET", "/cart"), ("GET", "/orders"), ("GET", f"/orders/{number}")):
        response = client.open(f"{BASE}{path}", method=method, headers=acme)
        assert response.status_code == 401, path
    assert client.get(f"{BASE}/orders/{number}", headers=mine).status_code == 200


def test_the_outlet_needs_a_signed_in_member(client, shop):
    assert client.get(f"{BASE}/catalog", query_string={"tier": "outlet"}).status_code == 403
    headers = bearer(client, phone="13800138077")  # signed up, not yet a member
    refused = client.get(f"{BASE}/catalog", query_string={"tier": "outlet"}, headers=headers)
    assert refused.status_code == 403
    signed_up = db.session.execute(
        select(Consumer).where(Consumer.phone == "+8613800138077")
    ).scalar_one()
    membership.join(signed_up)
    db.session.commit()
    assert (
        client.get(f"{BASE}/catalog", query_string={"tier": "outlet"}, headers=headers).status_code
        == 200
    )
    employee = client.get(f"{BASE}/cart", query_string={"tier": "employee"}, headers=headers)
    assert employee.status_code == 403


def test_bad_input_is_refused_naming_the_field_and_changes_nothing(client, shop):
    headers = bearer(client)
    tee_m = shop.variant_id("TEE-BLK-M")
    before = shop.levels()
    # An empty cart.
    empty = client.post(
        f"{BASE}/checkout",
        json={
            "checkout_token": "t",
            "fulfilment": "pickup",
            "pickup_location_id": shop.locations["LJ"].id,
        },
        headers=headers,
    )
    assert "lines" in fields(empty)
    # More than can be sold online: the message says how many can.
    can = sellable(shop, "TEE-BLK-M")
    too_many = client.post(
        f"{BASE}/cart/lines", json={"variant_id": tee_m, "qty": can + 1}, headers=headers
    )
    assert f"Only {can} " in fields(too_many)["qty"]
    assert "variant_id" in fields(
        client.post(f"{BASE}/cart/lines", json={"variant_id": 0, "qty": 1}, headers=headers)
    )
    # A store that hands over nothing online (Xujiahui only delivers).
    no_pickup = place(client, shop, headers, store="XJ")
    assert "pickup_location_id" in fields(no_pickup)
    # Coordinates out of range, half a point, an unknown fulfilment.
    assert "lat" in fields(
        client.post(
            f"{BASE}/pickup-stores",
            json={"lat": 91, "lon": 121, "lines": [{"variant_id": tee_m, "qty": 1}]},
        )
    )
    assert "lon" in fields(client.get(f"{BASE}/products/TEE", query_string={"lat": 31.2}))
    assert "fulfilment" in fields(
        client.post(
            f"{BASE}/checkout",
            json={"checkout_token": "t", "fulfilment": "teleport"},
            headers=headers,
        )
    )
    # A line of the checkout that this storefront does not sell.
    unknown = client.post(
        f"{BASE}/checkout",
        json={
            "checkout_token": "t2",
            "fulfilment": "pickup",
            "pickup_location_id": shop.locations["LJ"].id,
            "lines": [{"variant_id": tee_m, "qty": 1}, {"variant_id": 2**31 - 1, "qty": 1}],
        },
        headers=headers,
    )
    assert list(fields(unknown)) == ["lines.1"]
    assert orders_of(shop) == 0
    assert shop.levels() == before


def test_delivery_to_an_address_is_routed_and_needs_its_map_position(client, shop):
    headers = bearer(client)
    lat, lon = NEAR_JINGAN
    address = {
        "recipient": "Li Lei",
        "phone": "13900139000",
        "province": "Shanghai",
        "city": "Shanghai",
        "line": "1 Nanjing West Road",
    }
    unplaced = client.post(f"{BASE}/addresses", json=address, headers=headers).get_json()
    placed_at = client.post(
        f"{BASE}/addresses", json={**address, "latitude": lat, "longitude": lon}, headers=headers
    ).get_json()
    body = {
        "fulfilment": "delivery",
        "lines": [{"variant_id": shop.variant_id("TEE-BLK-M"), "qty": 1}],
    }
    refused = client.post(
        f"{BASE}/checkout",
        json={**body, "checkout_token": "d-1", "address_id": unplaced["id"]},
        headers=headers,
    )
    assert "address_id" in fields(refused)
    placed = client.post(
        f"{BASE}/checkout",
        json={**body, "checkout_token": "d-2", "address_id": placed_at["id"]},
        headers=headers,
    )
    assert placed.status_code == 201, placed.get_json()
    order = placed.get_json()
    assert order["fulfilment"] == "delivery" and "Nanjing West Road" in order["address"]
    # Jing'an is nearest and can spare one tee after its safety stock.
    assert order["store"]["name"] == "Jing'an"


def test_another_consumers_cart_line_is_not_found(client, shop):
    mine = bearer(client)
    added = client.post(
        f"{BASE}/cart/lines",
        json={"variant_id": shop.variant_id("TEE-BLK-M"), "qty": 1},
        headers=mine,
    ).get_json()
    line_id = added["lines"][0]["id"]
    theirs = bearer(client, phone="13900139001")
    assert (
        client.put(f"{BASE}/cart/lines/{line_id}", json={"qty": 3}, headers=theirs).status_code
        == 404
    )
    assert client.delete(f"{BASE}/cart/lines/{line_id}", headers=theirs).status_code == 404
    assert client.get(f"{BASE}/cart", headers=mine).get_json()["lines"][0]["qty"] == 1
    removed = client.delete(f"{BASE}/cart/lines/{line_id}", headers=mine)
    assert removed.status_code == 200 and removed.get_json()["lines"] == []
