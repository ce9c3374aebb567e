"""A store's own shop (DESIGN §7): the owner switches it on and sets its hours, place and own
prices; consumers browse the official tier's goods this store (or, if the owner allows, the
brand's warehouse) can send, at the store's prices, and check out through the storefront's
checkout with `shop_org_id` (checkout.py holds the units here).

Prices: the store's price of a product (the newest `StoreShopPrice`), else the official price;
never below any of the product's SKUs' retail floor (policy). Setting a price below the floor
is refused naming the floor. What the shop lists: official-tier SKUs with a price that the
store's shelf can sell now (on hand - reserved - the online safety stock, if HQ set one for
the shelf), and, with `ship_from_warehouse`, what the brand's online warehouses can.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, select
from sqlalchemy.exc import IntegrityError

from portal.catalog.models import Product, ProductStatus, Variant
from portal.catalog.queries import VariantGrid, sort_sizes
from portal.core import audit
from portal.core.access import Actor, OrgKind, Permission
from portal.core.db import utcnow
from portal.core.errors import NotFound, PermissionDenied, ValidationFailed
from portal.core.money import to_cents
from portal.extensions import db
from portal.inventory.models import Grade, Location, StockLevel
from portal.inventory.services import default_location
from portal.network.models import ChannelLink, Organization, OrgStatus
from portal.storefront import catalog
from portal.storefront.catalog import LinePrice
from portal.storefront.geo import check_point
from portal.storefront.models import (
    Consumer,
    ConsumerOrder,
    ConsumerOrderStatus,
    OnlineLocation,
    SkuTier,
    Tier,
)
from portal.storefront.store_shop_models import StoreShop, StoreShopCartLine, StoreShopPrice
from portal.storefront.words import say, say_money

MAX_HOURS = 300
MAX_ADDRESS = 255
ACCOUNT = re.compile(r"[A-Za-z0-9@._\-]{1,64}\Z")
MAX_CART_LINES = 50
MAX_QTY = 99


# -- who the owner is --------------------------------------------------------------------------


def own_store(actor: Actor, brand_code: str | None = None) -> tuple[Organization, Organization]:
    """The brand and the store whose shop the actor runs: the actor's own org, which must be a
    store (an HQ or distributor user has no shop here: 404). A store selling for several brands
    picks one by code; the first by id otherwise."""
    actor.ensure(Permission.SHOP_SELL)
    if actor.org_kind != OrgKind.STORE or actor.org_id is None or not actor.brand_ids:
        raise NotFound()
    brands = list(
        db.session.execute(
            select(Organization)
            .where(Organization.id.in_(actor.brand_ids), Organization.status == OrgStatus.ACTIVE)
            .order_by(Organization.id)
        ).scalars()
    )
    wanted = (brand_code or "").strip().upper()
    brand = next((b for b in brands if b.code == wanted), None) if wanted else None
    if brand is None:
        if wanted or not brands:
            raise NotFound()
        brand = brands[0]
    store = db.session.execute(
        select(Organization).where(Organization.id == actor.org_id)
    ).scalar_one()
    return brand, store


def find_shop(brand_id: int, org_id: int) -> StoreShop | None:
    return db.session.execute(
        select(StoreShop).where(StoreShop.brand_id == brand_id, StoreShop.org_id == org_id)
    ).scalar_one_or_none()


def shop_for_owner(actor: Actor, brand: Organization, store: Organization) -> StoreShop:
    """The store's shop as its owner sees it: the saved one, or an unsaved one filled from the
    store's own address and map position. Another org's shop is a 404."""
    if actor.org_id != store.id and not actor.is_system:
        raise NotFound()
    shop = find_shop(brand.id, store.id)
    if shop is not None:
        return shop
    return StoreShop(
        brand_id=brand.id,
        org_id=store.id,
        location_id=default_location(store).id,
        is_enabled=False,
        hours="",
        address=store.address or "",
        latitude=store.latitude,
        longitude=store.longitude,
        ship_from_warehouse=False,
        profit_share_account="",
    )


def is_on(brand_id: int, org_id: int | None) -> bool:
    """Whether this store's own shop sells now."""
    if org_id is None:
        return False
    return sells(find_shop(brand_id, org_id))


def sells(shop: StoreShop | None) -> bool:
    """Whether this shop sells now: saved, switched on by its owner and not off by HQ."""
    return shop is not None and shop.is_enabled and not switched_off_by_hq(shop)


# -- the owner's settings ----------------------------------------------------------------------


