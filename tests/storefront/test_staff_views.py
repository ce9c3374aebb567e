"""Store staff's online orders: the pickup queue (accept, ready, hand over against the code typed
or scanned) and the ship-from-store queue (accept, ship with carrier and tracking number), and
refusing with a reason. Only the store's own orders, with the consumer's name and phone; a wrong
code or a missing field is named and changes nothing."""

from __future__ import annotations

import pytest

from portal.extensions import db
from portal.inventory.models import Location
from portal.storefront.models import ConsumerOrder, Fulfilment
from tests.support.consumer_orders import SHANGHAI, Shop, build_shop, consumer_of, place


@pytest.fixture
def shop(app) -> Shop:
    return build_shop()


def pickup(shop: Shop, location: Location, name: str = "Wang Fang", phone: str = "+8613911112222"):
    consumer = consumer_of(shop.brand, name=name, phone=phone)
    return place(shop.brand, location, {shop.variant.id: 2}, consumer=consumer)


def delivery(shop: Shop, location: Location):
    consumer = consumer_of(shop.brand, name="Zhao Lei", phone="+8613933334444")
    return place(
        shop.brand,
        location,
        {shop.variant.id: 1},
        fulfilment=Fulfilment.DELIVERY,
        point=SHANGHAI,
        consumer=consumer,
    )


def status_of(order: ConsumerOrder) -> str:
    db.session.expire_all()
    return db.session.get(ConsumerOrder, order.id).status


def test_the_pickup_queue_shows_the_stores_own_pickups_with_name_and_phone(shop, login):
    own = pickup(shop, shop.s1)
    other = pickup(shop, shop.s2, name="Chen Jing", phone="+8613955556666")
    shipped = delivery(shop, shop.s1)
    db.session.commit()
    page = login("staff1@demo.test").get("/shop-orders/pickups")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'data-order="{own.number}"' in html
    assert "Wang Fang" in html and "+8613911112222" in html
    assert other.number not in html and "Chen Jing" not in html and "+8613955556666" not in html
    assert shipped.number not in html
    deliveries = login("staff1@demo.test").get("/shop-orders/deliveries").get_data(as_text=True)
    assert f'data-order="{shipped.number}"' in deliveries and own.number not in deliveries


def test_staff_accept_ready_and_hand_over_by_typing_the_code(shop, login):
    order = pickup(shop, shop.s1)
    code = order.pickup_code
    db.session.commit()
    client = login("staff1@demo.test")
    back = {"back": "pickup"}
    response = client.post(f"/shop-orders/{order.number}/accept", data=back)
    assert response.status_code == 302 and response.headers["Location"] == "/shop-orders/pickups"
    assert status_of(order) == "preparing"
    assert client.post(f"/shop-orders/{order.number}/ready", data=back).status_code == 302
    assert status_of(order) == "ready_for_pickup"

    # As a scanner types it, or a person with spaces.
    response = client.post("/shop-orders/hand-over", data={"code": f"{code[:4]} {code[4:]}"})
    assert response.status_code == 302
    assert status_of(order) == "completed"
    assert shop.on_hand(shop.s1) == (8, 0)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Order {order.number} handed over." in page


def test_a_wrong_code_says_so_and_changes_nothing(shop, login):
    order = pickup(shop, shop.s1)
    elsewhere = pickup(shop, shop.s2, phone="+8613977778888")
    for o in (order, elsewhere):
        o.status = "ready_for_pickup"
    db.session.commit()
    client = login("staff1@demo.test")
    wrong = "0" * 8 if order.pickup_code != "0" * 8 else "1" * 8
    for code, message in [
        (wrong, "No order here has this code."),
        (elsewhere.pickup_code, "No order here has this code."),  # another store's order
        ("123", "A pickup code has 8 digits."),
    ]:
        response = client.post("/shop-orders/hand-over", data={"code": code})
        assert response.status_code == 422
        html = response.get_data(as_text=True)
        assert message in html and 'data-testid="code-error"' in html
    assert (status_of(order), status_of(elsewhere)) == ("ready_for_pickup", "ready_for_pickup")
    assert shop.on_hand(shop.s1) == (10, 2)

    response = client.post(f"/shop-orders/{order.number}/hand-over", data={"code": wrong})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'data-testid="error-code"' in html and "Not this order" in html
    assert status_of(order) == "ready_for_pickup"


