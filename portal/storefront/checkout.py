"""Checkout: a consumer's lines become an order holding its units at one location, with a
payment waiting for them.

What is charged comes from the policy (`catalog.price_variants`), never from the client. Where
the units are held: the store the consumer picked for pickup, or, for delivery, the location the
routing rule chooses (`routing.route_delivery`). Either way they are reserved through the one
stock ledger, keeping the location's safety stock, so B2B and consumer orders never sell the same
unit. A retried checkout (a double tap, a lost answer) sends the same `checkout_token` and gets
the first order back: one order, one reservation, one payment.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager, joinedload

from portal.core.access import Actor
from portal.core.db import utcnow
from portal.core.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.inventory.errors import InsufficientStock
from portal.inventory.ledger import MoveLine, apply_moves
from portal.inventory.models import Grade, Location, MoveReason, StockLevel
from portal.network.models import Organization, OrgStatus
from portal.storefront import (
    catalog,
    couriers,
    hooks,
    orders,
    rerouting,
    routing,
    store_shops,
    transitions,
)
from portal.storefront.entry import may_enter
from portal.storefront.geo import haversine_km
from portal.storefront.hooks import CheckoutContext, CheckoutExtras
from portal.storefront.models import (
    Consumer,
    ConsumerAddress,
    ConsumerOrder,
    ConsumerOrderLine,
    DeliveryMethod,
    Fulfilment,
    OnlineLocation,
    Tier,
)
from portal.storefront.payments import services as payments
from portal.storefront.payments.models import PayableKind
from portal.storefront.payments.providers import provider_name_for
from portal.storefront.store_shop_models import StoreShop
from portal.storefront.transitions import Who
from portal.storefront.words import say

MAX_LINES = 50
MAX_QTY = 99  # per line: a consumer basket, not a wholesale order
TOKEN_CHARS = 64
# An online location with its location and that location's org: the order shows the store.
_WITH_STORE = joinedload(OnlineLocation.location).joinedload(Location.org)


@dataclass(frozen=True)
class CheckoutLine:
    variant_id: int
    qty: int
    grade: str = Grade.A


class Placed(NamedTuple):
    order: ConsumerOrder
    replayed: bool  # the token had placed it before: this call placed nothing


def checkout(
    consumer: Consumer,
    brand: Organization,
    tier: str,
    lines: Sequence[CheckoutLine],
    *,
    fulfilment: str,
    checkout_token: str,
    pickup_location_id: int | None = None,
    address_id: int | None = None,
    delivery_method: str | None = None,
    extras: CheckoutExtras | None = None,
    shop_org_id: int | None = None,
    placed_by_user_id: int | None = None,
) -> ConsumerOrder:
    """Place the order, or return the one this token already placed (`place` says which)."""
    return place(
        consumer,
        brand,
        tier,
        lines,
        fulfilment=fulfilment,
        checkout_token=checkout_token,
        pickup_location_id=pickup_location_id,
        address_id=address_id,
        delivery_method=delivery_method,
        extras=extras,
        shop_org_id=shop_org_id,
        placed_by_user_id=placed_by_user_id,
    ).order


def place(
    consumer: Consumer,
    brand: Organization,
    tier: str,
    lines: Sequence[CheckoutLine],
    *,
    fulfilment: str,
    checkout_token: str,
    pickup_location_id: int | None = None,
    address_id: int | None = None,
    delivery_method: str | None = None,
    extras: CheckoutExtras | None = None,
    shop_org_id: int | None = None,
    placed_by_user_id: int | None = None,
) -> Placed:
    """Place the order, or find the one this token already placed. Raises ValidationFailed
    naming the field or line (`lines.<i>`), InsufficientStock naming the first short line and
    how many can be sold, PermissionDenied when the storefront is not open to the consumer.
    A delivery order goes by parcel, or by same-city courier (with its fee) when the consumer
    asks (`delivery_method`) and its store is near enough (couriers.choose_method).
    `extras` is what else the consumer spends (points, wallet, coupons) or buys in (a private
    sale): the hooks that members registered (storefront/hooks.py) take it; what is left goes
    to the payment provider, and an order paid in full without it is paid at once.
    `shop_org_id`: sold through that store's own shop (on, official tier, else
    PermissionDenied): the lines cost the store's prices, and the units are held at its shelf,
    or for delivery at the brand's warehouse when the owner allows and the shelf lacks a line
    (store_shops.py). With `placed_by_user_id` too (staff ordering for a walk-in customer), the
    store's prices apply but the units go where the usual pickup choice or routing says.

    The steps are ordered for a sale where many race for few units: a pickup is refused before
    anything is written when its store already has too few, and the units are held last, so
    that each level's row lock, which every other checkout of that SKU there waits for, is held
    only from there to the commit."""
    token = (checkout_token or "").strip()
    if not token or len(token) > TOKEN_CHARS:
        raise ValidationFailed(
            fields={"checkout_token": say(_l("Send the checkout's one-time token."))}
        )
    if consumer.brand_id != brand.id:
        raise PermissionDenied(say(_l("This account belongs to another brand's shop.")))
    earlier = _placed(consumer, token)
    if earlier is not None:
        return Placed(earlier, True)
    if tier not in tuple(Tier) or not may_enter(brand, tier, consumer):
        raise PermissionDenied(say(_l("This storefront is not open to you.")))
    wanted = _check_lines(tier, lines)
    # Errors name the line as the client sent it: the first one of each (SKU, grade).
    where: dict[tuple[int, str], str] = {}
    for i, line in enumerate(lines):
        where.setdefault((line.variant_id, line.grade), f"lines.{i}")
    extras = extras or CheckoutExtras()
    # A store's own shop: its prices, and (unless staff order for a walk-in customer, which
    # the usual routing fills) its own shelf or the brand's warehouse.
    shop = store_shops.selling_shop(brand, shop_org_id, tier) if shop_org_id else None
    from_shop = shop is not None and placed_by_user_id is None
    store = None
    if fulfilment == Fulfilment.PICKUP and not extras.asks_hooks and not from_shop:
        # Nothing asked of the hooks, so the units come from the consumer's store: one it has
        # stocked and has too few of now is refused before the policy is read (most of a sale's
        # buyers, once it has sold out). Everything else is checked in the usual order below.
        store = _pickup_store(brand, pickup_location_id, wanted)
        if store is not None:
            _refuse_if_short(store[0], store[1], wanted, where, stocked_only=True)
    prices = catalog.price_variants(brand.id, tier, [key[0] for key in wanted], consumer=consumer)
    if shop is not None:
        prices = store_shops.shop_prices(shop, prices)
    context = CheckoutContext(
        consumer,
        brand,
        tier,
        extras,
        wanted,
        where,
        prices,
        shop_org_id=shop_org_id,
        placed_by_user_id=placed_by_user_id,
    )
    for before in hooks.checkout_before_place:
        before(context)
    prices = context.prices
    not_sold = say(_l("Not sold in this storefront now."))
    unlisted = {where[key]: not_sold for key in wanted if key[0] not in prices}
    if unlisted:
        raise ValidationFailed(say(_l("Some items are not sold here now.")), fields=unlisted)
    contact, address, point = _contact(consumer, fulfilment, address_id)
    distance_km: float | None = None
    if context.fixed_location_id is not None:
        online, distance_km = _fixed_location(brand, fulfilment, context.fixed_location_id)
    elif shop is not None and from_shop:
        online = _shop_location(shop, fulfilment, wanted, where)
        distance_km = _distance_km(online, point)
    elif fulfilment == Fulfilment.PICKUP:
        found = store or _pickup_store(brand, pickup_location_id, wanted)
        if found is None:
            raise ValidationFailed(
                fields={
                    "pickup_location_id": say(_l("Choose a store that hands over online orders."))
                }
            )
        online, left = found
        if not context.extra_moves:  # (a hook's moves may give units back to the same level)
            _refuse_if_short(online, left, wanted, where)
    else:
        online, distance_km = _routed_location(brand, wanted, point)
    method, fee = None, 0
    if fulfilment == Fulfilment.DELIVERY:
        method = couriers.choose_method(delivery_method, distance_km)
        fee = couriers.same_city_fee_cents() if method == DeliveryMethod.SAME_CITY else 0
    try:
        # All or nothing: a refusal anywhere below (a hook, the units) undoes every row of it.
        with db.session.begin_nested():
            order = _order(context, online, fulfilment, token, fee)
            order.delivery_method = method
            order.contact_name, order.contact_phone = contact
            if address is not None:
                order.address = address
                order.latitude, order.longitude = point
            db.session.flush()  # the unique (consumer, token) speaks here, inside the savepoint
            if fulfilment == Fulfilment.DELIVERY:
                rerouting.offer_first(order)  # re-routing counts from this offer
            _pay(context, order)
            _reserve(context, online, order.number)  # last: see above
            return Placed(order, False)
    except IntegrityError:
        # The same token, placed by a concurrent request that committed first: its order.
        placed = _placed(consumer, token)
        if placed is None:
            raise
        return Placed(placed, True)


class _Undo(Exception):
    """Leaves `quote`'s savepoint: nothing it did stays."""