@dataclass(frozen=True)
class ShopSettings:
    enabled: bool = False
    hours: str = ""
    address: str = ""
    latitude: Any = ""
    longitude: Any = ""
    ship_from_warehouse: bool = False
    profit_share_account: str = ""


def _check_settings(settings: ShopSettings) -> tuple[float | None, float | None]:
    fields: dict[str, str] = {}
    if len(settings.hours.strip()) > MAX_HOURS:
        fields["hours"] = say(_l("At most %(count)d characters."), count=MAX_HOURS)
    if len(settings.address.strip()) > MAX_ADDRESS:
        fields["address"] = say(_l("At most %(count)d characters."), count=MAX_ADDRESS)
    account = settings.profit_share_account.strip()
    if account and not ACCOUNT.match(account):
        fields["profit_share_account"] = say(
            _l("Letters, digits and @ . _ - only, at most 64 characters.")
        )
    lat, lon = str(settings.latitude or "").strip(), str(settings.longitude or "").strip()
    point: tuple[float | None, float | None] = (None, None)
    if lat or lon:
        try:
            point = check_point(lat, lon)
        except ValidationFailed as error:
            fields.update({name: say(_l("Not a point on the map.")) for name in error.fields})
    if settings.enabled:
        if not settings.address.strip():
            fields.setdefault("address", say(_l("Give the address customers come to.")))
        if point[0] is None:
            fields.setdefault("latitude", say(_l("Set the store's map position.")))
    if fields:
        raise ValidationFailed(say(_l("Some settings are not valid.")), fields=fields)
    return point


def save_settings(
    actor: Actor, brand: Organization, store: Organization, settings: ShopSettings
) -> StoreShop:
    """Switch the store's shop on or off and set its hours, address, map position, whether the
    brand's warehouse may ship what the shelf lacks, and the receiver account for profit
    sharing. Switching on needs an address and a map position. Raises ValidationFailed naming
    the field, NotFound for another org's store."""
    actor.ensure(Permission.SHOP_SELL)
    shop = shop_for_owner(actor, brand, store)
    latitude, longitude = _check_settings(settings)
    if shop.id is None:
        try:
            with db.session.begin_nested():  # two tabs saving a new shop at once: one row
                db.session.add(shop)
                db.session.flush()
        except IntegrityError:
            found = find_shop(brand.id, store.id)
            if found is None:
                raise
            shop = found
    shop.is_enabled = bool(settings.enabled)
    shop.hours = settings.hours.strip()
    shop.address = settings.address.strip()
    shop.latitude, shop.longitude = latitude, longitude
    shop.ship_from_warehouse = bool(settings.ship_from_warehouse)
    shop.profit_share_account = settings.profit_share_account.strip()
    shop.updated_by_user_id = actor.user_id
    audit.record(
        actor,
        "storefront.store_shop",
        org_id=store.id,
        brand_id=brand.id,
        enabled=shop.is_enabled,
        ship_from_warehouse=shop.ship_from_warehouse,
    )
    db.session.flush()
    return shop


# -- the store's prices ------------------------------------------------------------------------


def current_prices(
    brand_id: int, org_id: int, product_ids: Iterable[int] | None = None
) -> dict[int, int]:
    """The store's own price of each product it set one for (the newest row per product; a
    row without a price sets it back to the official one and is left out)."""
    newest = select(func.max(StoreShopPrice.id)).where(
        StoreShopPrice.brand_id == brand_id, StoreShopPrice.org_id == org_id
    )
    if product_ids is not None:
        newest = newest.where(StoreShopPrice.product_id.in_(sorted(set(product_ids))))
    newest = newest.group_by(StoreShopPrice.product_id)
    rows = db.session.execute(
        select(StoreShopPrice.product_id, StoreShopPrice.price_cents).where(
            StoreShopPrice.id.in_(newest)
        )
    ).all()
    return {product_id: cents for product_id, cents in rows if cents is not None}


def _official_variants(brand_id: int, which: Any = None) -> list[Variant]:
    """The brand's active products' SKUs in the official tier (a SKU never moved is official)."""
    stmt = (
        select(Variant)
        .join(Product, Product.id == Variant.product_id)
        .outerjoin(SkuTier, SkuTier.variant_id == Variant.id)
        .where(
            Variant.brand_id == brand_id,
            Product.status == ProductStatus.ACTIVE,
            catalog.tier_clause(Tier.OFFICIAL),
        )
        .order_by(Product.code, Variant.id)
    )
    if which is not None:
        stmt = stmt.where(which)
    return list(db.session.execute(stmt).scalars())


