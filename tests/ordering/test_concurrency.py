"""Orders placed at once through the real API (bearer tokens, JSON, the whole request path), each
request in its own thread, connection and transaction, against one committed database.

    64 distributors racing for 100 units of one SKU: exactly 100 reserved, the rest refused with
    `insufficient_stock`, no other error, the ledger check clean.
    50 parallel replays of one Idempotency-Key: one order; every answer is that order or 409.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from portal import create_app
from portal.auth import services as auth
from portal.core.access import ROLE_PERMISSIONS, Actor, OrgKind, Permission, Role
from portal.core.idempotency import IdempotencyKey
from portal.extensions import db
from portal.inventory import services as stock
from portal.inventory.models import MoveReason, StockLevel
from portal.network import services as network
from portal.ordering.models import Order
from tests.conftest import need
from tests.support.policy import build_network
from tests.support.services import fresh_postgres_database

BUYERS = 64
UNITS = 100


@dataclass
class Market:
    app: object
    tokens: list[str]  # one API key per buyer
    location_id: int
    variant_id: int

    def level(self) -> tuple[int, int]:
        with self.app.app_context():
            row = db.session.execute(
                select(StockLevel.on_hand, StockLevel.reserved).where(
                    StockLevel.location_id == self.location_id,
                    StockLevel.variant_id == self.variant_id,
                )
            ).one()
            return row[0], row[1]

    def count_orders(self) -> int:
        with self.app.app_context():
            return db.session.execute(select(func.count(Order.id))).scalar_one()


def build_market(url: str, buyers: int) -> Market:
    app = create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=url,
        REDIS_URL=None,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 24, "max_overflow": 0, "pool_timeout": 120},
    )
    with app.app_context():
        db.create_all()
        net = build_network("OC")
        net.publish("OC-BASE", price="all 50%")
        system = Actor.system()
        tokens = []
        for index in range(buyers):
            link = network.add_org(
                system,
                brand_id=net.brand.id,
                kind="distributor",
                code=f"OCD{index:03d}",
                name=f"Racer {index}",
                level="A",
                region="north",
                credit_limit_cents=10**9,
            )
            admin = Actor(
                org_id=link.buyer_org_id,
                org_kind=OrgKind.DISTRIBUTOR,
                permissions=ROLE_PERMISSIONS[Role.DISTRIBUTOR_ADMIN],
                paths={net.brand.id: link.path},
                role=Role.DISTRIBUTOR_ADMIN,
            )
            _key, token = auth.create_api_key(
                admin, name="erp", scopes=[Permission.ORDER_PLACE, Permission.ORDER_VIEW]
            )
            tokens.append(token)
        location = stock.default_location(net.brand)
        variant = net.variants["TEE-BLK-M"]
        stock.apply_moves(
            system,
            [stock.MoveLine(location.id, variant.id, UNITS)],
            reason=MoveReason.RECEIPT,
        )
        db.session.commit()
        market = Market(app, tokens, location.id, variant.id)
        db.session.remove()
    return market


def post_all(market: Market, requests: list[tuple[str, dict, dict]]) -> list[tuple[int, dict]]:
    """Every (token, body, extra headers) posted in its own thread, released together."""
    start = threading.Barrier(len(requests))

    def post(index: int) -> tuple[int, dict]:
        token, body, headers = requests[index]
        client = market.app.test_client()
        start.wait()
        response = client.post(
            "/api/v1/orders",
            json=body,
            headers={"Authorization": f"Bearer {token}", **headers},
        )
        return response.status_code, response.get_json()

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(post, range(len(requests))))


ORDER = {"brand": "OC", "lines": [{"sku": "TEE-BLK-M", "qty": 2}]}


def assert_exactly_sold(market: Market, outcomes: list[tuple[int, dict]]) -> None:
    won = [body for status, body in outcomes if status == 201]
    lost = [body for status, body in outcomes if status != 201]
    assert all(body["error"]["code"] == "insufficient_stock" for body in lost), lost[:3]
    assert len(won) == UNITS // 2
    assert len({body["number"] for body in won}) == len(won)
    assert market.level() == (UNITS, UNITS)
    assert market.count_orders() == len(won)
    with market.app.app_context():
        assert stock.check_ledger() == []


@pytest.fixture
def pg_market() -> Iterator:
    need("postgresql")
    built: list[Market] = []

    def make(buyers: int) -> Market:
        market = build_market(fresh_postgres_database(f"order_race_{len(built)}"), buyers)
        built.append(market)
        return market

    yield make
    for market in built:
        with market.app.app_context():
            db.engine.dispose()


@pytest.mark.postgres
def test_postgres_64_buyers_racing_for_100_units_sell_exactly_100(pg_market):
    market = pg_market(BUYERS)
    outcomes = post_all(market, [(token, ORDER, {}) for token in market.tokens])
    assert_exactly_sold(market, outcomes)


def test_sqlite_64_buyers_racing_for_100_units_sell_exactly_100(tmp_path):
    market = build_market(f"sqlite:///{tmp_path / 'race.db'}", BUYERS)
    try:
        outcomes = post_all(market, [(token, ORDER, {}) for token in market.tokens])
        assert_exactly_sold(market, outcomes)
    finally:
        with market.app.app_context():
            db.engine.dispose()


@pytest.mark.postgres
def test_postgres_50_parallel_replays_of_one_key_make_one_order(pg_market):
    market = pg_market(1)
    token = market.tokens[0]
    key = {"Idempotency-Key": "erp-order-4711"}
    outcomes = post_all(market, [(token, ORDER, key) for _ in range(50)])
    statuses = {status for status, _ in outcomes}
    assert statuses <= {201, 409}, outcomes[:3]
    numbers = {body["number"] for status, body in outcomes if status == 201}
    assert len(numbers) == 1
    in_flight = [body for status, body in outcomes if status == 409]
    assert all(body["error"]["code"] == "idempotency_in_progress" for body in in_flight)
    assert market.count_orders() == 1
    assert market.level() == (UNITS, 2)
    # Afterwards every replay is the first answer.
    ((status, body),) = post_all(market, [(token, ORDER, key)])
    assert (status, body["number"]) == (201, numbers.pop())
    with market.app.app_context():
        assert db.session.execute(select(func.count(IdempotencyKey.id))).scalar_one() == 1
