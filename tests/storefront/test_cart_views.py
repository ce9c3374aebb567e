"""A consumer's cart in the browser (portal/storefront/cart_views.py, carts.py): added from the
product page, priced as the storefront sells today, saying what can still be sold online."""

from __future__ import annotations

import re

import pytest

from portal.extensions import db
from portal.storefront import tiers
from portal.storefront.auth import SESSION_KEY, start_session
from portal.storefront.models import Consumer, Tier
from tests.support.retail import RetailShop, build_retail_shop

# TEE-BLK-M sold online: Jing'an 3 less 2 kept, Lujiazui 5, Xujiahui 1, the warehouse 20.
TEE_ONLINE = 27


@pytest.fixture
def shop(app) -> RetailShop:
    built = build_retail_shop("CV")
    db.session.commit()
    return built


def sign_in(client, shop: RetailShop, consumer: Consumer | None = None) -> Consumer:
    """A browser signed in to the shop as a consumer (English chosen: the shop starts Chinese)."""
    consumer = consumer or shop.consumer()
    secret, _expires = start_session(consumer)
    db.session.commit()
    with client.session_transaction() as cookie:
        cookie[SESSION_KEY] = {str(shop.brand.id): secret}
        cookie["lang"] = "en"
    return consumer


def page(response) -> str:
    return response.get_data(as_text=True)


def add(client, shop: RetailShop, sku: str, qty: int = 1, tier: str = ""):
    prefix = f"/shop/{shop.brand.code}" + (f"/{tier}" if tier else "")
    return client.post(
        f"{prefix}/cart/add",
        data={"variant_id": shop.variant_id(sku), "qty": qty, "product": sku.split("-")[0]},
    )


def line_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r"/cart/lines/(\d+)", html)]


def test_product_page_offers_add_to_cart_and_the_cart_shows_todays_price(client, shop):
    sign_in(client, shop)
    product = page(client.get("/shop/CV/p/TEE"))
    assert product.count('data-testid="add-to-cart"') == 2  # TEE-BLK-M and TEE-BLK-L
    response = add(client, shop, "TEE-BLK-M", 2)
    assert response.status_code == 302 and response.headers["Location"] == "/shop/CV/cart"
    cart = client.get("/shop/CV/cart")
    assert cart.status_code == 200
    html = page(cart)
    assert 'data-sku="TEE-BLK-M"' in html
    assert "398.00" in html  # 2 x 199.00
    assert 'data-testid="cart-checkout"' in html
    add(client, shop, "TEE-BLK-M", 1)
    assert "597.00" in page(client.get("/shop/CV/cart"))  # the same line, now 3


def test_signed_out_add_goes_to_the_shops_sign_in(client, shop):
    response = add(client, shop, "TEE-BLK-M")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/shop/CV/account/sign-in")


def test_nav_links_to_cart_orders_and_account_or_sign_in(client, shop):
    html = page(client.get("/shop/CV/"))
    assert 'data-testid="nav-cart"' in html and 'data-testid="nav-sign-in"' in html
    sign_in(client, shop)
    html = page(client.get("/shop/CV/"))
    assert 'data-testid="nav-orders"' in html and 'data-testid="nav-account"' in html


def test_a_quantity_above_what_can_be_sold_says_how_many_can(client, shop):
    sign_in(client, shop)
    response = add(client, shop, "TEE-BLK-M", TEE_ONLINE + 1)
    assert response.headers["Location"] == "/shop/CV/p/TEE"
    assert f"Only {TEE_ONLINE} can be sold online." in page(client.get("/shop/CV/p/TEE"))
    assert 'data-testid="cart-empty"' in page(client.get("/shop/CV/cart"))
    add(client, shop, "TEE-BLK-M", 1)
    line = line_ids(page(client.get("/shop/CV/cart")))[0]
    response = client.post(f"/shop/CV/cart/lines/{line}", data={"qty": TEE_ONLINE + 5})
    assert response.status_code == 422
    assert f"Only {TEE_ONLINE} can be sold online." in page(response)
    assert "199.00" in page(response)  # the line kept its one unit


def test_change_and_remove_a_line(client, shop):
    sign_in(client, shop)
    add(client, shop, "TEE-BLK-L", 1)
    line = line_ids(page(client.get("/shop/CV/cart")))[0]
    assert client.post(f"/shop/CV/cart/lines/{line}", data={"qty": 2}).status_code == 302
    assert "300.00" in page(client.get("/shop/CV/cart"))  # 2 x 150.00
    assert client.post(f"/shop/CV/cart/lines/{line}", data={"remove": "1"}).status_code == 302
    assert 'data-testid="cart-empty"' in page(client.get("/shop/CV/cart"))


def test_a_line_no_longer_sold_here_is_marked_and_blocks_checkout(client, shop):
    sign_in(client, shop)
    add(client, shop, "TEE-BLK-M", 1)
    tiers.move_tier(shop.net.hq, [shop.net.variants["TEE-BLK-M"]], Tier.OUTLET, pinned=False)
    db.session.commit()
    html = page(client.get("/shop/CV/cart"))
    assert 'data-testid="cart-unlisted"' in html
    assert 'data-testid="cart-checkout"' not in html


def test_something_the_storefront_does_not_sell_cannot_be_added(client, shop):
    sign_in(client, shop)
    add(client, shop, "TEE-BLK-M", 1, tier="outlet")  # official only
    html = page(client.get("/shop/CV/outlet/cart"))
    assert 'data-testid="cart-empty"' in html and "Not sold in this storefront now." in html


def test_another_consumers_cart_line_is_not_found(client, shop):
    other = shop.consumer()
    sign_in(client, shop, other)
    add(client, shop, "TEE-BLK-M", 1)
    line = line_ids(page(client.get("/shop/CV/cart")))[0]
    sign_in(client, shop)
    assert client.post(f"/shop/CV/cart/lines/{line}", data={"qty": 2}).status_code == 404
    assert client.post(f"/shop/CV/cart/lines/{line}", data={"remove": "1"}).status_code == 404
