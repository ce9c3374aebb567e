"""Guides on a shop of their own (tests/support/retail.py, brand GD): a staff member of Jing'an
(JA) and one of Lujiazui (LJ) with guide codes, an HQ merchandiser as a third guide, the guides'
rules (create_app plugs them into checkout and the till), and a way to publish the brand's
guide and commission terms. Orders are TEE-BLK-M (official 199.00) picked up at Lujiazui."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.core.access import Actor, Role
from portal.core.db import utcnow
from portal.extensions import db
from portal.guides import roster
from portal.guides.models import Attribution, Guide, GuideBinding, GuideVisit
from portal.network import people
from portal.network.models import Organization, User
from portal.policy import services as policy_services
from portal.policy.models import PolicyVersion, VersionStatus
from portal.storefront import checkout
from portal.storefront.hooks import CheckoutExtras
from portal.storefront.models import Consumer, ConsumerOrder
from tests.support.retail import RetailShop, build_retail_shop

TEE = 19_900
TEE_COMMISSION = 597  # the default 3% of 199.00


@dataclass
class GuideShop:
    shop: RetailShop
    users: dict[str, User] = field(default_factory=dict)
    guides: dict[str, Guide] = field(default_factory=dict)

    @property
    def brand(self) -> Organization:
        return self.shop.brand

    def person(self, short: str, role: Role = Role.STORE_STAFF, email: str = "") -> User:
        org = self.brand if short == "HQ" else self.org(short)
        user = people.create_user(
            email=email or f"{short.lower()}-{secrets.token_hex(3)}@guides.test",
            name=f"Guide {short}",
            password="x" * 12,
        )
        people.add_member(Actor.system(), org, user, role)
        return user

    def org(self, short: str) -> Organization:
        return db.session.execute(
            select(Organization).where(Organization.id == self.shop.net.org_id(short))
        ).scalar_one()

    def add_guide(self, short: str, role: Role = Role.STORE_STAFF) -> Guide:
        user = self.person(short, role)
        org_id = self.brand.id if short == "HQ" else self.org(short).id
        guide = roster.guide_for(user.id, org_id, self.brand.id)
        assert guide is not None
        self.users[short], self.guides[short] = user, guide
        return guide

    def consumer(self, email: str | None = None, **kwargs) -> Consumer:
        consumer = self.shop.consumer(**kwargs)
        if email:
            consumer.email = email
            db.session.flush()
        return consumer

    def set_terms(self, guides: dict | None = None, commission: dict | None = None) -> None:
        """Publish the brand's guide (and commission) terms on a new version of its retail
        policy, in force from a second ago."""
        live = db.session.execute(
            select(PolicyVersion).where(
                PolicyVersion.brand_id == self.brand.id,
                PolicyVersion.status == VersionStatus.ACTIVE,
            )
        ).scalar_one()
        draft = policy_services.revise_policy(self.shop.net.hq, live)
        terms: dict = {}
        if guides is not None:
            terms["guides"] = guides
        if commission is not None:
            terms["commission"] = commission
        draft.member_terms = terms
        draft.effective_from = utcnow() - timedelta(seconds=1)
        policy_services.publish_policy(self.shop.net.hq, draft)

    def place(
        self,
        consumer: Consumer,
        *,
        guide_code: str | None = None,
        visitor: str | None = None,
        placed_by_user_id: int | None = None,
        qty: int = 1,
    ) -> ConsumerOrder:
        return checkout.checkout(
            consumer,
            self.brand,
            "official",
            [checkout.CheckoutLine(self.shop.variant_id("TEE-BLK-M"), qty)],
            fulfilment="pickup",
            checkout_token=secrets.token_hex(8),
            pickup_location_id=self.shop.locations["LJ"].id,
            extras=CheckoutExtras(guide_code=guide_code, visitor=visitor),
            placed_by_user_id=placed_by_user_id,
        )

    def visit(
        self,
        guide: Guide,
        *,
        consumer: Consumer | None = None,
        visitor: str = "",
        days_ago: float = 0,
        target: str = "home",
    ) -> GuideVisit:
        """A visit written as if the link had been opened `days_ago`."""
        row = GuideVisit(
            brand_id=self.brand.id,
            guide_id=guide.id,
            consumer_id=consumer.id if consumer is not None else None,
            visitor=visitor,
            target=target,
            opened_at=utcnow() - timedelta(days=days_ago),
        )
        db.session.add(row)
        db.session.flush()
        return row


def attribution_of(order: ConsumerOrder) -> Attribution | None:
    return db.session.execute(
        select(Attribution).where(Attribution.consumer_order_id == order.id)
    ).scalar_one_or_none()


def binding_of(consumer: Consumer) -> GuideBinding | None:
    """The consumer's open binding (ended or not by time: as stored)."""
    return db.session.execute(
        select(GuideBinding)
        .where(GuideBinding.consumer_id == consumer.id, GuideBinding.ended_at.is_(None))
        .order_by(GuideBinding.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


@pytest.fixture
def gs(app) -> GuideShop:
    built = GuideShop(build_retail_shop("GD"))
    for short in ("JA", "LJ"):
        built.add_guide(short)
    built.add_guide("HQ", Role.HQ_MERCHANDISER)
    db.session.commit()
    return built
