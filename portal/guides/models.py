"""Shopping guides (导购), what they bring in, what they earn, and how each consumer sale's money
divides (DESIGN §7, "Store shops and guides").

- `Guide`: a person of a store (or HQ) who sells for a brand, known to consumers by a code.
- `GuideVisit`: a consumer (or a not-yet-signed-in browser) opened a guide's signed link.
- `GuideBinding`: a consumer is a guide's customer for a while (the brand's binding mode).
- `Attribution`: which guide a consumer order or a till sale counts for, and by which rule.
- `CommissionEntry`: the commission ledger, append-only like stock and points: an earning is
  pending until `matures_at` (the return window), a return writes a reversal; a settlement names
  the entries it took in `CommissionSettled` (insert-only), never by editing them.
- `CommissionStatement`: a month's commission per guide and per store, which HQ approves.
- `OrderSplit`: how a paid consumer order's money divides between the brand, the fulfilling
  store, the guide's store and the payment fee; a refund adds negative rows.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.core.db import BigId, TimestampMixin, UTCDateTime, enum_check, make_append_only, utcnow
from portal.extensions import Model
from portal.network.models import Organization, User


class GuideStatus(enum.StrEnum):
    ACTIVE = "active"
    STOPPED = "stopped"  # left the store, or stopped by the owner: attributes nothing new


class GuideKind(enum.StrEnum):
    """A guide sells and is credited with sales; the other kinds are sharers (HQ's community
    operators, stylists, customer service): their links record views and the sales that follow
    for their own figures, but never attribute a sale, bind a customer or earn commission
    (attribution.py). A sharer earns only what HQ sets as a task reward (portal/campaigns)."""

    GUIDE = "guide"
    COMMUNITY_OPERATOR = "community_operator"
    STYLIST = "stylist"
    CUSTOMER_SERVICE = "customer_service"


SHARER_KINDS = tuple(k for k in GuideKind if k != GuideKind.GUIDE)


class Guide(TimestampMixin, Model):
    """One person selling one brand for one org (a store; HQ's own people are guides of the
    brand org). `code` is what a consumer types at checkout and what a link carries. `kind`
    other than "guide": a sharer (GuideKind)."""

    __tablename__ = "guides"
    __table_args__ = (
        UniqueConstraint("brand_id", "org_id", "user_id"),
        CheckConstraint(enum_check("status", tuple(GuideStatus)), name="status"),
        CheckConstraint(enum_check("kind", tuple(GuideKind)), name="kind"),
        Index("ix_guides_org_id", "org_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))  # the guide's store
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    code: Mapped[str] = mapped_column(String(12), unique=True)  # upper-case letters and digits
    status: Mapped[str] = mapped_column(String(20), default=GuideStatus.ACTIVE)
    kind: Mapped[str] = mapped_column(
        String(20), default=GuideKind.GUIDE, server_default=GuideKind.GUIDE.value
    )  # the server's default too: rows written by SQL alone (bulk loads) are guides

    brand: Mapped[Organization] = relationship(foreign_keys=[brand_id])
    org: Mapped[Organization] = relationship(foreign_keys=[org_id])
    user: Mapped[User] = relationship()

    @property
    def is_active(self) -> bool:
        return self.status == GuideStatus.ACTIVE

    @property
    def is_sharer(self) -> bool:
        return self.kind != GuideKind.GUIDE


class LinkTarget(enum.StrEnum):
    """What a guide's link opens."""

    HOME = "home"  # the brand's official store
    PRODUCT = "product"  # ref: the product code
    SHOP = "shop"  # ref: the store code (a store's own shop)
    EVENT = "event"  # ref: the private sale's code
    COUPON = "coupon"  # ref: the coupon template's share code
    LIVE = "live"  # ref: a live event's code (portal/campaigns)
    GROUP_BUY = "group_buy"  # ref: a group buy's code (portal/campaigns)
    RED_PACKET = "red_packet"  # ref: a red packet's code (portal/campaigns)