@dataclass
class PriceRow:
    """A product on the owner's price page: the official price (lowest to highest of its SKUs),
    the floor (the highest of its SKUs': a store price must clear every one), the store's."""

    product: Product
    official_min: int
    official_max: int
    floor_cents: int | None
    store_cents: int | None


def price_table(actor: Actor, brand: Organization, store: Organization) -> list[PriceRow]:
    """Every official product the brand prices, with the store's own price if it set one."""
    actor.ensure(Permission.SHOP_SELL)
    shop_for_owner(actor, brand, store)
    variants = _official_variants(brand.id)
    prices = catalog.price_variants(brand.id, Tier.OFFICIAL, [v.id for v in variants])
    by_product: dict[int, list[LinePrice]] = {}
    for variant in variants:
        if variant.id in prices:
            by_product.setdefault(variant.product_id, []).append(prices[variant.id])
    own = current_prices(brand.id, store.id, by_product)
    rows = []
    for lines in by_product.values():
        product = lines[0].variant.product
        floors = [line.floor_cents for line in lines if line.floor_cents is not None]
        rows.append(
            PriceRow(
                product=product,
                official_min=min(line.cents for line in lines),
                official_max=max(line.cents for line in lines),
                floor_cents=max(floors) if floors else None,
                store_cents=own.get(product.id),
            )
        )
    rows.sort(key=lambda row: row.product.code)
    return rows


def set_price(
    actor: Actor, brand: Organization, store: Organization, product_code: str, price: str
) -> StoreShopPrice:
    """Set the store's price of one product (`price` typed in yuan; empty: back to the official
    price). Refused (ValidationFailed on `price`) below the policy's retail floor of any of its
    official SKUs, naming the floor; NotFound for a product the official shop does not sell."""
    actor.ensure(Permission.SHOP_SELL)
    shop_for_owner(actor, brand, store)
    product = catalog.find_active_product(brand.id, product_code or "")
    if product is None:
        raise NotFound()
    variants = _official_variants(brand.id, Variant.product_id == product.id)
    prices = catalog.price_variants(brand.id, Tier.OFFICIAL, [v.id for v in variants])
    if not prices:
        raise NotFound()
    floors = [p.floor_cents for p in prices.values() if p.floor_cents is not None]
    floor = max(floors) if floors else None
    raw = (price or "").strip()
    cents: int | None = None
    if raw:
        try:
            cents = to_cents(raw, product.currency)
        except ValidationFailed:
            cents = -1
        if cents <= 0:
            raise ValidationFailed(fields={"price": say(_l("An amount like 199 or 199.50."))})
        if floor is not None and cents < floor:
            raise ValidationFailed(
                say(_l("Below the brand's floor.")),
                fields={
                    "price": say(
                        _l("At least %(floor)s: the brand's floor for this product."),
                        floor=say_money(floor, product.currency),
                    )
                },
                floor_cents=floor,
            )
    row = StoreShopPrice(
        brand_id=brand.id,
        org_id=store.id,
        product_id=product.id,
        price_cents=cents,
        currency=product.currency,
        floor_cents=floor,
        set_by_user_id=actor.user_id,
        set_at=utcnow(),
    )
    db.session.add(row)
    audit.record(
        actor,
        "storefront.store_price",
        org_id=store.id,
        brand_id=brand.id,
        product=product.code,
        price_cents=cents,
    )
    db.session.flush()
    return row


def shop_prices(shop: StoreShop, prices: dict[int, LinePrice]) -> dict[int, LinePrice]:
    """The official prices (`catalog.price_variants`) as this store sells: its own price of the
    SKU's product when it set one, never below the SKU's floor."""
    own = current_prices(
        shop.brand_id, shop.org_id, {p.variant.product_id for p in prices.values()}
    )
    result = {}
    for variant_id, line in prices.items():
        cents = own.get(line.variant.product_id)
        if cents is None:
            result[variant_id] = line
            continue
        if line.floor_cents is not None:
            cents = max(cents, line.floor_cents)
        result[variant_id] = dataclasses.replace(line, cents=cents)
    return result


# -- what the shop can send ----------------------------------------------------------------------


def warehouses(brand_id: int) -> list[OnlineLocation]:
    """The brand's own locations that deliver its online orders, by id."""
    return list(
        db.session.execute(
            select(OnlineLocation)
            .join(Location, Location.id == OnlineLocation.location_id)
            .where(
                OnlineLocation.brand_id == brand_id,
                Location.org_id == brand_id,
                OnlineLocation.is_enabled.is_(True),
                OnlineLocation.delivery.is_(True),
            )
            .order_by(OnlineLocation.location_id)
        ).scalars()
    )


