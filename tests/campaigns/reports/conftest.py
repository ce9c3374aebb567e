"""A campaign's figures on a guides' shop of its own (tests/guides/conftest.py, brand CR):
guides at Jing'an (JA) and Lujiazui (LJ), a community operator of HQ as a sharer, and an HQ
admin who reads the report.

`build_spring` lays out one campaign, SPRING (window: two days ago to five days ahead), the way
a week of it would leave the data: a live event LIVE1 whose item carries the coupon EV20 (20.00
off), a group buy GB1, a red-packet plan RP (its coupons 10.00 off, packet PKT1 sent by JA),
three tasks (one closed, its rewards in the ledger; two still counting), guide visits, claims,
and orders placed through checkout and paid through the test gateway's notice (the campaign
channel of each is written by checkout, except the group-buy order, whose seat and channel are
written here as the group-buy checkout would). TEE-BLK-M sells at 199.00, picked up at Lujiazui.

What the report must read (SPRING_FIGURES and the tests): six paid orders, one refunded whole,
charged 1,164.00, revenue 965.00, coupons 30.00, rewards 11.00 (7.00 still counting).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from portal.campaigns import campaigns
from portal.campaigns.models import (
    BuyGroup,
    Campaign,
    CampaignOrder,
    Channel,
    ClaimSource,
    EventStatus,
    GroupBuy,
    GroupBuyStatus,
    GroupSeat,
    GroupStatus,
    GuideTask,
    LiveEvent,
    LiveEventItem,
    RedPacket,
    RedPacketClaim,
    RedPacketPlan,
    SeatStatus,
    TaskKind,
    TaskResult,
    TaskStatus,
)
from portal.core.access import Actor, Role
from portal.core.db import utcnow
from portal.extensions import db
from portal.guides import roster
from portal.guides.models import (
    CommissionEntry,
    CommissionKind,
    Guide,
    GuideKind,
    GuideVisit,
)
from portal.members import coupons, membership
from portal.members.coupon_models import Coupon, CouponSource, CouponTemplate
from portal.network.models import User
from portal.policy import services as policy_services
from portal.policy.models import PolicyVersion, VersionStatus
from portal.storefront import checkout, orders
from portal.storefront.hooks import CheckoutExtras
from portal.storefront.models import Consumer, ConsumerOrder
from tests.guides.conftest import GuideShop
from tests.support.consumer_orders import pay_by_notice
from tests.support.retail import build_retail_shop

PASSWORD = "x" * 12
TEE = 19_900


@dataclass
class CampaignShop:
    gs: GuideShop
    sharer: Guide
    admin: User  # HQ admin of the brand: reads reports
    people: dict[str, Consumer] = field(default_factory=dict)

    @property
    def brand(self):
        return self.gs.brand

    @property
    def hq(self) -> Actor:
        return self.gs.shop.net.hq

    def guide(self, short: str) -> Guide:
        return self.gs.guides[short]

    def set_campaigns(self, **switches: bool) -> None:
        """Publish the brand's campaign switches (CampaignTerms) on a new version of its retail
        policy, in force from a second ago, as HQ publishes them."""
        live = db.session.execute(
            select(PolicyVersion).where(
                PolicyVersion.brand_id == self.brand.id,
                PolicyVersion.status == VersionStatus.ACTIVE,
            )
        ).scalar_one()
        draft = policy_services.revise_policy(self.hq, live)
        draft.member_terms = {**(draft.member_terms or {}), "campaigns": switches}
        draft.effective_from = utcnow() - timedelta(seconds=1)
        policy_services.publish_policy(self.hq, draft)
        db.session.flush()

    def campaign(self, code: str, *, starts_days: float = -2, ends_days: float = 5) -> Campaign:
        now = utcnow()
        made = campaigns.create_campaign(
            self.hq,
            campaigns.CampaignInput(
                code=code,
                name=f"Campaign {code}",
                starts_at=now + timedelta(days=starts_days),
                ends_at=now + timedelta(days=ends_days),
            ),
        )
        return campaigns.start_campaign(self.hq, made)

    def template(self, name: str, yuan: str) -> CouponTemplate:
        return coupons.create_template(
            self.hq,
            self.brand,
            coupons.TemplateInput(
                name=name, amount=yuan, validity="days", valid_days="30", distribution="link"
            ),
        )

    def consumer(self, key: str) -> Consumer:
        self.people[key] = self.gs.consumer()
        return self.people[key]

    def claimed(self, consumer: Consumer, template: CouponTemplate, *, hours_ago: float) -> Coupon:
        """A coupon of the template the consumer's member claimed `hours_ago`."""
        member = membership.member_of(consumer)
        assert member is not None
        at = utcnow() - timedelta(hours=hours_ago)
        row = Coupon(
            brand_id=self.brand.id,
            template_id=template.id,
            member_id=member.id,
            seq=1,
            source=CouponSource.CLAIMED,
            valid_from=at,
            valid_until=at + timedelta(days=30),
            created_at=at,
        )
        db.session.add(row)
        db.session.flush()
        return row

    def visit(
        self,
        guide: Guide,
        target: str,
        ref: str,
        *,
        consumer: Consumer | None = None,
        visitor: str = "",
        hours_ago: float,
    ) -> GuideVisit:
        row = GuideVisit(
            brand_id=self.brand.id,
            guide_id=guide.id,
            consumer_id=consumer.id if consumer is not None else None,
            visitor=visitor,
            target=target,
            ref=ref,
            opened_at=utcnow() - timedelta(hours=hours_ago),
        )
        db.session.add(row)
        db.session.flush()
        return row

    def buy(
        self,
        consumer: Consumer,
        *,
        guide: str | None = None,
        coupon: Coupon | None = None,
        pay: bool = True,
        qty: int = 1,
    ) -> ConsumerOrder:
        """`qty` TEE-BLK-M through checkout (a guide's code typed, a coupon used), paid through
        the test gateway's notice."""
        order = checkout.checkout(
            consumer,
            self.brand,
            "official",
            [checkout.CheckoutLine(self.gs.shop.variant_id("TEE-BLK-M"), qty)],
            fulfilment="pickup",
            checkout_token=secrets.token_hex(8),
            pickup_location_id=self.gs.shop.locations["LJ"].id,
            extras=CheckoutExtras(
                guide_code=self.guide(guide).code if guide else None,
                coupon_ids=(coupon.id,) if coupon is not None else (),
            ),
        )
        if pay:
            pay_by_notice(order)
        db.session.flush()
        return order

    def channel_of(self, order: ConsumerOrder) -> CampaignOrder | None:
        return db.session.execute(
            select(CampaignOrder).where(CampaignOrder.consumer_order_id == order.id)
        ).scalar_one_or_none()

    def reward(self, task: GuideTask, short: str, cents: int) -> None:
        guide = self.guide(short)
        db.session.add(
            CommissionEntry(
                brand_id=self.brand.id,
                guide_id=guide.id,
                org_id=guide.org_id,
                kind=CommissionKind.REWARD,
                amount_cents=cents,
                reference=f"T{task.id}",
            )
        )
        db.session.flush()

    def task(
        self, campaign: Campaign, code: str, kind: str, ref: str, *, reward: int, cap: int | None,
        status: str,
    ) -> GuideTask:  # fmt: skip
        row = GuideTask(
            brand_id=self.brand.id,
            owner_org_id=self.brand.id,
            campaign_id=campaign.id,
            code=code,
            title=f"Task {code}",
            kind=kind,
            ref=ref,
            starts_at=campaign.starts_at,
            ends_at=campaign.ends_at,
            target=3,
            reward_cents=reward,
            cap_cents=cap,
            status=status,
        )
        db.session.add(row)
        db.session.flush()
        return row

    def results(self, task: GuideTask, short: str, count: int) -> None:
        for n in range(count):
            db.session.add(
                TaskResult(
                    task_id=task.id,
                    guide_id=self.guide(short).id,
                    source=f"P{short}{n}",
                    happened_at=utcnow(),
                )
            )
        db.session.flush()


