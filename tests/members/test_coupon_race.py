"""Real concurrency, no mocks: checkouts racing to use one coupon, and members racing to claim the
last coupons of a template, each in its own thread, app context, session and transaction against
a committed database made for the test (PostgreSQL: a fresh database; SQLite: a file).

    8 checkouts of one member with the same coupon: one order takes it, 7 are refused whole.
    8 members claiming a template limited to 3 in all: exactly 3 hold one.
    8 claims of one member at once, 2 allowed each: exactly 2.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.members import coupons
from portal.members.coupon_models import Coupon, CouponTemplate
from portal.network.models import Organization
from portal.storefront.checkout import CheckoutLine, checkout
from portal.storefront.hooks import CheckoutExtras
from portal.storefront.models import Consumer, ConsumerOrder, Fulfilment, Tier
from tests.members.test_coupons import build_coupon_shop
from tests.support.races import at_once, race_app

RACERS = 8


@dataclass
class Arena:
    app: object
    brand_id: int
    variant_id: int
    store_id: int
    coupon_id: int = 0
    spender_id: int = 0  # the consumer who holds `coupon_id`
    scarce_code: str = ""  # a template limited to 3 in all
    pair_code: str = ""  # a template allowing 2 per member
    claimers: list[int] = field(default_factory=list)  # consumer ids

    def count(self, model, *conditions) -> int:
        with self.app.app_context():
            value = db.session.execute(
                select(func.count()).select_from(model).where(*conditions)
            ).scalar_one()
            db.session.remove()
            return value


def build_arena(app) -> Arena:
    with app.app_context():
        cs = build_coupon_shop("CR")
        arena = Arena(
            app,
            cs.brand.id,
            cs.shop.variant_id("TEE-BLK-M"),
            cs.shop.locations["LJ"].id,
        )
        spender = cs.consumer()
        arena.spender_id = spender.id
        arena.coupon_id = cs.give(cs.template(name="Once"), spender).id
        arena.scarce_code = cs.template(name="Scarce", total_limit="3").code
        arena.pair_code = cs.template(name="Pair", per_member_limit="2").code
        arena.claimers = [cs.consumer().id for _ in range(RACERS)]
        db.session.commit()
        db.session.remove()
    return arena


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"])
def arena(request, tmp_path) -> Iterator[Arena]:
    built = build_arena(race_app(request.param, tmp_path, "coupon_race"))
    yield built
    with built.app.app_context():
        db.engine.dispose()


def _at_once(app, works) -> list[str]:
    """Each outcome as a word: what the work returned, or the refusal's message."""
    return at_once(app, works, lambda error: next(iter(error.fields.values()), error.message))


def _spend(arena: Arena):
    def work() -> str:
        consumer = db.session.get(Consumer, arena.spender_id)
        brand = db.session.get(Organization, arena.brand_id)
        order = checkout(
            consumer,
            brand,
            Tier.OFFICIAL,
            [CheckoutLine(arena.variant_id, 1)],
            fulfilment=Fulfilment.PICKUP,
            pickup_location_id=arena.store_id,
            checkout_token=secrets.token_hex(8),
            extras=CheckoutExtras(coupon_ids=(arena.coupon_id,)),
        )
        return f"order {order.number} {order.discount_cents}"

    return work


def _claim(arena: Arena, consumer_id: int, code: str):
    def work() -> str:
        consumer = db.session.get(Consumer, consumer_id)
        brand = db.session.get(Organization, arena.brand_id)
        coupons.claim(consumer, brand, code)
        return "claimed"

    return work


def test_checkouts_racing_for_one_coupon_let_one_order_have_it(arena):
    outcomes = _at_once(arena.app, [_spend(arena) for _ in range(RACERS)])
    won = [o for o in outcomes if o.startswith("order ")]
    assert len(won) == 1 and won[0].endswith(" 2000"), outcomes
    assert sorted(set(outcomes) - set(won)) == ["This coupon has already been used."], outcomes
    assert arena.count(ConsumerOrder) == 1  # the refused checkouts left nothing behind
    with arena.app.app_context():
        coupon = db.session.execute(select(Coupon).where(Coupon.id == arena.coupon_id)).scalar_one()
        order = db.session.execute(select(ConsumerOrder)).scalar_one()
        assert (coupon.status, coupon.order_id, order.discount_cents) == ("used", order.id, 2000)
        db.session.remove()


def test_members_racing_for_the_last_coupons_of_a_template_get_exactly_the_total(arena):
    works = [_claim(arena, consumer_id, arena.scarce_code) for consumer_id in arena.claimers]
    outcomes = _at_once(arena.app, works)
    assert outcomes.count("claimed") == 3, outcomes
    assert set(outcomes) == {"claimed", "All of these coupons have been claimed."}, outcomes
    scarce = CouponTemplate.code == arena.scarce_code
    template_id = select(CouponTemplate.id).where(scarce).scalar_subquery()
    assert arena.count(Coupon, Coupon.template_id == template_id) == 3
    assert arena.count(CouponTemplate, scarce, CouponTemplate.given_count == 3) == 1


def test_one_member_claiming_many_times_at_once_holds_the_members_limit(arena):
    consumer_id = arena.claimers[0]
    outcomes = _at_once(arena.app, [_claim(arena, consumer_id, arena.pair_code)] * RACERS)
    assert outcomes.count("claimed") == 2, outcomes
    refused = "You already hold 2 of these coupons, as many as one member may."
    assert set(outcomes) == {"claimed", refused}, outcomes
    pair = select(CouponTemplate.id).where(CouponTemplate.code == arena.pair_code)
    assert arena.count(Coupon, Coupon.template_id == pair.scalar_subquery()) == 2