def shelf(shop: StoreShop) -> OnlineLocation:
    """The store's shelf as checkout holds units at it: HQ's online row for it when there is
    one (its safety stock stays for walk-ins), else an unsaved one keeping nothing back. Never
    added to the session."""
    row = db.session.execute(
        select(OnlineLocation).where(
            OnlineLocation.brand_id == shop.brand_id,
            OnlineLocation.location_id == shop.location_id,
        )
    ).scalar_one_or_none()
    if row is not None:
        return row
    made = OnlineLocation(
        brand_id=shop.brand_id,
        location_id=shop.location_id,
        pickup=True,
        delivery=True,
        safety_stock=0,
        is_enabled=True,
    )
    made.location = shop.location
    return made


def free_units(
    brand_id: int, places: Sequence[OnlineLocation], variant_ids: Iterable[int]
) -> dict[tuple[int, int], int]:
    """(location id, variant id) -> grade-A units each place can sell now, after its safety
    stock (only those above 0)."""
    ids = sorted(set(variant_ids))
    if not places or not ids:
        return {}
    keep = {place.location_id: place.safety_stock for place in places}
    rows = db.session.execute(
        select(
            StockLevel.location_id, StockLevel.variant_id, StockLevel.on_hand - StockLevel.reserved
        ).where(
            StockLevel.brand_id == brand_id,
            StockLevel.location_id.in_(sorted(keep)),
            StockLevel.variant_id.in_(ids),
            StockLevel.grade == Grade.A,
        )
    ).all()
    free = {}
    for location_id, variant_id, units in rows:
        left = int(units) - keep[location_id]
        if left > 0:
            free[(location_id, variant_id)] = left
    return free


def places_of(shop: StoreShop) -> tuple[OnlineLocation, list[OnlineLocation]]:
    """The shelf, and the warehouses that may ship for the shop (none unless the owner allows)."""
    return shelf(shop), (warehouses(shop.brand_id) if shop.ship_from_warehouse else [])


# -- the public pages --------------------------------------------------------------------------


def open_shop(brand: Organization, store_code: str) -> StoreShop:
    """The shop at /shop/<brand>/s/<store code>/: a store of the brand's network whose shop
    is on; any other is a 404 (a switched-off shop does not exist for the public)."""
    shop = db.session.execute(
        select(StoreShop)
        .join(Organization, Organization.id == StoreShop.org_id)
        .where(
            StoreShop.brand_id == brand.id,
            Organization.code == (store_code or "").strip().upper(),
            Organization.kind == OrgKind.STORE,
            Organization.status == OrgStatus.ACTIVE,
            StoreShop.is_enabled.is_(True),
        )
    ).scalar_one_or_none()
    if shop is None:
        raise NotFound()
    in_tree = db.session.execute(
        select(ChannelLink.id).where(
            ChannelLink.brand_id == brand.id, ChannelLink.buyer_org_id == shop.org_id
        )
    ).first()
    if in_tree is None or switched_off_by_hq(shop):
        raise NotFound()
    return shop


def switched_off_by_hq(shop: StoreShop) -> bool:
    """HQ has this store's online row and has switched it off: HQ's word on whether a store
    sells the brand online stands for the store's own shop too."""
    enabled = db.session.execute(
        select(OnlineLocation.is_enabled).where(
            OnlineLocation.brand_id == shop.brand_id,
            OnlineLocation.location_id == shop.location_id,
        )
    ).scalar_one_or_none()
    return enabled is False


def selling_shop(brand: Organization, org_id: int, tier: str) -> StoreShop:
    """The shop checkout sells through: on, the brand's, the official tier. Raises
    PermissionDenied (closed, or another tier) otherwise."""
    shop = find_shop(brand.id, org_id)
    if shop is None or not sells(shop):
        raise PermissionDenied(say(_l("This store's shop is closed now.")))
    if tier != Tier.OFFICIAL:
        raise PermissionDenied(say(_l("A store's shop sells the official collection only.")))
    return shop


@dataclass
class ShopProduct:
    product: Product
    min_cents: int
    max_cents: int
    colors: list[str] = field(default_factory=list)


