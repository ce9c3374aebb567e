"""What every way of ordering checks before anything is written: quantities and SKUs, who buys
from whom, and the quote (prices, order rules, the ordering window, the minimum amount, quotas
and stock as they stand). Read-only: placing an order runs the same checks again under locks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.catalog.models import Product, Variant
from portal.core.access import Actor
from portal.core.db import utcnow
from portal.core.errors import NotFound, ValidationFailed
from portal.extensions import db
from portal.inventory import allocations
from portal.inventory import services as stock
from portal.inventory.models import Location
from portal.network.models import ChannelLink
from portal.ordering import queries
from portal.ordering.errors import OrderRefused
from portal.ordering.transitions import ProblemCode
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


def whole_number(value: Any) -> int | None:
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
        qty = whole_number(request.qty)
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


# -- the quote -----------------------------------------------------------------------------------


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
        location = source_location(link)
        held = allocations.quotas_at(
            location.id, link.buyer_org_id, [ln.variant.id for ln in q.lines]
        )
        flagged = {p.line for p in q.problems}
        q.problems += [p for p in stock_problems(q, location, held) if p.line not in flagged]
    return q


def _day(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d") if value else "…"


def source_location(link: ChannelLink) -> Location:
    """Where the link's orders are served from: its supplier's default location."""
    return stock.default_location(link.supplier)


def stock_problems(
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
