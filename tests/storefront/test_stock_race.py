"""Real concurrency, no mocks: consumers checking out and B2B buyers ordering race for the last
units of one location, each in its own thread, app context, session and transaction against a
committed database made for the test (PostgreSQL: a fresh database; SQLite: a file).

    12 consumers (delivery, routed to the brand's warehouse) and 12 distributors (wholesale
    orders supplied from that warehouse) want 1 each of 12 units: exactly 12 are sold, the rest
    refused as short, and the ledger agrees with the levels.
    One checkout token sent 8 times at once: one order, one reservation, one payment.
    The consumer calling a paid order off while the store takes it on: one of them wins, whole.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal.core.access import ROLE_PERMISSIONS, Actor, OrgKind, Role
from portal.core.db import writing
from portal.core.errors import PortalError
from portal.extensions import db
from portal.inventory.ledger import MoveLine, apply_moves
from portal.inventory.models import MoveReason
from portal.inventory.services import check_ledger
from portal.network import services as network
from portal.network.models import ChannelLink, Organization
from portal.ordering import services as ordering
from portal.ordering.models import Order
from portal.storefront import orders
from portal.storefront.checkout import CheckoutLine, checkout
from portal.storefront.models import Consumer, ConsumerOrder, ConsumerOrderStatus, Fulfilment, Tier
from portal.storefront.payments.models import Payment, PaymentRefund
from tests.support.consumer_orders import pay_by_notice
from tests.support.races import race_app
from tests.support.retail import build_retail_shop

UNITS = 12
CONSUMERS = 12
BUYERS = 12
SKU = "TOTE-RED-OS"  # only the warehouse holds it


@dataclass
class Arena:
    app: object
    brand_id: int
    variant_id: int
    warehouse_id: int
    store_id: int  # Lujiazui: the pickup orders of the last test
    consumers: list[tuple[int, int]] = field(default_factory=list)  # (consumer id, address id)
    buyers: list[int] = field(default_factory=list)  # channel link ids

    def level(self, location_id: int | None = None) -> tuple[int, int]:
        from portal.inventory.models import StockLevel

        with self.app.app_context():
            row = db.session.execute(
                select(StockLevel.on_hand, StockLevel.reserved).where(
                    StockLevel.location_id == (location_id or self.warehouse_id),
                    StockLevel.variant_id == self.variant_id,
                )
            ).one()
            db.session.remove()
            return row[0], row[1]

    def ledger_problems(self) -> list:
        with self.app.app_context():
            problems = check_ledger()
            db.session.remove()
            return problems

    def count(self, model, *conditions) -> int:
        with self.app.app_context():
            value = db.session.execute(
                select(func.count()).select_from(model).where(*conditions)
            ).scalar_one()
            db.session.remove()
            return value


def build_arena(app: Flask) -> Arena:
    """The race's world on `app` (tests/support/races.py: a database of its own)."""
    with app.app_context():
        shop = build_retail_shop("SR")
        shop.receive("warehouse", SKU, UNITS)
        arena = Arena(
            app,
            shop.brand.id,
            shop.variant_id(SKU),
            shop.locations["warehouse"].id,
            shop.locations["LJ"].id,
        )
        for _ in range(CONSUMERS):
            consumer = shop.consumer()
            arena.consumers.append((consumer.id, shop.address(consumer).id))
        for index in range(BUYERS):
            link = network.add_org(
                Actor.system(),
                brand_id=shop.brand.id,
                kind="distributor",
                code=f"SRD{index:02d}",
                name=f"Racer {index}",
                level="A",
                region="north",
                credit_limit_cents=10**9,
            )
            arena.buyers.append(link.id)
        db.session.commit()
        db.session.remove()
    return arena


def _buyer_actor(link: ChannelLink) -> Actor:
    return Actor(
        org_id=link.buyer_org_id,
        org_kind=OrgKind.DISTRIBUTOR,
        permissions=ROLE_PERMISSIONS[Role.DISTRIBUTOR_ADMIN],
        paths={link.brand_id: link.path},
        role=Role.DISTRIBUTOR_ADMIN,
    )


def _in_own_transaction(app, work) -> str:
    """Run `work()` in a transaction of its own; its outcome as a word (or the error)."""
    with app.app_context(), writing():
        try:
            outcome = work()
            db.session.commit()
            return outcome
        except PortalError as error:  # short, out of turn, not one's step
            db.session.rollback()
            return error.code
        except Exception as error:  # noqa: BLE001 - reported, never hidden
            db.session.rollback()
            return repr(error)
        finally:
            db.session.remove()


