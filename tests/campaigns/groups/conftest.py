"""Group buys on a shop of their own (tests/support/retail.py, brand GB): the brand's terms turn
group buys on (groups of at most 5), and an offer of the tee (TEE: TEE-BLK-M at 199.00,
TEE-BLK-L at 150.00 in the official shop) at 99.00 in groups of 3, 24 hours to fill. Orders are
picked up at Lujiazui (LJ: 5 TEE-BLK-M, 2 TEE-BLK-L, no safety stock) and paid as the test
gateway's signed notice pays them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.campaigns import group_buys
from portal.campaigns.models import BuyGroup, GroupBuy, GroupSeat
from portal.core.access import Actor
from portal.core.db import utcnow
from portal.extensions import db
from portal.network.models import Organization
from portal.policy import services as policy_services
from portal.policy.models import PolicyVersion, Section, VersionStatus
from portal.storefront import checkout
from portal.storefront.hooks import CheckoutExtras
from portal.storefront.models import Consumer, ConsumerOrder
from portal.storefront.payments.models import Payment
from tests.support.campaigns import count  # noqa: F401 - the tests use it
from tests.support.consumer_orders import pay_by_notice
from tests.support.retail import RetailShop, build_retail_shop

GROUP_PRICE = 9_900


def publish_campaign_terms(shop: RetailShop, *, floor: str = "", **campaigns: object) -> None:
    """Publish the brand's `campaigns` terms (portal/policy/consumer_terms.py), and retail
    floors as HQ types them ("product TEE 120"), on a new version of its retail policy, in
    force from a second ago."""
    live = db.session.execute(
        select(PolicyVersion).where(
            PolicyVersion.brand_id == shop.brand.id,
            PolicyVersion.status == VersionStatus.ACTIVE,
        )
    ).scalar_one()
    draft = policy_services.revise_policy(shop.net.hq, live)
    draft.member_terms = {"campaigns": campaigns}
    if floor:
        draft.rules = [rule for rule in draft.rules if rule.section != Section.FLOOR]
        db.session.flush()
        policy_services.add_rules(
            shop.net.hq,
            draft,
            policy_services.parse_rule_lines(Section.FLOOR, floor, label="floors"),
        )
    draft.effective_from = utcnow() - timedelta(seconds=1)
    policy_services.publish_policy(shop.net.hq, draft)


@dataclass
class GroupShop:
    shop: RetailShop

    @property
    def brand(self) -> Organization:
        return self.shop.brand

    @property
    def hq(self) -> Actor:
        return self.shop.net.hq

    def switch(self, on: bool = True, *, floor: str = "", **more: object) -> None:
        publish_campaign_terms(self.shop, floor=floor, group_buys=on, group_size_max=5, **more)

    def offer_input(self, code: str = "TEE3", **changes: object) -> group_buys.GroupBuyInput:
        now = utcnow()
        values: dict[str, object] = {
            "code": code,
            "name": "Tee for three",
            "product_code": "TEE",
            "price_cents": GROUP_PRICE,
            "group_size": 3,
            "hours_to_fill": 24,
            "units_per_person": 1,
            "groups_per_person": 1,
            "starts_at": now - timedelta(hours=1),
            "ends_at": now + timedelta(days=7),
        }
        values.update(changes)
        return group_buys.GroupBuyInput(**values)  # type: ignore[arg-type]

    def offer(self, code: str = "TEE3", *, start: bool = True, **changes: object) -> GroupBuy:
        offer = group_buys.create_group_buy(self.hq, self.brand, self.offer_input(code, **changes))
        if start:
            group_buys.start_group_buy(self.hq, offer)
        return offer

    def consumer(self, name: str = "Han Meimei") -> Consumer:
        return self.shop.consumer(name=name)

    def buy(
        self,
        consumer: Consumer,
        offer: GroupBuy | None = None,
        *,
        group: BuyGroup | str | None = None,
        sku: str = "TEE-BLK-M",
        qty: int = 1,
        code: str | None = None,
        deliver: bool = False,
        **extras: object,
    ) -> ConsumerOrder:
        """Check out `qty` of `sku` in the group buy (opening a group, or joining `group`),
        picked up at Lujiazui, or delivered near Jing'an (`deliver`)."""
        group_code = group.code if isinstance(group, BuyGroup) else group
        return checkout.checkout(
            consumer,
            self.brand,
            "official",
            [checkout.CheckoutLine(self.shop.variant_id(sku), qty)],
            fulfilment="delivery" if deliver else "pickup",
            checkout_token=secrets.token_hex(8),
            pickup_location_id=None if deliver else self.shop.locations["LJ"].id,
            address_id=self.shop.address(consumer).id if deliver else None,
            extras=CheckoutExtras(
                group_buy=code or (offer.code if offer is not None else None),
                group=group_code,
                **extras,  # type: ignore[arg-type]
            ),
        )

    def pay(self, order: ConsumerOrder) -> ConsumerOrder:
        pay_by_notice(order)
        db.session.refresh(order)
        return order

    def group_of(self, order: ConsumerOrder) -> BuyGroup:
        seat = db.session.execute(
            select(GroupSeat).where(GroupSeat.order_id == order.id)
        ).scalar_one()
        group = db.session.execute(
            select(BuyGroup).where(BuyGroup.id == seat.group_id)
        ).scalar_one()
        db.session.refresh(group)
        return group

    def payment_of(self, order: ConsumerOrder) -> Payment:
        return db.session.execute(
            select(Payment).where(Payment.id == order.payment_id)
        ).scalar_one()


@pytest.fixture
def gb(app) -> GroupShop:
    built = GroupShop(build_retail_shop("GB"))
    built.switch(True)
    db.session.commit()
    return built
