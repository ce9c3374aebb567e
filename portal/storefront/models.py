"""What the consumer side stores: SKU tiers and their history, which locations sell online,
consumers and their sign-in, carts, and consumer orders with their lines and timeline.

Consumer orders are their own tables, not B2B `orders` rows: they have a person instead of a
buyer org, a payment instead of an account, and a pickup or a delivery instead of a receipt.
Their units still move only through the one stock ledger (`portal.inventory.ledger`), with the
order number as the moves' reference, so B2B and consumer orders share one pool.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import JSON

from portal.catalog.models import Variant
from portal.core.db import BigId, TimestampMixin, UTCDateTime, enum_check, make_append_only, utcnow
from portal.extensions import Model
from portal.inventory.models import Location
from portal.network.models import Organization


class Tier(enum.StrEnum):
    """The three storefronts of a brand, from the top (DESIGN §7)."""

    OFFICIAL = "official"  # anyone: new season, full price
    OUTLET = "outlet"  # members: aged stock at a discount
    EMPLOYEE = "employee"  # employees and invited friends: lowest prices, grade-B stock


class TierMove(Model):
    """One move of one SKU to a tier, never edited: a SKU's tier is its latest move (no move
    at all: official). HQ moves and pins by hand; the aging job moves what is not pinned."""

    __tablename__ = "sku_tier_moves"
    __table_args__ = (
        CheckConstraint(enum_check("tier", tuple(Tier)), name="tier"),
        Index("ix_sku_tier_moves_variant_id_id", "variant_id", "id"),
        # HQ's page of the nightly runs reads a brand's latest moves.
        Index("ix_sku_tier_moves_brand_id_created_at", "brand_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    tier: Mapped[str] = mapped_column(String(20))
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(String(40))  # "hq", "aging", ... (who decided, and why)
    note: Mapped[str] = mapped_column(String(500), default="")
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    variant: Mapped[Variant] = relationship()


make_append_only(TierMove)


class SkuTier(Model):
    """A SKU's current tier: its latest `TierMove`, kept beside the ledger in the same
    transaction (as a stock level beside its moves) so a listing reads one indexed row."""

    __tablename__ = "sku_tiers"
    __table_args__ = (
        CheckConstraint(enum_check("tier", tuple(Tier)), name="tier"),
        Index("ix_sku_tiers_brand_id_tier", "brand_id", "tier"),
    )

    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"), primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    tier: Mapped[str] = mapped_column(String(20))
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    move_id: Mapped[int] = mapped_column(ForeignKey("sku_tier_moves.id"))
    moved_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OnlineLocation(TimestampMixin, Model):
    """A location that sells a brand online: the brand's warehouses and the stores HQ enables,
    each for pickup and/or delivery, keeping `safety_stock` units of every SKU back from online
    so the last ones stay for walk-in customers."""

    __tablename__ = "online_locations"
    __table_args__ = (
        UniqueConstraint("brand_id", "location_id"),
        CheckConstraint("safety_stock >= 0", name="safety_stock"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    pickup: Mapped[bool] = mapped_column(Boolean, default=False)
    delivery: Mapped[bool] = mapped_column(Boolean, default=False)
    safety_stock: Mapped[int] = mapped_column(Integer, default=0)
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    enabled_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    location: Mapped[Location] = relationship()


# -- consumers -----------------------------------------------------------------------------------


class ConsumerStatus(enum.StrEnum):
    ACTIVE = "active"
    DELETED = "deleted"  # erased on request (PIPL): the row stays for its orders, the person not


class Consumer(TimestampMixin, Model):
    """A person who buys from a brand's storefronts: their own principal, per brand. Signed in by
    mobile number and a one-time code, or by e-mail and password."""

    __tablename__ = "consumers"
    __table_args__ = (
        UniqueConstraint("brand_id", "phone"),
        UniqueConstraint("brand_id", "email"),
        CheckConstraint(enum_check("status", tuple(ConsumerStatus)), name="status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    phone: Mapped[str | None] = mapped_column(String(20))  # E.164, +8613800138000
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(120), default="")
    locale: Mapped[str] = mapped_column(String(10), default="zh_Hans_CN")
    status: Mapped[str] = mapped_column(String(20), default=ConsumerStatus.ACTIVE)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The membership this account belongs to (portal/members): one member may hold accounts at
    # several brands of a group sharing one program. None: not (yet) a member.
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)

    brand: Mapped[Organization] = relationship()
    addresses: Mapped[list[ConsumerAddress]] = relationship(
        back_populates="consumer", cascade="all, delete-orphan", order_by="ConsumerAddress.id"
    )


class ConsumerAddress(TimestampMixin, Model):
    __tablename__ = "consumer_addresses"
    __table_args__ = (
        CheckConstraint("latitude IS NULL OR latitude BETWEEN -90 AND 90", name="latitude"),
        CheckConstraint("longitude IS NULL OR longitude BETWEEN -180 AND 180", name="longitude"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"), index=True)
    recipient: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str] = mapped_column(String(20))
    province: Mapped[str] = mapped_column(String(40))
    city: Mapped[str] = mapped_column(String(40))
    district: Mapped[str] = mapped_column(String(40), default="")
    line: Mapped[str] = mapped_column(String(255))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)

    consumer: Mapped[Consumer] = relationship(back_populates="addresses")


class SignInCode(Model):
    """A one-time code sent to a mobile number: stored hashed, expiring, a few tries each."""

    __tablename__ = "consumer_sign_in_codes"
    __table_args__ = (Index("ix_consumer_sign_in_codes_brand_id_phone", "brand_id", "phone", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    phone: Mapped[str] = mapped_column(String(20))
    code_hash: Mapped[str] = mapped_column(String(128))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    requested_from: Mapped[str] = mapped_column(String(64), default="")  # the client's address


class ConsumerSession(Model):
    """A consumer's signed-in session (browser cookie or API token): revocable server-side."""

    __tablename__ = "consumer_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(10), default="web")  # web | api
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    consumer: Mapped[Consumer] = relationship()


