"""Joining a brand's membership, and finding a consumer's member.

A brand's consumers join the programme the brand belongs to (`program_of`): its own, made the
first time it is needed, or its group's. Joining finds the person in the programme by mobile
number (else e-mail) — they may already be a member through another brand of the group, or from a
store — and links the account to them: one member, one balance, across the group's brands.
"""

from __future__ import annotations

import secrets

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.core.db import utcnow
from portal.core.errors import ValidationFailed
from portal.extensions import db
from portal.members.models import JoinChannel, Member, MemberStatus, Program, ProgramBrand
from portal.network.models import Organization
from portal.policy.consumer_terms import ProgramTerms, terms_for
from portal.storefront.models import Consumer, ConsumerStatus
from portal.storefront.words import say


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


def is_member(brand: Organization, consumer: Consumer | None) -> bool:
    """The outlet's door: a member of the programme this brand belongs to."""
    member = member_of(consumer)
    if member is None or consumer is None or consumer.brand_id != brand.id:
        return False
    program = find_program(brand.id)
    return program is not None and member.program_id == program.id


def lock_member(member_id: int) -> Member:
    """The member under a row lock until the transaction ends (PostgreSQL): every spend of
    points, wallet, coupons or limits takes this lock first, so two never overdraw together."""
    return db.session.execute(
        select(Member)
        .where(Member.id == member_id)
        .with_for_update()
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
    if member is None or member.status != MemberStatus.ACTIVE:
        member = _new_member(
            program,
            consumer,
            channel=channel,
            location_id=location_id,
            by_user_id=by_user_id,
            invited_by_member_id=invited_by_member_id,
            invite_code_id=invite_code_id,
        )
    consumer.member_id = member.id
    db.session.flush()
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
