from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.core.db import BigId, TimestampMixin, UTCDateTime, enum_check, make_append_only
from portal.extensions import Model
from portal.network.models import ChannelLink, Organization


class EntryKind(enum.StrEnum):
    INVOICE = "invoice"  # goods shipped: the buyer owes more
    PAYMENT = "payment"  # recorded by the supplier: the buyer owes less
    CREDIT_NOTE = "credit_note"  # goods returned: the buyer owes less
    ADJUSTMENT = "adjustment"  # a correction either way, with a required note
    # A consumer sale's share for the buyer (a store), from the split of the order's money
    # (portal/guides/split.py): negative when the store earned it (it owes less), positive
    # when a refund takes it back.
    SETTLEMENT = "settlement"


class Account(TimestampMixin, Model):
    """The buyer's account with its supplier for one brand: one per channel link. Its row is
    locked while an order checks credit, so two orders of one buyer are checked in turn."""

    __tablename__ = "accounts"
    __table_args__ = (CheckConstraint("committed_cents >= 0", name="committed_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    link_id: Mapped[int] = mapped_column(ForeignKey("channel_links.id"), unique=True)
    buyer_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    supplier_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    # Open orders not yet invoiced: money promised but not owed yet. A running sum like stock's
    # `reserved`, moved by ordering (submit adds, shipment / cancel / reject take away) so the
    # credit check needs no scan of the orders.
    committed_cents: Mapped[int] = mapped_column(BigInteger, default=0)

    link: Mapped[ChannelLink] = relationship()
    buyer: Mapped[Organization] = relationship(foreign_keys=[buyer_org_id])
    supplier: Mapped[Organization] = relationship(foreign_keys=[supplier_org_id])


class AccountEntry(TimestampMixin, Model):
    """One movement of money on an account, never edited or deleted. Positive amounts raise what
    the buyer owes (invoices), negative ones lower it (payments, credit notes)."""

    __tablename__ = "account_entries"
    __table_args__ = (
        CheckConstraint(enum_check("kind", tuple(EntryKind)), name="kind"),
        CheckConstraint(
            "(kind = 'invoice' AND amount_cents > 0) OR "
            "(kind IN ('payment', 'credit_note') AND amount_cents < 0) OR "
            "(kind IN ('adjustment', 'settlement') AND amount_cents <> 0)",
            name="amount_sign",
        ),
        Index("ix_account_entries_account_id_id", "account_id", "id"),
        Index("ix_account_entries_reference", "reference"),
        # One payment per bank reference on an account, whatever races the application loses.
        Index(
            "uq_account_entries_payment_reference",
            "account_id",
            "reference",
            unique=True,
            postgresql_where=text("kind = 'payment'"),
            sqlite_where=text("kind = 'payment'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    kind: Mapped[str] = mapped_column(String(20))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # what it is for: "shipment:12", "return:4", or the payment's bank reference
    reference: Mapped[str] = mapped_column(String(80), default="")
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    note: Mapped[str] = mapped_column(String(500), default="")
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))

    account: Mapped[Account] = relationship()


make_append_only(AccountEntry)
