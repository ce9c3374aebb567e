"""One stock pool online: which locations sell a brand online, and what they can sell.

A location sells online when its brand has an enabled `OnlineLocation` row for it: a store of
the brand's network that HQ switched on for pickup and/or delivery, or one of the brand's own
warehouses (delivery only). Nothing is online by default, warehouses included: which locations
sell online is data HQ sets on one page, and the demo seed enables ACME's warehouse that way.

What a location can sell of a SKU is `max(0, on_hand - reserved - safety_stock)`: the same
levels B2B orders reserve from (`portal.inventory.ledger`), less the units HQ keeps back for
walk-in customers. Every read here is a fixed number of set-based queries whatever the number
of stores or SKUs: a product page asks it at 3,000 stores (DESIGN §11).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    union,
)
from sqlalchemy.exc import IntegrityError

from portal.catalog.models import Variant
from portal.core import audit
from portal.core.access import Actor, OrgKind, Permission, org_visible
from portal.core.errors import NotFound, ValidationFailed
from portal.core.pagination import Page
from portal.extensions import db
from portal.inventory.models import Grade, Location, StockLevel, StockMove
from portal.network.models import ChannelLink, Organization, OrgStatus
from portal.storefront.geo import check_point, haversine_km, near_condition
from portal.storefront.models import OnlineLocation
from portal.storefront.words import say

MAX_SAFETY_STOCK = 100_000  # per SKU and location; more is a typo, not a policy
NEAR_KM = 10.0  # "in stock at N stores near you": within this many km of the shopper
NEAR_SEARCH_KM = (30.0, 150.0, 600.0, None)  # circles `stores_near` widens through
MAX_LINE_QTY = 10_000


def _brand_id(brand: Organization | int) -> int:
    return brand if isinstance(brand, int) else brand.id


# -- who may switch which location ---------------------------------------------------------------


def _ensure_hq(actor: Actor, brand: Organization) -> None:
    """Only the brand's own HQ decides where it sells online; anyone else learns nothing of the
    brand's settings (404), as with any row outside one's part of the network."""
    if actor.is_system:
        return
    if actor.org_id != brand.id or actor.org_kind != OrgKind.BRAND:
        raise NotFound()


def _network_condition(actor: Actor, brand_id: int) -> ColumnElement[bool]:
    """SQL condition on a joined (Location, Organization): a location that may sell the brand
    online, and that the actor sees: the brand's own warehouses, and the shelves of stores in
    the brand's channel tree."""
    in_tree = exists(
        select(1).where(
            ChannelLink.brand_id == brand_id, ChannelLink.buyer_org_id == Location.org_id
        )
    )
    return and_(
        org_visible(actor, Location.org_id, literal(brand_id)),
        or_(
            Location.org_id == brand_id,
            and_(Organization.kind == OrgKind.STORE, in_tree),
        ),
    )


@dataclass(frozen=True)
class OnlineRow:
    """One location on HQ's page: where it is and how it sells online (None: never switched)."""

    location: Location
    org: Organization
    online: OnlineLocation | None

    @property
    def is_warehouse(self) -> bool:
        return self.org.kind == OrgKind.BRAND

    @property
    def is_online(self) -> bool:
        return self.online is not None and self.online.is_enabled


