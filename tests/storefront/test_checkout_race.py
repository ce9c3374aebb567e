"""A flash sale at one pickup store, for real: consumers in threads of their own, each in its own
transaction against a committed database (PostgreSQL: a fresh database; SQLite: a file).

Checkout looks at the store's stock before it writes anything and holds the units last (the
level's row lock is then held only until the commit). What a buyer notices must not change:
exactly the units on sale are sold, each sold order waits for its payment, a refused buyer is
told how many are left and leaves no order or payment behind, and the ledger agrees.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from portal.core.db import writing
from portal.core.errors import PortalError
from portal.extensions import db
from portal.inventory.models import Grade, StockLevel, StockMove
from portal.inventory.services import check_ledger
from portal.network.models import Organization
from portal.storefront.checkout import CheckoutLine, place
from portal.storefront.models import Consumer, ConsumerOrder, Fulfilment, Tier
from portal.storefront.payments.models import Payment, PaymentStatus
from tests.support.races import race_app
from tests.support.retail import build_retail_shop

SKU = "TEE-BLK-M"  # Lujiazui holds 5 and keeps no safety stock
UNITS = 5
BUYERS = 16


@dataclass
class Sale:
    app: object
    brand_id: int
    variant_id: int
    store_id: int
    consumers: list[int] = field(default_factory=list)

    def read(self, work):
        with self.app.app_context():
            try:
                return work()
            finally:
                db.session.remove()

    def level(self) -> tuple[int, int]:
        return self.read(
            lambda: tuple(
                db.session.execute(
                    select(StockLevel.on_hand, StockLevel.reserved).where(
                        StockLevel.location_id == self.store_id,
                        StockLevel.variant_id == self.variant_id,
                        StockLevel.grade == Grade.A,
                    )
                ).one()
            )
        )

    def count(self, model, *conditions) -> int:
        return self.read(
            lambda: db.session.execute(
                select(func.count()).select_from(model).where(*conditions)
            ).scalar_one()
        )


def build_sale(app: Flask) -> Sale:
    """The race's world on `app` (tests/support/races.py: a database of its own)."""
    with app.app_context():
        shop = build_retail_shop("FS")
        sale = Sale(app, shop.brand.id, shop.variant_id(SKU), shop.locations["LJ"].id)
        sale.consumers = [shop.consumer(member=False).id for _ in range(BUYERS)]
        db.session.commit()
        db.session.remove()
    return sale


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"])
def sale(request, tmp_path) -> Iterator[Sale]:
    built = build_sale(race_app(request.param, tmp_path, "flash_sale", pool_size=24))
    yield built
    with built.app.app_context():
        db.engine.dispose()


def _buy(sale: Sale, index: int, *, token: str = "", before_commit=None) -> str:
    """One consumer checks out one unit for pickup at the store, in a transaction of their own:
    the order's number, or the refusal's code and message."""
    with sale.app.app_context(), writing():
        try:
            placed = place(
                db.session.get(Consumer, sale.consumers[index]),
                db.session.get(Organization, sale.brand_id),
                Tier.OFFICIAL,
                [CheckoutLine(sale.variant_id, 1)],
                fulfilment=Fulfilment.PICKUP,
                checkout_token=token or f"flash-{index}",
                pickup_location_id=sale.store_id,
            )
            if before_commit is not None:
                before_commit()
            db.session.commit()
            return placed.order.number
        except PortalError as error:
            db.session.commit()  # a refusal leaves nothing, even when the caller commits
            return f"{error.code}: {error.message}"
        finally:
            db.session.remove()


def _sold_orders(sale: Sale) -> list[tuple[str, int, str, int]]:
    """Each placed order with its payment: (number, total, payment status, payment amount)."""
    return sale.read(
        lambda: [
            tuple(row)
            for row in db.session.execute(
                select(
                    ConsumerOrder.number,
                    ConsumerOrder.total_cents,
                    Payment.status,
                    Payment.amount_cents,
                ).join(Payment, Payment.id == ConsumerOrder.payment_id)
            )
        ]
    )