def _at_once(app, works) -> list[str]:
    start = threading.Barrier(len(works))

    def run(index: int) -> str:
        def work():
            start.wait()
            return works[index]()

        return _in_own_transaction(app, work)

    with ThreadPoolExecutor(max_workers=len(works)) as pool:
        return list(pool.map(run, range(len(works))))


def _consumer_buys(arena: Arena, index: int, qty: int = 1, token: str | None = None):
    consumer_id, address_id = arena.consumers[index]

    def work() -> str:
        consumer = db.session.get(Consumer, consumer_id)
        brand = db.session.get(Organization, arena.brand_id)
        order = checkout(
            consumer,
            brand,
            Tier.OFFICIAL,
            [CheckoutLine(arena.variant_id, qty)],
            fulfilment=Fulfilment.DELIVERY,
            checkout_token=token or f"race-{index}",
            address_id=address_id,
        )
        return f"consumer {order.number}"

    return work


def _buyer_orders(arena: Arena, index: int):
    def work() -> str:
        link = db.session.get(ChannelLink, arena.buyers[index])
        order = ordering.place_order(_buyer_actor(link), link, ordering.parse_lines([(SKU, 1)]))
        return f"buyer {order.number}"

    return work


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"])
def arena(request, tmp_path) -> Iterator[Arena]:
    built = build_arena(race_app(request.param, tmp_path, "shop_race", pool_size=30))
    yield built
    with built.app.app_context():
        db.engine.dispose()


def test_consumers_and_buyers_racing_for_the_last_units_sell_exactly_the_stock(arena):
    works = [_consumer_buys(arena, i) for i in range(CONSUMERS)]
    works += [_buyer_orders(arena, i) for i in range(BUYERS)]
    outcomes = _at_once(arena.app, works)
    won = [o for o in outcomes if o.startswith(("consumer ", "buyer "))]
    lost = [o for o in outcomes if o not in won]
    assert set(lost) <= {"insufficient_stock", "cannot_route"}, lost
    assert len(won) == UNITS
    assert arena.level() == (UNITS, UNITS)
    consumers_won = sum(o.startswith("consumer ") for o in won)
    assert arena.count(ConsumerOrder) == consumers_won
    assert arena.count(Order) == UNITS - consumers_won
    assert arena.ledger_problems() == []
    # Nothing is left to sell, to anyone.
    assert _in_own_transaction(arena.app, _consumer_buys(arena, 0, token="late")) in {
        "insufficient_stock",
        "cannot_route",
    }
    assert _in_own_transaction(arena.app, _buyer_orders(arena, 0)) == "insufficient_stock"


def test_one_checkout_token_sent_many_times_at_once_is_one_order(arena):
    outcomes = _at_once(arena.app, [_consumer_buys(arena, 0, 2, "tap") for _ in range(8)])
    assert len(set(outcomes)) == 1 and outcomes[0].startswith("consumer "), outcomes
    assert arena.count(ConsumerOrder) == 1
    assert arena.count(Payment) == 1
    assert arena.level() == (UNITS, 2)
    assert arena.ledger_problems() == []


def _paid_pickups(arena: Arena, how_many: int) -> list[int]:
    ids = []
    with arena.app.app_context():
        apply_moves(
            Actor.system(),
            [MoveLine(arena.store_id, arena.variant_id, 10)],
            reason=MoveReason.RECEIPT,
        )
        brand = db.session.get(Organization, arena.brand_id)
        for index in range(how_many):
            consumer = db.session.get(Consumer, arena.consumers[index][0])
            order = checkout(
                consumer,
                brand,
                Tier.OFFICIAL,
                [CheckoutLine(arena.variant_id, 1)],
                fulfilment=Fulfilment.PICKUP,
                checkout_token=f"pickup-{index}",
                pickup_location_id=arena.store_id,
            )
            pay_by_notice(order)
            ids.append(order.id)
        db.session.commit()
        db.session.remove()
    return ids