class GuideVisit(Model):
    """One opening of a guide's (correctly signed, unexpired) link. `visitor` is the browser's
    own random id (a long-lived cookie), so a visit made before signing in still counts once the
    same browser checks out; `consumer_id` is set when the visitor was signed in."""

    __tablename__ = "guide_visits"
    __table_args__ = (
        CheckConstraint(enum_check("target", tuple(LinkTarget)), name="target"),
        Index(
            "ix_guide_visits_brand_id_consumer_id_opened_at", "brand_id", "consumer_id", "opened_at"
        ),  # fmt: skip
        Index("ix_guide_visits_brand_id_visitor_opened_at", "brand_id", "visitor", "opened_at"),
        Index("ix_guide_visits_guide_id_opened_at", "guide_id", "opened_at"),
        # A campaign's reach and an event's openings: the visits of one thing's links.
        Index(
            "ix_guide_visits_brand_id_target_ref_opened_at",
            "brand_id",
            "target",
            "ref",
            "opened_at",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    guide_id: Mapped[int] = mapped_column(ForeignKey("guides.id"))
    consumer_id: Mapped[int | None] = mapped_column(ForeignKey("consumers.id"))
    visitor: Mapped[str] = mapped_column(String(40), default="")
    target: Mapped[str] = mapped_column(String(20))
    ref: Mapped[str] = mapped_column(String(64), default="")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    guide: Mapped[Guide] = relationship()


class BindingMode(enum.StrEnum):
    """How a consumer becomes a guide's customer (the brand's setting, in policy)."""

    NONE = "none"
    FIRST_PURCHASE = "first_purchase"  # their first order bought through a guide's link
    FIRST_VISIT = "first_visit"  # the first guide link they open
    REGISTRATION = "registration"  # a guide's code given when they sign up or join


class GuideBinding(Model):
    """A consumer bound to a guide from `bound_at` until `expires_at` (None: no end) or until
    `ended_at` (a later binding replaced it, or the guide stopped). One open binding per consumer
    and brand; the history stays."""

    __tablename__ = "guide_bindings"
    __table_args__ = (
        CheckConstraint(enum_check("mode", tuple(BindingMode)), name="mode"),
        Index("ix_guide_bindings_brand_id_consumer_id", "brand_id", "consumer_id"),
        Index("ix_guide_bindings_guide_id", "guide_id"),
        # One open binding per consumer and brand, whatever races the application loses.
        Index(
            "uq_guide_bindings_open",
            "brand_id",
            "consumer_id",
            unique=True,
            postgresql_where=text("ended_at IS NULL"),
            sqlite_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"))
    guide_id: Mapped[int] = mapped_column(ForeignKey("guides.id"))
    mode: Mapped[str] = mapped_column(String(20))
    bound_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    guide: Mapped[Guide] = relationship()


class AttributionRule(enum.StrEnum):
    """Which rule found the guide, in the order they are tried."""

    CODE = "code"  # a guide code entered at checkout (or sent by the till)
    LINK = "link"  # the last guide link opened within the window
    BINDING = "binding"  # the consumer's bound guide
    STAFF = "staff"  # placed by the guide in the store for a walk-in customer (endless aisle)


class Attribution(Model):
    """The guide one consumer order or one till sale counts for. Written once, when the order is
    placed (or the sale reported); an order with no guide has no row. `own_purchase`: the guide
    bought for themself (earns nothing unless the brand allows)."""

    __tablename__ = "guide_attributions"
    __table_args__ = (
        CheckConstraint(enum_check("rule", tuple(AttributionRule)), name="rule"),
        CheckConstraint("(consumer_order_id IS NULL) <> (pos_sale_id IS NULL)", name="one_sale"),
        UniqueConstraint("consumer_order_id"),
        UniqueConstraint("pos_sale_id"),
        Index("ix_guide_attributions_guide_id_created_at", "guide_id", "created_at"),
        Index("ix_guide_attributions_brand_id_created_at", "brand_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))  # the selling brand
    guide_id: Mapped[int] = mapped_column(ForeignKey("guides.id"))
    guide_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))  # the guide's store
    consumer_order_id: Mapped[int | None] = mapped_column(ForeignKey("consumer_orders.id"))
    pos_sale_id: Mapped[int | None] = mapped_column(ForeignKey("member_pos_sales.id"))
    rule: Mapped[str] = mapped_column(String(20))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("guide_visits.id"))
    binding_id: Mapped[int | None] = mapped_column(ForeignKey("guide_bindings.id"))
    own_purchase: Mapped[bool] = mapped_column(Boolean, default=False)
    earns: Mapped[bool] = mapped_column(Boolean, default=True)  # False: own purchase, not allowed
    # The commission this sale carries, counted once when it is placed under the selling brand's
    # terms then in force (guides/rates.py): what completion earns and what the split gives the
    # guide's store, less what is refunded later in proportion. 0 when it does not earn.
    basis_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    commission_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    guide: Mapped[Guide] = relationship()


class CommissionKind(enum.StrEnum):
    EARN = "earn"  # a paid order or till sale: pending until matures_at (positive)
    NEW_MEMBER = "new_member"  # the bonus for a member the guide signed up (positive)
    REVERSE = "reverse"  # goods came back or the order was refunded (negative)
    ADJUST = "adjust"  # HQ's correction with a note (either sign)
    REWARD = "reward"  # a campaign task's reward, written when the task closes (positive)


class CommissionEntry(Model):
    """One movement of a guide's commission, never changed or deleted. `reference` makes each
    earning and reversal happen once ("O<order id>", "O<order id>-<refund ref>", "P<sale id>",
    "M<member id>"). An entry counts in the first settlement after it matures."""

    __tablename__ = "commission_entries"
    __table_args__ = (
        CheckConstraint(enum_check("kind", tuple(CommissionKind)), name="kind"),
        CheckConstraint(
            "(kind IN ('earn', 'new_member', 'reward') AND amount_cents > 0) OR "
            "(kind = 'reverse' AND amount_cents < 0) OR "
            "(kind = 'adjust' AND amount_cents <> 0)",
            name="amount_sign",
        ),
        UniqueConstraint("guide_id", "kind", "reference"),
        Index("ix_commission_entries_brand_id_matures_at", "brand_id", "matures_at"),
        Index("ix_commission_entries_guide_id_created_at", "guide_id", "created_at"),
        Index("ix_commission_entries_org_id_created_at", "org_id", "created_at"),
        Index("ix_commission_entries_attribution_id", "attribution_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))  # whose rules, who pays
    guide_id: Mapped[int] = mapped_column(ForeignKey("guides.id"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))  # the guide's store
    kind: Mapped[str] = mapped_column(String(20))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    reference: Mapped[str] = mapped_column(String(80))
    attribution_id: Mapped[int | None] = mapped_column(ForeignKey("guide_attributions.id"))
    basis_cents: Mapped[int] = mapped_column(BigInteger, default=0)  # the sale it was counted on
    matures_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    note: Mapped[str] = mapped_column(String(300), default="")
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StatementStatus(enum.StrEnum):
    DRAFT = "draft"  # made by the month-end job: HQ checks it
    APPROVED = "approved"  # HQ agreed: to be paid
    PAID = "paid"  # HQ recorded the payment


class StatementParty(enum.StrEnum):
    GUIDE = "guide"
    STORE = "store"


class CommissionStatement(TimestampMixin, Model):
    """A month's commission for one guide, or for one store (the sum of its guides'). Made by
    the month-end settlement job from the entries that matured by the month's end and were not
    in an earlier statement; one per (brand, period, party)."""

    __tablename__ = "commission_statements"
    __table_args__ = (
        CheckConstraint(enum_check("status", tuple(StatementStatus)), name="status"),
        CheckConstraint(enum_check("party", tuple(StatementParty)), name="party"),
        CheckConstraint(
            "(party = 'guide') = (guide_id IS NOT NULL)", name="guide_statement_names_guide"
        ),
        # One statement per guide and per store a month (a guide's: org and guide; a store's:
        # org, guide_id empty), whatever races two runs of the job lose.
        Index(
            "uq_commission_statements_guide",
            "brand_id",
            "period",
            "guide_id",
            unique=True,
            postgresql_where=text("guide_id IS NOT NULL"),
            sqlite_where=text("guide_id IS NOT NULL"),
        ),
        Index(
            "uq_commission_statements_store",
            "brand_id",
            "period",
            "org_id",
            unique=True,
            postgresql_where=text("guide_id IS NULL"),
            sqlite_where=text("guide_id IS NULL"),
        ),
        Index("ix_commission_statements_org_id_period", "org_id", "period"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    period: Mapped[str] = mapped_column(String(7))  # "2026-11"
    party: Mapped[str] = mapped_column(String(10))
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    guide_id: Mapped[int | None] = mapped_column(ForeignKey("guides.id"))
    amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    entries: Mapped[int] = mapped_column(Integer, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    status: Mapped[str] = mapped_column(String(20), default=StatementStatus.DRAFT)
    approved_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paid_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paid_reference: Mapped[str] = mapped_column(String(80), default="")

    org: Mapped[Organization] = relationship(foreign_keys=[org_id])
    guide: Mapped[Guide | None] = relationship()


class CommissionSettled(Model):
    """Which guide statement took which entry: written once per entry, so an entry is never paid
    twice and the ledger itself stays untouched."""

    __tablename__ = "commission_settled"

    entry_id: Mapped[int] = mapped_column(ForeignKey("commission_entries.id"), primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("commission_statements.id"), index=True)


class SplitParty(enum.StrEnum):
    BRAND = "brand"  # its price to the store for goods from the brand's stock
    FULFILLING_STORE = "fulfilling_store"  # the store whose stock (or service) filled the order
    GUIDE_STORE = "guide_store"  # the commission, to the store of the guide who sold
    PAYMENT_FEE = "payment_fee"  # what the payment provider keeps


class OrderSplit(Model):
    """One party's share of a consumer order's money. Written when the order is paid (`kind`
    "sale"); a refund writes "refund" rows that take back each share in proportion. Append-only:
    the order's current division is the sum of its rows per party. `account_entry_id` is the
    entry it was posted as on the party's channel-link account (stores only)."""

    __tablename__ = "order_splits"
    __table_args__ = (
        CheckConstraint(enum_check("party", tuple(SplitParty)), name="party"),
        CheckConstraint("kind IN ('sale', 'refund')", name="kind"),
        UniqueConstraint("consumer_order_id", "party", "reference"),
        Index("ix_order_splits_brand_id_created_at", "brand_id", "created_at"),
        Index("ix_order_splits_org_id_created_at", "org_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    consumer_order_id: Mapped[int] = mapped_column(ForeignKey("consumer_orders.id"))
    party: Mapped[str] = mapped_column(String(20))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))  # None: the fee
    kind: Mapped[str] = mapped_column(String(10))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    reference: Mapped[str] = mapped_column(String(80))  # "paid", or the refund's reference
    account_entry_id: Mapped[int | None] = mapped_column(ForeignKey("account_entries.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


for _ledger in (CommissionEntry, CommissionSettled, OrderSplit, Attribution, GuideVisit):
    make_append_only(_ledger)
