"""Price resolution: the versions in force for a buyer, what it pays and must respect per SKU,
and its whole-order terms.

Resolution works per price group, never per link x SKU: a buyer's group is its brand, level,
region and org. The live versions that target the group are one indexed query over
`policy_audiences`; the rules of those versions that touch a page of SKUs are a second query. Cost
grows with the policy's size and the page, not with the number of links or SKUs in the network.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import selectinload

from portal.catalog.models import Product, Variant
from portal.core.db import in_ids, utcnow
from portal.core.money import percent_of
from portal.extensions import db
from portal.network.models import ChannelLink
from portal.policy.models import (
    RETAIL_SECTIONS,
    SPECIFICITY,
    AudienceKind,
    PolicyAudience,
    PolicyRule,
    PolicyVersion,
    Scope,
    Section,
    VersionStatus,
)
from portal.policy.queries.buyers import Buyer

SCOPE_RANK = {scope: rank for rank, scope in enumerate(Scope)}  # sku 0 ... all 3
LIVE_STATUSES = (VersionStatus.SCHEDULED, VersionStatus.ACTIVE)

# -- live versions -------------------------------------------------------------------------------


def live_condition(at: datetime) -> Any:
    """Published and inside its window at `at`. Checked on every read, so a stopped scheduler
    never serves an expired price or hides one that became due; and a past moment resolves as
    it did then (an "expired" label only says the window is over)."""
    return and_(
        PolicyVersion.status != VersionStatus.DRAFT,
        PolicyVersion.effective_from <= at,
        or_(PolicyVersion.effective_to.is_(None), PolicyVersion.effective_to > at),
    )


def _audience_matches(buyer: Buyer) -> Any:
    return or_(
        PolicyAudience.kind == AudienceKind.ALL,
        and_(PolicyAudience.kind == AudienceKind.LEVEL, PolicyAudience.value == buyer.level),
        and_(PolicyAudience.kind == AudienceKind.REGION, PolicyAudience.value == buyer.region),
        and_(PolicyAudience.kind == AudienceKind.ORGS, PolicyAudience.value == str(buyer.org_id)),
    )


def live_versions(buyer: Buyer, at: datetime | None = None) -> list[PolicyVersion]:
    """Versions in force for the buyer, most specific first (named org > region > level > all;
    then the latest start)."""
    at = at or utcnow()
    targeted = select(PolicyAudience.version_id).where(
        PolicyAudience.brand_id == buyer.brand_id, _audience_matches(buyer)
    )
    stmt = (
        select(PolicyVersion)
        .where(
            PolicyVersion.brand_id == buyer.brand_id,
            PolicyVersion.id.in_(targeted),
            live_condition(at),
        )
        .options(selectinload(PolicyVersion.policy))
    )
    versions = list(db.session.execute(stmt).scalars())
    versions.sort(
        key=lambda v: (SPECIFICITY[AudienceKind(v.audience_kind)], v.effective_from, v.id),
        reverse=True,
    )
    return versions


def consumer_versions(brand_id: int, at: datetime | None = None) -> list[PolicyVersion]:
    """Versions in force for the brand's consumers: a consumer belongs to no level, region or
    org, so only versions addressed to everyone count (latest start first)."""
    at = at or utcnow()
    stmt = (
        select(PolicyVersion)
        .where(
            PolicyVersion.brand_id == brand_id,
            PolicyVersion.audience_kind == AudienceKind.ALL,
            live_condition(at),
        )
        .options(selectinload(PolicyVersion.policy))
    )
    versions = list(db.session.execute(stmt).scalars())
    versions.sort(key=lambda v: (v.effective_from, v.id), reverse=True)
    return versions


class VersionsByBuyer:
    """Live versions for many buyers of one brand at one moment (a replenishment run): buyers
    of the same level and region that no version names share theirs, so thousands of
    locations need a handful of look-ups instead of one each."""

    def __init__(self, brand_id: int, at: datetime | None = None) -> None:
        self.at = at or utcnow()
        self.named = set(
            db.session.execute(
                select(PolicyAudience.value)
                .join(PolicyVersion, PolicyVersion.id == PolicyAudience.version_id)
                .where(
                    PolicyAudience.brand_id == brand_id,
                    PolicyAudience.kind == AudienceKind.ORGS,
                    live_condition(self.at),
                )
            ).scalars()
        )
        self._found: dict[tuple[str, str, int | None], list[PolicyVersion]] = {}

    def of(self, buyer: Buyer) -> list[PolicyVersion]:
        named = buyer.org_id if str(buyer.org_id) in self.named else None
        key = (buyer.level, buyer.region, named)
        if key not in self._found:
            self._found[key] = live_versions(buyer, self.at)
        return self._found[key]


# -- resolution ----------------------------------------------------------------------------------


@dataclass
class SkuTerms:
    """What one buyer pays and must respect for one SKU, with the rules that decided it."""

    variant_id: int
    sku: str
    msrp_cents: int
    currency: str
    case_pack: int
    price_cents: int | None = None
    moq: int = 1
    multiple: int = 1
    floor_cents: int | None = None
    price_rule: PolicyRule | None = None
    order_rule: PolicyRule | None = None
    floor_rule: PolicyRule | None = None
    exclude_rule: PolicyRule | None = None
    # consumer prices of the three storefronts (None: that storefront has no price for the SKU)
    official_cents: int | None = None
    outlet_cents: int | None = None
    employee_cents: int | None = None
    official_rule: PolicyRule | None = None
    outlet_rule: PolicyRule | None = None
    employee_rule: PolicyRule | None = None
    official_at_floor: bool = False  # the official rule said less: the floor was used instead
    # every rule that matched, per section, winner first (for the explanation)
    candidates: dict[str, list[PolicyRule]] = field(default_factory=dict)

    @property
    def authorized(self) -> bool:
        return self.price_cents is not None and self.exclude_rule is None

    def retail_cents(self, tier: str) -> int | None:
        """The consumer price in one storefront ("official", "outlet" or "employee")."""
        if tier not in RETAIL_SECTIONS:
            raise ValueError(f"not a storefront: {tier!r}")
        value: int | None = getattr(self, f"{tier}_cents")
        return value

    def retail_rule(self, tier: str) -> PolicyRule | None:
        if tier not in RETAIL_SECTIONS:
            raise ValueError(f"not a storefront: {tier!r}")
        rule: PolicyRule | None = getattr(self, f"{tier}_rule")
        return rule


def _value_of(rule: PolicyRule, msrp_cents: int) -> int:
    if rule.price_cents is not None:
        return rule.price_cents
    return percent_of(msrp_cents, rule.percent_bp or 0)


def _key(rank: dict[int, int], rule: PolicyRule) -> tuple[int, int, int]:
    """Smaller is more specific: the version's rank first, then the rule's scope."""
    return (rank[rule.version_id], SCOPE_RANK[Scope(rule.scope)], rule.id)


def resolve(
    buyer: Buyer,
    variants: Sequence[Variant],
    at: datetime | None = None,
    *,
    versions: list[PolicyVersion] | None = None,
) -> dict[int, SkuTerms]:
    """Price and terms of a page of SKUs for one buyer, in two queries whatever the page size.

    Per section the winning rule is the one from the most specific live version; inside one
    version, SKU beats product beats category beats "all". An exclusion is a rule like the
    others: it makes the SKU unauthorized unless a more specific price rule authorizes it (a
    named store may be sold what its level may not). No price at all: unauthorized too.
    `versions`: the buyer's live versions when the caller already has them.
    """
    if versions is None:
        versions = live_versions(buyer, at)
    return _resolve(versions, variants)


def resolve_for_consumers(
    brand_id: int,
    variants: Sequence[Variant],
    at: datetime | None = None,
    *,
    versions: list[PolicyVersion] | None = None,
) -> dict[int, SkuTerms]:
    """The brand's consumers' terms for a page of SKUs: resolved like a buyer's, from the
    versions addressed to everyone (`consumer_versions`); read `official_cents`,
    `outlet_cents` and `employee_cents`. Wholesale fields mean nothing to a consumer."""
    if versions is None:
        versions = consumer_versions(brand_id, at)
    return _resolve(versions, variants)


def _resolve(versions: list[PolicyVersion], variants: Sequence[Variant]) -> dict[int, SkuTerms]:
    # One relationship access per product, not per SKU (each goes through the ORM's loader).
    products: dict[int, Product] = {}
    for v in variants:
        if v.product_id not in products:
            products[v.product_id] = v.product
    result = {
        v.id: SkuTerms(
            variant_id=v.id,
            sku=v.sku,
            msrp_cents=products[v.product_id].msrp_cents,
            currency=products[v.product_id].currency,
            case_pack=v.case_pack,
        )
        for v in variants
    }
    if not versions or not variants:
        return result
    rank = {v.id: i for i, v in enumerate(versions)}
    # Rules indexed by what they cover: each SKU looks at four short lists, never at all rules.
    # Keyed by the target columns as mapped (nullable: only the rule's own scope sets one).
    by_variant: dict[int | None, list[PolicyRule]] = defaultdict(list)
    by_product: dict[int | None, list[PolicyRule]] = defaultdict(list)
    by_category: dict[int | None, list[PolicyRule]] = defaultdict(list)
    for_all: list[PolicyRule] = []
    order: dict[int, tuple[int, int, int]] = {}
    for rule in _rules_touching(list(rank), variants, products):
        order[rule.id] = _key(rank, rule)
        if rule.scope == Scope.SKU:
            by_variant[rule.variant_id].append(rule)
        elif rule.scope == Scope.PRODUCT:
            by_product[rule.product_id].append(rule)
        elif rule.scope == Scope.CATEGORY:
            by_category[rule.category_id].append(rule)
        else:
            for_all.append(rule)
    # SKUs without rules of their own are decided like their product: once per product (a page
    # of 50 products holds about 750 SKUs but 50 distinct sets of rules).
    decided: dict[int, SkuTerms] = {}
    for variant in variants:
        terms = result[variant.id]
        own = by_variant.get(variant.id)
        if not own and (same := decided.get(variant.product_id)) is not None:
            _copy_decision(same, terms)
            continue
        matching = sorted(
            [
                *(own or ()),
                *by_product.get(variant.product_id, ()),
                *by_category.get(products[variant.product_id].category_id, ()),
                *for_all,
            ],
            key=lambda r: order[r.id],
        )
        _decide(terms, matching, rank)
        if not own:
            decided[variant.product_id] = terms
    return result


def _decide(terms: SkuTerms, matching: list[PolicyRule], rank: dict[int, int]) -> None:
    """Fill `terms` from the rules that match its SKU, most specific first."""
    for rule in matching:
        terms.candidates.setdefault(rule.section, []).append(rule)
    if price := terms.candidates.get(Section.PRICE):
        terms.price_rule = price[0]
        terms.price_cents = _value_of(price[0], terms.msrp_cents)
    if order := terms.candidates.get(Section.ORDER):
        terms.order_rule = order[0]
        terms.moq = order[0].moq or 1
        terms.multiple = order[0].multiple or 1
    if floor := terms.candidates.get(Section.FLOOR):
        terms.floor_rule = floor[0]
        terms.floor_cents = _value_of(floor[0], terms.msrp_cents)
    for section in RETAIL_SECTIONS:
        if retail := terms.candidates.get(section):
            setattr(terms, f"{section}_rule", retail[0])
            setattr(terms, f"{section}_cents", _value_of(retail[0], terms.msrp_cents))
    # Publishing refuses an official price under the floor of its own version; a floor from
    # another version (or an MSRP changed since) could still cross it, and the floor wins.
    if (
        terms.official_cents is not None
        and terms.floor_cents is not None
        and terms.official_cents < terms.floor_cents
    ):
        terms.official_cents = terms.floor_cents
        terms.official_at_floor = True
    excluded = terms.candidates.get(Section.EXCLUDE)
    # At equal specificity the exclusion wins.
    if excluded and (
        terms.price_rule is None or _key(rank, excluded[0])[:2] <= _key(rank, terms.price_rule)[:2]
    ):
        terms.exclude_rule = excluded[0]


def _copy_decision(source: SkuTerms, terms: SkuTerms) -> None:
    """A sibling SKU's outcome (same product, so the same MSRP and the same rules)."""
    terms.price_cents, terms.moq, terms.multiple = source.price_cents, source.moq, source.multiple
    terms.floor_cents = source.floor_cents
    terms.price_rule, terms.order_rule = source.price_rule, source.order_rule
    terms.floor_rule, terms.exclude_rule = source.floor_rule, source.exclude_rule
    for section in RETAIL_SECTIONS:
        for suffix in ("cents", "rule"):
            name = f"{section}_{suffix}"
            setattr(terms, name, getattr(source, name))
    terms.official_at_floor = source.official_at_floor
    terms.candidates = {section: list(rules) for section, rules in source.candidates.items()}