def list_online_locations(
    actor: Actor,
    brand: Organization,
    *,
    q: str = "",
    region: str = "",
    page: int = 1,
    per_page: int = 50,
) -> Page:
    """The brand's warehouses, then its stores by region and code, each with its switches."""
    actor.ensure(Permission.STOCK_VIEW)
    _ensure_hq(actor, brand)
    stmt = (
        select(Location, Organization, OnlineLocation)
        .join(Organization, Organization.id == Location.org_id)
        .outerjoin(
            OnlineLocation,
            and_(OnlineLocation.location_id == Location.id, OnlineLocation.brand_id == brand.id),
        )
        .where(_network_condition(actor, brand.id))
    )
    if q.strip():
        like = f"%{q.strip()}%"
        stmt = stmt.where(
            or_(
                Location.code.ilike(like),
                Organization.code.ilike(like),
                Organization.name.ilike(like),
            )
        )
    if region.strip():
        stmt = stmt.where(func.lower(Organization.region) == region.strip().lower())
    total = db.session.execute(
        select(func.count()).select_from(stmt.order_by(None).subquery())
    ).scalar_one()
    rows = db.session.execute(
        stmt.order_by(
            case((Location.org_id == brand.id, 0), else_=1),
            Organization.region,
            Location.code,
        )
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    items = [OnlineRow(location, org, online) for location, org, online in rows]
    return Page(items=items, page=page, per_page=per_page, total=total)


def list_regions(actor: Actor, brand: Organization) -> list[str]:
    """The regions of the brand's stores, for the bulk switch."""
    _ensure_hq(actor, brand)
    stmt = (
        select(Organization.region)
        .join(Location, Location.org_id == Organization.id)
        .where(_network_condition(actor, brand.id), Organization.region != "")
        .distinct()
        .order_by(Organization.region)
    )
    return list(db.session.execute(stmt).scalars())


def get_network_location(actor: Actor, brand: Organization, code: str) -> Location:
    """A location that may sell the brand online, by code; 404 for any other."""
    _ensure_hq(actor, brand)
    location = db.session.execute(
        select(Location)
        .join(Organization, Organization.id == Location.org_id)
        .where(Location.code == (code or "").strip().upper(), _network_condition(actor, brand.id))
    ).scalar_one_or_none()
    if location is None:
        raise NotFound()
    return location


def _check_safety_stock(value: Any) -> int:
    if isinstance(value, bool):
        value = None
    if isinstance(value, str):
        value = value.strip()
        value = (
            int(value) if value.isdigit() or (value[:1] == "-" and value[1:].isdigit()) else None
        )
    if not isinstance(value, int):
        raise ValidationFailed(
            fields={"safety_stock": say(_l("Enter a whole number of units, 0 or more."))}
        )
    if not 0 <= value <= MAX_SAFETY_STOCK:
        raise ValidationFailed(
            fields={
                "safety_stock": say(
                    _l("Must be between 0 and %(max)d units."), max=MAX_SAFETY_STOCK
                )
            }
        )
    return value


def _check_switches(location: Location, *, enabled: bool, pickup: bool, delivery: bool) -> None:
    if not enabled:
        return
    is_warehouse = location.org.kind == OrgKind.BRAND
    if is_warehouse and pickup:
        raise ValidationFailed(fields={"pickup": say(_l("A warehouse delivers only: no pickup."))})
    if not (pickup or delivery):
        raise ValidationFailed(fields={"pickup": say(_l("Choose pickup, delivery or both."))})
    # A store is chosen by its distance from the shopper: without coordinates it never would be.
    if not is_warehouse and (location.org.latitude is None or location.org.longitude is None):
        raise ValidationFailed(
            fields={"location": say(_l("Set the store's coordinates before it sells online."))}
        )


def _upsert(brand_id: int, location: Location) -> OnlineLocation:
    def find() -> OnlineLocation | None:
        return db.session.execute(
            select(OnlineLocation).where(
                OnlineLocation.brand_id == brand_id, OnlineLocation.location_id == location.id
            )
        ).scalar_one_or_none()

    row = find()
    if row is not None:
        return row
    try:
        with db.session.begin_nested():  # two HQ users switching one store at once: one insert
            row = OnlineLocation(brand_id=brand_id, location_id=location.id, is_enabled=False)
            db.session.add(row)
    except IntegrityError:
        row = find()
        if row is None:
            raise
    return row


def set_online_location(
    actor: Actor,
    brand: Organization,
    location: Location,
    *,
    enabled: bool,
    pickup: bool = False,
    delivery: bool = False,
    safety_stock: Any = 0,
) -> OnlineLocation:
    """Switch a location's online selling for the brand (HQ only, `stock.push`). Enabled needs
    pickup or delivery (a warehouse: delivery only) and, for a store, its coordinates; the
    safety stock is a whole number >= 0. Raises ValidationFailed naming the field, NotFound for
    a location outside the brand's network."""
    actor.ensure(Permission.STOCK_PUSH)
    location = get_network_location(actor, brand, location.code)
    safety = _check_safety_stock(safety_stock)
    _check_switches(location, enabled=enabled, pickup=pickup, delivery=delivery)
    row = _upsert(brand.id, location)
    if enabled:
        row.pickup, row.delivery = bool(pickup), bool(delivery)
    row.is_enabled = bool(enabled)
    row.safety_stock = safety
    row.enabled_by_user_id = actor.user_id
    audit.record(
        actor,
        "storefront.online_location",
        org_id=location.org_id,
        brand_id=brand.id,
        location=location.code,
        enabled=row.is_enabled,
        pickup=row.pickup,
        delivery=row.delivery,
        safety_stock=safety,
    )
    db.session.flush()
    return row


@dataclass(frozen=True)
class RegionResult:
    enabled: int  # stores switched on (or whose settings changed)
    skipped: list[str] = field(default_factory=list)  # codes of stores without coordinates


def enable_region(
    actor: Actor,
    brand: Organization,
    region: str,
    *,
    pickup: bool,
    delivery: bool,
    safety_stock: Any = 0,
) -> RegionResult:
    """Switch on every store of the brand's network in a region (the org's region), with the
    same settings; stores without coordinates are skipped and named. Warehouses are left as
    they are (they are switched one by one)."""
    actor.ensure(Permission.STOCK_PUSH)
    _ensure_hq(actor, brand)
    safety = _check_safety_stock(safety_stock)
    region = (region or "").strip()
    if not region:
        raise ValidationFailed(fields={"region": say(_l("Choose a region."))})
    if not (pickup or delivery):
        raise ValidationFailed(fields={"pickup": say(_l("Choose pickup, delivery or both."))})
    rows = db.session.execute(
        select(Location, Organization, OnlineLocation)
        .join(Organization, Organization.id == Location.org_id)
        .outerjoin(
            OnlineLocation,
            and_(OnlineLocation.location_id == Location.id, OnlineLocation.brand_id == brand.id),
        )
        .where(
            _network_condition(actor, brand.id),
            Location.org_id != brand.id,
            func.lower(Organization.region) == region.lower(),
        )
        .order_by(Location.code)
    ).all()
    if not rows:
        raise ValidationFailed(
            fields={"region": say(_l("No store of the network is in this region."))}
        )
    enabled, skipped = 0, []
    for location, store, online in rows:
        if store.latitude is None or store.longitude is None:
            skipped.append(location.code)
            continue
        if online is None:
            online = OnlineLocation(brand_id=brand.id, location_id=location.id)
            db.session.add(online)
        online.is_enabled, online.pickup, online.delivery = True, bool(pickup), bool(delivery)
        online.safety_stock = safety
        online.enabled_by_user_id = actor.user_id
        enabled += 1
    audit.record(
        actor,
        "storefront.online_region",
        org_id=brand.id,
        brand_id=brand.id,
        region=region,
        enabled=enabled,
        skipped=skipped,
        pickup=bool(pickup),
        delivery=bool(delivery),
        safety_stock=safety,
    )
    db.session.flush()
    return RegionResult(enabled=enabled, skipped=skipped)


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
    ids = [row[0] for row in page]
    totals = availability(brand.id, ids, grade=grade) if ids else {}
    delivery: dict[int, int] = {}
    if ids:
        levels = online_levels(brand.id, ids, [grade], channel="delivery").subquery()
        for variant_id, units in db.session.execute(
            select(levels.c.variant_id, func.sum(levels.c.free)).group_by(levels.c.variant_id)
        ):
            delivery[variant_id] = int(units or 0)
    items = [
        FeedItem(
            variant_id=variant_id,
            sku=sku,
            grade=grade,
            available=totals[variant_id].sellable,
            delivery=delivery.get(variant_id, 0),
        )
        for variant_id, sku in page
    ]
    return items, (ids[-1] if more else None)
