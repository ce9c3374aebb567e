"""Points and wallet ledgers (DESIGN §7), the wallet's top-ups, and sales reported by stores' tills.

Both ledgers work like the stock ledger: a member's balance is never a column edited in place but
the running balance of their latest entry, written under the member's row lock
(`membership.lock_member`) and checked by the database never to go below zero. Entries are never
changed or deleted (`make_append_only`); a correction is a new entry. One (member, kind,
reference) is written once: a repeated notice, job run or refund finds its entry and adds none.

Points have two balances: pending (earned, not yet usable: the return window is still open) and
available. An earning entry is a lot: it carries when it matures (`due_at`) and the year it was
earned (`lot_year`, for expiry); the entries that later act on it (maturing, reversal on a
return) name it in `lot_id`.
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
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.db import BigId, TimestampMixin, UTCDateTime, enum_check, make_append_only, utcnow
from portal.extensions import Model


class PointsKind(enum.StrEnum):
    EARN = "earn"  # an order completed: pending (reference: the order number)
    POS_EARN = "pos_earn"  # a store's till reported a sale: pending (reference: P<sale id>)
    MATURE = "mature"  # a lot's return window closed: pending -> available (reference: L<lot>)
    REDEEM = "redeem"  # paid part of an order (reference: the order number)
    RELEASE = "release"  # an unpaid order was cancelled or expired: redeemed points come back
    REFUND = "refund"  # a paid order was refunded: redeemed points come back (the refund's ref)
    REVERSE = "reverse"  # goods came back: earned points go (the refund's reference)
    POS_REVERSE = "pos_reverse"  # a till sale was refunded (reference: P<sale id>-<refund ref>)
    EXPIRE = "expire"  # what was left of old lots at the end of their last year


class PointsEntry(Model):
    __tablename__ = "member_points_entries"
    __table_args__ = (
        CheckConstraint(enum_check("kind", tuple(PointsKind)), name="kind"),
        CheckConstraint("pending_after >= 0 AND available_after >= 0", name="not_negative"),
        CheckConstraint("points >= 0", name="points"),
        UniqueConstraint("member_id", "kind", "reference"),
        Index("ix_member_points_entries_member_id_id", "member_id", "id"),
        Index("ix_member_points_entries_kind_due_at", "kind", "due_at"),
        Index("ix_member_points_entries_lot_id", "lot_id"),
        Index("ix_member_points_entries_order_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    program_id: Mapped[int] = mapped_column(ForeignKey("member_programs.id"))
    kind: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str] = mapped_column(String(64))
    # The entry's size as its rule reckoned it: for a reversal, what was due to be taken back
    # even where the member had spent it (then the deltas take less).
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    pending_delta: Mapped[int] = mapped_column(BigInteger, default=0)
    available_delta: Mapped[int] = mapped_column(BigInteger, default=0)
    pending_after: Mapped[int] = mapped_column(BigInteger)
    available_after: Mapped[int] = mapped_column(BigInteger)
    # The money the entry is about: paid value earning points, refunded value, points' worth.
    value_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("member_points_entries.id"))
    lot_year: Mapped[int | None] = mapped_column(Integer)  # earning (and maturing) entries
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # when a lot matures
    order_id: Mapped[int | None] = mapped_column(ForeignKey("consumer_orders.id"))
    pos_sale_id: Mapped[int | None] = mapped_column(ForeignKey("member_pos_sales.id"))
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WalletKind(enum.StrEnum):
    TOP_UP = "top_up"  # paid in through the provider (reference: the top-up's number)
    PAY = "pay"  # paid part of an order (reference: the order number)
    RELEASE = "release"  # an unpaid order was cancelled or expired: the money comes back
    REFUND = "refund"  # a paid order was refunded: the wallet's part comes back


class WalletEntry(Model):
    __tablename__ = "member_wallet_entries"
    __table_args__ = (
        CheckConstraint(enum_check("kind", tuple(WalletKind)), name="kind"),
        CheckConstraint("balance_after_cents >= 0", name="not_negative"),
        UniqueConstraint("member_id", "kind", "reference"),
        Index("ix_member_wallet_entries_member_id_id", "member_id", "id"),
        Index("ix_member_wallet_entries_order_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    program_id: Mapped[int] = mapped_column(ForeignKey("member_programs.id"))
    kind: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str] = mapped_column(String(64))
    amount_cents: Mapped[int] = mapped_column(BigInteger)  # signed: in is positive
    balance_after_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    order_id: Mapped[int | None] = mapped_column(ForeignKey("consumer_orders.id"))
    top_up_id: Mapped[int | None] = mapped_column(ForeignKey("member_wallet_top_ups.id"))
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


make_append_only(PointsEntry)
make_append_only(WalletEntry)


class TopUpStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for the provider
    PAID = "paid"  # credited to the wallet


class WalletTopUp(TimestampMixin, Model):
    """Money a member asked to put in their wallet, paid through the provider (a `Payment` of
    kind wallet_top_up whose payable id is this row). Credited once, when its notice says paid."""

    __tablename__ = "member_wallet_top_ups"
    __table_args__ = (
        CheckConstraint(enum_check("status", tuple(TopUpStatus)), name="status"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        Index("ix_member_wallet_top_ups_member_id_id", "member_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)  # unguessable, in the URL
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    program_id: Mapped[int] = mapped_column(ForeignKey("member_programs.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    consumer_id: Mapped[int | None] = mapped_column(ForeignKey("consumers.id"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    status: Mapped[str] = mapped_column(String(20), default=TopUpStatus.PENDING)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PosSale(Model):
    """A sale a store's till reported for a member's phone: it earns points like an online
    order (and counts toward the member's level). `refunded_cents` grows as the till reports
    refunds of it; the points follow in proportion."""

    __tablename__ = "member_pos_sales"
    __table_args__ = (
        UniqueConstraint("org_id", "reference"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("refunded_cents >= 0 AND refunded_cents <= amount_cents", name="refunded"),
        Index("ix_member_pos_sales_member_id_occurred_at", "member_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    program_id: Mapped[int] = mapped_column(ForeignKey("member_programs.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))  # the reporting store
    reference: Mapped[str] = mapped_column(String(40))  # the till's own, unique per store
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    refunded_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    points: Mapped[int] = mapped_column(BigInteger, default=0)  # what it earned
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # who reported it
    api_key_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
