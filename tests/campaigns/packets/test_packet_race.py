"""Real concurrency, no mocks: members racing to claim the last coupons of one red packet, each
in its own thread, app context, session and transaction against a committed database made for
the test (PostgreSQL: a fresh database; SQLite: a file).

    8 members claiming a packet of 3 coupons at once: exactly 3 hold one; the 5 others are told
    there are none left and nothing of theirs is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select

from portal.campaigns import red_packets
from portal.campaigns.models import RedPacket, RedPacketClaim
from portal.extensions import db
from portal.members.coupon_models import Coupon, CouponTemplate
from portal.network.models import Organization
from portal.storefront.models import Consumer
from tests.campaigns.packets.conftest import build_packet_shop
from tests.support.races import at_once, race_app

RACERS = 8
COUPONS = 3


@dataclass
class Arena:
    app: object
    brand_id: int
    packet_code: str = ""
    template_id: int = 0
    claimers: list[int] = field(default_factory=list)  # consumer ids

    def value(self, stmt):
        with self.app.app_context():
            found = db.session.execute(stmt).scalar_one()
            db.session.remove()
            return found


def build_arena(app) -> Arena:
    with app.app_context():
        ps = build_packet_shop("RR")
        plan = ps.plan(packet="30", coupons=str(COUPONS))
        packet = ps.send(plan)
        arena = Arena(app, ps.brand.id, packet.code, plan.template_id)
        arena.claimers = [ps.consumer().id for _ in range(RACERS)]
        db.session.commit()
        db.session.remove()
    return arena


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"])
def arena(request, tmp_path) -> Iterator[Arena]:
    built = build_arena(race_app(request.param, tmp_path, "packet_race"))
    yield built
    with built.app.app_context():
        db.engine.dispose()


def _claim(arena: Arena, consumer_id: int):
    def work() -> str:
        consumer = db.session.get(Consumer, consumer_id)
        brand = db.session.get(Organization, arena.brand_id)
        red_packets.claim_packet(consumer, brand, arena.packet_code)
        return "claimed"

    return work


def test_members_racing_for_the_last_coupons_of_a_packet_get_exactly_its_coupons(arena):
    outcomes = at_once(
        arena.app,
        [_claim(arena, consumer_id) for consumer_id in arena.claimers],
        lambda error: error.message,
    )
    assert outcomes.count("claimed") == COUPONS, outcomes
    assert sorted(set(outcomes) - {"claimed"}) == ["No coupons left in this red packet."], outcomes
    assert arena.value(select(func.count()).select_from(RedPacketClaim)) == COUPONS
    assert arena.value(select(func.count()).select_from(Coupon)) == COUPONS
    assert (
        arena.value(select(RedPacket.claimed).where(RedPacket.code == arena.packet_code)) == COUPONS
    )
    assert (
        arena.value(
            select(CouponTemplate.given_count).where(CouponTemplate.id == arena.template_id)
        )
        == COUPONS
    )
