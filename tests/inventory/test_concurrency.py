"""Real concurrency, no mocks: many threads, each with its own app context, session and
transaction, reserve the same SKUs of one committed database at once.

Outside the rollback harness: each test builds its own committed database (PostgreSQL: a fresh
database, dropped at the end of the run; SQLite: a file in tmp_path)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from sqlalchemy import event, select

from portal import create_app
from portal.catalog.models import Variant
from portal.core.access import Actor
from portal.core.db import writing
from portal.extensions import db
from portal.inventory import services
from portal.inventory.errors import InsufficientStock
from portal.inventory.models import Location, LocationKind, MoveReason, StockLevel
from portal.inventory.services import MoveLine, apply_moves, check_ledger
from tests.conftest import need
from tests.support.policy import build_network
from tests.support.services import fresh_postgres_database

BUYERS = 64
SYSTEM = Actor.system()


@dataclass
class Race:
    app: object
    location_id: int
    variant_ids: dict[str, int]  # by SKU

    def level(self, sku: str) -> tuple[int, int]:
        with self.app.app_context():
            row = db.session.execute(
                select(StockLevel.on_hand, StockLevel.reserved).where(
                    StockLevel.location_id == self.location_id,
                    StockLevel.variant_id == self.variant_ids[sku],
                )
            ).one()
            return row[0], row[1]

    def check(self) -> list:
        with self.app.app_context():
            return check_ledger()


def build_race(url: str, receipts: dict[str, int]) -> Race:
    """A committed database with a brand, its warehouse and receipts of some of its SKUs."""
    app = create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=url,
        REDIS_URL=None,
        # Half the buyers hold a connection at any moment, the rest wait for one: the race is in
        # the database, and the run leaves room on a PostgreSQL shared with other test runs.
        SQLALCHEMY_ENGINE_OPTIONS={
            "pool_size": BUYERS // 2,
            "max_overflow": 0,
            "pool_timeout": 120,
        },
    )
    with app.app_context():
        db.create_all()
        net = build_network("RC")
        location = services.ensure_default_location(
            net.brand.id, code="RC-WH", name="Race warehouse", kind=LocationKind.WAREHOUSE
        )
        variant_ids = {sku: v.id for sku, v in net.variants.items()}
        apply_moves(
            SYSTEM,
            [MoveLine(location.id, variant_ids[sku], qty) for sku, qty in receipts.items()],
            reason=MoveReason.RECEIPT,
        )
        db.session.commit()
        race = Race(app=app, location_id=location.id, variant_ids=variant_ids)
        db.session.remove()
    return race


def slow_level_updates(app, seconds: float = 0.005):
    """Hold each level's row lock a little longer: transactions overlap as they do under load,
    and a lock taken out of order would meet the other transaction's lock."""
    with app.app_context():
        engine = db.engine

    def pause(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE STOCK_LEVELS"):
            time.sleep(seconds)

    event.listen(engine, "after_cursor_execute", pause)
    return lambda: event.remove(engine, "after_cursor_execute", pause)


def run_buyers(race: Race, orders: list[list[tuple[str, int]]]) -> list[tuple[str, object]]:
    """Every order in its own thread and transaction, released together; returns per order
    ("ok", None), ("short", InsufficientStock) or ("error", the exception)."""
    start = threading.Barrier(len(orders))

    def buy(index: int) -> tuple[str, object]:
        # Each buyer is a writing unit of work, as a POST request or a job is.
        with race.app.app_context(), writing():
            lines = [
                MoveLine(race.location_id, race.variant_ids[sku], reserved_delta=qty)
                for sku, qty in orders[index]
            ]
            start.wait()
            try:
                apply_moves(SYSTEM, lines, reason=MoveReason.RESERVE, reference=f"PO-{index}")
                time.sleep(0.002)  # the rest of the order's work, holding the locks
                db.session.commit()
                return "ok", None
            except InsufficientStock as error:
                db.session.rollback()
                return "short", error
            except Exception as error:  # noqa: BLE001 - reported, never hidden
                db.session.rollback()
                return "error", error
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=len(orders)) as pool:
        return list(pool.map(buy, range(len(orders))))


def assert_no_oversell(race: Race, orders, outcomes, units: int) -> None:
    errors = [repr(value) for kind, value in outcomes if kind == "error"]
    assert errors == [], f"{len(errors)} of {len(orders)} buyers failed otherwise: {errors[:5]}"
    won = [
        qty
        for (kind, _), order in zip(outcomes, orders, strict=True)
        if kind == "ok"
        for _, qty in order
    ]
    lost = [
        order[0][1] for (kind, _), order in zip(outcomes, orders, strict=True) if kind == "short"
    ]
    on_hand, reserved = race.level("TEE-BLK-M")
    assert on_hand == units
    assert reserved == sum(won) <= units
    # Nobody was refused while their quantity was still there: available only ever shrinks, so
    # what is left at the end is less than every refused quantity.
    if lost:
        assert units - reserved < min(lost)
    for (kind, value), order in zip(outcomes, orders, strict=True):
        if kind == "short":
            assert value.extra["available"] < order[0][1]
    assert race.check() == []


