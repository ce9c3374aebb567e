"""Real concurrency, no mocks: checkouts of one member spending points and wallet money race,
each in its own thread, app context, session and transaction against a committed database made
for the test (PostgreSQL: a fresh database, where the member's row lock is what keeps the
balances whole; SQLite: a file, whose writes take turns anyway).

    8 checkouts at once, each spending 10.00 of points and 10.00 of wallet money, by a member
    holding enough for 3: exactly 3 orders, the others refused naming what is held, and neither
    balance below zero.
    8 different notices of one top-up's payment at once: one credit.
    8 tills reporting sales of one member at once: all earn; one sale sent 8 times: one sale.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from portal.core.access import Actor
from portal.extensions import db
from portal.inventory.models import Location
from portal.members import membership, points, wallet
from portal.members.ledger_models import PointsEntry, PosSale, WalletEntry
from portal.network.models import Organization
from portal.storefront.checkout import CheckoutLine, checkout
from portal.storefront.hooks import CheckoutExtras
from portal.storefront.models import Consumer, ConsumerOrder, Fulfilment, Tier
from portal.storefront.payments import services as payments
from portal.storefront.payments.base import Notice, NoticeStatus
from portal.storefront.payments.models import Payment
from tests.members.test_points import TEE, fund, till_points
from tests.support.races import at_once, race_app
from tests.support.retail import build_retail_shop

RACERS = 8
AFFORDABLE = 3
EACH = 1000  # points, and fen of wallet money, per checkout


@dataclass
class Arena:
    app: object
    brand_id: int
    consumer_id: int
    member_id: int
    variant_id: int
    store_id: int
    backend: str
    phone: str

    def read(self, work):
        with self.app.app_context():
            try:
                return work()
            finally:
                db.session.remove()


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"])
def arena(request, tmp_path) -> Iterator[Arena]:
    app = race_app(request.param, tmp_path, "points_race")
    with app.app_context():
        shop = build_retail_shop("PR")
        shop.receive("LJ", TEE, RACERS)  # stock is not what runs out here
        consumer = shop.consumer()
        till_points(shop, consumer, AFFORDABLE * EACH)  # a point per yuan
        fund(shop, consumer, AFFORDABLE * EACH)
        member = membership.member_of(consumer)
        built = Arena(
            app,
            shop.brand.id,
            consumer.id,
            member.id,
            shop.variant_id(TEE),
            shop.locations["LJ"].id,
            request.param,
            consumer.phone or "",
        )
        db.session.commit()
        db.session.remove()
    yield built
    with app.app_context():
        db.engine.dispose()


def _at_once(app, works) -> list[str]:
    return at_once(app, works, lambda error: f"{error.code}: {error.fields}")


def _checkout(arena: Arena, index: int):
    def work() -> str:
        consumer = db.session.execute(
            select(Consumer).where(Consumer.id == arena.consumer_id)
        ).scalar_one()
        brand = db.session.execute(
            select(Organization).where(Organization.id == arena.brand_id)
        ).scalar_one()
        order = checkout(
            consumer,
            brand,
            Tier.OFFICIAL,
            [CheckoutLine(arena.variant_id, 1)],
            fulfilment=Fulfilment.PICKUP,
            checkout_token=f"race-{index}",
            pickup_location_id=arena.store_id,
            extras=CheckoutExtras(points=EACH, wallet_cents=EACH),
        )
        return "placed" if order.points_used == EACH and order.wallet_cents == EACH else "odd"

    return work


def _balances(arena: Arena) -> tuple[int, int]:
    def read() -> tuple[int, int]:
        member = membership.lock_member(arena.member_id)
        return points.balance(member).available, wallet.balance_cents(member)

    return arena.read(read)


def test_checkouts_racing_for_one_members_points_and_wallet_spend_only_what_is_held(arena, request):
    assert _balances(arena) == (AFFORDABLE * EACH, AFFORDABLE * EACH)
    outcomes = _at_once(arena.app, [_checkout(arena, i) for i in range(RACERS)])
    placed = [o for o in outcomes if o == "placed"]
    refused = [o for o in outcomes if o != "placed"]
    assert len(placed) == AFFORDABLE, outcomes
    assert all(o.startswith("validation_error") for o in refused), refused
    assert all("points" in o or "wallet_cents" in o for o in refused), refused
    assert _balances(arena) == (0, 0)
    orders = arena.read(
        lambda: db.session.execute(select(func.count(ConsumerOrder.id))).scalar_one()
    )
    assert orders == AFFORDABLE

    def lowest() -> tuple[int, int]:
        least_points = db.session.execute(select(func.min(PointsEntry.available_after)))
        least_money = db.session.execute(select(func.min(WalletEntry.balance_after_cents)))
        return least_points.scalar_one(), least_money.scalar_one()

    assert arena.read(lowest) == (0, 0)  # no entry ever went below zero


def test_notices_of_one_top_up_told_many_times_at_once_credit_it_once(arena):
    def start() -> tuple[str, int]:
        consumer = db.session.execute(
            select(Consumer).where(Consumer.id == arena.consumer_id)
        ).scalar_one()
        brand = db.session.execute(
            select(Organization).where(Organization.id == arena.brand_id)
        ).scalar_one()
        made = wallet.start_top_up(consumer, brand, 5000)
        payment = wallet.payment_of(made)
        db.session.commit()
        return payment.reference, payment.id

    reference, _payment_id = arena.read(start)

    def notice(index: int):
        def work() -> str:
            result = payments.record_notice(
                Notice("test", f"N-{index}", reference, "T-1", 5000, "CNY", NoticeStatus.PAID)
            )
            wallet.top_up_paid(result.payment)
            return result.notice.outcome

        return work

    outcomes = _at_once(arena.app, [notice(i) for i in range(RACERS)])
    assert sorted(outcomes) == ["applied"] + ["ignored"] * (RACERS - 1), outcomes
    assert _balances(arena) == (AFFORDABLE * EACH, AFFORDABLE * EACH + 5000)
    credits = arena.read(
        lambda: db.session.execute(
            select(func.count(WalletEntry.id)).where(WalletEntry.kind == "top_up")
        ).scalar_one()
    )
    assert credits == 2  # the arena's own funding, and this one
    status = arena.read(
        lambda: db.session.execute(
            select(Payment.status).where(Payment.reference == reference)
        ).scalar_one()
    )
    assert status == "paid"


def _till_sale(arena: Arena, reference: str, amount_cents: int):
    def work() -> str:
        brand = db.session.execute(
            select(Organization).where(Organization.id == arena.brand_id)
        ).scalar_one()
        store = db.session.execute(
            select(Location).where(Location.id == arena.store_id)
        ).scalar_one()
        result = points.record_pos_sale(
            Actor.system(),
            brand,
            store,
            phone=arena.phone,
            amount_cents=amount_cents,
            reference=reference,
        )
        return "created" if result.created else "replayed"

    return work


def test_tills_reporting_one_members_sales_at_once_all_earn_and_a_retry_is_one_sale(arena):
    works = [_till_sale(arena, f"T-{index}", 10_000) for index in range(RACERS)]
    assert _at_once(arena.app, works) == ["created"] * RACERS
    works = [_till_sale(arena, "T-same", 10_000) for _ in range(RACERS)]
    assert sorted(_at_once(arena.app, works)) == ["created"] + ["replayed"] * (RACERS - 1)

    def pending() -> int:
        member = membership.lock_member(arena.member_id)
        return points.balance(member).pending

    assert arena.read(pending) == (RACERS + 1) * 100
    sales = arena.read(lambda: db.session.execute(select(func.count(PosSale.id))).scalar_one())
    assert sales == 1 + RACERS + 1  # the arena's own points came from a sale too