def resolve_one(buyer: Buyer, variant: Variant, at: datetime | None = None) -> SkuTerms:
    return resolve(buyer, [variant], at)[variant.id]


def _rules_touching(
    version_ids: list[int], variants: Sequence[Variant], products: dict[int, Product]
) -> list[PolicyRule]:
    variant_ids = {v.id for v in variants}
    product_ids = set(products)
    category_ids = {p.category_id for p in products.values()}
    stmt = select(PolicyRule).where(
        PolicyRule.version_id.in_(version_ids),
        or_(
            PolicyRule.scope == Scope.ALL,
            in_ids(PolicyRule.variant_id, variant_ids),
            PolicyRule.product_id.in_(product_ids),
            PolicyRule.category_id.in_(category_ids),
        ),
    )
    return list(db.session.execute(stmt).scalars())


@dataclass
class OrderTerms:
    """Whole-order rules and terms for a buyer; each value from the most specific live version
    that sets it, with that version named in `sources`."""

    min_order_cents: int | None = None
    order_window_start: datetime | None = None
    order_window_end: datetime | None = None
    credit_limit_cents: int = 0
    payment_terms_days: int = 0
    rebates: list[dict[str, Any]] = field(default_factory=list)
    sources: dict[str, PolicyVersion] = field(default_factory=dict)


