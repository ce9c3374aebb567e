"""Who may enter the employee store (DESIGN §7): employees, partner employees, invited friends.

The door (`may_enter_employee_store`, the storefront's entry rule for the employee tier) opens
for a member of the brand's programme who holds a live `Entitlement` for the brand. Records are
made where the reason is found:

- by the consumer's mobile number (verified by its SMS sign-in), the first time they come: a
  live row of the brand's HR list, or of a live partner company's list of numbers;
- by an address proven with a code sent by e-mail (employee_proofs.py): a portal user of the
  brand's HQ or of its stores, an HR-list row with that address, a partner company's domain;
- by an employee's invite code (invites.py).

A consumer's own e-mail address is never taken as proof: signing up by e-mail does not check
it. A record HQ revoked stays revoked; one revoked because its source went away (the person left
the HR list) comes back if the source does. A portal user's record holds only while the user is
still one of the brand's people: that is checked each time, as the network says nothing when
someone leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.exc import IntegrityError

from portal.core.access import OrgKind
from portal.core.db import in_ids, utcnow
from portal.extensions import db
from portal.members import membership
from portal.members.employee_models import (
    INVITING_KINDS,
    Entitlement,
    EntitlementKind,
    EntitlementSource,
    HrListEntry,
    PartnerCompany,
    PartnerPhone,
    RevokeReason,
)
from portal.members.models import Member
from portal.network.models import ChannelLink, Membership, Organization, OrgStatus, User
from portal.storefront.models import Consumer

# The order reasons are shown in: the strongest first.
KIND_ORDER = {EntitlementKind.EMPLOYEE: 0, EntitlementKind.PARTNER: 1, EntitlementKind.FRIEND: 2}


def may_enter_employee_store(brand: Organization, consumer: Consumer | None) -> bool:
    """The employee store's door: a member of the brand's programme with a live entitlement."""
    return bool(entitlements_of(brand, consumer))


@dataclass(frozen=True)
class EntryStatus:
    """What a consumer may do in a brand's employee store, and why."""

    member: Member | None
    entitlements: list[Entitlement]  # live, strongest first

    @property
    def may_enter(self) -> bool:
        return bool(self.entitlements)

    @property
    def may_invite(self) -> bool:
        return any(e.kind in INVITING_KINDS for e in self.entitlements)


def entry_status(brand: Organization, consumer: Consumer | None) -> EntryStatus:
    member = brand_member(brand, consumer)
    return EntryStatus(member, _entitlements(brand, member, consumer))


def brand_member(brand: Organization, consumer: Consumer | None) -> Member | None:
    """The consumer's member when they are one in the brand's programme."""
    return membership.member_in(brand, consumer)


def entitlements_of(brand: Organization, consumer: Consumer | None) -> list[Entitlement]:
    """The consumer's live entitlements for the brand, strongest first; a reason found by their
    mobile number is recorded now if it was not yet."""
    return _entitlements(brand, brand_member(brand, consumer), consumer)


def _entitlements(
    brand: Organization, member: Member | None, consumer: Consumer | None
) -> list[Entitlement]:
    if member is None or consumer is None:
        return []
    found = live_entitlements(brand.id, member.id)
    if not any(e.kind in INVITING_KINDS for e in found):
        discovered = _discover(brand, member, consumer)
        if discovered is not None and discovered not in found:
            found.append(discovered)
    return sorted(found, key=lambda e: (KIND_ORDER[EntitlementKind(e.kind)], e.id))


def live_entitlements(brand_id: int, member_id: int) -> list[Entitlement]:
    """The member's live records for the brand that still hold (a portal user still there)."""
    rows = db.session.execute(
        select(Entitlement).where(
            Entitlement.member_id == member_id,
            Entitlement.brand_id == brand_id,
            Entitlement.revoked_at.is_(None),
        )
    ).scalars()
    return [
        row
        for row in rows
        if row.source != EntitlementSource.PORTAL_USER
        or (row.user_id is not None and user_is_brand_person(row.user_id, brand_id))
    ]


def may_invite(brand_id: int, member_id: int) -> bool:
    """Employees and partner employees invite friends; friends do not."""
    return any(e.kind in INVITING_KINDS for e in live_entitlements(brand_id, member_id))


# -- the brand's people ------------------------------------------------------------------------


def _brand_people_orgs(brand_id: int) -> Any:
    """SQL condition on Membership: an org of the brand's people (its HQ, or a store in its
    channel tree that is active)."""
    stores = (
        select(ChannelLink.buyer_org_id)
        .join(Organization, Organization.id == ChannelLink.buyer_org_id)
        .where(
            ChannelLink.brand_id == brand_id,
            Organization.kind == OrgKind.STORE,
            Organization.status == OrgStatus.ACTIVE,
        )
    )
    return or_(Membership.org_id == brand_id, Membership.org_id.in_(stores))


def find_brand_person(brand_id: int, email: str) -> User | None:
    """The portal user with this address at the brand's HQ or one of its stores, if any."""
    return db.session.execute(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(User.email == email, User.is_disabled.is_(False), _brand_people_orgs(brand_id))
        .limit(1)
    ).scalar_one_or_none()


