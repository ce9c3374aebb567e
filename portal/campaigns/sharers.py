"""Sharers (issue 22, "Sharers who do not take a guide's customer"), and the campaign channel of
every consumer order.

**Sharers.** HQ's community operators, stylists and customer service share the brand's links in
customer groups. A sharer is a `Guide` row of the brand's HQ (`org_id` = the brand) whose `kind`
is one of SHARER_KINDS: a code and signed links like a guide's (portal/guides/links.py), whose
visits are recorded the same way, but which attribute no sale, bind no customer and earn no
commission (the rules: portal/guides/attribution.py); a sharer earns only task rewards.
- HQ (`campaigns.manage`) makes one of its own people a sharer of a kind (`add_sharer`) and stops
  one (`stop_sharer`). Someone who had a guide code at HQ keeps it, as a sharer's: their bound
  customers are let go (a sharer binds no one); what they sold as a guide stays theirs.
- A sharer's figures, per month (the portal's time zone): per share (what a link opens, its
  target and reference) and in all, the views (visits of their links), the people (a signed-in
  consumer, or one browser before signing in), and the orders and revenue that followed (the
  orders whose campaign channel names them as the sharer, paid and not refunded; revenue is the
  goods less coupons, as the guides' sales); per item, the products those orders bought.

**The order's campaign channel** (`order_channel`, the last checkout_after_place step: the seat
of a group buy and the coupons are written by then) writes at most one `CampaignOrder` per
placed order, the first channel that applies:
1. GROUP_BUY: the order took a seat in a group (the group buy's campaign);
2. RED_PACKET: a coupon the order used was claimed from a red packet (the plan's campaign);
3. LIVE: the newest guide or sharer link opened within the brand's attribution window (by the
   consumer, or by the browser before signing in, as the Link rule reads them) opens a live event
   (the event's campaign);
4. SHARER: that newest link is a sharer's (the campaign of what it opens, when it is a group buy
   or a red packet);
5. GUIDE: that newest link is a guide's link to a group buy or a red packet (its campaign);
6. COUPON: a coupon the order used is a live event item's (the newest such event's campaign);
7. SHARER again, when none of the above applies but a sharer touched the order: their code
   typed at checkout, or an older link of theirs within the window (so a sharer's figures count
   every order that followed their share, whoever's link came after).
`sharer_id` names the sharer who touched the order (a typed sharer's code first, else the newest
sharer link within the window), whatever the channel, with `visit_id` their visit; with no
sharer, `visit_id` is the guide's visit that gave the channel. No row when nothing applies. The
row changes nothing of the guides' attribution or commission.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import String, and_, case, cast, distinct, func, literal, select
from sqlalchemy.orm import joinedload

from portal.campaigns import add_once
from portal.campaigns.models import (
    BuyGroup,
    CampaignOrder,
    Channel,
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
from portal.catalog.models import Product, Variant
from portal.core.access import Actor, Permission
from portal.core.db import utcnow
from portal.core.errors import NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.guides import attribution, bindings, links, qr, reports, roster
from portal.guides.models import SHARER_KINDS, Guide, GuideStatus, GuideVisit, LinkTarget
from portal.guides.reports import Period
from portal.members.coupon_models import Coupon
from portal.network.models import Membership, Organization, User
from portal.policy.consumer_terms import terms_for
from portal.storefront import catalog, hooks
from portal.storefront.hooks import CheckoutContext
from portal.storefront.models import (
    ConsumerOrder,
    ConsumerOrderLine,
    ConsumerOrderStatus,
    Tier,
)
from portal.storefront.words import say

KIND_NAMES = {kind: reports.KIND_NAMES[kind] for kind in SHARER_KINDS}
SHAREABLE = 20  # of each kind of campaign thing on a sharer's page
SEARCH_RESULTS = 10
CAMPAIGN_TARGETS = (LinkTarget.LIVE, LinkTarget.GROUP_BUY, LinkTarget.RED_PACKET)


# -- who the sharers are ------------------------------------------------------------------------


def _hq_brand_id(actor: Actor) -> int:
    """The brand whose HQ the actor is; anyone else finds no sharers here (NotFound)."""
    if not actor.is_hq or actor.org_id is None:
        raise NotFound()
    return actor.org_id


def hq_people(actor: Actor) -> list[User]:
    """The brand's HQ people (not disabled), whom HQ may make sharers."""
    actor.ensure(Permission.CAMPAIGNS_MANAGE)
    brand_id = _hq_brand_id(actor)
    return list(
        db.session.execute(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.org_id == brand_id, User.is_disabled.is_(False))
            .order_by(User.name, User.id)
        ).scalars()
    )


