"""Private sales (内购会) of the employee store (DESIGN §7).

HQ writes a sale (code, name, window, audience, the online location that holds its stock,
per-person limits of the event) and its items (a SKU of one grade, a fixed event price, a
per-person limit, units to set aside), then publishes it: the units are reserved at the sale's
location in the stock ledger under `sale:<code>`, so no other order takes them. Its audience
sees the sale coming (a countdown) and buys in it while its window is open.

Checkout (`before_place`): an order of a sale (`extras.event_code`) holds only the sale's items,
at their event prices, at the sale's location; the order's reservation takes the units over from
the sale's hold (`extra_moves` release the hold as the order reserves them: the level does not
move). The hold's own counter (`PrivateSaleItem.taken_qty`) is drawn with a conditional UPDATE
once the order is placed (`take_hold`, from `limits.after_place`), so many buyers racing never
take more than was set aside. An order called off before hand-over gives its units back to the
hold while the sale is open (`order_moved`); a sale whose window ended releases what is left,
once (`close_sale`, run by sale_jobs.close_ended_sales).

Locks, in this order everywhere: the buyer's member, the sale's row (FOR SHARE by buyers and
call-offs, exclusively by publish and close), then items and stock levels. A close therefore
waits for the checkouts and call-offs in flight and then reads what they committed.

One module on purpose, past the usual length: publishing (which reserves), the checkout's draw,
the call-offs' give-back and the close (which releases) are one protocol over the same counters
and locks, and its guarantees hold only read together.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from flask import has_request_context
from flask_babel import format_datetime
from flask_babel import lazy_gettext as _l
from sqlalchemy import CursorResult, event, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from portal.catalog.models import Product, Variant
from portal.core import audit
from portal.core.access import Actor, Permission
from portal.core.db import utcnow
from portal.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.inventory.errors import InsufficientStock
from portal.inventory.ledger import MoveLine, apply_moves
from portal.inventory.models import Grade, Location, MoveReason
from portal.members import entitlement, membership
from portal.members.sale_models import PrivateSale, PrivateSaleItem, SaleAudience, SaleStatus
from portal.network.models import Organization
from portal.storefront.catalog import LinePrice, price_variants
from portal.storefront.entry import may_enter
from portal.storefront.hooks import CheckoutContext
from portal.storefront.models import Consumer, ConsumerOrder, OnlineLocation, Tier
from portal.storefront.transitions import Action
from portal.storefront.words import say

CODE = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,31}\Z")
MAX_ITEMS = 200
MAX_UNITS = 100_000  # set aside for one item
MAX_LIMIT = 1000  # units per person
MAX_CENTS = 10**10

# Which kinds of entitlement (portal/members/entitlement.py) each audience admits.
EMPLOYEE, FRIEND, PARTNER = "employee", "friend", "partner"
AUDIENCE_KINDS = {
    SaleAudience.EMPLOYEES: frozenset({EMPLOYEE}),
    SaleAudience.FRIENDS: frozenset({EMPLOYEE, FRIEND}),
    SaleAudience.PARTNERS: frozenset({EMPLOYEE, FRIEND, PARTNER}),
}
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
# The moves of an order that give its units back before hand-over (storefront/transitions.py).
CALL_OFFS = frozenset({Action.CANCEL.value, Action.EXPIRE.value, Action.REFUND.value})


def hold_reference(sale: PrivateSale) -> str:
    """The stock ledger's reference of the sale's set-aside units."""
    return f"sale:{sale.code}"


def when(moment: datetime) -> str:
    """A time as the page's language writes it (in the portal's time zone); ISO elsewhere."""
    if has_request_context():
        return format_datetime(moment, "medium")
    return moment.strftime("%Y-%m-%d %H:%M UTC")


# -- who may buy -----------------------------------------------------------------------------------


def entitlement_kinds(brand: Organization, consumer: Consumer | None) -> frozenset[str]:
    """The kinds of entitlement the consumer holds for the brand's employee store ("employee",
    "partner", "friend"; portal/members/entitlement.py); none when they may not enter it. One
    whom the store's entry rule admits without a record of why counts as an employee."""
    if consumer is None or not may_enter(brand, Tier.EMPLOYEE, consumer):
        return frozenset()
    kinds = frozenset(str(found.kind) for found in entitlement.entitlements_of(brand, consumer))
    return kinds or frozenset({EMPLOYEE})


