"""What the guides' pages show: a guide's month, customers and leaderboard, a store's guides,
and HQ's report of sales, attribution rules and commission. Reads only; each table is one
set-based query scoped to the guide, the store or the brand the caller was allowed to see.

A sale counts in the month it was placed (the attribution's `created_at`, months in the portal's
time zone) once it is paid: a consumer order with `paid_at`, or any till sale. Its amount is
what the consumer paid for the goods (goods less coupons; a till sale's amount), before any later
refund: what comes back shows as a commission reversal. Commission figures come from the ledger:
an entry is pending while `matures_at` is ahead, available after; "due" is what has matured and
is not yet in an approved or paid statement; "paid" is the period's paid statements.

Sharers (`Guide.is_sharer`) sell nothing: leaderboards and the store's list of guides leave them
out, and HQ's report shows them apart, with only what their ledger holds (task rewards).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, case, exists, func, or_, select

from portal.core.access import OrgKind
from portal.core.db import in_ids, utcnow
from portal.extensions import db
from portal.guides.models import (
    Attribution,
    AttributionRule,
    CommissionEntry,
    CommissionSettled,
    CommissionStatement,
    Guide,
    GuideBinding,
    GuideKind,
    GuideStatus,
    StatementParty,
    StatementStatus,
)
from portal.guides.settlement import PERIOD, period_bounds, portal_zone
from portal.members.coupon_models import CouponTemplate, Distribution, TemplateStatus
from portal.members.ledger_models import PosSale
from portal.members.member_queries import mask_phone
from portal.members.sale_models import PrivateSale, SaleStatus
from portal.network.models import ChannelLink, Organization, OrgStatus, User
from portal.storefront.models import Consumer, ConsumerOrder

LEADERBOARD_SIZE = 50
RULES = tuple(AttributionRule)
KIND_NAMES = {
    GuideKind.GUIDE: _l("Guide"),
    GuideKind.COMMUNITY_OPERATOR: _l("Community operator"),
    GuideKind.STYLIST: _l("Stylist"),
    GuideKind.CUSTOMER_SERVICE: _l("Customer service"),
}


# -- periods -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    label: str  # "2026-11"
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive

    @property
    def previous(self) -> str:
        year, month = int(self.label[:4]), int(self.label[5:])
        return f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"

    @property
    def next(self) -> str:
        year, month = int(self.label[:4]), int(self.label[5:])
        return f"{year + 1}-01" if month == 12 else f"{year}-{month + 1:02d}"


def current_period_label(now: datetime | None = None) -> str:
    local = (now or utcnow()).astimezone(portal_zone())
    return f"{local.year}-{local.month:02d}"


def period(label: str | None = None) -> Period:
    """The month `label` ("2026-11") in the portal's time zone; this month when absent or not a
    month."""
    text = (label or "").strip()
    if not PERIOD.match(text):
        text = current_period_label()
    return Period(text, *period_bounds(text))


# -- shared expressions --------------------------------------------------------------------------


def _amount() -> Any:
    """A sale's amount: the order's goods less coupons, or the till's amount."""
    return case(
        (
            Attribution.consumer_order_id.is_not(None),
            ConsumerOrder.goods_cents - ConsumerOrder.discount_cents,
        ),
        else_=func.coalesce(PosSale.amount_cents, 0),
    )


def _sales(*columns: Any) -> Select[Any]:
    """Attributions with their order or till sale joined, counted ones only (paid orders)."""
    return (
        select(*columns)
        .select_from(Attribution)
        .outerjoin(ConsumerOrder, ConsumerOrder.id == Attribution.consumer_order_id)
        .outerjoin(PosSale, PosSale.id == Attribution.pos_sale_id)
        .where(or_(Attribution.pos_sale_id.is_not(None), ConsumerOrder.paid_at.is_not(None)))
    )


def _in(column: Any, span: Period) -> Any:
    return and_(column >= span.start, column < span.end)


def short_name(name: str | None) -> str:
    """ "Shan Xu" -> "Shan X."; "张小明" -> "张**": a colleague is recognised, not exposed."""
    text = re.sub(r"\(.*?\)", "", name or "").strip()
    parts = text.split()
    if len(parts) > 1:
        return f"{parts[0]} {parts[1][0]}."
    if len(text) > 1 and not text.isascii():
        return text[0] + "*" * min(len(text) - 1, 2)
    return text


