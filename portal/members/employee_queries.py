"""What HQ reads about its employee store: the invite funnel (codes issued -> friends joined ->
friends who bought), the HR list and its uploads, partner companies, and every entitlement with
its source. Each read takes the brand and finds nothing of another brand's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, and_, distinct, exists, func, or_, select
from sqlalchemy.orm import selectinload

from portal.core.errors import NotFound
from portal.core.pagination import Page, paginate
from portal.extensions import db
from portal.members.employee_models import (
    Entitlement,
    EntitlementSource,
    HrListEntry,
    HrListUpload,
    InviteCode,
    PartnerCompany,
    PartnerPhone,
)
from portal.members.invites import bought_condition
from portal.members.models import Member
from portal.storefront.models import ConsumerOrder

SHOWN_UPLOADS = 5
MAX_PARTNERS = 500
# What a row of the entitlement list shows beside the record: loaded with the page, not per row.
SHOWN_WITH = (
    Entitlement.member,
    Entitlement.hr_entry,
    Entitlement.partner,
    Entitlement.invite_code,
    Entitlement.inviter,
)


# -- single rows of a brand --------------------------------------------------------------------


def find_upload_for_job(upload_id: int) -> HrListUpload | None:
    """The upload a job works on (the job acts for the system)."""
    return db.session.get(HrListUpload, upload_id)


def get_upload(brand_id: int, upload_id: int) -> HrListUpload:
    return _one(
        select(HrListUpload).where(HrListUpload.id == upload_id, HrListUpload.brand_id == brand_id)
    )


def get_partner(brand_id: int, partner_id: int) -> PartnerCompany:
    return _one(
        select(PartnerCompany).where(
            PartnerCompany.id == partner_id, PartnerCompany.brand_id == brand_id
        )
    )


def get_entitlement(brand_id: int, entitlement_id: int) -> Entitlement:
    return _one(
        select(Entitlement).where(
            Entitlement.id == entitlement_id, Entitlement.brand_id == brand_id
        )
    )


def _one(stmt: Select[Any]) -> Any:
    found = db.session.execute(stmt).scalar_one_or_none()
    if found is None:
        raise NotFound()
    return found


# -- the HR list and partners ------------------------------------------------------------------


def count_hr_entries(brand_id: int) -> int:
    return db.session.execute(
        select(func.count(HrListEntry.id)).where(
            HrListEntry.brand_id == brand_id, HrListEntry.removed_at.is_(None)
        )
    ).scalar_one()


def list_uploads(brand_id: int, limit: int = SHOWN_UPLOADS) -> list[HrListUpload]:
    return list(
        db.session.execute(
            select(HrListUpload)
            .where(HrListUpload.brand_id == brand_id)
            .order_by(HrListUpload.id.desc())
            .limit(limit)
        ).scalars()
    )


@dataclass
class PartnerRow:
    partner: PartnerCompany
    phones: int
    entitled: int  # members with a live entitlement through it


def list_partners(brand_id: int) -> list[PartnerRow]:
    """The brand's partner companies, live ones first, with their list sizes."""
    phones = (
        select(func.count(PartnerPhone.id))
        .where(PartnerPhone.partner_id == PartnerCompany.id)
        .scalar_subquery()
    )
    entitled = (
        select(func.count(Entitlement.id))
        .where(Entitlement.partner_id == PartnerCompany.id, Entitlement.revoked_at.is_(None))
        .scalar_subquery()
    )
    rows = db.session.execute(
        select(PartnerCompany, phones, entitled)
        .where(PartnerCompany.brand_id == brand_id)
        .order_by(PartnerCompany.ended_at.is_not(None), PartnerCompany.name)
        .limit(MAX_PARTNERS)
    ).all()
    return [PartnerRow(p, int(n), int(e)) for p, n, e in rows]


def list_partner_phones(partner: PartnerCompany) -> list[str]:
    return list(
        db.session.execute(
            select(PartnerPhone.phone)
            .where(PartnerPhone.partner_id == partner.id, PartnerPhone.brand_id == partner.brand_id)
            .order_by(PartnerPhone.phone)
        ).scalars()
    )


