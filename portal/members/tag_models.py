"""Tags on members and the segments built from them (DESIGN §7: "tags build segments").

A tag is one fact about a member that HQ can choose members by:

- HQ's own tags (`manual`), made by a brand's HQ and added to members by hand;
- automatic ones, computed from data by the nightly refresh (`tags.refresh_auto_tags`): the store
  of registration, how they joined, their level, the storefront and month of their first order,
  whether they bought in the last 30 / 90 / 365 days, their favourite category.

Which member holds which tag is one row of `member_tags`, so "how many members hold all of these,
any of those and none of the others" is one query over that table (segments.py). A segment keeps
its rule as rows of `member_segment_tags`, one per tag with its mode (all / any / none).

Automatic tags belong to the programme (every brand of a group sees them); HQ's own tags and the
segments belong to the brand that made them.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.core.db import BigId, TimestampMixin, UTCDateTime, enum_check, utcnow
from portal.extensions import Model
from portal.members.models import Program


class TagKind(enum.StrEnum):
    MANUAL = "manual"  # HQ's own: added to members by hand
    STORE = "store"  # the store of registration (`ref_id`: its location)
    CHANNEL = "channel"  # how they joined: online, at a store, invited, through a till sale
    LEVEL = "level"  # their level now
    FIRST_TIER = "first_tier"  # the storefront of their first paid order
    FIRST_MONTH = "first_month"  # the month (UTC, "2025-03") of their first paid order
    RECENCY = "recency"  # bought in the last N days (30, 90, 365): a member may hold several
    CATEGORY = "category"  # the category they bought most units of (`ref_id`: the category)


AUTO_KINDS: tuple[TagKind, ...] = tuple(kind for kind in TagKind if kind != TagKind.MANUAL)


class Tag(Model):
    """One tag of a programme. `key` tells tags apart within the programme: "<kind>:<value>" for
    automatic ones, "manual:<brand id>:<name>" for HQ's own (a name is unique per brand)."""

    __tablename__ = "member_tag_definitions"
    __table_args__ = (
        UniqueConstraint("program_id", "key"),
        CheckConstraint(enum_check("kind", tuple(TagKind)), name="kind"),
        Index("ix_member_tag_definitions_program_id_kind", "program_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("member_programs.id"))
    # The brand whose HQ made it (manual tags); None for automatic ones, shared by the programme.
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    kind: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(160))
    value: Mapped[str] = mapped_column(String(60), default="")  # "gold", "30", "2025-03", ...
    ref_id: Mapped[int | None] = mapped_column(BigInteger)  # a location or a category
    name: Mapped[str] = mapped_column(String(120), default="")  # HQ's name; a store's, a level's
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MemberTag(Model):
    """A member holds a tag. Automatic rows are added and removed by the nightly refresh only;
    HQ adds and removes its own tags' rows."""

    __tablename__ = "member_tags"
    __table_args__ = (Index("ix_member_tags_tag_id_member_id", "tag_id", "member_id"),)

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(
        ForeignKey("member_tag_definitions.id", ondelete="CASCADE"), primary_key=True
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    added_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class SegmentMode(enum.StrEnum):
    ALL = "all"  # the member holds every one of these
    ANY = "any"  # ... at least one of these
    NONE = "none"  # ... none of these


class Segment(TimestampMixin, Model):
    """Members chosen by their tags, counted live: a brand's HQ issues coupons to them and
    exports them."""

    __tablename__ = "member_segments"
    __table_args__ = (UniqueConstraint("brand_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("member_programs.id"))
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(80))
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    program: Mapped[Program] = relationship()


class SegmentTag(Model):
    __tablename__ = "member_segment_tags"
    __table_args__ = (
        CheckConstraint(enum_check("mode", tuple(SegmentMode)), name="mode"),
        Index("ix_member_segment_tags_tag_id", "tag_id"),
    )

    segment_id: Mapped[int] = mapped_column(
        ForeignKey("member_segments.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("member_tag_definitions.id"), primary_key=True)
    mode: Mapped[str] = mapped_column(String(10))
