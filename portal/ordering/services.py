"""Orders from submit to receipt and return, each step one transaction with its stock moves,
ledger entries and timeline event.

Submit runs every check on every line and reports all problems at once. Stock is then reserved
for all lines in one `apply_moves` call (levels taken in a fixed order, one conditional UPDATE
each), so concurrent buyers of one SKU never oversell and never deadlock. The buyer's account
row is locked while credit is checked, so two orders of one buyer are checked in turn.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from portal.catalog.models import Product, Variant
from portal.core import audit
from portal.core.access import Actor, Permission
from portal.core.db import utcnow
from portal.core.errors import NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.finance import queries as finance_queries
from portal.finance import services as finance
from portal.inventory import allocations
from portal.inventory import services as stock
from portal.inventory.errors import InsufficientStock
from portal.inventory.models import Location, MoveReason
from portal.network.models import ChannelLink, Organization
from portal.ordering import queries
from portal.ordering.errors import OrderRefused, OrderStateConflict
from portal.ordering.models import (
    Cart,
    CartLine,
    Order,
    OrderKind,
    OrderLine,
    OrderStatus,
    PurchasingRule,
    ReturnLine,
    ReturnRequest,
    ReturnStatus,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
)
from portal.ordering.transitions import (
    Action,
    ProblemCode,
    Side,
    allowed,
    create,
    expect,
    transition,
)
from portal.policy import queries as policy

MAX_LINES = 2000  # lines in one order
MAX_LINE_QTY = 1_000_000  # units of one SKU in one order: anything above is a typo
WHOLE_NUMBER = re.compile(r"-?[0-9]{1,12}")  # ASCII digits only ("²" is a digit to Python)


# -- input ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineRequest:
    """One requested line as the buyer typed it; `index` is its position in the request."""

    sku: Any
    qty: Any
    index: int


@dataclass
class Problem:
    line: int | None  # index in the request; None for the whole order
    sku: str
    code: ProblemCode
    message: str
    available: int | None = None

    def as_json(self) -> dict[str, Any]:
        body = {
            "line": self.line,
            "sku": self.sku,
            "code": self.code.value,
            "message": self.message,
        }
        if self.available is not None:
            body["available"] = self.available
        return body


def refuse(problems: list[Problem]) -> OrderRefused:
    """One error for all problems: the first one's code; every line named in `fields`."""
    fields: dict[str, str] = {}
    for problem in problems:
        key = "order" if problem.line is None else f"lines.{problem.line}"
        fields[key] = f"{fields[key]} {problem.message}" if key in fields else problem.message
    first = problems[0]
    error = OrderRefused(first.message, fields=fields, problems=[p.as_json() for p in problems])
    error.code = first.code.value
    if first.available is not None:
        error.extra["available"] = first.available
    return error


