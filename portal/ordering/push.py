"""Stock push: HQ sends new-season stock down the network from its own warehouse, as push orders
(confirmed at once, shipped and invoiced like any order) or as quotas its buyers order against.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.catalog.models import Product, Variant
from portal.core.access import Actor, Permission
from portal.core.db import utcnow
from portal.core.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.finance import services as finance
from portal.inventory import allocations
from portal.inventory import services as stock
from portal.inventory.models import Allocation, Location, MoveReason
from portal.network.models import ChannelLink, Organization
from portal.ordering.checks import MAX_LINE_QTY, whole_number
from portal.ordering.models import Order, OrderKind, OrderLine, OrderStatus
from portal.ordering.transitions import Action, create
from portal.policy import queries as policy


@dataclass(frozen=True)
class PushRow:
    """One allocation as HQ typed it: a recipient org, a SKU and a quantity."""

    recipient: str
    sku: str
    qty: Any
    row: int  # 1-based, for messages


def parse_push_rows(text: str) -> list[PushRow]:
    """Lines of `RECIPIENT SKU QTY` separated by spaces, tabs, commas or semicolons."""
    rows = []
    for number, raw in enumerate((text or "").splitlines(), start=1):
        cells = [c for c in raw.replace(",", " ").replace(";", " ").split() if c]
        if not cells:
            continue
        cells += [""] * (3 - len(cells))
        rows.append(PushRow(cells[0].upper(), cells[1].upper(), cells[2], number))
    return rows


@dataclass
class PushResult:
    orders: list[Order] = field(default_factory=list)
    quotas: list[Allocation] = field(default_factory=list)

    @property
    def units(self) -> int:
        return sum(o.total_qty for o in self.orders) + sum(q.qty for q in self.quotas)


def push_stock(
    actor: Actor,
    brand: Organization,
    rows: Sequence[PushRow],
    *,
    as_quotas: bool,
    expires_at: datetime | None = None,
    note: str = "",
) -> PushResult:
    """HQ sends new-season stock down the network from its own warehouse, all rows or none:
    either as push orders (one per recipient, confirmed at once, shipped like any order and
    invoiced at the recipient's own prices) or as quotas the recipients order against until
    `expires_at`. Every bad row is named (`rows.<n>`)."""
    with db.session.begin_nested():
        return _push_stock(
            actor, brand, rows, as_quotas=as_quotas, expires_at=expires_at, note=note
        )


def _push_stock(
    actor: Actor,
    brand: Organization,
    rows: Sequence[PushRow],
    *,
    as_quotas: bool,
    expires_at: datetime | None,
    note: str,
) -> PushResult:
    if not actor.is_system:
        actor.ensure(Permission.STOCK_PUSH)
        if actor.org_id != brand.id:
            raise PermissionDenied("Only the brand's HQ pushes its stock.")
    if as_quotas and expires_at is None:
        raise ValidationFailed(fields={"expires_at": "A quota needs an expiry date."})
    if not rows:
        raise ValidationFailed(fields={"rows": "Add at least one line: recipient, SKU, quantity."})
    errors: dict[str, str] = {}
    links = {
        org.code: link
        for link, org in db.session.execute(
            select(ChannelLink, Organization)
            .join(Organization, Organization.id == ChannelLink.buyer_org_id)
            .where(
                ChannelLink.brand_id == brand.id,
                Organization.code.in_({r.recipient for r in rows}),
            )
        ).all()
    }
    variants = {
        v.sku: v
        for v in db.session.execute(
            select(Variant)
            .where(Variant.brand_id == brand.id, Variant.sku.in_({r.sku for r in rows}))
            .options(selectinload(Variant.product).selectinload(Product.category))
        ).scalars()
    }
    wanted: dict[tuple[str, str], int] = {}
    for r in rows:
        key = f"rows.{r.row}"
        qty = whole_number(r.qty)
        if r.recipient not in links:
            errors[key] = f"Line {r.row}: {r.recipient or '?'} is not in this brand's network."
        elif links[r.recipient].supplier_org_id != brand.id:
            # The brand ships and bills only its direct buyers; a distributor's store is
            # supplied (and billed) by its distributor.
            errors[key] = (
                f"Line {r.row}: {r.recipient} buys from {links[r.recipient].supplier.code}; "
                "push to its supplier instead."
            )
        elif r.sku not in variants:
            errors[key] = f"Line {r.row}: no SKU {r.sku or '?'}."
        elif qty is None or not 0 < qty <= MAX_LINE_QTY:
            errors[key] = f"Line {r.row}: the quantity must be a whole number above zero."
        else:
            wanted[(r.recipient, r.sku)] = wanted.get((r.recipient, r.sku), 0) + qty
    if errors:
        raise ValidationFailed("Some lines cannot be pushed.", fields=errors)
    source = stock.default_location(brand)
    reference = f"push:{utcnow():%Y%m%d%H%M%S}"
    result = PushResult()
    if as_quotas:
        assert expires_at is not None  # refused above: a quota needs an expiry date
        result.quotas = allocations.allocate(
            actor,
            source,
            [
                allocations.QuotaLine(
                    links[code].buyer_org_id, variants[sku].id, qty, where=f"{code} {sku}"
                )
                for (code, sku), qty in sorted(wanted.items())
            ],
            expires_at=expires_at,
            reference=reference,
        )
        return result
    # Every unit in one call (levels locked in one fixed order), then the orders, then the
    # accounts in id order: a push never holds one lock while waiting for an earlier one.
    stock.apply_moves(
        actor,
        [
            stock.MoveLine(source.id, variants[sku].id, reserved_delta=qty, where=f"{code} {sku}")
            for (code, sku), qty in sorted(wanted.items())
        ],
        reason=MoveReason.PUSH,
        reference=reference,
        note=note,
    )
    by_recipient: dict[str, list[tuple[Variant, int]]] = {}
    for (code, sku), qty in sorted(wanted.items()):
        by_recipient.setdefault(code, []).append((variants[sku], qty))
    for code in sorted(by_recipient, key=lambda c: links[c].id):
        result.orders.append(
            _push_order(
                actor,
                brand,
                links[code],
                source,
                by_recipient[code],
                note=note,
                reference=reference,
            )
        )
    return result


def _push_order(
    actor: Actor,
    brand: Organization,
    link: ChannelLink,
    source: Location,
    lines: list[tuple[Variant, int]],
    *,
    note: str,
    reference: str,
) -> Order:
    """One recipient's push order (its units are reserved by the caller), priced at the
    recipient's own resolved prices; confirmed at once (HQ decided it)."""
    buyer = policy.Buyer.for_link(link)
    terms = policy.resolve(buyer, [v for v, _q in lines])
    unpriced = [v.sku for v, _q in lines if terms[v.id].price_cents is None]
    if unpriced:
        raise ValidationFailed(
            fields={"rows": f"{link.buyer.code} has no price for {', '.join(unpriced)}."}
        )
    now = utcnow()
    order = Order(
        number=f"tmp-{secrets.token_hex(8)}",
        brand_id=brand.id,
        buyer_org_id=link.buyer_org_id,
        supplier_org_id=brand.id,
        link_id=link.id,
        kind=OrderKind.PUSH,
        status=OrderStatus.CONFIRMED,
        currency=brand.currency,
        source_location_id=source.id,
        destination_location_id=stock.default_location(link.buyer).id,
        note=note[:500],
        placed_by_user_id=actor.user_id,
        submitted_at=now,
        confirmed_at=now,
    )
    db.session.add(order)
    db.session.flush()
    order.number = f"{brand.code}-{order.id:07d}"
    for variant, qty in lines:
        t = terms[variant.id]
        price = t.price_cents
        assert price is not None  # refused above: every SKU pushed has a price
        order.lines.append(
            OrderLine(
                brand_id=brand.id,
                variant_id=variant.id,
                sku=variant.sku,
                qty=qty,
                unit_price_cents=price,
                msrp_cents=t.msrp_cents,
                line_total_cents=price * qty,
                policy_version_id=t.price_rule.version_id if t.price_rule else None,
            )
        )
    order.total_cents = sum(line.line_total_cents for line in order.lines)
    order.total_qty = sum(qty for _v, qty in lines)
    finance.commit_credit(finance.lock_account(link), order.total_cents)
    db.session.flush()
    create(
        actor,
        order,
        Action.PUSH,
        OrderStatus.CONFIRMED,
        total_cents=order.total_cents,
        push=reference,
    )
    return order
