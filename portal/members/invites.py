"""Invite codes (DESIGN §7 "Employee store"): an employee, or a partner employee, lets friends
into the brand's employee store.

Each code expires after `terms.invites.code_days` and lets `code_uses` friends in. An employee
may invite `quota_per_year` friends a calendar year (the portal's time zone): the friends who
joined through their codes this year, plus the uses still open on their live codes, count
against it. Making a code takes the inviter's member row lock (membership.lock_member), so two
made at once never pass the quota together; redeeming one locks the code's row, so friends
arriving at once never pass its use count.

A friend stays linked to the inviter: their member (when made by the invite) and their
entitlement both name them; the inviter sees what their friends bought (`list_friends`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError

from portal.core.db import utcnow
from portal.core.errors import DomainError, NotFound, ValidationFailed
from portal.extensions import db
from portal.members import entitlement, membership
from portal.members.employee_models import (
    Entitlement,
    EntitlementKind,
    EntitlementSource,
    InviteCode,
)
from portal.members.models import JoinChannel, Member, MemberStatus
from portal.network.models import Organization
from portal.storefront.models import Consumer, ConsumerOrder, ConsumerOrderStatus, Tier
from portal.storefront.words import say

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud or copied by hand
CODE_LENGTH = 8
SHOWN_CODES = 50
SHOWN_FRIENDS = 500
TIERS = tuple(Tier)


class NotAnEmployee(DomainError):
    """Only employees and partner employees invite."""

    code = "not_an_employee"
    status = 403


class InviteRefused(DomainError):
    """A code that lets no one in: unknown, expired, used up, withdrawn."""

    code = "invite_refused"
    status = 422


class AlreadyEntitled(DomainError):
    code = "already_entitled"
    status = 409


@dataclass(frozen=True)
class Quota:
    per_year: int
    joined_this_year: int  # friends who joined through the inviter's codes this year
    open_uses: int  # uses still open on the inviter's live codes

    @property
    def used(self) -> int:
        return self.joined_this_year + self.open_uses

    @property
    def left(self) -> int:
        return max(0, self.per_year - self.used)


def year_start(now: datetime | None = None) -> datetime:
    """The start of the current calendar year where the portal runs, in UTC."""
    zone = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    local = (now or utcnow()).astimezone(zone)
    return local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)


def quota_of(brand_id: int, member: Member) -> Quota:
    now = utcnow()
    joined = db.session.execute(
        select(func.count(Entitlement.id)).where(
            Entitlement.invited_by_member_id == member.id,
            Entitlement.brand_id == brand_id,
            Entitlement.source == EntitlementSource.INVITE,
            Entitlement.granted_at >= year_start(now),
        )
    ).scalar_one()
    open_uses = db.session.execute(
        select(func.coalesce(func.sum(InviteCode.uses_allowed - InviteCode.uses_count), 0)).where(
            InviteCode.member_id == member.id,
            InviteCode.brand_id == brand_id,
            InviteCode.revoked_at.is_(None),
            InviteCode.expires_at > now,
        )
    ).scalar_one()
    per_year = membership.terms_of(member).invites.quota_per_year
    return Quota(per_year, int(joined), int(open_uses))


def _inviter(brand: Organization, consumer: Consumer) -> Member:
    status = entitlement.entry_status(brand, consumer)
    if status.member is None or not status.may_invite:
        raise NotAnEmployee(say(_l("Only employees and partner employees can invite friends.")))
    return status.member


def make_code(brand: Organization, consumer: Consumer) -> InviteCode:
    """A new code of the consumer's (an employee's), within their quota: it lets in
    `code_uses` friends, or what is left of the quota when that is less. Raises NotAnEmployee
    (403), or ValidationFailed naming the quota when it is used up."""
    member = _inviter(brand, consumer)
    membership.lock_member(member.id)
    quota = quota_of(brand.id, member)
    if quota.left <= 0:
        raise ValidationFailed(
            say(
                _l(
                    "You have used your quota of %(quota)d friends this year: %(joined)d joined"
                    " and %(open)d places are open on your codes."
                ),
                quota=quota.per_year,
                joined=quota.joined_this_year,
                open=quota.open_uses,
            ),
            fields={"quota": say(_l("No invitations left this year."))},
        )
    terms = membership.terms_of(member).invites
    now = utcnow()
    for _ in range(5):
        code = InviteCode(
            brand_id=brand.id,
            code="".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH)),
            member_id=member.id,
            uses_allowed=min(terms.code_uses, quota.left),
            uses_count=0,
            created_at=now,
            expires_at=now + timedelta(days=terms.code_days),
        )
        try:
            with db.session.begin_nested():
                db.session.add(code)
                db.session.flush()
            return code
        except IntegrityError:  # the same code drawn twice: draw again
            continue
    raise RuntimeError("could not draw an unused invite code")


def withdraw_code(brand: Organization, consumer: Consumer, code_id: int) -> InviteCode:
    """The inviter takes back a code's open uses (they count against the quota no more)."""
    member = entitlement.brand_member(brand, consumer)
    code = None
    if member is not None:
        code = db.session.execute(
            select(InviteCode).where(
                InviteCode.id == code_id,
                InviteCode.brand_id == brand.id,
                InviteCode.member_id == member.id,
            )
        ).scalar_one_or_none()
    if code is None:
        raise NotFound()
    if code.revoked_at is None:
        code.revoked_at = utcnow()
        db.session.flush()
    return code


