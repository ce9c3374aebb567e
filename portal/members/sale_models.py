"""Private sales (内购会) of the employee store: a window, an audience, event items at event
prices, per-person limits of the event, and stock set aside for it (members/private_sales.py).

The set-aside units are reserved in the stock ledger at the sale's location when HQ publishes
the sale (reference `sale:<code>`), so no other order takes them. An item counts what the sale's
orders took of its hold (`taken_qty`): an order takes the reservation over unit for unit (the
level does not move), a call-off before hand-over gives it back while the sale is open, and the
close releases what is left, once.
"""

from __future__ import annotations

import enum
from datetime import datetime

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

from portal.catalog.models import Variant
from portal.core.db import BigId, TimestampMixin, UTCDateTime, enum_check
from portal.extensions import Model
from portal.inventory.models import Grade, Location


class SaleStatus(enum.StrEnum):
    DRAFT = "draft"  # HQ is writing it: nothing set aside, no consumer sees it
    PUBLISHED = "published"  # its stock is set aside; its audience sees it coming, buys in it
    CLOSED = "closed"  # ended (its window passed, or HQ ended it): what was left went back


class SaleAudience(enum.StrEnum):
    """Who of the employee store's people may buy in the sale."""

    EMPLOYEES = "employees"  # the brand's own employees
    FRIENDS = "friends"  # employees and the friends they invited
    PARTNERS = "partners"  # employees, friends and partner companies' employees


class PrivateSale(TimestampMixin, Model):
    __tablename__ = "private_sales"
    __table_args__ = (
        UniqueConstraint("brand_id", "code"),
        CheckConstraint(enum_check("status", tuple(SaleStatus)), name="status"),
        CheckConstraint(enum_check("audience", tuple(SaleAudience)), name="audience"),
        CheckConstraint("ends_at > starts_at", name="window"),
        CheckConstraint("units_per_person IS NULL OR units_per_person > 0", name="units"),
        CheckConstraint(
            "amount_per_person_cents IS NULL OR amount_per_person_cents > 0", name="amount"
        ),
        Index("ix_private_sales_status_ends_at", "status", "ends_at"),
        Index("ix_private_sales_brand_id_status_starts_at", "brand_id", "status", "starts_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(String(500), default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    audience: Mapped[str] = mapped_column(String(20), default=SaleAudience.EMPLOYEES)
    status: Mapped[str] = mapped_column(String(20), default=SaleStatus.DRAFT)
    # Where the set-aside units are held: one online location of the brand. Every order of the
    # sale is fulfilled there (picked up, if it hands over, or delivered from it).
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    # Per person over the whole sale (None: no such limit): units of all items, and money.
    units_per_person: Mapped[int | None] = mapped_column(Integer)
    amount_per_person_cents: Mapped[int | None] = mapped_column(BigInteger)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    location: Mapped[Location] = relationship()
    items: Mapped[list[PrivateSaleItem]] = relationship(
        back_populates="sale", cascade="all, delete-orphan", order_by="PrivateSaleItem.id"
    )


class PrivateSaleItem(Model):
    """One SKU (of one grade) sold in the sale at a fixed event price, with the units set aside
    for it and, optionally, how many one person may buy."""

    __tablename__ = "private_sale_items"
    __table_args__ = (
        UniqueConstraint("sale_id", "variant_id"),
        CheckConstraint(enum_check("grade", tuple(Grade)), name="grade"),
        CheckConstraint("price_cents > 0", name="price"),
        CheckConstraint("set_aside_qty > 0", name="set_aside"),
        CheckConstraint("taken_qty >= 0 AND taken_qty <= set_aside_qty", name="taken"),
        CheckConstraint("limit_per_person IS NULL OR limit_per_person > 0", name="limit"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sale_id: Mapped[int] = mapped_column(ForeignKey("private_sales.id", ondelete="CASCADE"))
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    grade: Mapped[str] = mapped_column(String(1), default=Grade.A)
    price_cents: Mapped[int] = mapped_column(BigInteger)
    limit_per_person: Mapped[int | None] = mapped_column(Integer)
    set_aside_qty: Mapped[int] = mapped_column(Integer)
    taken_qty: Mapped[int] = mapped_column(Integer, default=0)

    sale: Mapped[PrivateSale] = relationship(back_populates="items")
    variant: Mapped[Variant] = relationship()

    @property
    def left(self) -> int:
        """Units of the hold no order has taken yet."""
        return self.set_aside_qty - self.taken_qty
