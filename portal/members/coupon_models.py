"""What coupons store (portal/members/coupons.py): the templates HQ writes, the coupons members
hold, and each time HQ gives a template out to a list of members or a segment.

A template says what a coupon takes off (an amount, a percentage, or an amount once a minimum is
spent), where it counts (tiers, categories or products), how long a coupon of it lasts, how many
one member and everyone together may hold, whether it combines with others, and how it is given
out. A coupon is one member's: held until an order uses it (the order is recorded), or until its
validity ends (expired is read from `valid_until`, never written).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import JSON

from portal.core.db import BigId, TimestampMixin, UTCDateTime, enum_check, utcnow
from portal.extensions import Model


class CouponKind(enum.StrEnum):
    AMOUNT = "amount"  # so much off
    PERCENT = "percent"  # a share off (capped, if HQ says)
    THRESHOLD = "threshold"  # so much off once the eligible items reach a minimum (满减)


class CouponScope(enum.StrEnum):
    ALL = "all"  # every item of the brand
    CATEGORIES = "categories"  # items of these category codes
    PRODUCTS = "products"  # items of these product codes


class CouponValidity(enum.StrEnum):
    DATES = "dates"  # from one day to another, the same for every coupon
    DAYS = "days"  # N days from the moment a member receives it


class Distribution(enum.StrEnum):
    ISSUE = "issue"  # HQ gives it to members (a segment, a list); nobody claims it
    CLAIM = "claim"  # members claim it on their coupons page (and by its link)
    LINK = "link"  # members claim it through its link only (shared by HQ, later by guides)


class TemplateStatus(enum.StrEnum):
    ACTIVE = "active"
    STOPPED = "stopped"  # no more given out; coupons already held still count


class CouponSource(enum.StrEnum):
    ISSUED = "issued"
    CLAIMED = "claimed"


class CouponStatus(enum.StrEnum):
    HELD = "held"  # the member's, unused (expired once past `valid_until`)
    USED = "used"  # an order took it (`order_id`)


class CouponTemplate(TimestampMixin, Model):
    __tablename__ = "coupon_templates"
    __table_args__ = (
        UniqueConstraint("brand_id", "code"),
        CheckConstraint(enum_check("kind", tuple(CouponKind)), name="kind"),
        CheckConstraint(enum_check("scope", tuple(CouponScope)), name="scope"),
        CheckConstraint(enum_check("validity", tuple(CouponValidity)), name="validity"),
        CheckConstraint(enum_check("distribution", tuple(Distribution)), name="distribution"),
        CheckConstraint(enum_check("status", tuple(TemplateStatus)), name="status"),
        CheckConstraint(
            "amount_cents >= 0 AND min_spend_cents >= 0 AND percent_off BETWEEN 0 AND 99",
            name="terms_not_negative",
        ),
        CheckConstraint("per_member_limit >= 1", name="per_member_limit"),
        CheckConstraint(
            "total_limit IS NULL OR given_count <= total_limit", name="given_within_total"
        ),
        Index("ix_coupon_templates_brand_id_id", "brand_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    # In the claim link: /shop/<brand>/coupons/<code>. Random, so a link is not guessed.
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(String(500), default="")
    kind: Mapped[str] = mapped_column(String(20))
    amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)  # amount and threshold
    percent_off: Mapped[int] = mapped_column(Integer, default=0)  # percent: 1..99
    cap_cents: Mapped[int | None] = mapped_column(BigInteger)  # percent: at most this off
    min_spend_cents: Mapped[int] = mapped_column(BigInteger, default=0)  # on the eligible items
    tiers: Mapped[list[str]] = mapped_column(JSON, default=list)  # storefronts it counts in
    scope: Mapped[str] = mapped_column(String(20), default=CouponScope.ALL)
    scope_codes: Mapped[list[str]] = mapped_column(JSON, default=list)  # category/product codes
    validity: Mapped[str] = mapped_column(String(20), default=CouponValidity.DATES)
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime())  # dates
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())  # dates: exclusive end
    valid_days: Mapped[int | None] = mapped_column(Integer)  # days
    per_member_limit: Mapped[int] = mapped_column(Integer, default=1)  # held (used included)
    total_limit: Mapped[int | None] = mapped_column(Integer)  # given out, to everyone
    # How many coupons of it exist: raised by a conditional UPDATE, so the total limit holds
    # however many claim at once (the row lock it takes queues them).
    given_count: Mapped[int] = mapped_column(Integer, default=0)
    is_stackable: Mapped[bool] = mapped_column(Boolean, default=True)
    distribution: Mapped[str] = mapped_column(String(20), default=Distribution.ISSUE)
    status: Mapped[str] = mapped_column(String(20), default=TemplateStatus.ACTIVE)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CouponIssue(TimestampMixin, Model):
    """One giving-out of a template by HQ: to a typed list of members (at once) or to a segment
    (by a job, in batches; `last_member_id` is how far it got, so a retry goes on from there).
    The form's one-time token makes a second submit of the same form this same issue."""

    __tablename__ = "coupon_issues"
    __table_args__ = (
        UniqueConstraint("template_id", "token"),
        CheckConstraint(
            enum_check("status", ("queued", "running", "done", "failed")), name="status"
        ),
        Index("ix_coupon_issues_template_id_id", "template_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    template_id: Mapped[int] = mapped_column(ForeignKey("coupon_templates.id"))
    token: Mapped[str] = mapped_column(String(64))
    segment_id: Mapped[int | None] = mapped_column(BigInteger)  # None: a typed list
    audience: Mapped[str] = mapped_column(String(200), default="")  # the segment's name, or so
    status: Mapped[str] = mapped_column(String(20), default="queued")
    member_count: Mapped[int] = mapped_column(Integer, default=0)  # asked for
    issued_count: Mapped[int] = mapped_column(Integer, default=0)
    # Passed over, by reason: {"already": n, "limit": n, "total": n, "not_member": n}
    skipped: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_member_id: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str] = mapped_column(String(500), default="")
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    template: Mapped[CouponTemplate] = relationship()


class Coupon(Model):
    """One member's coupon of a template. `seq` counts the member's coupons of the template
    (1, 2, ...): unique with them, so no race holds more than the per-member limit; issuing gives
    a member at most one coupon of a template (the partial unique index), claims the rest."""

    __tablename__ = "coupons"
    __table_args__ = (
        UniqueConstraint("template_id", "member_id", "seq"),
        CheckConstraint(enum_check("source", tuple(CouponSource)), name="source"),
        CheckConstraint(enum_check("status", tuple(CouponStatus)), name="status"),
        CheckConstraint("seq >= 1 AND discount_cents >= 0", name="seq_discount"),
        Index(
            "uq_coupons_template_id_member_id_issued",
            "template_id",
            "member_id",
            unique=True,
            postgresql_where=text("source = 'issued'"),
            sqlite_where=text("source = 'issued'"),
        ),
        Index("ix_coupons_member_id_status", "member_id", "status"),
        Index("ix_coupons_template_id_status", "template_id", "status"),
        Index("ix_coupons_order_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))  # the template's
    template_id: Mapped[int] = mapped_column(ForeignKey("coupon_templates.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    seq: Mapped[int] = mapped_column(Integer, default=1)
    source: Mapped[str] = mapped_column(String(20))
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("coupon_issues.id"))
    status: Mapped[str] = mapped_column(String(20), default=CouponStatus.HELD)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime())  # exclusive
    order_id: Mapped[int | None] = mapped_column(ForeignKey("consumer_orders.id"))
    discount_cents: Mapped[int] = mapped_column(BigInteger, default=0)  # what the order took
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # last given back
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    template: Mapped[CouponTemplate] = relationship()