def test_a_crowd_at_one_store_buys_exactly_its_units_and_the_rest_leave_nothing(sale):
    start = threading.Barrier(BUYERS)

    def run(index: int) -> str:
        start.wait()
        return _buy(sale, index)

    with ThreadPoolExecutor(max_workers=BUYERS) as pool:
        outcomes = list(pool.map(run, range(BUYERS)))
    sold = [o for o in outcomes if o.startswith("C")]
    refused = [o for o in outcomes if o not in sold]
    assert len(sold) == UNITS
    assert all(o.startswith("insufficient_stock: Not enough left at Lujiazui") for o in refused)
    assert sale.level() == (UNITS, UNITS)
    # Every order sold waits for its own payment; nobody refused left an order or a payment.
    orders = _sold_orders(sale)
    assert sorted(o[0] for o in orders) == sorted(sold)
    assert all(
        status == PaymentStatus.PENDING and amount == total for _n, total, status, amount in orders
    )
    assert sale.count(ConsumerOrder) == UNITS and sale.count(Payment) == UNITS
    assert sale.count(StockMove, StockMove.reference.in_(sold)) == UNITS
    assert sale.read(check_ledger) == []
    # Sold out: the next buyer is told so at once, and nothing is written.
    for index in (0, BUYERS - 1):
        assert _buy(sale, index, token="late") == (
            "insufficient_stock: Not enough left at Lujiazui shelf: Only 0 available."
        )
    assert sale.count(ConsumerOrder) == UNITS and sale.count(Payment) == UNITS


@pytest.mark.postgres
def test_the_last_unit_goes_to_whoever_holds_it_first_and_the_other_leaves_nothing(tmp_path):
    """The second buyer looks while the first has not committed, so the look says one unit is
    left; the second then waits on the level's row lock, and once the first commits the
    reservation refuses: the same words as the look, and no order or payment of theirs."""
    sale = build_sale(race_app("postgresql", tmp_path, "last_unit", pool_size=24))
    try:
        for index in range(UNITS - 1):
            assert _buy(sale, index).startswith("C")
        assert sale.level() == (UNITS, UNITS - 1)
        holding, go_on = threading.Event(), threading.Event()

        def hold_until_told() -> None:
            holding.set()
            assert go_on.wait(30)

        with ThreadPoolExecutor(max_workers=2) as pool:
            first = pool.submit(_buy, sale, UNITS, before_commit=hold_until_told)
            assert holding.wait(30)
            second = pool.submit(_buy, sale, UNITS + 1)
            _wait_for_a_lock_wait(sale)
            go_on.set()
            first_outcome, second_outcome = first.result(60), second.result(60)
        assert first_outcome.startswith("C")
        assert second_outcome == (
            "insufficient_stock: Not enough left at Lujiazui shelf: Only 0 available."
        )
        assert sale.level() == (UNITS, UNITS)
        second_consumer = sale.consumers[UNITS + 1]
        assert sale.count(ConsumerOrder, ConsumerOrder.consumer_id == second_consumer) == 0
        assert sale.count(ConsumerOrder) == UNITS and sale.count(Payment) == UNITS
        assert sale.read(check_ledger) == []
    finally:
        with sale.app.app_context():
            db.engine.dispose()


def _wait_for_a_lock_wait(sale: Sale) -> None:
    """Until a session of the test's database waits on a lock (the second buyer's reservation)."""

    def waiting() -> int:
        return db.session.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar_one()

    deadline = time.monotonic() + 30
    while not sale.read(waiting):
        assert time.monotonic() < deadline, "the second checkout never waited on the level"
        time.sleep(0.02)


def test_place_says_when_the_token_had_placed_the_order_already(app):
    shop = build_retail_shop()
    consumer = shop.consumer()

    def again():
        return place(
            consumer,
            shop.brand,
            Tier.OFFICIAL,
            [CheckoutLine(shop.variant_id(SKU), 2)],
            fulfilment=Fulfilment.PICKUP,
            checkout_token="tap-tap",
            pickup_location_id=shop.locations["LJ"].id,
        )

    first, second = again(), again()
    assert (first.replayed, second.replayed) == (False, True)
    assert second.order.number == first.order.number
    assert shop.level("LJ", SKU) == (5, 2)