def quote(
    consumer: Consumer,
    brand: Organization,
    tier: str,
    lines: Sequence[CheckoutLine],
    *,
    extras: CheckoutExtras | None = None,
) -> dict[int, catalog.LinePrice]:
    """What checkout would charge now for each line's SKU, with what the consumer asks to buy
    in (`extras`: a group buy's price, a private sale's), placing nothing: the lines are checked
    and the hooks' steps before placing run, so a refusal (a sale that has ended, a full group)
    is raised as checkout would raise it, and a SKU not sold here is simply absent. What the
    hooks do is undone (a savepoint), for a page that shows the price before the order."""
    if consumer.brand_id != brand.id:
        raise PermissionDenied(say(_l("This account belongs to another brand's shop.")))
    if tier not in tuple(Tier) or not may_enter(brand, tier, consumer):
        raise PermissionDenied(say(_l("This storefront is not open to you.")))
    wanted = _check_lines(tier, lines)
    where: dict[tuple[int, str], str] = {}
    for i, line in enumerate(lines):
        where.setdefault((line.variant_id, line.grade), f"lines.{i}")
    prices = catalog.price_variants(brand.id, tier, [key[0] for key in wanted], consumer=consumer)
    context = CheckoutContext(
        consumer, brand, tier, extras or CheckoutExtras(), wanted, where, prices
    )
    try:
        with db.session.begin_nested():
            for before in hooks.checkout_before_place:
                before(context)
            raise _Undo()
    except _Undo:
        pass
    return dict(context.prices)


