"""HQ's side of private sales (what a sale is, its protocol and the lock order:
portal/members/private_sales.py): writing a draft sale and its items, publishing it (its units
set aside at its location under `hold_reference`), ending it, and closing the sales whose window
ended (what is left of each item's hold goes back to the stock). Status changes take the sale's
row exclusively, so they wait for the checkouts and call-offs in flight, which hold it FOR
SHARE."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from portal.catalog.models import Product, Variant
from portal.core import audit
from portal.core.access import Actor, Permission
from portal.core.db import utcnow
from portal.core.errors import Conflict, NotFound, ValidationFailed
from portal.extensions import db
from portal.inventory.errors import InsufficientStock
from portal.inventory.ledger import MoveLine, apply_moves
from portal.inventory.models import Grade, Location, MoveReason
from portal.members.sale_models import PrivateSale, PrivateSaleItem, SaleAudience, SaleStatus
from portal.network.models import Organization
from portal.storefront.models import OnlineLocation
from portal.storefront.words import say

CODE = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,31}\Z")
MAX_ITEMS = 200
MAX_UNITS = 100_000  # set aside for one item
MAX_LIMIT = 1000  # units per person
MAX_CENTS = 10**10
AUDIENCE_NAMES = {
    SaleAudience.EMPLOYEES: _l("Employees only"),
    SaleAudience.FRIENDS: _l("Employees and their friends"),
    SaleAudience.PARTNERS: _l("Employees, friends and partner companies"),
}
STATUS_NAMES = {
    SaleStatus.DRAFT: _l("Draft"),
    SaleStatus.PUBLISHED: _l("Published"),
    SaleStatus.CLOSED: _l("Closed"),
}


def hold_reference(sale: PrivateSale) -> str:
    """The stock ledger's reference of the sale's set-aside units."""
    return f"sale:{sale.code}"


@dataclass(frozen=True)
class SaleInput:
    code: str
    name: str
    starts_at: datetime | None
    ends_at: datetime | None
    audience: str
    location_id: int | None
    units_per_person: int | None = None
    amount_per_person_cents: int | None = None
    description: str = ""


@dataclass(frozen=True)
class ItemInput:
    sku: str
    grade: str
    price_cents: int | None
    set_aside_qty: int | None
    limit_per_person: int | None = None


def _ensure_hq(actor: Actor, brand: Organization) -> None:
    """The brand's own HQ with MEMBERS_MANAGE (or the system); anyone else's sale is a 404."""
    if actor.is_system:
        return
    if not (actor.is_hq and actor.org_id == brand.id):
        raise NotFound()
    actor.ensure(Permission.MEMBERS_MANAGE)


def list_sales(brand: Organization) -> list[PrivateSale]:
    return list(
        db.session.execute(
            select(PrivateSale)
            .where(PrivateSale.brand_id == brand.id)
            .order_by(PrivateSale.starts_at.desc(), PrivateSale.id.desc())
        ).scalars()
    )


def get_sale(brand: Organization, code: str) -> PrivateSale:
    """The brand's sale of that code (404 for any other brand's)."""
    found = db.session.execute(
        select(PrivateSale)
        .where(PrivateSale.brand_id == brand.id, PrivateSale.code == (code or "").upper()[:32])
        .options(selectinload(PrivateSale.items).selectinload(PrivateSaleItem.variant))
    ).scalar_one_or_none()
    if found is None:
        raise NotFound()
    return found


def sale_locations(brand: Organization) -> list[tuple[OnlineLocation, Location]]:
    """Where a sale may hold its stock: the brand's locations selling online now."""
    return [
        (online, location)
        for online, location in db.session.execute(
            select(OnlineLocation, Location)
            .join(Location, Location.id == OnlineLocation.location_id)
            .where(OnlineLocation.brand_id == brand.id, OnlineLocation.is_enabled.is_(True))
            .order_by(Location.code)
        ).tuples()
    ]


