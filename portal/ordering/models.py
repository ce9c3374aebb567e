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
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import JSON

from portal.catalog.models import Variant
from portal.core.db import BigId, TimestampMixin, UTCDateTime, enum_check, make_append_only
from portal.extensions import Model
from portal.inventory.models import Location
from portal.network.models import ChannelLink, Organization, User


class OrderKind(enum.StrEnum):
    B2B = "b2b"  # a buyer ordered from its supplier
    PUSH = "push"  # HQ allocated stock to a recipient
    REPLENISHMENT = "replenishment"
    CONSUMER = "consumer"


class OrderStatus(enum.StrEnum):
    PENDING_BUYER_APPROVAL = "pending_buyer_approval"  # the buyer org's admin must approve
    SUBMITTED = "submitted"  # stock reserved, waiting for the supplier to confirm
    AWAITING_APPROVAL = "awaiting_approval"  # over the credit limit: the supplier decides
    CONFIRMED = "confirmed"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"  # everything shipped, not all received
    COMPLETED = "completed"  # everything shipped has been received
    CANCELLED = "cancelled"
    REJECTED = "rejected"


# Statuses in which the order still holds stock and counts against the buyer's credit.
OPEN_STATUSES = (
    OrderStatus.PENDING_BUYER_APPROVAL,
    OrderStatus.SUBMITTED,
    OrderStatus.AWAITING_APPROVAL,
    OrderStatus.CONFIRMED,
    OrderStatus.PARTIALLY_SHIPPED,
)


