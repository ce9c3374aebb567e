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
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import JSON

from portal.catalog.models import Variant
from portal.core.db import (
    BigId,
    TimestampMixin,
    UTCDateTime,
    enum_check,
    make_append_only,
    utcnow,
)
from portal.core.staged import StagedStatus
from portal.extensions import Model
from portal.network.models import Organization


class LocationKind(enum.StrEnum):
    WAREHOUSE = "warehouse"
    STORE = "store"


class Grade(enum.StrEnum):
    A = "A"  # sellable
    B = "B"  # slightly damaged: the employee tier only


class MoveReason(enum.StrEnum):
    RECEIPT = "receipt"  # goods in from outside the network (production, opening stock)
    SHIPMENT = "shipment"  # goods out to a buyer
    TRANSFER = "transfer"
    ADJUSTMENT = "adjustment"
    COUNT = "count"  # a stock count corrected the level
    DAMAGE = "damage"  # grade A -> grade B
    FOUND = "found"
    SALE = "sale"
    RETURN = "return"
    PUSH = "push"
    UPLOAD = "upload"  # a level set from another system's file
    RESERVE = "reserve"  # an order holds units
    RELEASE = "release"  # a hold is given back (cancel, reject)


class Location(TimestampMixin, Model):
    """A place that holds stock: an org's warehouse or a store's shelf."""

    __tablename__ = "locations"
    __table_args__ = (
        CheckConstraint(enum_check("kind", tuple(LocationKind)), name="kind"),
        # One default location per org (the one orders ship from and to).
        Index(
            "uq_locations_org_id_default",
            "org_id",
            unique=True,
            postgresql_where=text("is_default"),
            sqlite_where=text("is_default"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(20), default=LocationKind.WAREHOUSE)
    is_default: Mapped[bool] = mapped_column(default=True)

    org: Mapped[Organization] = relationship()


class StockLevel(Model):
    """On hand and reserved units of one SKU and grade at one location: the ledger's running sum.

    The CHECK constraints are the last line of defence; services move levels only through
    conditional updates that cannot cross them."""

    __tablename__ = "stock_levels"
    __table_args__ = (
        UniqueConstraint("location_id", "variant_id", "grade"),
        CheckConstraint(enum_check("grade", tuple(Grade)), name="grade"),
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("reserved <= on_hand", name="reserved_within_on_hand"),
        Index("ix_stock_levels_brand_id_variant_id", "brand_id", "variant_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    grade: Mapped[str] = mapped_column(String(1), default=Grade.A)
    on_hand: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved: Mapped[int] = mapped_column(BigInteger, default=0)

    location: Mapped[Location] = relationship()
    variant: Mapped[Variant] = relationship()

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class StockMove(TimestampMixin, Model):
    """One change to one level, never edited or deleted: the ledger levels are summed from."""

    __tablename__ = "stock_moves"
    __table_args__ = (
        CheckConstraint(enum_check("reason", tuple(MoveReason)), name="reason"),
        CheckConstraint(enum_check("grade", tuple(Grade)), name="grade"),
        Index("ix_stock_moves_location_id_variant_id_id", "location_id", "variant_id", "id"),
        Index(
            "ix_stock_moves_location_id_id", "location_id", "id"
        ),  # a location's ledger, newest first
        Index("ix_stock_moves_reference", "reference"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    grade: Mapped[str] = mapped_column(String(1))
    on_hand_delta: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved_delta: Mapped[int] = mapped_column(BigInteger, default=0)
    reason: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str] = mapped_column(String(80), default="")
    note: Mapped[str] = mapped_column(String(500), default="")
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    # When it happened in the business: a reported sale's `sold_at`, which may be days before
    # the report arrived (created_at); now for everything else. Velocity counts by this.
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    location: Mapped[Location] = relationship()
    variant: Mapped[Variant] = relationship()


make_append_only(StockMove)


class AllocationStatus(enum.StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"  # what was left went back to the pool
    CANCELLED = "cancelled"  # HQ took it back early


class Allocation(TimestampMixin, Model):
    """A quota: units of one SKU set aside at the supplier's location for one recipient until
    `expires_at`. The units stay reserved at that location while the quota is open; orders
    against it take their reservation over, and what is left at expiry returns to the pool."""

    __tablename__ = "allocations"
    __table_args__ = (
        CheckConstraint(enum_check("status", tuple(AllocationStatus)), name="status"),
        CheckConstraint("qty > 0", name="qty_positive"),
        CheckConstraint("used_qty >= 0 AND used_qty <= qty", name="used_within_qty"),
        Index("ix_allocations_recipient_org_id_variant_id", "recipient_org_id", "variant_id"),
        Index("ix_allocations_status_expires_at", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    recipient_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    qty: Mapped[int] = mapped_column(BigInteger)
    used_qty: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(20), default=AllocationStatus.ACTIVE)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reference: Mapped[str] = mapped_column(String(80), default="")  # the push it came from
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    recipient: Mapped[Organization] = relationship(foreign_keys=[recipient_org_id])
    location: Mapped[Location] = relationship()
    variant: Mapped[Variant] = relationship()

    @property
    def remaining(self) -> int:
        return self.qty - self.used_qty


# The staged-file states, shared with every import (portal/core/staged.py).
UploadStatus = StagedStatus


class StockUpload(TimestampMixin, Model):
    """One uploaded stock file of an org: checked by a job, confirmed, then applied whole or not
    at all."""

    __tablename__ = "stock_uploads"
    __table_args__ = (
        CheckConstraint(enum_check("status", tuple(UploadStatus)), name="status"),
        Index("ix_stock_uploads_location_id_id", "location_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    # The location rows without a `location` cell go to (the one the upload page was opened on).
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    filename: Mapped[str] = mapped_column(String(255))
    stored_path: Mapped[str] = mapped_column(String(255))  # relative to instance/
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default=UploadStatus.VALIDATING)
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    # [{"row": 3, "column": "on_hand", "reason": "..."}], capped; error_count has the full number
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # {"rows_changed", "rows_unchanged", "units_added", "units_removed"}, or {"failure": "..."}
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    job_id: Mapped[str | None] = mapped_column(String(160))
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    location: Mapped[Location] = relationship()

    @property
    def is_busy(self) -> bool:
        return self.status in (UploadStatus.VALIDATING, UploadStatus.APPLYING)
