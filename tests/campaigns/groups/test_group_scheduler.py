"""A group that does not fill, settled by the process an operator starts: `python worker.py
--scheduler` (without Redis its jobs run inline, in the scheduler's own process), on a committed
database of the test's own (PostgreSQL: a fresh database; SQLite: a file), with the group buys'
entry every second (SCHEDULE_INTERVALS).

    Three people in a group of four whose time has run out: two paid, one not. The scheduler's
    run fails the group, refunds both paid orders in full through the test payment gateway (the
    refunds are recorded and sent), cancels the unpaid one, and every unit they held is free
    again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from portal.campaigns.models import BuyGroup, GroupStatus
from portal.core.db import utcnow
from portal.extensions import db
from portal.inventory.models import StockLevel
from portal.inventory.services import check_ledger
from portal.storefront.models import ConsumerOrder
from portal.storefront.payments.models import (
    Payment,
    PaymentRefund,
    PaymentRefundAttempt,
    PaymentStatus,
)
from tests.campaigns.groups.conftest import GROUP_PRICE, GroupShop
from tests.support.processes import Process, portal_env, wait_for
from tests.support.races import race_app
from tests.support.retail import build_retail_shop

SETTINGS = {
    "SCHEDULER_TICK_SECONDS": "0.2",
    "SCHEDULE_INTERVALS": "settle-buy-groups=1",
}


@dataclass
class World:
    app: Flask
    url: str
    group_code: str
    paid: list[str]
    unpaid: str
    lujiazui: int
    tee: int

    def read(self, work):
        with self.app.app_context():
            try:
                return work()
            finally:
                db.session.remove()


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"])
def world(request, tmp_path) -> Iterator[World]:
    app = race_app(request.param, tmp_path, "group_scheduler", pool_size=4)
    with app.app_context():
        gb = GroupShop(build_retail_shop("GS"))
        gb.switch(True)
        offer = gb.offer(group_size=4, hours_to_fill=1)
        first = gb.pay(gb.buy(gb.consumer("Li Lei"), offer))
        group = gb.group_of(first)
        second = gb.pay(gb.buy(gb.consumer("Wang Fang"), offer, group=group))
        third = gb.buy(gb.consumer("Zhao Min"), offer, group=group)
        assert gb.shop.level("LJ", "TEE-BLK-M") == (5, 3)
        group.expires_at = utcnow() - timedelta(seconds=5)  # its hour is up
        db.session.commit()
        built = World(
            app,
            app.config["SQLALCHEMY_DATABASE_URI"],
            group.code,
            [first.number, second.number],
            third.number,
            gb.shop.locations["LJ"].id,
            gb.shop.variant_id("TEE-BLK-M"),
        )
        db.session.remove()
    yield built
    with app.app_context():
        db.engine.dispose()


def _settled(world: World) -> bool:
    def done() -> bool:
        group = db.session.execute(
            select(BuyGroup).where(BuyGroup.code == world.group_code)
        ).scalar_one()
        if group.status != GroupStatus.FAILED:
            return False
        refunds = db.session.execute(select(PaymentRefundAttempt.state)).scalars().all()
        return len(refunds) == 2

    return world.read(done)


def test_a_group_that_did_not_fill_is_refunded_and_its_units_released_by_the_scheduler(
    world: World, tmp_path
):
    scheduler = Process(
        ["--scheduler"],
        portal_env(world.url, None, **SETTINGS),
        tmp_path / "scheduler.log",
    )
    try:
        wait_for(
            lambda: _settled(world),
            timeout=90,
            poll=0.5,
            what="the scheduler to settle the group\n" + scheduler.output()[-3000:],
        )
    finally:
        scheduler.stop()
    assert "settle-buy-groups every 1 s" in scheduler.output()

    def outcome():
        orders = {
            order.number: order for order in db.session.execute(select(ConsumerOrder)).scalars()
        }
        paid = [orders[number] for number in world.paid]
        refunds = {
            refund.payment_id: refund
            for refund in db.session.execute(select(PaymentRefund)).scalars()
        }
        attempts = db.session.execute(select(PaymentRefundAttempt)).scalars().all()
        unpaid = orders[world.unpaid]
        unpaid_payment = db.session.execute(
            select(Payment).where(Payment.id == unpaid.payment_id)
        ).scalar_one()
        level = db.session.execute(
            select(StockLevel.on_hand, StockLevel.reserved).where(
                StockLevel.location_id == world.lujiazui, StockLevel.variant_id == world.tee
            )
        ).one()
        return {
            "paid": [(o.status, o.refunded_cents) for o in paid],
            "refunded": sorted(refunds[o.payment_id].amount_cents for o in paid),
            "sent": sorted(attempt.state for attempt in attempts),
            "unpaid": (unpaid.status, unpaid_payment.status),
            "level": tuple(level),
            "ledger": check_ledger(),
        }

    assert world.read(outcome) == {
        "paid": [("refunded", GROUP_PRICE), ("refunded", GROUP_PRICE)],
        "refunded": [GROUP_PRICE, GROUP_PRICE],
        "sent": ["succeeded", "succeeded"],
        "unpaid": ("cancelled", PaymentStatus.CANCELLED),
        "level": (5, 0),  # every unit the group held is free again
        "ledger": [],
    }