def _placed(consumer: Consumer, token: str) -> ConsumerOrder | None:
    return db.session.execute(
        select(ConsumerOrder).where(
            ConsumerOrder.consumer_id == consumer.id, ConsumerOrder.checkout_token == token
        )
    ).scalar_one_or_none()


def _check_lines(tier: str, lines: Sequence[CheckoutLine]) -> dict[tuple[int, str], int]:
    if not lines:
        raise ValidationFailed(
            say(_l("The cart is empty.")), fields={"lines": say(_l("Add something first."))}
        )
    if len(lines) > MAX_LINES:
        raise ValidationFailed(
            fields={"lines": say(_l("At most %(count)d different items."), count=MAX_LINES)}
        )
    wanted: dict[tuple[int, str], int] = {}
    fields = {}
    for i, line in enumerate(lines):
        qty = line.qty
        if isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= MAX_QTY:
            fields[f"lines.{i}"] = say(_l("A quantity from 1 to %(max)d."), max=MAX_QTY)
            continue
        if line.grade not in tuple(Grade):
            fields[f"lines.{i}"] = say(_l("Unknown grade."))
            continue
        if line.grade == Grade.B and tier != Tier.EMPLOYEE:
            fields[f"lines.{i}"] = say(_l("Grade-B items are sold in the employee store only."))
            continue
        key = (line.variant_id, line.grade)
        wanted[key] = wanted.get(key, 0) + qty
        if wanted[key] > MAX_QTY:
            fields[f"lines.{i}"] = say(_l("At most %(count)d of one item."), count=MAX_QTY)
    if fields:
        raise ValidationFailed(say(_l("Some lines cannot be ordered.")), fields=fields)
    return wanted


