"""One stock pool online: which locations sell a brand online, and what they can sell.

A location sells online when its brand has an enabled `OnlineLocation` row for it: a store of
the brand's network that HQ switched on for pickup and/or delivery, or one of the brand's own
warehouses (delivery only). Nothing is online by default, warehouses included: which locations
sell online is data HQ sets on one page, and the demo seed enables ACME's warehouse that way.

What a location can sell of a SKU is `max(0, on_hand - reserved - safety_stock)`: the same
levels B2B orders reserve from (`portal.inventory.ledger`), less the units HQ keeps back for
walk-in customers. Every read here is a fixed number of set-based queries whatever the number
of stores or SKUs: a product page asks it at 3,000 stores (DESIGN §11).

Switching locations on and off lives in `online`; this module passes its names on, so callers
ask one door about stock online.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    func,
    or_,
    select,
    union,
)

from portal.catalog.models import Variant
from portal.core.errors import ValidationFailed
from portal.extensions import db
from portal.inventory.models import Grade, Location, StockLevel, StockMove
from portal.network.models import Organization, OrgStatus
from portal.storefront.geo import check_point, haversine_km, near_condition
from portal.storefront.models import OnlineLocation
from portal.storefront.online import (  # noqa: F401 - this module is the stock door
    MAX_SAFETY_STOCK,
    OnlineRow,
    RegionResult,
    enable_region,
    get_network_location,
    list_online_locations,
    list_regions,
    set_online_location,
)
from portal.storefront.words import say

NEAR_KM = 10.0  # the API's "near a point" by default: within this many km of it
NEAR_SEARCH_KM = (30.0, 150.0, 600.0, None)  # circles `stores_near` widens through
MAX_LINE_QTY = 10_000


def _brand_id(brand: Organization | int) -> int:
    return brand if isinstance(brand, int) else brand.id


# -- what sells online ---------------------------------------------------------------------------

LineKey = tuple[int, str]  # (variant id, grade)


def line_quantities(variant_qtys: Mapping[Any, Any], *, grade: str = Grade.A) -> dict[LineKey, int]:
    """{variant_id: qty} (grade `grade`) or {(variant_id, grade): qty} as the latter, checked:
    a known grade, a whole quantity from 1 to MAX_LINE_QTY; repeated keys add up."""
    lines: dict[LineKey, int] = {}
    if not variant_qtys:
        raise ValidationFailed(fields={"lines": say(_l("Nothing to look for."))})
    for key, qty in variant_qtys.items():
        variant_id, line_grade = key if isinstance(key, tuple) else (key, grade)
        if isinstance(variant_id, bool) or not isinstance(variant_id, int):
            raise ValidationFailed(fields={"variant_id": say(_l("Not a SKU."))})
        if line_grade not in tuple(Grade):
            raise ValidationFailed(fields={"grade": say(_l("The grade is A or B."))})
        if isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= MAX_LINE_QTY:
            raise ValidationFailed(
                fields={"qty": say(_l("A whole number from 1 to %(max)d."), max=MAX_LINE_QTY)}
            )
        lines[(variant_id, line_grade)] = lines.get((variant_id, line_grade), 0) + qty
    return lines


def free_units() -> ColumnElement[int]:
    """What one level can sell online: on hand, less reserved, less the location's safety stock
    (may be negative: callers keep the rows where it is above 0)."""
    return StockLevel.on_hand - StockLevel.reserved - OnlineLocation.safety_stock


def online_levels(
    brand_id: int, variant_ids: Iterable[int], grades: Iterable[str], *, channel: str = "any"
) -> Select[Any]:
    """Levels with sellable units at the brand's enabled online locations of active orgs, for
    these SKUs and grades. `channel` is "pickup", "delivery" or "any". Columns: location_id,
    org_id, variant_id, grade, free, latitude, longitude, pickup."""
    free = free_units()
    mode: ColumnElement[bool]
    if channel == "pickup":
        mode = OnlineLocation.pickup.is_(True)
    elif channel == "delivery":
        mode = OnlineLocation.delivery.is_(True)
    else:
        mode = or_(OnlineLocation.pickup.is_(True), OnlineLocation.delivery.is_(True))
    return (
        select(
            StockLevel.location_id,
            Location.org_id,
            StockLevel.variant_id,
            StockLevel.grade,
            free.label("free"),
            Organization.latitude,
            Organization.longitude,
            OnlineLocation.pickup,
        )
        .join(
            OnlineLocation,
            and_(
                OnlineLocation.location_id == StockLevel.location_id,
                OnlineLocation.brand_id == brand_id,
            ),
        )
        .join(Location, Location.id == StockLevel.location_id)
        .join(Organization, Organization.id == Location.org_id)
        .where(
            StockLevel.brand_id == brand_id,
            StockLevel.variant_id.in_(sorted(set(variant_ids))),
            StockLevel.grade.in_(sorted(set(grades))),
            OnlineLocation.is_enabled.is_(True),
            mode,
            Organization.status == OrgStatus.ACTIVE,
            free > 0,
        )
    )


@dataclass(frozen=True)
class VariantAvailability:
    variant_id: int
    sellable: int  # units online, over every enabled location, after safety stock
    stores: int  # enabled stores (not the brand's warehouses) with at least one of them
    stores_near: int | None = None  # of those, pickup stores near the point asked; None: no point


def availability(
    brand: Organization | int,
    variants: Iterable[Variant | int],
    *,
    grade: str = Grade.A,
    near: tuple[float, float] | None = None,
    radius_km: float = NEAR_KM,
) -> dict[int, VariantAvailability]:
    """Per SKU: the units sellable online and how many enabled stores hold them (with `near`, a
    (latitude, longitude), also how many pickup stores within `radius_km` do). One grouped
    query whatever the number of stores; every SKU asked is in the answer (0 when none)."""
    brand_id = _brand_id(brand)
    ids = sorted({v if isinstance(v, int) else v.id for v in variants})
    if grade not in tuple(Grade):
        raise ValidationFailed(fields={"grade": say(_l("The grade is A or B."))})
    if not ids:
        return {}
    levels = online_levels(brand_id, ids, [grade]).subquery()
    is_store = levels.c.org_id != brand_id
    columns = [
        levels.c.variant_id,
        func.sum(levels.c.free),
        func.sum(case((is_store, 1), else_=0)),
    ]
    if near is not None:
        lat, lon = check_point(*near)
        nearby = and_(
            is_store,
            levels.c.pickup.is_(True),
            near_condition(levels.c.latitude, levels.c.longitude, lat, lon, radius_km),
        )
        columns.append(func.sum(case((nearby, 1), else_=0)))
    rows = db.session.execute(select(*columns).group_by(levels.c.variant_id)).all()
    found = {
        row[0]: VariantAvailability(
            row[0], int(row[1] or 0), int(row[2] or 0), int(row[3] or 0) if near else None
        )
        for row in rows
    }
    zero_near = 0 if near is not None else None
    return {i: found.get(i) or VariantAvailability(i, 0, 0, zero_near) for i in ids}


@dataclass(frozen=True)
class NearbyStore:
    """A pickup store, its distance from the shopper and what it holds of the lines asked."""

    location_id: int
    location_code: str
    org_code: str
    name: str
    address: str
    latitude: float
    longitude: float
    distance_km: float
    has_all: bool  # every line in the quantity asked, after safety stock
    free: dict[LineKey, int]  # what it can sell of each line (0 when none)


def stores_near(
    brand: Organization | int,
    latitude: Any,
    longitude: Any,
    variant_qtys: Mapping[Any, int],
    *,
    limit: int = 20,
    exclude: Iterable[int] = (),
) -> list[NearbyStore]:
    """The brand's enabled pickup stores nearest the point (great-circle), nearest first, at
    most `limit`, each saying whether it has every line in the quantities asked. Stores
    without coordinates are not listed (a distance is what orders the list). A few queries
    whatever the number of stores: the stores' points in widening circles, then the levels of
    the nearest ones."""
    brand_id = _brand_id(brand)
    lat, lon = check_point(latitude, longitude)
    lines = line_quantities(variant_qtys)
    if not 1 <= limit <= 500:
        raise ValidationFailed(fields={"limit": say(_l("Between 1 and %(max)d stores."), max=500)})
    skip = set(exclude)
    pickup_stores = (
        select(
            Location.id,
            Location.code,
            Organization.code,
            Organization.name,
            Organization.address,
            Organization.latitude,
            Organization.longitude,
        )
        .join(OnlineLocation, OnlineLocation.location_id == Location.id)
        .join(Organization, Organization.id == Location.org_id)
        .where(
            OnlineLocation.brand_id == brand_id,
            OnlineLocation.is_enabled.is_(True),
            OnlineLocation.pickup.is_(True),
            Location.org_id != brand_id,
            Organization.status == OrgStatus.ACTIVE,
            Organization.latitude.isnot(None),
            Organization.longitude.isnot(None),
        )
    )
    # Widening circles: a shopper among a city's stores reads a few dozen rows, not the 3,000
    # of the whole country; where stores are sparse the last round reads them all.
    ranked: list[tuple[float, int, Any]] = []
    for radius in NEAR_SEARCH_KM:
        stmt = pickup_stores
        if radius is not None:
            stmt = stmt.where(
                near_condition(Organization.latitude, Organization.longitude, lat, lon, radius)
            )
        ranked = sorted(
            (
                (haversine_km(lat, lon, row[5], row[6]), row[0], row)
                for row in db.session.execute(stmt)
                if row[0] not in skip
            ),
            key=lambda item: (item[0], item[1]),
        )[:limit]
        # Done once `limit` stores lie well inside the circle: none outside it can be nearer.
        if radius is None or (len(ranked) == limit and ranked[-1][0] <= radius * 0.95):
            break
    if not ranked:
        return []
    free: dict[int, dict[LineKey, int]] = {}
    levels = online_levels(
        brand_id, [v for v, _g in lines], [g for _v, g in lines], channel="pickup"
    ).where(StockLevel.location_id.in_([item[1] for item in ranked]))
    for location_id, _org, variant_id, grade, units, *_rest in db.session.execute(levels):
        if (variant_id, grade) in lines:
            free.setdefault(location_id, {})[(variant_id, grade)] = int(units)
    answer = []
    for distance, location_id, row in ranked:
        held = {key: free.get(location_id, {}).get(key, 0) for key in lines}
        answer.append(
            NearbyStore(
                location_id=location_id,
                location_code=row[1],
                org_code=row[2],
                name=row[3],
                address=row[4],
                latitude=row[5],
                longitude=row[6],
                distance_km=round(distance, 3),
                has_all=all(held[key] >= qty for key, qty in lines.items()),
                free=held,
            )
        )
    return answer


@dataclass(frozen=True)
class City:
    """Where a shopper may say they are: a region of the brand's pickup stores, at the middle of
    those stores' points."""

    name: str
    latitude: float
    longitude: float