def mask_name(name: str | None) -> str:
    """A customer's name as a guide sees it: the first letter and stars ("H*********")."""
    text = (name or "").strip()
    if len(text) <= 1:
        return text
    return text[0] + "*" * min(len(text) - 1, 8)


# -- a guide's own pages -------------------------------------------------------------------------


@dataclass
class RuleLine:
    rule: str
    orders: int = 0
    amount_cents: int = 0
    commission_cents: int = 0


@dataclass
class SaleLine:
    created_at: datetime
    reference: str  # the order's number, or "POS <till reference>"
    rule: str
    amount_cents: int
    commission_cents: int
    earns: bool


@dataclass
class GuideMonth:
    period: Period
    sales: list[SaleLine]
    rules: list[RuleLine]
    orders: int
    amount_cents: int
    earned_cents: int  # ledger entries written this month (earnings, bonuses, reversals)
    pending_cents: int  # of the guide's whole ledger: not yet matured
    available_cents: int  # matured and not yet in an approved or paid statement
    paid_cents: int  # paid statements of this month


def _by_rule(rows: Iterable[Any]) -> list[RuleLine]:
    lines = {rule: RuleLine(str(rule)) for rule in RULES}
    for rule, orders, amount, commission in rows:
        line = lines.setdefault(rule, RuleLine(rule))
        line.orders, line.amount_cents = int(orders or 0), int(amount or 0)
        line.commission_cents = int(commission or 0)
    return list(lines.values())


def _settled_done() -> Any:
    """The entry is in an approved or paid statement."""
    return exists(
        select(1)
        .select_from(CommissionSettled)
        .join(CommissionStatement, CommissionStatement.id == CommissionSettled.statement_id)
        .where(
            CommissionSettled.entry_id == CommissionEntry.id,
            CommissionStatement.status.in_((StatementStatus.APPROVED, StatementStatus.PAID)),
        )
    )


def _ledger_figures(where: Any, span: Period, group: Any = None) -> Select[Any]:
    now = utcnow()
    columns = [
        func.sum(
            case((_in(CommissionEntry.created_at, span), CommissionEntry.amount_cents), else_=0)
        ),
        func.sum(case((CommissionEntry.matures_at > now, CommissionEntry.amount_cents), else_=0)),
        func.sum(
            case(
                (
                    and_(CommissionEntry.matures_at <= now, ~_settled_done()),
                    CommissionEntry.amount_cents,
                ),
                else_=0,
            )
        ),
    ]
    stmt = select(*([group] if group is not None else []), *columns).where(where)
    return stmt.group_by(group) if group is not None else stmt


def _paid(where: Any, span: Period, group: Any = None) -> Select[Any]:
    stmt = select(
        *([group] if group is not None else []),
        func.sum(CommissionStatement.amount_cents),
    ).where(
        where,
        CommissionStatement.party == StatementParty.GUIDE,
        CommissionStatement.period == span.label,
        CommissionStatement.status == StatementStatus.PAID,
    )
    return stmt.group_by(group) if group is not None else stmt


def guide_month(guide: Guide, span: Period) -> GuideMonth:
    """A guide's month: each sale attributed to them, the sums by rule, and their commission."""
    rows = db.session.execute(
        _sales(
            Attribution.created_at,
            ConsumerOrder.number,
            PosSale.reference,
            Attribution.rule,
            _amount(),
            Attribution.commission_cents,
            Attribution.earns,
        )
        .where(Attribution.guide_id == guide.id, _in(Attribution.created_at, span))
        .order_by(Attribution.created_at.desc(), Attribution.id.desc())
    ).all()
    sales = [
        SaleLine(
            created_at=created,
            reference=number or f"POS {till}",
            rule=rule,
            amount_cents=int(amount or 0),
            commission_cents=int(commission or 0) if earns else 0,
            earns=bool(earns),
        )
        for created, number, till, rule, amount, commission, earns in rows
    ]
    totals: dict[str, list[int]] = {}
    for sale in sales:
        sums = totals.setdefault(sale.rule, [0, 0, 0])
        sums[0] += 1
        sums[1] += sale.amount_cents
        sums[2] += sale.commission_cents
    earned, pending, available = db.session.execute(
        _ledger_figures(CommissionEntry.guide_id == guide.id, span)
    ).one()
    paid = db.session.execute(_paid(CommissionStatement.guide_id == guide.id, span)).scalar()
    return GuideMonth(
        period=span,
        sales=sales,
        rules=_by_rule((rule, *sums) for rule, sums in totals.items()),
        orders=len(sales),
        amount_cents=sum(s.amount_cents for s in sales),
        earned_cents=int(earned or 0),
        pending_cents=int(pending or 0),
        available_cents=int(available or 0),
        paid_cents=int(paid or 0),
    )


