"""Refunds of orders paid partly with wallet money and points (portal/members/refunds.py), on
both backends: a whole refund gives all of it back, a return gives the non-provider part back
wallet first, earned points follow the refunded value, and a refund asked twice pays once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.core.access import Actor
from portal.core.db import utcnow
from portal.extensions import db
from portal.members import points, refunds
from portal.members.ledger_models import PointsKind, WalletEntry
from portal.storefront import orders, returns
from portal.storefront.hooks import RefundRequest
from portal.storefront.payments.models import PaymentRefund, RefundReason
from portal.storefront.returns import ReturnLineInput
from tests.members.test_points import (
    buy,
    complete,
    entries,
    fund,
    held,
    till_points,
    wallet_of,
)
from tests.support.consumer_orders import pay_by_notice
from tests.support.retail import RetailShop, build_retail_shop

SYSTEM = Actor.system()


@pytest.fixture
def shop(app) -> RetailShop:
    return build_retail_shop("PT")


def provider_refunds(order) -> list[int]:
    return list(
        db.session.execute(
            select(PaymentRefund.amount_cents)
            .where(PaymentRefund.payment_id == order.payment_id)
            .order_by(PaymentRefund.id)
        ).scalars()
    )


def return_one(consumer, order, line, qty: int = 1):
    asked = returns.request_return(consumer, order, [ReturnLineInput(line.id, qty)])
    returns.receive(SYSTEM, asked, {row.id: "A" for row in asked.lines})
    return asked


def test_calling_off_a_paid_order_gives_back_its_wallet_money_and_points(shop):
    consumer = shop.consumer()
    till_points(shop, consumer, 1000)
    fund(shop, consumer, 5000)
    order = buy(shop, consumer, points_=1000, wallet_cents=5000)
    assert order.pay_cents == 19_900 - 1000 - 5000
    pay_by_notice(order)
    assert (held(consumer), wallet_of(consumer)) == ((0, 0), 0)
    orders.cancel(consumer, order)
    assert order.status == "refunded"
    assert provider_refunds(order) == [13_900]  # the provider, its own share only
    assert (held(consumer), wallet_of(consumer)) == ((0, 1000), 5000)
    # Asked again with the same reference: nothing twice.
    orders.refund_money(order, amount_cents=order.total_cents, reason=RefundReason.CANCELLED,
                        suffix="C")  # fmt: skip
    assert (held(consumer), wallet_of(consumer)) == ((0, 1000), 5000)
    assert provider_refunds(order) == [13_900]


def test_an_order_paid_without_the_provider_is_refunded_into_wallet_and_points(shop):
    consumer = shop.consumer()
    till_points(shop, consumer, 3980)
    fund(shop, consumer, 15_920)
    order = buy(shop, consumer, points_=3980, wallet_cents=15_920)
    assert order.status == "paid"
    orders.cancel(consumer, order)
    assert (held(consumer), wallet_of(consumer)) == ((0, 3980), 15_920)


def test_returns_give_back_wallet_first_then_points_and_take_back_earned_points(shop):
    consumer = shop.consumer()
    till_points(shop, consumer, 2000)
    fund(shop, consumer, 10_000)
    order = complete(buy(shop, consumer, qty=2, points_=2000, wallet_cents=10_000))
    # 398.00 of goods, 20.00 in points: 378 points earned, pending.
    assert held(consumer) == (378, 0)
    assert wallet_of(consumer) == 0
    line = order.lines[0]

    first = returns.refund(SYSTEM, return_one(consumer, order, line))
    # 199.00 back: the provider's share is 199 x 278/398 = 139.00; the other 60.00 goes back
    # to the wallet first (it paid 100.00); half the earned points go.
    assert (first.refund_cents, provider_refunds(order)) == (19_900, [13_900])
    assert wallet_of(consumer) == 6000
    assert held(consumer) == (189, 0)

    returns.refund(SYSTEM, return_one(consumer, order, line))
    # The next 60.00: the wallet's last 40.00, then 20.00 as points at the order's own rate.
    assert provider_refunds(order) == [13_900, 13_900]
    assert wallet_of(consumer) == 10_000
    assert held(consumer) == (0, 2000)
    reversals = entries(consumer, PointsKind.REVERSE)
    assert [e.points for e in reversals] == [189, 189]


def test_a_return_after_the_points_matured_takes_them_down_to_zero_and_says_so(shop):
    consumer = shop.consumer()
    fund(shop, consumer, 1000)
    order = complete(buy(shop, consumer, wallet_cents=1000))  # wallet money earns too
    asked = returns.request_return(
        consumer, order, [ReturnLineInput(order.lines[0].id, 1)]
    )  # within the window; the goods come back later
    points.mature_due(now=utcnow() + timedelta(days=8))
    assert held(consumer) == (0, 199)
    buy(shop, consumer, points_=150)  # spent before the return was refunded
    returns.receive(SYSTEM, asked, {row.id: "A" for row in asked.lines})
    returns.refund(SYSTEM, asked)
    assert held(consumer) == (0, 0)  # down to 0, never below
    assert wallet_of(consumer) == 1000
    (reversal,) = entries(consumer, PointsKind.REVERSE)
    assert (reversal.points, reversal.available_delta) == (199, -49)
    assert reversal.note == "150 points had been spent: not taken back"


def test_a_refund_handed_over_twice_pays_back_once(shop):
    consumer = shop.consumer()
    fund(shop, consumer, 5000)
    order = buy(shop, consumer, wallet_cents=5000)
    pay_by_notice(order)
    request = RefundRequest(order, 19_900, 14_900, 5000, f"{order.number}-X", True)
    refunds.refund_rest(request)
    refunds.refund_rest(request)
    assert wallet_of(consumer) == 5000
    count = select(func.count(WalletEntry.id)).where(WalletEntry.kind == "refund")
    assert db.session.execute(count).scalar_one() == 1


def test_a_return_of_an_order_paid_by_the_provider_alone_takes_back_its_points(shop):
    consumer = shop.consumer()
    order = complete(buy(shop, consumer))
    assert held(consumer) == (199, 0)
    returns.refund(SYSTEM, return_one(consumer, order, order.lines[0]))
    assert held(consumer) == (0, 0)