def pickup_cities(brand: Organization | int) -> list[City]:
    """The regions of the brand's enabled pickup stores that have coordinates, by name; one
    grouped query."""
    brand_id = _brand_id(brand)
    rows = db.session.execute(
        select(
            Organization.region, func.avg(Organization.latitude), func.avg(Organization.longitude)
        )
        .join(Location, Location.org_id == Organization.id)
        .join(OnlineLocation, OnlineLocation.location_id == Location.id)
        .where(
            OnlineLocation.brand_id == brand_id,
            OnlineLocation.is_enabled.is_(True),
            OnlineLocation.pickup.is_(True),
            Location.org_id != brand_id,
            Organization.status == OrgStatus.ACTIVE,
            Organization.region != "",
            Organization.latitude.isnot(None),
            Organization.longitude.isnot(None),
        )
        .group_by(Organization.region)
        .order_by(Organization.region)
    ).all()
    return [City(region, float(lat), float(lon)) for region, lat, lon in rows]


def city_point(cities: list[City], name: str) -> City | None:
    """One of `cities` (`pickup_cities`) by name (any case), or None."""
    wanted = (name or "").strip().lower()
    return next((c for c in cities if c.name.lower() == wanted), None)


# -- the available-to-sell feed ------------------------------------------------------------------


