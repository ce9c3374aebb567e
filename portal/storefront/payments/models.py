"""Payments and their ledgers.

A `Payment` is our side of one attempt to be paid for one thing: a consumer order or a wallet
top-up (`payable_kind` + `payable_id`, so either can use it without the other's table). Its
amount is fixed when it is made, from our record of what is owed; nothing a client or a notice
says changes it. What providers tell us is kept in `payment_notices`, and money going back in
`payment_refunds` with each try at sending it in `payment_refund_attempts`: all three are
append-only, like the account ledger.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.core.db import BigId, TimestampMixin, UTCDateTime, enum_check, make_append_only, utcnow
from portal.extensions import Model
from portal.storefront.payments.base import NoticeStatus, ProviderName, RefundState


class PayableKind(enum.StrEnum):
    CONSUMER_ORDER = "consumer_order"
    WALLET_TOP_UP = "wallet_top_up"


class PaymentStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for the consumer to pay
    PAID = "paid"
    EXPIRED = "expired"  # not paid in time: money arriving now goes back
    CANCELLED = "cancelled"  # the order or top-up was called off: money arriving now goes back

    @classmethod
    def payable(cls) -> tuple[str, ...]:
        return (cls.PENDING,)


class NoticeOutcome(enum.StrEnum):
    """What we did with a notice."""

    APPLIED = "applied"  # it paid the payment
    DECLINED = "declined"  # the consumer's attempt failed; the payment stays payable
    IGNORED = "ignored"  # nothing to do (told again in other words, or after the fact)
    LATE = "late"  # paid after the payment stopped being payable: refunded
    DOUBLE = "double"  # a second transaction for a payment already paid: refunded
    AMOUNT_MISMATCH = "amount_mismatch"  # refused: kept as evidence only


class RefundReason(enum.StrEnum):
    LATE_PAYMENT = "late_payment"
    DOUBLE_PAYMENT = "double_payment"
    CANCELLED = "cancelled"  # paid, then called off (an order cancelled before it left)
    RETURNED = "returned"  # goods came back


PROVIDERS = tuple(ProviderName)


class Payment(TimestampMixin, Model):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint(enum_check("payable_kind", tuple(PayableKind)), name="payable_kind"),
        CheckConstraint(enum_check("status", tuple(PaymentStatus)), name="status"),
        CheckConstraint(enum_check("provider", PROVIDERS), name="provider"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint(
            "status <> 'paid' OR (paid_at IS NOT NULL AND provider_transaction_id IS NOT NULL)",
            name="paid_has_transaction",
        ),
        Index("ix_payments_payable_kind_payable_id", "payable_kind", "payable_id"),
        Index("ix_payments_brand_id_id", "brand_id", "id"),
        Index("ix_payments_status_expires_at", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    # Ours, given to the provider as its merchant order number (out_trade_no).
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    payable_kind: Mapped[str] = mapped_column(String(20))
    payable_id: Mapped[int] = mapped_column(BigInteger)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    provider: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), default=PaymentStatus.PENDING)
    provider_transaction_id: Mapped[str | None] = mapped_column(String(64))
    # The provider is asked to stop taking money then; the expiry job calls `expire_payment`.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def is_payable(self) -> bool:
        return self.status in PaymentStatus.payable()


class PaymentNotice(Model):
    """One notice from a provider, as received and verified; never edited. The same notice
    (provider, notice id) is stored once however often it is delivered."""

    __tablename__ = "payment_notices"
    __table_args__ = (
        CheckConstraint(enum_check("provider", PROVIDERS), name="provider"),
        CheckConstraint(enum_check("status", tuple(NoticeStatus)), name="status"),
        CheckConstraint(enum_check("outcome", tuple(NoticeOutcome)), name="outcome"),
        UniqueConstraint("provider", "notice_id"),
        Index("ix_payment_notices_payment_id_id", "payment_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"))
    provider: Mapped[str] = mapped_column(String(10))
    notice_id: Mapped[str] = mapped_column(String(128))
    provider_transaction_id: Mapped[str] = mapped_column(String(64), default="")
    # What the notice said, not what we charged (they differ only on refused notices).
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(10))
    outcome: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    payment: Mapped[Payment] = relationship()


class PaymentRefund(Model):
    """Money to be paid back from one provider transaction, never edited. It is settled once an
    attempt succeeded or the provider took it on; until then it is open (`open_refunds`) and
    the `send_refund` job sends it."""

    __tablename__ = "payment_refunds"
    __table_args__ = (
        CheckConstraint(enum_check("provider", PROVIDERS), name="provider"),
        CheckConstraint(enum_check("reason", tuple(RefundReason)), name="reason"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        Index("ix_payment_refunds_payment_id_id", "payment_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"))
    # Ours, given to the provider (out_refund_no / out_request_no): asking twice pays once.
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    provider: Mapped[str] = mapped_column(String(10))
    provider_transaction_id: Mapped[str] = mapped_column(String(64))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(20))
    # The late or double notice that called for it, if one did.
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("payment_notices.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    payment: Mapped[Payment] = relationship()


class PaymentRefundAttempt(Model):
    """One try at sending a refund and the provider's answer, never edited."""

    __tablename__ = "payment_refund_attempts"
    __table_args__ = (
        CheckConstraint(enum_check("state", tuple(RefundState)), name="state"),
        Index("ix_payment_refund_attempts_refund_id_id", "refund_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    refund_id: Mapped[int] = mapped_column(ForeignKey("payment_refunds.id"))
    state: Mapped[str] = mapped_column(String(20))
    provider_refund_id: Mapped[str] = mapped_column(String(64), default="")
    message: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


make_append_only(PaymentNotice)
make_append_only(PaymentRefund)
make_append_only(PaymentRefundAttempt)
