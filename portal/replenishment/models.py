from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import JSON

from portal.catalog.models import Category, Variant
from portal.core.db import BigId, TimestampMixin, UTCDateTime, enum_check
from portal.extensions import Model
from portal.inventory.models import Location
from portal.network.models import Organization


class ReplenishmentRule(TimestampMixin, Model):
    """How much a location should hold. Two kinds, told apart by `location_id`:

    - a default set by HQ for a store level (or every level: empty) and a category (or every
      category: NULL), which may let owners override it;
    - an override for one location and one SKU, set by the location's owner (where HQ allows)
      or by HQ.

    Either min / max (reorder up to max once at or below min) or days of cover (reorder up to
    velocity × (cover + lead) + safety once at or below velocity × lead + safety).
    """

    __tablename__ = "replenishment_rules"
    __table_args__ = (
        CheckConstraint("min_qty IS NULL OR min_qty >= 0", name="min_not_negative"),
        CheckConstraint("max_qty IS NULL OR max_qty >= 0", name="max_not_negative"),
        CheckConstraint(
            "min_qty IS NULL OR max_qty IS NULL OR max_qty >= min_qty", name="max_not_below_min"
        ),
        CheckConstraint("cover_days IS NULL OR cover_days > 0", name="cover_positive"),
        CheckConstraint("lead_days >= 0", name="lead_not_negative"),
        CheckConstraint("safety_qty >= 0", name="safety_not_negative"),
        CheckConstraint("review_days > 0", name="review_positive"),
        CheckConstraint("(max_qty IS NOT NULL) OR (cover_days IS NOT NULL)", name="has_a_target"),
        CheckConstraint(
            "(location_id IS NULL AND variant_id IS NULL) OR "
            "(location_id IS NOT NULL AND variant_id IS NOT NULL)",
            name="default_or_override",
        ),
        # one default per (brand, level, category), one override per (location, SKU)
        Index(
            "uq_replenishment_rules_default",
            "brand_id",
            "level",
            text("coalesce(category_id, 0)"),
            unique=True,
            postgresql_where=text("location_id IS NULL"),
            sqlite_where=text("location_id IS NULL"),
        ),
        Index(
            "uq_replenishment_rules_override",
            "location_id",
            "variant_id",
            unique=True,
            postgresql_where=text("location_id IS NOT NULL"),
            sqlite_where=text("location_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    level: Mapped[str] = mapped_column(String(20), default="")  # defaults: "" = every level
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))
    variant_id: Mapped[int | None] = mapped_column(ForeignKey("variants.id"))
    min_qty: Mapped[int | None] = mapped_column(Integer)
    max_qty: Mapped[int | None] = mapped_column(Integer)
    cover_days: Mapped[int | None] = mapped_column(Integer)
    lead_days: Mapped[int] = mapped_column(Integer, default=0)
    safety_qty: Mapped[int] = mapped_column(Integer, default=0)
    review_days: Mapped[int] = mapped_column(Integer, default=7)
    owners_may_override: Mapped[bool] = mapped_column(default=True)
    updated_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    category: Mapped[Category | None] = relationship()
    location: Mapped[Location | None] = relationship()
    variant: Mapped[Variant | None] = relationship()

    @property
    def is_default(self) -> bool:
        return self.location_id is None


class LocationSetting(TimestampMixin, Model):
    """Per location and brand: whether its suggested orders are submitted by the job itself."""

    __tablename__ = "replenishment_settings"
    __table_args__ = (UniqueConstraint("location_id", "brand_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    auto_submit: Mapped[bool] = mapped_column(default=False)


class SalesReport(Model):
    """A sell-out report from a store's own POS, identified by the store's own id: the same id
    again changes nothing. Its units leave the shelf as `sale` moves."""

    __tablename__ = "sales_reports"
    __table_args__ = (UniqueConstraint("org_id", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    external_id: Mapped[str] = mapped_column(String(80))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    sold_at: Mapped[datetime] = mapped_column(UTCDateTime())
    request_hash: Mapped[str] = mapped_column(String(64))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    units: Mapped[int] = mapped_column(BigInteger, default=0)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    location: Mapped[Location] = relationship()


class SuggestionStatus(enum.StrEnum):
    OPEN = "open"  # waiting for the buyer
    SUBMITTED = "submitted"  # became an order
    DISMISSED = "dismissed"


class Suggestion(TimestampMixin, Model):
    """A draft replenishment order for one location, from its supplier, for one business day.
    Unique per (location, brand, day): a run repeated, or resumed after its worker died, never
    makes a second one."""

    __tablename__ = "suggestions"
    __table_args__ = (
        UniqueConstraint("location_id", "brand_id", "business_date"),
        CheckConstraint(enum_check("status", tuple(SuggestionStatus)), name="status"),
        Index("ix_suggestions_brand_id_business_date", "brand_id", "business_date"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    buyer_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    supplier_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    business_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default=SuggestionStatus.OPEN)
    run_id: Mapped[str | None] = mapped_column(String(160))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    total_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    auto_submit: Mapped[bool] = mapped_column(default=False)
    # why an automatic submit was refused (the buyer sees it and fixes the lines)
    problem: Mapped[str] = mapped_column(String(500), default="")

    location: Mapped[Location] = relationship()
    buyer: Mapped[Organization] = relationship(foreign_keys=[buyer_org_id])
    supplier: Mapped[Organization] = relationship(foreign_keys=[supplier_org_id])
    lines: Mapped[list[SuggestionLine]] = relationship(
        back_populates="suggestion", order_by="SuggestionLine.id", cascade="all, delete-orphan"
    )


class SuggestionLine(Model):
    """One SKU of a suggestion with the figures behind it (shown to the buyer as the reason)."""

    __tablename__ = "suggestion_lines"
    __table_args__ = (
        UniqueConstraint("suggestion_id", "variant_id"),
        CheckConstraint("qty >= 0", name="qty_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    suggestion_id: Mapped[int] = mapped_column(ForeignKey("suggestions.id"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    qty: Mapped[int] = mapped_column(Integer)  # what the buyer will order (editable)
    suggested_qty: Mapped[int] = mapped_column(Integer)  # what the run computed
    unit_price_cents: Mapped[int | None] = mapped_column(BigInteger)
    # {"rule": "min_max"|"cover", "rule_id", "min", "max", "cover_days", "lead_days",
    #  "safety", "velocity", "on_hand", "reserved", "inbound", "position", "target", "capped"}
    reason: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    suggestion: Mapped[Suggestion] = relationship(back_populates="lines")
    variant: Mapped[Variant] = relationship()
