"""What a consumer return stores: one row per request (who asked, who received and inspected,
when it was refunded or rejected) and one row per returned order line with its inspection
grade. The units go back through the stock ledger (MoveReason.RETURN, the order number as the
reference) and the money through the payment's refunds; these rows only say what was asked."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.core.db import BigId, TimestampMixin, UTCDateTime, enum_check, utcnow
from portal.extensions import Model
from portal.storefront.models import ConsumerOrder, ConsumerOrderLine


class ReturnStatus(enum.StrEnum):
    REQUESTED = "requested"  # the consumer asked; the goods are on their way back
    RECEIVED = "received"  # the location has them, inspected, back in stock
    REFUNDED = "refunded"  # the received lines' value went back through the provider
    REJECTED = "rejected"  # the location refused the request, with a reason


class ConsumerReturn(TimestampMixin, Model):
    __tablename__ = "consumer_returns"
    __table_args__ = (
        CheckConstraint(enum_check("status", tuple(ReturnStatus)), name="status"),
        Index("ix_consumer_returns_order_id", "order_id"),
        Index("ix_consumer_returns_location_id_status", "location_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("consumer_orders.id"))
    consumer_id: Mapped[int | None] = mapped_column(ForeignKey("consumers.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))  # receives the goods
    status: Mapped[str] = mapped_column(String(20), default=ReturnStatus.REQUESTED)
    reason: Mapped[str] = mapped_column(String(200), default="")
    currency: Mapped[str] = mapped_column(String(3))
    refund_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("payment_refunds.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    received_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rejected_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rejected_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reject_reason: Mapped[str] = mapped_column(String(200), default="")

    order: Mapped[ConsumerOrder] = relationship()
    lines: Mapped[list[ConsumerReturnLine]] = relationship(
        back_populates="consumer_return",
        cascade="all, delete-orphan",
        order_by="ConsumerReturnLine.id",
    )


class ConsumerReturnLine(Model):
    __tablename__ = "consumer_return_lines"
    __table_args__ = (
        CheckConstraint("qty > 0", name="qty"),
        CheckConstraint("grade IS NULL OR grade IN ('A', 'B')", name="grade"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("consumer_returns.id"), index=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    order_line_id: Mapped[int] = mapped_column(ForeignKey("consumer_order_lines.id"), index=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    qty: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(BigInteger)  # from the order line
    grade: Mapped[str | None] = mapped_column(String(1))  # set by the inspection

    consumer_return: Mapped[ConsumerReturn] = relationship(back_populates="lines")
    order_line: Mapped[ConsumerOrderLine] = relationship()

    @property
    def value_cents(self) -> int:
        return self.qty * self.unit_price_cents
