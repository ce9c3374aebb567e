"""Why a price: each section's winning rule, what it overrode, and rules and audiences written as
people read them (codes, not ids)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from portal.catalog.models import Category, Product, ProductStatus, Variant
from portal.core.access import Actor
from portal.core.errors import NotFound
from portal.extensions import db
from portal.network.models import Organization
from portal.policy.models import (
    RETAIL_SECTIONS,
    AudienceKind,
    PolicyRule,
    PolicyVersion,
    Scope,
    Section,
)
from portal.policy.queries.buyers import Buyer, is_brand_hq
from portal.policy.queries.resolution import SkuTerms, resolve_for_consumers, resolve_one


def describe_rule(
    rule: PolicyRule, *, target: str | None = None, reveal_audience: bool = True
) -> dict[str, Any]:
    """A rule as people read it: which policy, version, audience, what it covers, its value.

    A buyer is not told which other orgs a named-org policy also names (`reveal_audience`).
    `target`: the rule's code when the caller looked several up at once (rule_targets)."""
    version = rule.version  # a many-to-one: served from the identity map when loaded
    named = version.audience_kind == AudienceKind.ORGS
    values = (
        []
        if version.audience_kind == AudienceKind.ALL or (named and not reveal_audience)
        else audience_values(version)
    )
    return {
        "rule_id": rule.id,
        "policy": version.policy.code,
        "policy_name": version.policy.name,
        "version": version.number,
        "audience": _audience_text(version.audience_kind, values),
        "audience_kind": version.audience_kind,
        "audience_values": values,
        "scope": rule.scope,
        "target": rule_targets([rule])[rule.id] if target is None else target,
        "price_cents": rule.price_cents,
        "percent_bp": rule.percent_bp,
        "moq": rule.moq,
        "multiple": rule.multiple,
    }


def explain(
    buyer: Buyer, variant: Variant, at: datetime | None = None, *, for_hq: bool = False
) -> dict[str, Any]:
    """Why the buyer pays what it pays for a SKU: the winning rule of each section, the base it
    applied to, the result, and the less specific rules it overrode."""
    terms = resolve_one(buyer, variant, at)
    targets = rule_targets(r for rules in terms.candidates.values() for r in rules)

    def describe(rule: PolicyRule) -> dict[str, Any]:
        return describe_rule(rule, target=targets[rule.id], reveal_audience=for_hq)

    def section(name: str, winner: PolicyRule | None) -> dict[str, Any] | None:
        if winner is None:
            return None
        return {
            "rule": describe(winner),
            "overridden": [describe(r) for r in terms.candidates.get(name, [])[1:]],
        }

    price = section(Section.PRICE, terms.price_rule)
    if price is not None:
        price["base_cents"] = terms.msrp_cents
        price["result_cents"] = terms.price_cents
    floor = section(Section.FLOOR, terms.floor_rule)
    if floor is not None:
        floor["result_cents"] = terms.floor_cents
    return {
        "sku": variant.sku,
        "product": variant.product.code,
        "buyer": buyer.org_code,
        "level": buyer.level,
        "region": buyer.region,
        "authorized": terms.authorized,
        "currency": terms.currency,
        "msrp_cents": terms.msrp_cents,
        "price_cents": terms.price_cents if terms.authorized else None,
        "moq": terms.moq,
        "multiple": terms.multiple,
        "case_pack": terms.case_pack,
        "floor_price_cents": terms.floor_cents,
        "price": price,
        "order": section(Section.ORDER, terms.order_rule),
        "floor": floor,
        "excluded_by": describe(terms.exclude_rule) if terms.exclude_rule else None,
        # HQ also sees what the brand's consumers pay for the SKU, and why
        "retail": explain_retail(variant.brand_id, variant, at) if for_hq else None,
    }


def explain_retail(brand_id: int, variant: Variant, at: datetime | None = None) -> dict[str, Any]:
    """Why the brand's consumers pay what they pay in each storefront: per retail section the
    winning rule (from the versions addressed to everyone), its base, its result and what it
    overrode; the official price says when the floor raised it."""
    terms = resolve_for_consumers(brand_id, [variant], at)[variant.id]
    return _retail_sections(terms)


