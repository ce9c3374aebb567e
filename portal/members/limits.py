"""Per-person limits of the employee store and of private sales (DESIGN §7). A refusal names the
limit and what is left.

- The employee store (`terms_for(brand).limits`): units of one SKU per person, and money per
  person, within the last `period_days`.
- A private sale (portal/members/private_sales.py) adds its own: units of an item per person,
  and units and money per person over the whole sale. Its orders are employee-store orders and
  count towards the store's limits too.

What counts: the person's orders of the employee tier that are paid or waiting for payment
(every status but cancelled and refunded), at the prices charged (the goods, before coupons and
without delivery), less what refunded returns took back, plus the order being placed. The
person is the member: a programme shared by a group of brands shares one allowance across them
(its orders carry the member, whichever brand sold them). A consumer who is no member is
counted by their own account.

Checks run under the person's row lock (`private_sales.lock_person`, taken by the checkout's
before step), so two checkouts of one person racing take turns: the second counts the first.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from portal.core.db import utcnow
from portal.core.errors import ValidationFailed
from portal.extensions import db
from portal.members import private_sales
from portal.members.sale_models import PrivateSale
from portal.network.models import Organization
from portal.policy.consumer_terms import LimitTerms, terms_for
from portal.storefront.hooks import CheckoutContext
from portal.storefront.models import (
    Consumer,
    ConsumerOrder,
    ConsumerOrderLine,
    ConsumerOrderStatus,
    Tier,
)
from portal.storefront.return_models import ConsumerReturn, ConsumerReturnLine, ReturnStatus
from portal.storefront.words import say, say_money

NOT_COUNTED = (ConsumerOrderStatus.CANCELLED, ConsumerOrderStatus.REFUNDED)

SKU_LIMIT = _l("Limit %(limit)d per person for %(sku)s in %(days)d days: %(left)d left.")
AMOUNT_LIMIT = _l(
    "Limit %(limit)s per person in %(days)d days in the employee store: %(left)s left."
)
SALE_SKU_LIMIT = _l("Limit %(limit)d per person for %(sku)s in %(sale)s: %(left)d left.")
SALE_UNITS_LIMIT = _l("Limit %(limit)d items per person in %(sale)s: %(left)d left.")
SALE_AMOUNT_LIMIT = _l("Limit %(limit)s per person in %(sale)s: %(left)s left.")


@dataclass
class Usage:
    """What a person bought that counts: units per SKU, and money."""

    units: dict[int, int] = field(default_factory=dict)
    cents: int = 0

    @property
    def total_units(self) -> int:
        return sum(self.units.values())


def _owner(consumer: Consumer) -> Any:
    if consumer.member_id is not None:
        return ConsumerOrder.member_id == consumer.member_id
    return ConsumerOrder.consumer_id == consumer.id


def usage(
    consumer: Consumer,
    *,
    since: datetime | None = None,
    event_id: int | None = None,
    exclude_order_id: int | None = None,
) -> Usage:
    """The person's counted employee-store buying: since a time, or in one sale."""
    conditions = [
        _owner(consumer),
        ConsumerOrder.tier == Tier.EMPLOYEE,
        ConsumerOrder.status.not_in(NOT_COUNTED),
    ]
    if since is not None:
        conditions.append(ConsumerOrder.created_at >= since)
    if event_id is not None:
        conditions.append(ConsumerOrder.event_id == event_id)
    if exclude_order_id is not None:
        conditions.append(ConsumerOrder.id != exclude_order_id)
    bought = db.session.execute(
        select(
            ConsumerOrderLine.variant_id,
            func.sum(ConsumerOrderLine.qty),
            func.sum(ConsumerOrderLine.line_cents),
        )
        .join(ConsumerOrder, ConsumerOrder.id == ConsumerOrderLine.order_id)
        .where(*conditions)
        .group_by(ConsumerOrderLine.variant_id)
    ).all()
    returned = db.session.execute(
        select(
            ConsumerReturnLine.variant_id,
            func.sum(ConsumerReturnLine.qty),
            func.sum(ConsumerReturnLine.qty * ConsumerReturnLine.unit_price_cents),
        )
        .join(ConsumerReturn, ConsumerReturn.id == ConsumerReturnLine.return_id)
        .join(ConsumerOrder, ConsumerOrder.id == ConsumerReturn.order_id)
        .where(*conditions, ConsumerReturn.status == ReturnStatus.REFUNDED)
        .group_by(ConsumerReturnLine.variant_id)
    ).all()
    units: dict[int, int] = defaultdict(int)
    cents = 0
    for variant_id, qty, money in bought:
        units[variant_id] += int(qty or 0)
        cents += int(money or 0)
    for variant_id, qty, money in returned:
        units[variant_id] -= int(qty or 0)
        cents -= int(money or 0)
    return Usage({v: max(0, q) for v, q in units.items()}, max(0, cents))


def _left(limit: int, used: int) -> int:
    return max(0, limit - used)


@dataclass(frozen=True)
class Allowance:
    """What a person may still buy: units per SKU and money, the tightest of the limits that
    apply (None: no limit)."""

    units: dict[int, int | None]
    cents: int | None


def _tightest(*values: int | None) -> int | None:
    known = [v for v in values if v is not None]
    return min(known) if known else None


