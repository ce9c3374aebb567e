"""The retail floor's rule for a policy being written: no official (consumer) price below the
floor the same version sets. (A floor of another version is applied when prices resolve.)"""

from __future__ import annotations

from sqlalchemy import or_, select

from portal.catalog.models import Product, Variant
from portal.core.errors import ValidationFailed
from portal.core.money import from_cents, percent_of
from portal.extensions import db
from portal.policy.models import PolicyRule, Scope, Section

OFFICIAL_FIELD = "official_prices"  # the form field a refusal is shown on
BELOW_FLOOR_SHOWN = 5  # SKUs named in a refusal; the rest are counted


def check_official_floor(brand_id: int, rules: list[PolicyRule]) -> None:
    """An official (retail) price is never below the retail floor: refuse a version whose own
    official rules would put any SKU under its own floor rules, naming the first few SKUs.

    Only SKUs under a floor can fall below one, so only those are read (floors never cover
    "all"). A floor of another version is applied at resolution time instead (the price is
    raised to it): consumers resolve from one version addressed to everyone at a time."""
    official = [r for r in rules if r.section == Section.OFFICIAL]
    floors = [r for r in rules if r.section == Section.FLOOR]
    if not official or not floors:
        return

    def index(section_rules: list[PolicyRule]) -> dict[tuple[str, int | None], PolicyRule]:
        return {
            (
                r.scope,
                {
                    Scope.SKU: r.variant_id,
                    Scope.PRODUCT: r.product_id,
                    Scope.CATEGORY: r.category_id,
                }.get(Scope(r.scope)),
            ): r
            for r in section_rules
        }

    by_official, by_floor = index(official), index(floors)

    def winner(
        found: dict[tuple[str, int | None], PolicyRule], ids: tuple[int, int, int]
    ) -> PolicyRule | None:
        for scope, target in zip(
            (Scope.SKU, Scope.PRODUCT, Scope.CATEGORY, Scope.ALL), (*ids, None), strict=True
        ):
            if (rule := found.get((scope, target))) is not None:
                return rule
        return None

    def ids_of(scope: str) -> list[int]:
        return [t for (s, t) in by_floor if s == scope and t is not None]

    rows = db.session.execute(
        select(
            Variant.id,
            Variant.sku,
            Variant.product_id,
            Product.category_id,
            Product.msrp_cents,
            Product.currency,
        )
        .join(Product, Product.id == Variant.product_id)
        .where(
            Variant.brand_id == brand_id,
            or_(
                Variant.id.in_(ids_of(Scope.SKU)),
                Variant.product_id.in_(ids_of(Scope.PRODUCT)),
                Product.category_id.in_(ids_of(Scope.CATEGORY)),
            ),
        )
        .order_by(Variant.sku)
    )
    below: list[str] = []
    count = 0
    for variant_id, sku, product_id, category_id, msrp, currency in rows:
        ids = (variant_id, product_id, category_id)
        price_rule, floor_rule = winner(by_official, ids), winner(by_floor, ids)
        if price_rule is None or floor_rule is None:
            continue
        price = price_rule.price_cents
        price = percent_of(msrp, price_rule.percent_bp or 0) if price is None else price
        floor = floor_rule.price_cents
        floor = percent_of(msrp, floor_rule.percent_bp or 0) if floor is None else floor
        if price < floor:
            count += 1
            if len(below) < BELOW_FLOOR_SHOWN:
                below.append(f"{sku} {from_cents(price):f} < {from_cents(floor):f} {currency}")
    if count:
        more = f" (and {count - len(below)} more)" if count > len(below) else ""
        raise ValidationFailed(
            fields={
                OFFICIAL_FIELD: "The official price may not be below the retail floor: "
                + "; ".join(below)
                + more
                + "."
            }
        )
