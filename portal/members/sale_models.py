"""Private sales (内购会) of the employee store: a window, an audience, event-only items and
prices, per-event limits and stock set aside for the event (portal/members/private_sales.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.db import BigId, TimestampMixin, UTCDateTime
from portal.extensions import Model


class PrivateSale(TimestampMixin, Model):
    __tablename__ = "private_sales"
    __table_args__ = (UniqueConstraint("brand_id", "code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(120))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
