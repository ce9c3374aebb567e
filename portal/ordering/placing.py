"""Placing an order: the checks again under locks, stock reserved for every line at once, prices
snapshotted with their policy version, credit committed, and where the order goes next (the
supplier, credit approval, or the buyer org's own approval under its purchasing rules).

Stock is reserved for all lines in one `apply_moves` call (levels taken in a fixed order, one
conditional UPDATE each), so concurrent buyers of one SKU never oversell and never deadlock. The
buyer's account row is locked while credit is checked, so two orders of one buyer are checked in
turn.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from portal.core import audit
from portal.core.access import Actor, Permission
from portal.core.db import utcnow
from portal.core.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.finance import queries as finance_queries
from portal.finance import services as finance
from portal.inventory import allocations
from portal.inventory import services as stock
from portal.inventory.errors import InsufficientStock
from portal.inventory.models import MoveReason
from portal.network.models import ChannelLink, Organization
from portal.ordering.checks import (
    CheckedLine,
    LineRequest,
    Problem,
    quote,
    refuse,
    source_location,
    stock_problems,
)
from portal.ordering.models import Order, OrderKind, OrderLine, OrderStatus, PurchasingRule
from portal.ordering.transitions import Action, ProblemCode, create


def place_order(
    actor: Actor,
    link: ChannelLink,
    requests: Sequence[LineRequest],
    *,
    po_number: str = "",
    note: str = "",
    kind: OrderKind = OrderKind.B2B,
) -> Order:
    """Submit an order to the link's supplier: every check on every line (OrderRefused naming
    each), then stock reserved for all lines at once, prices snapshotted with their policy
    version. Over the credit limit the order waits for the supplier (`awaiting_approval`);
    above the buyer org's own approval amount or a buyer's monthly limit it waits for the org's
    admin (`pending_buyer_approval`). All or nothing, even if the caller catches the error."""
    with db.session.begin_nested():
        return _place_order(actor, link, requests, po_number=po_number, note=note, kind=kind)


def _place_order(
    actor: Actor,
    link: ChannelLink,
    requests: Sequence[LineRequest],
    *,
    po_number: str = "",
    note: str = "",
    kind: OrderKind = OrderKind.B2B,
) -> Order:
    if not actor.is_system:
        actor.ensure(Permission.ORDER_PLACE)
        if actor.org_id != link.buyer_org_id:
            raise PermissionDenied("Orders are placed by the buying organization.")
    po_number = (po_number or "").strip()
    note = (note or "").strip()
    if len(po_number) > 64:
        raise ValidationFailed(fields={"po_number": "At most 64 characters."})
    if len(note) > 500:
        raise ValidationFailed(fields={"note": "At most 500 characters."})
    q = quote(link, requests)
    if q.problems:
        raise refuse(q.problems)
    source = source_location(link)
    destination = stock.default_location(link.buyer)
    held = allocations.quotas_at(source.id, link.buyer_org_id, [ln.variant.id for ln in q.lines])
    quotas = held[1]
    if problems := stock_problems(q, source, held):
        raise refuse(problems)

    now = utcnow()
    order = Order(
        number=f"tmp-{secrets.token_hex(8)}",
        brand_id=link.brand_id,
        buyer_org_id=link.buyer_org_id,
        supplier_org_id=link.supplier_org_id,
        link_id=link.id,
        kind=kind,
        status=OrderStatus.SUBMITTED,  # until the submit move below sets where it goes
        currency=q.currency,
        policy_version_id=q.versions[0].id if q.versions else None,
        source_location_id=source.id,
        destination_location_id=destination.id,
        po_number=po_number,
        note=note,
        placed_by_user_id=actor.user_id,
        submitted_at=now,
    )
    db.session.add(order)
    db.session.flush()
    order.number = f"{link.brand.code}-{order.id:07d}"
    total = 0
    moves = []
    drawn: list[tuple[CheckedLine, OrderLine]] = []
    by_index: dict[int, OrderLine] = {}
    for ln in sorted(q.lines, key=lambda x: x.index):
        t = q.terms[ln.variant.id]
        price = t.price_cents
        assert price is not None  # the quote refused every line without a price
        line = OrderLine(
            order_id=order.id,
            brand_id=order.brand_id,
            variant_id=ln.variant.id,
            sku=ln.variant.sku,
            qty=ln.qty,
            unit_price_cents=price,
            msrp_cents=t.msrp_cents,
            line_total_cents=price * ln.qty,
            policy_version_id=t.price_rule.version_id if t.price_rule else None,
        )
        total += line.line_total_cents
        order.lines.append(line)
        by_index[ln.index] = line
        if ln.variant.id in quotas:
            drawn.append((ln, line))
        else:
            moves.append(
                stock.MoveLine(
                    source.id, ln.variant.id, reserved_delta=ln.qty, where=f"lines.{ln.index}"
                )
            )
    # Quotas are drawn in SKU order, like levels: two orders never wait on each other in a cycle.
    for ln, line in sorted(drawn, key=lambda pair: pair[0].variant.id):
        line.quota_id = _draw_quota(quotas[ln.variant.id], ln)
    order.total_cents = total
    order.total_qty = sum(ln.qty for ln in q.lines)
    try:
        stock.apply_moves(actor, moves, reason=MoveReason.RESERVE, reference=order.number)
    except InsufficientStock as exc:  # someone bought it between the check and now
        where = next(iter(exc.fields), "lines.0")
        index = int(where.split(".")[1]) if where.startswith("lines.") else None
        short = by_index.get(index) if index is not None else None
        sku = short.sku if short else ""
        raise refuse(
            [
                Problem(
                    index,
                    sku,
                    ProblemCode.INSUFFICIENT_STOCK,
                    f"{sku}: only {exc.extra.get('available', 0)} available.",
                    available=exc.extra.get("available", 0),
                )
            ]
        ) from None

    account = finance.lock_account(link)
    finance.commit_credit(account, total)
    hold = _buyer_hold(actor, order)
    if hold:
        status = OrderStatus.PENDING_BUYER_APPROVAL
        order.hold_reason = hold
    else:
        # the limit the quote resolved: no second look-up of the live policy
        status = credit_check(order, account, q.order_terms.credit_limit_cents)
    db.session.flush()
    create(
        actor,
        order,
        Action.SUBMIT,
        status,
        total_cents=total,
        lines=len(order.lines),
        hold=order.hold_reason,
    )
    return order


def _draw_quota(quotas: list, ln: CheckedLine) -> int:
    """Draw the line from the buyer's open quotas of this SKU (oldest expiry first). A line is
    drawn from a single quota: the common case is one quota per SKU and recipient."""
    for allocation in quotas:
        if allocation.remaining >= ln.qty and allocations.draw(allocation.id, ln.qty):
            return allocation.id
    left = allocations.drawable(quotas)
    raise refuse(
        [
            Problem(
                ln.index,
                ln.variant.sku,
                ProblemCode.QUOTA_EXCEEDED,
                f"{ln.variant.sku}: allocated stock; your quota has {left} left.",
                available=left,
            )
        ]
    )


def credit_check(order: Order, account: Any, limit_cents: int) -> OrderStatus:
    """Over the limit (counting what is owed and every open order, this one included) the order
    waits for the supplier's approval instead of being refused: the status it goes to (the
    caller moves it there through the transition table)."""
    position = finance_queries.credit_position(account, limit_cents=limit_cents)
    if position.exposure_cents > position.limit_cents:
        order.hold_reason = "credit"
        return OrderStatus.AWAITING_APPROVAL
    order.hold_reason = ""
    return OrderStatus.SUBMITTED


# -- the buyer org's own purchasing rules --------------------------------------------------------


def find_purchasing_rule(org_id: int) -> PurchasingRule | None:
    return db.session.execute(
        select(PurchasingRule).where(PurchasingRule.org_id == org_id)
    ).scalar_one_or_none()


def month_spend(org_id: int, user_id: int, *, at: datetime | None = None) -> int:
    """What one buyer has ordered this calendar month (cancelled and rejected orders aside)."""
    at = at or utcnow()
    start = at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return int(
        db.session.execute(
            select(func.coalesce(func.sum(Order.total_cents), 0)).where(
                Order.buyer_org_id == org_id,
                Order.placed_by_user_id == user_id,
                Order.submitted_at >= start,
                Order.status.not_in((OrderStatus.CANCELLED, OrderStatus.REJECTED)),
            )
        ).scalar_one()
    )


def _buyer_hold(actor: Actor, order: Order) -> str:
    """The buyer org's own rules; its admins (who approve) are not held by them."""
    if actor.is_system or actor.can(Permission.ORDER_APPROVE):
        return ""
    rule = find_purchasing_rule(order.buyer_org_id)
    if rule is None:
        return ""
    if rule.approval_above_cents is not None and order.total_cents > rule.approval_above_cents:
        return "amount"
    # The monthly limit is a person's; an API key's orders have only the amount rule.
    if rule.monthly_limit_cents is not None and actor.user_id is not None:
        spent = month_spend(order.buyer_org_id, actor.user_id) - order.total_cents
        if spent + order.total_cents > rule.monthly_limit_cents:
            return "spending_limit"
    return ""


def set_purchasing_rule(
    actor: Actor,
    org: Organization,
    *,
    approval_above_cents: int | None,
    monthly_limit_cents: int | None,
) -> PurchasingRule:
    """An org's admin sets its own buyers' limits (None: no such rule)."""
    if not actor.is_system:
        actor.ensure(Permission.ORDER_APPROVE)
        if actor.org_id != org.id:
            raise PermissionDenied("Only the organization's own admin sets its rules.")
    for name, value in (
        ("approval_above", approval_above_cents),
        ("monthly_limit", monthly_limit_cents),
    ):
        if value is not None and (not isinstance(value, int) or value < 0):
            raise ValidationFailed(fields={name: "An amount of zero or more, or empty."})
    rule = find_purchasing_rule(org.id) or PurchasingRule(org_id=org.id)
    rule.approval_above_cents = approval_above_cents
    rule.monthly_limit_cents = monthly_limit_cents
    db.session.add(rule)
    db.session.flush()
    audit.record(
        actor,
        "ordering.purchasing_rule_set",
        org_id=org.id,
        approval_above_cents=approval_above_cents,
        monthly_limit_cents=monthly_limit_cents,
    )
    return rule
