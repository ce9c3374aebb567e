"""The available-to-sell feed: the brand's HQ reads, page by page, what each SKU can sell online,
everything or only what changed since its last round."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.auth.services import create_api_key
from portal.core.access import Actor
from portal.core.db import utcnow
from portal.extensions import db
from portal.inventory.models import MoveReason
from portal.inventory.services import MoveLine, apply_moves
from portal.storefront import stock
from tests.storefront.test_routing import build_geo_brand
from tests.support.services import actor_for, org

FEED = "/api/v1/shop/{brand}/feed/availability"


def _token(client, email: str) -> dict[str, str]:
    issued = client.post("/api/v1/auth/token", json={"email": email, "password": "demo1234"})
    return {"Authorization": f"Bearer {issued.get_json()['token']}"}


def _acme_online(hq: Actor) -> None:
    from portal.inventory.services import default_location

    stock.set_online_location(
        hq, org("ACME"), default_location(org("ACME")), enabled=True, delivery=True
    )
    stock.set_online_location(
        hq, org("ACME"), default_location(org("S1")), enabled=True, pickup=True, safety_stock=1
    )


def test_the_feed_pages_through_every_sku_by_cursor(app, client):
    _acme_online(actor_for("hq@demo.test"))
    db.session.commit()
    headers = _token(client, "hq@demo.test")
    seen, cursor, rounds = [], None, 0
    while True:
        url = FEED.format(brand="ACME") + "?limit=50" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=headers)
        assert page.status_code == 200, page.get_data(as_text=True)
        body = page.get_json()
        assert body["brand"] == "ACME" and body["grade"] == "A" and body["as_of"]
        seen += body["items"]
        cursor, rounds = body["next_cursor"], rounds + 1
        if cursor is None:
            break
    assert rounds > 1
    skus = [item["sku"] for item in seen]
    assert len(skus) == len(set(skus))
    first = seen[0]
    expected = stock.availability(org("ACME"), [_variant_id(first["sku"])])
    assert first["available"] == next(iter(expected.values())).sellable
    # The warehouse delivers; S1 only hands over: delivery never exceeds the whole.
    assert all(0 <= item["delivery"] <= item["available"] for item in seen)
    assert any(item["delivery"] < item["available"] for item in seen)


def _variant_id(sku: str) -> int:
    from sqlalchemy import select

    from portal.catalog.models import Variant

    return db.session.execute(
        select(Variant.id).where(Variant.sku == sku, Variant.brand_id == org("ACME").id)
    ).scalar_one()


def test_updated_since_lists_only_the_skus_that_moved(app, client):
    before = utcnow()
    geo = build_geo_brand()
    hq_key_actor = Actor.system()
    # GEO has no HQ user: its API key speaks for it.
    from portal.core.access import OrgKind, Permission

    geo_hq = Actor(
        org_id=geo.brand.id,
        org_kind=OrgKind.BRAND,
        permissions=frozenset(Permission),
        paths={geo.brand.id: f"/{geo.brand.id}/"},
    )
    _key, token = create_api_key(geo_hq, name="tmall", scopes=["stock.view"])
    lujiazui = geo.locations["Lujiazui"]
    apply_moves(
        hq_key_actor,
        [MoveLine(lujiazui.id, geo.v2.id, reserved_delta=2)],
        reason=MoveReason.RESERVE,
    )
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    since = (before - timedelta(seconds=1)).isoformat()
    everything = client.get(FEED.format(brand="GEO"), headers=headers).get_json()
    assert [i["sku"] for i in everything["items"]] == ["GEO-TEE-W-M", "GEO-TEE-B-L"]
    # V2: Jing'an 5, Lujiazui 5-2, Xujiahui 10 (pickup), Binjiang 3, warehouse 1.
    v2 = everything["items"][1]
    assert (v2["available"], v2["delivery"]) == (22, 12)
    later = (utcnow() + timedelta(seconds=1)).isoformat()
    changed = client.get(
        FEED.format(brand="GEO"), query_string={"updated_since": later}, headers=headers
    ).get_json()
    assert changed["items"] == [] and changed["next_cursor"] is None
    # Since before the opening stock and the switches: both SKUs.
    recent = client.get(
        FEED.format(brand="GEO"), query_string={"updated_since": since}, headers=headers
    ).get_json()
    assert {i["sku"] for i in recent["items"]} == {"GEO-TEE-W-M", "GEO-TEE-B-L"}


def test_only_the_move_after_the_mark_shows(app, client):
    geo = build_geo_brand()
    for row in db.session.query(stock.OnlineLocation).filter_by(brand_id=geo.brand.id):
        row.updated_at = utcnow() - timedelta(days=1)
    db.session.flush()
    mark = utcnow()
    apply_moves(
        Actor.system(),
        [MoveLine(geo.locations["Binjiang"].id, geo.v1.id, 1)],
        reason=MoveReason.RECEIPT,
    )
    items, cursor = stock.feed_page(geo.brand, updated_since=mark)
    assert [i.sku for i in items] == ["GEO-TEE-W-M"] and cursor is None
    assert items[0].available == 41 + 1


@pytest.mark.parametrize(
    ("email", "brand", "status"),
    [
        ("dist1@demo.test", "ACME", 404),  # below HQ
        ("store1@demo.test", "ACME", 404),
        ("hq2@demo.test", "ACME", 404),  # another brand's HQ
        ("hq@demo.test", "NOPE", 404),
        ("hq@demo.test", "ACME", 200),
    ],
)
def test_only_the_brands_hq_reads_its_feed(app, client, email, brand, status):
    response = client.get(FEED.format(brand=brand), headers=_token(client, email))
    assert response.status_code == status


def test_a_key_without_stock_view_is_refused_and_no_token_is_401(app, client):
    _key, token = create_api_key(actor_for("hq@demo.test"), name="erp", scopes=["jobs.view"])
    db.session.commit()
    refused = client.get(FEED.format(brand="ACME"), headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403
    assert client.get(FEED.format(brand="ACME")).status_code == 401


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"cursor": "abc"}, "cursor"),
        ({"limit": "0"}, "limit"),
        ({"grade": "C"}, "grade"),
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"updated_since": "2026-01-01T00:00:00"}, "updated_since"),  # no offset
    ],
)
def test_bad_query_is_a_422_naming_the_field(app, client, query, field):
    response = client.get(
        FEED.format(brand="ACME"), query_string=query, headers=_token(client, "hq@demo.test")
    )
    assert response.status_code == 422
    assert field in str(response.get_json()["error"]["fields"])


def test_the_feed_is_in_the_openapi_document(app, client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/shop/{brand_code}/feed/availability"]["get"]
    assert operation["x-scope"] == "stock.view"
