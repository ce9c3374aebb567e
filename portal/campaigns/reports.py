"""What a campaign brought in and what it cost (HQ's campaign report). Reads only; each figure
is one set-based query over the campaign's things, whatever the number of guides or orders.

The campaign's things are what names it (`campaign_id`): its live events, group buys, red-packet
plans (and the packets sent of them) and tasks; its coupon templates are its plans' templates
and the templates of its events' items.

- Reach, within the campaign's window: views are the guide-link openings (`GuideVisit`) of its
  things (`live:<event>`, `group_buy:<code>`, `red_packet:<packet>`, `coupon:<template>`);
  claims are the coupons of its templates claimed; participants are the distinct people among
  the viewers (a signed-in consumer, else the browser), the claimers, the group-buy seats and
  the buyers, a member counted once whatever account or browser they used.
- Orders are the paid consumer orders the campaign's channel recorded (`CampaignOrder`), by
  channel, by the guide (and store) they are attributed to, and by the sharer who shared.
  Revenue is what was charged for the goods (goods less coupons), less refunds: an order
  refunded whole counts nothing, a return takes off what it paid back. A delivery fee paid
  back is not the goods' money and takes nothing off.
- Cost is the task rewards plus the coupons. Rewards: the commission ledger's reward entries
  of the campaign's closed tasks ("T<task id>"), and for tasks still counting what their
  counted results earn so far (reward per result, capped per guide). Coupons: what the
  campaign's coupons took off paid orders (a coupon given back by a full refund costs nothing).
  A group buy's lower price is not a cost here: the order line keeps only the price charged,
  so the revenue is already the group price and no list price is on record to subtract from.
- ROI is revenue / cost (and revenue less cost), "no cost" when the cost is zero; per channel
  with the channel's coupons and the rewards of tasks about the channel's things (a task about
  an event counts for the live channel; one about orders or members is across channels).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    BigInteger,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    union,
)

from portal.campaigns.models import (
    BuyGroup,
    Campaign,
    CampaignOrder,
    Channel,
    ClaimSource,
    GroupBuy,
    GroupSeat,
    GuideTask,
    LiveEvent,
    LiveEventItem,
    RedPacket,
    RedPacketClaim,
    RedPacketPlan,
    TaskResult,
    TaskStatus,
)
from portal.campaigns.task_counting import reward_of, reward_reference, split_ref, standing
from portal.core.db import in_ids
from portal.extensions import db
from portal.guides.models import (
    SHARER_KINDS,
    Attribution,
    CommissionEntry,
    CommissionKind,
    Guide,
    GuideVisit,
    LinkTarget,
)
from portal.members.coupon_models import Coupon, CouponSource, CouponStatus, CouponTemplate
from portal.network.models import Organization, User
from portal.storefront.models import Consumer, ConsumerOrder
from portal.storefront.return_models import ConsumerReturn, ReturnStatus

CHANNELS = tuple(Channel)
CHANNEL_NAMES: dict[str, Any] = {
    Channel.GROUP_BUY: _l("Group buys"),
    Channel.RED_PACKET: _l("Red packets"),
    Channel.LIVE: _l("Live events"),
    Channel.SHARER: _l("Sharers' links"),
    Channel.GUIDE: _l("Guides' links"),
    Channel.COUPON: _l("Event coupons"),
}
KIND_NAMES: dict[str, Any] = {
    "guide": _l("Guide"),
    "community_operator": _l("Community operator"),
    "stylist": _l("Stylist"),
    "customer_service": _l("Customer service"),
}


# -- figures -------------------------------------------------------------------------------------


def roi_of(revenue_cents: int, cost_cents: int) -> Decimal | None:
    """Revenue per unit of cost, to two places (None: no cost to divide by)."""
    if cost_cents <= 0:
        return None
    ratio = Decimal(revenue_cents) / Decimal(cost_cents)
    return ratio.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass
class Figures:
    """Orders, revenue and cost of one slice of a campaign (all of it, a channel)."""

    orders: int = 0
    charged_cents: int = 0  # goods less coupons, as paid
    revenue_cents: int = 0  # the same less what was refunded
    coupon_cents: int = 0
    reward_cents: int = 0

    @property
    def refunded_cents(self) -> int:
        return self.charged_cents - self.revenue_cents

    @property
    def cost_cents(self) -> int:
        return self.coupon_cents + self.reward_cents

    @property
    def net_cents(self) -> int:
        return self.revenue_cents - self.cost_cents

    @property
    def roi(self) -> Decimal | None:
        return roi_of(self.revenue_cents, self.cost_cents)

    @property
    def is_empty(self) -> bool:
        return not (self.orders or self.charged_cents or self.cost_cents)


@dataclass
class ChannelLine(Figures):
    channel: str = ""


@dataclass
class PersonLine:
    """A guide or a sharer: what their links reached and the orders that followed."""

    guide_id: int
    code: str
    name: str
    kind: str
    org_id: int
    store_code: str
    store_name: str
    views: int = 0
    claims: int = 0
    orders: int = 0
    revenue_cents: int = 0
    reward_cents: int = 0


@dataclass
class StoreLine:
    org_id: int
    code: str
    name: str
    guides: int = 0
    views: int = 0
    claims: int = 0
    orders: int = 0
    revenue_cents: int = 0
    reward_cents: int = 0


@dataclass
class Reach:
    views: int = 0
    claims: int = 0
    participants: int = 0


@dataclass
class CampaignReport:
    campaign: Campaign
    reach: Reach
    total: Figures
    channels: list[ChannelLine]  # each channel with orders or cost, in Channel's order
    across: Figures  # cost not of one channel (tasks about orders, members; stray coupons)
    guides: list[PersonLine]
    stores: list[StoreLine]
    sharers: list[PersonLine]
    unattributed: Figures  # orders no guide is credited with
    rewards_counting_cents: int = 0  # of total.reward_cents: tasks still counting
    tasks: int = 0
    currency: str = "CNY"
    notes: list[str] = field(default_factory=list)


# -- the campaign's things (subqueries) ------------------------------------------------------------


def _event_codes(c: Campaign) -> Select[Any]:
    return select(LiveEvent.code).where(
        LiveEvent.campaign_id == c.id, LiveEvent.brand_id == c.brand_id
    )


def _group_buy_codes(c: Campaign) -> Select[Any]:
    return select(GroupBuy.code).where(
        GroupBuy.campaign_id == c.id, GroupBuy.brand_id == c.brand_id
    )


def _packet_codes(c: Campaign) -> Select[Any]:
    return (
        select(RedPacket.code)
        .join(RedPacketPlan, RedPacketPlan.id == RedPacket.plan_id)
        .where(RedPacketPlan.campaign_id == c.id, RedPacketPlan.brand_id == c.brand_id)
    )


def _template_ids(c: Campaign) -> Any:
    """The campaign's coupon templates: its plans' and its events' items'."""
    return union(
        select(RedPacketPlan.template_id).where(
            RedPacketPlan.campaign_id == c.id, RedPacketPlan.brand_id == c.brand_id
        ),
        select(LiveEventItem.coupon_template_id)
        .join(LiveEvent, LiveEvent.id == LiveEventItem.event_id)
        .where(
            LiveEvent.campaign_id == c.id,
            LiveEvent.brand_id == c.brand_id,
            LiveEventItem.coupon_template_id.is_not(None),
        ),
    )


def _template_codes(c: Campaign) -> Select[Any]:
    return select(CouponTemplate.code).where(
        CouponTemplate.brand_id == c.brand_id, CouponTemplate.id.in_(_template_ids(c))
    )


def _in_window(column: Any, c: Campaign) -> Any:
    return and_(column >= c.starts_at, column < c.ends_at)


def _campaign_visits(c: Campaign) -> Any:
    """A guide visit of one of the campaign's things, within its window."""
    return and_(
        GuideVisit.brand_id == c.brand_id,
        _in_window(GuideVisit.opened_at, c),
        or_(
            and_(GuideVisit.target == LinkTarget.LIVE, GuideVisit.ref.in_(_event_codes(c))),
            and_(
                GuideVisit.target == LinkTarget.GROUP_BUY,
                GuideVisit.ref.in_(_group_buy_codes(c)),
            ),
            and_(GuideVisit.target == LinkTarget.RED_PACKET, GuideVisit.ref.in_(_packet_codes(c))),
            and_(GuideVisit.target == LinkTarget.COUPON, GuideVisit.ref.in_(_template_codes(c))),
        ),
    )