def user_is_brand_person(user_id: int, brand_id: int) -> bool:
    return (
        db.session.execute(
            select(Membership.id)
            .join(User, User.id == Membership.user_id)
            .where(
                Membership.user_id == user_id,
                User.is_disabled.is_(False),
                _brand_people_orgs(brand_id),
            )
            .limit(1)
        ).first()
        is not None
    )


# -- recording and revoking --------------------------------------------------------------------


def grant(
    brand_id: int,
    member: Member,
    *,
    kind: str,
    source: str,
    source_key: str,
    consumer_id: int | None = None,
    **details: Any,
) -> Entitlement | None:
    """The member's live record for this source: made, or revived when it was revoked because
    the source went away and is back. None when HQ revoked it: that stands."""
    found = _find_by_key(brand_id, member.id, source_key)
    if found is None:
        row = Entitlement(
            brand_id=brand_id,
            member_id=member.id,
            consumer_id=consumer_id,
            kind=kind,
            source=source,
            source_key=source_key,
            granted_at=utcnow(),
            **details,
        )
        try:
            with db.session.begin_nested():
                db.session.add(row)
                db.session.flush()
            return row
        except IntegrityError:  # the same reason recorded by a request at the same moment
            found = _find_by_key(brand_id, member.id, source_key)
            if found is None:
                raise
    if found.revoked_at is None:
        return found
    if found.revoked_reason == RevokeReason.HQ:
        return None
    found.revoked_at = None
    found.revoked_reason = None
    found.revoked_by_user_id = None
    found.granted_at = utcnow()
    found.consumer_id = consumer_id or found.consumer_id
    for name, value in details.items():
        setattr(found, name, value)
    db.session.flush()
    return found


def _find_by_key(brand_id: int, member_id: int, source_key: str) -> Entitlement | None:
    return db.session.execute(
        select(Entitlement)
        .where(
            Entitlement.brand_id == brand_id,
            Entitlement.member_id == member_id,
            Entitlement.source_key == source_key,
        )
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def revoke(entitlement: Entitlement, reason: str, *, by_user_id: int | None = None) -> bool:
    """Revoke one record; False when it was revoked already."""
    if entitlement.revoked_at is not None:
        return False
    entitlement.revoked_at = utcnow()
    entitlement.revoked_reason = reason
    entitlement.revoked_by_user_id = by_user_id
    db.session.flush()
    return True


def revoke_where(brand_id: int, *conditions: Any, reason: str) -> int:
    """Revoke every live record of the brand matching `conditions`; returns how many."""
    result = db.session.execute(
        update(Entitlement)
        .where(Entitlement.brand_id == brand_id, Entitlement.revoked_at.is_(None), *conditions)
        .values(revoked_at=utcnow(), revoked_reason=reason)
        .execution_options(synchronize_session="fetch")
    )
    return cast(CursorResult[Any], result).rowcount or 0


def revoke_hr_entries(brand_id: int, entry_ids: list[int]) -> int:
    """Revoke the records of HR-list rows that left the list (or changed their contact)."""
    revoked = 0
    for start in range(0, len(entry_ids), 1000):
        batch = entry_ids[start : start + 1000]
        revoked += revoke_where(
            brand_id, in_ids(Entitlement.hr_entry_id, batch), reason=RevokeReason.LEFT_LIST
        )
    return revoked


# -- found by the mobile number ----------------------------------------------------------------


def _discover(brand: Organization, member: Member, consumer: Consumer) -> Entitlement | None:
    """Record the reason the consumer's own (SMS-verified) number gives, if any: the HR list
    first, then a partner company's list."""
    phone = consumer.phone
    if not phone:
        return None
    entry = db.session.execute(
        select(HrListEntry)
        .where(
            HrListEntry.brand_id == brand.id,
            HrListEntry.phone == phone,
            HrListEntry.removed_at.is_(None),
        )
        .order_by(HrListEntry.id)
        .limit(1)
    ).scalar_one_or_none()
    if entry is not None:
        granted = grant(
            brand.id,
            member,
            kind=EntitlementKind.EMPLOYEE,
            source=EntitlementSource.HR_LIST,
            source_key=f"hr:{entry.id}",
            consumer_id=consumer.id,
            hr_entry_id=entry.id,
            phone=phone,
        )
        if granted is not None:
            return granted
    partner_id = db.session.execute(
        select(PartnerPhone.partner_id)
        .join(PartnerCompany, PartnerCompany.id == PartnerPhone.partner_id)
        .where(
            PartnerPhone.brand_id == brand.id,
            PartnerPhone.phone == phone,
            PartnerCompany.ended_at.is_(None),
        )
        .order_by(PartnerPhone.partner_id)
        .limit(1)
    ).scalar_one_or_none()
    if partner_id is None:
        return None
    return grant(
        brand.id,
        member,
        kind=EntitlementKind.PARTNER,
        source=EntitlementSource.PARTNER_LIST,
        source_key=f"partner:{partner_id}:phone",
        consumer_id=consumer.id,
        partner_id=partner_id,
        phone=phone,
    )