def _retail_sections(terms: SkuTerms) -> dict[str, Any]:
    wanted = (*RETAIL_SECTIONS, Section.FLOOR)
    targets = rule_targets(r for name in wanted for r in terms.candidates.get(name, []))

    def describe(rule: PolicyRule) -> dict[str, Any]:
        return describe_rule(rule, target=targets[rule.id])

    sections: dict[str, Any] = {"currency": terms.currency, "msrp_cents": terms.msrp_cents}
    for name in RETAIL_SECTIONS:
        winner = terms.retail_rule(name)
        sections[name] = (
            None
            if winner is None
            else {
                "rule": describe(winner),
                "overridden": [describe(r) for r in terms.candidates.get(name, [])[1:]],
                "base_cents": terms.msrp_cents,
                "result_cents": terms.retail_cents(name),
            }
        )
    if sections[Section.OFFICIAL] is not None:
        sections[Section.OFFICIAL]["at_floor"] = terms.official_at_floor
    sections["floor"] = (
        None
        if terms.floor_rule is None
        else {"rule": describe(terms.floor_rule), "result_cents": terms.floor_cents}
    )
    return sections


def rule_targets(rules: Iterable[PolicyRule]) -> dict[int, str]:
    """What each rule covers, as a code ("" for all): one query per scope, not one per rule."""
    rules = list(rules)
    codes: dict[int, str] = {}
    for scope, model, column, attribute in (
        (Scope.SKU, Variant, Variant.sku, "variant_id"),
        (Scope.PRODUCT, Product, Product.code, "product_id"),
        (Scope.CATEGORY, Category, Category.code, "category_id"),
    ):
        wanted = {getattr(r, attribute) for r in rules if r.scope == scope}
        found: dict[int, str] = {}
        ids = sorted(wanted)
        for start in range(0, len(ids), 5000):
            chunk = ids[start : start + 5000]
            rows = db.session.execute(select(model.id, column).where(model.id.in_(chunk)))
            found.update({row_id: code for row_id, code in rows})
        for rule in rules:
            if rule.scope == scope:
                codes[rule.id] = found.get(getattr(rule, attribute), "")
    for rule in rules:
        codes.setdefault(rule.id, "")
    return codes


def audience_label(version: PolicyVersion) -> str:
    values = [] if version.audience_kind == AudienceKind.ALL else audience_values(version)
    return _audience_text(version.audience_kind, values)


def _audience_text(kind: str, values: list[str]) -> str:
    """ "all", "level: A, B", or the kind alone when the values are withheld."""
    return f"{kind}: {', '.join(values)}" if values else kind


def audience_values(version: PolicyVersion) -> list[str]:
    """Audience values as people write them (org codes rather than ids)."""
    values = [a.value for a in version.audience if a.kind == version.audience_kind]
    if version.audience_kind != AudienceKind.ORGS:
        return sorted(values)
    ids = [int(v) for v in values]
    codes = db.session.execute(select(Organization.code).where(Organization.id.in_(ids)))
    return sorted(codes.scalars())


def find_variant(brand_id: int, sku: str) -> Variant | None:
    """A SKU of an active product (a retired product has no price for anyone)."""
    return db.session.execute(
        select(Variant)
        .join(Product, Product.id == Variant.product_id)
        .where(
            Variant.brand_id == brand_id,
            Variant.sku == sku.strip().upper(),
            Product.status == ProductStatus.ACTIVE,
        )
    ).scalar_one_or_none()


def get_explanation(
    actor: Actor, brand_id: int, buyer: Buyer, sku: str
) -> tuple[Variant, dict[str, Any]]:
    """ "Why this price" for a SKU. To a buyer, a SKU it may not buy does not exist (404); the
    brand's HQ, looking as that buyer, also sees why it is not authorized."""
    variant = find_variant(brand_id, sku)
    if variant is None:
        raise NotFound()
    hq = is_brand_hq(actor, brand_id)
    explanation = explain(buyer, variant, for_hq=hq)
    if not explanation["authorized"] and not hq:
        raise NotFound()
    return variant, explanation