def list_sharers(actor: Actor) -> list[Guide]:
    """The brand's sharers, active first, by code (HQ of the brand only)."""
    actor.ensure(Permission.CAMPAIGNS_MANAGE)
    brand_id = _hq_brand_id(actor)
    return list(
        db.session.execute(
            select(Guide)
            .options(joinedload(Guide.user))
            .where(Guide.brand_id == brand_id, Guide.kind.in_(SHARER_KINDS))
            .order_by(Guide.status, Guide.code)
        ).scalars()
    )


def get_sharer(actor: Actor, sharer_id: int) -> Guide:
    """A sharer of the actor's brand, for its HQ; anyone else's, or a guide, is NotFound."""
    sharer = db.session.execute(select(Guide).where(Guide.id == sharer_id)).scalar_one_or_none()
    if sharer is None or not sharer.is_sharer:
        raise NotFound()
    if not actor.is_system and not (actor.is_hq and actor.org_id == sharer.brand_id):
        raise NotFound()
    return sharer


def my_sharer(actor: Actor) -> Guide:
    """The actor's own sharer record (active or stopped) at their brand's HQ; NotFound for
    anyone who is no sharer."""
    if actor.user_id is None:
        raise NotFound()
    brand_id = _hq_brand_id(actor)
    sharer = roster.find_guide(actor.user_id, brand_id, brand_id)
    if sharer is None or not sharer.is_sharer:
        raise NotFound()
    return sharer


def add_sharer(actor: Actor, *, user_id: int | None, kind: str | None) -> Guide:
    """Make one of HQ's people a sharer of `kind` (SHARER_KINDS), with a code like a guide's.
    A sharer already is given the new kind (and is active again if stopped); an HQ guide becomes
    a sharer with the same code, and their bound customers are let go. Raises ValidationFailed
    naming `user_id` (not an HQ person of the brand, or disabled) or `kind`; PermissionDenied
    without `campaigns.manage`; NotFound for anyone but HQ."""
    actor.ensure(Permission.CAMPAIGNS_MANAGE)
    brand_id = _hq_brand_id(actor)
    errors: dict[str, str] = {}
    if kind not in SHARER_KINDS:
        errors["kind"] = say(_l("Choose what kind of sharer they are."))
    person = None
    if user_id is not None:
        person = db.session.execute(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(User.id == user_id, Membership.org_id == brand_id)
        ).scalar_one_or_none()
    if person is None or person.is_disabled:
        errors["user_id"] = say(_l("Choose one of HQ's people."))
    if errors:
        raise ValidationFailed(say(_l("Some fields are not valid.")), fields=errors)
    assert person is not None and kind is not None
    sharer = roster.find_guide(person.id, brand_id, brand_id)
    if sharer is None:
        try:
            made = roster.guide_for(person.id, brand_id, brand_id, kind=kind)
        except PermissionDenied as error:  # pragma: no cover - HQ's roles are guides' roles
            raise ValidationFailed(fields={"user_id": error.message}) from error
        assert made is not None
        return made
    if not sharer.is_sharer:
        bindings.end_bindings_of(sharer)  # a sharer is nobody's guide
    sharer.kind = kind
    sharer.status = GuideStatus.ACTIVE
    db.session.flush()
    return sharer


def stop_sharer(actor: Actor, sharer: Guide) -> Guide:
    """Stop a sharer: their code and links record nothing new (a stopped sharer's code typed at
    checkout is refused, like a stopped guide's). HQ of the brand only (another brand's is
    NotFound); stopping a stopped sharer changes nothing."""
    sharer = get_sharer(actor, sharer.id)
    actor.ensure(Permission.CAMPAIGNS_MANAGE)
    if sharer.status != GuideStatus.STOPPED:
        sharer.status = GuideStatus.STOPPED
        db.session.flush()
    return sharer


