"""A paid pickup order its store has not accepted within PICKUP_ACCEPT_HOURS is refunded in full
and its units go back on the shelf, by the scheduled job; an accepted one, a delivery order, or a
pickup still inside its time is left alone."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.inventory.services import check_ledger
from portal.schedule import PERIODIC
from portal.storefront import jobs, orders, rerouting
from portal.storefront.models import ConsumerOrderStatus
from tests.storefront.test_consumer_orders import RELEASE2, RESERVE2, ledger, pay, place, refunds
from tests.support.retail import RetailShop, build_retail_shop

S = ConsumerOrderStatus


@pytest.fixture
def shop(app) -> RetailShop:
    return build_retail_shop()


def test_a_pickup_not_accepted_in_time_is_refunded_and_released(shop, app):
    order = place(shop)
    pay(order)
    hours = app.config["PICKUP_ACCEPT_HOURS"]
    assert hours == 24
    paid = order.paid_at
    assert rerouting.refund_unaccepted_pickups(now=paid + timedelta(hours=hours, minutes=-1)) == 0
    assert order.status == S.PAID
    assert rerouting.refund_unaccepted_pickups(now=paid + timedelta(hours=hours, minutes=1)) == 1
    assert order.status == S.REFUNDED
    assert order.cancel_reason == rerouting.PICKUP_NOT_ACCEPTED
    assert [amount for amount, _ in refunds(order)] == [order.total_cents]
    assert shop.level("LJ", "TEE-BLK-M") == (5, 0)
    assert ledger(order) == [RESERVE2, RELEASE2]
    assert check_ledger() == []
    # A second pass finds nothing left to do: one refund, one release.
    assert rerouting.refund_unaccepted_pickups(now=paid + timedelta(days=30)) == 0
    assert len(refunds(order)) == 1


def test_an_accepted_pickup_and_a_delivery_order_are_left_alone(shop, app):
    accepted = place(shop)
    delivery = place(shop, qty=1, delivery=True)
    for order in (accepted, delivery):
        pay(order)
    orders.accept(shop.staff("LJ"), accepted)
    later = accepted.paid_at + timedelta(hours=app.config["PICKUP_ACCEPT_HOURS"] + 1)
    assert rerouting.refund_unaccepted_pickups(now=later) == 0
    assert accepted.status == S.PREPARING
    assert delivery.status == S.PAID


def test_the_hours_come_from_the_configuration(shop, app, monkeypatch):
    monkeypatch.setitem(app.config, "PICKUP_ACCEPT_HOURS", 2)
    order = place(shop)
    pay(order)
    assert rerouting.refund_unaccepted_pickups(now=order.paid_at + timedelta(hours=3)) == 1
    assert order.status == S.REFUNDED


def test_the_scheduled_job_refunds_only_what_waited_too_long(shop, app):
    old, fresh = place(shop), place(shop, qty=1)
    for order in (old, fresh):
        pay(order)
    old.paid_at = old.paid_at - timedelta(hours=app.config["PICKUP_ACCEPT_HOURS"] + 1)
    assert jobs.refund_unaccepted_pickups() == {"refunded": 1}
    assert (old.status, fresh.status) == (S.REFUNDED, S.PAID)
    assert shop.level("LJ", "TEE-BLK-M") == (5, 1)
    assert check_ledger() == []
    names = {periodic.job for periodic in PERIODIC}
    assert "portal.storefront.jobs.refund_unaccepted_pickups" in names
