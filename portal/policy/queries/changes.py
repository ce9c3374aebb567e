"""What a version changes against the policy's previous published version: as rules for HQ, and
as resolved terms for one buyer (its inbox item)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import aliased, selectinload

from portal.catalog.models import Product, ProductStatus, Variant
from portal.core.db import utcnow
from portal.extensions import db
from portal.policy.models import PolicyRule, PolicyVersion, Scope, VersionStatus
from portal.policy.queries.buyers import Buyer
from portal.policy.queries.explanation import rule_targets
from portal.policy.queries.resolution import ORDER_FIELDS, SkuTerms, order_terms, resolve


def previous_version(version: PolicyVersion) -> PolicyVersion | None:
    return db.session.execute(
        select(PolicyVersion)
        .where(
            PolicyVersion.policy_id == version.policy_id,
            PolicyVersion.number < version.number,
            PolicyVersion.status != VersionStatus.DRAFT,
        )
        .order_by(PolicyVersion.number.desc())
        .limit(1)
    ).scalar_one_or_none()


def _rule_key(rule: PolicyRule) -> tuple[Any, ...]:
    return (rule.section, rule.scope, rule.variant_id, rule.product_id, rule.category_id)


def _rule_value(rule: PolicyRule) -> tuple[Any, ...]:
    return (rule.price_cents, rule.percent_bp, rule.moq, rule.multiple)


@dataclass
class Change:
    section: str
    scope: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def change_summary(version: PolicyVersion, *, limit: int = 200) -> dict[str, Any]:
    """What a version changes against the previous published version of the same policy: rules
    added, changed and removed, and the whole-order terms that differ."""
    before = previous_version(version)
    old_rules = {_rule_key(r): r for r in (before.rules if before else [])}
    new_rules = {_rule_key(r): r for r in version.rules}
    changes: list[Change] = []

    def values(rule: PolicyRule | None) -> dict[str, Any] | None:
        if rule is None:
            return None
        return {
            "price_cents": rule.price_cents,
            "percent_bp": rule.percent_bp,
            "moq": rule.moq,
            "multiple": rule.multiple,
        }

    changed: list[tuple[PolicyRule, PolicyRule | None, PolicyRule | None]] = []
    for key in sorted(set(old_rules) | set(new_rules), key=lambda k: tuple(map(str, k))):
        old, new = old_rules.get(key), new_rules.get(key)
        if old is not None and new is not None and _rule_value(old) == _rule_value(new):
            continue
        changed.append((new if new is not None else old_rules[key], old, new))
        if len(changed) >= limit:
            break
    targets = rule_targets(rule for rule, _old, _new in changed)
    for rule, old, new in changed:
        changes.append(Change(rule.section, rule.scope, targets[rule.id], values(old), values(new)))
    terms = []
    for name in (*ORDER_FIELDS, "order_window_start", "order_window_end", "rebates"):
        old_value = getattr(before, name) if before else None
        new_value = getattr(version, name)
        if old_value != new_value and (old_value or new_value):
            terms.append({"field": name, "before": old_value, "after": new_value})
    old_terms = (before.member_terms if before else None) or {}
    for section in sorted(set(old_terms) | set(version.member_terms or {})):
        old_value, new_value = old_terms.get(section), (version.member_terms or {}).get(section)
        if old_value != new_value:
            terms.append(
                {"field": f"member_terms.{section}", "before": old_value, "after": new_value}
            )
    return {"previous": before, "changes": changes, "terms": terms}


@dataclass
class PriceChange:
    variant: Variant
    before: SkuTerms
    after: SkuTerms


@dataclass
class BuyerChanges:
    """What a version changes for one buyer, in its own resolved terms (never the raw rules,
    which may name other orgs' deals or products the buyer may not buy)."""

    effective_at: datetime
    prices: list[PriceChange]
    terms: list[dict[str, Any]]
    more: bool  # the version touches more SKUs than are listed


def buyer_changes(buyer: Buyer, version: PolicyVersion, *, limit: int = 50) -> BuyerChanges:
    """Resolve the SKUs whose rules the version changes, just before it starts and once it is
    in force, and keep what differs for this buyer and is (or was) authorized for it."""
    after_at = max(utcnow(), version.effective_from)
    before_at = version.effective_from - timedelta(microseconds=1)
    variants = _touched_variants(version, limit + 1)
    more = len(variants) > limit
    variants = variants[:limit]
    before = resolve(buyer, variants, before_at)
    after = resolve(buyer, variants, after_at)
    prices = []
    for variant in variants:
        old, new = before[variant.id], after[variant.id]
        if not (old.authorized or new.authorized):
            continue
        if _visible_terms(old) != _visible_terms(new):
            prices.append(PriceChange(variant, old, new))
    old_terms, new_terms = order_terms(buyer, before_at), order_terms(buyer, after_at)
    terms = []
    for name in (*ORDER_FIELDS, "order_window_start", "order_window_end", "rebates"):
        old_value, new_value = getattr(old_terms, name), getattr(new_terms, name)
        if old_value != new_value and (old_value or new_value):
            terms.append({"field": name, "before": old_value, "after": new_value})
    return BuyerChanges(effective_at=after_at, prices=prices, terms=terms, more=more)


def _visible_terms(terms: SkuTerms) -> tuple[Any, ...]:
    return (terms.authorized, terms.price_cents, terms.moq, terms.multiple, terms.floor_cents)


def _changed_rules(version: PolicyVersion) -> Any:
    """The rules that differ from the previous published version (added, changed or removed),
    as a subquery; all of the version's rules when it is the first."""
    before = previous_version(version)
    mine = select(PolicyRule).where(PolicyRule.version_id == version.id)
    if before is None:
        return mine.subquery()

    def differs(rule: Any, other_version_id: int) -> Any:
        twin = aliased(PolicyRule)
        same = [
            twin.version_id == other_version_id,
            *(
                getattr(twin, name).is_not_distinct_from(getattr(rule, name))
                for name in (
                    "section",
                    "scope",
                    "variant_id",
                    "product_id",
                    "category_id",
                    "price_cents",
                    "percent_bp",
                    "moq",
                    "multiple",
                )
            ),
        ]
        return ~exists().where(*same)

    old = aliased(PolicyRule)
    added = select(PolicyRule).where(
        PolicyRule.version_id == version.id, differs(PolicyRule, before.id)
    )
    removed = select(old).where(old.version_id == before.id, differs(old, version.id))
    return added.union_all(removed).subquery()


def _touched_variants(version: PolicyVersion, limit: int) -> list[Variant]:
    """Active SKUs that a changed rule of the version covers (one query, whatever its size)."""
    rules = _changed_rules(version)
    stmt = (
        select(Variant)
        .join(Product, Product.id == Variant.product_id)
        .where(
            Variant.brand_id == version.brand_id,
            Product.status == ProductStatus.ACTIVE,
            or_(
                Variant.id.in_(select(rules.c.variant_id).where(rules.c.scope == Scope.SKU)),
                Variant.product_id.in_(
                    select(rules.c.product_id).where(rules.c.scope == Scope.PRODUCT)
                ),
                Product.category_id.in_(
                    select(rules.c.category_id).where(rules.c.scope == Scope.CATEGORY)
                ),
                exists(select(rules.c.id).where(rules.c.scope == Scope.ALL)),
            ),
        )
        .options(selectinload(Variant.product))
        .order_by(Variant.sku)
        .limit(limit)
    )
    return list(db.session.execute(stmt).scalars())