def _campaign_claims(c: Campaign) -> Any:
    return and_(
        Coupon.brand_id == c.brand_id,
        Coupon.template_id.in_(_template_ids(c)),
        Coupon.source == CouponSource.CLAIMED,
        _in_window(Coupon.created_at, c),
    )


# -- reach -----------------------------------------------------------------------------------------


def _no_id() -> Any:
    return cast(null(), BigInteger)


def _person(member_id: Any, consumer_id: Any, visitor: Any) -> tuple[Any, Any, Any]:
    """Who someone is, as three columns that a UNION compares: their member (when known),
    else their consumer account, else their browser."""
    return (
        member_id.label("member_id"),
        case((member_id.is_(None), consumer_id), else_=_no_id()).label("consumer_id"),
        case((consumer_id.is_(None), visitor), else_=literal("")).label("visitor"),
    )


def _reach(c: Campaign) -> Reach:
    views = db.session.execute(
        select(func.count(GuideVisit.id)).where(_campaign_visits(c))
    ).scalar_one()
    claims = db.session.execute(
        select(func.count(Coupon.id)).where(_campaign_claims(c))
    ).scalar_one()
    viewers = (
        select(*_person(Consumer.member_id, GuideVisit.consumer_id, GuideVisit.visitor))
        .select_from(GuideVisit)
        .outerjoin(Consumer, Consumer.id == GuideVisit.consumer_id)
        .where(
            _campaign_visits(c),
            or_(GuideVisit.consumer_id.is_not(None), GuideVisit.visitor != ""),
        )
    )
    claimers = select(*_person(Coupon.member_id, _no_id(), cast(literal(""), String))).where(
        _campaign_claims(c)
    )
    seated = (
        select(*_person(Consumer.member_id, GroupSeat.consumer_id, cast(literal(""), String)))
        .select_from(GroupSeat)
        .join(BuyGroup, BuyGroup.id == GroupSeat.group_id)
        .join(GroupBuy, GroupBuy.id == BuyGroup.group_buy_id)
        .join(Consumer, Consumer.id == GroupSeat.consumer_id)
        .where(
            GroupBuy.campaign_id == c.id,
            GroupBuy.brand_id == c.brand_id,
            _in_window(GroupSeat.joined_at, c),
        )
    )
    buyers = (
        select(*_person(Consumer.member_id, ConsumerOrder.consumer_id, cast(literal(""), String)))
        .select_from(CampaignOrder)
        .join(ConsumerOrder, ConsumerOrder.id == CampaignOrder.consumer_order_id)
        .join(Consumer, Consumer.id == ConsumerOrder.consumer_id)
        .where(_of_campaign(c), ConsumerOrder.paid_at.is_not(None))
    )
    people = union(viewers, claimers, seated, buyers).subquery()
    participants = db.session.execute(select(func.count()).select_from(people)).scalar_one()
    return Reach(int(views or 0), int(claims or 0), int(participants or 0))


