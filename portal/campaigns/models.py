"""What campaigns store (issue 22): campaigns that HQ runs through its guides and sharers, the
tasks guides are given and the results counted for them, live-sale events, group buys (拼团) and
red packets (红包).

The layer sits above guides, members and the storefront: it plugs into their hooks and reads
their data (visits, attributions, coupon claims, memberships); none of them imports it.

- `Campaign`: a brand's plan over a window, which tasks, events, group buys and red packets name,
  so HQ sees reach, orders, revenue and cost per campaign.
- `GuideTask` / `TaskAssignment` / `TaskResult`: a task for guides (and sharers) chosen by
  brand, region, store or level; the guides it reached when published; each counted result, one
  row per source (a visit, a coupon, a member, an order), counted by a job from the data the
  portal already has, never typed in. The reward is written to the commission ledger when the
  task closes (`CommissionKind.REWARD`, reference "T<task id>").
- `LiveEvent` / `LiveEventItem`: a live sale's page: schedule, featured items with an event price,
  a coupon or a group buy, the live room's address.
- `GroupBuy` / `BuyGroup` / `GroupSeat`: an offer at a group price; one group that consumers open
  and join; one seat per order in it. A group's orders are paid and hold their units, but are on
  hold (`ConsumerOrder.on_hold`) until the group fills; a group that does not fill in time is
  refunded through the payment provider and its units released.
- `RedPacketPlan` / `RedPacket` / `RedPacketClaim`: HQ's offer (a sum split into equal coupons);
  one packet a guide or member sends; each claim, which is a coupon of the plan's template.
- `CampaignOrder`: which campaign channel a consumer order came through (a live event's link, a
  group buy, a red packet's coupon, a sharer's link), written once at checkout beside the guides'
  attribution, never instead of it.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import JSON

from portal.catalog.models import Product
from portal.core.db import BigId, TimestampMixin, UTCDateTime, enum_check, make_append_only, utcnow
from portal.extensions import Model


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    LIVE = "live"
    CLOSED = "closed"


class Campaign(TimestampMixin, Model):
    __tablename__ = "campaigns"
    __table_args__ = (
        UniqueConstraint("brand_id", "code"),
        CheckConstraint(enum_check("status", tuple(CampaignStatus)), name="status"),
        CheckConstraint("ends_at > starts_at", name="window"),
        Index("ix_campaigns_brand_id_starts_at", "brand_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(String(500), default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20), default=CampaignStatus.DRAFT)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class TaskKind(enum.StrEnum):
    """What one counted result of a task is."""

    SHARE = "share"  # a visit of the guide's link to the task's item or event (ref)
    EVENT_VISITORS = "event_visitors"  # a distinct person brought to the task's live event (ref)
    COUPON_CLAIMS = "coupon_claims"  # a coupon of the task's template (ref) claimed via the guide
    NEW_MEMBERS = "new_members"  # a member the guide signed up in the window
    ORDERS = "orders"  # a paid order attributed to the guide in the window


class TaskStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"  # assigned: guides see it, the job counts results
    CLOSED = "closed"  # ended: rewards written to the commission ledger


class GuideTask(TimestampMixin, Model):
    """A task for the guides (or sharers) of `owner_org_id` and below that match `audience`
    ({"regions": [...], "store_ids": [...], "levels": [...], "kinds": [...]}; empty: all).
    Each counted result earns `reward_cents`, at most `cap_cents` per guide over the task."""

    __tablename__ = "guide_tasks"
    __table_args__ = (
        UniqueConstraint("brand_id", "code"),
        CheckConstraint(enum_check("kind", tuple(TaskKind)), name="kind"),
        CheckConstraint(enum_check("status", tuple(TaskStatus)), name="status"),
        CheckConstraint("ends_at > starts_at", name="window"),
        CheckConstraint("target >= 1", name="target"),
        CheckConstraint("reward_cents >= 0", name="reward"),
        CheckConstraint("cap_cents IS NULL OR cap_cents >= reward_cents", name="cap"),
        Index("ix_guide_tasks_status_ends_at", "status", "ends_at"),
        Index("ix_guide_tasks_brand_id_starts_at", "brand_id", "starts_at"),
        Index("ix_guide_tasks_owner_org_id", "owner_org_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    owner_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))  # HQ or distributor
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    code: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(String(500), default="")
    kind: Mapped[str] = mapped_column(String(20))
    ref: Mapped[str] = mapped_column(String(64), default="")  # product/event/coupon code
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    target: Mapped[int] = mapped_column(Integer, default=1)  # results a guide is asked for
    reward_cents: Mapped[int] = mapped_column(BigInteger, default=0)  # per counted result
    cap_cents: Mapped[int | None] = mapped_column(BigInteger)  # per guide over the task
    audience: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default=TaskStatus.DRAFT)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    counted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the counting job's last
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    campaign: Mapped[Campaign | None] = relationship()


class TaskAssignment(Model):
    """A guide a published task reached (its audience when published, and guides who joined a
    matching store later are added by the counting job)."""

    __tablename__ = "guide_task_assignments"
    __table_args__ = (Index("ix_guide_task_assignments_guide_id", "guide_id"),)

    task_id: Mapped[int] = mapped_column(ForeignKey("guide_tasks.id"), primary_key=True)
    guide_id: Mapped[int] = mapped_column(ForeignKey("guides.id"), primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))  # the guide's store
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TaskResult(Model):
    """One counted result: `source` names what it was counted from ("V<visit id>",
    "P<person>", "C<coupon id>", "M<member id>", "O<order id>"), unique per task, so a
    recount never counts twice."""

    __tablename__ = "guide_task_results"
    __table_args__ = (
        UniqueConstraint("task_id", "source"),
        Index("ix_guide_task_results_task_id_guide_id", "task_id", "guide_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("guide_tasks.id"))
    guide_id: Mapped[int] = mapped_column(ForeignKey("guides.id"))
    source: Mapped[str] = mapped_column(String(40))
    # An orders task's order: a result whose order is wholly refunded later no longer counts
    # (the row stays: the ledger of what was counted is append-only).
    order_id: Mapped[int | None] = mapped_column(ForeignKey("consumer_orders.id"))
    happened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    counted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EventStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CANCELLED = "cancelled"


class LiveEvent(TimestampMixin, Model):
    """A live sale: the brand streams on a platform of its choice (`room_url`); the portal shows
    the schedule and the featured items, and guides share their own entry links to it."""

    __tablename__ = "live_events"
    __table_args__ = (
        UniqueConstraint("brand_id", "code"),
        CheckConstraint(enum_check("status", tuple(EventStatus)), name="status"),
        CheckConstraint("ends_at > starts_at", name="window"),
        Index("ix_live_events_brand_id_starts_at", "brand_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(String(500), default="")
    room_url: Mapped[str] = mapped_column(String(500), default="")  # http(s) only
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # [{"at": ISO time, "title": "..."}]: the programme, in order.
    schedule: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default=EventStatus.DRAFT)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    campaign: Mapped[Campaign | None] = relationship()
    items: Mapped[list[LiveEventItem]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="LiveEventItem.position"
    )


class LiveEventItem(Model):
    """A product featured in an event, with at most one of: its event price (every SKU of it,
    on the official storefront, while the event runs; never below the floor), a coupon template
    to claim, or a group buy to join."""

    __tablename__ = "live_event_items"
    __table_args__ = (
        UniqueConstraint("event_id", "product_id"),
        CheckConstraint("event_price_cents IS NULL OR event_price_cents > 0", name="price"),
        CheckConstraint(
            "(CASE WHEN event_price_cents IS NULL THEN 0 ELSE 1 END"
            " + CASE WHEN coupon_template_id IS NULL THEN 0 ELSE 1 END"
            " + CASE WHEN group_buy_id IS NULL THEN 0 ELSE 1 END) <= 1",
            name="one_offer",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("live_events.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    event_price_cents: Mapped[int | None] = mapped_column(BigInteger)
    coupon_template_id: Mapped[int | None] = mapped_column(ForeignKey("coupon_templates.id"))
    group_buy_id: Mapped[int | None] = mapped_column(ForeignKey("group_buys.id"))

    event: Mapped[LiveEvent] = relationship(back_populates="items")
    product: Mapped[Product] = relationship()


class GroupBuyStatus(enum.StrEnum):
    DRAFT = "draft"
    LIVE = "live"  # groups may open while now is in [starts_at, ends_at)
    STOPPED = "stopped"  # HQ stopped it: open groups run out their time


class GroupBuy(TimestampMixin, Model):
    """An offer: every SKU of `product_id` at `price_cents` on the official storefront, for a
    group of `group_size` paid orders formed within `hours_to_fill` of its opening."""

    __tablename__ = "group_buys"
    __table_args__ = (
        UniqueConstraint("brand_id", "code"),
        CheckConstraint(enum_check("status", tuple(GroupBuyStatus)), name="status"),
        CheckConstraint("ends_at > starts_at", name="window"),
        CheckConstraint("group_size >= 2", name="group_size"),
        CheckConstraint("hours_to_fill >= 1", name="hours"),
        CheckConstraint("price_cents > 0", name="price"),
        CheckConstraint("units_per_person >= 1", name="units"),
        CheckConstraint("groups_per_person >= 1", name="groups"),
        Index("ix_group_buys_brand_id_status", "brand_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(120))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    price_cents: Mapped[int] = mapped_column(BigInteger)
    group_size: Mapped[int] = mapped_column(Integer, default=2)
    hours_to_fill: Mapped[int] = mapped_column(Integer, default=24)
    units_per_person: Mapped[int] = mapped_column(Integer, default=1)  # per order in a group
    groups_per_person: Mapped[int] = mapped_column(Integer, default=1)  # over the whole offer
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20), default=GroupBuyStatus.DRAFT)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    product: Mapped[Product] = relationship()
    campaign: Mapped[Campaign | None] = relationship()


class GroupStatus(enum.StrEnum):
    OPEN = "open"
    FILLED = "filled"  # `group_size` seats paid: its orders go to the stores
    FAILED = "failed"  # not filled in time: every paid seat refunded, units released


class BuyGroup(Model):
    """One group of a group buy. `seats_taken` counts seats not given back (an order waiting
    for payment holds its seat until it is paid or cancelled); raised and lowered only under
    this row's lock, so the last place goes to one order."""

    __tablename__ = "buy_groups"
    __table_args__ = (
        CheckConstraint(enum_check("status", tuple(GroupStatus)), name="status"),
        CheckConstraint("seats_taken >= 0 AND seats_paid >= 0", name="seats"),
        CheckConstraint("seats_paid <= seats_taken", name="paid_within_taken"),
        Index("ix_buy_groups_status_expires_at", "status", "expires_at"),
        Index("ix_buy_groups_group_buy_id_status", "group_buy_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    group_buy_id: Mapped[int] = mapped_column(ForeignKey("group_buys.id"))
    code: Mapped[str] = mapped_column(String(16), unique=True)  # in the group's share link
    leader_consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"))
    guide_id: Mapped[int | None] = mapped_column(ForeignKey("guides.id"))  # whose link opened it
    status: Mapped[str] = mapped_column(String(20), default=GroupStatus.OPEN)
    seats_taken: Mapped[int] = mapped_column(Integer, default=0)
    seats_paid: Mapped[int] = mapped_column(Integer, default=0)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # filled or failed

    group_buy: Mapped[GroupBuy] = relationship()


class SeatStatus(enum.StrEnum):
    HELD = "held"  # the order waits for payment
    PAID = "paid"
    RELEASED = "released"  # the order was cancelled or expired unpaid, or refunded


class GroupSeat(Model):
    __tablename__ = "buy_group_seats"
    __table_args__ = (
        CheckConstraint(enum_check("status", tuple(SeatStatus)), name="status"),
        UniqueConstraint("order_id"),
        Index("ix_buy_group_seats_group_id", "group_id"),
        Index("ix_buy_group_seats_consumer_id", "consumer_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("buy_groups.id"))
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("consumer_orders.id"))
    status: Mapped[str] = mapped_column(String(20), default=SeatStatus.HELD)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    group: Mapped[BuyGroup] = relationship()


class PlanStatus(enum.StrEnum):
    ACTIVE = "active"
    STOPPED = "stopped"  # no new packets; packets already sent may still be claimed


class RedPacketPlan(TimestampMixin, Model):
    """HQ's red-packet offer: each packet is `packet_cents` split into `coupons_per_packet`
    equal coupons of the plan's template (made with the plan: amount = packet / coupons, the
    plan's minimum spend and validity, claimed by link). Guides and members send packets, at
    most `packets_per_sender` each and `packets_total` in all."""

    __tablename__ = "red_packet_plans"
    __table_args__ = (
        UniqueConstraint("brand_id", "code"),
        CheckConstraint(enum_check("status", tuple(PlanStatus)), name="status"),
        CheckConstraint("coupons_per_packet >= 1", name="coupons"),
        CheckConstraint(
            "packet_cents = (packet_cents / coupons_per_packet) * coupons_per_packet",
            name="divides",
        ),
        CheckConstraint("packet_cents > 0", name="sum"),
        CheckConstraint("packets_sent <= packets_total", name="sent_within_total"),
        CheckConstraint("packets_per_sender >= 1", name="per_sender"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(120))
    packet_cents: Mapped[int] = mapped_column(BigInteger)
    coupons_per_packet: Mapped[int] = mapped_column(Integer)
    template_id: Mapped[int] = mapped_column(ForeignKey("coupon_templates.id"))
    packets_total: Mapped[int] = mapped_column(Integer)
    packets_sent: Mapped[int] = mapped_column(Integer, default=0)  # raised under the row lock
    packets_per_sender: Mapped[int] = mapped_column(Integer, default=1)
    senders: Mapped[str] = mapped_column(String(20), default="guides")  # guides|members|both
    status: Mapped[str] = mapped_column(String(20), default=PlanStatus.ACTIVE)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    campaign: Mapped[Campaign | None] = relationship()


class RedPacket(Model):
    """One packet sent by a guide or a member: its share link carries `code`."""

    __tablename__ = "red_packets"
    __table_args__ = (
        CheckConstraint("(guide_id IS NULL) <> (member_id IS NULL)", name="one_sender"),
        CheckConstraint("claimed >= 0", name="claimed"),
        Index("ix_red_packets_plan_id_guide_id", "plan_id", "guide_id"),
        Index("ix_red_packets_plan_id_member_id", "plan_id", "member_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("red_packet_plans.id"))
    code: Mapped[str] = mapped_column(String(16), unique=True)
    guide_id: Mapped[int | None] = mapped_column(ForeignKey("guides.id"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    coupons: Mapped[int] = mapped_column(Integer)  # the plan's count when sent
    claimed: Mapped[int] = mapped_column(Integer, default=0)  # raised under the row lock
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    plan: Mapped[RedPacketPlan] = relationship()


class RedPacketClaim(Model):
    __tablename__ = "red_packet_claims"
    __table_args__ = (
        UniqueConstraint("packet_id", "member_id"),
        UniqueConstraint("coupon_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    packet_id: Mapped[int] = mapped_column(ForeignKey("red_packets.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    coupon_id: Mapped[int] = mapped_column(ForeignKey("coupons.id"))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ClaimSource(Model):
    """Whose guide link a claimed coupon came through (the newest guide visit of that coupon's
    link by the claiming consumer or their browser within the attribution window), for tasks
    that count claims. Written once, by the campaigns' listener on coupon claims."""

    __tablename__ = "coupon_claim_sources"
    __table_args__ = (Index("ix_coupon_claim_sources_guide_id", "guide_id"),)

    coupon_id: Mapped[int] = mapped_column(ForeignKey("coupons.id"), primary_key=True)
    guide_id: Mapped[int] = mapped_column(ForeignKey("guides.id"))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("guide_visits.id"))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Channel(enum.StrEnum):
    """Which way a campaign's order came in (the first that applies, in this order)."""

    GROUP_BUY = "group_buy"
    RED_PACKET = "red_packet"
    LIVE = "live"  # a live event's link (a guide's or a sharer's) or its page
    SHARER = "sharer"  # a sharer's link to anything else
    GUIDE = "guide"  # a guide's link to one of the campaign's items
    COUPON = "coupon"  # an event's coupon


class CampaignOrder(Model):
    """The campaign channel of one consumer order, written once when it is placed. It records
    who shared (a sharer or a guide, through their visit) for the campaign's reports; it never
    moves the guides' attribution or commission."""

    __tablename__ = "campaign_orders"
    __table_args__ = (
        CheckConstraint(enum_check("channel", tuple(Channel)), name="channel"),
        UniqueConstraint("consumer_order_id"),
        Index("ix_campaign_orders_campaign_id_created_at", "campaign_id", "created_at"),
        Index("ix_campaign_orders_sharer_id", "sharer_id"),
        Index("ix_campaign_orders_brand_id_created_at", "brand_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    consumer_order_id: Mapped[int] = mapped_column(ForeignKey("consumer_orders.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    channel: Mapped[str] = mapped_column(String(20))
    sharer_id: Mapped[int | None] = mapped_column(ForeignKey("guides.id"))  # who shared, if any
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("guide_visits.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


for _ledger in (TaskResult, RedPacketClaim, CampaignOrder, ClaimSource):
    make_append_only(_ledger)
