"""What a sale earns its guide, under the selling brand's commission terms (policy
`member_terms.commission`, consumer_terms.CommissionTerms): per line, the rate of the line's
category if the terms name it, else the rate of the storefront tier, else the brand's rate,
applied to what the consumer pays for the line's goods (after coupons: points and wallet are
only ways of paying), plus a fixed amount per unit. Delivery fees earn nothing.

Counted once, when the sale is placed (`Attribution.commission_cents`), so what completion
earns, what the split gives the guide's store and what a guide reads on their page agree."""

from __future__ import annotations

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
    basis = commission = 0
    for line in order.lines:
        paid = line.line_cents - line.discount_cents
        category = line.variant.product.category.code if line.variant is not None else None
        basis += paid
        commission += line_commission(terms, order.tier, category, paid, line.qty)
    return basis, commission


def sale_commission(terms: CommissionTerms, amount_cents: int, units: int = 0) -> int:
    """A till sale's commission: the official tier's rate on its amount (a till reports no
    categories), plus the per-unit amount for the units it names."""
    return line_commission(terms, "official", None, amount_cents, units)