# -- orders and revenue ----------------------------------------------------------------------------


def _of_campaign(c: Campaign) -> Any:
    return and_(CampaignOrder.campaign_id == c.id, CampaignOrder.brand_id == c.brand_id)


def _revenue(order_ids: Select[Any]) -> tuple[Any, Any, Any]:
    """(what a paid order charged for its goods, the same less refunds, the subquery of
    returns to outer-join) for the orders among `order_ids`: an order refunded whole counts
    nothing; otherwise what its refunded returns paid back comes off."""
    returned = (
        select(
            ConsumerReturn.order_id.label("order_id"),
            func.sum(ConsumerReturn.refund_cents).label("cents"),
        )
        .where(
            ConsumerReturn.status == ReturnStatus.REFUNDED, ConsumerReturn.order_id.in_(order_ids)
        )
        .group_by(ConsumerReturn.order_id)
        .subquery()
    )
    charged = ConsumerOrder.goods_cents - ConsumerOrder.discount_cents
    whole_refund = and_(
        ConsumerOrder.refunded_cents > 0,
        ConsumerOrder.refunded_cents >= ConsumerOrder.total_cents,
    )
    revenue = case((whole_refund, 0), else_=charged - func.coalesce(returned.c.cents, 0))
    return charged, revenue, returned


