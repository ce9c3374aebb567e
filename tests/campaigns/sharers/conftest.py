"""Sharers beside guides (tests/guides/conftest.py's shop, brand SH): two store guides (Jing'an
JA, Lujiazui LJ), an HQ merchandiser who is a community operator (the sharer), and helpers for
the campaign things an order's channel reads (rows written straight, as the other campaign
services would), and for the brand's campaign terms."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.campaigns import sharers
from portal.campaigns.models import (
    BuyGroup,
    Campaign,
    CampaignOrder,
    EventStatus,
    GroupBuy,
    GroupBuyStatus,
    GroupSeat,
    LiveEvent,
    LiveEventItem,
    RedPacket,
    RedPacketClaim,
    RedPacketPlan,
)
from portal.core.access import Role
from portal.core.db import utcnow
from portal.extensions import db
from portal.guides.models import Guide
from portal.members import coupons, membership
from portal.members.coupon_models import Coupon, CouponTemplate
from portal.network.models import User
from portal.policy import services as policy_services
from portal.policy.models import PolicyVersion, VersionStatus
from portal.storefront import checkout
from portal.storefront.hooks import CheckoutExtras
from portal.storefront.models import Consumer, ConsumerOrder
from tests.guides.conftest import GuideShop
from tests.support.retail import build_retail_shop

PASSWORD = "x" * 12


@dataclass
class SharerShop(GuideShop):
    sharer: Guide | None = None
    sharer_user: User | None = None

    @property
    def op(self) -> Guide:
        assert self.sharer is not None
        return self.sharer

    def add_sharer(self, kind: str = "community_operator", role: Role = Role.HQ_MERCHANDISER):
        user = self.person("HQ", role)
        return sharers.add_sharer(self.shop.net.hq, user_id=user.id, kind=kind), user

    def publish(self, **sections: dict) -> None:
        """Publish the brand's terms (`guides`, `commission`, `campaigns` sections) on a new
        version of its retail policy, in force from a second ago."""
        live = db.session.execute(
            select(PolicyVersion).where(
                PolicyVersion.brand_id == self.brand.id,
                PolicyVersion.status == VersionStatus.ACTIVE,
            )
        ).scalar_one()
        draft = policy_services.revise_policy(self.shop.net.hq, live)
        draft.member_terms = dict(sections)
        draft.effective_from = utcnow() - timedelta(seconds=1)
        policy_services.publish_policy(self.shop.net.hq, draft)

    def buy(
        self,
        consumer: Consumer,
        *,
        guide_code: str | None = None,
        visitor: str | None = None,
        coupon_ids: tuple[int, ...] = (),
        qty: int = 1,
        sku: str = "TEE-BLK-M",
    ) -> ConsumerOrder:
        return checkout.checkout(
            consumer,
            self.brand,
            "official",
            [checkout.CheckoutLine(self.shop.variant_id(sku), qty)],
            fulfilment="pickup",
            checkout_token=secrets.token_hex(8),
            pickup_location_id=self.shop.locations["LJ"].id,
            extras=CheckoutExtras(guide_code=guide_code, visitor=visitor, coupon_ids=coupon_ids),
        )

    # -- campaign things, written as their services would --

    def campaign(self, code: str = "C1") -> Campaign:
        now = utcnow()
        row = Campaign(
            brand_id=self.brand.id,
            code=code,
            name=f"Campaign {code}",
            starts_at=now - timedelta(days=1),
            ends_at=now + timedelta(days=10),
            status="live",
        )
        db.session.add(row)
        db.session.flush()
        return row

    def live_event(self, code: str = "LIVE1", campaign: Campaign | None = None) -> LiveEvent:
        now = utcnow()
        row = LiveEvent(
            brand_id=self.brand.id,
            campaign_id=campaign.id if campaign else None,
            code=code,
            name=f"Live {code}",
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(days=1),
            status=EventStatus.PUBLISHED,
        )
        db.session.add(row)
        db.session.flush()
        return row

    def group_buy(self, code: str = "GB1", campaign: Campaign | None = None) -> GroupBuy:
        now = utcnow()
        row = GroupBuy(
            brand_id=self.brand.id,
            campaign_id=campaign.id if campaign else None,
            code=code,
            name=f"Group buy {code}",
            product_id=self.shop.net.variants["TEE-BLK-M"].product_id,
            price_cents=9_900,
            group_size=2,
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(days=1),
            status=GroupBuyStatus.LIVE,
        )
        db.session.add(row)
        db.session.flush()
        return row

    def seat(self, offer: GroupBuy, order: ConsumerOrder) -> GroupSeat:
        group = BuyGroup(
            brand_id=self.brand.id,
            group_buy_id=offer.id,
            code=secrets.token_hex(4).upper(),
            leader_consumer_id=order.consumer_id,
            expires_at=utcnow() + timedelta(hours=24),
            seats_taken=1,
        )
        db.session.add(group)
        db.session.flush()
        row = GroupSeat(group_id=group.id, consumer_id=order.consumer_id, order_id=order.id)
        db.session.add(row)
        db.session.flush()
        return row

    def template(self, **terms) -> CouponTemplate:
        values = {
            "name": "Ten off",
            "kind": "amount",
            "amount": "10",
            "validity": "days",
            "valid_days": "30",
            "distribution": "claim",
        }
        values.update(terms)
        return coupons.create_template(
            self.shop.net.hq, self.brand, coupons.TemplateInput(**values)
        )

    def coupon(self, template: CouponTemplate, consumer: Consumer) -> Coupon:
        return coupons.claim(consumer, self.brand, template.code)

    def red_packet(
        self, coupon: Coupon, sender: Guide, campaign: Campaign | None = None
    ) -> RedPacket:
        """The plan, the packet `sender` sent, and the claim `coupon` came from."""
        plan = RedPacketPlan(
            brand_id=self.brand.id,
            campaign_id=campaign.id if campaign else None,
            code=f"P{secrets.token_hex(3).upper()}",
            name="Packet plan",
            packet_cents=2_000,
            coupons_per_packet=2,
            template_id=coupon.template_id,
            packets_total=10,
        )
        db.session.add(plan)
        db.session.flush()
        packet = RedPacket(
            brand_id=self.brand.id,
            plan_id=plan.id,
            code=f"R{secrets.token_hex(4).upper()}",
            guide_id=sender.id,
            coupons=2,
            claimed=1,
        )
        db.session.add(packet)
        db.session.flush()
        db.session.add(
            RedPacketClaim(packet_id=packet.id, member_id=coupon.member_id, coupon_id=coupon.id)
        )
        db.session.flush()
        return packet

    def event_coupon(self, event: LiveEvent, template: CouponTemplate) -> LiveEventItem:
        item = LiveEventItem(
            event_id=event.id,
            product_id=self.shop.net.variants["POLO-WHT-M"].product_id,
            coupon_template_id=template.id,
        )
        db.session.add(item)
        db.session.flush()
        return item

    def member(self, consumer: Consumer):
        found = membership.member_of(consumer)
        assert found is not None
        return found


def channel_of(order: ConsumerOrder) -> CampaignOrder | None:
    return db.session.execute(
        select(CampaignOrder).where(CampaignOrder.consumer_order_id == order.id)
    ).scalar_one_or_none()


@pytest.fixture
def ss(app) -> SharerShop:
    built = SharerShop(build_retail_shop("SH"))
    for short in ("JA", "LJ"):
        built.add_guide(short)
    built.sharer, built.sharer_user = built.add_sharer()
    db.session.commit()
    return built