def _contact(
    consumer: Consumer, fulfilment: str, address_id: int | None
) -> tuple[tuple[str, str], dict[str, str] | None, tuple[float | None, float | None]]:
    """Who receives the order: for pickup, the consumer; for delivery, one of their own
    addresses, which must have coordinates (routing measures from them)."""
    if fulfilment == Fulfilment.PICKUP:
        return (consumer.name or "", consumer.phone or ""), None, (None, None)
    if fulfilment != Fulfilment.DELIVERY:
        raise ValidationFailed(fields={"fulfilment": say(_l("Choose pickup or delivery."))})
    address = db.session.execute(
        select(ConsumerAddress).where(
            ConsumerAddress.id == (address_id or 0), ConsumerAddress.consumer_id == consumer.id
        )
    ).scalar_one_or_none()
    if address is None:
        raise ValidationFailed(fields={"address_id": say(_l("Choose one of your addresses."))})
    if address.latitude is None or address.longitude is None:
        raise ValidationFailed(
            fields={"address_id": say(_l("This address has no map position: edit it to add one."))}
        )
    copied = {
        "recipient": address.recipient,
        "phone": address.phone,
        "province": address.province,
        "city": address.city,
        "district": address.district,
        "line": address.line,
    }
    return (address.recipient, address.phone), copied, (address.latitude, address.longitude)


def _routed_location(
    brand: Organization,
    wanted: dict[tuple[int, str], int],
    point: tuple[float | None, float | None],
) -> tuple[OnlineLocation, float | None]:
    """Where a delivery's units are held (the routing rule's choice: a location that has them
    all), and how far that is from the address."""
    latitude, longitude = point
    plan = routing.route_delivery(brand, wanted, latitude, longitude, allow_split=False)
    online = db.session.execute(
        select(OnlineLocation)
        .where(OnlineLocation.brand_id == brand.id, OnlineLocation.location_id == plan.location_id)
        .options(_WITH_STORE)
    ).scalar_one()
    return online, plan.legs[0].distance_km


def _pickup_store(
    brand: Organization, location_id: int | None, wanted: dict[tuple[int, str], int]
) -> tuple[OnlineLocation, dict[tuple[int, str], int]] | None:
    """The store the consumer picked, if it hands over the brand's online orders, and what it
    has of each SKU it stocks (on hand - reserved), in one query; None for any other place."""
    rows = db.session.execute(
        select(
            OnlineLocation,
            StockLevel.variant_id,
            StockLevel.grade,
            StockLevel.on_hand - StockLevel.reserved,
        )
        .join(Location, Location.id == OnlineLocation.location_id)
        .join(Organization, Organization.id == Location.org_id)
        .outerjoin(
            StockLevel,
            and_(
                StockLevel.location_id == OnlineLocation.location_id,
                StockLevel.variant_id.in_(sorted({variant_id for variant_id, _grade in wanted})),
            ),
        )
        .where(
            OnlineLocation.brand_id == brand.id,
            OnlineLocation.location_id == (location_id or 0),
            OnlineLocation.is_enabled.is_(True),
            OnlineLocation.pickup.is_(True),
            Organization.status == OrgStatus.ACTIVE,  # as the store list shows them
        )
        .options(contains_eager(OnlineLocation.location).contains_eager(Location.org))
    ).all()
    if not rows:
        return None
    left = {(v, g): int(units) for _online, v, g, units in rows if v is not None}
    return rows[0][0], left


