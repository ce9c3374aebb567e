"""Joining a brand's membership, and finding a consumer's member.

A brand's consumers join the programme the brand belongs to (`program_of`): its own, made the
first time it is needed, or its group's. Joining finds the person in the programme by mobile
number (else e-mail) — they may already be a member through another brand of the group, or from a
store — and links the account to them: one member, one balance, across the group's brands.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from portal.core.access import Actor, OrgKind, Permission
from portal.core.db import utcnow
from portal.core.errors import Conflict, NotFound, ValidationFailed
from portal.extensions import db
from portal.inventory.services import default_location
from portal.members.models import JoinChannel, Member, MemberStatus, Program, ProgramBrand
from portal.members.tag_models import MemberTag, Segment, Tag
from portal.network.models import Organization, OrgStatus
from portal.policy.consumer_terms import ProgramTerms, terms_for
from portal.storefront.consumer_fields import normalize_phone
from portal.storefront.consumers import find_consumer_by_phone
from portal.storefront.models import Consumer, ConsumerStatus, OnlineLocation
from portal.storefront.words import say

MAX_NAME = 120

# Told of each member made by `join` (not of a consumer linked to a member already), in its
# transaction: the guides package pays the guide who signed them up (portal/guides/plugs.py).
joined_listeners: list[Callable[[Member, Consumer], None]] = []


def program_of(brand: Organization) -> Program:
    """The programme the brand's consumers join: made (named after the brand) on first use."""
    found = find_program(brand.id)
    if found is not None:
        return found
    try:
        with db.session.begin_nested():
            program = Program(code=brand.code, name=brand.name, lead_brand_id=brand.id)
            db.session.add(program)
            db.session.flush()
            db.session.add(ProgramBrand(brand_id=brand.id, program_id=program.id))
            db.session.flush()
    except IntegrityError:  # made by a concurrent first join
        pass
    found = find_program(brand.id)
    assert found is not None
    return found


def find_program(brand_id: int) -> Program | None:
    return db.session.execute(
        select(Program)
        .join(ProgramBrand, ProgramBrand.program_id == Program.id)
        .where(ProgramBrand.brand_id == brand_id)
    ).scalar_one_or_none()


def program_brand_ids(program_id: int) -> list[int]:
    return list(
        db.session.execute(
            select(ProgramBrand.brand_id)
            .where(ProgramBrand.program_id == program_id)
            .order_by(ProgramBrand.brand_id)
        ).scalars()
    )


def terms_of(member: Member) -> ProgramTerms:
    """The terms the member's programme runs on: its lead brand's policy."""
    return terms_for(member.program.lead_brand_id)


def member_of(consumer: Consumer | None) -> Member | None:
    """The consumer's member, if they joined and neither is erased."""
    if consumer is None or consumer.member_id is None:
        return None
    if consumer.status != ConsumerStatus.ACTIVE:
        return None
    member = db.session.get(Member, consumer.member_id)
    if member is None or member.status != MemberStatus.ACTIVE:
        return None
    return member


def member_in(brand: Organization, consumer: Consumer | None) -> Member | None:
    """The consumer's member when it belongs to the programme of this brand's shop (an account
    of the brand, a live member, of the brand's programme); else None. Every page and step that
    asks "a member here?" asks this."""
    member = member_of(consumer)
    if member is None or consumer is None or consumer.brand_id != brand.id:
        return None
    program = find_program(brand.id)
    return member if program is not None and member.program_id == program.id else None


def is_member(brand: Organization, consumer: Consumer | None) -> bool:
    """The outlet's door: a member of the programme this brand belongs to."""
    return member_in(brand, consumer) is not None


def lock_member(member_id: int) -> Member:
    """The member under a row lock until the transaction ends (PostgreSQL): every spend of
    points, wallet, coupons or limits takes this lock first, so two never overdraw together."""
    return db.session.execute(
        select(Member)
        .where(Member.id == member_id)
        # FOR NO KEY UPDATE on PostgreSQL: it still queues every other spend of the member, but
        # not behind the light lock a new row pointing at the member takes (an order, a
        # coupon), which would deadlock two checkouts of one member.
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).scalar_one()


def find_member(
    program_id: int, *, phone: str | None = None, email: str | None = None
) -> Member | None:
    if phone:
        found = db.session.execute(
            select(Member).where(Member.program_id == program_id, Member.phone == phone)
        ).scalar_one_or_none()
        if found is not None:
            return found
    if email:
        return db.session.execute(
            select(Member).where(Member.program_id == program_id, Member.email == email.lower())
        ).scalar_one_or_none()
    return None