# -- entitlements ------------------------------------------------------------------------------


def list_entitlements(
    brand_id: int,
    *,
    kind: str = "",
    live: bool | None = None,
    q: str = "",
    page: int = 1,
    per_page: int = 50,
) -> Page:
    """The brand's entitlements, newest first, each with its member (filter by kind, live or
    revoked, and a member's name, number, mobile or e-mail)."""
    stmt = (
        select(Entitlement)
        .join(Member, Member.id == Entitlement.member_id)
        .where(Entitlement.brand_id == brand_id)
        .order_by(Entitlement.id.desc())
        .options(*(selectinload(r) for r in SHOWN_WITH))
    )
    if kind:
        stmt = stmt.where(Entitlement.kind == kind)
    if live is True:
        stmt = stmt.where(Entitlement.revoked_at.is_(None))
    elif live is False:
        stmt = stmt.where(Entitlement.revoked_at.is_not(None))
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(
            or_(
                func.lower(Member.name).like(like),
                Member.number == q.upper(),
                Member.phone.like(f"%{q}%"),
                Member.email.like(like),
                Entitlement.email.like(like),
            )
        )
    return paginate(stmt, page, per_page)


# -- the invite funnel -------------------------------------------------------------------------


@dataclass
class FunnelRow:
    inviter: Member | None  # None: the brand's total
    codes: int = 0
    joined: int = 0
    bought: int = 0


@dataclass
class Funnel:
    total: FunnelRow
    inviters: Page
    rows: list[FunnelRow] = field(default_factory=list)


def _friend_bought() -> Any:
    """SQL condition on a friend's entitlement: the friend has a paid order of the brand."""
    return exists(
        select(ConsumerOrder.id).where(
            ConsumerOrder.member_id == Entitlement.member_id,
            ConsumerOrder.brand_id == Entitlement.brand_id,
            bought_condition(),
        )
    )


def invite_funnel(brand_id: int, *, page: int = 1, per_page: int = 20) -> Funnel:
    """Codes issued -> friends joined -> friends who bought, in all and per inviter (those who
    issued the most codes first)."""
    friends = and_(Entitlement.brand_id == brand_id, Entitlement.source == EntitlementSource.INVITE)
    total = FunnelRow(
        None,
        codes=db.session.execute(
            select(func.count(InviteCode.id)).where(InviteCode.brand_id == brand_id)
        ).scalar_one(),
        joined=db.session.execute(
            select(func.count(distinct(Entitlement.member_id))).where(friends)
        ).scalar_one(),
        bought=db.session.execute(
            select(func.count(distinct(Entitlement.member_id))).where(friends, _friend_bought())
        ).scalar_one(),
    )
    codes = func.count(InviteCode.id).label("codes")
    inviters = paginate(
        select(InviteCode.member_id)
        .where(InviteCode.brand_id == brand_id)
        .group_by(InviteCode.member_id)
        .order_by(codes.desc(), InviteCode.member_id),
        page,
        per_page,
    )
    ids = [int(i) for i in inviters.items]
    rows = {i: FunnelRow(None) for i in ids}
    if ids:
        for member in db.session.execute(select(Member).where(Member.id.in_(ids))).scalars():
            rows[member.id].inviter = member
        for member_id, count in db.session.execute(
            select(InviteCode.member_id, func.count(InviteCode.id))
            .where(InviteCode.brand_id == brand_id, InviteCode.member_id.in_(ids))
            .group_by(InviteCode.member_id)
        ):
            rows[member_id].codes = int(count)
        by_inviter = Entitlement.invited_by_member_id
        for member_id, joined in db.session.execute(
            select(by_inviter, func.count(distinct(Entitlement.member_id)))
            .where(friends, by_inviter.in_(ids))
            .group_by(by_inviter)
        ):
            rows[member_id].joined = int(joined)
        for member_id, bought in db.session.execute(
            select(by_inviter, func.count(distinct(Entitlement.member_id)))
            .where(friends, by_inviter.in_(ids), _friend_bought())
            .group_by(by_inviter)
        ):
            rows[member_id].bought = int(bought)
    return Funnel(total, inviters, [rows[i] for i in ids])