def _int_in(value: Any, low: int, high: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return None
    return value


def _check_sale(brand: Organization, data: SaleInput, *, new: bool) -> dict[str, Any]:
    """The sale's column values, or ValidationFailed naming every wrong field."""
    errors: dict[str, str] = {}
    code = (data.code or "").strip().upper()
    if new and not CODE.match(code):
        errors["code"] = say(_l("Letters, digits, - and _, at most 32."))
    name = (data.name or "").strip()
    if not name or len(name) > 120:
        errors["name"] = say(_l("A name of at most %(count)d characters."), count=120)
    description = (data.description or "").strip()
    if len(description) > 500:
        errors["description"] = say(_l("At most %(count)d characters."), count=500)
    if data.starts_at is None:
        errors["starts_at"] = say(_l("When the sale opens."))
    if data.ends_at is None:
        errors["ends_at"] = say(_l("When the sale ends."))
    elif data.ends_at <= utcnow():
        errors["ends_at"] = say(_l("The end must be in the future."))
    elif data.starts_at is not None and data.ends_at <= data.starts_at:
        errors["ends_at"] = say(_l("The sale must end after it opens."))
    if data.audience not in tuple(SaleAudience):
        errors["audience"] = say(_l("Choose who may buy."))
    if data.location_id not in {location.id for _online, location in sale_locations(brand)}:
        errors["location_id"] = say(_l("Choose one of the brand's locations selling online."))
    units, amount = data.units_per_person, data.amount_per_person_cents
    if units is not None and _int_in(units, 1, MAX_LIMIT) is None:
        errors["units_per_person"] = say(
            _l("A whole number from 1 to %(max)d, or empty."), max=MAX_LIMIT
        )
    if amount is not None and _int_in(amount, 1, MAX_CENTS) is None:
        errors["amount_per_person"] = say(_l("An amount above zero, or empty."))
    if errors:
        raise ValidationFailed(say(_l("The sale has mistakes.")), fields=errors)
    values = {
        "name": name,
        "description": description,
        "starts_at": data.starts_at,
        "ends_at": data.ends_at,
        "audience": data.audience,
        "location_id": data.location_id,
        "units_per_person": units,
        "amount_per_person_cents": amount,
    }
    if new:
        values["code"] = code
    return values


def create_sale(actor: Actor, brand: Organization, data: SaleInput) -> PrivateSale:
    """A draft sale of the brand. Raises ValidationFailed naming the field (a code the brand
    already uses included)."""
    _ensure_hq(actor, brand)
    values = _check_sale(brand, data, new=True)
    sale = PrivateSale(brand_id=brand.id, created_by_user_id=actor.user_id, **values)
    try:
        with db.session.begin_nested():
            db.session.add(sale)
            db.session.flush()
    except IntegrityError:
        raise ValidationFailed(
            say(_l("The sale has mistakes.")),
            fields={"code": say(_l("Another sale of the brand has this code."))},
        ) from None
    audit.record(actor, "members.sale_created", brand_id=brand.id, code=sale.code)
    return sale


def _lock(sale: PrivateSale, *, shared: bool = False) -> PrivateSale:
    """The sale read again under its row lock (exclusive, or FOR SHARE), until the transaction
    ends: status changes take turns with each other and with the buyers."""
    return db.session.execute(
        select(PrivateSale)
        .where(PrivateSale.id == sale.id)
        .with_for_update(read=shared)
        .execution_options(populate_existing=True)
    ).scalar_one()


def _ensure_draft(sale: PrivateSale) -> None:
    if sale.status != SaleStatus.DRAFT:
        raise Conflict(say(_l("A published sale can no longer be changed: end it instead.")))


def update_sale(actor: Actor, sale: PrivateSale, data: SaleInput) -> PrivateSale:
    """Change a draft's settings (its code stays)."""
    brand = sale_brand(sale)
    _ensure_hq(actor, brand)
    _ensure_draft(_lock(sale))
    for name, value in _check_sale(brand, data, new=False).items():
        setattr(sale, name, value)
    db.session.flush()
    return sale


def sale_brand(sale: PrivateSale) -> Organization:
    return db.session.execute(
        select(Organization).where(Organization.id == sale.brand_id)
    ).scalar_one()


def add_item(actor: Actor, sale: PrivateSale, data: ItemInput) -> PrivateSaleItem:
    """An item of a draft sale: a SKU of the brand, once per sale. Raises ValidationFailed
    naming the field."""
    _ensure_hq(actor, sale_brand(sale))
    _ensure_draft(_lock(sale))
    errors: dict[str, str] = {}
    sku = (data.sku or "").strip().upper()
    variant = db.session.execute(
        select(Variant).where(Variant.brand_id == sale.brand_id, Variant.sku == sku)
    ).scalar_one_or_none()
    if variant is None:
        errors["sku"] = say(_l("No SKU of the brand has this code."))
    elif any(item.variant_id == variant.id for item in sale.items):
        errors["sku"] = say(_l("This SKU is in the sale already."))
    if data.grade not in tuple(Grade):
        errors["grade"] = say(_l("Grade A or B."))
    if data.price_cents is None or _int_in(data.price_cents, 1, MAX_CENTS) is None:
        errors["price"] = say(_l("An event price above zero."))
    if data.set_aside_qty is None or _int_in(data.set_aside_qty, 1, MAX_UNITS) is None:
        errors["set_aside_qty"] = say(_l("A whole number from 1 to %(max)d."), max=MAX_UNITS)
    limit = data.limit_per_person
    if limit is not None and _int_in(limit, 1, MAX_LIMIT) is None:
        errors["limit_per_person"] = say(
            _l("A whole number from 1 to %(max)d, or empty."), max=MAX_LIMIT
        )
    if len(sale.items) >= MAX_ITEMS:
        errors["sku"] = say(_l("At most %(count)d items in one sale."), count=MAX_ITEMS)
    if errors:
        raise ValidationFailed(say(_l("The item has mistakes.")), fields=errors)
    assert variant is not None and data.price_cents is not None and data.set_aside_qty
    item = PrivateSaleItem(
        brand_id=sale.brand_id,
        variant=variant,
        grade=data.grade,
        price_cents=data.price_cents,
        set_aside_qty=data.set_aside_qty,
        limit_per_person=limit,
    )
    sale.items.append(item)
    db.session.flush()
    return item


def remove_item(actor: Actor, sale: PrivateSale, item_id: int) -> None:
    _ensure_hq(actor, sale_brand(sale))
    _ensure_draft(_lock(sale))
    item = next((item for item in sale.items if item.id == item_id), None)
    if item is None:
        raise NotFound()
    sale.items.remove(item)
    db.session.flush()


def publish_sale(actor: Actor, sale: PrivateSale) -> PrivateSale:
    """Set the items' units aside at the sale's location (keeping its safety stock) and show
    the sale to its audience. All items or none: InsufficientStock names the item
    (`items.<i>`) and how many are there to set aside."""
    brand = sale_brand(sale)
    _ensure_hq(actor, brand)
    _ensure_draft(_lock(sale))
    if not sale.items:
        raise ValidationFailed(
            say(_l("Add an item first.")), fields={"items": say(_l("The sale has no items."))}
        )
    if sale.ends_at <= utcnow():
        raise ValidationFailed(fields={"ends_at": say(_l("The end must be in the future."))})
    online = {o.location_id: o for o, _location in sale_locations(brand)}.get(sale.location_id)
    if online is None:
        raise ValidationFailed(
            fields={"location_id": say(_l("This location no longer sells online."))}
        )
    try:
        apply_moves(
            actor,
            [
                MoveLine(
                    sale.location_id,
                    item.variant_id,
                    reserved_delta=item.set_aside_qty,
                    grade=item.grade,
                    where=f"items.{i}",
                    keep=online.safety_stock,
                )
                for i, item in enumerate(sale.items)
            ],
            reason=MoveReason.RESERVE,
            reference=hold_reference(sale),
            note="set aside for a private sale",
        )
    except InsufficientStock as error:
        where, problem = next(iter(error.fields.items()), ("items", ""))
        index = int(where.split(".")[1]) if where.startswith("items.") else 0
        raise InsufficientStock(
            say(
                _l(
                    "Not enough of %(sku)s (grade %(grade)s) at %(location)s to set aside: %(left)s"
                ),
                sku=sale.items[index].variant.sku,
                grade=sale.items[index].grade,
                location=sale.location.name,
                left=problem,
            ),
            fields=error.fields,
            available=error.extra.get("available"),
        ) from error
    sale.status, sale.published_at = SaleStatus.PUBLISHED, utcnow()
    db.session.flush()
    audit.record(
        actor,
        "members.sale_published",
        brand_id=brand.id,
        code=sale.code,
        units=sum(item.set_aside_qty for item in sale.items),
    )
    return sale


def end_sale(actor: Actor, sale: PrivateSale) -> PrivateSale:
    """HQ ends a published sale now: what is left of its hold goes back to the stock."""
    _ensure_hq(actor, sale_brand(sale))
    if not close_sale(actor, sale.id):
        raise Conflict(say(_l("Only a published sale can be ended.")))
    db.session.refresh(sale)
    return sale


def close_sale(actor: Actor, sale_id: int) -> bool:
    """Close a published sale and release what is left of each item's hold; False when it was
    not published (closed already: nothing twice). The status changes first, conditionally,
    so nothing draws on the hold afterwards."""
    row = db.session.execute(
        update(PrivateSale)
        .where(PrivateSale.id == sale_id, PrivateSale.status == SaleStatus.PUBLISHED)
        .values(status=SaleStatus.CLOSED, closed_at=utcnow())
        .returning(PrivateSale.location_id, PrivateSale.code)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        return False
    location_id, code = row
    items = db.session.execute(
        select(PrivateSaleItem)
        .where(PrivateSaleItem.sale_id == sale_id)
        .execution_options(populate_existing=True)
    ).scalars()
    apply_moves(
        actor,
        [
            MoveLine(location_id, item.variant_id, reserved_delta=-item.left, grade=item.grade)
            for item in items
            if item.left > 0
        ],
        reason=MoveReason.RELEASE,
        reference=f"sale:{code}",
        note="private sale closed",
    )
    return True


def close_ended(*, now: datetime | None = None, limit: int = 100) -> int:
    """Close the published sales whose window has ended (a batch of them); returns how many."""
    due = db.session.execute(
        select(PrivateSale.id)
        .where(PrivateSale.status == SaleStatus.PUBLISHED, PrivateSale.ends_at <= (now or utcnow()))
        .order_by(PrivateSale.id)
        .limit(limit)
    ).scalars()
    return sum(1 for sale_id in list(due) if close_sale(Actor.system(), sale_id))


def product_names(items: Sequence[PrivateSaleItem]) -> dict[int, str]:
    """Product name per item's variant id, in one query (pages)."""
    rows = db.session.execute(
        select(Variant.id, Product.name)
        .join(Product, Product.id == Variant.product_id)
        .where(Variant.id.in_([item.variant_id for item in items] or [0]))
    ).all()
    return {variant_id: name for variant_id, name in rows}