@dataclass
class Customer:
    name: str  # masked
    phone: str  # masked
    bound: bool  # bound to this guide now
    bound_until: datetime | None
    last_order_at: datetime | None
    orders: int
    amount_cents: int


def customers(guide: Guide, *, limit: int = 200) -> list[Customer]:
    """The consumers bound to the guide now and those whose paid orders counted for them, most
    recent buyers first; names and phones masked."""
    now = utcnow()
    bound = {
        consumer_id: expires
        for consumer_id, expires in db.session.execute(
            select(GuideBinding.consumer_id, GuideBinding.expires_at).where(
                GuideBinding.guide_id == guide.id,
                GuideBinding.ended_at.is_(None),
                or_(GuideBinding.expires_at.is_(None), GuideBinding.expires_at > now),
            )
        ).all()
    }
    bought = {
        consumer_id: (last, count, amount)
        for consumer_id, last, count, amount in db.session.execute(
            _sales(
                ConsumerOrder.consumer_id,
                func.max(Attribution.created_at),
                func.count(Attribution.id),
                func.sum(_amount()),
            )
            .where(Attribution.guide_id == guide.id, ConsumerOrder.consumer_id.is_not(None))
            .group_by(ConsumerOrder.consumer_id)
        ).all()
    }
    ids = sorted(set(bound) | set(bought))
    people = (
        {
            row.id: row
            for row in db.session.execute(
                select(Consumer.id, Consumer.name, Consumer.phone).where(
                    in_ids(Consumer.id, ids), Consumer.deleted_at.is_(None)
                )
            ).all()
        }
        if ids
        else {}
    )
    found = []
    for consumer_id in ids:
        person = people.get(consumer_id)
        if person is None:
            continue
        last, count, amount = bought.get(consumer_id, (None, 0, 0))
        found.append(
            Customer(
                name=mask_name(person.name),
                phone=mask_phone(person.phone),
                bound=consumer_id in bound,
                bound_until=bound.get(consumer_id),
                last_order_at=last,
                orders=int(count or 0),
                amount_cents=int(amount or 0),
            )
        )
    far_past = datetime(1970, 1, 1, tzinfo=UTC)
    found.sort(key=lambda c: (_aware(c.last_order_at) or far_past, c.amount_cents), reverse=True)
    return found[:limit]


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


# -- leaderboards --------------------------------------------------------------------------------


@dataclass
class BoardLine:
    rank: int
    guide_id: int
    name: str
    store: str
    amount_cents: int
    orders: int
    is_me: bool = False


def _board(where: Any, brand_id: int, span: Period, me: int | None, limit: int) -> list[BoardLine]:
    sales = (
        _sales(
            Attribution.guide_id.label("guide_id"),
            func.count(Attribution.id).label("orders"),
            func.sum(_amount()).label("amount"),
        )
        .where(Attribution.brand_id == brand_id, _in(Attribution.created_at, span))
        .group_by(Attribution.guide_id)
        .subquery()
    )
    amount = func.coalesce(sales.c.amount, 0)
    rows = db.session.execute(
        select(Guide.id, User.name, Organization.code, amount, func.coalesce(sales.c.orders, 0))
        .join(User, User.id == Guide.user_id)
        .join(Organization, Organization.id == Guide.org_id)
        .outerjoin(sales, sales.c.guide_id == Guide.id)
        .where(
            Guide.brand_id == brand_id,
            Guide.status == GuideStatus.ACTIVE,
            Guide.kind == GuideKind.GUIDE,  # sharers sell nothing: not on a board
            where,
        )
        .order_by(amount.desc(), Guide.code)
        .limit(limit)
    ).all()
    return [
        BoardLine(
            rank=rank,
            guide_id=guide_id,
            name=short_name(name),
            store=store,
            amount_cents=int(total or 0),
            orders=int(orders or 0),
            is_me=guide_id == me,
        )
        for rank, (guide_id, name, store, total, orders) in enumerate(rows, start=1)
    ]


def region_of(org_id: int, brand_id: int) -> str:
    """The org's region in the brand's channel tree ("" for HQ or none)."""
    return (
        db.session.execute(
            select(ChannelLink.region).where(
                ChannelLink.brand_id == brand_id, ChannelLink.buyer_org_id == org_id
            )
        ).scalar_one_or_none()
        or ""
    )