def _stocked_prices(shop: StoreShop, which: Any = None) -> tuple[dict[int, LinePrice], dict]:
    shelf_row, stores = places_of(shop)
    variants = _official_variants(shop.brand_id, which)
    free = free_units(shop.brand_id, [shelf_row, *stores], [v.id for v in variants])
    stocked = sorted({variant_id for (_loc, variant_id) in free})
    prices = catalog.price_variants(shop.brand_id, Tier.OFFICIAL, stocked)
    return shop_prices(shop, prices), free


def list_shop_products(shop: StoreShop) -> list[ShopProduct]:
    """The products the shop can send now (at least one SKU in stock at the shelf, or at the
    warehouse if allowed), each from its lowest to highest store price, by product code."""
    prices, _free = _stocked_prices(shop)
    by_product: dict[int, list[LinePrice]] = {}
    for line in prices.values():
        by_product.setdefault(line.variant.product_id, []).append(line)
    listed = []
    for lines in by_product.values():
        listed.append(
            ShopProduct(
                product=lines[0].variant.product,
                min_cents=min(line.cents for line in lines),
                max_cents=max(line.cents for line in lines),
                colors=list(dict.fromkeys(line.variant.color for line in lines)),
            )
        )
    listed.sort(key=lambda item: item.product.code)
    return listed


@dataclass
class ShopOffer:
    """A product as the store's shop sells it: colour x size, each SKU's store price, and how
    many the shelf and the warehouse can send."""

    product: Product
    grid: VariantGrid
    prices: dict[int, int]
    at_store: dict[int, int]
    at_warehouse: dict[int, int]

    @property
    def min_cents(self) -> int:
        return min(self.prices.values())


def shop_offer(shop: StoreShop, code: str) -> ShopOffer:
    """One product of the shop, or NotFound when it can send none of its SKUs."""
    product = catalog.find_active_product(shop.brand_id, code or "")
    if product is None:
        raise NotFound()
    prices, free = _stocked_prices(shop, Variant.product_id == product.id)
    if not prices:
        raise NotFound()
    listed = sorted((line.variant for line in prices.values()), key=lambda v: v.id)
    colors = list(dict.fromkeys(v.color for v in listed))
    sizes = sort_sizes([v.size for v in listed])
    at_store: dict[int, int] = {}
    at_warehouse: dict[int, int] = {}
    for (location_id, variant_id), units in free.items():
        if location_id == shop.location_id:
            at_store[variant_id] = units
        else:
            at_warehouse[variant_id] = at_warehouse.get(variant_id, 0) + units
    return ShopOffer(
        product=product,
        grid=VariantGrid(colors, sizes, {(v.color, v.size): v for v in listed}),
        prices={variant_id: line.cents for variant_id, line in prices.items()},
        at_store=at_store,
        at_warehouse=at_warehouse,
    )


# -- the shop's cart -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ShopCartRow:
    line_id: int
    variant: Variant
    qty: int
    cents: int | None  # None: the shop no longer sells it
    can_send: int

    @property
    def line_cents(self) -> int:
        return (self.cents or 0) * self.qty


@dataclass
class ShopCart:
    rows: list[ShopCartRow] = field(default_factory=list)
    currency: str = "CNY"

    @property
    def is_empty(self) -> bool:
        return not self.rows

    @property
    def total_cents(self) -> int:
        return sum(row.line_cents for row in self.rows)

    @property
    def can_check_out(self) -> bool:
        return bool(self.rows) and all(
            row.cents is not None and row.qty <= row.can_send for row in self.rows
        )


def _cart_lines(consumer: Consumer, shop: StoreShop) -> list[StoreShopCartLine]:
    return list(
        db.session.execute(
            select(StoreShopCartLine)
            .where(
                StoreShopCartLine.consumer_id == consumer.id,
                StoreShopCartLine.org_id == shop.org_id,
                StoreShopCartLine.brand_id == shop.brand_id,
            )
            .order_by(StoreShopCartLine.id)
        ).scalars()
    )


def _can_send(shop: StoreShop, variant_ids: Iterable[int]) -> dict[int, int]:
    """The most of each SKU one place (the shelf, or one warehouse) can send."""
    shelf_row, stores = places_of(shop)
    most: dict[int, int] = {}
    for (_location, variant_id), units in free_units(
        shop.brand_id, [shelf_row, *stores], variant_ids
    ).items():
        most[variant_id] = max(most.get(variant_id, 0), units)
    return most


