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

The door: the pages, limits.py, plugs.py, the job, the seed and the tests call
`private_sales.<name>`. HQ's side (writing a sale and its items; publishing, which sets the
units aside; ending and closing, which release what is left) is in `sale_admin`. Here: who may
buy, what consumers see, the checkout's draw on the hold and the call-offs' give-back. The
order of locks above holds across both.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from flask import has_request_context
from flask_babel import format_datetime
from flask_babel import lazy_gettext as _l
from sqlalchemy import CursorResult, select, update

from portal.core.access import Actor
from portal.core.db import utcnow
from portal.core.errors import NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.inventory.errors import InsufficientStock
from portal.inventory.ledger import MoveLine, apply_moves
from portal.inventory.models import MoveReason
from portal.members import entitlement, membership
from portal.members.sale_admin import (
    AUDIENCE_NAMES,
    CODE,
    MAX_CENTS,
    MAX_ITEMS,
    MAX_LIMIT,
    MAX_UNITS,
    STATUS_NAMES,
    ItemInput,
    SaleInput,
    add_item,
    close_ended,
    close_sale,
    create_sale,
    end_sale,
    get_sale,
    hold_reference,
    list_sales,
    product_names,
    publish_sale,
    remove_item,
    sale_brand,
    sale_locations,
    update_sale,
)
from portal.members.sale_models import PrivateSale, PrivateSaleItem, SaleAudience, SaleStatus
from portal.network.models import Organization
from portal.storefront.catalog import LinePrice, price_variants
from portal.storefront.entry import may_enter
from portal.storefront.hooks import CheckoutContext
from portal.storefront.models import Consumer, ConsumerOrder, Tier
from portal.storefront.transitions import Action
from portal.storefront.words import say

__all__ = [
    "AUDIENCE_KINDS",
    "AUDIENCE_NAMES",
    "CALL_OFFS",
    "CODE",
    "EMPLOYEE",
    "FRIEND",
    "MAX_CENTS",
    "MAX_ITEMS",
    "MAX_LIMIT",
    "MAX_UNITS",
    "PARTNER",
    "STATUS_NAMES",
    "ItemInput",
    "SaleInput",
    "add_item",
    "before_place",
    "checkout_sale",
    "close_ended",
    "close_sale",
    "create_sale",
    "end_sale",
    "ensure_may_buy",
    "entitlement_kinds",
    "event_only",
    "find_published",
    "get_sale",
    "hold_reference",
    "in_audience",
    "is_coming",
    "is_open",
    "list_sales",
    "lock_person",
    "order_moved",
    "product_names",
    "publish_sale",
    "remove_item",
    "sale_brand",
    "sale_locations",
    "sale_of",
    "take_hold",
    "update_sale",
    "when",
]

# Which kinds of entitlement (portal/members/entitlement.py) each audience admits.
EMPLOYEE, FRIEND, PARTNER = "employee", "friend", "partner"
AUDIENCE_KINDS = {
    SaleAudience.EMPLOYEES: frozenset({EMPLOYEE}),
    SaleAudience.FRIENDS: frozenset({EMPLOYEE, FRIEND}),
    SaleAudience.PARTNERS: frozenset({EMPLOYEE, FRIEND, PARTNER}),
}
# The moves of an order that give its units back before hand-over (storefront/transitions.py).
CALL_OFFS = frozenset({Action.CANCEL.value, Action.EXPIRE.value, Action.REFUND.value})


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


def order_moved(order: ConsumerOrder, action: str) -> None:
    """An order of a sale called off before hand-over (cancelled, expired, refunded): while the
    sale is open, its units go back to the sale's hold, else to the general stock (the
    storefront has released them by the time it tells this). Under the sale's shared lock, so
    the sale cannot close in between."""
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
    for line in order.lines:
        item = items.get(line.variant_id)
        if item is not None and item.grade == line.grade:
            _give_back(sale, item, line.grade, line.qty)


def _give_back(sale: PrivateSale, item: PrivateSaleItem, grade: str, qty: int) -> None:
    try:
        with db.session.begin_nested():
            changed = cast(
                CursorResult[Any],
                db.session.execute(
                    update(PrivateSaleItem)
                    .where(PrivateSaleItem.id == item.id, PrivateSaleItem.taken_qty >= qty)
                    .values(taken_qty=PrivateSaleItem.taken_qty - qty)
                    .execution_options(synchronize_session=False)
                ),
            )
            if changed.rowcount == 1:
                apply_moves(
                    Actor.system(),
                    [MoveLine(sale.location_id, item.variant_id, reserved_delta=qty, grade=grade)],
                    reason=MoveReason.RESERVE,
                    reference=hold_reference(sale),
                    note="given back by a called-off order",
                )
    except InsufficientStock:
        pass  # the released units were taken meanwhile: the hold stays as it was
