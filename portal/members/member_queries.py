"""What HQ's member pages read: the brand's HQ only (anyone else: 404), the members of the
programme the brand belongs to (in a group, the group's members: one member across its brands),
found by phone, member number, name, level or tag; one member with their accounts, orders of the
brand and level history; the programme and its brands.

Phones are shown whole to those who manage members (`MEMBERS_MANAGE`: HQ sees the brand's
consumers) and masked to the others (`+86138****8000`)."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select

from portal.core.access import Actor, OrgKind, Permission
from portal.core.errors import NotFound, ValidationFailed
from portal.core.pagination import Page, paginate
from portal.extensions import db
from portal.inventory.models import Location
from portal.members.membership import find_program, program_brand_ids, terms_of
from portal.members.models import Member, MemberStatus, Program
from portal.members.tag_models import MemberTag
from portal.network.models import Organization, OrgStatus
from portal.policy.consumer_terms import Level
from portal.storefront.consumer_fields import normalize_phone
from portal.storefront.geo import haversine_km
from portal.storefront.models import Consumer, ConsumerOrder, OnlineLocation
from portal.storefront.shops import shop_brand


def hq_brand(actor: Actor, brand_code: str) -> Organization:
    """The brand whose members the page shows: only its own HQ sees it (anyone else: 404)."""
    brand = shop_brand(brand_code)
    if not (actor.is_hq and actor.org_id == brand.id):
        raise NotFound()
    return brand


def program_or_none(brand: Organization) -> Program | None:
    """The brand's programme, if anyone ever joined (a page never makes one)."""
    return find_program(brand.id)


def mask_phone(phone: str | None) -> str:
    """`+8613800138000` -> `+86138****8000`: enough to tell people apart, not to call them."""
    if not phone:
        return ""
    if len(phone) <= 8:
        return phone[:2] + "*" * (len(phone) - 2)
    return phone[:6] + "*" * (len(phone) - 10) + phone[-4:]


