"""A store's own shop at /shop/<brand>/s/<store code>/ (DESIGN §7, "Store shops and guides"):
its settings, its own prices and its consumers' carts.

- `StoreShop`: one per (brand, store): on or off, opening hours, address and map position, the
  stock location it sells from, whether the brand's warehouse may ship what the shelf lacks,
  and the store's receiver account at the payment provider (profit sharing).
- `StoreShopPrice`: the store's price of one product, a ledger: each change is a new row and
  the newest row is the price (`price_cents` None: back to the official price). Never edited,
  so "who set what, when" is the table itself.
- `StoreShopCartLine`: a consumer's cart in one store's shop, apart from the official cart
  (one cart per consumer and shop; grade A only, as the official tier sells).
"""

from __future__ import annotations

from datetime import datetime

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
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.catalog.models import Variant
from portal.core.db import BigId, TimestampMixin, UTCDateTime, make_append_only, utcnow
from portal.extensions import Model
from portal.inventory.models import Location
from portal.network.models import Organization


class StoreShop(TimestampMixin, Model):
    __tablename__ = "store_shops"
    __table_args__ = (
        UniqueConstraint("brand_id", "org_id"),
        CheckConstraint("latitude IS NULL OR latitude BETWEEN -90 AND 90", name="latitude"),
        CheckConstraint("longitude IS NULL OR longitude BETWEEN -180 AND 180", name="longitude"),
        Index("ix_store_shops_org_id", "org_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))  # the store
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))  # its shelf
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    hours: Mapped[str] = mapped_column(String(300), default="")
    address: Mapped[str] = mapped_column(String(255), default="")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    ship_from_warehouse: Mapped[bool] = mapped_column(Boolean, default=False)
    profit_share_account: Mapped[str] = mapped_column(String(64), default="")
    updated_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    brand: Mapped[Organization] = relationship(foreign_keys=[brand_id])
    org: Mapped[Organization] = relationship(foreign_keys=[org_id])
    location: Mapped[Location] = relationship()


class StoreShopPrice(Model):
    __tablename__ = "store_shop_prices"
    __table_args__ = (
        CheckConstraint("price_cents IS NULL OR price_cents > 0", name="price_cents"),
        Index(
            "ix_store_shop_prices_brand_id_org_id_product_id_id",
            "brand_id",
            "org_id",
            "product_id",
            "id",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    price_cents: Mapped[int | None] = mapped_column(BigInteger)  # None: the official price
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    # The floor when it was set: the page's history says why a price was accepted.
    floor_cents: Mapped[int | None] = mapped_column(BigInteger)
    set_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


make_append_only(StoreShopPrice)


class StoreShopCartLine(TimestampMixin, Model):
    __tablename__ = "store_shop_cart_lines"
    __table_args__ = (
        UniqueConstraint("consumer_id", "org_id", "variant_id"),
        CheckConstraint("qty > 0", name="qty"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))  # whose shop
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    qty: Mapped[int] = mapped_column(Integer)

    variant: Mapped[Variant] = relationship()