def _shop_location(
    shop: StoreShop,
    fulfilment: str,
    wanted: dict[tuple[int, str], int],
    where: dict[tuple[int, str], str],
) -> OnlineLocation:
    """Where a store shop's order is filled, one place per order: the store's shelf when it
    can send every line (pickup or delivery); else, for delivery when the owner lets the
    warehouse ship, the first of the brand's warehouses that can; else InsufficientStock
    naming the first line the shelf is short of."""
    shelf, warehouses = store_shops.places_of(shop)
    if fulfilment == Fulfilment.PICKUP:
        warehouses = []  # nobody collects at a warehouse
    free = store_shops.free_units(
        shop.brand_id, [shelf, *warehouses], [variant_id for variant_id, _grade in wanted]
    )

    def has_all(place: OnlineLocation) -> bool:
        return all(
            grade == Grade.A and free.get((place.location_id, variant_id), 0) >= qty
            for (variant_id, grade), qty in wanted.items()
        )

    for place in (shelf, *warehouses):
        if has_all(place):
            return place
    left = {
        (variant_id, grade): free.get((shelf.location_id, variant_id), 0) + shelf.safety_stock
        for variant_id, grade in wanted
    }
    _refuse_if_short(shelf, left, wanted, where)
    raise _short_at(shelf, {where[key]: "Only 0 available." for key in sorted(wanted)[:1]}, 0)


def _distance_km(online: OnlineLocation, point: tuple[float | None, float | None]) -> float | None:
    """How far a delivery travels from the location's org to the address, if both are known."""
    org = online.location.org
    if point[0] is None or point[1] is None or org.latitude is None or org.longitude is None:
        return None
    return round(haversine_km(point[0], point[1], org.latitude, org.longitude), 3)


def _fixed_location(
    brand: Organization, fulfilment: str, location_id: int
) -> tuple[OnlineLocation, float | None]:
    """The location a hook holds the units at (a private sale's set-aside stock): it must sell
    the brand online, and hand over pickups if the consumer collects."""
    online = db.session.execute(
        select(OnlineLocation)
        .where(
            OnlineLocation.brand_id == brand.id,
            OnlineLocation.location_id == location_id,
            OnlineLocation.is_enabled.is_(True),
        )
        .options(_WITH_STORE)
    ).scalar_one_or_none()
    if online is None or (fulfilment == Fulfilment.PICKUP and not online.pickup):
        raise ValidationFailed(
            fields={
                "fulfilment": say(
                    _l("These items are not handed over in a store: choose delivery.")
                )
            }
        )
    return online, None


def _refuse_if_short(
    online: OnlineLocation,
    left: dict[tuple[int, str], int],
    wanted: dict[tuple[int, str], int],
    where: dict[tuple[int, str], str],
    *,
    stocked_only: bool = False,
) -> None:
    """Refuse, writing nothing, when the store already has too few of a line to sell online
    (`left`: on hand - reserved of each SKU it stocks, before its safety stock; `stocked_only`:
    judge only those). A look without a lock: the reservation (`_reserve`) decides, and refuses
    in the same words when others took the units meanwhile."""
    for key in sorted(wanted):  # the ledger's order: it names the first short level
        if stocked_only and key not in left:
            continue
        have = max(0, left.get(key, 0) - online.safety_stock)
        if wanted[key] > have:
            problem = f"Only {have} available."  # as the ledger says it (inventory/ledger.py)
            raise _short_at(online, {where[key]: problem}, have)


def _short_at(
    online: OnlineLocation, fields: dict[str, str], available: object
) -> InsufficientStock:
    return InsufficientStock(
        say(
            _l("Not enough left at %(store)s: %(problem)s"),
            store=online.location.name,
            problem=next(iter(fields.values()), ""),
        ),
        fields=fields,
        available=available,
    )


