"""A same-city order that re-routing moves (its store did not accept in time) keeps its courier
only while the new store is within SAME_CITY_MAX_KM of the address; otherwise it goes by parcel
and the same-city fee comes back, through the provider when the provider alone was paid, and
the consumer's timeline says so."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.core.db import utcnow
from portal.extensions import db
from portal.storefront import hooks, orders, rerouting
from portal.storefront.checkout import checkout
from portal.storefront.hooks import RefundRequest
from portal.storefront.models import ConsumerOrder, DeliveryMethod, Fulfilment, Tier
from portal.storefront.payments.models import Payment, PaymentRefund
from tests.storefront.test_cart_views import page, sign_in
from tests.storefront.test_checkout import lines
from tests.storefront.test_consumer_orders import pay
from tests.support.consumer_orders import pay_by_notice, place
from tests.support.retail import NEAR_JINGAN, RetailShop, build_retail_shop

FEE = 1200
HOURS = 4


@pytest.fixture
def shop(app, monkeypatch) -> RetailShop:
    monkeypatch.setitem(app.config, "SAME_CITY_FEE_CENTS", FEE)
    monkeypatch.setitem(app.config, "ROUTE_ACCEPT_HOURS", HOURS)
    return build_retail_shop("RR")


def same_city(shop: RetailShop, method: str = "same_city") -> ConsumerOrder:
    """One tee delivered near Jing'an (1.2 km away; the next stores are 4 km and more), paid."""
    consumer = shop.consumer()
    order = checkout(
        consumer,
        shop.brand,
        Tier.OFFICIAL,
        lines(shop, TEE_BLK_M=1),
        fulfilment=Fulfilment.DELIVERY,
        checkout_token="tok-rr",
        address_id=shop.address(consumer).id,
        delivery_method=method,
    )
    pay(order)
    db.session.flush()
    return order


def reroute_later() -> list[rerouting.Outcome]:
    return rerouting.reroute_unaccepted(now=utcnow() + timedelta(hours=HOURS + 1))


def provider_refunds(order: ConsumerOrder) -> list[tuple[int, str, str]]:
    return [
        (r.amount_cents, r.reason, r.reference.rsplit("-", 1)[-1])
        for r in db.session.execute(
            select(PaymentRefund)
            .where(PaymentRefund.payment_id == order.payment_id)
            .order_by(PaymentRefund.id)
        ).scalars()
    ]


def test_moved_within_the_distance_it_stays_same_city_and_keeps_its_fee(shop):
    order = same_city(shop)
    assert (order.delivery_method, order.delivery_cents) == (DeliveryMethod.SAME_CITY, FEE)
    (outcome,) = reroute_later()
    assert outcome.moved_to not in (None, shop.locations["JA"].id)
    assert order.delivery_method == DeliveryMethod.SAME_CITY
    assert provider_refunds(order) == []
    event = order.events[-1]
    assert event.kind == "reroute" and "fee_refunded_cents" not in event.details


def test_moved_beyond_the_distance_it_goes_by_parcel_and_the_fee_comes_back(
    app, client, shop, monkeypatch
):
    order = same_city(shop)
    # The courier's reach shrinks to 3 km: every store but Jing'an is farther than that.
    monkeypatch.setitem(app.config, "SAME_CITY_MAX_KM", 3)
    (outcome,) = reroute_later()

    assert outcome.moved_to not in (None, shop.locations["JA"].id)
    assert order.status == "paid" and order.delivery_method == DeliveryMethod.PARCEL
    # Paid by the provider alone: the whole fee goes back through it, once, and nothing else.
    assert provider_refunds(order) == [(FEE, "cancelled", "FEE")]
    assert (order.total_cents, order.delivery_cents) == (19900 + FEE, FEE)  # as charged
    event = order.events[-1]
    assert event.kind == "reroute"
    assert event.details["delivery_method"] == "parcel"
    assert event.details["fee_refunded_cents"] == FEE

    sign_in(client, shop, order.consumer)
    html = page(client.get(f"/shop/RR/orders/{order.number}"))
    assert "Passed to another store" in html
    assert "goes by parcel, and the same-city fee of CN¥12.00 is refunded" in html
    assert 'data-testid="delivery-fee-refunded"' in html
    assert 'data-testid="delivery-method"' not in html  # no longer "Same-city courier"


def test_a_second_move_refunds_nothing_more(app, shop, monkeypatch):
    order = same_city(shop)
    monkeypatch.setitem(app.config, "SAME_CITY_MAX_KM", 3)
    reroute_later()
    rerouting.reroute_unaccepted(now=utcnow() + timedelta(hours=2 * HOURS + 2))
    assert [kind for kind in (e.kind for e in order.events) if kind == "reroute"] == [
        "reroute",
        "reroute",
    ]
    assert provider_refunds(order) == [(FEE, "cancelled", "FEE")]
    assert "fee_refunded_cents" not in order.events[-1].details


def test_a_parcel_order_stays_a_parcel_and_pays_nothing_back(shop):
    order = same_city(shop, method="parcel")
    reroute_later()
    assert order.delivery_method == DeliveryMethod.PARCEL
    assert provider_refunds(order) == []


def test_paid_partly_otherwise_the_provider_pays_its_share_and_the_hooks_the_rest(
    app, shop, monkeypatch
):
    """The proportional rule of orders.refund_money: the provider's share of the fee rounded
    down to the fen, the rest through the members' hooks."""
    told: list[RefundRequest] = []
    monkeypatch.setattr(hooks, "refund_rest", [told.append])
    order = place(
        shop.brand,
        shop.locations["JA"],
        {shop.variant_id("TEE-BLK-M"): 1},
        fulfilment=Fulfilment.DELIVERY,
        point=NEAR_JINGAN,
        keep=2,
        paid=False,
        unit_cents=19900,
    )
    order.delivery_method, order.delivery_cents = DeliveryMethod.SAME_CITY, FEE
    order.total_cents = 19900 + FEE  # 21100, of which the wallet paid 7033
    order.wallet_cents, order.pay_cents = 7033, 21100 - 7033
    db.session.get(Payment, order.payment_id).amount_cents = order.pay_cents
    pay_by_notice(order)
    monkeypatch.setitem(app.config, "SAME_CITY_MAX_KM", 3)

    (outcome,) = reroute_later()

    assert outcome.moved_to is not None and order.delivery_method == DeliveryMethod.PARCEL
    provider = FEE * (21100 - 7033) // 21100  # 800
    assert provider_refunds(order) == [(provider, "cancelled", "FEE")]
    (request,) = told
    assert (request.amount_cents, request.provider_cents, request.rest_cents) == (
        FEE,
        provider,
        FEE - provider,
    )
    assert request.full is False and request.reference == f"{order.number}-FEE"


def test_calling_off_a_moved_order_refunds_what_is_left(app, shop, monkeypatch):
    order = same_city(shop)
    monkeypatch.setitem(app.config, "SAME_CITY_MAX_KM", 3)
    reroute_later()
    orders.cancel(order.consumer, order, reason="too slow")
    assert order.status == "refunded"
    assert sum(amount for amount, _r, _s in provider_refunds(order)) == 19900 + FEE