def test_a_code_for_an_order_not_yet_ready_is_refused(shop, login):
    order = pickup(shop, shop.s1)
    db.session.commit()
    response = login("staff1@demo.test").post(
        "/shop-orders/hand-over", data={"code": order.pickup_code}
    )
    assert response.status_code == 409
    assert "that step is not possible now" in response.get_data(as_text=True)
    assert status_of(order) == "paid"


def test_ship_from_store_names_each_missing_field_then_ships(shop, login):
    order = delivery(shop, shop.s1)
    db.session.commit()
    client = login("store1@demo.test")
    assert client.post(f"/shop-orders/{order.number}/accept").status_code == 302
    response = client.post(
        f"/shop-orders/{order.number}/ship", data={"carrier": " ", "tracking_number": ""}
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'data-testid="error-carrier"' in html and 'data-testid="error-tracking_number"' in html
    assert status_of(order) == "preparing"

    response = client.post(
        f"/shop-orders/{order.number}/ship",
        data={"carrier": "SF Express", "tracking_number": "SF1234567890", "back": "delivery"},
    )
    assert response.headers["Location"] == "/shop-orders/deliveries"
    shipped = db.session.get(ConsumerOrder, order.id)
    assert (shipped.status, shipped.carrier, shipped.tracking_number) == (
        "shipped",
        "SF Express",
        "SF1234567890",
    )
    assert shop.on_hand(shop.s1) == (9, 0)


def test_refusing_needs_a_reason_and_refunds_with_the_units_back(shop, login):
    order = pickup(shop, shop.s1)
    db.session.commit()
    client = login("staff1@demo.test")
    response = client.post(f"/shop-orders/{order.number}/refund", data={"reason": ""})
    assert response.status_code == 422
    assert 'data-testid="error-reason"' in response.get_data(as_text=True)
    assert status_of(order) == "paid"

    response = client.post(f"/shop-orders/{order.number}/refund", data={"reason": "Damaged"})
    assert response.status_code == 302
    assert status_of(order) == "refunded"
    assert shop.on_hand(shop.s1) == (10, 0)


def test_the_order_page_shows_contact_and_timeline(shop, login):
    order = pickup(shop, shop.s1)
    db.session.commit()
    html = login("staff1@demo.test").get(f"/shop-orders/{order.number}").get_data(as_text=True)
    assert "Wang Fang · +8613911112222" in html
    assert "Order placed" in html and "Paid" in html


def test_another_stores_order_is_not_found(shop, login):
    order = pickup(shop, shop.s2)
    db.session.commit()
    client = login("staff1@demo.test")
    assert client.get(f"/shop-orders/{order.number}").status_code == 404
    assert client.post(f"/shop-orders/{order.number}/accept").status_code == 404
    assert status_of(order) == "paid"


def test_a_role_without_shop_fulfil_is_forbidden_and_sees_no_link(shop, login):
    client = login("buyer1@demo.test")
    assert client.get("/shop-orders/pickups").status_code == 403
    assert 'data-testid="shop-orders-link"' not in client.get("/").get_data(as_text=True)
    staff = login("staff1@demo.test")
    assert 'data-testid="shop-orders-link"' in staff.get("/").get_data(as_text=True)


def test_the_queue_renders_in_chinese(shop, login):
    pickup(shop, shop.s1)
    db.session.commit()
    client = login("staff1@demo.test")
    client.post("/language", data={"lang": "zh_Hans_CN", "next": "/shop-orders/pickups"})
    page = client.get("/shop-orders/pickups")
    assert page.status_code == 200
    assert 'lang="zh' in page.get_data(as_text=True)