# -- carts and orders ----------------------------------------------------------------------------


class ConsumerCart(TimestampMixin, Model):
    """A consumer's cart in one storefront. Prices are not stored: resolved when shown and at
    checkout."""

    __tablename__ = "consumer_carts"
    __table_args__ = (
        UniqueConstraint("consumer_id", "tier"),
        CheckConstraint(enum_check("tier", tuple(Tier)), name="tier"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"))
    tier: Mapped[str] = mapped_column(String(20))

    lines: Mapped[list[ConsumerCartLine]] = relationship(
        back_populates="cart", cascade="all, delete-orphan", order_by="ConsumerCartLine.id"
    )


class ConsumerCartLine(Model):
    __tablename__ = "consumer_cart_lines"
    __table_args__ = (
        UniqueConstraint("cart_id", "variant_id", "grade"),
        CheckConstraint("qty > 0", name="qty"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("consumer_carts.id", ondelete="CASCADE"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    grade: Mapped[str] = mapped_column(String(1), default="A")
    qty: Mapped[int] = mapped_column(Integer)

    cart: Mapped[ConsumerCart] = relationship(back_populates="lines")
    variant: Mapped[Variant] = relationship()


class Fulfilment(enum.StrEnum):
    PICKUP = "pickup"  # the consumer collects at a store, against a pickup code
    DELIVERY = "delivery"  # shipped from a store or the warehouse


class DeliveryMethod(enum.StrEnum):
    """How a delivery order travels (None on pickup orders)."""

    PARCEL = "parcel"  # a carrier with a tracking number
    SAME_CITY = "same_city"  # a courier from a store within SAME_CITY_MAX_KM (couriers.py)


class ConsumerOrderStatus(enum.StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"  # units reserved; expires unpaid
    PAID = "paid"  # waiting for the fulfilling location to accept
    PREPARING = "preparing"  # accepted: being picked and packed
    READY_FOR_PICKUP = "ready_for_pickup"
    SHIPPED = "shipped"
    COMPLETED = "completed"  # handed over, or delivered
    CANCELLED = "cancelled"  # before payment, or expired unpaid
    REFUNDED = "refunded"  # cancelled after payment: the money went back


class ConsumerOrder(TimestampMixin, Model):
    """One consumer's order in one storefront, fulfilled by one location. The person's contact
    and address are copied in at checkout (a later edit of the address book changes no order),
    and blanked when the person is erased."""

    __tablename__ = "consumer_orders"
    __table_args__ = (
        CheckConstraint(enum_check("status", tuple(ConsumerOrderStatus)), name="status"),
        CheckConstraint(enum_check("tier", tuple(Tier)), name="tier"),
        CheckConstraint(enum_check("fulfilment", tuple(Fulfilment)), name="fulfilment"),
        CheckConstraint(
            enum_check("delivery_method", tuple(DeliveryMethod)), name="delivery_method"
        ),
        UniqueConstraint("consumer_id", "checkout_token"),
        UniqueConstraint("brand_id", "pickup_code"),
        CheckConstraint(
            "discount_cents >= 0 AND points_used >= 0 AND points_cents >= 0"
            " AND wallet_cents >= 0 AND pay_cents >= 0",
            name="spend_not_negative",
        ),
        Index("ix_consumer_orders_consumer_id_id", "consumer_id", "id"),
        Index("ix_consumer_orders_member_id_id", "member_id", "id"),
        Index("ix_consumer_orders_location_id_status", "location_id", "status"),
        Index("ix_consumer_orders_status_expires_at", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    consumer_id: Mapped[int | None] = mapped_column(ForeignKey("consumers.id"))
    tier: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(30), default=ConsumerOrderStatus.AWAITING_PAYMENT)
    fulfilment: Mapped[str] = mapped_column(String(20))
    delivery_method: Mapped[str | None] = mapped_column(String(20))  # delivery orders only
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))  # fulfils; holds units
    # A retried checkout (a double tap, a lost answer) sends the same token: one order.
    checkout_token: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    goods_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    delivery_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    discount_cents: Mapped[int] = mapped_column(BigInteger, default=0)  # coupons
    # goods + delivery - discount: what the order costs, however it is paid
    total_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    points_used: Mapped[int] = mapped_column(BigInteger, default=0)  # redeemed points...
    points_cents: Mapped[int] = mapped_column(BigInteger, default=0)  # ...and what they paid
    wallet_cents: Mapped[int] = mapped_column(BigInteger, default=0)  # paid from stored value
    # total - points - wallet: what the payment provider collects (0: no provider payment)
    pay_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    # Paid back so far, however it went (provider, wallet, points): returns, a refunded fee,
    # and the rest of the order when it is called off (orders.refund_money keeps it).
    refunded_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    # the buyer's membership, if any (portal/members), and the private sale it was bought in
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("private_sales.id"))
    # Sold through a store's own shop (that store), or placed by store staff for a walk-in
    # customer (that person): who sold it, for the guides' attribution and the split.
    shop_org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    placed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    total_qty: Mapped[int] = mapped_column(Integer, default=0)
    contact_name: Mapped[str] = mapped_column(String(120), default="")
    contact_phone: Mapped[str] = mapped_column(String(20), default="")
    address: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # delivery only
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    pickup_code: Mapped[str | None] = mapped_column(String(12))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # unpaid by then: cancel
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Held by a layer above until it releases the order (a group buy waiting to fill): paid and
    # holding its units, but no store may accept it and no accept clock runs; the clocks of a
    # released order run from `released_at` (the later of it and the payment).
    on_hold: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_reason: Mapped[str] = mapped_column(String(200), default="")
    carrier: Mapped[str] = mapped_column(String(60), default="")
    tracking_number: Mapped[str] = mapped_column(String(60), default="")

    brand: Mapped[Organization] = relationship(foreign_keys=[brand_id])
    consumer: Mapped[Consumer | None] = relationship()
    location: Mapped[Location] = relationship()
    lines: Mapped[list[ConsumerOrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="ConsumerOrderLine.id"
    )
    events: Mapped[list[ConsumerOrderEvent]] = relationship(
        back_populates="order", order_by="ConsumerOrderEvent.id"
    )
    dispatches: Mapped[list[CourierDispatch]] = relationship(
        back_populates="order", order_by="CourierDispatch.id"
    )


class ConsumerOrderLine(Model):
    __tablename__ = "consumer_order_lines"
    __table_args__ = (CheckConstraint("qty > 0", name="qty"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("consumer_orders.id"), index=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    grade: Mapped[str] = mapped_column(String(1), default="A")
    qty: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(BigInteger)
    line_cents: Mapped[int] = mapped_column(BigInteger)
    # The line's share of the order's coupon discount: a returned unit refunds what it cost after
    # it (returns.py), rounded down to the fen.
    discount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    price_rule_id: Mapped[int | None] = mapped_column(ForeignKey("policy_rules.id"))  # why

    order: Mapped[ConsumerOrder] = relationship(back_populates="lines")
    variant: Mapped[Variant] = relationship()


class ConsumerOrderEvent(Model):
    """The order's timeline: every status change and hand-over, never edited."""

    __tablename__ = "consumer_order_events"
    __table_args__ = (Index("ix_consumer_order_events_order_id_id", "order_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("consumer_orders.id"))
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    kind: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str] = mapped_column(String(30), default="")
    to_status: Mapped[str] = mapped_column(String(30), default="")
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # store staff, HQ
    by_consumer: Mapped[bool] = mapped_column(Boolean, default=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    order: Mapped[ConsumerOrder] = relationship(back_populates="events")


make_append_only(ConsumerOrderEvent)


class RouteOutcome(enum.StrEnum):
    OFFERED = "offered"  # waiting for the location to accept
    ACCEPTED = "accepted"
    DECLINED = "declined"  # the location said it cannot
    TIMED_OUT = "timed_out"  # not accepted in time: the order moves on to the next location


class ConsumerOrderRoute(Model):
    """Each location an order was offered to, in turn, and how that ended: re-routing skips the
    locations already tried, and HQ sees why an order went where it did."""

    __tablename__ = "consumer_order_routes"
    __table_args__ = (
        CheckConstraint(enum_check("outcome", tuple(RouteOutcome)), name="outcome"),
        Index("ix_consumer_order_routes_order_id_id", "order_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("consumer_orders.id"))
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    distance_km: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(20), default=RouteOutcome.OFFERED)
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DispatchStatus(enum.StrEnum):
    DISPATCHED = "dispatched"  # a courier is on the way or has the parcel
    CANCELLED = "cancelled"


class CourierDispatch(Model):
    """One courier sent for a same-city order (portal/storefront/couriers.py): which backend,
    its id for the dispatch, who the courier is, and how it ended. A cancelled dispatch stays;
    a new one is another row."""

    __tablename__ = "courier_dispatches"
    __table_args__ = (
        CheckConstraint(enum_check("status", tuple(DispatchStatus)), name="status"),
        UniqueConstraint("backend", "dispatch_ref"),
        Index("ix_courier_dispatches_order_id_id", "order_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("consumer_orders.id"))
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))  # picked up from
    backend: Mapped[str] = mapped_column(String(30))
    dispatch_ref: Mapped[str] = mapped_column(String(64))  # the backend's id for it
    courier_name: Mapped[str] = mapped_column(String(60), default="")
    courier_phone: Mapped[str] = mapped_column(String(20), default="")
    distance_km: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), default=DispatchStatus.DISPATCHED)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # who sent it
    dispatched_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    order: Mapped[ConsumerOrder] = relationship(back_populates="dispatches")


# -- the shops' look -----------------------------------------------------------------------------


class StorefrontSettings(TimestampMixin, Model):
    """A brand's shops' own look: title, two colours and a logo. Served as a small generated
    stylesheet (the CSP allows no inline style); no row: the portal's default look."""

    __tablename__ = "storefront_settings"
    __table_args__ = (
        CheckConstraint(
            "length(primary_color) = 7 AND substr(primary_color, 1, 1) = '#'",
            name="primary_color",
        ),
        CheckConstraint(
            "length(accent_color) = 7 AND substr(accent_color, 1, 1) = '#'",
            name="accent_color",
        ),
    )

    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    title: Mapped[str] = mapped_column(String(120), default="")
    primary_color: Mapped[str] = mapped_column(String(7), default="#1f2937")  # #rrggbb
    accent_color: Mapped[str] = mapped_column(String(7), default="#b91c1c")
    logo_path: Mapped[str | None] = mapped_column(String(255))  # relative to instance/
