"""Returns in the browser and through the API: the consumer asks from the order page (or the
mini-program), the store's staff receive with a grade per line and refund once, or reject; a
wrong quantity is named; another consumer's order and another store's return are 404."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.core.access import Actor
from portal.extensions import db
from portal.inventory.services import check_ledger
from portal.storefront import orders
from portal.storefront.models import ConsumerOrder
from portal.storefront.payments.models import PaymentRefund
from portal.storefront.return_models import ConsumerReturn
from tests.storefront.test_cart_views import page, sign_in
from tests.storefront.test_shop_order_api import bearer
from tests.support.consumer_orders import Shop, build_shop, consumer_of, place

BASE = "/api/v1/shop/ACME"


@pytest.fixture
def shop(app) -> Shop:
    return build_shop()


def completed(shop: Shop, consumer=None, qty: int = 2, location=None) -> ConsumerOrder:
    """A pickup at store S1 (staff1's) unless told, paid and handed over."""
    order = place(shop.brand, location or shop.s1, {shop.variant.id: qty}, consumer=consumer)
    system = Actor.system()
    orders.accept(system, order)
    orders.mark_ready(system, order)
    orders.hand_over(system, order, order.pickup_code)
    db.session.commit()
    return order


def return_of(order: ConsumerOrder) -> ConsumerReturn:
    db.session.expire_all()
    return db.session.execute(
        select(ConsumerReturn).where(ConsumerReturn.order_id == order.id)
    ).scalar_one()


def refunds(order: ConsumerOrder) -> list[int]:
    return list(
        db.session.execute(
            select(PaymentRefund.amount_cents).where(PaymentRefund.payment_id == order.payment_id)
        ).scalars()
    )


def test_the_consumer_asks_and_the_store_receives_and_refunds_once(client, shop, login):
    consumer = consumer_of(shop.brand)
    order = completed(shop, consumer)
    on_hand = shop.on_hand(shop.s1)
    sign_in(client, shop, consumer)
    html = page(client.get(f"/shop/ACME/orders/{order.number}"))
    assert 'data-testid="order-returns"' in html
    line = order.lines[0]
    form = page(client.get(f"/shop/ACME/orders/{order.number}/returns"))
    assert 'data-testid="return-form"' in form

    too_many = client.post(
        f"/shop/ACME/orders/{order.number}/returns", data={f"qty-{line.id}": "3"}
    )
    assert too_many.status_code == 422
    assert "at most 2 can be returned" in page(too_many)
    asked = client.post(
        f"/shop/ACME/orders/{order.number}/returns",
        data={f"qty-{line.id}": "1", "reason": "too small"},
    )
    assert asked.status_code == 302
    found = return_of(order)
    assert (found.status, found.reason) == ("requested", "too small")
    assert "Requested" in page(client.get(asked.headers["Location"]))
    assert check_ledger() == []

    staff = login("staff1@demo.test")
    assert found.number in page(staff.get("/shop-returns/"))
    missing = staff.post(f"/shop-returns/{found.number}/receive", data={})
    assert missing.status_code == 422 and return_of(order).status == "requested"
    got = staff.post(
        f"/shop-returns/{found.number}/receive", data={f"grade-{found.lines[0].id}": "A"}
    )
    assert got.status_code == 302 and return_of(order).status == "received"
    assert shop.on_hand(shop.s1) == (on_hand[0] + 1, on_hand[1])
    assert check_ledger() == []
    assert staff.post(f"/shop-returns/{found.number}/refund").status_code == 302
    again = staff.post(f"/shop-returns/{found.number}/refund")
    assert again.status_code == 302
    assert return_of(order).status == "refunded"
    assert refunds(order) == [9900]
    assert check_ledger() == []


def test_staff_reject_needs_a_reason_and_another_store_gets_a_404(client, shop, login):
    consumer = consumer_of(shop.brand)
    order = completed(shop, consumer)
    sign_in(client, shop, consumer)
    line = order.lines[0]
    client.post(f"/shop/ACME/orders/{order.number}/returns", data={f"qty-{line.id}": "2"})
    found = return_of(order)
    elsewhere = completed(shop, consumer, location=shop.s2)
    client.post(
        f"/shop/ACME/orders/{elsewhere.number}/returns",
        data={f"qty-{elsewhere.lines[0].id}": "1"},
    )
    theirs = return_of(elsewhere)
    staff = login("staff1@demo.test")
    assert theirs.number not in page(staff.get("/shop-returns/"))
    assert staff.get(f"/shop-returns/{theirs.number}").status_code == 404
    refused = staff.post(f"/shop-returns/{theirs.number}/reject", data={"reason": "x"})
    assert refused.status_code == 404
    no_reason = staff.post(f"/shop-returns/{found.number}/reject", data={"reason": ""})
    assert no_reason.status_code == 422
    ok = staff.post(f"/shop-returns/{found.number}/reject", data={"reason": "Nothing came"})
    assert ok.status_code == 302 and return_of(order).status == "rejected"
    assert refunds(order) == []


def test_another_consumers_order_has_no_returns_page(client, shop):
    order = completed(shop)
    sign_in(client, shop, consumer_of(shop.brand))
    assert client.get(f"/shop/ACME/orders/{order.number}/returns").status_code == 404
    assert client.post(f"/shop/ACME/orders/{order.number}/returns").status_code == 404


def test_a_paid_order_not_yet_collected_cannot_be_returned(client, shop):
    consumer = consumer_of(shop.brand)
    order = place(shop.brand, shop.s1, {shop.variant.id: 1}, consumer=consumer)
    db.session.commit()
    sign_in(client, shop, consumer)
    html = page(client.get(f"/shop/ACME/orders/{order.number}"))
    assert 'data-testid="order-returns"' not in html
    refused = client.post(
        f"/shop/ACME/orders/{order.number}/returns", data={f"qty-{order.lines[0].id}": "1"}
    )
    assert refused.status_code == 409
    assert "Only a completed order can be returned." in page(refused)


def test_the_api_asks_and_lists_returns(client, shop):
    consumer = consumer_of(shop.brand, phone="+8613900139123")
    order = completed(shop, consumer)
    headers = bearer(client, phone="13900139123", base=BASE)
    url = f"{BASE}/orders/{order.number}/returns"
    listed = client.get(url, headers=headers)
    assert listed.status_code == 200
    assert listed.get_json()["returns"] == [] and listed.get_json()["return_until"]
    line = order.lines[0].id
    bad = client.post(url, json={"lines": [{"order_line_id": line, "qty": 5}]}, headers=headers)
    assert bad.status_code == 422
    assert "lines.0.qty" in bad.get_json()["error"]["fields"]
    made = client.post(
        url, json={"lines": [{"order_line_id": line, "qty": 1}], "reason": "x"}, headers=headers
    )
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert (body["status"], body["lines"][0]["qty"], body["lines"][0]["grade"]) == (
        "requested",
        1,
        None,
    )
    numbers = [r["number"] for r in client.get(url, headers=headers).get_json()["returns"]]
    assert numbers == [body["number"]]
    stranger = bearer(client, phone="13900139124", base=BASE)
    assert client.get(url, headers=stranger).status_code == 404
    assert client.post(url, json={"lines": []}, headers=stranger).status_code in (404, 422)
    assert check_ledger() == []
