"""A store's own shop as people see it: the owner's pages under /my-shop/ (settings, prices
refused below the floor, this month's sales), the public shop at /shop/<brand>/s/<store>/ with
its own cart and checkout, and who may not see what."""

from __future__ import annotations

import pytest

from portal.core.access import Role
from portal.extensions import db
from portal.network.models import Membership, User
from portal.storefront.models import ConsumerOrder
from tests.storefront.test_cart_views import sign_in
from tests.storefront.test_store_shops import add_floor
from tests.support.retail import RetailShop, build_retail_shop


def person(shop: RetailShop, short: str, role: Role, email: str) -> User:
    user = User(email=email, name=email.split("@")[0], locale="en")
    user.set_password("demo1234")
    db.session.add(user)
    db.session.flush()
    db.session.add(Membership(org_id=shop.net.org_id(short), user_id=user.id, role=role))
    db.session.flush()
    return user


@pytest.fixture
def shop(app) -> RetailShop:
    built = build_retail_shop("SV")
    add_floor(built, "category TOPS 75%")  # TEE 149.25, POLO 224.25
    person(built, "JA", Role.STORE_OWNER, "ja-owner@sv.test")
    person(built, "JA", Role.STORE_STAFF, "ja-staff@sv.test")
    person(built, "LJ", Role.STORE_OWNER, "lj-owner@sv.test")
    db.session.commit()
    return built


def text(response) -> str:
    return response.get_data(as_text=True)


SETTINGS = {
    "enabled": "1",
    "hours": "10:00-22:00 daily",
    "address": "1 Nanjing West Road",
    "latitude": "31.2235",
    "longitude": "121.4453",
    "profit_share_account": "1900000109",
}


def test_the_owner_opens_the_shop_and_the_public_sees_it_with_the_stores_prices(shop, login, app):
    assert app.test_client().get("/shop/SV/s/SVJA/").status_code == 404  # not yet on
    owner = login("ja-owner@sv.test")
    response = owner.post("/my-shop/settings", data=SETTINGS)
    assert response.status_code == 302
    assert "The shop&#39;s settings are saved." in text(owner.get(response.headers["Location"]))
    response = owner.post("/my-shop/prices/POLO", data={"price": "279"})
    assert response.status_code == 302

    public = app.test_client()
    with public.session_transaction() as cookie:
        cookie["lang"] = "en"
    page = text(public.get("/shop/SV/s/SVJA/"))
    assert "Jing&#39;an" in page and "10:00-22:00 daily" in page and "1 Nanjing West Road" in page
    assert 'data-lat="31.2235"' in page
    assert 'data-code="POLO"' in page and "¥279.00" in page
    assert 'data-code="RUN"' not in page  # only at the warehouse, which may not ship
    product = text(public.get("/shop/SV/s/SVJA/p/POLO"))
    assert "3 in this store" in product  # 5, less 2 kept for walk-ins and "¥279.00" in product


def test_a_price_below_the_floor_is_refused_on_the_page_showing_the_floor(shop, login):
    owner = login("ja-owner@sv.test")
    page = text(owner.get("/my-shop/prices"))
    assert 'data-code="TEE"' in page and "¥199.00" in page
    assert "¥149.25</td>" in page  # the floor column
    response = owner.post("/my-shop/prices/TEE", data={"price": "140"})
    assert response.status_code == 422
    refused = text(response)
    assert "¥149.25: the brand&#39;s floor for this product." in refused
    assert 'value="140"' in refused  # what was typed stays to correct
    response = owner.post("/my-shop/prices/TEE", data={"price": "149.25"})
    assert response.status_code == 302
    assert 'value="149.25"' in text(owner.get("/my-shop/prices"))
    assert "Some fields" not in text(owner.get("/my-shop/prices"))
    typo = owner.post("/my-shop/prices/TEE", data={"price": "abc"})
    assert typo.status_code == 422 and "An amount like 199 or 199.50." in text(typo)


def test_the_owner_sees_this_months_sales_and_the_queues(shop, login, app):
    owner = login("ja-owner@sv.test")
    owner.post("/my-shop/settings", data=SETTINGS)
    consumer_client = app.test_client()
    sign_in(consumer_client, shop)
    consumer_client.post(
        "/shop/SV/s/SVJA/cart/add", data={"variant_id": shop.variant_id("POLO-WHT-M"), "qty": 2}
    )
    cart = text(consumer_client.get("/shop/SV/s/SVJA/cart"))
    assert "¥299.00</span> × 2" in cart
    token = cart.split('name="checkout_token" value="')[1].split('"')[0]
    response = consumer_client.post(
        "/shop/SV/s/SVJA/checkout", data={"fulfilment": "pickup", "checkout_token": token}
    )
    assert response.status_code == 302 and "/pay" in response.headers["Location"]
    order = db.session.query(ConsumerOrder).filter_by(shop_org_id=shop.net.org_id("JA")).one()
    assert order.location_id == shop.locations["JA"].id
    # The official cart is another cart: still empty.
    assert 'data-testid="cart-empty"' in text(consumer_client.get("/shop/SV/cart"))
    assert 'data-testid="cart-empty"' in text(consumer_client.get("/shop/SV/s/SVJA/cart"))

    from tests.support.consumer_orders import pay_by_notice

    pay_by_notice(order)
    db.session.commit()
    home = text(owner.get("/my-shop/"))
    assert 'data-testid="sales-orders">1<' in home and 'data-testid="sales-units">2<' in home
    assert "¥598.00" in home
    assert "/shop-orders/pickups" in home and "/guides/store" in home


def test_other_stores_and_staff_cannot_touch_this_shop(shop, login):
    login("ja-owner@sv.test").post("/my-shop/settings", data=SETTINGS)
    lujiazui = login("lj-owner@sv.test")
    page = text(lujiazui.get("/my-shop/"))
    assert "Lujiazui" in page and 'data-testid="my-shop-state">Off<' in page
    assert lujiazui.get("/my-shop/?brand=NOPE").status_code == 404
    staff = login("ja-staff@sv.test")
    assert staff.get("/my-shop/").status_code == 403
    assert staff.post("/my-shop/prices/TEE", data={"price": "1"}).status_code == 403
