"""Membership (DESIGN §7): the programme a brand's consumers join, and its members.

A programme belongs to one brand, or to a group of brands that share it (`ProgramBrand`: the
group setting): one member, one level, one points balance and one wallet across them. A member
is one person in one programme; their storefront accounts (`Consumer`, one per brand) point to it
(`Consumer.member_id`). Points, wallet, coupons and employee entitlements hang off the member.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.core.db import BigId, TimestampMixin, UTCDateTime, enum_check, make_append_only, utcnow
from portal.extensions import Model


class Program(TimestampMixin, Model):
    """A membership programme. Made for a brand the first time one of its consumers joins,
    named after it; a group shares one by `flask members share-program`."""

    __tablename__ = "member_programs"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    # The brand whose policy sets the programme's terms (levels, points): the group's lead.
    lead_brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))


class ProgramBrand(Model):
    """Which programme a brand's consumers join: at most one per brand."""

    __tablename__ = "member_program_brands"

    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("member_programs.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class JoinChannel(enum.StrEnum):
    ONLINE = "online"  # from a storefront
    STORE = "store"  # at a store, by staff with the consumer's phone
    INVITE = "invite"  # with an employee's invite code
    POS = "pos"  # a store's till reported a sale for a phone not yet a member


class MemberStatus(enum.StrEnum):
    ACTIVE = "active"
    DELETED = "deleted"  # erased on request (PIPL): ledgers and orders stay, the person not


class Member(TimestampMixin, Model):
    """One person in one programme, known by mobile number (or e-mail when they have none)."""

    __tablename__ = "members"
    __table_args__ = (
        UniqueConstraint("program_id", "phone"),
        UniqueConstraint("program_id", "email"),
        CheckConstraint(enum_check("status", tuple(MemberStatus)), name="status"),
        CheckConstraint(enum_check("joined_channel", tuple(JoinChannel)), name="joined_channel"),
        Index("ix_members_program_id_level", "program_id", "level"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)  # shown on the member card
    program_id: Mapped[int] = mapped_column(ForeignKey("member_programs.id"))
    phone: Mapped[str | None] = mapped_column(String(20))  # E.164
    email: Mapped[str | None] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(120), default="")
    status: Mapped[str] = mapped_column(String(20), default=MemberStatus.ACTIVE)
    # The level the last recount reached (levels.py), from the rolling 12 months' spend.
    level: Mapped[str] = mapped_column(String(20), default="")
    level_since: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    spend_12m_cents: Mapped[int] = mapped_column(BigInteger, default=0)  # as of that recount
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    joined_brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    joined_channel: Mapped[str] = mapped_column(String(20), default=JoinChannel.ONLINE)
    # The store of registration (joined there, or chose it): a tag, and a guide's store later.
    joined_location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))
    joined_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # store staff
    # A friend who joined through an employee's invite code stays linked to the inviter.
    invited_by_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    invite_code_id: Mapped[int | None] = mapped_column(BigInteger)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    program: Mapped[Program] = relationship()


class LevelChange(Model):
    """Every change of a member's level, never edited: the member's history and HQ's report."""

    __tablename__ = "member_level_changes"
    __table_args__ = (Index("ix_member_level_changes_member_id_id", "member_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    program_id: Mapped[int] = mapped_column(ForeignKey("member_programs.id"))
    from_level: Mapped[str] = mapped_column(String(20), default="")
    to_level: Mapped[str] = mapped_column(String(20))
    spend_12m_cents: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


make_append_only(LevelChange)