def allowance(
    brand: Organization,
    consumer: Consumer,
    variant_ids: list[int],
    sale: PrivateSale | None = None,
) -> Allowance:
    """What the consumer may still buy of these SKUs in the employee store (or in `sale`)."""
    terms = terms_for(brand.id).limits
    period = usage(consumer, since=utcnow() - timedelta(days=terms.period_days))
    event = usage(consumer, event_id=sale.id) if sale is not None else Usage()
    items = {item.variant_id: item for item in sale.items} if sale is not None else {}
    units: dict[int, int | None] = {}
    for variant_id in variant_ids:
        item = items.get(variant_id)
        units[variant_id] = _tightest(
            _left(terms.units_per_sku, period.units.get(variant_id, 0))
            if terms.units_per_sku is not None
            else None,
            _left(item.limit_per_person, event.units.get(variant_id, 0))
            if item is not None and item.limit_per_person is not None
            else None,
            _left(sale.units_per_person, event.total_units)
            if sale is not None and sale.units_per_person is not None
            else None,
        )
    cents = _tightest(
        _left(terms.amount_per_period_cents, period.cents)
        if terms.amount_per_period_cents is not None
        else None,
        _left(sale.amount_per_person_cents, event.cents)
        if sale is not None and sale.amount_per_person_cents is not None
        else None,
    )
    return Allowance(units, cents)


def after_place(context: CheckoutContext, order: ConsumerOrder) -> None:
    """The employee store's limits (and a private sale's) on the placed order: refused with
    ValidationFailed naming each line over a units limit (`lines.<i>`), or `lines` for money,
    the limit and what is left. A sale's order then takes its units from the sale's hold."""
    if context.tier != Tier.EMPLOYEE:
        return
    sale = private_sales.sale_of(context)
    private_sales.lock_person(context.consumer)  # taken already by before_place: no wait
    terms = terms_for(context.brand.id).limits
    mine: dict[int, int] = defaultdict(int)
    where: dict[int, str] = {}
    for (variant_id, grade), qty in context.wanted.items():
        mine[variant_id] += qty
        where.setdefault(variant_id, context.where[(variant_id, grade)])
    skus = {variant_id: price.variant.sku for variant_id, price in context.prices.items()}
    problems: list[tuple[str, str]] = []
    if terms.units_per_sku is not None or terms.amount_per_period_cents is not None:
        period = usage(
            context.consumer,
            since=utcnow() - timedelta(days=terms.period_days),
            exclude_order_id=order.id,
        )
        problems += _store_problems(terms, period, mine, order, where, skus)
    if sale is not None:
        event = usage(context.consumer, event_id=sale.id, exclude_order_id=order.id)
        problems += _sale_problems(sale, event, mine, order, where, skus)
    if problems:
        fields: dict[str, str] = {}
        for name, message in problems:
            fields[name] = f"{fields[name]} {message}" if name in fields else message
        raise ValidationFailed(problems[0][1], fields=fields)
    if sale is not None:
        private_sales.take_hold(context, sale, order)


def _store_problems(
    terms: LimitTerms,
    used: Usage,
    mine: dict[int, int],
    order: ConsumerOrder,
    where: dict[int, str],
    skus: dict[int, str],
) -> list[tuple[str, str]]:
    problems = []
    if terms.units_per_sku is not None:
        for variant_id, qty in mine.items():
            had = used.units.get(variant_id, 0)
            if had + qty > terms.units_per_sku:
                problems.append(
                    (
                        where[variant_id],
                        say(
                            SKU_LIMIT,
                            limit=terms.units_per_sku,
                            sku=skus[variant_id],
                            days=terms.period_days,
                            left=_left(terms.units_per_sku, had),
                        ),
                    )
                )
    limit = terms.amount_per_period_cents
    if limit is not None and used.cents + order.goods_cents > limit:
        problems.append(
            (
                "lines",
                say(
                    AMOUNT_LIMIT,
                    limit=say_money(limit, order.currency),
                    days=terms.period_days,
                    left=say_money(_left(limit, used.cents), order.currency),
                ),
            )
        )
    return problems


def _sale_problems(
    sale: PrivateSale,
    used: Usage,
    mine: dict[int, int],
    order: ConsumerOrder,
    where: dict[int, str],
    skus: dict[int, str],
) -> list[tuple[str, str]]:
    problems = []
    items = {item.variant_id: item for item in sale.items}
    for variant_id, qty in mine.items():
        limit = items[variant_id].limit_per_person
        had = used.units.get(variant_id, 0)
        if limit is not None and had + qty > limit:
            problems.append(
                (
                    where[variant_id],
                    say(
                        SALE_SKU_LIMIT,
                        limit=limit,
                        sku=skus[variant_id],
                        sale=sale.name,
                        left=_left(limit, had),
                    ),
                )
            )
    units = sale.units_per_person
    if units is not None and used.total_units + sum(mine.values()) > units:
        problems.append(
            (
                "lines",
                say(
                    SALE_UNITS_LIMIT,
                    limit=units,
                    sale=sale.name,
                    left=_left(units, used.total_units),
                ),
            )
        )
    amount = sale.amount_per_person_cents
    if amount is not None and used.cents + order.goods_cents > amount:
        problems.append(
            (
                "lines",
                say(
                    SALE_AMOUNT_LIMIT,
                    limit=say_money(amount, order.currency),
                    sale=sale.name,
                    left=say_money(_left(amount, used.cents), order.currency),
                ),
            )
        )
    return problems
