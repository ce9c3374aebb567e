"""Real concurrency for the employee store's limits and a private sale's set-aside stock: each
checkout in its own thread, app context, session and transaction, against a committed database
made for the test (PostgreSQL: a fresh database; SQLite: a file).

    One person checking out ten times at once, one unit each, under a limit of four units of
    the SKU: exactly four orders; the rest are refused naming the limit.
    Twelve people buying in a sale that set five units aside: exactly five are sold, the levels
    do not move, and the ledger agrees with them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal.core.db import writing
from portal.core.errors import PortalError
from portal.extensions import db
from portal.inventory.models import Grade, StockLevel
from portal.inventory.services import check_ledger
from portal.members.sale_models import PrivateSaleItem
from portal.network.models import Organization
from portal.storefront import tiers
from portal.storefront.checkout import CheckoutLine, checkout
from portal.storefront.hooks import CheckoutExtras
from portal.storefront.models import Consumer, ConsumerOrder, Fulfilment, Tier
from tests.members.test_private_sales import SaleShop, build_sale_shop, let_in
from tests.support.races import race_app

LIMIT = 4
TRIES = 10
BUYERS = 12
SET_ASIDE = 5


@dataclass
class Arena:
    app: object
    brand_id: int
    lujiazui: int
    tee: int
    polo: int
    built: SaleShop
    consumers: list[int] = field(default_factory=list)

    def read(self, work):
        with self.app.app_context():
            try:
                return work()
            finally:
                db.session.remove()


def build_arena(app: Flask) -> Arena:
    """The race's world on `app` (tests/support/races.py: a database of its own)."""
    with app.app_context():
        built = build_sale_shop("RC", units_per_sku=LIMIT)
        tiers.move_tier(built.hq, [built.shop.net.variants["TEE-BLK-M"]], Tier.OUTLET)
        built.shop.receive("LJ", "TEE-BLK-M", 20)
        built.sale(items=(("POLO-WHT-M", Grade.A, 9900, SET_ASIDE, None),))
        arena = Arena(
            app,
            built.brand.id,
            built.shop.locations["LJ"].id,
            built.variant_id("TEE-BLK-M"),
            built.variant_id("POLO-WHT-M"),
            built,
        )
        for _ in range(BUYERS):
            arena.consumers.append(built.person().id)
        db.session.commit()
        db.session.remove()
    return arena


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"])
def arena(request, tmp_path, monkeypatch) -> Iterator[Arena]:
    built = build_arena(race_app(request.param, tmp_path, "sale_race", pool_size=20))
    let_in(monkeypatch, built.built)  # after create_app, which registers the real door
    yield built
    with built.app.app_context():
        db.engine.dispose()


def _at_once(arena: Arena, works) -> list[str]:
    start = threading.Barrier(len(works))

    def run(index: int) -> str:
        with arena.app.app_context(), writing():
            try:
                start.wait()
                outcome = works[index]()
                db.session.commit()
                return outcome
            except PortalError as error:
                db.session.rollback()
                return f"{error.code}: {' '.join(error.fields.values())}"
            except Exception as error:  # noqa: BLE001 - reported, never hidden
                db.session.rollback()
                return repr(error)
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=len(works)) as pool:
        return list(pool.map(run, range(len(works))))


def _buys(arena: Arena, consumer_id: int, variant_id: int, token: str, event: str | None = None):
    def work() -> str:
        checkout(
            db.session.get(Consumer, consumer_id),
            db.session.get(Organization, arena.brand_id),
            Tier.EMPLOYEE,
            [CheckoutLine(variant_id, 1)],
            fulfilment=Fulfilment.PICKUP,
            checkout_token=token,
            pickup_location_id=arena.lujiazui,
            extras=CheckoutExtras(event_code=event),
        )
        return "bought"

    return work


def _count_orders(arena: Arena, *conditions) -> int:
    return arena.read(
        lambda: db.session.execute(
            select(func.count(ConsumerOrder.id)).where(*conditions)
        ).scalar_one()
    )


def test_one_person_checking_out_at_once_never_passes_the_limit(arena):
    person = arena.consumers[0]
    works = [_buys(arena, person, arena.tee, f"try-{i}") for i in range(TRIES)]
    outcomes = _at_once(arena, works)
    assert outcomes.count("bought") == LIMIT, outcomes
    refused = [o for o in outcomes if o != "bought"]
    assert all(o.startswith("validation_error: Limit 4 per person for TEE-BLK-M") for o in refused)
    assert _count_orders(arena, ConsumerOrder.consumer_id == person) == LIMIT
    assert arena.read(check_ledger) == []


def test_many_people_buying_in_a_sale_take_exactly_what_was_set_aside(arena):
    before = arena.read(lambda: _level(arena))
    works = [
        _buys(arena, consumer, arena.polo, f"sale-{i}", "SS26")
        for i, consumer in enumerate(arena.consumers)
    ]
    outcomes = _at_once(arena, works)
    assert outcomes.count("bought") == SET_ASIDE, outcomes
    lost = [o for o in outcomes if o != "bought"]
    assert all(o.split(":")[0] in {"validation_error", "insufficient_stock"} for o in lost), lost
    assert all("left in this sale" in o for o in lost), lost
    assert _count_orders(arena, ConsumerOrder.event_id.is_not(None)) == SET_ASIDE
    taken = arena.read(lambda: db.session.execute(select(PrivateSaleItem.taken_qty)).scalar_one())
    assert taken == SET_ASIDE
    assert arena.read(lambda: _level(arena)) == before  # held for the sale, now for its orders
    assert arena.read(check_ledger) == []


def _level(arena: Arena) -> tuple[int, int]:
    row = db.session.execute(
        select(StockLevel.on_hand, StockLevel.reserved).where(
            StockLevel.location_id == arena.lujiazui, StockLevel.variant_id == arena.polo
        )
    ).one()
    return row[0], row[1]
