"""Where the available-to-sell feed is pushed: HQ's webhook endpoints, and one row per delivery
of changed SKUs to one of them (portal/storefront/webhooks.py)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import JSON

from portal.core.db import BigId, TimestampMixin, UTCDateTime, enum_check, utcnow
from portal.extensions import Model


class WebhookEndpoint(TimestampMixin, Model):
    """A URL of a brand's marketplace connector that hears when SKUs' online availability
    changes. `secret` signs every body (HMAC-SHA256); HQ sees it once, when the endpoint is
    added. `changes_since` is where the next look for changes starts."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(String(100), default="")
    secret: Mapped[str] = mapped_column(String(100))
    grade: Mapped[str] = mapped_column(String(1), default="A")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    changes_since: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its first attempt, or for a retry
    DELIVERED = "delivered"  # the endpoint answered 2xx
    FAILED = "failed"  # every attempt the queue allows failed: given up


class WebhookDelivery(Model):
    """Changed SKUs for one endpoint. The numbers are read when it is sent (each attempt), so a
    retry never tells a connector an availability older than one it has already heard."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint(enum_check("status", tuple(DeliveryStatus)), name="status"),
        Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"))
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    variant_ids: Mapped[list] = mapped_column(JSON, default=list)
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    status_code: Mapped[int | None] = mapped_column(Integer)  # of the last attempt
    error: Mapped[str | None] = mapped_column(Text)  # of the last attempt that failed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    attempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    endpoint: Mapped[WebhookEndpoint] = relationship()
