from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import JSON

from portal.core.db import TimestampMixin, UTCDateTime, enum_check
from portal.extensions import Model
from portal.network.models import Organization


class VersionStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"  # published, effective_from still ahead
    ACTIVE = "active"
    EXPIRED = "expired"  # window over, or replaced by a newer version


class AudienceKind(enum.StrEnum):
    """Who a version targets; the order is specificity, least specific first."""

    ALL = "all"
    LEVEL = "level"
    REGION = "region"
    ORGS = "orgs"


SPECIFICITY = {kind: rank for rank, kind in enumerate(AudienceKind)}


class Section(enum.StrEnum):
    PRICE = "price"  # wholesale price: fixed cents or percent of MSRP
    ORDER = "order"  # MOQ and order multiple
    FLOOR = "floor"  # retail price floor: fixed cents or percent of MSRP
    EXCLUDE = "exclude"  # not authorized for this audience
    # Consumer prices of the three storefronts (DESIGN §7): fixed cents or percent of MSRP.
    OFFICIAL = "official"  # the official storefront's retail price, never below the floor
    OUTLET = "outlet"
    EMPLOYEE = "employee"


RETAIL_SECTIONS = (Section.OFFICIAL, Section.OUTLET, Section.EMPLOYEE)
# Sections whose rules carry an amount or a percentage of MSRP.
PRICED_SECTIONS = (Section.PRICE, Section.FLOOR, *RETAIL_SECTIONS)


class Scope(enum.StrEnum):
    """What a rule covers; the order is specificity inside one version, most specific first."""

    SKU = "sku"
    PRODUCT = "product"
    CATEGORY = "category"
    ALL = "all"


class Policy(TimestampMixin, Model):
    """A named channel policy of one brand; what it says lives in its versions."""

    __tablename__ = "policies"
    __table_args__ = (UniqueConstraint("brand_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))

    versions: Mapped[list[PolicyVersion]] = relationship(
        back_populates="policy", order_by="PolicyVersion.number"
    )


class PolicyVersion(TimestampMixin, Model):
    """One version of a policy: a draft is edited; publishing freezes it for good."""

    __tablename__ = "policy_versions"
    __table_args__ = (
        UniqueConstraint("policy_id", "number"),
        CheckConstraint(enum_check("status", tuple(VersionStatus)), name="status"),
        CheckConstraint(enum_check("audience_kind", tuple(AudienceKind)), name="audience_kind"),
        CheckConstraint("min_order_cents IS NULL OR min_order_cents >= 0", name="min_order"),
        CheckConstraint("credit_limit_cents IS NULL OR credit_limit_cents >= 0", name="credit"),
        CheckConstraint("payment_terms_days IS NULL OR payment_terms_days >= 0", name="terms"),
        Index("ix_policy_versions_brand_id_status", "brand_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"))
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default=VersionStatus.DRAFT)
    audience_kind: Mapped[str] = mapped_column(String(20), default=AudienceKind.ALL)
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime())
    effective_to: Mapped[datetime | None] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(Text, default="")
    # order rules that apply to the whole order
    min_order_cents: Mapped[int | None] = mapped_column(BigInteger)
    order_window_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    order_window_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # credit terms
    credit_limit_cents: Mapped[int | None] = mapped_column(BigInteger)
    payment_terms_days: Mapped[int | None] = mapped_column(Integer)
    # volume rebates (stored now; settled by the finance issue):
    # [{"threshold_cents": 100000000, "percent_bp": 200, "period": "quarter"}]
    rebates: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # The consumer programme's terms (policy/consumer_terms.py: member levels, points, invites,
    # per-person limits, tier moves), each section in force from the newest live version for
    # everyone that sets it; {} sets none.
    member_terms: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    published_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    targeted_count: Mapped[int] = mapped_column(Integer, default=0)
    fanout_job_id: Mapped[str | None] = mapped_column(String(160))

    policy: Mapped[Policy] = relationship(back_populates="versions")
    audience: Mapped[list[PolicyAudience]] = relationship(
        back_populates="version", cascade="all, delete-orphan", order_by="PolicyAudience.value"
    )
    rules: Mapped[list[PolicyRule]] = relationship(
        back_populates="version", cascade="all, delete-orphan", order_by="PolicyRule.id"
    )

    @property
    def is_draft(self) -> bool:
        return self.status == VersionStatus.DRAFT

    @property
    def label(self) -> str:
        return f"{self.policy.code} v{self.number}"


class PolicyAudience(Model):
    """One audience value of a version: a level, a region or an org id ("*" for all links)."""

    __tablename__ = "policy_audiences"
    __table_args__ = (
        UniqueConstraint("version_id", "value"),
        Index("ix_policy_audiences_brand_id_kind_value", "brand_id", "kind", "value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("policy_versions.id", ondelete="CASCADE"))
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(40))

    version: Mapped[PolicyVersion] = relationship(back_populates="audience")


class PolicyRule(Model):
    """One line of a version: a section (price, order, floor, exclude, and the retail prices
    official, outlet and employee) for a SKU, product, category or everything. Prices and floors
    are fixed cents or basis points of MSRP."""

    __tablename__ = "policy_rules"
    __table_args__ = (
        CheckConstraint(enum_check("section", tuple(Section)), name="section"),
        CheckConstraint(enum_check("scope", tuple(Scope)), name="scope"),
        CheckConstraint("price_cents IS NULL OR price_cents >= 0", name="price_not_negative"),
        CheckConstraint("percent_bp IS NULL OR percent_bp > 0", name="percent_positive"),
        CheckConstraint("moq IS NULL OR moq >= 1", name="moq_positive"),
        CheckConstraint("multiple IS NULL OR multiple >= 1", name="multiple_positive"),
        Index("ix_policy_rules_version_id_variant_id", "version_id", "variant_id"),
        Index("ix_policy_rules_version_id_product_id", "version_id", "product_id"),
        Index("ix_policy_rules_version_id_category_id", "version_id", "category_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("policy_versions.id", ondelete="CASCADE"))
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    section: Mapped[str] = mapped_column(String(20))
    scope: Mapped[str] = mapped_column(String(20))
    variant_id: Mapped[int | None] = mapped_column(ForeignKey("variants.id"))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    price_cents: Mapped[int | None] = mapped_column(BigInteger)  # price or floor, fixed
    percent_bp: Mapped[int | None] = mapped_column(Integer)  # price or floor, share of MSRP
    moq: Mapped[int | None] = mapped_column(Integer)
    multiple: Mapped[int | None] = mapped_column(Integer)

    version: Mapped[PolicyVersion] = relationship(back_populates="rules")


class Notification(TimestampMixin, Model):
    """A policy delivered to one org's inbox: exactly one per (version, org)."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("version_id", "org_id"),
        Index("ix_notifications_org_id_created_at", "org_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("policy_versions.id"))
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    read_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    remind_count: Mapped[int] = mapped_column(Integer, default=0)

    version: Mapped[PolicyVersion] = relationship()
    org: Mapped[Organization] = relationship(foreign_keys=[org_id])

    @property
    def is_read(self) -> bool:
        return self.read_at is not None

    @property
    def is_acknowledged(self) -> bool:
        return self.acknowledged_at is not None