def _orders(c: Campaign, *group: Any) -> Select[Any]:
    """The campaign's paid orders, grouped by `group`: count, charged for goods, revenue."""
    charged, revenue, returned = _revenue(
        select(CampaignOrder.consumer_order_id).where(_of_campaign(c))
    )
    stmt = (
        select(*group, func.count(CampaignOrder.id), func.sum(charged), func.sum(revenue))
        .select_from(CampaignOrder)
        .join(ConsumerOrder, ConsumerOrder.id == CampaignOrder.consumer_order_id)
        .outerjoin(returned, returned.c.order_id == ConsumerOrder.id)
        .where(_of_campaign(c), ConsumerOrder.paid_at.is_not(None))
    )
    return stmt.group_by(*group) if group else stmt


def _figures(orders: Any, charged: Any, revenue: Any) -> Figures:
    return Figures(int(orders or 0), int(charged or 0), int(revenue or 0))


# -- cost ------------------------------------------------------------------------------------------


def _coupon_cost_by_channel(c: Campaign) -> dict[str | None, int]:
    """What the campaign's coupons took off paid orders, by the order's channel in this
    campaign (None: the order came in through none of it)."""
    channel = (
        select(CampaignOrder.consumer_order_id, CampaignOrder.channel)
        .where(_of_campaign(c))
        .subquery()
    )
    rows = db.session.execute(
        select(channel.c.channel, func.sum(Coupon.discount_cents))
        .select_from(Coupon)
        .join(ConsumerOrder, ConsumerOrder.id == Coupon.order_id)
        .outerjoin(channel, channel.c.consumer_order_id == ConsumerOrder.id)
        .where(
            Coupon.brand_id == c.brand_id,
            Coupon.template_id.in_(_template_ids(c)),
            Coupon.status == CouponStatus.USED,
            ConsumerOrder.paid_at.is_not(None),
        )
        .group_by(channel.c.channel)
    ).all()
    return {name: int(cents or 0) for name, cents in rows}


def _task_channels(c: Campaign, tasks: Iterable[GuideTask]) -> dict[int, str | None]:
    """The channel each task is about: its ref ("live:SPRING", "coupon:RP10", ...) names one of
    the campaign's events, group buys, red-packet plans or coupon templates; None otherwise
    (across channels: orders, members, a product)."""
    of_plans = and_(RedPacketPlan.campaign_id == c.id, RedPacketPlan.brand_id == c.brand_id)
    things: dict[tuple[str, str], str] = {}
    for code in db.session.execute(_event_codes(c)).scalars():
        things[(LinkTarget.LIVE, code)] = Channel.LIVE
    for code in db.session.execute(_group_buy_codes(c)).scalars():
        things[(LinkTarget.GROUP_BUY, code)] = Channel.GROUP_BUY
    for code in db.session.execute(select(RedPacketPlan.code).where(of_plans)).scalars():
        things[(LinkTarget.RED_PACKET, code)] = Channel.RED_PACKET
    for code in db.session.execute(_template_codes(c)).scalars():
        things[(LinkTarget.COUPON, code)] = Channel.COUPON
    for code in db.session.execute(
        select(CouponTemplate.code).where(
            CouponTemplate.brand_id == c.brand_id,
            CouponTemplate.id.in_(select(RedPacketPlan.template_id).where(of_plans)),
        )
    ).scalars():
        things[(LinkTarget.COUPON, code)] = Channel.RED_PACKET
    return {task.id: things.get(split_ref(task.ref)) for task in tasks}


@dataclass
class _Rewards:
    by_channel: dict[str | None, int]
    by_guide: dict[int, int]
    counting_cents: int
    tasks: int