# -- what a sharer shares -----------------------------------------------------------------------


@dataclass(frozen=True)
class SharerLink:
    """One link a sharer shares: what it opens, the address and its QR code (a data: URI)."""

    target: str
    ref: str
    title: str
    url: str
    qr: str
    price_cents: int | None = None
    currency: str = "CNY"


def _link(
    sharer: Guide, brand: Organization, target: str, ref: str, title: str, **about: Any
) -> SharerLink:
    url = links.share_url(brand.code, links.make_token(sharer, target, ref))
    picture = base64.b64encode(qr.qr_png(url, scale=5)).decode("ascii")
    return SharerLink(target, ref, title, url, f"data:image/png;base64,{picture}", **about)


def _fits(ref: str) -> bool:
    return bool(ref) and len(ref) <= links.MAX_REF


def sharer_links(sharer: Guide, brand: Organization) -> list[SharerLink]:
    """The sharer's links: the brand's shop, and what the brand runs now that it has turned on:
    live events published and not over, group buys live and not over, and the red packets the
    sharer sent that still have coupons to claim."""
    if not sharer.is_active:
        return []
    found = [_link(sharer, brand, LinkTarget.HOME, "", say(_l("The brand's shop")))]
    switches = terms_for(brand.id).campaigns
    now = utcnow()
    if switches.live_events:
        for code, name in db.session.execute(
            select(LiveEvent.code, LiveEvent.name)
            .where(
                LiveEvent.brand_id == brand.id,
                LiveEvent.status == EventStatus.PUBLISHED,
                LiveEvent.ends_at > now,
            )
            .order_by(LiveEvent.starts_at)
            .limit(SHAREABLE)
        ).all():
            if _fits(code):
                found.append(_link(sharer, brand, LinkTarget.LIVE, code, name))
    if switches.group_buys:
        for code, name, price in db.session.execute(
            select(GroupBuy.code, GroupBuy.name, GroupBuy.price_cents)
            .where(
                GroupBuy.brand_id == brand.id,
                GroupBuy.status == GroupBuyStatus.LIVE,
                GroupBuy.ends_at > now,
            )
            .order_by(GroupBuy.starts_at)
            .limit(SHAREABLE)
        ).all():
            if _fits(code):
                found.append(
                    _link(
                        sharer,
                        brand,
                        LinkTarget.GROUP_BUY,
                        code,
                        name,
                        price_cents=price,
                        currency=brand.currency,
                    )
                )
    if switches.red_packets:
        for code, name in db.session.execute(
            select(RedPacket.code, RedPacketPlan.name)
            .join(RedPacketPlan, RedPacketPlan.id == RedPacket.plan_id)
            .where(RedPacket.guide_id == sharer.id, RedPacket.claimed < RedPacket.coupons)
            .order_by(RedPacket.sent_at.desc())
            .limit(SHAREABLE)
        ).all():
            if _fits(code):
                found.append(_link(sharer, brand, LinkTarget.RED_PACKET, code, name))
    return found


def product_links(sharer: Guide, brand: Organization, q: str) -> list[SharerLink]:
    """The sharer's links to the official shop's products matching `q` (code or name)."""
    if not sharer.is_active or not q:
        return []
    listed = catalog.list_products(
        brand.id, Tier.OFFICIAL.value, catalog.Filters(q=q), per_page=SEARCH_RESULTS
    )
    return [
        _link(
            sharer,
            brand,
            LinkTarget.PRODUCT,
            item.code,
            item.name,
            price_cents=item.min_cents,
            currency=item.currency,
        )
        for item in listed.items
        if _fits(item.code)
    ]


# -- a sharer's figures -------------------------------------------------------------------------


@dataclass
class Figures:
    views: int = 0
    people: int = 0
    orders: int = 0
    revenue_cents: int = 0

    def add(self, other: Figures) -> None:
        self.views += other.views
        self.people += other.people
        self.orders += other.orders
        self.revenue_cents += other.revenue_cents


