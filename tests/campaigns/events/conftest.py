"""Live events on a guides' shop of their own (tests/guides/conftest.py, brand EV): guides at
Jing'an (JA) and Lujiazui (LJ) and an HQ merchandiser, the brand's campaign switches and retail
floors published as HQ publishes them, and events written through the service.

Official prices: TEE-BLK-M 199.00, TEE-BLK-L 150.00, POLO-WHT-M 299.00; the floor of TEE is
120.00 once `set_campaigns` publishes it (the default here)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.campaigns import events
from portal.campaigns.models import GroupBuy, GroupBuyStatus, LiveEvent
from portal.catalog.models import Product
from portal.core.access import Actor, Role
from portal.core.db import utcnow
from portal.extensions import db
from portal.members import coupons
from portal.members.coupon_models import CouponTemplate
from portal.network.models import Organization
from portal.policy import services as policy_services
from portal.policy.models import PolicyVersion, Section, VersionStatus
from portal.storefront import checkout
from portal.storefront.hooks import CheckoutExtras
from portal.storefront.models import Consumer, ConsumerOrder
from tests.guides.conftest import GuideShop
from tests.support.retail import build_retail_shop

ROOM = "https://live.example.com/room/1"
TEE_FLOOR = "product TEE 120"


@dataclass
class EventShop:
    gs: GuideShop

    @property
    def brand(self) -> Organization:
        return self.gs.brand

    @property
    def hq(self) -> Actor:
        return self.gs.shop.net.hq

    def set_campaigns(self, *, live_events: bool = True, floor: str = TEE_FLOOR) -> None:
        """Publish the brand's campaign switches (and retail floors, as HQ types them) on a new
        version of its retail policy, in force from a second ago."""
        live = db.session.execute(
            select(PolicyVersion).where(
                PolicyVersion.brand_id == self.brand.id,
                PolicyVersion.status == VersionStatus.ACTIVE,
            )
        ).scalar_one()
        draft = policy_services.revise_policy(self.hq, live)
        terms = dict(draft.member_terms or {})
        terms["campaigns"] = {"live_events": live_events}
        draft.member_terms = terms
        kept = [rule for rule in draft.rules if rule.section != Section.FLOOR]
        draft.rules = kept
        db.session.flush()
        if floor:
            policy_services.add_rules(
                self.hq,
                draft,
                policy_services.parse_rule_lines(Section.FLOOR, floor, label="floors"),
            )
        draft.effective_from = utcnow() - timedelta(seconds=1)
        policy_services.publish_policy(self.hq, draft)
        db.session.flush()

    def event(
        self,
        code: str = "LIVE1",
        *,
        starts_in: timedelta = timedelta(hours=-1),
        lasts: timedelta = timedelta(hours=3),
        room_url: str = ROOM,
        schedule: tuple[tuple[timedelta, str], ...] = (),
        items: tuple[events.ItemInput, ...] = (),
        publish: bool = True,
    ) -> LiveEvent:
        """An event written by HQ, starting `starts_in` from now (past by default: running),
        `schedule` as (time after the start, title), its items featured, published unless
        told."""
        starts = utcnow() + starts_in
        event = events.create_event(
            self.hq,
            self.brand,
            events.EventInput(
                code=code,
                name=f"Live sale {code}",
                description="Spring styles, live from the studio.",
                starts_at=starts,
                ends_at=starts + lasts,
                room_url=room_url,
                schedule=[events.ScheduleLine(starts + after, title) for after, title in schedule],
            ),
        )
        for item in items:
            events.add_item(self.hq, event, item)
        if publish:
            events.publish_event(self.hq, event)
        db.session.flush()
        return event

    def move(self, event: LiveEvent, *, starts_in: timedelta, lasts: timedelta) -> None:
        """Move the event's window as if time had passed (`starts_in` from now)."""
        event.starts_at = utcnow() + starts_in
        event.ends_at = event.starts_at + lasts
        event.schedule = []
        db.session.flush()

    def coupon(self, **terms: str) -> CouponTemplate:
        values = {
            "name": "Twenty off",
            "kind": "amount",
            "amount": "20",
            "validity": "days",
            "valid_days": "30",
            "distribution": "claim",
            **terms,
        }
        return coupons.create_template(self.hq, self.brand, coupons.TemplateInput(**values))

    def group_buy(self, product_code: str = "POLO", code: str = "GB1") -> GroupBuy:
        product = db.session.execute(
            select(Product).where(Product.brand_id == self.brand.id, Product.code == product_code)
        ).scalar_one()
        row = GroupBuy(
            brand_id=self.brand.id,
            code=code,
            name=f"Group {product_code}",
            product_id=product.id,
            price_cents=19_900,
            group_size=3,
            starts_at=utcnow() - timedelta(hours=1),
            ends_at=utcnow() + timedelta(days=2),
            status=GroupBuyStatus.LIVE,
        )
        db.session.add(row)
        db.session.flush()
        return row

    def place(self, consumer: Consumer, sku: str = "TEE-BLK-M", qty: int = 1) -> ConsumerOrder:
        return checkout.checkout(
            consumer,
            self.brand,
            "official",
            [checkout.CheckoutLine(self.gs.shop.variant_id(sku), qty)],
            fulfilment="pickup",
            checkout_token=secrets.token_hex(8),
            pickup_location_id=self.gs.shop.locations["LJ"].id,
            extras=CheckoutExtras(),
        )


def unit_prices(order: ConsumerOrder) -> list[int]:
    return [line.unit_price_cents for line in order.lines]


@pytest.fixture
def es(app) -> EventShop:
    gs = GuideShop(build_retail_shop("EV"))
    for short in ("JA", "LJ"):
        gs.add_guide(short)
    gs.add_guide("HQ", Role.HQ_MERCHANDISER)
    built = EventShop(gs)
    built.set_campaigns()
    db.session.commit()
    return built