def _rewards(c: Campaign) -> _Rewards:
    """Rewards of the campaign's tasks: those the ledger holds for its closed tasks, and for
    tasks still counting what their standing results earn so far (task_counting's rule: so much
    a result, at most the cap per guide)."""
    tasks = list(
        db.session.execute(
            select(GuideTask).where(GuideTask.campaign_id == c.id, GuideTask.brand_id == c.brand_id)
        ).scalars()
    )
    by_channel: dict[str | None, int] = {}
    by_guide: dict[int, int] = {}
    if not tasks:
        return _Rewards(by_channel, by_guide, 0, 0)
    channels = _task_channels(c, tasks)

    def add(task: GuideTask, guide_id: int, cents: int) -> None:
        channel = channels.get(task.id)
        by_channel[channel] = by_channel.get(channel, 0) + cents
        by_guide[guide_id] = by_guide.get(guide_id, 0) + cents

    closed = {reward_reference(t): t for t in tasks if t.status == TaskStatus.CLOSED}
    if closed:
        for reference, guide_id, cents in db.session.execute(
            select(
                CommissionEntry.reference,
                CommissionEntry.guide_id,
                func.sum(CommissionEntry.amount_cents),
            )
            .where(
                CommissionEntry.brand_id == c.brand_id,
                CommissionEntry.kind == CommissionKind.REWARD,
                CommissionEntry.reference.in_(list(closed)),
            )
            .group_by(CommissionEntry.reference, CommissionEntry.guide_id)
        ).all():
            add(closed[reference], guide_id, int(cents or 0))
    counting = {t.id: t for t in tasks if t.status == TaskStatus.PUBLISHED}
    counting_cents = 0
    if counting:
        for task_id, guide_id, results in db.session.execute(
            select(TaskResult.task_id, TaskResult.guide_id, func.count(TaskResult.id))
            .where(in_ids(TaskResult.task_id, counting), standing())
            .group_by(TaskResult.task_id, TaskResult.guide_id)
        ).all():
            cents = reward_of(counting[task_id], int(results))
            counting_cents += cents
            add(counting[task_id], guide_id, cents)
    return _Rewards(by_channel, by_guide, counting_cents, len(tasks))


# -- guides, stores and sharers --------------------------------------------------------------------


def _people(ids: Iterable[int]) -> dict[int, PersonLine]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {
        guide_id: PersonLine(guide_id, code, name or "", kind, org_id, store_code, store_name)
        for guide_id, code, name, kind, org_id, store_code, store_name in db.session.execute(
            select(
                Guide.id,
                Guide.code,
                User.name,
                Guide.kind,
                Guide.org_id,
                Organization.code,
                Organization.name,
            )
            .join(User, User.id == Guide.user_id)
            .join(Organization, Organization.id == Guide.org_id)
            .where(in_ids(Guide.id, wanted))
        ).all()
    }


def _views_by_guide(c: Campaign) -> dict[int, int]:
    return {
        guide_id: int(count)
        for guide_id, count in db.session.execute(
            select(GuideVisit.guide_id, func.count(GuideVisit.id))
            .where(_campaign_visits(c))
            .group_by(GuideVisit.guide_id)
        ).all()
    }


def _claims_by_guide(c: Campaign) -> dict[int, int]:
    """Claims through a guide's (or sharer's) link, and of the red packets they sent."""
    pairs = union(
        select(ClaimSource.coupon_id, ClaimSource.guide_id)
        .join(Coupon, Coupon.id == ClaimSource.coupon_id)
        .where(_campaign_claims(c)),
        select(RedPacketClaim.coupon_id, RedPacket.guide_id)
        .join(RedPacket, RedPacket.id == RedPacketClaim.packet_id)
        .join(RedPacketPlan, RedPacketPlan.id == RedPacket.plan_id)
        .where(
            RedPacketPlan.campaign_id == c.id,
            RedPacketPlan.brand_id == c.brand_id,
            RedPacket.guide_id.is_not(None),
            _in_window(RedPacketClaim.claimed_at, c),
        ),
    ).subquery()
    return {
        guide_id: int(count)
        for guide_id, count in db.session.execute(
            select(pairs.c.guide_id, func.count()).group_by(pairs.c.guide_id)
        ).all()
    }


def _stores(guides: Iterable[PersonLine]) -> list[StoreLine]:
    """A store's figures are its guides' (a few rows: the guides' lines summed)."""
    stores: dict[int, StoreLine] = {}
    for line in guides:
        store = stores.setdefault(
            line.org_id, StoreLine(line.org_id, line.store_code, line.store_name)
        )
        store.guides += 1
        store.views += line.views
        store.claims += line.claims
        store.orders += line.orders
        store.revenue_cents += line.revenue_cents
        store.reward_cents += line.reward_cents
    return sorted(stores.values(), key=lambda s: (-s.revenue_cents, -s.views, s.code))


def _ranked(lines: Iterable[PersonLine]) -> list[PersonLine]:
    return sorted(lines, key=lambda p: (-p.revenue_cents, -p.orders, -p.views, p.code))


# -- the report ------------------------------------------------------------------------------------