def shop_cart(consumer: Consumer, shop: StoreShop) -> ShopCart:
    lines = _cart_lines(consumer, shop)
    if not lines:
        return ShopCart()
    ids = [line.variant_id for line in lines]
    prices = shop_prices(shop, catalog.price_variants(shop.brand_id, Tier.OFFICIAL, ids))
    can = _can_send(shop, ids)
    rows = [
        ShopCartRow(
            line.id,
            line.variant,
            line.qty,
            prices[line.variant_id].cents if line.variant_id in prices else None,
            can.get(line.variant_id, 0),
        )
        for line in lines
    ]
    currency = next((p.variant.product.currency for p in prices.values()), "CNY")
    return ShopCart(rows, currency)


def add_to_cart(consumer: Consumer, shop: StoreShop, variant_id: int, qty: int = 1) -> None:
    """Put `qty` more of a SKU in the consumer's cart at this shop: refused (on `qty` or
    `variant_id`) when the shop does not sell it or cannot send that many."""
    if consumer.brand_id != shop.brand_id:
        raise PermissionDenied(say(_l("This account belongs to another brand's shop.")))
    if isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= MAX_QTY:
        raise ValidationFailed(
            fields={"qty": say(_l("A quantity from 1 to %(max)d."), max=MAX_QTY)}
        )
    prices = catalog.price_variants(shop.brand_id, Tier.OFFICIAL, [variant_id])
    if variant_id not in prices:
        raise ValidationFailed(fields={"variant_id": say(_l("Not sold in this shop now."))})
    lines = _cart_lines(consumer, shop)
    line = next((x for x in lines if x.variant_id == variant_id), None)
    if line is None and len(lines) >= MAX_CART_LINES:
        raise ValidationFailed(
            fields={
                "variant_id": say(_l("At most %(count)d different items."), count=MAX_CART_LINES)
            }
        )
    total = qty + (line.qty if line is not None else 0)
    can = _can_send(shop, [variant_id]).get(variant_id, 0)
    if total > min(can, MAX_QTY):
        only = say(_l("Only %(count)d can be sent from this shop."), count=min(can, MAX_QTY))
        raise ValidationFailed(only, fields={"qty": only})
    if line is None:
        db.session.add(
            StoreShopCartLine(
                brand_id=shop.brand_id,
                consumer_id=consumer.id,
                org_id=shop.org_id,
                variant_id=variant_id,
                qty=total,
            )
        )
    else:
        line.qty = total
    db.session.flush()


def remove_from_cart(consumer: Consumer, shop: StoreShop, line_id: int) -> None:
    line = next((x for x in _cart_lines(consumer, shop) if x.id == line_id), None)
    if line is None:
        raise NotFound()
    db.session.delete(line)
    db.session.flush()


def clear_cart(consumer: Consumer, shop: StoreShop) -> None:
    for line in _cart_lines(consumer, shop):
        db.session.delete(line)
    db.session.flush()


# -- the owner's home --------------------------------------------------------------------------

SOLD = (
    ConsumerOrderStatus.PAID,
    ConsumerOrderStatus.PREPARING,
    ConsumerOrderStatus.READY_FOR_PICKUP,
    ConsumerOrderStatus.SHIPPED,
    ConsumerOrderStatus.COMPLETED,
)


@dataclass(frozen=True)
class MonthSales:
    since: datetime
    orders: int
    units: int
    amount_cents: int
    through_shop: int  # of them, sold through the store's own shop


def month_sales(actor: Actor, brand: Organization, store: Organization) -> MonthSales:
    """This month's paid consumer orders (not called off) of the brand that the store fulfils
    or sold through its shop: how many, their units and their amount (less refunds)."""
    actor.ensure(Permission.SHOP_SELL)
    shop_for_owner(actor, brand, store)
    now = utcnow()
    since = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    at_store = select(Location.id).where(Location.org_id == store.id)
    mine = (ConsumerOrder.location_id.in_(at_store)) | (ConsumerOrder.shop_org_id == store.id)
    through = func.sum(case((ConsumerOrder.shop_org_id == store.id, 1), else_=0))
    row = db.session.execute(
        select(
            func.count(ConsumerOrder.id),
            func.coalesce(func.sum(ConsumerOrder.total_qty), 0),
            func.coalesce(func.sum(ConsumerOrder.total_cents - ConsumerOrder.refunded_cents), 0),
            through,
        ).where(
            and_(
                ConsumerOrder.brand_id == brand.id,
                mine,
                ConsumerOrder.status.in_(SOLD),
                ConsumerOrder.paid_at >= since,
            )
        )
    ).one()
    return MonthSales(since, int(row[0]), int(row[1]), int(row[2]), int(row[3] or 0))
