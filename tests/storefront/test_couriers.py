"""Same-city delivery (portal/storefront/couriers.py), on both backends: the consumer may choose
a courier when the routed store is within SAME_CITY_MAX_KM of the address (parcel otherwise), the
fee is in the amount paid, and the store records the courier it sent (manual backend), which the
consumer then sees. Bad input is named and changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.core.errors import ValidationFailed
from portal.extensions import db
from portal.storefront import couriers, orders
from portal.storefront.checkout import checkout
from portal.storefront.models import (
    ConsumerOrder,
    CourierDispatch,
    DeliveryMethod,
    DispatchStatus,
    Fulfilment,
    Tier,
)
from portal.storefront.queries import payment_of
from portal.storefront.transitions import ConsumerOrderConflict
from tests.storefront.test_checkout import lines
from tests.storefront.test_consumer_orders import pay
from tests.support.retail import RetailShop, build_retail_shop


@pytest.fixture
def shop(app) -> RetailShop:
    return build_retail_shop("CR")


@pytest.fixture
def fee(app, monkeypatch):
    monkeypatch.setitem(app.config, "SAME_CITY_FEE_CENTS", 1200)
    return 1200


def deliver(shop: RetailShop, method: str | None, token: str = "tok-1", **wanted: int):
    consumer = shop.consumer()
    return checkout(
        consumer,
        shop.brand,
        Tier.OFFICIAL,
        lines(shop, **wanted),
        fulfilment=Fulfilment.DELIVERY,
        checkout_token=token,
        address_id=shop.address(consumer).id,  # 1.2 km from Jing'an, 4.3 km from Lujiazui
        delivery_method=method,
    )


def dispatches() -> int:
    return db.session.execute(select(func.count()).select_from(CourierDispatch)).scalar_one()


# -- checkout ------------------------------------------------------------------------------------


def test_same_city_within_the_distance_charges_the_fee_in_the_payment(shop, fee):
    order = deliver(shop, "same_city", TEE_BLK_M=1)  # Jing'an, 1.2 km away
    assert order.delivery_method == DeliveryMethod.SAME_CITY
    assert (order.goods_cents, order.delivery_cents, order.total_cents) == (19900, 1200, 21100)
    assert payment_of(order).amount_cents == 21100


def test_parcel_is_the_default_and_costs_nothing(shop, fee):
    order = deliver(shop, None, TEE_BLK_M=1)
    assert order.delivery_method == DeliveryMethod.PARCEL
    assert order.delivery_cents == 0
    assert payment_of(order).amount_cents == order.goods_cents == 19900


def test_pickup_orders_have_no_delivery_method(shop):
    consumer = shop.consumer()
    order = checkout(
        consumer,
        shop.brand,
        Tier.OFFICIAL,
        lines(shop, TEE_BLK_M=1),
        fulfilment=Fulfilment.PICKUP,
        checkout_token="tok-p",
        pickup_location_id=shop.locations["LJ"].id,
        delivery_method="same_city",
    )
    assert order.delivery_method is None and order.delivery_cents == 0


@pytest.mark.parametrize(
    ("max_km", "wanted"),
    [
        (3, {"TEE_BLK_M": 2}),  # routed to Lujiazui, 4.3 km: beyond 3 km
        (10, {"TEE_BLK_M": 6}),  # only the warehouse has 6; it has no map position
    ],
)
def test_same_city_beyond_the_distance_is_refused_naming_the_method(
    shop, app, monkeypatch, max_km, wanted
):
    monkeypatch.setitem(app.config, "SAME_CITY_MAX_KM", max_km)
    before = shop.levels()
    with pytest.raises(ValidationFailed) as refused:
        deliver(shop, "same_city", **wanted)
    assert set(refused.value.fields) == {"delivery_method"}
    assert f"{max_km} km" in refused.value.fields["delivery_method"]
    assert shop.levels() == before
    assert db.session.execute(select(func.count()).select_from(ConsumerOrder)).scalar_one() == 0


def test_the_distance_is_configuration(shop, app, monkeypatch):
    monkeypatch.setitem(app.config, "SAME_CITY_MAX_KM", 5)
    order = deliver(shop, "same_city", TEE_BLK_M=2)  # Lujiazui at 4.3 km is now within
    assert order.delivery_method == DeliveryMethod.SAME_CITY


def test_an_unknown_method_is_refused_naming_it(shop):
    with pytest.raises(ValidationFailed) as refused:
        deliver(shop, "drone", TEE_BLK_M=1)
    assert set(refused.value.fields) == {"delivery_method"}


# -- the store sends a courier -------------------------------------------------------------------


def test_manual_dispatch_records_the_courier_and_ships(shop):
    order = deliver(shop, "same_city", TEE_BLK_M=1)
    pay(order)
    staff = shop.staff("JA", user_id=None)
    orders.accept(staff, order)
    orders.dispatch_courier(staff, order, courier_name=" Zhou Bo ", courier_phone="139 0013 9001")
    assert order.status == "shipped" and order.shipped_at is not None
    [sent] = order.dispatches
    assert (sent.backend, sent.courier_name, sent.courier_phone, sent.status) == (
        "manual",
        "Zhou Bo",
        "+8613900139001",
        DispatchStatus.DISPATCHED,
    )
    assert sent.dispatch_ref.startswith(f"M-{order.number}-")
    assert sent.distance_km == pytest.approx(1.2, abs=0.1)
    assert couriers.courier_for().status(sent.dispatch_ref) == DispatchStatus.DISPATCHED
    assert order.events[-1].details["courier"] == "Zhou Bo"
    assert shop.level("JA", "TEE-BLK-M") == (2, 0)  # the unit left the shelf


@pytest.mark.parametrize(
    ("name", "phone", "named"),
    [
        ("", "13900139001", {"courier_name"}),
        ("x" * 61, "13900139001", {"courier_name"}),
        ("Zhou Bo", "12345", {"courier_phone"}),
        (" ", "", {"courier_name", "courier_phone"}),
    ],
)
def test_bad_courier_details_are_named_and_change_nothing(shop, name, phone, named):
    order = deliver(shop, "same_city", TEE_BLK_M=1)
    pay(order)
    staff = shop.staff("JA")
    orders.accept(staff, order)
    with pytest.raises(ValidationFailed) as refused:
        orders.dispatch_courier(staff, order, courier_name=name, courier_phone=phone)
    assert set(refused.value.fields) == named
    assert order.status == "preparing" and dispatches() == 0


def test_a_parcel_order_is_not_sent_by_courier(shop):
    order = deliver(shop, "parcel", TEE_BLK_M=1)
    pay(order)
    staff = shop.staff("JA")
    orders.accept(staff, order)
    with pytest.raises(ValidationFailed):
        orders.dispatch_courier(staff, order, courier_name="Zhou Bo", courier_phone="13900139001")
    assert dispatches() == 0


def test_an_unpaid_order_books_no_courier(shop):
    order = deliver(shop, "same_city", TEE_BLK_M=1)
    with pytest.raises(ConsumerOrderConflict):
        orders.dispatch_courier(
            shop.staff("JA"), order, courier_name="Zhou Bo", courier_phone="13900139001"
        )
    assert dispatches() == 0


def test_a_cancelled_dispatch_stays_on_record(shop):
    order = deliver(shop, "same_city", TEE_BLK_M=1)
    pay(order)
    staff = shop.staff("JA")
    orders.accept(staff, order)
    orders.dispatch_courier(staff, order, courier_name="Zhou Bo", courier_phone="13900139001")
    sent = couriers.cancel_dispatch(order.dispatches[0])
    assert sent.status == DispatchStatus.CANCELLED and sent.cancelled_at is not None
    assert couriers.courier_for().status(sent.dispatch_ref) == DispatchStatus.CANCELLED
    assert couriers.current_dispatch(order) is None and dispatches() == 1


def test_an_unknown_backend_is_a_configuration_error(app, monkeypatch):
    monkeypatch.setitem(app.config, "COURIER_BACKEND", "nowhere")
    with pytest.raises(RuntimeError, match="COURIER_BACKEND"):
        couriers.courier_for()


class RecordingCourier:
    """An adapter as a courier company's would be, answering from memory (no network)."""

    name = "recording"
    requests: list[couriers.PickupRequest] = []

    def request_pickup(self, request: couriers.PickupRequest) -> str:
        self.requests.append(request)
        return f"R{len(self.requests)}"

    def cancel(self, dispatch_ref: str) -> None:
        return None

    def status(self, dispatch_ref: str) -> str:
        return DispatchStatus.DISPATCHED


def test_another_backend_is_chosen_by_configuration(shop, app, monkeypatch):
    monkeypatch.setitem(couriers.BACKENDS, "recording", RecordingCourier)
    monkeypatch.setattr(RecordingCourier, "requests", [])
    monkeypatch.setitem(app.config, "COURIER_BACKEND", "recording")
    order = deliver(shop, "same_city", TEE_BLK_M=1)
    pay(order)
    staff = shop.staff("JA")
    orders.accept(staff, order)
    orders.dispatch_courier(staff, order, courier_name="Zhou Bo", courier_phone="13900139001")
    [asked] = RecordingCourier.requests
    assert (asked.order_number, asked.location_id) == (order.number, shop.locations["JA"].id)
    assert asked.to_address["line"] == "1 Nanjing West Road"
    assert asked.distance_km == pytest.approx(1.2, abs=0.1)
    assert [(d.backend, d.dispatch_ref) for d in order.dispatches] == [("recording", "R1")]
