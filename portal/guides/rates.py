"""What a sale earns its guide, under the selling brand's commission terms (policy
`member_terms.commission`, consumer_terms.CommissionTerms): per line, the rate of the line's
category if the terms name it, else the rate of the storefront tier, else the brand's rate,
applied to what the consumer pays for the line's goods (after coupons: points and wallet are
only ways of paying), plus a fixed amount per unit. Delivery fees earn nothing.

Counted once, when the sale is placed (`Attribution.commission_cents`), so what completion
earns, what the split gives the guide's store and what a guide reads on their page agree."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from portal.catalog.models import Category, Product, Variant
from portal.core.db import in_ids
from portal.extensions import db
from portal.policy.consumer_terms import CommissionTerms
from portal.storefront.models import ConsumerOrder

BP = 10_000  # basis points in a whole


def line_commission(terms: CommissionTerms, tier: str, category_code: str | None,
                    paid_cents: int, qty: int) -> int:  # fmt: skip
    """One line's commission: the rate's share of `paid_cents`, rounded down to the fen, plus
    the per-unit amount."""
    rate = terms.rate_for(tier, category_code)
    return max(0, paid_cents) * rate // BP + terms.per_unit_cents * max(0, qty)


def order_commission(terms: CommissionTerms, order: ConsumerOrder) -> tuple[int, int]:
    """(basis, commission) of a placed order: the goods' paid value and what it earns."""
    lines = list(order.lines)
    categories = _category_codes({line.variant_id for line in lines})
    basis = commission = 0
    for line in lines:
        paid = line.line_cents - line.discount_cents
        category = categories.get(line.variant_id)
        basis += paid
        commission += line_commission(terms, order.tier, category, paid, line.qty)
    return basis, commission


def _category_codes(variant_ids: Iterable[int]) -> dict[int, str]:
    """Each variant's category code, in one query (not three lazy loads per line)."""
    ids = [i for i in variant_ids if i is not None]
    if not ids:
        return {}
    rows = db.session.execute(
        select(Variant.id, Category.code)
        .join(Product, Product.id == Variant.product_id)
        .join(Category, Category.id == Product.category_id)
        .where(in_ids(Variant.id, ids))
    )
    return {variant_id: code for variant_id, code in rows}


def sale_commission(terms: CommissionTerms, amount_cents: int, units: int = 0) -> int:
    """A till sale's commission: the official tier's rate on its amount (a till reports no
    categories), plus the per-unit amount for the units it names."""
    return line_commission(terms, "official", None, amount_cents, units)