def shown_phone(actor: Actor, phone: str | None) -> str:
    return (phone or "") if actor.can(Permission.MEMBERS_MANAGE) else mask_phone(phone)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_members(
    program: Program,
    *,
    q: str = "",
    level: str = "",
    tag_id: int | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page:
    """The programme's active members, newest first: `q` is a mobile number (whole, or its last
    digits), a member number or part of a name; `level` a level code; `tag_id` a tag they hold."""
    stmt = select(Member).where(
        Member.program_id == program.id, Member.status == MemberStatus.ACTIVE
    )
    q = (q or "").strip()
    if q:
        found: list[Any] = [
            Member.number == q.upper(),
            func.lower(Member.name).like(_like(q.lower()), escape="\\"),
        ]
        digits = "".join(ch for ch in q if ch.isdigit())
        with suppress(ValidationFailed):  # not a whole mobile number: the other ways
            found.append(Member.phone == normalize_phone(q))
        if len(digits) >= 4 and digits == q.lstrip("+").replace(" ", ""):
            found.append(Member.phone.like(f"%{digits}"))
        stmt = stmt.where(or_(*found))
    if level:
        stmt = stmt.where(Member.level == level)
    if tag_id is not None:
        stmt = stmt.where(
            select(MemberTag.member_id)
            .where(MemberTag.member_id == Member.id, MemberTag.tag_id == tag_id)
            .exists()
        )
    return paginate(stmt.order_by(Member.id.desc()), page, per_page)


def get_member(program: Program, number: str) -> Member:
    """A member of the programme by number, else NotFound."""
    found = db.session.execute(
        select(Member).where(
            Member.program_id == program.id,
            Member.number == (number or "").strip().upper()[:20],
            Member.status == MemberStatus.ACTIVE,
        )
    ).scalar_one_or_none()
    if found is None:
        raise NotFound()
    return found


@dataclass(frozen=True)
class Account:
    brand_code: str
    brand_name: str
    consumer_id: int
    since: Any


def accounts_of(member: Member) -> list[Account]:
    """The person's storefront accounts: one per brand of the group they shop at."""
    rows = db.session.execute(
        select(Organization.code, Organization.name, Consumer.id, Consumer.created_at)
        .join(Organization, Organization.id == Consumer.brand_id)
        .where(Consumer.member_id == member.id)
        .order_by(Organization.code)
    )
    return [Account(*row) for row in rows]


def orders_of(member: Member, brand_id: int, limit: int = 20) -> list[ConsumerOrder]:
    """The member's orders in this brand's shops, newest first."""
    return list(
        db.session.execute(
            select(ConsumerOrder)
            .where(ConsumerOrder.member_id == member.id, ConsumerOrder.brand_id == brand_id)
            .order_by(ConsumerOrder.id.desc())
            .limit(limit)
        ).scalars()
    )


def store_names(location_ids: set[int]) -> dict[int, str]:
    """Location id -> its org's name (stores of registration)."""
    if not location_ids:
        return {}
    rows = db.session.execute(
        select(Location.id, Organization.name)
        .join(Organization, Organization.id == Location.org_id)
        .where(Location.id.in_(sorted(location_ids)))
    )
    return {location_id: name for location_id, name in rows}


@dataclass(frozen=True)
class GroupBrand:
    code: str
    name: str
    is_lead: bool
    joined_here: int  # members who joined through this brand
    accounts: int  # members holding an account at this brand


@dataclass(frozen=True)
class ProgramView:
    program: Program
    brands: list[GroupBrand]
    members: int
    by_level: dict[str, int]


def program_view(program: Program) -> ProgramView:
    """The programme, its brands (the lead first) and how its members spread."""
    brand_ids = program_brand_ids(program.id)
    active = (Member.program_id == program.id, Member.status == MemberStatus.ACTIVE)
    joined: dict[int, int] = dict(
        db.session.execute(
            select(Member.joined_brand_id, func.count())
            .where(*active)
            .group_by(Member.joined_brand_id)
        )
        .tuples()
        .all()
    )
    accounts: dict[int, int] = dict(
        db.session.execute(
            select(Consumer.brand_id, func.count(func.distinct(Consumer.member_id)))
            .join(Member, Member.id == Consumer.member_id)
            .where(*active)
            .group_by(Consumer.brand_id)
        )
        .tuples()
        .all()
    )
    by_level = dict(
        db.session.execute(select(Member.level, func.count()).where(*active).group_by(Member.level))
        .tuples()
        .all()
    )
    brands = [
        GroupBrand(
            org.code,
            org.name,
            org.id == program.lead_brand_id,
            int(joined.get(org.id, 0)),
            int(accounts.get(org.id, 0)),
        )
        for org in db.session.execute(
            select(Organization).where(Organization.id.in_(brand_ids))
        ).scalars()
    ]
    brands.sort(key=lambda b: (not b.is_lead, b.code))
    return ProgramView(program, brands, sum(by_level.values()), by_level)


def brands_of(actor: Actor) -> list[Organization]:
    """The active brands the actor's org sells (store staff join customers to these)."""
    if not actor.paths:
        return []
    return list(
        db.session.execute(
            select(Organization)
            .where(
                Organization.id.in_(sorted(actor.paths)),
                Organization.kind == OrgKind.BRAND,
                Organization.status == OrgStatus.ACTIVE,
            )
            .order_by(Organization.code)
        ).scalars()
    )


@dataclass(frozen=True)
class NearbyStore:
    location_id: int
    name: str
    distance_km: float


def nearby_stores(
    brand: Organization, point: tuple[float, float], limit: int = 10
) -> list[NearbyStore]:
    """The brand's pickup stores nearest a point (the consumer's address), to choose a store of
    registration from: one query for the stores' points, distances in Python (storefront/geo)."""
    rows = db.session.execute(
        select(Location.id, Organization.name, Organization.latitude, Organization.longitude)
        .join(OnlineLocation, OnlineLocation.location_id == Location.id)
        .join(Organization, Organization.id == Location.org_id)
        .where(
            OnlineLocation.brand_id == brand.id,
            OnlineLocation.is_enabled.is_(True),
            OnlineLocation.pickup.is_(True),
            Location.org_id != brand.id,
            Organization.status == OrgStatus.ACTIVE,
            Organization.latitude.isnot(None),
            Organization.longitude.isnot(None),
        )
    ).all()
    ranked = sorted(
        (
            NearbyStore(location_id, name, round(haversine_km(*point, lat, lon), 1))
            for location_id, name, lat, lon in rows
        ),
        key=lambda s: (s.distance_km, s.location_id),
    )
    return ranked[:limit]


@dataclass(frozen=True)
class Card:
    """A member's card as the shop page and the API show it."""

    member: Member
    level: Level
    next_level: Level | None
    remaining_cents: int  # spend still wanted for the next level
    level_names: dict[str, str]
    brands: list[GroupBrand]
    store: str | None  # the store of registration's name


def card(member: Member) -> Card:
    terms = terms_of(member)
    level = terms.level(member.level)
    higher = [x for x in terms.levels if x.min_spend_cents > level.min_spend_cents]
    nxt = higher[0] if higher else None
    store = None
    if member.joined_location_id is not None:
        store = store_names({member.joined_location_id}).get(member.joined_location_id)
    return Card(
        member=member,
        level=level,
        next_level=nxt,
        remaining_cents=max(0, nxt.min_spend_cents - member.spend_12m_cents) if nxt else 0,
        level_names={x.code: x.name for x in terms.levels},
        brands=program_view(member.program).brands,
        store=store,
    )