@dataclass
class ShareLine(Figures):
    """One share: what the link opens (`target` "" for orders of the sharer's code typed at
    checkout, which no link opened)."""

    target: str = ""
    ref: str = ""


@dataclass
class ItemLine:
    code: str
    name: str
    orders: int = 0
    units: int = 0
    revenue_cents: int = 0


@dataclass
class SharerReport:
    period: Period
    total: Figures
    shares: list[ShareLine]
    items: list[ItemLine]


def _person() -> Any:
    """Who opened a link, as one value: the consumer when signed in, else the browser."""
    return case(
        (
            GuideVisit.consumer_id.is_not(None),
            literal("c", String) + cast(GuideVisit.consumer_id, String),
        ),
        else_=literal("v", String) + GuideVisit.visitor,
    )


def _in(column: Any, span: Period) -> Any:
    return and_(column >= span.start, column < span.end)


def _counted() -> Any:
    """The order counts: paid, and not refunded whole."""
    return and_(
        ConsumerOrder.paid_at.is_not(None), ConsumerOrder.status != ConsumerOrderStatus.REFUNDED
    )


def _revenue() -> Any:
    return func.sum(ConsumerOrder.goods_cents - ConsumerOrder.discount_cents)


def sharer_report(sharer: Guide, span: Period) -> SharerReport:
    """The sharer's month: per share, in all, and per item bought (four queries)."""
    shares: dict[tuple[str, str], ShareLine] = {}
    for target, ref, views, people in db.session.execute(
        select(
            GuideVisit.target,
            GuideVisit.ref,
            func.count(GuideVisit.id),
            func.count(distinct(_person())),
        )
        .where(GuideVisit.guide_id == sharer.id, _in(GuideVisit.opened_at, span))
        .group_by(GuideVisit.target, GuideVisit.ref)
    ).all():
        shares[(target, ref)] = ShareLine(int(views), int(people), target=target, ref=ref)
    for target, ref, orders, revenue in db.session.execute(
        select(
            GuideVisit.target,
            GuideVisit.ref,
            func.count(CampaignOrder.id),
            _revenue(),
        )
        .select_from(CampaignOrder)
        .join(ConsumerOrder, ConsumerOrder.id == CampaignOrder.consumer_order_id)
        .outerjoin(GuideVisit, GuideVisit.id == CampaignOrder.visit_id)
        .where(
            CampaignOrder.sharer_id == sharer.id,
            _in(CampaignOrder.created_at, span),
            _counted(),
        )
        .group_by(GuideVisit.target, GuideVisit.ref)
    ).all():
        key = (target or "", ref or "")
        line = shares.setdefault(key, ShareLine(target=key[0], ref=key[1]))
        line.orders, line.revenue_cents = int(orders or 0), int(revenue or 0)
    total = Figures()
    for line in shares.values():
        total.add(line)
    # People may open several shares: the month's people are counted once.
    total.people = int(
        db.session.execute(
            select(func.count(distinct(_person()))).where(
                GuideVisit.guide_id == sharer.id, _in(GuideVisit.opened_at, span)
            )
        ).scalar_one()
        or 0
    )
    return SharerReport(
        period=span,
        total=total,
        shares=sorted(shares.values(), key=lambda s: (-s.revenue_cents, -s.views, s.target, s.ref)),
        items=_items(sharer, span),
    )


