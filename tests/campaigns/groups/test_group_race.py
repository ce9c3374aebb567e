"""Real concurrency for the last places of a group: each checkout in its own thread, app context,
session and transaction, against a committed database made for the test (PostgreSQL: a fresh
database; SQLite: a file).

    A group of three with its leader in it; six people join at once: exactly two get in, the
    other four are told "The group is full." and nothing of theirs is written (no order, no
    place, no unit held).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal.campaigns.models import BuyGroup, GroupSeat, SeatStatus
from portal.extensions import db
from portal.inventory.models import StockLevel
from portal.inventory.services import check_ledger
from portal.network.models import Organization
from portal.storefront.checkout import CheckoutLine, checkout
from portal.storefront.hooks import CheckoutExtras
from portal.storefront.models import Consumer, ConsumerOrder, Fulfilment, Tier
from tests.campaigns.groups.conftest import GroupShop, publish_campaign_terms
from tests.support.races import at_once, race_app
from tests.support.retail import build_retail_shop

JOINERS = 6


@dataclass
class Arena:
    app: Flask
    brand_id: int
    lujiazui: int
    tee: int
    group_code: str
    joiners: list[int] = field(default_factory=list)

    def read(self, work):
        with self.app.app_context():
            try:
                return work()
            finally:
                db.session.remove()


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"])
def arena(request, tmp_path) -> Iterator[Arena]:
    app = race_app(request.param, tmp_path, "group_race", pool_size=JOINERS + 2)
    with app.app_context():
        gb = GroupShop(build_retail_shop("GR"))
        gb.switch(True)
        offer = gb.offer()
        first = gb.buy(gb.consumer("Lead Er"), offer)
        arena = Arena(
            app,
            gb.brand.id,
            gb.shop.locations["LJ"].id,
            gb.shop.variant_id("TEE-BLK-M"),
            gb.group_of(first).code,
        )
        arena.joiners = [gb.consumer(f"Join Er{i}").id for i in range(JOINERS)]
        db.session.commit()
        db.session.remove()
    yield arena
    with app.app_context():
        db.engine.dispose()


def _joins(arena: Arena, consumer_id: int):
    def work() -> str:
        checkout(
            db.session.get(Consumer, consumer_id),
            db.session.get(Organization, arena.brand_id),
            Tier.OFFICIAL,
            [CheckoutLine(arena.tee, 1)],
            fulfilment=Fulfilment.PICKUP,
            checkout_token=secrets.token_hex(8),
            pickup_location_id=arena.lujiazui,
            extras=CheckoutExtras(group_buy="TEE3", group=arena.group_code),
        )
        return "joined"

    return work


def test_the_last_places_of_a_group_go_to_exactly_as_many_people_as_are_missing(arena: Arena):
    outcomes = at_once(
        arena.app,
        [_joins(arena, consumer_id) for consumer_id in arena.joiners],
        lambda error: f"{error.code}: {error.message}",
    )
    assert sorted(outcomes) == ["group_full: The group is full."] * 4 + ["joined"] * 2, outcomes

    def state():
        group = db.session.execute(
            select(BuyGroup).where(BuyGroup.code == arena.group_code)
        ).scalar_one()
        places = db.session.execute(
            select(func.count(GroupSeat.id)).where(
                GroupSeat.group_id == group.id, GroupSeat.status != SeatStatus.RELEASED
            )
        ).scalar_one()
        orders = db.session.execute(select(func.count(ConsumerOrder.id))).scalar_one()
        held = db.session.execute(
            select(func.count(ConsumerOrder.id)).where(ConsumerOrder.on_hold.is_(True))
        ).scalar_one()
        reserved = db.session.execute(
            select(StockLevel.reserved).where(
                StockLevel.location_id == arena.lujiazui, StockLevel.variant_id == arena.tee
            )
        ).scalar_one()
        return group.seats_taken, places, orders, held, reserved, check_ledger()

    taken, places, orders, held, reserved, ledger = arena.read(state)
    assert (taken, places, orders, held, reserved) == (3, 3, 3, 3, 3)
    assert ledger == []


# -- a member leaves while others join ---------------------------------------------------------
# A join locks the group, then reserves its units; a cancel releases the leaver's units, then
# gives back the place. Unless the cancel takes the group first (hooks.before_call_off), the
# two lock the stock row and the group in opposite orders and PostgreSQL kills one of them.

LEAVERS = 3


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"])
def crowd(request, tmp_path) -> Iterator[tuple[Arena, list[int]]]:
    app = race_app(request.param, tmp_path, "group_leave_race", pool_size=2 * LEAVERS + 4)
    with app.app_context():
        gb = GroupShop(build_retail_shop("GL"))
        publish_campaign_terms(gb.shop, group_buys=True, group_size_max=2 * LEAVERS + 1)
        offer = gb.offer(group_size=2 * LEAVERS + 1)
        first = gb.buy(gb.consumer("Lead Er"), offer)
        group = gb.group_of(first)
        leavers = [
            gb.buy(gb.consumer(f"Leav Er{i}"), offer, group=group).id for i in range(LEAVERS)
        ]
        arena = Arena(
            app,
            gb.brand.id,
            gb.shop.locations["LJ"].id,
            gb.shop.variant_id("TEE-BLK-M"),
            group.code,
        )
        arena.joiners = [gb.consumer(f"Join Er{i}").id for i in range(LEAVERS)]
        db.session.commit()
        db.session.remove()
    yield arena, leavers
    with app.app_context():
        db.engine.dispose()


def _leaves(arena: Arena, order_id: int):
    def work() -> str:
        from portal.storefront import orders

        order = db.session.get(ConsumerOrder, order_id)
        orders.cancel(db.session.get(Consumer, order.consumer_id), order)
        return "left"

    return work


def test_people_leaving_a_group_while_others_join_never_deadlock(crowd):
    arena, leavers = crowd
    works = [_leaves(arena, order_id) for order_id in leavers]
    works += [_joins(arena, consumer_id) for consumer_id in arena.joiners]
    outcomes = at_once(arena.app, works, lambda error: error.code)
    # Every leaver leaves; a joiner gets in, or finds the shelf empty when the units a leaver
    # gives back are not free yet: a refusal, never a database error.
    assert outcomes[:LEAVERS] == ["left"] * LEAVERS, outcomes
    assert set(outcomes[LEAVERS:]) <= {"joined", "insufficient_stock"}, outcomes
    joined = outcomes.count("joined")

    def state():
        group = db.session.execute(
            select(BuyGroup).where(BuyGroup.code == arena.group_code)
        ).scalar_one()
        places = db.session.execute(
            select(func.count(GroupSeat.id)).where(
                GroupSeat.group_id == group.id, GroupSeat.status != SeatStatus.RELEASED
            )
        ).scalar_one()
        reserved = db.session.execute(
            select(StockLevel.reserved).where(
                StockLevel.location_id == arena.lujiazui, StockLevel.variant_id == arena.tee
            )
        ).scalar_one()
        return group.seats_taken, places, reserved, check_ledger()

    taken, places, reserved, ledger = arena.read(state)
    assert (taken, places, reserved) == (1 + joined, 1 + joined, 1 + joined)
    assert ledger == []
