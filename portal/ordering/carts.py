"""Carts and order templates: what a buyer gathers before placing an order (the grid, quick
order, a file, a template, a past order again), and submitting the cart as one order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from portal.catalog.models import Variant
from portal.core.access import Actor, Permission
from portal.core.db import utcnow
from portal.core.errors import NotFound, ValidationFailed
from portal.extensions import db
from portal.network.models import ChannelLink
from portal.ordering.checks import (
    MAX_LINE_QTY,
    LineRequest,
    Problem,
    buyer_link,
    check_lines,
    refuse,
    whole_number,
)
from portal.ordering.lifecycle import as_buyer
from portal.ordering.models import Cart, CartLine, Order, OrderTemplate
from portal.ordering.placing import place_order
from portal.ordering.transitions import ProblemCode
from portal.policy import queries as policy


def get_cart(actor: Actor, link: ChannelLink) -> Cart:
    """The buyer org's cart for this link's brand and supplier, made on first use."""
    cart = db.session.execute(
        select(Cart).where(
            Cart.buyer_org_id == link.buyer_org_id,
            Cart.brand_id == link.brand_id,
            Cart.supplier_org_id == link.supplier_org_id,
        )
    ).scalar_one_or_none()
    if cart is None:
        cart = Cart(
            buyer_org_id=link.buyer_org_id,
            brand_id=link.brand_id,
            supplier_org_id=link.supplier_org_id,
        )
        db.session.add(cart)
        db.session.flush()
    return cart


def _ensure_cart_owner(actor: Actor, cart: Cart) -> None:
    if actor.is_system:
        return
    actor.ensure(Permission.ORDER_PLACE)
    if cart.buyer_org_id != actor.org_id:
        raise NotFound()


def set_cart_quantities(actor: Actor, cart: Cart, quantities: dict[int, Any]) -> Cart:
    """The grid: set each SKU's quantity ({variant_id: qty}); 0 or empty removes it. Any bad
    cell refuses the whole grid, naming it."""
    _ensure_cart_owner(actor, cart)
    errors: dict[str, str] = {}
    clean: dict[int, int] = {}
    for variant_id, raw in quantities.items():
        if raw in (None, ""):
            clean[variant_id] = 0
            continue
        qty = whole_number(raw)
        if qty is None or qty < 0 or qty > MAX_LINE_QTY:
            errors[f"qty_{variant_id}"] = "A whole number of units, 0 or more."
        else:
            clean[variant_id] = qty
    if errors:
        raise ValidationFailed("Some quantities are not whole numbers.", fields=errors)
    known = set(
        db.session.execute(
            select(Variant.id).where(Variant.brand_id == cart.brand_id, Variant.id.in_(list(clean)))
        ).scalars()
    )
    existing = {line.variant_id: line for line in cart.lines}
    for variant_id, qty in clean.items():
        if variant_id not in known:
            continue
        line = existing.get(variant_id)
        if qty == 0:
            if line is not None:
                cart.lines.remove(line)
        elif line is None:
            cart.lines.append(CartLine(variant_id=variant_id, qty=qty))
        else:
            line.qty = qty
    cart.updated_at = utcnow()
    db.session.flush()
    return cart


def add_to_cart(actor: Actor, cart: Cart, requests: Sequence[LineRequest]) -> int:
    """Quick order, a file, a template or a past order: each SKU's quantity is added to what
    the cart holds. Every line is checked first; any bad line (unknown SKU, bad quantity) adds
    nothing and is named. Returns the units added."""
    _ensure_cart_owner(actor, cart)
    problems: list[Problem] = []
    lines = check_lines(cart.brand_id, requests, problems)
    if problems:
        raise refuse(problems)
    existing = {line.variant_id: line for line in cart.lines}
    for ln in lines:
        line = existing.get(ln.variant.id)
        if line is None:
            cart.lines.append(CartLine(variant_id=ln.variant.id, qty=ln.qty))
        elif line.qty + ln.qty > MAX_LINE_QTY:
            raise refuse(
                [Problem(ln.index, ln.variant.sku, ProblemCode.INVALID_QUANTITY, "Too many units.")]
            )
        else:
            line.qty += ln.qty
    cart.updated_at = utcnow()
    db.session.flush()
    return sum(ln.qty for ln in lines)


def clear_cart(actor: Actor, cart: Cart) -> None:
    _ensure_cart_owner(actor, cart)
    cart.lines.clear()
    cart.po_number = ""
    cart.note = ""
    db.session.flush()


def cart_requests(cart: Cart) -> list[LineRequest]:
    return [LineRequest(line.variant.sku, line.qty, index) for index, line in enumerate(cart.lines)]


def submit_cart(actor: Actor, cart: Cart, *, po_number: str = "", note: str = "") -> Order:
    """Place the cart as an order; the cart is emptied in the same transaction."""
    _ensure_cart_owner(actor, cart)
    link = buyer_link(actor, cart.brand_id)
    if link.supplier_org_id != cart.supplier_org_id:
        raise ValidationFailed(fields={"supplier": "Your supplier for this brand has changed."})
    order = place_order(actor, link, cart_requests(cart), po_number=po_number, note=note)
    cart.lines.clear()
    cart.po_number = ""
    cart.note = ""
    db.session.flush()
    return order


@dataclass(frozen=True)
class PriceDifference:
    sku: str
    qty: int
    was_cents: int
    now_cents: int | None  # None: not orderable today


def reorder(actor: Actor, order: Order) -> tuple[Cart, list[PriceDifference]]:
    """Put a past order's lines in the cart again, at today's prices: the differences (and the
    SKUs no longer orderable, which are left out) come back to be shown."""
    as_buyer(actor, order)
    link = buyer_link(actor, order.brand_id)
    cart = get_cart(actor, link)
    variants = {line.variant_id: line.variant for line in order.lines}
    terms = policy.resolve(policy.Buyer.for_link(link), list(variants.values()))
    differences = []
    requests = []
    for index, line in enumerate(order.lines):
        t = terms[line.variant_id]
        now = t.price_cents if t.authorized and line.variant.product.is_active else None
        if now != line.unit_price_cents:
            differences.append(PriceDifference(line.sku, line.qty, line.unit_price_cents, now))
        if now is not None:
            requests.append(LineRequest(line.sku, line.qty, index))
    if requests:
        add_to_cart(actor, cart, requests)
    return cart, differences


# -- templates -----------------------------------------------------------------------------------


def save_template(actor: Actor, cart: Cart, *, name: str) -> OrderTemplate:
    """Save the cart's lines under a name (the same name replaces the template)."""
    _ensure_cart_owner(actor, cart)
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise ValidationFailed(fields={"name": "A name of up to 80 characters."})
    if not cart.lines:
        raise ValidationFailed(fields={"name": "The cart is empty: nothing to save."})
    template = db.session.execute(
        select(OrderTemplate).where(
            OrderTemplate.buyer_org_id == cart.buyer_org_id,
            OrderTemplate.brand_id == cart.brand_id,
            OrderTemplate.name == name,
        )
    ).scalar_one_or_none() or OrderTemplate(
        buyer_org_id=cart.buyer_org_id, brand_id=cart.brand_id, name=name
    )
    template.lines = [{"sku": line.variant.sku, "qty": line.qty} for line in cart.lines]
    template.created_by_user_id = actor.user_id
    db.session.add(template)
    db.session.flush()
    return template


def apply_template(actor: Actor, cart: Cart, template: OrderTemplate) -> int:
    if template.buyer_org_id != cart.buyer_org_id or template.brand_id != cart.brand_id:
        raise NotFound()
    requests = [
        LineRequest(item.get("sku"), item.get("qty"), index)
        for index, item in enumerate(template.lines)
    ]
    return add_to_cart(actor, cart, requests)


def delete_template(actor: Actor, template: OrderTemplate) -> None:
    if not actor.is_system:
        actor.ensure(Permission.ORDER_PLACE)
        if template.buyer_org_id != actor.org_id:
            raise NotFound()
    db.session.delete(template)
    db.session.flush()