@pytest.fixture
def cs(app) -> CampaignShop:
    gs = GuideShop(build_retail_shop("CR"))
    for short in ("JA", "LJ"):
        gs.add_guide(short)
    gs.shop.receive("LJ", "TEE-BLK-M", 20)
    operator = gs.person("HQ", Role.HQ_MERCHANDISER)
    sharer = roster.guide_for(
        operator.id, gs.brand.id, gs.brand.id, kind=GuideKind.COMMUNITY_OPERATOR
    )
    assert sharer is not None and sharer.is_sharer
    admin = gs.person("HQ", Role.HQ_ADMIN)
    db.session.commit()
    return CampaignShop(gs, sharer, admin)


@dataclass
class Spring:
    campaign: Campaign
    other: Campaign
    orders: dict[str, ConsumerOrder]
    templates: dict[str, CouponTemplate]


def build_spring(cs: CampaignShop) -> Spring:
    spring = cs.campaign("SPRING")
    other = cs.campaign("OTHER")
    brand_id = cs.brand.id
    tee = cs.gs.shop.net.variants["TEE-BLK-M"].product
    now = utcnow()
    ev20, rp10 = cs.template("Event twenty", "20"), cs.template("Red packet ten", "10")
    live = LiveEvent(
        brand_id=brand_id, campaign_id=spring.id, code="LIVE1", name="Spring live",
        starts_at=now - timedelta(hours=3), ends_at=now + timedelta(days=1),
        status=EventStatus.PUBLISHED, published_at=now - timedelta(hours=3),
    )  # fmt: skip
    live.items.append(LiveEventItem(product_id=tee.id, coupon_template_id=ev20.id))
    other_live = LiveEvent(
        brand_id=brand_id, campaign_id=other.id, code="LIVE2", name="Other live",
        starts_at=now - timedelta(hours=3), ends_at=now + timedelta(days=1),
        status=EventStatus.PUBLISHED, published_at=now - timedelta(hours=3),
    )  # fmt: skip
    group_buy = GroupBuy(
        brand_id=brand_id, campaign_id=spring.id, code="GB1", name="Tee for two",
        product_id=tee.id, price_cents=15_000, group_size=2, starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=3), status=GroupBuyStatus.LIVE,
    )  # fmt: skip
    plan = RedPacketPlan(
        brand_id=brand_id, campaign_id=spring.id, code="RP", name="Spring packets",
        packet_cents=2_000, coupons_per_packet=2, template_id=rp10.id, packets_total=10,
        packets_sent=1,
    )  # fmt: skip
    db.session.add_all([live, other_live, group_buy, plan])
    db.session.flush()
    packet = RedPacket(
        brand_id=brand_id, plan_id=plan.id, code="PKT1", guide_id=cs.guide("JA").id, coupons=2,
        claimed=1, sent_at=now - timedelta(hours=5),
    )  # fmt: skip
    db.session.add(packet)
    db.session.flush()

    a, b, c, d = (cs.consumer(key) for key in "ABCD")
    e, g, i = (cs.consumer(key) for key in "EGI")
    ja, lj = cs.guide("JA"), cs.guide("LJ")
    # Before the window: counts for nothing here.
    cs.visit(ja, "live", "LIVE1", consumer=a, hours_ago=72)
    cs.visit(ja, "live", "LIVE1", consumer=a, hours_ago=1)  # A's newest link: the live event
    cs.visit(lj, "group_buy", "GB1", consumer=b, hours_ago=0.4)
    cs.visit(cs.sharer, "red_packet", "PKT1", consumer=d, hours_ago=0.5)
    cs.visit(ja, "live", "LIVE2", consumer=i, hours_ago=0.3)  # the other campaign's event
    # Claims: C from JA's red packet, E through JA's link to the event's coupon.
    packet_coupon = cs.claimed(c, rp10, hours_ago=4)
    db.session.add(RedPacketClaim(packet_id=packet.id, member_id=packet_coupon.member_id,
                                  coupon_id=packet_coupon.id))  # fmt: skip
    event_coupon = cs.claimed(e, ev20, hours_ago=2)
    db.session.add(ClaimSource(coupon_id=event_coupon.id, guide_id=ja.id))
    db.session.flush()

    placed = {
        "live": cs.buy(a),  # JA by link; channel live
        "red_packet": cs.buy(c, guide="LJ", coupon=packet_coupon),
        "sharer": cs.buy(d),  # no guide: a sharer's link attributes nothing
        "coupon": cs.buy(e, guide="JA", coupon=event_coupon),
        "guide": cs.buy(b),  # LJ by link to the group buy; channel guide
        "group_buy": cs.buy(g, guide="LJ"),
        "unpaid": cs.buy(a, pay=False),
        "other": cs.buy(i),
    }
    # The group-buy order: its seat in a filled group, and its channel, as the group-buy
    # checkout writes them.
    group = BuyGroup(
        brand_id=brand_id, group_buy_id=group_buy.id, code=f"G{secrets.token_hex(4)}",
        leader_consumer_id=g.id, guide_id=lj.id, status=GroupStatus.FILLED, seats_taken=2,
        seats_paid=2, expires_at=now + timedelta(hours=20),
    )  # fmt: skip
    db.session.add(group)
    db.session.flush()
    db.session.add(GroupSeat(group_id=group.id, consumer_id=g.id,
                             order_id=placed["group_buy"].id, status=SeatStatus.PAID))  # fmt: skip
    assert cs.channel_of(placed["group_buy"]) is None
    db.session.add(
        CampaignOrder(
            brand_id=brand_id,
            consumer_order_id=placed["group_buy"].id,
            campaign_id=spring.id,
            channel=Channel.GROUP_BUY,
        )
    )
    # D calls the paid order off: refunded whole.
    orders.cancel(d, placed["sharer"], reason="changed my mind")
    # Visits after the orders (so no checkout read them): a browser before signing in, A again
    # through JA's coupon link, and a product link that is no campaign's.
    cs.visit(ja, "live", "LIVE1", visitor="browser-1", hours_ago=0.2)
    cs.visit(ja, "coupon", ev20.code, consumer=a, hours_ago=0.1)
    cs.visit(ja, "product", tee.code, consumer=a, hours_ago=0.1)

    # Tasks: the event's visitors (closed: JA 3.00 and LJ 1.00 in the ledger), orders (counting:
    # JA's two results at 5.00 each, capped at 5.00), red-packet claims (counting: 2.00).
    visitors = cs.task(spring, "VISIT", TaskKind.EVENT_VISITORS, "live:LIVE1", reward=100,
                       cap=300, status=TaskStatus.CLOSED)  # fmt: skip
    cs.reward(visitors, "JA", 300)
    cs.reward(visitors, "LJ", 100)
    selling = cs.task(spring, "SELL", TaskKind.ORDERS, "", reward=500, cap=500,
                      status=TaskStatus.PUBLISHED)  # fmt: skip
    cs.results(selling, "JA", 2)
    claims = cs.task(spring, "CLAIM", TaskKind.COUPON_CLAIMS, f"coupon:{rp10.code}", reward=200,
                     cap=None, status=TaskStatus.PUBLISHED)  # fmt: skip
    cs.results(claims, "JA", 1)
    db.session.commit()
    return Spring(spring, other, placed, {"ev20": ev20, "rp10": rp10})


