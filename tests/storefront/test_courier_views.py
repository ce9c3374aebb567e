"""Same-city delivery in the browser: the checkout offers the courier and charges its fee, a
store's order page sends a courier (manual backend: who came, their phone) instead of asking for
a carrier and tracking number, and the consumer's order page shows the courier."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.storefront.models import ConsumerOrder, CourierDispatch, DeliveryMethod, Fulfilment
from portal.storefront.queries import payment_of
from tests.storefront.test_cart_views import add, page, sign_in
from tests.storefront.test_checkout_views import open_checkout, orders_count
from tests.storefront.test_shop_order_api import BASE, bearer, fields
from tests.support.consumer_orders import SHANGHAI, Shop, build_shop, consumer_of, place
from tests.support.retail import NEAR_JINGAN, RetailShop, build_retail_shop


@pytest.fixture
def retail(app) -> RetailShop:
    built = build_retail_shop("CK")  # the checkout-view helpers speak to /shop/CK
    db.session.commit()
    return built


@pytest.fixture
def shop(app) -> Shop:
    return build_shop()


def test_checkout_offers_same_city_and_charges_its_fee(client, retail, app, monkeypatch):
    monkeypatch.setitem(app.config, "SAME_CITY_FEE_CENTS", 800)
    consumer = sign_in(client, retail)
    address = retail.address(consumer)
    db.session.commit()
    add(client, retail, "TEE-BLK-M", 1)
    html = page(client.get("/shop/CK/checkout"))
    assert 'name="delivery_method" value="same_city"' in html and "10 km" in html
    form = open_checkout(
        client,
        retail,
        fulfilment="delivery",
        address_id=str(address.id),
        delivery_method="same_city",
    )
    response = client.post("/shop/CK/checkout", data=form)
    assert response.status_code == 302
    number = re.search(r"/orders/(C\w+)/pay$", response.headers["Location"]).group(1)
    order = db.session.execute(select(ConsumerOrder).filter_by(number=number)).scalar_one()
    assert order.delivery_method == DeliveryMethod.SAME_CITY
    assert (order.delivery_cents, order.total_cents) == (800, 19900 + 800)
    assert payment_of(order).amount_cents == 20700


def test_same_city_beyond_the_distance_is_named_and_nothing_is_ordered(
    client, retail, app, monkeypatch
):
    monkeypatch.setitem(app.config, "SAME_CITY_MAX_KM", 1)  # Jing'an is 1.2 km away
    consumer = sign_in(client, retail)
    address = retail.address(consumer)
    db.session.commit()
    add(client, retail, "TEE-BLK-M", 1)
    before = orders_count()
    form = open_checkout(
        client,
        retail,
        fulfilment="delivery",
        address_id=str(address.id),
        delivery_method="same_city",
    )
    response = client.post("/shop/CK/checkout", data=form)
    assert response.status_code == 422
    html = page(response)
    assert "No store within 1 km has everything" in html
    assert 'value="same_city" checked' in html
    assert orders_count() == before


def same_city_order(shop: Shop) -> ConsumerOrder:
    consumer = consumer_of(shop.brand, name="Zhao Lei", phone="+8613933334444")
    order = place(
        shop.brand,
        shop.s1,
        {shop.variant.id: 1},
        fulfilment=Fulfilment.DELIVERY,
        point=SHANGHAI,
        consumer=consumer,
    )
    order.delivery_method = DeliveryMethod.SAME_CITY
    db.session.commit()
    return order


def test_the_store_dispatches_a_courier_and_the_consumer_sees_it(shop, login, app):
    order = same_city_order(shop)
    client = login("store1@demo.test")
    assert client.post(f"/shop-orders/{order.number}/accept").status_code == 302
    html = page(client.get(f"/shop-orders/{order.number}"))
    assert 'data-testid="dispatch-form"' in html and 'data-testid="ship-form"' not in html
    queue = page(client.get("/shop-orders/deliveries"))
    assert 'name="courier_name"' in queue

    response = client.post(
        f"/shop-orders/{order.number}/ship", data={"courier_name": "", "courier_phone": "12"}
    )
    assert response.status_code == 422
    html = page(response)
    assert 'data-testid="error-courier_name"' in html
    assert 'data-testid="error-courier_phone"' in html
    db.session.expire_all()
    assert db.session.get(ConsumerOrder, order.id).status == "preparing"
    assert db.session.execute(select(CourierDispatch)).first() is None

    response = client.post(
        f"/shop-orders/{order.number}/ship",
        data={"courier_name": "Zhou Bo", "courier_phone": "13900139001", "back": "delivery"},
    )
    assert response.headers["Location"] == "/shop-orders/deliveries"
    db.session.expire_all()
    shipped = db.session.get(ConsumerOrder, order.id)
    assert shipped.status == "shipped"
    assert [(d.courier_name, d.courier_phone) for d in shipped.dispatches] == [
        ("Zhou Bo", "+8613900139001")
    ]
    assert shop.on_hand(shop.s1) == (9, 0)
    assert "Zhou Bo" in page(client.get(f"/shop-orders/{order.number}"))

    consumer_client = app.test_client()
    sign_in(consumer_client, shop, shipped.consumer)
    html = page(consumer_client.get(f"/shop/{shop.brand.code}/orders/{order.number}"))
    assert 'data-testid="delivery-method">Same-city courier<' in html
    courier = re.search(r'data-testid="courier">([^<]+)<', html).group(1)
    assert "Zhou Bo" in courier and "+8613900139001" in courier


def test_the_api_places_a_same_city_order_and_names_a_bad_method(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "SAME_CITY_FEE_CENTS", 500)
    shop = build_retail_shop()  # "RS", as the API helpers expect
    db.session.commit()
    headers = bearer(client)
    lat, lon = NEAR_JINGAN
    address = client.post(
        f"{BASE}/addresses",
        json={
            "recipient": "Li Lei",
            "phone": "13900139000",
            "province": "Shanghai",
            "city": "Shanghai",
            "line": "1 Nanjing West Road",
            "latitude": lat,
            "longitude": lon,
        },
        headers=headers,
    ).get_json()
    body = {
        "fulfilment": "delivery",
        "address_id": address["id"],
        "lines": [{"variant_id": shop.variant_id("TEE-BLK-M"), "qty": 1}],
    }
    refused = client.post(
        f"{BASE}/checkout",
        json={**body, "checkout_token": "c-1", "delivery_method": "drone"},
        headers=headers,
    )
    assert "delivery_method" in fields(refused)
    placed = client.post(
        f"{BASE}/checkout",
        json={**body, "checkout_token": "c-2", "delivery_method": "same_city"},
        headers=headers,
    )
    assert placed.status_code == 201, placed.get_json()
    order = placed.get_json()
    assert order["delivery_method"] == "same_city"
    assert (order["delivery_cents"], order["total_cents"]) == (500, 19900 + 500)