def _whole_number(value: Any) -> int | None:
    """An integer quantity from JSON, a form or a file cell; None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str) and WHOLE_NUMBER.fullmatch(value.strip()):
        return int(value.strip())
    return None


@dataclass
class CheckedLine:
    variant: Variant
    qty: int
    index: int


def check_lines(
    brand_id: int, requests: Sequence[LineRequest], problems: list[Problem]
) -> list[CheckedLine]:
    """Quantities and SKUs: `unknown_sku`, `invalid_quantity`; a SKU twice is merged into its
    first line (never counted twice)."""
    if not requests:
        problems.append(Problem(None, "", ProblemCode.EMPTY_ORDER, "The order has no lines."))
        return []
    if len(requests) > MAX_LINES:
        problems.append(
            Problem(
                None, "", ProblemCode.TOO_MANY_LINES, f"At most {MAX_LINES} lines in one order."
            )
        )
        return []
    wanted: dict[str, LineRequest] = {}
    quantities: dict[str, int] = {}
    for request in requests:
        sku = str(request.sku or "").strip().upper()
        qty = _whole_number(request.qty)
        if not sku:
            problems.append(
                Problem(request.index, "", ProblemCode.UNKNOWN_SKU, "The SKU is missing.")
            )
            continue
        if qty is None or qty <= 0 or qty > MAX_LINE_QTY:
            problems.append(
                Problem(
                    request.index,
                    sku,
                    ProblemCode.INVALID_QUANTITY,
                    f"{sku}: the quantity must be a whole number from 1 to {MAX_LINE_QTY}.",
                )
            )
            continue
        wanted.setdefault(sku, request)
        quantities[sku] = quantities.get(sku, 0) + qty
    variants = {
        v.sku: v
        for v in db.session.execute(
            select(Variant)
            .where(Variant.brand_id == brand_id, Variant.sku.in_(list(wanted)))
            .options(selectinload(Variant.product).selectinload(Product.category))
        ).scalars()
    }
    checked = []
    for sku, request in wanted.items():
        variant = variants.get(sku)
        if variant is None or not variant.product.is_active:
            problems.append(
                Problem(request.index, sku, ProblemCode.UNKNOWN_SKU, f"{sku}: no such SKU.")
            )
            continue
        if quantities[sku] > MAX_LINE_QTY:
            problems.append(
                Problem(request.index, sku, ProblemCode.INVALID_QUANTITY, f"{sku}: too many units.")
            )
            continue
        checked.append(CheckedLine(variant, quantities[sku], request.index))
    return checked


def parse_lines(raw: Iterable[Any]) -> list[LineRequest]:
    """[{"sku", "qty"}] or [(sku, qty)] into numbered requests."""
    requests = []
    for index, item in enumerate(raw):
        if isinstance(item, dict):
            requests.append(LineRequest(item.get("sku"), item.get("qty"), index))
        else:
            sku, qty = item
            requests.append(LineRequest(sku, qty, index))
    return requests


# -- who buys from whom --------------------------------------------------------------------------


def buyer_link(actor: Actor, brand_id: int, supplier_code: str | None = None) -> ChannelLink:
    """The actor's org's link in a brand (404 when it does not buy that brand). A named supplier
    must be the link's own supplier: orders go to one's supplier, never around it."""
    link = db.session.execute(
        select(ChannelLink).where(
            ChannelLink.brand_id == brand_id, ChannelLink.buyer_org_id == actor.org_id
        )
    ).scalar_one_or_none()
    if link is None:
        raise NotFound()
    if supplier_code and supplier_code.strip().upper() != link.supplier.code:
        raise ValidationFailed(
            fields={"supplier": f"Your supplier for this brand is {link.supplier.code}."}
        )
    return link


# -- placing an order ----------------------------------------------------------------------------


@dataclass
class Quote:
    """What an order would be, line by line, at today's terms: used to show a cart and to
    submit it."""

    link: ChannelLink
    lines: list[CheckedLine]
    terms: dict[int, policy.SkuTerms]
    order_terms: policy.OrderTerms
    versions: list[Any]
    problems: list[Problem] = field(default_factory=list)

    @property
    def total_cents(self) -> int:
        return sum(
            (self.terms[ln.variant.id].price_cents or 0) * ln.qty
            for ln in self.lines
            if self.terms[ln.variant.id].authorized
        )

    @property
    def currency(self) -> str:
        return self.link.brand.currency


def quote(
    link: ChannelLink, requests: Sequence[LineRequest], *, at: datetime | None = None
) -> Quote:
    """Run every check that does not need locks: SKUs, quantities, authorization, MOQ and
    multiples, the ordering window, the minimum amount, quotas and stock as they stand."""
    at = at or utcnow()
    problems: list[Problem] = []
    lines = check_lines(link.brand_id, requests, problems)
    buyer = policy.Buyer.for_link(link)
    versions = policy.live_versions(buyer, at)
    terms = policy.resolve(buyer, [ln.variant for ln in lines], at, versions=versions)
    order_terms = policy.order_terms(buyer, at, versions=versions)
    result = Quote(link, lines, terms, order_terms, versions, problems)
    for ln in lines:
        t = terms[ln.variant.id]
        sku = ln.variant.sku
        if not t.authorized:
            problems.append(
                Problem(
                    ln.index,
                    sku,
                    ProblemCode.SKU_NOT_AUTHORIZED,
                    f"{sku}: not authorized for you under the current policy.",
                )
            )
        elif ln.qty < t.moq:
            problems.append(
                Problem(
                    ln.index, sku, ProblemCode.BELOW_MOQ, f"{sku}: order at least {t.moq} units."
                )
            )
        elif ln.qty % t.multiple:
            problems.append(
                Problem(
                    ln.index,
                    sku,
                    ProblemCode.NOT_MULTIPLE,
                    f"{sku}: order in multiples of {t.multiple}.",
                )
            )
    start, end = order_terms.order_window_start, order_terms.order_window_end
    if (start and at < start) or (end and at >= end):
        problems.append(
            Problem(
                None,
                "",
                ProblemCode.OUTSIDE_ORDER_WINDOW,
                f"Ordering is closed now: the window is {_day(start)} to {_day(end)}.",
            )
        )
    minimum = order_terms.min_order_cents
    if minimum and lines and not problems and result.total_cents < minimum:
        problems.append(
            Problem(
                None,
                "",
                ProblemCode.BELOW_MIN_AMOUNT,
                f"The order must come to at least {minimum / 100:.2f} {result.currency}.",
            )
        )
    return result


def preview(link: ChannelLink, requests: Sequence[LineRequest]) -> Quote:
    """What submitting would say now, stock and quotas included (read without locks: a cart
    shows it; submit checks again under locks)."""
    q = quote(link, requests)
    if q.lines:
        location = _source(link)
        held = allocations.quotas_at(
            location.id, link.buyer_org_id, [ln.variant.id for ln in q.lines]
        )
        flagged = {p.line for p in q.problems}
        q.problems += [p for p in _stock_problems(q, location, held) if p.line not in flagged]
    return q


def _day(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d") if value else "…"


def _source(link: ChannelLink):
    return stock.default_location(link.supplier)


def _stock_problems(
    quote_: Quote, location: Location, held: tuple[set[int], dict[int, list]]
) -> list[Problem]:
    """Lines the location cannot cover now (all of them, with what is available), and lines
    under allocation beyond the buyer's quota. `held`: `allocations.quotas_at` there."""
    problems = []
    orderable = queries.orderable_at(
        location, quote_.link.buyer_org_id, [ln.variant.id for ln in quote_.lines], held=held
    )
    for ln in quote_.lines:
        sku = ln.variant.sku
        allocated, units = orderable[ln.variant.id]
        if allocated:
            left = units
            if ln.qty > left:
                problems.append(
                    Problem(
                        ln.index,
                        sku,
                        ProblemCode.QUOTA_EXCEEDED,
                        f"{sku}: allocated stock; your quota has {left} left.",
                        available=left,
                    )
                )
            continue
        have = units
        if ln.qty > have:
            problems.append(
                Problem(
                    ln.index,
                    sku,
                    ProblemCode.INSUFFICIENT_STOCK,
                    f"{sku}: only {have} available.",
                    available=have,
                )
            )
    return problems


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
    source = _source(link)
    destination = stock.default_location(link.buyer)
    held = allocations.quotas_at(source.id, link.buyer_org_id, [ln.variant.id for ln in q.lines])
    quotas = held[1]
    if problems := _stock_problems(q, source, held):
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
    by_index = {}
    for ln in sorted(q.lines, key=lambda x: x.index):
        t = q.terms[ln.variant.id]
        line = OrderLine(
            order_id=order.id,
            brand_id=order.brand_id,
            variant_id=ln.variant.id,
            sku=ln.variant.sku,
            qty=ln.qty,
            unit_price_cents=t.price_cents,
            msrp_cents=t.msrp_cents,
            line_total_cents=t.price_cents * ln.qty,
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
        line = by_index.get(index) if index is not None else None
        raise refuse(
            [
                Problem(
                    index,
                    line.sku if line else "",
                    ProblemCode.INSUFFICIENT_STOCK,
                    f"{line.sku if line else ''}: only {exc.extra.get('available', 0)} available.",
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
        status = _credit_check(order, account, q.order_terms.credit_limit_cents)
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


def _credit_check(order: Order, account: Any, limit_cents: int) -> OrderStatus:
    """Over the limit (counting what is owed and every open order, this one included) the order
    waits for the supplier's approval instead of being refused: the status it goes to (the
    caller moves it there through the transition table)."""
    position = finance_queries.credit_position(account, limit_cents=limit_cents)
    if position.exposure_cents > position.limit_cents:
        order.hold_reason = "credit"
        return OrderStatus.AWAITING_APPROVAL
    order.hold_reason = ""
    return OrderStatus.SUBMITTED


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


# -- transitions ---------------------------------------------------------------------------------


def lock_order(order: Order) -> Order:
    """Re-read the order under a row lock (PostgreSQL): two clicks on "ship", or a cancel racing
    an approval, are applied one after the other and the second sees the first's status."""
    db.session.execute(select(Order.id).where(Order.id == order.id).with_for_update()).scalar_one()
    db.session.refresh(order)
    for line in order.lines:
        db.session.refresh(line)
    return order


def _as_supplier(actor: Actor, order: Order) -> None:
    if actor.is_system:
        return
    actor.ensure(Permission.ORDER_FULFIL)
    if actor.org_id != order.supplier_org_id:
        raise PermissionDenied("Only the supplier of this order can do this.")


def _as_buyer(actor: Actor, order: Order, permission: Permission = Permission.ORDER_PLACE) -> None:
    if actor.is_system:
        return
    actor.ensure(permission)
    if actor.org_id != order.buyer_org_id:
        raise PermissionDenied("Only the buyer of this order can do this.")


@dataclass(frozen=True)
class OrderActions:
    """What the actor may do to an order now; pages show only these."""

    approve: bool = False  # the supplier confirms (including over credit)
    reject: bool = False
    buyer_approve: bool = False
    buyer_reject: bool = False
    cancel: bool = False
    ship: bool = False
    close: bool = False
    receive: bool = False
    request_return: bool = False
    reorder: bool = False  # the buyer puts the lines in its cart again


def permitted_actions(actor: Actor, order: Order) -> OrderActions:
    supplier = actor.is_system or (
        actor.org_id == order.supplier_org_id and actor.can(Permission.ORDER_FULFIL)
    )
    buyer = actor.is_system or (
        actor.org_id == order.buyer_org_id and actor.can(Permission.ORDER_PLACE)
    )
    buyer_admin = actor.is_system or (
        actor.org_id == order.buyer_org_id and actor.can(Permission.ORDER_APPROVE)
    )
    status = order.status
    shipped = order.has_shipments
    pending_receipt = any(s.status == ShipmentStatus.SHIPPED for s in shipments_of(order))
    returnable = any(line.received_qty > line.returned_qty for line in order.lines)

    # The transition table says what each side may do from this status; the flags above say
    # whether the actor acts for that side (with the permission it needs).
    def can(side: Side, action: Action) -> bool:
        return allowed(status, action, side)

    return OrderActions(
        approve=supplier and can(Side.SUPPLIER, Action.APPROVE),
        reject=supplier and can(Side.SUPPLIER, Action.REJECT) and not shipped,
        buyer_approve=buyer_admin and can(Side.BUYER, Action.BUYER_APPROVE),
        buyer_reject=buyer_admin and can(Side.BUYER, Action.REJECT),
        cancel=buyer
        and can(Side.BUYER, Action.CANCEL)
        and not shipped
        and order.kind != OrderKind.PUSH,
        ship=supplier and can(Side.SUPPLIER, Action.SHIP),
        close=supplier and can(Side.SUPPLIER, Action.CLOSE),
        receive=buyer and pending_receipt,
        request_return=buyer and returnable,
        reorder=buyer and not actor.is_system,
    )


@dataclass(frozen=True)
class ReturnActions:
    decide: bool = False  # approve or refuse the request (the supplier)
    receive: bool = False  # the goods are back (the supplier)


def permitted_return_actions(actor: Actor, order: Order, ret: ReturnRequest) -> ReturnActions:
    supplier = actor.is_system or (
        actor.org_id == order.supplier_org_id and actor.can(Permission.ORDER_FULFIL)
    )
    return ReturnActions(
        decide=supplier and ret.status == ReturnStatus.REQUESTED,
        receive=supplier and ret.status == ReturnStatus.APPROVED,
    )


def shipments_of(order: Order) -> list[Shipment]:
    return list(
        db.session.execute(
            select(Shipment).where(Shipment.order_id == order.id).order_by(Shipment.seq)
        ).scalars()
    )


def approve_order(actor: Actor, order: Order, *, note: str = "") -> Order:
    """The supplier confirms a submitted order, or one waiting for credit approval (accepting
    the excess). A buyer can never approve its own credit excess."""
    _as_supplier(actor, order)
    lock_order(order)
    expect(order, Action.APPROVE)
    credit = order.status == OrderStatus.AWAITING_APPROVAL
    order.confirmed_at = utcnow()
    order.hold_reason = ""
    transition(actor, order, Action.APPROVE, note=note, credit_excess=credit)
    return order


def approve_orders(actor: Actor, orders: Sequence[Order]) -> tuple[list[Order], list[str]]:
    """Bulk approve from the supplier's queue: each order on its own; the ones that cannot be
    approved (taken meanwhile) are named, not fatal."""
    done, skipped = [], []
    for order in orders:
        try:
            with db.session.begin_nested():
                done.append(approve_order(actor, order))
        except (OrderStateConflict, PermissionDenied):
            skipped.append(order.number)
    return done, skipped


def buyer_approve_order(actor: Actor, order: Order, *, note: str = "") -> Order:
    """The buyer org's admin lets an order held by its own rules go to the supplier; credit is
    checked now."""
    _as_buyer(actor, order, Permission.ORDER_APPROVE)
    lock_order(order)
    expect(order, Action.BUYER_APPROVE)
    link = order.link
    account = finance.lock_account(link)
    status = _credit_check(order, account, finance_queries.credit_limit(link))
    transition(actor, order, Action.BUYER_APPROVE, status, note=note)
    return order


def reject_order(actor: Actor, order: Order, *, reason: str) -> Order:
    """The supplier refuses an order before shipping it, or the buyer org's admin declines one
    held for its approval; every reservation is released."""
    lock_order(order)  # the side that may reject depends on the status as it is now
    if order.status == OrderStatus.PENDING_BUYER_APPROVAL:
        _as_buyer(actor, order, Permission.ORDER_APPROVE)
    else:
        _as_supplier(actor, order)
    reason = _required(reason, "reason")
    expect(order, Action.REJECT)
    if order.has_shipments:
        raise OrderStateConflict("Part of the order has shipped: close the rest instead.")
    return _close(actor, order, Action.REJECT, OrderStatus.REJECTED, reason)


def cancel_order(actor: Actor, order: Order, *, reason: str = "") -> Order:
    """The buyer withdraws an order before anything ships; every reservation is released."""
    _as_buyer(actor, order)
    lock_order(order)
    expect(order, Action.CANCEL)
    if order.kind == OrderKind.PUSH:
        raise OrderStateConflict("A push order is the brand's: ask HQ to reject it instead.")
    if order.has_shipments:
        raise OrderStateConflict("Part of the order has shipped: it can no longer be cancelled.")
    return _close(actor, order, Action.CANCEL, OrderStatus.CANCELLED, reason)


def close_order(actor: Actor, order: Order, *, reason: str) -> Order:
    """The supplier ends a partly shipped order: what is left unshipped is released."""
    _as_supplier(actor, order)
    reason = _required(reason, "reason")
    lock_order(order)
    expect(order, Action.CLOSE)
    received_all = all(s.status == ShipmentStatus.RECEIVED for s in shipments_of(order))
    status = OrderStatus.COMPLETED if received_all else OrderStatus.SHIPPED
    return _close(actor, order, Action.CLOSE, status, reason)


def _close(actor: Actor, order: Order, action: Action, status: OrderStatus, reason: str) -> Order:
    """Release what the order still holds: units (to its quota while open, else to the pool)
    and the credit its unshipped part committed."""
    moves = []
    released_cents = 0
    # Quotas are given back in SKU order, as orders draw them (no lock cycle).
    for line in sorted(order.lines, key=lambda ln: ln.variant_id):
        left = line.open_qty
        if left <= 0:
            continue
        released_cents += left * line.unit_price_cents
        if line.quota_id and allocations.give_back(line.quota_id, left):
            continue
        moves.append(
            stock.MoveLine(order.source_location_id, line.variant_id, reserved_delta=-left)
        )
    stock.apply_moves(actor, moves, reason=MoveReason.RELEASE, reference=order.number)
    if released_cents:
        link = order.link
        finance.commit_credit(finance.lock_account(link), -released_cents)
    order.closed_at = (
        utcnow()
        if status in (OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.COMPLETED)
        else None
    )
    order.hold_reason = ""
    transition(actor, order, action, status, note=reason, released_cents=released_cents)
    return order


def _required(text: str, name: str) -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationFailed(fields={name: "Say why."})
    return text[:500]


def ship_order(
    actor: Actor,
    order: Order,
    quantities: dict[str, Any],
    *,
    carrier: str = "",
    tracking_number: str = "",
) -> Shipment:
    """The supplier ships some or all of what is still open ({sku: qty}); the units leave its
    location, the shipped value is invoiced to the buyer's account. More than is open on a line
    is refused, naming the SKU."""
    _as_supplier(actor, order)
    lock_order(order)
    expect(order, Action.SHIP)
    by_sku = {line.sku: line for line in order.lines}
    picked: list[tuple[OrderLine, int]] = []
    errors: dict[str, str] = {}
    for raw_sku, raw_qty in quantities.items():
        sku = str(raw_sku).strip().upper()
        qty = _whole_number(raw_qty)
        line = by_sku.get(sku)
        if line is None:
            errors[f"lines.{sku}"] = f"{sku} is not on this order."
        elif qty is None or qty < 0:
            errors[f"lines.{sku}"] = f"{sku}: a whole number of units."
        elif qty > line.open_qty:
            errors[f"lines.{sku}"] = f"{sku}: only {line.open_qty} left to ship."
        elif qty:
            picked.append((line, qty))
    if errors:
        raise ValidationFailed(fields=errors)
    if not picked:
        raise ValidationFailed(fields={"lines": "Ship at least one unit."})
    if len(carrier) > 60 or len(tracking_number) > 80:
        raise ValidationFailed(fields={"tracking_number": "Too long."})
    seq = len(shipments_of(order)) + 1
    shipment = Shipment(
        order_id=order.id,
        brand_id=order.brand_id,
        seq=seq,
        carrier=carrier.strip(),
        tracking_number=tracking_number.strip(),
        shipped_by_user_id=actor.user_id,
    )
    db.session.add(shipment)
    value = 0
    moves = []
    for line, qty in picked:
        shipment.lines.append(ShipmentLine(order_line_id=line.id, qty=qty))
        line.shipped_qty += qty
        value += qty * line.unit_price_cents
        moves.append(
            stock.MoveLine(
                order.source_location_id,
                line.variant_id,
                on_hand_delta=-qty,
                reserved_delta=-qty,
                where=f"lines.{line.sku}",
            )
        )
    db.session.flush()
    stock.apply_moves(actor, moves, reason=MoveReason.SHIPMENT, reference=f"{order.number}/{seq}")
    link = order.link
    account = finance.lock_account(link)
    finance.commit_credit(account, -value)
    finance.post_invoice(
        actor,
        account,
        amount_cents=value,
        reference=f"shipment:{order.number}/{seq}",
        order_id=order.id,
        payment_terms_days=finance_queries.account_terms(link).payment_terms_days,
    )
    fully = all(line.open_qty == 0 for line in order.lines)
    transition(
        actor,
        order,
        Action.SHIP,
        OrderStatus.SHIPPED if fully else OrderStatus.PARTIALLY_SHIPPED,
        shipment=seq,
        units=sum(qty for _line, qty in picked),
        invoiced_cents=value,
        carrier=shipment.carrier,
        tracking_number=shipment.tracking_number,
    )
    return shipment


def receive_shipment(
    actor: Actor,
    order: Order,
    shipment: Shipment,
    *,
    received: dict[str, Any] | None = None,
    note: str = "",
) -> Shipment:
    """The buyer confirms a shipment arrived: the units land at its location. Fewer units than
    shipped ({sku: qty}) is a discrepancy that needs a note; a shipment is received once."""
    _as_buyer(actor, order)
    lock_order(order)
    db.session.refresh(shipment)
    if shipment.order_id != order.id:
        raise NotFound()
    if shipment.status != ShipmentStatus.SHIPPED:
        raise OrderStateConflict(f"Shipment {order.number}/{shipment.seq} was already received.")
    received = {str(k).strip().upper(): v for k, v in (received or {}).items()}
    errors: dict[str, str] = {}
    counts: list[tuple[ShipmentLine, int]] = []
    for sl in shipment.lines:
        sku = sl.order_line.sku
        qty = _whole_number(received.get(sku, sl.qty))
        if qty is None or qty < 0:
            errors[f"lines.{sku}"] = f"{sku}: a whole number of units."
        elif qty > sl.qty:
            errors[f"lines.{sku}"] = f"{sku}: only {sl.qty} were shipped."
        else:
            counts.append((sl, qty))
    unknown = set(received) - {sl.order_line.sku for sl in shipment.lines}
    for sku in sorted(unknown):
        errors[f"lines.{sku}"] = f"{sku} is not in this shipment."
    if errors:
        raise ValidationFailed(fields=errors)
    short = {sl.order_line.sku: sl.qty - qty for sl, qty in counts if qty < sl.qty}
    note = (note or "").strip()
    if short and not note:
        raise ValidationFailed(fields={"note": "Say what was missing or damaged."})
    moves = []
    for sl, qty in counts:
        sl.received_qty = qty
        sl.order_line.received_qty += qty
        if qty:
            moves.append(
                stock.MoveLine(order.destination_location_id, sl.order_line.variant_id, qty)
            )
    stock.apply_moves(
        actor, moves, reason=MoveReason.RECEIPT, reference=f"{order.number}/{shipment.seq}"
    )
    shipment.status = ShipmentStatus.RECEIVED
    shipment.received_at = utcnow()
    shipment.received_by_user_id = actor.user_id
    shipment.discrepancy_note = note[:500] if short else ""
    db.session.flush()
    status = order.status
    if order.status == OrderStatus.SHIPPED and all(
        s.status == ShipmentStatus.RECEIVED for s in shipments_of(order)
    ):
        status = OrderStatus.COMPLETED
        order.closed_at = utcnow()
    transition(
        actor,
        order,
        Action.RECEIVE,
        status,
        note=note,
        shipment=shipment.seq,
        units=sum(qty for _sl, qty in counts),
        short=short,
    )
    return shipment


# -- returns -------------------------------------------------------------------------------------


def returns_of(order: Order) -> list[ReturnRequest]:
    return list(
        db.session.execute(
            select(ReturnRequest)
            .where(ReturnRequest.order_id == order.id)
            .order_by(ReturnRequest.seq)
        ).scalars()
    )


def _pending_return_qty(order: Order) -> dict[int, int]:
    pending: dict[int, int] = {}
    for ret in returns_of(order):
        if ret.status in (ReturnStatus.REQUESTED, ReturnStatus.APPROVED):
            for rl in ret.lines:
                pending[rl.order_line_id] = pending.get(rl.order_line_id, 0) + rl.qty
    return pending


def request_return(
    actor: Actor, order: Order, quantities: dict[str, Any], *, reason: str
) -> ReturnRequest:
    """The buyer asks to send back received units ({sku: qty}); no more than it received and
    has not already returned or asked to return."""
    _as_buyer(actor, order)
    reason = _required(reason, "reason")
    lock_order(order)
    pending = _pending_return_qty(order)
    by_sku = {line.sku: line for line in order.lines}
    errors: dict[str, str] = {}
    picked: list[tuple[OrderLine, int]] = []
    for raw_sku, raw_qty in quantities.items():
        sku = str(raw_sku).strip().upper()
        qty = _whole_number(raw_qty)
        line = by_sku.get(sku)
        if line is None:
            errors[f"lines.{sku}"] = f"{sku} is not on this order."
            continue
        left = line.received_qty - line.returned_qty - pending.get(line.id, 0)
        if qty is None or qty < 0:
            errors[f"lines.{sku}"] = f"{sku}: a whole number of units."
        elif qty > left:
            errors[f"lines.{sku}"] = f"{sku}: at most {left} can be returned."
        elif qty:
            picked.append((line, qty))
    if errors:
        raise ValidationFailed(fields=errors)
    if not picked:
        raise ValidationFailed(fields={"lines": "Return at least one unit."})
    ret = ReturnRequest(
        order_id=order.id,
        brand_id=order.brand_id,
        seq=len(returns_of(order)) + 1,
        reason=reason,
        requested_by_user_id=actor.user_id,
    )
    for line, qty in picked:
        ret.lines.append(ReturnLine(order_line_id=line.id, qty=qty))
    db.session.add(ret)
    db.session.flush()
    transition(
        actor,
        order,
        Action.REQUEST_RETURN,
        note=reason,
        ret=ret.seq,
        units=sum(q for _l, q in picked),
    )
    return ret


def _lock_return(ret: ReturnRequest) -> ReturnRequest:
    db.session.execute(
        select(ReturnRequest.id).where(ReturnRequest.id == ret.id).with_for_update()
    ).scalar_one()
    db.session.refresh(ret)
    return ret


def decide_return(
    actor: Actor, ret: ReturnRequest, *, approve: bool, note: str = ""
) -> ReturnRequest:
    """The supplier accepts or refuses a return request."""
    order = ret.order
    _as_supplier(actor, order)
    _lock_return(ret)
    if ret.status != ReturnStatus.REQUESTED:
        raise OrderStateConflict(f"Return {ret.label} is {ret.status} already.")
    if not approve:
        note = _required(note, "note")
    ret.status = ReturnStatus.APPROVED if approve else ReturnStatus.REJECTED
    transition(
        actor,
        order,
        Action.APPROVE_RETURN if approve else Action.REJECT_RETURN,
        note=note,
        ret=ret.seq,
    )
    return ret


def receive_return(actor: Actor, ret: ReturnRequest) -> ReturnRequest:
    """The returned units arrive back at the supplier: they leave the buyer's location and land
    at the supplier's, and a credit note for their value goes to the buyer's account."""
    order = ret.order
    _as_supplier(actor, order)
    lock_order(order)
    _lock_return(ret)
    if ret.status != ReturnStatus.APPROVED:
        raise OrderStateConflict(f"Return {ret.label} is {ret.status}: it cannot be received.")
    moves = []
    credit = 0
    for rl in ret.lines:
        line = rl.order_line
        line.returned_qty += rl.qty
        credit += rl.qty * line.unit_price_cents
        moves.append(
            stock.MoveLine(
                order.destination_location_id, line.variant_id, -rl.qty, where=f"lines.{line.sku}"
            )
        )
        moves.append(stock.MoveLine(order.source_location_id, line.variant_id, rl.qty))
    stock.apply_moves(actor, moves, reason=MoveReason.RETURN, reference=ret.label)
    link = order.link
    finance.post_credit_note(
        actor,
        finance.ensure_account(link),
        amount_cents=credit,
        reference=f"return:{ret.label}",
        order_id=order.id,
        note=ret.reason,
    )
    ret.status = ReturnStatus.RECEIVED
    ret.credit_cents = credit
    db.session.flush()
    transition(
        actor,
        order,
        Action.RECEIVE_RETURN,
        ret=ret.seq,
        credited_cents=credit,
    )
    return ret


# -- carts ---------------------------------------------------------------------------------------


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
        qty = _whole_number(raw)
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
    _as_buyer(actor, order)
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


def save_template(actor: Actor, cart: Cart, *, name: str):
    """Save the cart's lines under a name (the same name replaces the template)."""
    from portal.ordering.models import OrderTemplate

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


def apply_template(actor: Actor, cart: Cart, template: Any) -> int:
    if template.buyer_org_id != cart.buyer_org_id or template.brand_id != cart.brand_id:
        raise NotFound()
    requests = [
        LineRequest(item.get("sku"), item.get("qty"), index)
        for index, item in enumerate(template.lines)
    ]
    return add_to_cart(actor, cart, requests)


def delete_template(actor: Actor, template: Any) -> None:
    if not actor.is_system:
        actor.ensure(Permission.ORDER_PLACE)
        if template.buyer_org_id != actor.org_id:
            raise NotFound()
    db.session.delete(template)
    db.session.flush()


# -- stock push ----------------------------------------------------------------------------------


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
    quotas: list[Any] = field(default_factory=list)

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
        qty = _whole_number(r.qty)
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
    source: Any,
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
        order.lines.append(
            OrderLine(
                brand_id=brand.id,
                variant_id=variant.id,
                sku=variant.sku,
                qty=qty,
                unit_price_cents=t.price_cents,
                msrp_cents=t.msrp_cents,
                line_total_cents=t.price_cents * qty,
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
