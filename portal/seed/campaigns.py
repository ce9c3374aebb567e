"""The demo's campaign (issue 22): ACME's "Winter live" runs for two weeks from today with a live
sale that starts tomorrow evening (a featured hoodie at ¥449 instead of ¥499), a group buy of
the tee at ¥349 instead of ¥399 open now (two people, 24 hours), a red-packet plan guides and
members send (¥20 in four ¥5 coupons), a task for S1's guides (bring people to the live sale,
¥1 each, at most ¥300), and HQ's community operator as a sharer. Nothing of it changes a price
until the live sale starts."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal.campaigns import campaigns, events, group_buys, red_packets, sharers, tasks
from portal.campaigns.models import (
    Campaign,
    GroupBuy,
    GroupBuyStatus,
    GuideTask,
    LiveEvent,
    RedPacketPlan,
    TaskKind,
    TaskStatus,
)
from portal.core.db import utcnow
from portal.extensions import db
from portal.guides.models import Guide, GuideKind
from portal.network.models import User
from portal.seed.lookup import actor as _actor
from portal.seed.lookup import org as _org

CAMPAIGN, EVENT, GROUP_BUY, PLAN, TASK = "WINTER", "LIVE-WINTER", "GB-TEE", "RP-WINTER", "T-LIVE"
EVENT_PRODUCT, EVENT_PRICE_CENTS = "ACME-HOD-001", 44_900
GROUP_PRODUCT, GROUP_PRICE_CENTS = "ACME-TEE-001", 34_900
SHARER_EMAIL = "community@demo.test"


def seed_campaigns() -> int:
    """Create whatever of the demo campaign is missing; return how many things were made."""
    acme = _org("ACME")
    hq = _actor("hq@demo.test", "ACME")
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    created = 0
    campaign = db.session.execute(
        select(Campaign).where(Campaign.brand_id == acme.id, Campaign.code == CAMPAIGN)
    ).scalar_one_or_none()
    if campaign is None:
        campaign = campaigns.create_campaign(
            hq,
            campaigns.CampaignInput(
                code=CAMPAIGN,
                name="Winter live",
                starts_at=today,
                ends_at=today + timedelta(days=14),
                description="A live sale, a group buy, red packets and a task for S1's guides.",
            ),
        )
        campaigns.start_campaign(hq, campaign)
        created += 1
    created += _group_buy(hq, acme, campaign, today)
    created += _live_event(hq, acme, campaign, today)
    created += _red_packets(hq, acme, campaign)
    created += _task(hq, acme, campaign, today)
    created += _sharer(hq)
    db.session.flush()
    return created


def _group_buy(hq, acme, campaign: Campaign, today) -> int:
    if _exists(GroupBuy, acme.id, GROUP_BUY):
        return 0
    offer = group_buys.create_group_buy(
        hq,
        acme,
        group_buys.GroupBuyInput(
            code=GROUP_BUY,
            name="Two tees, two friends",
            product_code=GROUP_PRODUCT,
            price_cents=GROUP_PRICE_CENTS,
            group_size=2,
            hours_to_fill=24,
            units_per_person=2,
            groups_per_person=3,
            starts_at=today,
            ends_at=today + timedelta(days=14),
            campaign_id=campaign.id,
        ),
    )
    if offer.status != GroupBuyStatus.LIVE:
        group_buys.start_group_buy(hq, offer)
    return 1


def _live_event(hq, acme, campaign: Campaign, today) -> int:
    if _exists(LiveEvent, acme.id, EVENT):
        return 0
    starts = today + timedelta(days=1, hours=12)  # 20:00 in Shanghai tomorrow
    event = events.create_event(
        hq,
        acme,
        events.EventInput(
            code=EVENT,
            name="Winter live: layers for the cold",
            starts_at=starts,
            ends_at=starts + timedelta(hours=2),
            room_url="https://live.example.com/acme/winter",
            description="Our stylists try the winter range on; event prices while we are live.",
            schedule=(
                events.ScheduleLine(at=starts, title="Hello and what is new"),
                events.ScheduleLine(at=starts + timedelta(minutes=30), title="Hoodies"),
                events.ScheduleLine(at=starts + timedelta(minutes=75), title="Two-tee group buy"),
            ),
            campaign_code=campaign.code,
        ),
    )
    events.add_item(
        hq, event, events.ItemInput(product_code=EVENT_PRODUCT, event_price_cents=EVENT_PRICE_CENTS)
    )
    events.add_item(
        hq, event, events.ItemInput(product_code=GROUP_PRODUCT, group_buy_code=GROUP_BUY)
    )
    events.publish_event(hq, event)
    return 1


def _red_packets(hq, acme, campaign: Campaign) -> int:
    if _exists(RedPacketPlan, acme.id, PLAN):
        return 0
    red_packets.create_plan(
        hq,
        acme,
        red_packets.PlanInput(
            name="Winter red packet",
            code=PLAN,
            packet="20",
            coupons="4",
            min_spend="100",
            valid_days="7",
            senders=red_packets.Senders.BOTH,
            packets_total="500",
            packets_per_sender="5",
            campaign_id=str(campaign.id),
        ),
    )
    return 1


def _task(hq, acme, campaign: Campaign, today) -> int:
    existing = db.session.execute(
        select(GuideTask).where(GuideTask.brand_id == acme.id, GuideTask.code == TASK)
    ).scalar_one_or_none()
    if existing is not None:
        return 0
    task = tasks.create_task(
        hq,
        acme,
        tasks.TaskInput(
            code=TASK,
            title="Bring your customers to the winter live",
            kind=TaskKind.EVENT_VISITORS,
            ref=f"live:{EVENT}",
            starts_at=today,
            ends_at=today + timedelta(days=14),
            target=30,
            reward_cents=100,
            cap_cents=30_000,
            campaign_id=campaign.id,
            stores=("S1",),
            description="Share your own link to the live sale: ¥1 for each person who opens it.",
        ),
    )
    if task.status == TaskStatus.DRAFT:
        tasks.publish_task(hq, task)
    return 1


def _sharer(hq) -> int:
    user = db.session.execute(select(User).where(User.email == SHARER_EMAIL)).scalar_one()
    exists = db.session.execute(
        select(Guide.id).where(Guide.user_id == user.id, Guide.kind != GuideKind.GUIDE)
    ).first()
    if exists is not None:
        return 0
    sharers.add_sharer(hq, user_id=user.id, kind=GuideKind.COMMUNITY_OPERATOR)
    return 1


def _exists(model, brand_id: int, code: str) -> bool:
    return (
        db.session.execute(
            select(model.id).where(model.brand_id == brand_id, model.code == code)
        ).first()
        is not None
    )


def campaign_lines(base: str) -> list[str]:
    """What `flask seed demo` prints about the campaign."""
    return [
        f"  campaign: {base}/campaigns/ (hq@demo.test); live sale {base}/shop/ACME/live/{EVENT}",
        f"  group buy: {base}/shop/ACME/group-buys/{GROUP_BUY}",
        f"  guides' tasks: {base}/guides/me/tasks",
        f"  sharer {SHARER_EMAIL}: {base}/campaigns/sharers/me",
    ]