def join(
    consumer: Consumer,
    *,
    channel: str = JoinChannel.ONLINE,
    location_id: int | None = None,
    by_user_id: int | None = None,
    invited_by_member_id: int | None = None,
    invite_code_id: int | None = None,
) -> Member:
    """Make the consumer a member of their brand's programme (or link them to the member the
    programme already knows by their phone or e-mail). Joining again returns their member.
    Raises ValidationFailed when the account has neither phone nor e-mail."""
    current = member_of(consumer)
    if current is not None:
        return current
    if not consumer.phone and not consumer.email:
        raise ValidationFailed(fields={"phone": say(_l("Add a mobile number to join."))})
    program = program_of(consumer.brand)
    member = find_member(program.id, phone=consumer.phone, email=consumer.email)
    made = member is None or member.status != MemberStatus.ACTIVE
    if made:
        member = _new_member(
            program,
            consumer,
            channel=channel,
            location_id=location_id,
            by_user_id=by_user_id,
            invited_by_member_id=invited_by_member_id,
            invite_code_id=invite_code_id,
        )
    assert member is not None
    consumer.member_id = member.id
    db.session.flush()
    if made:
        for listener in joined_listeners:
            listener(member, consumer)
    return member


def _new_member(program: Program, consumer: Consumer, **how: object) -> Member:
    terms = terms_for(program.lead_brand_id)
    for _ in range(5):
        member = Member(
            number=f"M{secrets.randbelow(10**10):010d}",
            program_id=program.id,
            phone=consumer.phone,
            email=(consumer.email or None) and consumer.email.lower(),
            name=consumer.name or "",
            level=terms.levels[0].code,
            joined_at=utcnow(),
            joined_brand_id=consumer.brand_id,
            joined_channel=how["channel"],
            joined_location_id=how["location_id"],
            joined_by_user_id=how["by_user_id"],
            invited_by_member_id=how["invited_by_member_id"],
            invite_code_id=how["invite_code_id"],
        )
        try:
            with db.session.begin_nested():
                db.session.add(member)
                db.session.flush()
            return member
        except IntegrityError:
            # A concurrent join of the same person, or a member number drawn twice.
            found = find_member(program.id, phone=consumer.phone, email=consumer.email)
            if found is not None:
                return found
    raise RuntimeError("could not number a new member")


# -- joining at a store --------------------------------------------------------------------------


@dataclass(frozen=True)
class Enrolment:
    member: Member
    consumer: Consumer
    already: bool  # they were a member before: nothing changed


def enrol_at_store(actor: Actor, brand: Organization, phone: str, name: str) -> Enrolment:
    """Store staff join a walk-in customer by their mobile number and name. The brand's account
    for the number is made if there is none (they sign in later with a code sent to it); the
    store of registration is the staff's store. Joining someone who is a member already changes
    nothing. Raises ValidationFailed naming `phone` or `name`, NotFound for a brand the staff's
    org does not sell."""
    actor.ensure(Permission.MEMBERS_ENROL)
    if brand.id not in actor.paths and not actor.is_system:
        raise NotFound()
    errors: dict[str, str] = {}
    try:
        phone = normalize_phone(phone)
    except ValidationFailed as error:
        errors.update(error.fields)
    name = " ".join((name or "").split())
    if not name or len(name) > MAX_NAME:
        errors["name"] = say(_l("Enter the customer's name (up to %(max)d characters)."), max=120)
    if errors:
        raise ValidationFailed(say(_l("Some fields are not valid.")), fields=errors)
    consumer = _account(brand, phone, name)
    before = member_of(consumer)
    if before is not None:
        return Enrolment(before, consumer, True)
    location_id = None
    if actor.org_kind == OrgKind.STORE and actor.org_id is not None:
        store = db.session.execute(
            select(Organization).where(Organization.id == actor.org_id)
        ).scalar_one()
        location_id = default_location(store).id
    member = join(
        consumer, channel=JoinChannel.STORE, location_id=location_id, by_user_id=actor.user_id
    )
    return Enrolment(member, consumer, False)


def _account(brand: Organization, phone: str, name: str) -> Consumer:
    """The brand's account for this number, made (with the name) when there is none."""
    found = find_consumer_by_phone(brand, phone)
    if found is None:
        try:
            with db.session.begin_nested():
                found = Consumer(brand_id=brand.id, phone=phone, name=name)
                db.session.add(found)
                db.session.flush()
        except IntegrityError:  # made by a concurrent sign-in of the same number
            found = find_consumer_by_phone(brand, phone)
            assert found is not None
    if not found.name:
        found.name = name
    return found