def _order(
    context: CheckoutContext,
    online: OnlineLocation,
    fulfilment: str,
    token: str,
    delivery_cents: int = 0,
) -> ConsumerOrder:
    """The order, its lines and its first event, in the session (not yet written)."""
    consumer, brand, tier = context.consumer, context.brand, context.tier
    wanted, prices = context.wanted, context.prices
    currency = next(iter(prices.values())).variant.product.currency
    order = ConsumerOrder(
        number=new_order_number(),
        brand_id=brand.id,
        consumer_id=consumer.id,
        member_id=consumer.member_id,
        shop_org_id=context.shop_org_id,
        placed_by_user_id=context.placed_by_user_id,
        tier=tier,
        fulfilment=fulfilment,
        location_id=online.location_id,
        # The objects too: the answer shows the store and each line's SKU, and the session
        # keeps (weakly) only what something still refers to.
        location=online.location,
        checkout_token=token,
        currency=currency,
        delivery_cents=delivery_cents,  # set here: a column default comes only at the insert
        expires_at=utcnow() + timedelta(minutes=current_app.config["CONSUMER_ORDER_PAY_MINUTES"]),
    )
    for (variant_id, grade), qty in wanted.items():
        price = prices[variant_id]
        order.lines.append(
            ConsumerOrderLine(
                brand_id=brand.id,
                variant_id=variant_id,
                variant=price.variant,
                grade=grade,
                qty=qty,
                unit_price_cents=price.cents,
                line_cents=price.cents * qty,
                price_rule_id=price.rule_id,
            )
        )
    order.goods_cents = sum(line.line_cents for line in order.lines)
    order.total_cents = order.pay_cents = order.goods_cents + order.delivery_cents
    order.total_qty = sum(line.qty for line in order.lines)
    db.session.add(order)
    transitions.create(order, Who.CONSUMER, location=online.location_id, **context.details)
    return order


def _reserve(context: CheckoutContext, online: OnlineLocation, number: str) -> None:
    """Hold the order's units (and the hooks' moves) through the ledger, keeping the location's
    safety stock; InsufficientStock names the first short line."""
    try:
        apply_moves(
            Actor.system(),  # a consumer's own step: the order number says whose
            [
                *context.extra_moves,
                *(
                    MoveLine(
                        online.location_id,
                        variant_id,
                        reserved_delta=qty,
                        grade=grade,
                        where=context.where[(variant_id, grade)],
                        keep=online.safety_stock,
                    )
                    for (variant_id, grade), qty in context.wanted.items()
                ),
            ],
            reason=MoveReason.RESERVE,
            reference=number,
        )
    except InsufficientStock as error:
        raise _short_at(online, error.fields, error.extra.get("available")) from error


def _pay(context: CheckoutContext, order: ConsumerOrder) -> None:
    """The hooks take their part (limits, coupons, points, wallet); the provider is asked for
    the rest, and an order with nothing left to pay is paid now."""
    for after in hooks.checkout_after_place:
        after(context, order)
    order.total_cents = order.goods_cents + order.delivery_cents - order.discount_cents
    order.pay_cents = order.total_cents - order.points_cents - order.wallet_cents
    if order.total_cents < 0 or order.pay_cents < 0:
        raise ValueError(f"checkout hooks took more than order {order.number} costs")
    if order.pay_cents == 0:
        db.session.flush()
        orders.paid_without_provider(order)
        return
    payment = payments.create_payment(
        brand_id=order.brand_id,
        payable_kind=PayableKind.CONSUMER_ORDER,
        payable_id=order.id,
        amount_cents=order.pay_cents,
        currency=order.currency,
        provider=provider_name_for(context.brand.code),
        expires_at=order.expires_at,
    )
    order.payment_id = payment.id
    db.session.flush()


def new_order_number() -> str:
    """C + the day + random letters: unguessable, so a number alone reveals no order."""
    return f"C{utcnow():%y%m%d}{secrets.token_hex(5).upper()}"
