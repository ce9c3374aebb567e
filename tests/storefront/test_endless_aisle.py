"""The endless aisle: store staff order a size the shelf lacks for a walk-in customer, found
(or made) by phone, delivered or picked up elsewhere by the usual routing; the page shows the
order number and the pay link as text and QR code; the order carries who placed it."""

from __future__ import annotations

import pytest
from sqlalchemy import text as text_sql

from portal.core.access import Role
from portal.extensions import db
from portal.storefront import consumers
from portal.storefront.models import ConsumerOrder
from tests.storefront.test_store_shop_views import SETTINGS, person
from tests.support.retail import RetailShop, build_retail_shop

ADDRESS = {
    "address.province": "Shanghai",
    "address.city": "Shanghai",
    "address.line": "88 Century Avenue",
    "address.latitude": "31.2397",
    "address.longitude": "121.4998",
}


@pytest.fixture
def shop(app) -> RetailShop:
    built = build_retail_shop("EA")
    built.staff_user = person(built, "JA", Role.STORE_STAFF, "ja-staff@ea.test")
    person(built, "JA", Role.STORE_OWNER, "ja-owner@ea.test")
    person(built, "LJ", Role.STORE_STAFF, "lj-staff@ea.test")
    db.session.commit()
    return built


def text(response) -> str:
    return response.get_data(as_text=True)


def order_for(client, shop, sku: str, **form):
    page = text(client.get("/shop-orders/aisle?product=TEE"))
    token = page.split('name="checkout_token" value="')[1].split('"')[0]
    data = {
        "product": "TEE",
        "variant_id": shop.variant_id(sku),
        "qty": "1",
        "checkout_token": token,
        **form,
    }
    return client.post("/shop-orders/aisle", data=data)


def test_staff_order_a_missing_size_delivered_from_elsewhere_and_show_the_pay_qr(shop, login):
    staff = login("ja-staff@ea.test")
    page = text(staff.get("/shop-orders/aisle?product=TEE"))
    assert 'data-sku="TEE-BLK-L"' in page and 'data-sku="TEE-BLK-M"' in page
    # Jing'an has no TEE-BLK-L: Lujiazui (nearest with it) ships it.
    response = order_for(
        staff,
        shop,
        "TEE-BLK-L",
        phone="13911112222",
        name="Walk In",
        fulfilment="delivery",
        **ADDRESS,
    )
    assert response.status_code == 302, text(response)[:2000]
    order = db.session.query(ConsumerOrder).filter_by(placed_by_user_id=shop.staff_user.id).one()
    assert order.location_id == shop.locations["LJ"].id
    assert order.shop_org_id is None  # the store's own shop is off
    # ...and still the staff member is credited, a guide of their store from now on.
    credited = db.session.execute(
        text_sql(
            "SELECT a.rule, g.org_id FROM guide_attributions a JOIN guides g ON g.id = a.guide_id"
            " WHERE a.consumer_order_id = :order"
        ),
        {"order": order.id},
    ).one()
    assert tuple(credited) == ("staff", shop.net.org_id("JA"))
    assert consumers.find_consumer_by_phone(shop.brand, "+8613911112222").name == "Walk In"
    shown = text(staff.get(response.headers["Location"]))
    assert order.number in shown and f"/shop/EA/orders/{order.number}/pay" in shown
    assert "<svg" in shown and 'data-testid="aisle-qr"' in shown


def test_with_the_shop_on_the_order_names_the_store_and_pickup_goes_to_the_chosen_store(
    shop, login
):
    login("ja-owner@ea.test").post("/my-shop/settings", data=SETTINGS)
    existing = shop.consumer(phone="+8613933334444", name="Known")
    db.session.commit()
    staff = login("ja-staff@ea.test")
    response = order_for(
        staff,
        shop,
        "TEE-BLK-L",
        phone="13933334444",
        fulfilment="pickup",
        pickup_location_id=str(shop.locations["LJ"].id),
    )
    assert response.status_code == 302
    order = db.session.query(ConsumerOrder).filter_by(consumer_id=existing.id).one()
    assert order.shop_org_id == shop.net.org_id("JA")
    assert order.placed_by_user_id == shop.staff_user.id
    assert order.location_id == shop.locations["LJ"].id
    assert shop.level("LJ", "TEE-BLK-L") == (2, 1)


def test_an_address_without_a_map_position_is_named_and_nothing_is_ordered(shop, login):
    staff = login("ja-staff@ea.test")
    form = {**ADDRESS, "address.latitude": "", "address.longitude": ""}
    response = order_for(
        staff, shop, "TEE-BLK-L", phone="13955556666", fulfilment="delivery", **form
    )
    assert response.status_code == 422
    assert 'data-testid="error-address.latitude"' in text(response)
    assert (
        db.session.query(ConsumerOrder).filter_by(placed_by_user_id=shop.staff_user.id).count() == 0
    )
    assert consumers.find_consumer_by_phone(shop.brand, "+8613955556666") is None


def test_another_stores_staff_cannot_see_the_order(shop, login):
    staff = login("ja-staff@ea.test")
    response = order_for(
        staff, shop, "TEE-BLK-L", phone="13911112222", fulfilment="delivery", **ADDRESS
    )
    number = response.headers["Location"].rsplit("/", 1)[1]
    other = login("lj-staff@ea.test")
    assert other.get(f"/shop-orders/aisle/{number}").status_code == 404
