"""Spending points, wallet money and coupons through the mini-program's API
(storefront/shop_order_api.py: `GET /checkout/options`, `POST /checkout`), on both backends:
what a member and a non-member are offered, an order whose amounts add up with the provider
asked for the rest only, bad input refused naming the field with nothing spent, a retried or
doubled checkout spending once, and calling off or refunding giving it all back.

The shop is the coupon tests' (tests/members/test_coupons.py): official prices TEE-BLK-M 199.00,
POLO-WHT-M 299.00, everything picked up at Lujiazui. Default programme terms: a point is worth a
fen, points pay at most 20% of the goods after coupons.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from portal import create_app
from portal.extensions import db
from portal.members import membership, points, wallet
from portal.members.coupon_models import Coupon
from portal.storefront.auth import start_session
from portal.storefront.models import Consumer, ConsumerOrder
from portal.storefront.payments.models import Payment, PaymentRefund
from tests.conftest import need
from tests.members.test_coupons import CouponShop, build_coupon_shop, fresh
from tests.members.test_points import fund, held, till_points, wallet_of
from tests.support.consumer_orders import pay_by_notice
from tests.support.services import fresh_postgres_database

BASE = "/api/v1/shop/SA"
GOODS = 49_800  # TEE-BLK-M and POLO-WHT-M: 199.00 + 299.00


@pytest.fixture
def cs(app) -> CouponShop:
    built = build_coupon_shop("SA")
    db.session.commit()
    return built


def bearer(consumer: Consumer) -> dict[str, str]:
    secret, _expires = start_session(consumer, kind="api")
    db.session.commit()
    return {"Authorization": f"Bearer {secret}"}


@dataclass
class Buyer:
    consumer: Consumer
    coupon: Coupon | None
    headers: dict[str, str]


def buyer(client, cs: CouponShop, *, points=12_000, wallet=10_000, member=True) -> Buyer:
    """A consumer with a token, `points` usable points, `wallet` fen in the wallet and a ¥20.00
    coupon (a member), and the tee and the polo in the cart."""
    consumer = cs.shop.consumer(member=member)
    coupon = None
    if member:
        if points:
            till_points(cs.shop, consumer, points)
        if wallet:
            fund(cs.shop, consumer, wallet)
        coupon = cs.give(cs.template(), consumer)
    headers = bearer(consumer)
    for sku in ("TEE-BLK-M", "POLO-WHT-M"):
        added = client.post(
            f"{BASE}/cart/lines", json={"variant_id": cs.shop.variant_id(sku)}, headers=headers
        )
        assert added.status_code == 200, added.get_json()
    return Buyer(consumer, coupon, headers)


def body(cs: CouponShop, token: str = "tok-1", **spend) -> dict:
    return {
        "checkout_token": token,
        "fulfilment": "pickup",
        "pickup_location_id": cs.shop.locations["LJ"].id,
        **spend,
    }


def fields(response) -> dict[str, str]:
    assert response.status_code == 422, response.get_json()
    return response.get_json()["error"]["fields"]


def orders_of(consumer: Consumer) -> int:
    return db.session.execute(
        select(func.count(ConsumerOrder.id)).where(ConsumerOrder.consumer_id == consumer.id)
    ).scalar_one()


def provider_refunds(payment_id: int) -> list[int]:
    return list(
        db.session.execute(
            select(PaymentRefund.amount_cents)
            .where(PaymentRefund.payment_id == payment_id)
            .order_by(PaymentRefund.id)
        ).scalars()
    )


# -- what is offered -----------------------------------------------------------------------------


def test_a_member_is_offered_points_wallet_and_coupons_and_a_non_member_nothing(client, cs):
    member = buyer(client, cs)
    got = client.get(f"{BASE}/checkout/options", headers=member.headers)
    assert got.status_code == 200
    assert got.get_json() == {
        "points_available": 12_000,
        "points_max": 9960,  # 20% of 498.00
        "cents_per_point": 1,
        "wallet_cents": 10_000,
        "coupons": [{"id": member.coupon.id, "label": "CN¥20.00 off"}],
    }
    outsider = buyer(client, cs, member=False)
    got = client.get(f"{BASE}/checkout/options", headers=outsider.headers)
    assert got.status_code == 200
    assert got.get_json() == {
        "points_available": 0,
        "points_max": 0,
        "cents_per_point": 1,
        "wallet_cents": 0,
        "coupons": [],
    }


def test_the_options_are_for_a_signed_in_consumer_of_the_shop_only(client, cs):
    assert client.get(f"{BASE}/checkout/options").status_code == 401
    outsider = buyer(client, cs, member=False)
    outlet = client.get(f"{BASE}/checkout/options?tier=outlet", headers=outsider.headers)
    assert outlet.status_code == 403  # the outlet is for members


# -- spending ------------------------------------------------------------------------------------


def test_coupon_points_and_wallet_add_up_and_the_provider_is_asked_for_the_rest(client, cs):
    member = buyer(client, cs)
    spend = {"points": 3000, "wallet_cents": 5000, "coupon_ids": [member.coupon.id]}
    placed = client.post(f"{BASE}/checkout", json=body(cs, **spend), headers=member.headers)
    assert placed.status_code == 201, placed.get_json()
    got = placed.get_json()
    assert (got["goods_cents"], got["delivery_cents"], got["discount_cents"]) == (GOODS, 0, 2000)
    assert got["total_cents"] == GOODS - 2000
    assert (got["points_used"], got["points_cents"], got["wallet_cents"]) == (3000, 3000, 5000)
    assert got["pay_cents"] == got["total_cents"] - 3000 - 5000 == 39_800
    assert (got["status"], got["may_pay"], got["payment_status"]) == (
        "awaiting_payment",
        True,
        "pending",
    )
    order = db.session.execute(select(ConsumerOrder).filter_by(number=got["number"])).scalar_one()
    assert db.session.get(Payment, order.payment_id).amount_cents == 39_800
    assert held(member.consumer) == (0, 9000) and wallet_of(member.consumer) == 5000
    assert fresh(member.coupon).status == "used"

    # Paying asks the provider for 398.00 only.
    started = client.post(f"{BASE}/orders/{got['number']}/pay", json={}, headers=member.headers)
    assert started.status_code == 200
    assert "amount_cents=39800" in started.get_json()["redirect_url"]
    pay_by_notice(order)
    db.session.commit()
    after = client.get(f"{BASE}/orders/{got['number']}", headers=member.headers).get_json()
    assert (after["status"], after["pay_cents"], after["refunded_cents"]) == ("paid", 39_800, 0)
    assert after["pickup_code"]
    # The member's own figures, as the API gives them.
    mine = client.get(f"{BASE}/member/points", headers=member.headers).get_json()
    assert mine["available"] == 9000
    money = client.get(f"{BASE}/member/wallet", headers=member.headers).get_json()
    assert money["balance_cents"] == 5000
    options = client.get(f"{BASE}/checkout/options", headers=member.headers).get_json()
    assert options["coupons"] == []  # used


def test_points_and_wallet_paying_everything_pay_the_order_at_once(client, cs):
    member = buyer(client, cs, points=9960, wallet=40_000)
    spend = {"points": 9960, "wallet_cents": GOODS - 9960}
    placed = client.post(f"{BASE}/checkout", json=body(cs, **spend), headers=member.headers)
    assert placed.status_code == 201, placed.get_json()
    got = placed.get_json()
    assert (got["status"], got["pay_cents"], got["may_pay"]) == ("paid", 0, False)
    assert got["payment_status"] is None and got["pickup_code"]
    assert got["paid_at"] is not None
    assert held(member.consumer) == (0, 0) and wallet_of(member.consumer) == 40_000 - 39_840
    pay = client.post(f"{BASE}/orders/{got['number']}/pay", json={}, headers=member.headers)
    assert pay.status_code == 409  # nothing is left to pay


# -- bad input -----------------------------------------------------------------------------------

SCHEMA = [  # refused by the shape of the body, before anything is looked at
    pytest.param({"points": "abc"}, "points", id="points-text"),
    pytest.param({"points": -1}, "points", id="points-negative"),
    pytest.param({"points": 1.5}, "points", id="points-fraction"),
    pytest.param({"wallet_cents": 99.5}, "wallet_cents", id="wallet-fraction"),
    pytest.param({"wallet_cents": "1,2,3"}, "wallet_cents", id="wallet-text"),
    pytest.param({"wallet_cents": -100}, "wallet_cents", id="wallet-negative"),
    pytest.param({"coupon_ids": ["x"]}, "coupon_ids.0", id="coupon-text"),
    pytest.param({"coupon_ids": list(range(1, 12))}, "coupon_ids", id="coupons-too-many"),
]
REFUSED = [  # refused by checkout, saying why
    pytest.param({"points": 12_001}, "points", "You have 12000 points to use.", id="points-held"),
    pytest.param(
        {"points": 9961},
        "points",
        "Points pay at most 20% of the goods: 9960 points on this order.",
        id="points-cap",
    ),
    pytest.param(
        {"wallet_cents": 10_001}, "wallet_cents", "Your wallet holds CN¥100.00.", id="wallet-held"
    ),
]


@pytest.mark.parametrize(("spend", "field"), SCHEMA)
def test_a_body_of_the_wrong_shape_is_refused_naming_the_field(client, cs, spend, field):
    member = buyer(client, cs)
    response = client.post(f"{BASE}/checkout", json=body(cs, **spend), headers=member.headers)
    assert list(fields(response)) == [field]
    assert orders_of(member.consumer) == 0


@pytest.mark.parametrize(("spend", "field", "message"), REFUSED)
def test_more_than_may_be_spent_is_refused_naming_the_field_and_nothing_is_spent(
    client, cs, spend, field, message
):
    member = buyer(client, cs)
    response = client.post(f"{BASE}/checkout", json=body(cs, **spend), headers=member.headers)
    assert fields(response) == {field: message}
    assert orders_of(member.consumer) == 0
    assert held(member.consumer) == (0, 12_000) and wallet_of(member.consumer) == 10_000
    cart = client.get(f"{BASE}/cart", headers=member.headers).get_json()
    assert cart["total_qty"] == 2  # still there


def test_another_members_coupon_or_a_used_one_is_refused_by_its_place_and_nothing_is_spent(
    client, cs
):
    member = buyer(client, cs)
    theirs = cs.give(cs.template(name="Theirs"), cs.shop.consumer())
    used = cs.give(cs.template(name="Used"), member.consumer)
    cs.buy(member.consumer, coupon_ids=(used.id,))
    db.session.commit()
    before = orders_of(member.consumer)
    spend = {
        "points": 100,
        "wallet_cents": 100,
        "coupon_ids": [member.coupon.id, theirs.id, used.id],
    }
    response = client.post(f"{BASE}/checkout", json=body(cs, **spend), headers=member.headers)
    assert fields(response) == {
        "coupon_ids.1": "This is not one of your coupons.",
        "coupon_ids.2": "This coupon has already been used.",
    }
    assert orders_of(member.consumer) == before
    assert held(member.consumer) == (0, 12_000) and wallet_of(member.consumer) == 10_000
    assert fresh(member.coupon).status == "held" and fresh(theirs).status == "held"


def test_a_non_member_asking_to_spend_is_told_to_join(client, cs):
    outsider = buyer(client, cs, member=False)
    for spend, field in (
        ({"points": 10}, "points"),
        ({"wallet_cents": 10}, "wallet_cents"),
        ({"coupon_ids": [1]}, "coupon_ids.0"),
    ):
        response = client.post(f"{BASE}/checkout", json=body(cs, **spend), headers=outsider.headers)
        assert list(fields(response)) == [field]
    assert orders_of(outsider.consumer) == 0


# -- retries -------------------------------------------------------------------------------------


def test_a_retried_checkout_spends_once(client, cs):
    member = buyer(client, cs)
    spend = {"points": 3000, "wallet_cents": 5000, "coupon_ids": [member.coupon.id]}
    first = client.post(f"{BASE}/checkout", json=body(cs, **spend), headers=member.headers)
    again = client.post(f"{BASE}/checkout", json=body(cs, **spend), headers=member.headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["number"] == first.get_json()["number"]
    assert again.get_json()["pay_cents"] == 39_800
    assert orders_of(member.consumer) == 1
    assert held(member.consumer) == (0, 9000) and wallet_of(member.consumer) == 5000


# -- calling off and refunds ---------------------------------------------------------------------


def test_calling_off_before_payment_gives_points_wallet_and_coupon_back(client, cs):
    member = buyer(client, cs)
    spend = {"points": 3000, "wallet_cents": 5000, "coupon_ids": [member.coupon.id]}
    number = client.post(
        f"{BASE}/checkout", json=body(cs, **spend), headers=member.headers
    ).get_json()["number"]
    cancelled = client.post(f"{BASE}/orders/{number}/cancel", json={}, headers=member.headers)
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert held(member.consumer) == (0, 12_000) and wallet_of(member.consumer) == 10_000
    assert fresh(member.coupon).status == "held"
    options = client.get(f"{BASE}/checkout/options", headers=member.headers).get_json()
    assert [c["id"] for c in options["coupons"]] == [member.coupon.id]


def test_calling_off_after_payment_refunds_the_provider_its_part_and_the_rest_to_the_member(
    client, cs
):
    member = buyer(client, cs)
    spend = {"points": 3000, "wallet_cents": 5000, "coupon_ids": [member.coupon.id]}
    number = client.post(
        f"{BASE}/checkout", json=body(cs, **spend), headers=member.headers
    ).get_json()["number"]
    order = db.session.execute(select(ConsumerOrder).filter_by(number=number)).scalar_one()
    pay_by_notice(order)
    db.session.commit()
    refunded = client.post(f"{BASE}/orders/{number}/cancel", json={}, headers=member.headers)
    assert refunded.status_code == 200
    got = refunded.get_json()
    assert (got["status"], got["refunded_cents"]) == ("refunded", 47_800)
    assert provider_refunds(order.payment_id) == [39_800]
    mine = client.get(f"{BASE}/member/points", headers=member.headers).get_json()
    money = client.get(f"{BASE}/member/wallet", headers=member.headers).get_json()
    assert (mine["available"], money["balance_cents"]) == (12_000, 10_000)
    assert money["entries"][0]["kind"] == "refund"
    assert money["entries"][0]["amount_cents"] == 5000
    assert fresh(member.coupon).status == "held"


# -- one token sent many times at once -------------------------------------------------------------

SENDERS = 6


@dataclass
class Arena:
    app: object
    headers: dict[str, str]
    body: dict
    member_id: int
    coupon_id: int

    def read(self, work):
        with self.app.app_context():
            try:
                return work()
            finally:
                db.session.remove()


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"])
def arena(request, tmp_path) -> Iterator[Arena]:
    if request.param == "postgresql":
        need("postgresql")
        url = fresh_postgres_database("spend_retry")
    else:
        url = f"sqlite:///{tmp_path / 'retry.db'}"
    app = create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=url,
        REDIS_URL=None,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 10, "max_overflow": 0, "pool_timeout": 120},
    )
    with app.app_context():
        db.create_all()
        cs = build_coupon_shop("SA")
        consumer = cs.shop.consumer()
        till_points(cs.shop, consumer, 12_000)
        fund(cs.shop, consumer, 10_000)
        coupon = cs.give(cs.template(), consumer)
        spend = {"points": 3000, "wallet_cents": 5000, "coupon_ids": [coupon.id]}
        lines = [{"variant_id": cs.shop.variant_id("TEE-BLK-M"), "qty": 1}]
        built = Arena(
            app,
            bearer(consumer),
            {**body(cs, token="at-once", **spend), "lines": lines},
            consumer.member_id,
            coupon.id,
        )
        db.session.commit()
        db.session.remove()
    yield built
    with app.app_context():
        db.engine.dispose()


def test_one_checkout_sent_many_times_at_once_is_one_order_spending_once(arena):
    start = threading.Barrier(SENDERS)

    def send(_: int) -> tuple[int, str]:
        client = arena.app.test_client()
        start.wait()
        response = client.post(f"{BASE}/checkout", json=arena.body, headers=arena.headers)
        got = response.get_json()
        return response.status_code, got.get("number") or str(got)

    with ThreadPoolExecutor(max_workers=SENDERS) as pool:
        answers = list(pool.map(send, range(SENDERS)))
    assert sorted(status for status, _number in answers) == [200] * (SENDERS - 1) + [201], answers
    assert len({number for _status, number in answers}) == 1, answers

    def state() -> tuple:
        member = membership.lock_member(arena.member_id)
        count = db.session.execute(select(func.count(ConsumerOrder.id))).scalar_one()
        coupon = db.session.get(Coupon, arena.coupon_id)
        return count, points.balance(member).available, wallet.balance_cents(member), coupon.status

    assert arena.read(state) == (1, 9000, 5000, "used")