class Cart(TimestampMixin, Model):
    """What a buyer org is putting together for one supplier in one brand (shared by its
    buyers). Prices are not stored: they are resolved when shown and again at submit."""

    __tablename__ = "carts"
    __table_args__ = (UniqueConstraint("buyer_org_id", "brand_id", "supplier_org_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    buyer_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    supplier_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    po_number: Mapped[str] = mapped_column(String(64), default="")
    note: Mapped[str] = mapped_column(String(500), default="")

    brand: Mapped[Organization] = relationship(foreign_keys=[brand_id])
    supplier: Mapped[Organization] = relationship(foreign_keys=[supplier_org_id])
    lines: Mapped[list[CartLine]] = relationship(
        back_populates="cart", order_by="CartLine.id", cascade="all, delete-orphan"
    )


class CartLine(Model):
    __tablename__ = "cart_lines"
    __table_args__ = (
        UniqueConstraint("cart_id", "variant_id"),
        CheckConstraint("qty > 0", name="qty_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    qty: Mapped[int] = mapped_column(Integer)

    cart: Mapped[Cart] = relationship(back_populates="lines")
    variant: Mapped[Variant] = relationship()


class OrderTemplate(TimestampMixin, Model):
    """A saved list of SKUs and quantities a buyer orders again and again."""

    __tablename__ = "order_templates"
    __table_args__ = (UniqueConstraint("buyer_org_id", "brand_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    buyer_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{"sku", "qty"}]
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class PurchasingRule(TimestampMixin, Model):
    """A buyer org's own rules for its buyers: orders above an amount wait for the org's admin,
    and each buyer may spend at most so much per calendar month (both optional)."""

    __tablename__ = "purchasing_rules"
    __table_args__ = (
        CheckConstraint("approval_above_cents IS NULL OR approval_above_cents >= 0", name="above"),
        CheckConstraint("monthly_limit_cents IS NULL OR monthly_limit_cents >= 0", name="limit"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), unique=True)
    approval_above_cents: Mapped[int | None] = mapped_column(BigInteger)
    monthly_limit_cents: Mapped[int | None] = mapped_column(BigInteger)


class Order(TimestampMixin, Model):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(enum_check("kind", tuple(OrderKind)), name="kind"),
        CheckConstraint(enum_check("status", tuple(OrderStatus)), name="status"),
        Index("ix_orders_buyer_org_id_id", "buyer_org_id", "id"),
        Index("ix_orders_supplier_org_id_status_id", "supplier_org_id", "status", "id"),
        Index("ix_orders_brand_id_id", "brand_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    buyer_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    supplier_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    link_id: Mapped[int] = mapped_column(ForeignKey("channel_links.id"))
    kind: Mapped[str] = mapped_column(String(20), default=OrderKind.B2B)
    status: Mapped[str] = mapped_column(String(30))
    currency: Mapped[str] = mapped_column(String(3))
    total_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    total_qty: Mapped[int] = mapped_column(Integer, default=0)
    # the most specific live policy version when the order was priced
    policy_version_id: Mapped[int | None] = mapped_column(ForeignKey("policy_versions.id"))
    # where the stock is reserved and shipped from, and where it lands
    source_location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    destination_location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    po_number: Mapped[str] = mapped_column(String(64), default="")
    note: Mapped[str] = mapped_column(String(500), default="")
    # why the order waits: "credit" (supplier decides) or "amount" / "spending_limit" (buyer org)
    hold_reason: Mapped[str] = mapped_column(String(30), default="")
    placed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    brand: Mapped[Organization] = relationship(foreign_keys=[brand_id])
    buyer: Mapped[Organization] = relationship(foreign_keys=[buyer_org_id])
    supplier: Mapped[Organization] = relationship(foreign_keys=[supplier_org_id])
    link: Mapped[ChannelLink] = relationship()
    source_location: Mapped[Location] = relationship(foreign_keys=[source_location_id])
    destination_location: Mapped[Location] = relationship(foreign_keys=[destination_location_id])
    placed_by: Mapped[User | None] = relationship()
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.id", cascade="all, delete-orphan"
    )

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def has_shipments(self) -> bool:
        return any(line.shipped_qty for line in self.lines)


class OrderLine(Model):
    """One SKU of an order with the price it was sold at and how far it has travelled."""

    __tablename__ = "order_lines"
    __table_args__ = (
        UniqueConstraint("order_id", "variant_id"),
        CheckConstraint("qty > 0", name="qty_positive"),
        CheckConstraint("shipped_qty >= 0 AND shipped_qty <= qty", name="shipped_within_qty"),
        CheckConstraint(
            "received_qty >= 0 AND received_qty <= shipped_qty", name="received_within_shipped"
        ),
        CheckConstraint(
            "returned_qty >= 0 AND returned_qty <= received_qty", name="returned_within_received"
        ),
        Index("ix_order_lines_variant_id", "variant_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    sku: Mapped[str] = mapped_column(String(64))
    qty: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(BigInteger)
    msrp_cents: Mapped[int] = mapped_column(BigInteger)
    line_total_cents: Mapped[int] = mapped_column(BigInteger)
    # the version whose price rule set the unit price
    policy_version_id: Mapped[int | None] = mapped_column(ForeignKey("policy_versions.id"))
    quota_id: Mapped[int | None] = mapped_column(ForeignKey("allocations.id"))
    shipped_qty: Mapped[int] = mapped_column(Integer, default=0)
    received_qty: Mapped[int] = mapped_column(Integer, default=0)
    returned_qty: Mapped[int] = mapped_column(Integer, default=0)

    order: Mapped[Order] = relationship(back_populates="lines")
    variant: Mapped[Variant] = relationship()

    @property
    def open_qty(self) -> int:
        """Ordered and not yet shipped: what the order still holds in reservation."""
        return self.qty - self.shipped_qty


class OrderEvent(Model):
    """One step of an order's life (who, when, what), never edited: the timeline."""

    __tablename__ = "order_events"
    __table_args__ = (Index("ix_order_events_order_id_id", "order_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    kind: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str] = mapped_column(String(30), default="")
    to_status: Mapped[str] = mapped_column(String(30), default="")
    note: Mapped[str] = mapped_column(String(500), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    actor_user: Mapped[User | None] = relationship(foreign_keys=[actor_user_id])
    actor_org: Mapped[Organization | None] = relationship(foreign_keys=[actor_org_id])


make_append_only(OrderEvent)


class ShipmentStatus(enum.StrEnum):
    SHIPPED = "shipped"
    RECEIVED = "received"


class Shipment(TimestampMixin, Model):
    __tablename__ = "shipments"
    __table_args__ = (
        CheckConstraint(enum_check("status", tuple(ShipmentStatus)), name="status"),
        UniqueConstraint("order_id", "seq"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    seq: Mapped[int] = mapped_column(Integer)  # 1, 2, ... within the order
    status: Mapped[str] = mapped_column(String(20), default=ShipmentStatus.SHIPPED)
    carrier: Mapped[str] = mapped_column(String(60), default="")
    tracking_number: Mapped[str] = mapped_column(String(80), default="")
    shipped_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    received_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    discrepancy_note: Mapped[str] = mapped_column(String(500), default="")

    order: Mapped[Order] = relationship()
    lines: Mapped[list[ShipmentLine]] = relationship(
        back_populates="shipment", order_by="ShipmentLine.id", cascade="all, delete-orphan"
    )

    @property
    def label(self) -> str:
        return f"{self.order.number}/{self.seq}"


class ShipmentLine(Model):
    __tablename__ = "shipment_lines"
    __table_args__ = (
        UniqueConstraint("shipment_id", "order_line_id"),
        CheckConstraint("qty > 0", name="qty_positive"),
        CheckConstraint("received_qty >= 0 AND received_qty <= qty", name="received_within_qty"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"))
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"))
    qty: Mapped[int] = mapped_column(Integer)
    received_qty: Mapped[int] = mapped_column(Integer, default=0)

    shipment: Mapped[Shipment] = relationship(back_populates="lines")
    order_line: Mapped[OrderLine] = relationship()


class ReturnStatus(enum.StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    RECEIVED = "received"  # goods back at the supplier, credit note issued


class ReturnRequest(TimestampMixin, Model):
    __tablename__ = "return_requests"
    __table_args__ = (
        CheckConstraint(enum_check("status", tuple(ReturnStatus)), name="status"),
        UniqueConstraint("order_id", "seq"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    seq: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default=ReturnStatus.REQUESTED)
    reason: Mapped[str] = mapped_column(String(500))
    requested_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    credit_cents: Mapped[int] = mapped_column(BigInteger, default=0)

    order: Mapped[Order] = relationship()
    lines: Mapped[list[ReturnLine]] = relationship(
        back_populates="return_request", order_by="ReturnLine.id", cascade="all, delete-orphan"
    )

    @property
    def label(self) -> str:
        return f"{self.order.number}/R{self.seq}"


class ReturnLine(Model):
    __tablename__ = "return_lines"
    __table_args__ = (
        UniqueConstraint("return_id", "order_line_id"),
        CheckConstraint("qty > 0", name="qty_positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("return_requests.id"))
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"))
    qty: Mapped[int] = mapped_column(Integer)

    return_request: Mapped[ReturnRequest] = relationship(back_populates="lines")
    order_line: Mapped[OrderLine] = relationship()
