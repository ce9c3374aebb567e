"""Scoped reads of stock. A location is seen by its own org and by the orgs above it; of a
location that carries several brands, an org above it sees only the levels of the brands in
which it is above (LUMI's HQ never sees ACME stock at a shared distributor)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import selectinload

from portal.catalog.models import Product, Variant
from portal.core.access import Actor, OrgKind, org_visible
from portal.core.errors import NotFound, ValidationFailed
from portal.core.pagination import Page, paginate
from portal.extensions import db
from portal.inventory.models import Location, StockLevel, StockMove, StockUpload
from portal.network.models import ChannelLink, Organization


def visible_locations(actor: Actor) -> Select[Any]:
    return (
        select(Location)
        .join(Organization, Organization.id == Location.org_id)
        .where(org_visible(actor, Location.org_id))
        .options(selectinload(Location.org))
        .order_by(Organization.kind, Location.code)
    )


def list_locations(
    actor: Actor, *, q: str | None = None, page: int = 1, per_page: int = 50
) -> Page:
    stmt = visible_locations(actor)
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(
            or_(Location.code.ilike(like), Location.name.ilike(like), Organization.code.ilike(like))
        )
    return paginate(stmt, page, per_page)


def get_location(actor: Actor, code: str) -> Location:
    location = db.session.execute(
        visible_locations(actor).where(Location.code == code.strip().upper())
    ).scalar_one_or_none()
    if location is None:
        raise NotFound()
    return location


def visible_levels(actor: Actor, location: Location) -> Select[Any]:
    """Levels of a location the actor may see: all for its own org; for an org above, only the
    brands in which it is above."""
    stmt = (
        select(StockLevel)
        .join(Variant, Variant.id == StockLevel.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .where(StockLevel.location_id == location.id)
        .options(selectinload(StockLevel.variant).selectinload(Variant.product))
    )
    if not actor.is_system and location.org_id != actor.org_id:
        stmt = stmt.where(org_visible(actor, location.org_id, StockLevel.brand_id))
    return stmt


def list_levels(
    actor: Actor,
    location: Location,
    *,
    q: str | None = None,
    grade: str | None = None,
    only_available: bool = False,
    page: int = 1,
    per_page: int = 50,
) -> Page:
    stmt = visible_levels(actor, location)
    if q:
        text = q.strip()
        like = f"%{text}%"
        stmt = stmt.where(
            or_(Variant.sku.ilike(like), Product.code.ilike(like), Product.name.ilike(like))
        )
    if grade:
        stmt = stmt.where(StockLevel.grade == grade)
    if only_available:
        stmt = stmt.where(StockLevel.on_hand - StockLevel.reserved > 0)
    return paginate(stmt.order_by(Variant.sku, StockLevel.grade), page, per_page)


def location_totals(actor: Actor, location: Location) -> dict[str, int]:
    """Units on hand, reserved and available at a location (what the actor may see of it)."""
    levels = visible_levels(actor, location).subquery()
    row = db.session.execute(
        select(
            func.coalesce(func.sum(levels.c.on_hand), 0),
            func.coalesce(func.sum(levels.c.reserved), 0),
            func.count(levels.c.id),
        )
    ).one()
    return {"on_hand": int(row[0]), "reserved": int(row[1]), "skus": int(row[2])}


def totals_for(actor: Actor, locations: list[Location]) -> dict[int, dict[str, int]]:
    """location_totals for a page of locations in one grouped query."""
    ids = [location.id for location in locations]
    empty = {"on_hand": 0, "reserved": 0, "skus": 0}
    if not ids:
        return {}
    stmt = (
        select(
            StockLevel.location_id,
            func.sum(StockLevel.on_hand),
            func.sum(StockLevel.reserved),
            func.count(StockLevel.id),
        )
        .join(Location, Location.id == StockLevel.location_id)
        .where(StockLevel.location_id.in_(ids))
        .group_by(StockLevel.location_id)
    )
    if not actor.is_system:
        own = Location.org_id == actor.org_id
        stmt = stmt.where(or_(own, org_visible(actor, Location.org_id, StockLevel.brand_id)))
    totals = {location_id: dict(empty) for location_id in ids}
    for location_id, on_hand, reserved, skus in db.session.execute(stmt):
        totals[location_id] = {"on_hand": int(on_hand), "reserved": int(reserved), "skus": skus}
    return totals


def find_variant(brand_ids: list[int], sku: str) -> Variant | None:
    """SKU codes are unique per brand: two carried brands may share one (ValidationFailed)."""
    found = (
        db.session.execute(
            select(Variant).where(
                Variant.brand_id.in_(brand_ids), Variant.sku == sku.strip().upper()
            )
        )
        .scalars()
        .all()
    )
    if len(found) > 1:
        raise ValidationFailed(
            fields={"sku": "Several brands carried here use this SKU code; ask HQ to rename one."}
        )
    return found[0] if found else None


def carried_brand_ids(location: Location) -> list[int]:
    """The brands whose SKUs a location may hold: its org's own brand (HQ), or every brand the
    org buys in (a ChannelLink with the org as buyer)."""
    org = location.org
    if org.kind == OrgKind.BRAND:
        return [org.id]
    stmt = select(ChannelLink.brand_id).where(ChannelLink.buyer_org_id == org.id).distinct()
    return sorted(db.session.execute(stmt).scalars())


def find_stockable_variant(location: Location, sku: str) -> Variant | None:
    """The SKU, if it is one of a brand the location carries; None otherwise (unknown or not
    carried here look the same, so a store learns nothing of brands it does not carry)."""
    if not (sku or "").strip():
        return None
    return find_variant(carried_brand_ids(location), sku)


def level_after(move: StockMove) -> StockLevel:
    """The level a move was just applied to, as the database has it now (services change levels
    with bulk UPDATEs). A move only applies to a level that exists, so there always is one."""
    return db.session.execute(
        select(StockLevel)
        .where(
            StockLevel.location_id == move.location_id,
            StockLevel.variant_id == move.variant_id,
            StockLevel.grade == move.grade,
        )
        .execution_options(populate_existing=True)
    ).scalar_one()


def list_moves(
    actor: Actor,
    location: Location,
    *,
    sku: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page:
    """A location's ledger, newest first; an org above it sees the moves of its own brands only
    (the same rule as `visible_levels`)."""
    stmt = (
        select(StockMove)
        .join(Variant, Variant.id == StockMove.variant_id)
        .where(StockMove.location_id == location.id)
        .options(selectinload(StockMove.variant))
    )
    if not actor.is_system and location.org_id != actor.org_id:
        stmt = stmt.where(org_visible(actor, location.org_id, StockMove.brand_id))
    if sku:
        stmt = stmt.where(Variant.sku.ilike(f"%{sku.strip()}%"))
    return paginate(stmt.order_by(StockMove.id.desc()), page, per_page)


# -- stock uploads -------------------------------------------------------------------------------


def find_stock_upload(actor: Actor, upload_id: int, *, lock: bool = False) -> StockUpload | None:
    """An upload of the actor's own org (any, for the system); `lock` takes its row lock and
    reads it afresh (a job about to act on it)."""

    stmt = select(StockUpload).where(StockUpload.id == upload_id)
    if not actor.is_system:
        stmt = stmt.where(StockUpload.org_id == actor.org_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return db.session.execute(stmt).scalar_one_or_none()


def get_stock_upload(actor: Actor, upload_id: int) -> StockUpload:
    """An upload of the actor's own org; anyone else's, even an org's below, is a 404."""
    upload = find_stock_upload(actor, upload_id)
    if upload is None:
        raise NotFound()
    return upload


def list_stock_uploads(actor: Actor, location: Location, *, limit: int = 20) -> list[StockUpload]:
    """The latest uploads made at one of the actor's own locations, newest first."""

    if not actor.is_system and location.org_id != actor.org_id:
        return []
    stmt = (
        select(StockUpload)
        .where(StockUpload.location_id == location.id)
        .order_by(StockUpload.id.desc())
        .limit(limit)
    )
    return list(db.session.execute(stmt).scalars())