@dataclass(frozen=True)
class FeedItem:
    variant_id: int
    sku: str
    grade: str
    available: int  # over every enabled online location
    delivery: int  # of those, at locations that deliver: what a marketplace order can get


def feed_page(
    brand: Organization,
    *,
    grade: str = Grade.A,
    updated_since: datetime | None = None,
    after: int = 0,
    limit: int = 200,
) -> tuple[list[FeedItem], int | None]:
    """One page of the brand's SKUs in id order after `after`, with what sells online; with
    `updated_since`, only SKUs whose sellable units may have changed since then (a stock move at
    an online location, or a change to that location's switches). Returns the items and the
    cursor of the next page (None on the last). Zero is listed too: a marketplace must delist."""
    if grade not in tuple(Grade):
        raise ValidationFailed(fields={"grade": say(_l("The grade is A or B."))})
    wanted: ColumnElement[bool] = Variant.brand_id == brand.id
    if updated_since is not None:
        online_here = and_(
            OnlineLocation.brand_id == brand.id,
            OnlineLocation.location_id == StockMove.location_id,
        )
        moved = (
            select(StockMove.variant_id.label("id"))
            .join(OnlineLocation, online_here)
            .where(
                StockMove.brand_id == brand.id,
                StockMove.grade == grade,
                StockMove.created_at >= updated_since,
            )
        )
        switched = (
            select(StockLevel.variant_id.label("id"))
            .join(
                OnlineLocation,
                and_(
                    OnlineLocation.brand_id == brand.id,
                    OnlineLocation.location_id == StockLevel.location_id,
                ),
            )
            .where(
                StockLevel.brand_id == brand.id,
                StockLevel.grade == grade,
                OnlineLocation.updated_at >= updated_since,
            )
        )
        changed = union(moved, switched).subquery()
        wanted = and_(wanted, Variant.id.in_(select(changed.c.id)))
    page = db.session.execute(
        select(Variant.id, Variant.sku)
        .where(wanted, Variant.id > after)
        .order_by(Variant.id)
        .limit(limit + 1)
    ).all()
    more = len(page) > limit
    page = page[:limit]
    items = feed_items(brand, [(row[0], row[1]) for row in page], grade=grade)
    return items, (items[-1].variant_id if more else None)


def feed_items(
    brand: Organization, skus: list[tuple[int, str]], *, grade: str = Grade.A
) -> list[FeedItem]:
    """The feed's numbers now for these (variant id, SKU) pairs, in the order given."""
    ids = [variant_id for variant_id, _ in skus]
    totals = availability(brand.id, ids, grade=grade) if ids else {}
    delivery: dict[int, int] = {}
    if ids:
        levels = online_levels(brand.id, ids, [grade], channel="delivery").subquery()
        for variant_id, units in db.session.execute(
            select(levels.c.variant_id, func.sum(levels.c.free)).group_by(levels.c.variant_id)
        ):
            delivery[variant_id] = int(units or 0)
    return [
        FeedItem(
            variant_id=variant_id,
            sku=sku,
            grade=grade,
            available=totals[variant_id].sellable,
            delivery=delivery.get(variant_id, 0),
        )
        for variant_id, sku in skus
    ]