def in_audience(sale: PrivateSale, kinds: frozenset[str]) -> bool:
    return bool(AUDIENCE_KINDS[SaleAudience(sale.audience)] & kinds)


def is_open(sale: PrivateSale, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return sale.status == SaleStatus.PUBLISHED and sale.starts_at <= now < sale.ends_at


def is_coming(sale: PrivateSale, now: datetime | None = None) -> bool:
    return sale.status == SaleStatus.PUBLISHED and (now or utcnow()) < sale.starts_at


# -- HQ: writing, publishing and ending a sale ----------------------------------------------------


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


# -- consumers: what they see ----------------------------------------------------------------------


def sales_for(brand: Organization, consumer: Consumer) -> list[PrivateSale]:
    """The brand's published sales open now or coming, for the consumer's audience."""
    kinds = entitlement_kinds(brand, consumer)
    if not kinds:
        return []
    found = db.session.execute(
        select(PrivateSale)
        .where(
            PrivateSale.brand_id == brand.id,
            PrivateSale.status == SaleStatus.PUBLISHED,
            PrivateSale.ends_at > utcnow(),
        )
        .order_by(PrivateSale.starts_at, PrivateSale.id)
    ).scalars()
    return [sale for sale in found if in_audience(sale, kinds)]


def ensure_may_buy(brand: Organization, consumer: Consumer, sale: PrivateSale) -> None:
    """PermissionDenied naming the audience when the consumer is not in it."""
    if not in_audience(sale, entitlement_kinds(brand, consumer)):
        raise PermissionDenied(
            say(
                _l("%(sale)s is open to: %(audience)s."),
                sale=sale.name,
                audience=say(AUDIENCE_NAMES[SaleAudience(sale.audience)]).lower(),
            )
        )


def find_published(brand: Organization, code: str) -> PrivateSale:
    """A published or closed sale of the brand (a draft is no sale to consumers: 404)."""
    sale = get_sale(brand, code)
    if sale.status == SaleStatus.DRAFT:
        raise NotFound()
    return sale


def event_only(brand: Organization, items: Sequence[PrivateSaleItem]) -> set[int]:
    """The items' SKUs the employee store does not list: sold only inside the sale."""
    listed = price_variants(brand.id, Tier.EMPLOYEE, [item.variant_id for item in items])
    return {item.variant_id for item in items if item.variant_id not in listed}


# -- checkout --------------------------------------------------------------------------------------


def _ensure_open(sale: PrivateSale) -> None:
    now = utcnow()
    if sale.status == SaleStatus.PUBLISHED and now < sale.starts_at:
        raise ValidationFailed(
            say(_l("%(sale)s opens at %(time)s."), sale=sale.name, time=when(sale.starts_at)),
            fields={"event_code": say(_l("Not open yet."))},
        )
    if not is_open(sale, now):
        raise ValidationFailed(
            say(_l("%(sale)s has ended."), sale=sale.name),
            fields={"event_code": say(_l("The sale has ended."))},
        )


def checkout_sale(context: CheckoutContext) -> PrivateSale | None:
    """The sale this checkout buys in (None: none), under a shared lock, checked open and open
    to the consumer."""
    code = (context.extras.event_code or "").strip().upper()
    if not code:
        return None
    if context.tier != Tier.EMPLOYEE:
        raise ValidationFailed(
            fields={"event_code": say(_l("A private sale is bought in the employee store."))}
        )
    sale = db.session.execute(
        select(PrivateSale)
        .where(PrivateSale.brand_id == context.brand.id, PrivateSale.code == code[:32])
        .with_for_update(read=True)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if sale is None or sale.status == SaleStatus.DRAFT:
        raise ValidationFailed(
            say(_l("There is no such private sale.")),
            fields={"event_code": say(_l("Unknown sale."))},
        )
    ensure_may_buy(context.brand, context.consumer, sale)
    _ensure_open(sale)
    return sale


def lock_person(consumer: Consumer) -> None:
    """The buyer's row lock, under which their limits are counted (limits.py): their member's
    (`membership.lock_member`), or their own account's when they are no member."""
    if consumer.member_id is not None:
        membership.lock_member(consumer.member_id)
    else:
        db.session.execute(select(Consumer.id).where(Consumer.id == consumer.id).with_for_update())


def sale_of(context: CheckoutContext) -> PrivateSale | None:
    """The sale a checkout buys in, as `before_place` found it (checked, and locked, in this
    transaction already); None for a checkout outside any sale."""
    code = (context.extras.event_code or "").strip().upper()
    if not code or context.tier != Tier.EMPLOYEE:
        return None
    return db.session.execute(
        select(PrivateSale).where(
            PrivateSale.brand_id == context.brand.id, PrivateSale.code == code[:32]
        )
    ).scalar_one_or_none()


def before_place(context: CheckoutContext) -> None:
    """An employee-store checkout takes its buyer's lock first, before the order's row refers
    to the member (that reference holds a share of the member's row, and two checkouts of one
    person each holding one could not both take the lock later). A checkout in a private sale
    then buys only its items, at their event prices, held at the sale's location, taking the
    units over from the sale's hold."""
    if context.tier == Tier.EMPLOYEE:
        lock_person(context.consumer)
    sale = checkout_sale(context)
    if sale is None:
        return
    items = {item.variant_id: item for item in sale.items}
    prices: dict[int, LinePrice] = {}
    problems: dict[str, str] = {}
    for (variant_id, grade), qty in context.wanted.items():
        field = context.where[(variant_id, grade)]
        item = items.get(variant_id)
        if item is None:
            problems[field] = say(_l("Not sold in this private sale."))
        elif item.grade != grade:
            problems[field] = say(_l("Sold in this sale as grade %(grade)s."), grade=item.grade)
        elif qty > item.left:
            problems[field] = say(_l("Only %(left)d left in this sale."), left=item.left)
        else:
            prices[variant_id] = LinePrice(item.variant, item.price_cents, None)
    if problems:
        raise ValidationFailed(
            say(_l("Some lines cannot be bought in %(sale)s."), sale=sale.name), fields=problems
        )
    context.prices = prices
    context.fixed_location_id = sale.location_id
    context.extra_moves.extend(
        MoveLine(
            sale.location_id,
            variant_id,
            reserved_delta=-qty,
            grade=grade,
            where=context.where[(variant_id, grade)],
        )
        for (variant_id, grade), qty in context.wanted.items()
    )
    context.details["event"] = sale.code


def take_hold(context: CheckoutContext, sale: PrivateSale, order: ConsumerOrder) -> None:
    """The placed order takes its units from the sale's hold: one conditional UPDATE per item,
    so buyers racing for the last units never take more than was set aside. The order records
    its sale."""
    items = {item.variant_id: item for item in sale.items}
    problems: dict[str, str] = {}
    for (variant_id, grade), qty in context.wanted.items():
        item = items[variant_id]
        changed = cast(
            CursorResult[Any],
            db.session.execute(
                update(PrivateSaleItem)
                .where(
                    PrivateSaleItem.id == item.id,
                    PrivateSaleItem.taken_qty + qty <= PrivateSaleItem.set_aside_qty,
                )
                .values(taken_qty=PrivateSaleItem.taken_qty + qty)
                .execution_options(synchronize_session=False)
            ),
        )
        if changed.rowcount != 1:
            left = db.session.execute(
                select(PrivateSaleItem.set_aside_qty - PrivateSaleItem.taken_qty).where(
                    PrivateSaleItem.id == item.id
                )
            ).scalar_one()
            problems[context.where[(variant_id, grade)]] = say(
                _l("Only %(left)d left in this sale."), left=left
            )
    if problems:
        raise InsufficientStock(
            say(_l("Some lines cannot be bought in %(sale)s."), sale=sale.name), fields=problems
        )
    order.event_id = sale.id


# -- call-offs give the units back -----------------------------------------------------------------

_PENDING = (
    "portal_sale_give_back"  # session.info: [(transaction, location, ref, item, var, grade, qty)]
)


def order_moved(order: ConsumerOrder, action: str) -> None:
    """An order of a sale called off before hand-over (cancelled, expired, refunded): while the
    sale is open, its units go back to the sale's hold, else to the general stock (the
    storefront releases them either way).

    The storefront tells this before it releases the order's units, and the hold can be
    re-reserved only once they are released: the give-back is made when the transaction
    commits (`_give_back_on_commit`), under the sale's shared lock taken here, so the sale
    cannot close in between."""
    if order.event_id is None or action not in CALL_OFFS:
        return
    sale = db.session.execute(
        select(PrivateSale)
        .where(PrivateSale.id == order.event_id, PrivateSale.brand_id == order.brand_id)
        .with_for_update(read=True)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if sale is None or not is_open(sale) or order.location_id != sale.location_id:
        return
    items = {item.variant_id: item for item in sale.items}
    session = db.session()
    transaction = session.get_nested_transaction() or session.get_transaction()
    pending = session.info.setdefault(_PENDING, [])
    for line in order.lines:
        item = items.get(line.variant_id)
        if item is not None and item.grade == line.grade:
            pending.append(
                (
                    transaction,
                    sale.location_id,
                    hold_reference(sale),
                    item.id,
                    line.variant_id,
                    line.grade,
                    line.qty,
                )
            )


def _give_back_on_commit(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint's release, not the transaction's commit
    pending = session.info.pop(_PENDING, None)
    for _txn, location_id, reference, item_id, variant_id, grade, qty in pending or ():
        try:
            with session.begin_nested():
                changed = cast(
                    CursorResult[Any],
                    session.execute(
                        update(PrivateSaleItem)
                        .where(PrivateSaleItem.id == item_id, PrivateSaleItem.taken_qty >= qty)
                        .values(taken_qty=PrivateSaleItem.taken_qty - qty)
                        .execution_options(synchronize_session=False)
                    ),
                )
                if changed.rowcount == 1:
                    apply_moves(
                        Actor.system(),
                        [MoveLine(location_id, variant_id, reserved_delta=qty, grade=grade)],
                        reason=MoveReason.RESERVE,
                        reference=reference,
                        note="given back by a called-off order",
                    )
        except InsufficientStock:
            continue  # taken by another order of this transaction: the hold stays as it was


def _on_soft_rollback(session: Session, previous_transaction: Any) -> None:
    pending = session.info.get(_PENDING)
    if not pending:
        return

    def rolled_back(txn: Any) -> bool:
        while txn is not None:
            if txn is previous_transaction:
                return True
            txn = txn.parent
        return False

    session.info[_PENDING] = [p for p in pending if not rolled_back(p[0])]


event.listen(Session, "before_commit", _give_back_on_commit)
event.listen(Session, "after_soft_rollback", _on_soft_rollback)


def product_names(items: Sequence[PrivateSaleItem]) -> dict[int, str]:
    """Product name per item's variant id, in one query (pages)."""
    rows = db.session.execute(
        select(Variant.id, Product.name)
        .join(Product, Product.id == Variant.product_id)
        .where(Variant.id.in_([item.variant_id for item in items] or [0]))
    ).all()
    return {variant_id: name for variant_id, name in rows}
