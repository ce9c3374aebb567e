"""The endless aisle (DESIGN §7): store staff order, for a walk-in customer, a size the shelf
lacks: found by phone (an account is made for a new number), any SKU of the official tier,
delivered to an address typed in (with its map position) or picked up at another store,
routed as any online order is. The order carries the staff member (`placed_by_user_id`, which
the guides' attribution reads) and the store, when its own shop is on (`shop_org_id`: its prices
and its share of the split); the customer pays on their phone from the pay page's link.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.catalog.models import Variant
from portal.core.access import Actor, OrgKind, Permission
from portal.core.errors import NotFound, ValidationFailed
from portal.extensions import db
from portal.inventory.models import Location
from portal.network.models import Organization, OrgStatus
from portal.storefront import catalog, consumers, hooks, stock, store_shops
from portal.storefront.checkout import CheckoutLine, checkout
from portal.storefront.consumer_fields import normalize_phone
from portal.storefront.models import (
    Consumer,
    ConsumerOrder,
    Fulfilment,
    OnlineLocation,
    Tier,
)
from portal.storefront.words import say

MAX_NAME = 120


def staff_brand(actor: Actor, brand_code: str | None = None) -> Organization:
    """The brand a store's staff orders for: one the store sells (by code, else the first)."""
    actor.ensure(Permission.SHOP_FULFIL)
    if actor.org_kind != OrgKind.STORE or not actor.brand_ids:
        raise NotFound()
    brands = {
        brand.code: brand
        for brand in db.session.execute(
            select(Organization)
            .where(Organization.id.in_(actor.brand_ids))
            .order_by(Organization.id)
        ).scalars()
    }
    wanted = (brand_code or "").strip().upper()
    if wanted:
        if wanted not in brands:
            raise NotFound()
        return brands[wanted]
    return next(iter(brands.values()))


def find_or_make_consumer(brand: Organization, phone: str, name: str = "") -> Consumer:
    """The brand's consumer with this mobile number, or a new one (the name if given); the
    layers above hear of a new account as of any sign-up (no guide code: the staff member is
    credited through the order)."""
    number = normalize_phone(phone)
    name = (name or "").strip()
    if len(name) > MAX_NAME:
        too_long = say(_l("At most %(count)d characters."), count=MAX_NAME)
        raise ValidationFailed(fields={"name": too_long})
    consumer = consumers.find_consumer_by_phone(brand, number)
    if consumer is not None:
        if name and not consumer.name:
            consumer.name = name
        return consumer
    consumer = Consumer(brand_id=brand.id, phone=number, name=name)
    db.session.add(consumer)
    db.session.flush()
    for listener in hooks.consumer_signed_up:
        listener(consumer, None)
    return consumer


@dataclass(frozen=True)
class AisleOrder:
    variant_id: int
    qty: int = 1
    fulfilment: str = Fulfilment.DELIVERY
    pickup_location_id: int | None = None
    address: dict[str, Any] | None = None  # recipient, phone, province, city, district, line,
    # latitude, longitude (as the storefront's address form takes them)
    checkout_token: str = ""


def place_for_walk_in(
    actor: Actor, brand: Organization, consumer: Consumer, wanted: AisleOrder
) -> ConsumerOrder:
    """Place the order for the customer: official tier, the store's prices when its shop is on,
    the units where the usual pickup choice or delivery routing says. Raises ValidationFailed
    naming the field (`phone`, `address.<field>`, `pickup_location_id`), InsufficientStock or
    CannotRoute naming what is short."""
    actor.ensure(Permission.SHOP_FULFIL)
    if actor.org_kind != OrgKind.STORE or brand.id not in actor.brand_ids:
        raise NotFound()
    if consumer.brand_id != brand.id:
        raise NotFound()
    address_id = None
    if wanted.fulfilment == Fulfilment.DELIVERY:
        data = dict(wanted.address or {})
        data["recipient"] = data.get("recipient") or consumer.name or consumer.phone or ""
        data["phone"] = data.get("phone") or consumer.phone or ""
        try:
            address_id = consumers.add_address(consumer, data).id
        except ValidationFailed as error:
            raise ValidationFailed(
                error.message, fields={f"address.{k}": v for k, v in error.fields.items()}
            ) from error
    shop_org_id = actor.org_id if store_shops.is_on(brand.id, actor.org_id) else None
    return checkout(
        consumer,
        brand,
        Tier.OFFICIAL,
        [CheckoutLine(wanted.variant_id, wanted.qty)],
        fulfilment=wanted.fulfilment,
        checkout_token=wanted.checkout_token or secrets.token_urlsafe(24),
        pickup_location_id=wanted.pickup_location_id,
        address_id=address_id,
        shop_org_id=shop_org_id,
        placed_by_user_id=actor.user_id,
    )


@dataclass(frozen=True)
class AisleSku:
    variant: Variant
    cents: int
    sellable: int  # units sellable online over every enabled location


def product_skus(
    brand: Organization, code: str, *, shop_org_id: int | None = None
) -> list[AisleSku]:
    """Every official SKU of a product with its price (the store's, when its shop is on) and
    the units sellable online; NotFound for a product the official tier does not sell."""
    product = catalog.find_active_product(brand.id, code or "")
    if product is None:
        raise NotFound()
    ids = list(
        db.session.execute(
            select(Variant.id).where(Variant.product_id == product.id).order_by(Variant.id)
        ).scalars()
    )
    prices = catalog.price_variants(brand.id, Tier.OFFICIAL, ids)
    shop = store_shops.find_shop(brand.id, shop_org_id) if shop_org_id is not None else None
    if shop is not None and store_shops.sells(shop):
        prices = store_shops.shop_prices(shop, prices)
    if not prices:
        raise NotFound()
    found = stock.availability(brand, list(prices))
    return [
        AisleSku(prices[i].variant, prices[i].cents, found[i].sellable) for i in ids if i in prices
    ]


@dataclass(frozen=True)
class PickupStore:
    location_id: int
    name: str
    address: str


def pickup_stores(brand: Organization) -> list[PickupStore]:
    """The brand's stores that hand over online orders, by name."""
    rows = db.session.execute(
        select(Location.id, Organization.name, Organization.address)
        .join(OnlineLocation, OnlineLocation.location_id == Location.id)
        .join(Organization, Organization.id == Location.org_id)
        .where(
            OnlineLocation.brand_id == brand.id,
            OnlineLocation.is_enabled.is_(True),
            OnlineLocation.pickup.is_(True),
            Organization.status == OrgStatus.ACTIVE,
        )
        .order_by(Organization.name)
    ).all()
    return [PickupStore(location_id, name, address or "") for location_id, name, address in rows]


def get_placed_order(actor: Actor, number: str) -> ConsumerOrder:
    """An order this staff member placed for a customer; any other is a 404."""
    order = db.session.execute(
        select(ConsumerOrder).where(
            ConsumerOrder.number == number,
            ConsumerOrder.placed_by_user_id == actor.user_id,
            ConsumerOrder.placed_by_user_id.is_not(None),
        )
    ).scalar_one_or_none()
    if order is None:
        raise NotFound()
    return order