def store_board(guide: Guide, span: Period) -> list[BoardLine]:
    """The active guides of the guide's store, by this month's sales."""
    return _board(Guide.org_id == guide.org_id, guide.brand_id, span, guide.id, LEADERBOARD_SIZE)


def region_board(guide: Guide, span: Period) -> tuple[str, list[BoardLine]]:
    """The guides of every store in the guide's region (the brand's channel tree), by sales;
    no region, no board."""
    region = region_of(guide.org_id, guide.brand_id)
    if not region:
        return "", []
    same_region = exists(
        select(1).where(
            ChannelLink.brand_id == guide.brand_id,
            ChannelLink.buyer_org_id == Guide.org_id,
            ChannelLink.region == region,
        )
    )
    return region, _board(same_region, guide.brand_id, span, guide.id, LEADERBOARD_SIZE)


# -- the store owner's and HQ's tables -----------------------------------------------------------


@dataclass
class GuideRow:
    guide_id: int
    code: str
    name: str
    status: str
    store_code: str
    store_name: str
    org_id: int
    kind: str = GuideKind.GUIDE
    orders: int = 0
    amount_cents: int = 0
    commission_cents: int = 0  # what this month's sales carry (attribution)
    earned_cents: int = 0  # ledger entries this month
    pending_cents: int = 0
    due_cents: int = 0
    paid_cents: int = 0


def guide_rows(brand_id: int, span: Period, *, org_id: int | None = None) -> list[GuideRow]:
    """Every guide of the brand (or of one store of it), sharers left out, with this period's
    sales and the commission ledger's figures: four queries whatever the number of guides."""
    return [row for row in _rows(brand_id, span, org_id=org_id) if row.kind == GuideKind.GUIDE]


def _rows(brand_id: int, span: Period, *, org_id: int | None = None) -> list[GuideRow]:
    """Every guide and sharer of the brand (or of one store of it), as `guide_rows`."""
    where = Guide.brand_id == brand_id
    if org_id is not None:
        where = and_(where, Guide.org_id == org_id)
    people = db.session.execute(
        select(
            Guide.id,
            Guide.code,
            User.name,
            Guide.status,
            Organization.code,
            Organization.name,
            Guide.org_id,
            Guide.kind,
        )
        .join(User, User.id == Guide.user_id)
        .join(Organization, Organization.id == Guide.org_id)
        .where(where)
        .order_by(Organization.code, Guide.code)
    ).all()
    rows = {person[0]: GuideRow(*person) for person in people}
    if not rows:
        return []
    sales_where = and_(Attribution.brand_id == brand_id, _in(Attribution.created_at, span))
    if org_id is not None:
        sales_where = and_(sales_where, Attribution.guide_org_id == org_id)
    for guide_id, orders, amount, commission in db.session.execute(
        _sales(
            Attribution.guide_id,
            func.count(Attribution.id),
            func.sum(_amount()),
            func.sum(case((Attribution.earns, Attribution.commission_cents), else_=0)),
        )
        .where(sales_where)
        .group_by(Attribution.guide_id)
    ).all():
        if guide_id in rows:
            row = rows[guide_id]
            row.orders, row.amount_cents = int(orders or 0), int(amount or 0)
            row.commission_cents = int(commission or 0)
    ledger_where = CommissionEntry.brand_id == brand_id
    if org_id is not None:
        ledger_where = and_(ledger_where, CommissionEntry.org_id == org_id)
    for guide_id, earned, pending, due in db.session.execute(
        _ledger_figures(ledger_where, span, CommissionEntry.guide_id)
    ).all():
        if guide_id in rows:
            row = rows[guide_id]
            row.earned_cents, row.pending_cents = int(earned or 0), int(pending or 0)
            row.due_cents = int(due or 0)
    paid_where = CommissionStatement.brand_id == brand_id
    if org_id is not None:
        paid_where = and_(paid_where, CommissionStatement.org_id == org_id)
    for guide_id, paid in db.session.execute(
        _paid(paid_where, span, CommissionStatement.guide_id)
    ).all():
        if guide_id in rows:
            rows[guide_id].paid_cents = int(paid or 0)
    return list(rows.values())


