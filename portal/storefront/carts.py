"""A consumer's cart, one per storefront (tier): what they mean to buy, never what it costs.

Prices and stock are read again every time the cart is shown (`priced_cart`), so the cart says
which lines are no longer sold here or have gone up or down, and how many units can still be
sold online. Checkout charges the policy's price of that moment (`checkout.checkout`); the cart
page only helps the consumer see it first.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.catalog.models import Variant
from portal.core.errors import NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.inventory.models import Grade
from portal.network.models import Organization
from portal.storefront import catalog, stock
from portal.storefront.checkout import MAX_LINES, MAX_QTY, CheckoutLine
from portal.storefront.entry import may_enter
from portal.storefront.models import (
    Consumer,
    ConsumerCart,
    ConsumerCartLine,
    ConsumerOrder,
    Tier,
)
from portal.storefront.words import say


@dataclass(frozen=True)
class CartRow:
    """One cart line as it stands now. `cents` is None when the storefront no longer sells it."""

    line_id: int
    variant: Variant
    grade: str
    qty: int
    cents: int | None
    sellable: int  # units that can be sold online now, over every enabled location

    @property
    def is_listed(self) -> bool:
        return self.cents is not None

    @property
    def line_cents(self) -> int:
        return (self.cents or 0) * self.qty

    @property
    def is_short(self) -> bool:
        return self.qty > self.sellable


@dataclass
class PricedCart:
    tier: str
    rows: list[CartRow] = field(default_factory=list)
    currency: str = "CNY"

    @property
    def is_empty(self) -> bool:
        return not self.rows

    @property
    def total_cents(self) -> int:
        return sum(row.line_cents for row in self.rows if row.is_listed)

    @property
    def total_qty(self) -> int:
        return sum(row.qty for row in self.rows)

    @property
    def can_check_out(self) -> bool:
        return bool(self.rows) and all(r.is_listed and not r.is_short for r in self.rows)

    def checkout_lines(self) -> list[CheckoutLine]:
        return [CheckoutLine(row.variant.id, row.qty, row.grade) for row in self.rows]

    def fingerprint(self) -> str:
        """What the consumer was shown: lines, quantities and prices. Checkout compares it so
        that a cart changed in another tab, or a price changed since, is not bought unseen."""
        text = ";".join(
            f"{r.line_id}:{r.variant.id}:{r.grade}:{r.qty}:{r.cents}" for r in self.rows
        )
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def seen_prices(self) -> str:
        """Each line's price as shown, "line:cents" joined by commas (a hidden form field)."""
        return ",".join(f"{r.line_id}:{r.cents if r.cents is not None else ''}" for r in self.rows)


def _check_tier(brand: Organization, tier: str, consumer: Consumer) -> None:
    if consumer.brand_id != brand.id:
        raise PermissionDenied(say(_l("This account belongs to another brand's shop.")))
    if tier not in tuple(Tier) or not may_enter(brand, tier, consumer):
        raise PermissionDenied(say(_l("This storefront is not open to you.")))


def find_cart(consumer: Consumer, tier: str) -> ConsumerCart | None:
    return db.session.execute(
        select(ConsumerCart).where(
            ConsumerCart.consumer_id == consumer.id, ConsumerCart.tier == tier
        )
    ).scalar_one_or_none()


def _cart(consumer: Consumer, tier: str) -> ConsumerCart:
    cart = find_cart(consumer, tier)
    if cart is None:
        cart = ConsumerCart(brand_id=consumer.brand_id, consumer_id=consumer.id, tier=tier)
        db.session.add(cart)
        db.session.flush()
    return cart


def _line(consumer: Consumer, tier: str, line_id: int) -> ConsumerCartLine:
    line = db.session.execute(
        select(ConsumerCartLine)
        .join(ConsumerCart, ConsumerCart.id == ConsumerCartLine.cart_id)
        .where(
            ConsumerCartLine.id == line_id,
            ConsumerCart.consumer_id == consumer.id,
            ConsumerCart.tier == tier,
        )
    ).scalar_one_or_none()
    if line is None:
        raise NotFound()
    return line


def _sellable(brand: Organization, variant_id: int, grade: str) -> int:
    return stock.availability(brand, [variant_id], grade=grade)[variant_id].sellable


def _only(can: int) -> str:
    return say(_l("Only %(count)d can be sold online."), count=can)


def _check_qty(qty: object) -> int:
    if isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= MAX_QTY:
        raise ValidationFailed(
            fields={"qty": say(_l("A quantity from 1 to %(max)d."), max=MAX_QTY)}
        )
    return qty


