"""The product page's "in stock at N stores near you" (portal/storefront/browse_views.py), on both
backends: near the point asked, the city chosen or the signed-in consumer's default address,
within NEAR_YOU_KM; "in stock at N stores" when no position is known.

The retail shop (tests/support/retail.py): TEE-BLK-M sells at Jing'an and Lujiazui (pickup, a few
km apart in Shanghai) and at Xujiahui (delivery only)."""

from __future__ import annotations

import pytest

from portal.extensions import db
from portal.storefront.auth import SESSION_KEY, start_session
from tests.support.retail import NEAR_JINGAN, RetailShop, build_retail_shop

BEIJING = (39.9139, 116.4103)


@pytest.fixture
def shop(app) -> RetailShop:
    built = build_retail_shop("NY")
    db.session.commit()
    return built


def medium(client, query: str = "") -> str:
    """What the product page says of TEE-BLK-M's stores."""
    with client.session_transaction() as cookie:
        cookie["lang"] = "en"
    html = client.get(f"/shop/NY/p/TEE{query}").get_data(as_text=True)
    cell = html.split('data-sku="TEE-BLK-M"')[1].split("</li>")[0]
    return cell.split('data-testid="shop-stock">')[1].split("</small>")[0]


def test_without_a_position_the_page_counts_every_store(client, shop):
    said = medium(client)
    assert "in stock at 3 stores" in said and "near" not in said


def test_near_the_point_asked(client, shop):
    lat, lng = NEAR_JINGAN
    assert "in stock at 2 stores near you" in medium(client, f"?lat={lat}&lng={lng}")
    assert "no store near you has it" in medium(client, f"?lat={BEIJING[0]}&lng={BEIJING[1]}")


def test_the_radius_comes_from_configuration(client, shop, app, monkeypatch):
    monkeypatch.setitem(app.config, "NEAR_YOU_KM", 2)  # Jing'an is 1.2 km away, Lujiazui 4.3
    lat, lng = NEAR_JINGAN
    assert "in stock at 1 store near you" in medium(client, f"?lat={lat}&lng={lng}")


def test_near_the_signed_in_consumers_default_address(client, shop):
    consumer = shop.consumer()
    shop.address(consumer)  # near Jing'an, the default as the first address
    secret, _ = start_session(consumer)
    db.session.commit()
    with client.session_transaction() as cookie:
        cookie[SESSION_KEY] = {str(shop.brand.id): secret}
    assert "in stock at 2 stores near you" in medium(client)


def test_near_a_city_chosen(client, shop):
    with client.session_transaction() as cookie:
        cookie["lang"] = "en"
    html = client.get("/shop/NY/p/TEE").get_data(as_text=True)
    assert '<option value="shanghai"' in html  # the cities of the shop's pickup stores
    assert "in stock at 2 stores near Shanghai" in medium(client, "?city=Shanghai")
    assert "in stock at 3 stores" in medium(client, "?city=Atlantis")  # unknown: no position


def test_coordinates_that_are_no_point_are_passed_over(client, shop):
    said = medium(client, "?lat=95&lng=121")
    assert "in stock at 3 stores" in said and "near" not in said