@dataclass
class StoreRow:
    org_id: int
    code: str
    name: str
    guides: int = 0
    orders: int = 0
    amount_cents: int = 0
    commission_cents: int = 0
    due_cents: int = 0
    paid_cents: int = 0


@dataclass
class HqReport:
    period: Period
    stores: list[StoreRow]
    guides: list[GuideRow]
    rules: list[RuleLine]
    sharers: list[GuideRow] = field(default_factory=list)  # apart: task rewards only
    orders: int = 0
    amount_cents: int = 0
    due_cents: int = 0
    paid_cents: int = 0
    pending_cents: int = 0


def hq_report(brand_id: int, span: Period) -> HqReport:
    """The brand's guides for a period: by store, by guide, by attribution rule, commission
    pending, due and paid. Stores are summed from the guides' rows (a store's figures are its
    guides'). Sharers are apart, in `sharers`, and in none of the sums."""
    everyone = _rows(brand_id, span)
    guides = [row for row in everyone if row.kind == GuideKind.GUIDE]
    rules = _by_rule(
        db.session.execute(
            _sales(
                Attribution.rule,
                func.count(Attribution.id),
                func.sum(_amount()),
                func.sum(case((Attribution.earns, Attribution.commission_cents), else_=0)),
            )
            .where(Attribution.brand_id == brand_id, _in(Attribution.created_at, span))
            .group_by(Attribution.rule)
        ).all()
    )
    stores: dict[str, StoreRow] = {}
    for row in guides:
        store = stores.setdefault(
            row.store_code, StoreRow(row.org_id, row.store_code, row.store_name)
        )
        store.guides += 1
        store.orders += row.orders
        store.amount_cents += row.amount_cents
        store.commission_cents += row.commission_cents
        store.due_cents += row.due_cents
        store.paid_cents += row.paid_cents
    ordered = sorted(stores.values(), key=lambda s: (-s.amount_cents, s.code))
    return HqReport(
        period=span,
        stores=ordered,
        guides=sorted(guides, key=lambda g: (-g.amount_cents, g.store_code, g.code)),
        rules=rules,
        sharers=[row for row in everyone if row.kind != GuideKind.GUIDE],
        orders=sum(r.orders for r in rules),
        amount_cents=sum(r.amount_cents for r in rules),
        due_cents=sum(g.due_cents for g in guides),
        paid_cents=sum(g.paid_cents for g in guides),
        pending_cents=sum(g.pending_cents for g in guides),
    )


# -- what a guide may share besides products ------------------------------------------------------


@dataclass(frozen=True)
class Shareable:
    code: str
    name: str


def shareable_events(brand_id: int) -> list[Shareable]:
    """The brand's private sales that are published and not over."""
    rows = db.session.execute(
        select(PrivateSale.code, PrivateSale.name)
        .where(
            PrivateSale.brand_id == brand_id,
            PrivateSale.status == SaleStatus.PUBLISHED,
            PrivateSale.ends_at > utcnow(),
        )
        .order_by(PrivateSale.starts_at)
        .limit(20)
    ).all()
    return [Shareable(code, name) for code, name in rows]


def shareable_coupons(brand_id: int) -> list[Shareable]:
    """The brand's active coupons members claim (on their page or by link), not expired."""
    rows = db.session.execute(
        select(CouponTemplate.code, CouponTemplate.name)
        .where(
            CouponTemplate.brand_id == brand_id,
            CouponTemplate.status == TemplateStatus.ACTIVE,
            CouponTemplate.distribution.in_((Distribution.CLAIM, Distribution.LINK)),
            or_(CouponTemplate.valid_until.is_(None), CouponTemplate.valid_until > utcnow()),
        )
        .order_by(CouponTemplate.code)
        .limit(20)
    ).all()
    return [Shareable(code, name) for code, name in rows]


def store_of_brand(
    brand_id: int, code: str | None, *, org_id: int | None = None
) -> Organization | None:
    """An active store of the brand's channel tree, by its code (or its id): the store whose
    own shop a link opens. None for HQ, a distributor, another brand's store."""
    where = (
        [Organization.code == (code or "").strip().upper()]
        if org_id is None
        else [Organization.id == org_id]
    )
    return db.session.execute(
        select(Organization)
        .join(ChannelLink, ChannelLink.buyer_org_id == Organization.id)
        .where(
            *where,
            ChannelLink.brand_id == brand_id,
            Organization.kind == OrgKind.STORE,
            Organization.status == OrgStatus.ACTIVE,
        )
    ).scalar_one_or_none()