def add(
    consumer: Consumer,
    brand: Organization,
    tier: str,
    variant_id: int,
    qty: int = 1,
    *,
    grade: str = Grade.A,
) -> ConsumerCartLine:
    """Put `qty` more of a SKU in the cart. Refused (ValidationFailed on `variant_id` or `qty`)
    when this storefront does not sell it now, or when the cart would then hold more than can
    be sold online (the message says how many can)."""
    _check_tier(brand, tier, consumer)
    qty = _check_qty(qty)
    if grade not in tuple(Grade) or (grade == Grade.B and tier != Tier.EMPLOYEE):
        raise ValidationFailed(fields={"variant_id": say(_l("Not sold in this storefront now."))})
    if variant_id not in catalog.price_variants(brand.id, tier, [variant_id]):
        raise ValidationFailed(fields={"variant_id": say(_l("Not sold in this storefront now."))})
    cart = _cart(consumer, tier)
    line = next((x for x in cart.lines if (x.variant_id, x.grade) == (variant_id, grade)), None)
    if line is None and len(cart.lines) >= MAX_LINES:
        raise ValidationFailed(
            fields={"variant_id": say(_l("At most %(count)d different items."), count=MAX_LINES)}
        )
    total = qty + (line.qty if line is not None else 0)
    _check_qty(total)
    can = _sellable(brand, variant_id, grade)
    if total > can:
        only = _only(can)
        raise ValidationFailed(only, fields={"qty": only})
    if line is None:
        line = ConsumerCartLine(variant_id=variant_id, grade=grade, qty=total)
        cart.lines.append(line)
    else:
        line.qty = total
    db.session.flush()
    return line


def set_qty(
    consumer: Consumer, brand: Organization, tier: str, line_id: int, qty: int
) -> ConsumerCartLine | None:
    """Change a line's quantity; 0 removes it (None). A quantity above what can be sold online
    is refused, saying how many can."""
    _check_tier(brand, tier, consumer)
    line = _line(consumer, tier, line_id)
    if qty == 0 and not isinstance(qty, bool):
        remove(consumer, brand, tier, line_id)
        return None
    qty = _check_qty(qty)
    can = _sellable(brand, line.variant_id, line.grade)
    if qty > can:
        only = _only(can)
        raise ValidationFailed(only, fields={f"qty.{line.id}": only})
    line.qty = qty
    db.session.flush()
    return line


def remove(consumer: Consumer, brand: Organization, tier: str, line_id: int) -> None:
    _check_tier(brand, tier, consumer)
    line = _line(consumer, tier, line_id)
    line.cart.lines.remove(line)
    db.session.flush()


def clear(consumer: Consumer, tier: str) -> None:
    """Empty the cart (its lines became an order)."""
    cart = find_cart(consumer, tier)
    if cart is not None:
        cart.lines.clear()
        db.session.flush()


def priced_cart(consumer: Consumer, brand: Organization, tier: str) -> PricedCart:
    """The cart with today's prices (None for a line no longer sold here) and how many units
    of each line can be sold online. A few queries whatever the number of lines."""
    cart = find_cart(consumer, tier)
    if cart is None or not cart.lines:
        return PricedCart(tier)
    lines = list(cart.lines)
    prices = catalog.price_variants(
        brand.id, tier, [x.variant_id for x in lines], consumer=consumer
    )
    sellable: dict[tuple[int, str], int] = {}
    for grade in {x.grade for x in lines}:
        ids = [x.variant_id for x in lines if x.grade == grade]
        for variant_id, found in stock.availability(brand, ids, grade=grade).items():
            sellable[(variant_id, grade)] = found.sellable
    rows = [
        CartRow(
            line_id=x.id,
            variant=x.variant,
            grade=x.grade,
            qty=x.qty,
            cents=prices[x.variant_id].cents if x.variant_id in prices else None,
            sellable=sellable.get((x.variant_id, x.grade), 0),
        )
        for x in lines
    ]
    currency = next((p.variant.product.currency for p in prices.values()), "CNY")
    return PricedCart(tier, rows, currency)


def find_placed(consumer: Consumer, token: str) -> ConsumerOrder | None:
    """The order an earlier submit of this checkout form placed (a double tap), if any."""
    if not token:
        return None
    return db.session.execute(
        select(ConsumerOrder).where(
            ConsumerOrder.consumer_id == consumer.id, ConsumerOrder.checkout_token == token
        )
    ).scalar_one_or_none()


def pickup_cities(brand: Organization) -> dict[str, tuple[float, float]]:
    """The regions (cities) of the brand's pickup stores, each with the middle of its stores:
    where a shopper without a located address measures from (`stock.pickup_cities`, by name)."""
    return {city.name: (city.latitude, city.longitude) for city in stock.pickup_cities(brand)}
