"""A consumer's own orders in the browser (portal/storefront/consumer_order_views.py): the list,
the order with its timeline, cancelling before the store takes it on, confirming a delivery, and
nobody else's order (404)."""

from __future__ import annotations

import pytest

from portal.core.access import Role
from portal.extensions import db
from portal.storefront import orders
from portal.storefront.models import ConsumerOrder, Fulfilment
from tests.storefront.test_cart_views import page, sign_in
from tests.support.consumer_orders import place
from tests.support.retail import NEAR_JINGAN, RetailShop, build_retail_shop


@pytest.fixture
def shop(app) -> RetailShop:
    built = build_retail_shop("OV")
    db.session.commit()
    return built


def order_for(shop: RetailShop, consumer, *, paid: bool = True, **kwargs) -> ConsumerOrder:
    order = place(
        shop.brand,
        shop.locations["LJ"],
        {shop.variant_id("TEE-BLK-M"): 1},
        consumer=consumer,
        paid=paid,
        **kwargs,
    )
    db.session.commit()
    return order


def reload(order: ConsumerOrder) -> ConsumerOrder:
    db.session.expire_all()
    return db.session.get(ConsumerOrder, order.id)


def test_my_orders_lists_only_my_own(client, shop):
    mine = order_for(shop, shop.consumer())
    theirs = order_for(shop, shop.consumer())
    sign_in(client, shop, db.session.get(type(shop.consumer()), mine.consumer_id))
    html = page(client.get("/shop/OV/orders/"))
    assert mine.number in html and theirs.number not in html


def test_the_order_page_shows_lines_status_and_timeline(client, shop):
    consumer = shop.consumer()
    order = order_for(shop, consumer)
    sign_in(client, shop, consumer)
    html = page(client.get(f"/shop/OV/orders/{order.number}"))
    assert 'data-testid="order-status">Paid<' in html
    assert html.count('data-testid="order-line"') == 1
    timeline = html.split('data-testid="timeline"')[1]
    assert timeline.index("Order placed") < timeline.index("Paid")
    assert f'data-testid="pickup-code">{order.pickup_code}<' in html


def test_another_consumers_order_is_not_found(client, shop):
    order = order_for(shop, shop.consumer())
    sign_in(client, shop)  # a different consumer of the same brand
    base = f"/shop/OV/orders/{order.number}"
    assert client.get(base).status_code == 404
    assert client.get(f"{base}/pickup-code.svg").status_code == 404
    assert client.get(f"{base}/pay").status_code == 404
    assert client.post(f"{base}/cancel").status_code == 404
    assert client.post(f"{base}/confirm-delivery").status_code == 404
    assert reload(order).status == "paid"


def test_cancel_before_payment_releases_the_units(client, shop):
    consumer = shop.consumer()
    order = order_for(shop, consumer, paid=False)
    assert shop.level("LJ", "TEE-BLK-M") == (5, 1)
    sign_in(client, shop, consumer)
    html = page(client.get(f"/shop/OV/orders/{order.number}"))
    assert 'data-testid="order-cancel"' in html
    response = client.post(f"/shop/OV/orders/{order.number}/cancel")
    assert response.status_code == 302
    assert reload(order).status == "cancelled"
    assert shop.level("LJ", "TEE-BLK-M") == (5, 0)


def test_paid_but_not_yet_accepted_is_refunded_and_accepted_cannot_be_cancelled(client, shop):
    consumer = shop.consumer()
    refunded = order_for(shop, consumer)
    accepted = order_for(shop, consumer)
    orders.accept(shop.staff("LJ"), accepted)
    db.session.commit()
    sign_in(client, shop, consumer)
    assert client.post(f"/shop/OV/orders/{refunded.number}/cancel").status_code == 302
    assert reload(refunded).status == "refunded"
    html = page(client.get(f"/shop/OV/orders/{accepted.number}"))
    assert 'data-testid="order-cancel"' not in html
    # Only the store may call it off now (refund_by_store): the consumer's post is refused.
    assert client.post(f"/shop/OV/orders/{accepted.number}/cancel").status_code == 403
    assert reload(accepted).status == "preparing"


def test_the_consumer_confirms_a_delivery(client, shop):
    consumer = shop.consumer()
    order = order_for(shop, consumer, fulfilment=Fulfilment.DELIVERY, point=NEAR_JINGAN)
    staff = shop.staff("LJ", Role.STORE_STAFF)
    orders.accept(staff, reload(order))
    orders.ship(staff, reload(order), carrier="SF", tracking_number="SF123")
    db.session.commit()
    sign_in(client, shop, consumer)
    response = client.post(f"/shop/OV/orders/{order.number}/confirm-delivery")
    assert response.status_code == 302
    assert reload(order).status == "completed"
    html = page(client.get(f"/shop/OV/orders/{order.number}"))
    assert "Delivered" in html.split('data-testid="timeline"')[1]