def check_store(brand: Organization, location_id: int | None) -> int | None:
    """A store of registration a consumer chose: one of the brand's stores selling online (a
    pickup store), else ValidationFailed naming `location_id`."""
    if location_id is None:
        return None
    found = db.session.execute(
        select(OnlineLocation.location_id).where(
            OnlineLocation.brand_id == brand.id,
            OnlineLocation.location_id == location_id,
            OnlineLocation.is_enabled.is_(True),
            OnlineLocation.pickup.is_(True),
        )
    ).scalar_one_or_none()
    if found is None:
        raise ValidationFailed(
            fields={"location_id": say(_l("Choose one of the shop's stores, or none."))}
        )
    return location_id


# -- a group of brands sharing one programme ------------------------------------------------------


class ProgramsNotMerged(Conflict):
    code = "program_has_members"


def share_program(lead: Organization, others: list[Organization]) -> Program:
    """Put `others` in the programme of `lead` (made if it has none): its policy sets the terms,
    and a person is one member, one level and one balance across the brands. A brand already in
    the programme is left as it is. Refused (nothing changes) when one of the others has members
    of a programme of its own, or its programme holds other brands, since merging programmes is
    not supported; and when `lead` is in a group another brand leads."""
    program = program_of(lead)
    if program.lead_brand_id != lead.id:
        leader = db.session.execute(
            select(Organization.code).where(Organization.id == program.lead_brand_id)
        ).scalar_one()
        raise Conflict(
            f"{lead.code} is in the programme {program.code}, which {leader} leads: "
            f"name {leader} as the lead."
        )
    moving: list[tuple[Organization, Program | None]] = []
    for other in others:
        if other.id == lead.id:
            continue
        current = find_program(other.id)
        if current is not None and current.id == program.id:
            continue
        if current is not None:
            members = db.session.execute(
                select(func.count(Member.id)).where(Member.program_id == current.id)
            ).scalar_one()
            if members:
                raise ProgramsNotMerged(
                    f"{other.code} already has {members} members of its own programme "
                    f"{current.code}; merging programmes is not supported."
                )
            if len(program_brand_ids(current.id)) > 1:
                raise ProgramsNotMerged(
                    f"{other.code} shares the programme {current.code} with other brands; "
                    "merging programmes is not supported."
                )
        moving.append((other, current))
    for other, current in moving:
        if current is None:
            db.session.add(ProgramBrand(brand_id=other.id, program_id=program.id))
            continue
        db.session.execute(
            update(ProgramBrand)
            .where(ProgramBrand.brand_id == other.id)
            .values(program_id=program.id)
            .execution_options(synchronize_session=False)
        )
        # HQ's own tags and segments go along; a programme without members has no automatic tags.
        for model in (Tag, Segment):
            db.session.execute(
                update(model)
                .where(model.program_id == current.id, model.brand_id == other.id)
                .values(program_id=program.id)
                .execution_options(synchronize_session=False)
            )
    db.session.flush()
    db.session.expire_all()
    return program


def find_brand(code: str) -> Organization:
    """An active brand by code (the operator's commands), else NotFound naming it."""
    brand = db.session.execute(
        select(Organization).where(
            Organization.code == (code or "").strip().upper(),
            Organization.kind == OrgKind.BRAND,
            Organization.status == OrgStatus.ACTIVE,
        )
    ).scalar_one_or_none()
    if brand is None:
        raise NotFound(f"No active brand {code!r}.")
    return brand


# -- erasure (PIPL) -----------------------------------------------------------------------------


def erase_member(member: Member) -> None:
    """Erase the person from the programme: phone, e-mail and name blanked, their tags gone,
    status deleted. The row stays (orders, points and level history point to it, without the
    person). The same number joining later is a new member."""
    db.session.execute(delete(MemberTag).where(MemberTag.member_id == member.id))
    member.phone = None
    member.email = None
    member.name = ""
    member.status = MemberStatus.DELETED
    member.deleted_at = utcnow()
    db.session.flush()


def consumer_erased(consumer: Consumer) -> None:
    """The storefront erased a consumer: their member goes too, unless the person still has an
    account at another brand of the group (then the member is still theirs there)."""
    if consumer.member_id is None:
        return
    member = db.session.execute(
        select(Member).where(Member.id == consumer.member_id)
    ).scalar_one_or_none()
    if member is None or member.status != MemberStatus.ACTIVE:
        return
    others = db.session.execute(
        select(func.count(Consumer.id)).where(
            Consumer.member_id == member.id,
            Consumer.id != consumer.id,
            Consumer.status == ConsumerStatus.ACTIVE,
        )
    ).scalar_one()
    if not others:
        erase_member(member)
