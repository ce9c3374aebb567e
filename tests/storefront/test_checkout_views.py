"""Checkout in the browser (portal/storefront/checkout_views.py): pickup stores nearest first,
one order per form however often it is sent, and a cart that changed under the form refused line
by line with nothing ordered."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from portal.catalog.models import Product
from portal.extensions import db
from portal.storefront import tiers
from portal.storefront.models import ConsumerOrder, Tier
from tests.storefront.test_cart_views import add, page, sign_in
from tests.support.retail import RetailShop, build_retail_shop


@pytest.fixture
def shop(app) -> RetailShop:
    built = build_retail_shop("CK")
    db.session.commit()
    return built


def form_of(html: str) -> dict[str, str]:
    """The checkout form's hidden fields, as the browser would send them back."""
    form = dict(re.findall(r'type="hidden" name="([a-z_]+)" value="([^"]*)"', html))
    form.pop("csrf_token", None)
    return form


def open_checkout(client, shop: RetailShop, **choices) -> dict[str, str]:
    response = client.get("/shop/CK/checkout")
    assert response.status_code == 200
    return {**form_of(page(response)), **choices}


def place(client, form: dict[str, str]):
    return client.post("/shop/CK/checkout", data=form)


def pickup_at(shop: RetailShop, short: str) -> dict[str, str]:
    return {"fulfilment": "pickup", "pickup_location_id": str(shop.locations[short].id)}


def line_errors(html: str) -> dict[str, str]:
    """Each checkout line's error, by SKU (lines without one left out)."""
    errors = {}
    for chunk in html.split('data-testid="checkout-line"')[1:]:
        sku = re.search(r'data-sku="([\w-]+)"', chunk).group(1)
        found = re.search(r'data-testid="checkout-line-error">([^<]+)<', chunk.split("</li>")[0])
        if found:
            errors[sku] = found.group(1)
    return errors


def orders_count() -> int:
    return db.session.execute(select(func.count()).select_from(ConsumerOrder)).scalar_one()


def test_pickup_stores_are_listed_nearest_first_saying_who_has_everything(client, shop):
    consumer = sign_in(client, shop)
    shop.address(consumer)  # near Jing'an
    db.session.commit()
    add(client, shop, "TEE-BLK-M", 2)
    html = page(client.get("/shop/CK/checkout"))
    stores = re.findall(
        r'data-testid="pickup-store">.*?<strong>([^<]+)</strong>.*?<small>([^<]+)</small>\s*</span>',
        html,
        re.S,
    )
    names = [name for name, _ in stores]
    assert names == ["Jing&#39;an", "Lujiazui"]  # Hongqiao is off, Xujiahui delivers only
    assert "Does not have everything" in stores[0][1]  # Jing'an keeps 2 of its 3 back
    assert "Has everything" in stores[1][1]
    assert 'data-testid="delivery-address"' in html


def test_a_chosen_city_measures_from_its_stores(client, shop):
    sign_in(client, shop)  # no address at all
    add(client, shop, "TEE-BLK-M", 1)
    html = page(client.get("/shop/CK/checkout?city=shanghai"))
    assert html.count('data-testid="pickup-store"') == 2
    assert '<option value="shanghai" selected>' in html


def test_pickup_order_is_placed_and_the_cart_emptied(client, shop):
    sign_in(client, shop)
    add(client, shop, "TEE-BLK-M", 2)
    response = client.post(
        "/shop/CK/checkout", data=open_checkout(client, shop, **pickup_at(shop, "LJ"))
    )
    assert response.status_code == 302
    number = re.search(r"/shop/CK/orders/(C\w+)/pay$", response.headers["Location"]).group(1)
    order = db.session.execute(select(ConsumerOrder).filter_by(number=number)).scalar_one()
    assert order.location_id == shop.locations["LJ"].id and order.total_cents == 39800
    assert shop.level("LJ", "TEE-BLK-M") == (5, 2)
    assert 'data-testid="cart-empty"' in page(client.get("/shop/CK/cart"))


def test_a_double_submitted_form_makes_one_order(client, shop):
    sign_in(client, shop)
    add(client, shop, "TEE-BLK-M", 1)
    form = open_checkout(client, shop, **pickup_at(shop, "LJ"))
    before = orders_count()
    first = client.post("/shop/CK/checkout", data=form)
    second = client.post("/shop/CK/checkout", data=form)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert orders_count() == before + 1
    assert shop.level("LJ", "TEE-BLK-M") == (5, 1)