def campaign_report(campaign: Campaign) -> CampaignReport:
    """The campaign's reach, orders, revenue, cost and ROI, whole and by channel, guide, store
    and sharer (about a dozen queries, whatever the campaign's size)."""
    c = campaign
    reach = _reach(c)
    coupons = _coupon_cost_by_channel(c)
    rewards = _rewards(c)

    channels: dict[str, ChannelLine] = {str(ch): ChannelLine(channel=str(ch)) for ch in CHANNELS}
    total = Figures()
    for channel, orders, charged, revenue in db.session.execute(
        _orders(c, CampaignOrder.channel)
    ).all():
        found = _figures(orders, charged, revenue)
        row = channels.setdefault(channel, ChannelLine(channel=channel))
        row.orders, row.charged_cents = found.orders, found.charged_cents
        row.revenue_cents = found.revenue_cents
    across = Figures()
    for channel, cents in coupons.items():
        target = channels.get(channel) if channel is not None else None
        (target or across).coupon_cents += cents
    for channel, cents in rewards.by_channel.items():
        target = channels.get(channel) if channel is not None else None
        (target or across).reward_cents += cents
    for part in [*channels.values(), across]:
        total.orders += part.orders
        total.charged_cents += part.charged_cents
        total.revenue_cents += part.revenue_cents
        total.coupon_cents += part.coupon_cents
        total.reward_cents += part.reward_cents

    by_guide: dict[int, tuple[int, int]] = {}
    unattributed = Figures()
    for guide_id, orders, charged, revenue in db.session.execute(
        _orders(c, Attribution.guide_id).outerjoin(
            Attribution, Attribution.consumer_order_id == ConsumerOrder.id
        )
    ).all():
        if guide_id is None:
            unattributed = _figures(orders, charged, revenue)
        else:
            by_guide[guide_id] = (int(orders or 0), int(revenue or 0))
    by_sharer: dict[int, tuple[int, int]] = {
        sharer_id: (int(orders or 0), int(revenue or 0))
        for sharer_id, orders, _charged, revenue in db.session.execute(
            _orders(c, CampaignOrder.sharer_id).where(CampaignOrder.sharer_id.is_not(None))
        ).all()
    }
    views = _views_by_guide(c)
    claims = _claims_by_guide(c)
    people = _people([*views, *claims, *by_guide, *by_sharer, *rewards.by_guide])
    guides: list[PersonLine] = []
    sharers: list[PersonLine] = []
    for guide_id, person in people.items():
        person.views = views.get(guide_id, 0)
        person.claims = claims.get(guide_id, 0)
        person.reward_cents = rewards.by_guide.get(guide_id, 0)
        if person.kind in SHARER_KINDS:
            # A sharer is never credited with a sale: their orders are the ones they shared.
            person.orders, person.revenue_cents = by_sharer.get(guide_id, (0, 0))
            sharers.append(person)
        else:
            person.orders, person.revenue_cents = by_guide.get(guide_id, (0, 0))
            guides.append(person)
    currency = (
        db.session.execute(
            select(Organization.currency).where(Organization.id == c.brand_id)
        ).scalar_one_or_none()
        or "CNY"
    )
    return CampaignReport(
        campaign=c,
        reach=reach,
        total=total,
        channels=[line for line in channels.values() if not line.is_empty],
        across=across,
        guides=_ranked(guides),
        stores=_stores(guides),
        sharers=_ranked(sharers),
        unattributed=unattributed,
        rewards_counting_cents=rewards.counting_cents,
        tasks=rewards.tasks,
        currency=currency,
    )


@dataclass(frozen=True)
class Headline:
    orders: int = 0
    revenue_cents: int = 0


def headlines(brand_id: int, campaign_ids: Iterable[int]) -> dict[int, Headline]:
    """Orders and revenue of each of the brand's campaigns (one query for the list page)."""
    ids = sorted(set(campaign_ids))
    if not ids:
        return {}
    of_brand = and_(CampaignOrder.brand_id == brand_id, in_ids(CampaignOrder.campaign_id, ids))
    _charged, revenue, returned = _revenue(select(CampaignOrder.consumer_order_id).where(of_brand))
    rows = db.session.execute(
        select(CampaignOrder.campaign_id, func.count(CampaignOrder.id), func.sum(revenue))
        .join(ConsumerOrder, ConsumerOrder.id == CampaignOrder.consumer_order_id)
        .outerjoin(returned, returned.c.order_id == ConsumerOrder.id)
        .where(of_brand, ConsumerOrder.paid_at.is_not(None))
        .group_by(CampaignOrder.campaign_id)
    ).all()
    return {cid: Headline(int(n or 0), int(cents or 0)) for cid, n, cents in rows}
