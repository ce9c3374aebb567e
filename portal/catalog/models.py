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
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import JSON

from portal.core.db import TimestampMixin, UTCDateTime, enum_check
from portal.core.staged import StagedStatus
from portal.extensions import Model


class ProductStatus(enum.StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"


class Category(TimestampMixin, Model):
    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("brand_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(120))


class Product(TimestampMixin, Model):
    """An SPU: what a shopper calls "the product"; its variants are the SKUs that are ordered."""

    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("brand_id", "code"),
        CheckConstraint(enum_check("status", tuple(ProductStatus)), name="status"),
        CheckConstraint("msrp_cents >= 0", name="msrp_not_negative"),
        Index("ix_products_brand_id_category_id", "brand_id", "category_id"),
        Index("ix_products_brand_id_season", "brand_id", "season"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    season: Mapped[str] = mapped_column(String(20), default="")
    launch_date: Mapped[date | None] = mapped_column(Date)
    msrp_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    description: Mapped[str] = mapped_column(Text, default="")
    image_path: Mapped[str | None] = mapped_column(String(255))  # relative to instance/
    status: Mapped[str] = mapped_column(String(20), default=ProductStatus.ACTIVE)

    category: Mapped[Category] = relationship()
    variants: Mapped[list[Variant]] = relationship(
        back_populates="product", order_by="Variant.id", cascade="all, delete-orphan"
    )

    @property
    def is_active(self) -> bool:
        return self.status == ProductStatus.ACTIVE


class Variant(TimestampMixin, Model):
    """A SKU: one color and size of a product, with its barcode and case pack."""

    __tablename__ = "variants"
    __table_args__ = (
        UniqueConstraint("brand_id", "sku"),
        UniqueConstraint("product_id", "color", "size"),
        CheckConstraint("case_pack >= 1", name="case_pack_positive"),
        # A storefront's page walks one brand's SKUs by product, newest first (storefront/catalog).
        Index("ix_variants_brand_id_product_id", "brand_id", "product_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    color: Mapped[str] = mapped_column(String(40))
    size: Mapped[str] = mapped_column(String(20))
    barcode: Mapped[str] = mapped_column(String(32), default="")
    case_pack: Mapped[int] = mapped_column(Integer, default=1)

    product: Mapped[Product] = relationship(back_populates="variants")


# The staged-file states, shared with every import (portal/core/staged.py).
ImportStatus = StagedStatus


class CatalogImport(TimestampMixin, Model):
    """One uploaded catalog file: validated by a job, previewed, then applied whole or not at
    all."""

    __tablename__ = "catalog_imports"
    __table_args__ = (CheckConstraint(enum_check("status", tuple(ImportStatus)), name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    filename: Mapped[str] = mapped_column(String(255))
    stored_path: Mapped[str] = mapped_column(String(255))  # relative to instance/
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default=ImportStatus.VALIDATING)
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    # [{"row": 3, "column": "msrp", "reason": "..."}], capped; error_count has the full number
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # {"products_new", "products_changed", "variants_new", "variants_changed", "unchanged", ...}
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    job_id: Mapped[str | None] = mapped_column(String(160))
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