def test_delivery_to_an_own_address_is_routed(client, shop):
    consumer = sign_in(client, shop)
    address = shop.address(consumer)
    db.session.commit()
    add(client, shop, "TEE-BLK-M", 1)
    form = open_checkout(client, shop, fulfilment="delivery", address_id=str(address.id))
    response = client.post("/shop/CK/checkout", data=form)
    assert response.status_code == 302
    order = db.session.execute(
        select(ConsumerOrder).where(ConsumerOrder.consumer_id == consumer.id)
    ).scalar_one()
    assert order.fulfilment == "delivery" and order.address["line"] == "1 Nanjing West Road"


def test_a_price_changed_since_the_page_was_shown_is_refused_naming_the_line(client, shop):
    sign_in(client, shop)
    add(client, shop, "TEE-BLK-L", 1)
    add(client, shop, "TEE-BLK-M", 1)
    form = open_checkout(client, shop, **pickup_at(shop, "LJ"))
    product = db.session.execute(
        select(Product).filter_by(brand_id=shop.brand.id, code="TEE")
    ).scalar_one()
    product.msrp_cents = 21900  # official is 100% of MSRP: 199.00 -> 219.00 (L stays 150.00)
    db.session.commit()
    before = orders_count()
    response = client.post("/shop/CK/checkout", data=form)
    assert response.status_code == 409
    errors = line_errors(page(response))
    assert list(errors) == ["TEE-BLK-M"] and "219.00" in errors["TEE-BLK-M"]
    assert orders_count() == before
    # Shown the new price, the consumer can place the order.
    response = client.post(
        "/shop/CK/checkout", data=open_checkout(client, shop, **pickup_at(shop, "LJ"))
    )
    assert response.status_code == 302


def test_an_item_no_longer_listed_is_refused_naming_the_line(client, shop):
    sign_in(client, shop)
    add(client, shop, "TEE-BLK-M", 1)
    form = open_checkout(client, shop, **pickup_at(shop, "LJ"))
    tiers.move_tier(shop.net.hq, [shop.net.variants["TEE-BLK-M"]], Tier.OUTLET, pinned=False)
    db.session.commit()
    before = orders_count()
    response = client.post("/shop/CK/checkout", data=form)
    assert response.status_code == 409
    assert line_errors(page(response)) == {
        "TEE-BLK-M": "No longer sold in this storefront: remove it."
    }
    assert orders_count() == before


def test_a_quantity_above_what_the_store_can_sell_says_how_many_can(client, shop):
    sign_in(client, shop)
    add(client, shop, "TEE-BLK-M", 2)
    form = open_checkout(client, shop, **pickup_at(shop, "JA"))  # Jing'an sells 1 of 3
    response = client.post("/shop/CK/checkout", data=form)
    assert response.status_code == 422
    html = page(response)
    assert line_errors(html) == {"TEE-BLK-M": "Only 1 available."}
    assert re.search(r'role="alert">Not enough left at [^:<]+: Only 1 available\.', html)
    assert f'value="{shop.locations["JA"].id}" checked' in html  # the typed choice is kept
    assert shop.level("JA", "TEE-BLK-M") == (3, 0)


def test_an_empty_cart_cannot_be_checked_out(client, shop):
    sign_in(client, shop)
    response = client.get("/shop/CK/checkout")
    assert response.status_code == 302 and response.headers["Location"] == "/shop/CK/cart"
    before = orders_count()
    form = {"checkout_token": "t" * 40, **pickup_at(shop, "LJ")}
    response = client.post("/shop/CK/checkout", data=form)
    assert response.status_code == 422
    assert "Your cart is empty" in page(response)
    assert orders_count() == before


def test_a_cart_changed_in_another_tab_is_not_bought_unseen(client, shop):
    sign_in(client, shop)
    add(client, shop, "TEE-BLK-M", 1)
    form = open_checkout(client, shop, **pickup_at(shop, "LJ"))
    add(client, shop, "TEE-BLK-M", 1)  # now 2, after the page was shown
    before = orders_count()
    response = client.post("/shop/CK/checkout", data=form)
    assert response.status_code == 409
    assert "Your cart changed since this page was shown" in page(response)
    add(client, shop, "TEE-BLK-L", 1)  # a line the form never showed
    response = client.post("/shop/CK/checkout", data=form)
    assert response.status_code == 409
    assert line_errors(page(response)) == {
        "TEE-BLK-L": "Added after this page was shown: check it."
    }
    assert orders_count() == before


def test_a_missing_choice_is_named_and_nothing_is_ordered(client, shop):
    sign_in(client, shop)
    add(client, shop, "TEE-BLK-M", 1)
    response = client.post(
        "/shop/CK/checkout", data=open_checkout(client, shop, fulfilment="pickup")
    )
    assert response.status_code == 422
    assert "Choose a store that hands over online orders." in page(response)
    response = client.post(
        "/shop/CK/checkout", data=open_checkout(client, shop, fulfilment="delivery")
    )
    assert response.status_code == 422
    assert "Choose one of your addresses." in page(response)