def normalize_code(raw: str | None) -> str:
    return "".join(ch for ch in (raw or "").upper() if ch.isalnum())[:32]


def _refused(message: object) -> InviteRefused:
    text = say(message)
    return InviteRefused(text, fields={"code": text})


def redeem(brand: Organization, consumer: Consumer, raw_code: str) -> Entitlement:
    """Join the brand's employee store as a friend with an invite code: the consumer joins the
    membership if they had not (channel "invite", linked to the inviter) and holds a friend
    entitlement. Raises InviteRefused naming the code's problem (unknown, expired, used up,
    withdrawn, its inviter no longer an employee), AlreadyEntitled when they may enter already;
    nothing is written then (the caller discards)."""
    if entitlement.entitlements_of(brand, consumer):
        raise AlreadyEntitled(say(_l("You may already enter the employee store.")))
    text = normalize_code(raw_code)
    if not text:
        raise _refused(_l("Enter the invite code you were given."))
    code = db.session.execute(
        select(InviteCode)
        .where(InviteCode.code == text, InviteCode.brand_id == brand.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if code is None:
        raise _refused(_l("This invite code is not known. Check it and try again."))
    now = utcnow()
    if code.revoked_at is not None:
        raise _refused(_l("This invite code was withdrawn by the person who gave it."))
    if code.expires_at <= now:
        raise _refused(_l("This invite code has expired. Ask for a new one."))
    if code.uses_left <= 0:
        raise _refused(_l("This invite code has been used as many times as it allows."))
    inviter = code.inviter
    if inviter.status != MemberStatus.ACTIVE or not entitlement.may_invite(brand.id, inviter.id):
        raise _refused(_l("This invite code is no longer valid."))
    member = membership.join(
        consumer,
        channel=JoinChannel.INVITE,
        invited_by_member_id=inviter.id,
        invite_code_id=code.id,
    )
    if member.id == inviter.id:
        raise _refused(_l("This is your own invite code: give it to a friend."))
    if entitlement.entitlements_of(brand, consumer):  # known to the programme as an employee
        raise AlreadyEntitled(say(_l("You may already enter the employee store.")))
    granted = entitlement.grant(
        brand.id,
        member,
        kind=EntitlementKind.FRIEND,
        source=EntitlementSource.INVITE,
        source_key=f"code:{code.id}",
        consumer_id=consumer.id,
        invite_code_id=code.id,
        invited_by_member_id=inviter.id,
    )
    if granted is None:
        raise _refused(_l("This invite code is no longer valid."))
    code.uses_count += 1
    db.session.flush()
    return granted


def invite_link(brand: Organization, code: InviteCode) -> str:
    """The address a friend opens: the join page with the code filled in."""
    # Built from the URL map, not a request: the API and jobs ask too.
    path = current_app.url_map.bind("portal").build(
        "employee_store.join", {"brand_code": brand.code, "code": code.code}
    )
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path


def list_codes(brand_id: int, member_id: int, limit: int = SHOWN_CODES) -> list[InviteCode]:
    return list(
        db.session.execute(
            select(InviteCode)
            .where(InviteCode.member_id == member_id, InviteCode.brand_id == brand_id)
            .order_by(InviteCode.id.desc())
            .limit(limit)
        ).scalars()
    )


# -- the inviter's friends ---------------------------------------------------------------------


@dataclass
class Bought:
    orders: int = 0
    total_cents: int = 0


@dataclass
class Friend:
    entitlement: Entitlement
    member: Member
    code: str
    by_tier: dict[str, Bought] = field(default_factory=dict)

    @property
    def orders(self) -> int:
        return sum(b.orders for b in self.by_tier.values())

    @property
    def total_cents(self) -> int:
        return sum(b.total_cents for b in self.by_tier.values())


def bought_condition() -> ColumnElement[bool]:
    """SQL condition on ConsumerOrder: paid, and not refunded whole."""
    return (ConsumerOrder.paid_at.is_not(None)) & (
        ConsumerOrder.status != ConsumerOrderStatus.REFUNDED
    )


def list_friends(brand_id: int, member_id: int, limit: int = SHOWN_FRIENDS) -> list[Friend]:
    """Who joined through the member's codes, newest first, with what each bought at the brand
    in every tier (paid orders not refunded whole: how many, and their total)."""
    rows = db.session.execute(
        select(Entitlement, Member, InviteCode.code)
        .join(Member, Member.id == Entitlement.member_id)
        .join(InviteCode, InviteCode.id == Entitlement.invite_code_id)
        .where(
            Entitlement.invited_by_member_id == member_id,
            Entitlement.brand_id == brand_id,
            Entitlement.source == EntitlementSource.INVITE,
        )
        .order_by(Entitlement.granted_at.desc(), Entitlement.id.desc())
        .limit(limit)
    ).all()
    friends = {member.id: Friend(ent, member, code) for ent, member, code in rows}
    if not friends:
        return []
    totals = db.session.execute(
        select(
            ConsumerOrder.member_id,
            ConsumerOrder.tier,
            func.count(ConsumerOrder.id),
            func.coalesce(func.sum(ConsumerOrder.total_cents), 0),
        )
        .where(
            ConsumerOrder.member_id.in_(list(friends)),
            ConsumerOrder.brand_id == brand_id,
            bought_condition(),
        )
        .group_by(ConsumerOrder.member_id, ConsumerOrder.tier)
    )
    for friend_id, tier, count, total in totals:
        friends[friend_id].by_tier[tier] = Bought(int(count), int(total))
    return list(friends.values())