def _items(sharer: Guide, span: Period) -> list[ItemLine]:
    rows = db.session.execute(
        select(
            Product.code,
            Product.name,
            func.count(distinct(ConsumerOrder.id)),
            func.sum(ConsumerOrderLine.qty),
            func.sum(ConsumerOrderLine.line_cents - ConsumerOrderLine.discount_cents),
        )
        .select_from(CampaignOrder)
        .join(ConsumerOrder, ConsumerOrder.id == CampaignOrder.consumer_order_id)
        .join(ConsumerOrderLine, ConsumerOrderLine.order_id == ConsumerOrder.id)
        .join(Variant, Variant.id == ConsumerOrderLine.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .where(
            CampaignOrder.sharer_id == sharer.id,
            _in(CampaignOrder.created_at, span),
            _counted(),
        )
        .group_by(Product.id, Product.code, Product.name)
    ).all()
    items = [
        ItemLine(code, name, int(orders or 0), int(units or 0), int(revenue or 0))
        for code, name, orders, units, revenue in rows
    ]
    return sorted(items, key=lambda i: (-i.revenue_cents, i.code))


def sharer_totals(brand_id: int, span: Period) -> dict[int, Figures]:
    """Every sharer of the brand's month in all, by sharer id (two queries)."""
    totals: dict[int, Figures] = {}
    for sharer_id, views, people in db.session.execute(
        select(GuideVisit.guide_id, func.count(GuideVisit.id), func.count(distinct(_person())))
        .join(Guide, Guide.id == GuideVisit.guide_id)
        .where(
            GuideVisit.brand_id == brand_id,
            Guide.kind.in_(SHARER_KINDS),
            _in(GuideVisit.opened_at, span),
        )
        .group_by(GuideVisit.guide_id)
    ).all():
        totals[sharer_id] = Figures(int(views), int(people))
    for sharer_id, orders, revenue in db.session.execute(
        select(CampaignOrder.sharer_id, func.count(CampaignOrder.id), _revenue())
        .join(ConsumerOrder, ConsumerOrder.id == CampaignOrder.consumer_order_id)
        .where(
            CampaignOrder.brand_id == brand_id,
            CampaignOrder.sharer_id.is_not(None),
            _in(CampaignOrder.created_at, span),
            _counted(),
        )
        .group_by(CampaignOrder.sharer_id)
    ).all():
        line = totals.setdefault(sharer_id, Figures())
        line.orders, line.revenue_cents = int(orders or 0), int(revenue or 0)
    return totals


# -- the order's campaign channel ---------------------------------------------------------------


def _campaign_of(brand_id: int, target: str, ref: str) -> int | None:
    """The campaign of what a link opens, when it is a campaign's thing (one query, or none)."""
    if target == LinkTarget.LIVE:
        stmt = select(LiveEvent.campaign_id).where(
            LiveEvent.brand_id == brand_id, LiveEvent.code == ref
        )
    elif target == LinkTarget.GROUP_BUY:
        stmt = select(GroupBuy.campaign_id).where(
            GroupBuy.brand_id == brand_id, GroupBuy.code == ref
        )
    elif target == LinkTarget.RED_PACKET:
        stmt = (
            select(RedPacketPlan.campaign_id)
            .join(RedPacket, RedPacket.plan_id == RedPacketPlan.id)
            .where(RedPacket.brand_id == brand_id, RedPacket.code == ref)
        )
    else:
        return None
    return db.session.execute(stmt.limit(1)).scalar()


def _seat_campaign(order_id: int) -> tuple[bool, int | None]:
    row = db.session.execute(
        select(GroupBuy.campaign_id)
        .select_from(GroupSeat)
        .join(BuyGroup, BuyGroup.id == GroupSeat.group_id)
        .join(GroupBuy, GroupBuy.id == BuyGroup.group_buy_id)
        .where(GroupSeat.order_id == order_id)
        .limit(1)
    ).first()
    return (row is not None, row[0] if row is not None else None)


def _packet_campaign(order_id: int) -> tuple[bool, int | None]:
    row = db.session.execute(
        select(RedPacketPlan.campaign_id)
        .select_from(Coupon)
        .join(RedPacketClaim, RedPacketClaim.coupon_id == Coupon.id)
        .join(RedPacket, RedPacket.id == RedPacketClaim.packet_id)
        .join(RedPacketPlan, RedPacketPlan.id == RedPacket.plan_id)
        .where(Coupon.order_id == order_id)
        .order_by(Coupon.id)
        .limit(1)
    ).first()
    return (row is not None, row[0] if row is not None else None)


def _event_coupon_campaign(order_id: int, brand_id: int) -> tuple[bool, int | None]:
    row = db.session.execute(
        select(LiveEvent.campaign_id)
        .select_from(Coupon)
        .join(LiveEventItem, LiveEventItem.coupon_template_id == Coupon.template_id)
        .join(LiveEvent, LiveEvent.id == LiveEventItem.event_id)
        .where(Coupon.order_id == order_id, LiveEvent.brand_id == brand_id)
        .order_by(LiveEvent.starts_at.desc(), LiveEvent.id.desc())
        .limit(1)
    ).first()
    return (row is not None, row[0] if row is not None else None)


def _sharer_touch(
    context: CheckoutContext, sharer_visit: GuideVisit | None
) -> tuple[Guide | None, GuideVisit | None]:
    """The sharer who touched the order and their visit: a sharer's code typed at checkout
    (with their visit, when the newest sharer visit is theirs), else the newest sharer visit."""
    typed = context.guide
    if isinstance(typed, Guide) and typed.is_sharer:
        theirs = sharer_visit is not None and sharer_visit.guide_id == typed.id
        return typed, sharer_visit if theirs else None
    if sharer_visit is not None:
        return sharer_visit.guide, sharer_visit
    return None, None


def _channel(
    brand_id: int, order: ConsumerOrder, coupons_used: bool, newest: GuideVisit | None
) -> tuple[str | None, int | None, GuideVisit | None]:
    """Channels 1-6 of the module docstring: (channel, campaign id, the visit that gave it)."""
    seated, campaign_id = _seat_campaign(order.id)
    if seated:
        return Channel.GROUP_BUY, campaign_id, None
    if coupons_used:
        from_packet, campaign_id = _packet_campaign(order.id)
        if from_packet:
            return Channel.RED_PACKET, campaign_id, None
    if newest is not None:
        channel = None
        if newest.target == LinkTarget.LIVE:
            channel = Channel.LIVE
        elif newest.guide.is_sharer:
            channel = Channel.SHARER
        elif newest.target in CAMPAIGN_TARGETS:
            channel = Channel.GUIDE
        if channel is not None:
            return channel, _campaign_of(brand_id, newest.target, newest.ref), newest
    if coupons_used:
        from_event, campaign_id = _event_coupon_campaign(order.id, brand_id)
        if from_event:
            return Channel.COUPON, campaign_id, None
    return None, None, None


def order_channel(context: CheckoutContext, order: ConsumerOrder) -> CampaignOrder | None:
    """checkout_after_place (last): the order's campaign channel, as the module docstring says;
    None, and nothing written, when no channel applies. A few queries whatever the order's
    lines: the window, the newest visits, the seat, the coupons, the campaign of a link."""
    brand = context.brand
    window = terms_for(brand.id).guides.window_days
    consumer_id = context.consumer.id if context.consumer is not None else None

    def newest_visit(kinds: tuple[str, ...] | None) -> GuideVisit | None:
        return attribution.find_link_visit(
            brand.id, window, consumer_id=consumer_id, visitor=context.extras.visitor, kinds=kinds
        )

    newest = newest_visit(None)  # a guide's or a sharer's
    sharer_visit = newest
    if newest is not None and not newest.guide.is_sharer:
        sharer_visit = newest_visit(SHARER_KINDS)
    sharer, touch = _sharer_touch(context, sharer_visit)
    channel, campaign_id, used = _channel(brand.id, order, bool(context.extras.coupon_ids), newest)
    if channel is None and sharer is not None:
        channel = Channel.SHARER
        campaign_id = _campaign_of(brand.id, touch.target, touch.ref) if touch else None
    if channel is None:
        return None
    if sharer is not None:
        used = touch  # the visit names the sharer's share, never another's link
    row = CampaignOrder(
        brand_id=brand.id,
        consumer_order_id=order.id,
        campaign_id=campaign_id,
        channel=channel,
        sharer_id=sharer.id if sharer is not None else None,
        visit_id=used.id if used is not None else None,
        created_at=utcnow(),
    )
    db.session.add(row)
    db.session.flush()
    return row


def plug() -> None:
    """Register this module's hooks: the order's campaign channel, after every other step."""
    add_once(hooks.checkout_after_place, order_channel)
