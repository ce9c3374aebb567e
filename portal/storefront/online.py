"""Which locations sell a brand online: HQ switches its warehouses and its network's stores on
for pickup and/or delivery, each with a safety stock kept back for walk-in customers. (What they
can then sell is `portal.storefront.stock`.)"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.exc import IntegrityError

from portal.core import audit
from portal.core.access import Actor, OrgKind, Permission, org_visible
from portal.core.errors import NotFound, ValidationFailed
from portal.core.pagination import Page
from portal.extensions import db
from portal.inventory.models import Location
from portal.network.models import ChannelLink, Organization
from portal.storefront.models import OnlineLocation
from portal.storefront.words import say

MAX_SAFETY_STOCK = 100_000  # per SKU and location; more is a typo, not a policy


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
