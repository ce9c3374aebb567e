"""Red packets on a guides' shop of their own (tests/guides/conftest.py, brand RP): guides at
Jing'an (JA) and Lujiazui (LJ) and an HQ merchandiser, the brand's campaign switches published
as HQ publishes them (red packets on, 2 to 10 coupons a packet, by default), and plans written
through the service. Orders are TEE-BLK-M (official 199.00) picked up at Lujiazui."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.campaigns import red_packets
from portal.campaigns.models import RedPacket, RedPacketPlan
from portal.core.access import Actor, Role
from portal.core.db import utcnow
from portal.extensions import db
from portal.guides.models import Guide
from portal.members import membership
from portal.members.models import Member
from portal.network.models import Organization
from portal.policy import services as policy_services
from portal.policy.models import PolicyVersion, VersionStatus
from portal.storefront import checkout
from portal.storefront.hooks import CheckoutExtras
from portal.storefront.models import Consumer, ConsumerOrder
from tests.guides.conftest import GuideShop
from tests.support.campaigns import count  # noqa: F401 - the tests use it
from tests.support.policy import hq_actor
from tests.support.retail import build_retail_shop
from tests.support.services import actor_for

PLAN = {
    "name": "Spring packet",
    "code": "SPRING",
    "packet": "30",
    "coupons": "3",
    "valid_days": "7",
    "senders": "both",
    "packets_total": "10",
    "packets_per_sender": "2",
}


@dataclass
class PacketShop:
    gs: GuideShop

    @property
    def brand(self) -> Organization:
        return self.gs.brand

    @property
    def hq(self) -> Actor:
        return self.gs.shop.net.hq

    @property
    def merchandiser(self) -> Actor:
        return hq_actor(self.brand, Role.HQ_MERCHANDISER)

    def set_campaigns(self, **campaigns) -> None:
        """Publish the brand's campaign switches (red packets on, 2 to 10 coupons, unless
        `campaigns` says otherwise) on a new version of its retail policy, in force from a
        second ago."""
        live = db.session.execute(
            select(PolicyVersion).where(
                PolicyVersion.brand_id == self.brand.id,
                PolicyVersion.status == VersionStatus.ACTIVE,
            )
        ).scalar_one()
        draft = policy_services.revise_policy(self.hq, live)
        terms = dict(draft.member_terms or {})
        terms["campaigns"] = {
            "red_packets": True,
            "red_packet_min_coupons": 2,
            "red_packet_max_coupons": 10,
            **campaigns,
        }
        draft.member_terms = terms
        draft.effective_from = utcnow() - timedelta(seconds=1)
        policy_services.publish_policy(self.hq, draft)
        db.session.flush()

    def plan(self, **values) -> RedPacketPlan:
        """A plan written by HQ: ¥30.00 in 3 coupons of ¥10.00, 7 days, guides and members may
        send 2 each, 10 packets in all; `values` change any of that."""
        data = red_packets.PlanInput(**{**PLAN, **values})
        return red_packets.create_plan(self.hq, self.brand, data)

    def guide(self, short: str) -> Guide:
        return self.gs.guides[short]

    def guide_actor(self, short: str) -> Actor:
        return actor_for(self.gs.users[short].email)

    def send(self, plan: RedPacketPlan, short: str = "JA") -> RedPacket:
        return red_packets.send_as_guide(self.guide_actor(short), self.guide(short), plan)

    def consumer(self, **kwargs) -> Consumer:
        return self.gs.shop.consumer(**kwargs)

    def member_of(self, consumer: Consumer) -> Member:
        member = membership.member_of(consumer)
        assert member is not None
        return member

    def buy(self, consumer: Consumer, coupon_ids: tuple[int, ...] = ()) -> ConsumerOrder:
        return checkout.checkout(
            consumer,
            self.brand,
            "official",
            [checkout.CheckoutLine(self.gs.shop.variant_id("TEE-BLK-M"), 1)],
            fulfilment="pickup",
            checkout_token=secrets.token_hex(8),
            pickup_location_id=self.gs.shop.locations["LJ"].id,
            extras=CheckoutExtras(coupon_ids=coupon_ids),
        )


def build_packet_shop(prefix: str = "RP") -> PacketShop:
    gs = GuideShop(build_retail_shop(prefix))
    for short in ("JA", "LJ"):
        gs.add_guide(short)
    gs.add_guide("HQ", Role.HQ_MERCHANDISER)
    built = PacketShop(gs)
    built.set_campaigns()
    return built


@pytest.fixture
def ps(app) -> PacketShop:
    built = build_packet_shop()
    db.session.commit()
    return built