@pytest.fixture
def spring(cs: CampaignShop) -> Spring:
    return build_spring(cs)


def sign_in(client, user: User):
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    with client.session_transaction() as cookie:
        cookie["lang"] = "en"
    return client


class _Marked(HTMLParser):
    """The text of every element carrying a data-testid (nested ones included), as a reader
    sees it: tags gone, spaces squeezed; a table row's cells also one by one."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[tuple[str, str | None]] = []
        self.texts: dict[str, list[str]] = {}
        self.cells: dict[str, list[list[str]]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        mark = dict(attrs).get("data-testid")
        self.open.append((tag, mark))
        if mark is not None:
            self.texts.setdefault(mark, []).append("")
            self.cells.setdefault(mark, []).append([])
        if tag in ("td", "th"):
            for _tag, row in reversed(self.open[:-1]):
                if _tag == "tr" and row is not None:
                    self.cells[row][-1].append("")
                    break

    def handle_endtag(self, tag: str) -> None:
        while self.open:
            if self.open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        data = f" {data} "  # text of neighbouring elements reads apart, as a browser shows it
        in_cell = False
        for tag, mark in reversed(self.open):
            if mark is not None:
                self.texts[mark][-1] += data
                if tag == "tr" and in_cell and self.cells[mark][-1]:
                    self.cells[mark][-1][-1] += data
            if tag in ("td", "th"):
                in_cell = True


VOID = {"input", "br", "meta", "link", "img", "hr"}


def _squeeze(text: str) -> str:
    return " ".join(text.split())


def marked(html: str) -> dict[str, str]:
    """data-testid -> the first such element's text."""
    parser = _Marked()
    parser.feed(html)
    return {mark: _squeeze(found[0]) for mark, found in parser.texts.items()}


def row_cells(html: str, mark: str) -> list[str]:
    """The cells of the first table row marked `mark`, as text."""
    parser = _Marked()
    parser.feed(html)
    return [_squeeze(cell) for cell in parser.cells[mark][0]]