ORDERS = {
    # 64 x 2 units for 100: exactly 50 buyers win and every unit is reserved
    "two_each": [[("TEE-BLK-M", 2)] for _ in range(BUYERS)],
    # 64 x 1-5 units (fixed seed)
    "one_to_five": [[("TEE-BLK-M", random.Random(i).randint(1, 5))] for i in range(BUYERS)],
}


@pytest.fixture
def pg_race() -> Iterator:
    need("postgresql")
    built: list[Race] = []

    def make(receipts: dict[str, int]) -> Race:
        race = build_race(fresh_postgres_database(f"inv_race_{len(built)}"), receipts)
        built.append(race)
        return race

    yield make
    for race in built:
        with race.app.app_context():
            db.engine.dispose()


@pytest.fixture
def sqlite_race(tmp_path) -> Iterator:
    built: list[Race] = []

    def make(receipts: dict[str, int]) -> Race:
        race = build_race(f"sqlite:///{tmp_path / f'race{len(built)}.db'}", receipts)
        built.append(race)
        return race

    yield make
    for race in built:
        with race.app.app_context():
            db.engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("orders", ORDERS.values(), ids=ORDERS.keys())
def test_postgres_buyers_racing_for_one_sku_never_oversell(pg_race, orders):
    race = pg_race({"TEE-BLK-M": 100})
    undo = slow_level_updates(race.app)
    try:
        outcomes = run_buyers(race, orders)
    finally:
        undo()
    assert_no_oversell(race, orders, outcomes, 100)
    if orders is ORDERS["two_each"]:
        assert [kind for kind, _ in outcomes].count("ok") == 50
        assert race.level("TEE-BLK-M") == (100, 100)


@pytest.mark.postgres
def test_postgres_two_skus_taken_in_opposite_orders_never_deadlock(pg_race):
    race = pg_race({"TEE-BLK-M": 1000, "TEE-BLK-L": 1000})
    a_then_b = [("TEE-BLK-M", 3), ("TEE-BLK-L", 2)]
    b_then_a = [("TEE-BLK-L", 2), ("TEE-BLK-M", 3)]
    orders = [a_then_b if i % 2 else b_then_a for i in range(BUYERS)]
    undo = slow_level_updates(race.app)
    try:
        outcomes = run_buyers(race, orders)
    finally:
        undo()
    failures = [repr(value) for kind, value in outcomes if kind != "ok"]
    assert failures == []
    assert race.level("TEE-BLK-M") == (1000, 3 * BUYERS)
    assert race.level("TEE-BLK-L") == (1000, 2 * BUYERS)
    assert race.check() == []


@pytest.mark.parametrize("orders", ORDERS.values(), ids=ORDERS.keys())
def test_sqlite_buyers_racing_for_one_sku_never_oversell(sqlite_race, orders):
    race = sqlite_race({"TEE-BLK-M": 100})
    outcomes = run_buyers(race, orders)
    assert_no_oversell(race, orders, outcomes, 100)


@pytest.mark.postgres
def test_postgres_a_count_taken_while_a_shipment_is_in_flight_ends_at_what_was_counted(pg_race):
    """The count reads the level it corrects under the row lock: a shipment committing in
    between is not overwritten with a difference computed from the old level."""
    race = pg_race({"TEE-BLK-M": 10})
    variant_id = race.variant_ids["TEE-BLK-M"]
    shipping = threading.Event()

    def ship() -> None:
        with race.app.app_context():
            apply_moves(
                SYSTEM,
                [MoveLine(race.location_id, variant_id, on_hand_delta=-2)],
                reason=MoveReason.SHIPMENT,
            )
            shipping.set()
            time.sleep(0.5)  # the count starts while this transaction holds the level
            db.session.commit()
            db.session.remove()

    def count() -> None:
        shipping.wait(10)
        with race.app.app_context():
            location = db.session.get(Location, race.location_id)
            variant = db.session.get(Variant, variant_id)
            services.count_stock(SYSTEM, location, variant, counted=7, grade="A", note="Count")
            db.session.commit()
            db.session.remove()

    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(ship), pool.submit(count)]:
            future.result(timeout=30)
    assert race.level("TEE-BLK-M") == (7, 0)
    assert race.check() == []