def test_calling_off_while_the_store_takes_it_on_ends_whole_either_way(arena):
    order_ids = _paid_pickups(arena, 6)
    with arena.app.app_context():
        store_link = db.session.execute(
            select(ChannelLink)
            .join(Organization, Organization.id == ChannelLink.buyer_org_id)
            .where(Organization.code == "SRLJ")
        ).scalar_one()
        staff = Actor(
            org_id=store_link.buyer_org_id,
            org_kind=OrgKind.STORE,
            permissions=ROLE_PERMISSIONS[Role.STORE_STAFF],
            paths={store_link.brand_id: store_link.path},
            role=Role.STORE_STAFF,
        )
        db.session.remove()

    def cancel(order_id: int):
        def work() -> str:
            order = db.session.get(ConsumerOrder, order_id)
            orders.cancel(order.consumer, order)
            return "cancelled"

        return work

    def accept(order_id: int):
        def work() -> str:
            orders.accept(staff, db.session.get(ConsumerOrder, order_id))
            return "accepted"

        return work

    for order_id in order_ids:
        outcomes = _at_once(arena.app, [cancel(order_id), accept(order_id)])
        with arena.app.app_context():
            order = db.session.get(ConsumerOrder, order_id)
            status = order.status
            refunds = db.session.execute(
                select(func.count(PaymentRefund.id)).where(
                    PaymentRefund.payment_id == order.payment_id
                )
            ).scalar_one()
            db.session.remove()
        if outcomes[0] == "cancelled":
            assert outcomes[1] == "invalid_transition", outcomes
            assert (status, refunds) == (ConsumerOrderStatus.REFUNDED, 1)
        else:
            assert outcomes == ["forbidden", "accepted"], outcomes
            assert (status, refunds) == (ConsumerOrderStatus.PREPARING, 0)
    refunded = arena.count(ConsumerOrder, ConsumerOrder.status == ConsumerOrderStatus.REFUNDED)
    assert arena.level(arena.store_id) == (10, len(order_ids) - refunded)
    assert arena.ledger_problems() == []


def _unpaid_deliveries(arena: Arena, how_many: int) -> list[int]:
    ids = []
    with arena.app.app_context():
        brand = db.session.get(Organization, arena.brand_id)
        for index in range(how_many):
            consumer_id, address_id = arena.consumers[index]
            order = checkout(
                db.session.get(Consumer, consumer_id),
                brand,
                Tier.OFFICIAL,
                [CheckoutLine(arena.variant_id, 1)],
                fulfilment=Fulfilment.DELIVERY,
                checkout_token=f"unpaid-{index}",
                address_id=address_id,
            )
            ids.append(order.id)
        db.session.commit()
        db.session.remove()
    return ids


def _notice_arrives(order_id: int):
    """What the notice route does: the notice recorded, then the order moved, in one go."""

    def work() -> str:
        order = db.session.get(ConsumerOrder, order_id)
        result = pay_by_notice(order)
        return f"notice {result.notice.outcome}"

    return work


def _money_and_units(arena: Arena, order_id: int) -> tuple[str, str, int]:
    with arena.app.app_context():
        order = db.session.get(ConsumerOrder, order_id)
        payment = db.session.get(Payment, order.payment_id)
        refunds = db.session.execute(
            select(func.count(PaymentRefund.id)).where(PaymentRefund.payment_id == payment.id)
        ).scalar_one()
        outcome = (order.status, payment.status, refunds)
        db.session.remove()
    return outcome


def test_a_paid_notice_and_the_consumers_cancel_at_once_never_deadlock(arena):
    # Both lock the payment and the order; taken in different orders, PostgreSQL would abort
    # one of the two with a deadlock (a 500 for the consumer, a failed notice).
    for order_id in _unpaid_deliveries(arena, 6):

        def cancel(order_id=order_id) -> str:
            order = db.session.get(ConsumerOrder, order_id)
            orders.cancel(order.consumer, order)
            return "cancelled"

        outcomes = _at_once(arena.app, [_notice_arrives(order_id), cancel])
        state = _money_and_units(arena, order_id)
        if outcomes == ["notice applied", "cancelled"]:  # paid, then refunded by the consumer
            assert state == ("refunded", "paid", 1)
        else:  # cancelled first: the money came too late and goes back
            assert outcomes == ["notice late", "cancelled"], outcomes
            assert state == ("cancelled", "cancelled", 1)
    assert arena.level() == (UNITS, 0)
    assert arena.ledger_problems() == []


def test_a_paid_notice_racing_the_expiry_job_ends_paid_or_refunded(arena):
    order_ids = _unpaid_deliveries(arena, 6)
    with arena.app.app_context():
        for order in db.session.execute(select(ConsumerOrder)).scalars():
            order.expires_at = order.expires_at.replace(year=2000)
        db.session.commit()
        db.session.remove()

    def expiry() -> str:
        return f"expired {orders.expire_unpaid(limit=1)}"

    for order_id in order_ids:
        outcomes = _at_once(arena.app, [_notice_arrives(order_id), expiry])
        assert all(not o.startswith(("Operational", "Internal")) for o in outcomes), outcomes
        status, payment_status, refunds = _money_and_units(arena, order_id)
        if status == "cancelled":
            assert (payment_status, refunds) == ("expired", 1)
        else:
            assert (status, payment_status, refunds) == ("paid", "paid", 0)
    paid = arena.count(ConsumerOrder, ConsumerOrder.status == ConsumerOrderStatus.PAID)
    assert arena.level() == (UNITS, paid)
    assert arena.ledger_problems() == []