ORDER_FIELDS = (
    "min_order_cents",
    "credit_limit_cents",
    "payment_terms_days",
)


def order_terms(
    buyer: Buyer, at: datetime | None = None, *, versions: list[PolicyVersion] | None = None
) -> OrderTerms:
    """Credit terms fall back to the link's own when no live policy sets them."""
    if versions is None:
        versions = live_versions(buyer, at)
    terms = OrderTerms(
        credit_limit_cents=buyer.credit_limit_cents, payment_terms_days=buyer.payment_terms_days
    )
    for version in reversed(versions):  # least specific first; later wins
        for name in ORDER_FIELDS:
            value = getattr(version, name)
            if value is not None:
                setattr(terms, name, value)
                terms.sources[name] = version
        if version.order_window_start or version.order_window_end:
            terms.order_window_start = version.order_window_start
            terms.order_window_end = version.order_window_end
            terms.sources["order_window"] = version
        if version.rebates:
            terms.rebates = list(version.rebates)
            terms.sources["rebates"] = version
    return terms


def credit_limits(links: list[ChannelLink], at: datetime | None = None) -> dict[int, int]:
    """`credit_limit` for a page of links in two queries, not two per link: the live versions of
    their brands that set a credit limit, and those versions' audiences. The most specific
    version whose audience takes the buyer in wins (as in policy.queries.order_terms); without
    one, the link's own limit. A page of accounts uses it instead of one `order_terms` per
    row; tests check the two agree."""
    if not links:
        return {}
    at = at or utcnow()
    versions = list(
        db.session.execute(
            select(PolicyVersion).where(
                PolicyVersion.brand_id.in_({link.brand_id for link in links}),
                PolicyVersion.credit_limit_cents.is_not(None),
                live_condition(at),
            )
        ).scalars()
    )
    audiences: dict[int, set[tuple[str, str]]] = {}
    if versions:
        rows = db.session.execute(
            select(PolicyAudience.version_id, PolicyAudience.kind, PolicyAudience.value).where(
                PolicyAudience.version_id.in_([v.id for v in versions])
            )
        )
        for version_id, kind, value in rows:
            audiences.setdefault(version_id, set()).add((kind, value))

    def targets(version: PolicyVersion, link: ChannelLink) -> bool:
        wanted = {
            (AudienceKind.LEVEL, link.level),
            (AudienceKind.REGION, link.region),
            (AudienceKind.ORGS, str(link.buyer_org_id)),
        }
        own = audiences.get(version.id, set())
        return any(kind == AudienceKind.ALL for kind, _value in own) or bool(own & wanted)

    limits: dict[int, int] = {}
    for link in links:
        matching = [v for v in versions if v.brand_id == link.brand_id and targets(v, link)]
        if matching:
            best = max(
                matching,
                key=lambda v: (SPECIFICITY[AudienceKind(v.audience_kind)], v.effective_from, v.id),
            )
            # The query read only versions that set a limit; the test says so to the types.
            limit = best.credit_limit_cents
            limits[link.id] = link.credit_limit_cents if limit is None else limit
        else:
            limits[link.id] = link.credit_limit_cents
    return limits
