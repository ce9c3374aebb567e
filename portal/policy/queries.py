"""What a buyer may see and pay, decided here only: live policy versions, price resolution and its
explanation, the role-scoped catalog, and HQ's reads of policies, audiences and reach.

Resolution works per price group, never per link x SKU: a buyer's group is its brand, level,
region and org. The live versions that target the group are one indexed query over
`policy_audiences`; the rules of those versions that touch a page of SKUs are a second query. Cost
grows with the policy's size and the page, not with the number of links or SKUs in the network.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, case, exists, false, func, or_, select
from sqlalchemy.orm import aliased, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from portal.catalog.models import Category, Product, ProductStatus, Variant
from portal.core.access import Actor, Permission
from portal.core.db import in_ids, utcnow
from portal.core.errors import NotFound
from portal.core.money import percent_of
from portal.core.pagination import Page, paginate
from portal.extensions import db
from portal.network.models import ChannelLink, Organization, OrgStatus
from portal.policy.models import (
    SPECIFICITY,
    AudienceKind,
    Notification,
    Policy,
    PolicyAudience,
    PolicyRule,
    PolicyVersion,
    Scope,
    Section,
    VersionStatus,
)

SCOPE_RANK = {scope: rank for rank, scope in enumerate(Scope)}  # sku 0 ... all 3
LIVE_STATUSES = (VersionStatus.SCHEDULED, VersionStatus.ACTIVE)


@dataclass(frozen=True)
class Buyer:
    """One buyer link seen as a price group member: brand, level, region and the org itself."""

    brand_id: int
    org_id: int
    org_code: str
    level: str
    region: str
    link_id: int
    supplier_org_id: int
    credit_limit_cents: int
    payment_terms_days: int

    @classmethod
    def of(cls, link: ChannelLink, org_code: str) -> Buyer:
        return cls(
            brand_id=link.brand_id,
            org_id=link.buyer_org_id,
            org_code=org_code,
            level=link.level,
            region=link.region,
            link_id=link.id,
            supplier_org_id=link.supplier_org_id,
            credit_limit_cents=link.credit_limit_cents,
            payment_terms_days=link.payment_terms_days,
        )

    @classmethod
    def for_link(cls, link: ChannelLink) -> Buyer:
        return cls.of(link, link.buyer.code)


def buys_as(actor: Actor, buyer: Buyer | None) -> bool:
    """Whether the catalog shown is the actor's own org's, with a role that orders from it (HQ
    looking "as" another org browses, it does not order)."""
    return buyer is not None and buyer.org_id == actor.org_id and actor.can(Permission.ORDER_PLACE)


def is_brand_hq(actor: Actor, brand_id: int) -> bool:
    return actor.is_system or (actor.is_hq and actor.org_id == brand_id)


def buyer_for(actor: Actor, brand_id: int, as_org: str | None = None) -> Buyer | None:
    """The buyer whose prices the actor sees in a brand.

    A distributor or store sees its own link (404 when it does not buy from the brand). HQ sees
    everything (None) or, with `as_org`, the catalog as that org of its brand sees it.
    """
    if is_brand_hq(actor, brand_id):
        if not as_org:
            return None
        row = db.session.execute(
            select(ChannelLink, Organization.code)
            .join(Organization, Organization.id == ChannelLink.buyer_org_id)
            .where(ChannelLink.brand_id == brand_id, Organization.code == as_org.strip().upper())
        ).first()
    else:
        if as_org and as_org.strip().upper() != actor.org_code:
            raise NotFound()
        row = db.session.execute(
            select(ChannelLink, Organization.code)
            .join(Organization, Organization.id == ChannelLink.buyer_org_id)
            .where(ChannelLink.brand_id == brand_id, ChannelLink.buyer_org_id == actor.org_id)
        ).first()
    if row is None:
        raise NotFound()
    return Buyer.of(row[0], row[1])


def buying_brands(actor: Actor) -> list[Organization]:
    """Brands whose catalog the actor may browse: its own (HQ) or those it buys from."""
    if actor.is_hq:
        return [db.session.get(Organization, actor.org_id)]
    stmt = (
        select(Organization)
        .join(ChannelLink, ChannelLink.brand_id == Organization.id)
        .where(ChannelLink.buyer_org_id == actor.org_id)
        .order_by(Organization.code)
    )
    return list(db.session.execute(stmt).scalars())


def get_buying_brand(actor: Actor, code: str | None = None) -> Organization:
    """A brand whose catalog the actor may browse, by code (the first one without a code);
    any other brand is a 404."""
    brands = buying_brands(actor)
    if code:
        brands = [b for b in brands if b.code == code.strip().upper()]
    if not brands:
        raise NotFound()
    return brands[0]


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
    # every rule that matched, per section, winner first (for the explanation)
    candidates: dict[str, list[PolicyRule]] = field(default_factory=dict)

    @property
    def authorized(self) -> bool:
        return self.price_cents is not None and self.exclude_rule is None


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
    by_variant: dict[int, list[PolicyRule]] = defaultdict(list)
    by_product: dict[int, list[PolicyRule]] = defaultdict(list)
    by_category: dict[int, list[PolicyRule]] = defaultdict(list)
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
    outlet_discount_bp: int | None = None
    outlet_after_days: int | None = None
    employee_discount_bp: int | None = None
    per_person_limit: int | None = None
    rebates: list[dict[str, Any]] = field(default_factory=list)
    sources: dict[str, PolicyVersion] = field(default_factory=dict)


ORDER_FIELDS = (
    "min_order_cents",
    "credit_limit_cents",
    "payment_terms_days",
    "outlet_discount_bp",
    "outlet_after_days",
    "employee_discount_bp",
    "per_person_limit",
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

    limits = {}
    for link in links:
        matching = [v for v in versions if v.brand_id == link.brand_id and targets(v, link)]
        if matching:
            best = max(
                matching,
                key=lambda v: (SPECIFICITY[AudienceKind(v.audience_kind)], v.effective_from, v.id),
            )
            limits[link.id] = best.credit_limit_cents
        else:
            limits[link.id] = link.credit_limit_cents
    return limits


# -- explanation ---------------------------------------------------------------------------------


def describe_rule(
    rule: PolicyRule, *, target: str | None = None, reveal_audience: bool = True
) -> dict[str, Any]:
    """A rule as people read it: which policy, version, audience, what it covers, its value.

    A buyer is not told which other orgs a named-org policy also names (`reveal_audience`).
    `target`: the rule's code when the caller looked several up at once (rule_targets)."""
    version = db.session.get(PolicyVersion, rule.version_id)
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
    }


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


# -- the role-scoped catalog ---------------------------------------------------------------------


def authorized_clause(version_ids: list[int]) -> Any:
    """SQL twin of resolve()'s authorization, for filtering and paging products: a product is
    listed when one of its SKUs has a price rule that no exclusion at least as specific beats.
    `version_ids` are ordered most specific first, as live_versions() returns them."""
    if not version_ids:
        return false()
    price = aliased(PolicyRule, name="price_rule")
    block = aliased(PolicyRule, name="exclude_rule")

    def specificity(rule: Any) -> Any:
        version_rank = case({vid: i for i, vid in enumerate(version_ids)}, value=rule.version_id)
        scope_rank = case({scope.value: r for scope, r in SCOPE_RANK.items()}, value=rule.scope)
        return version_rank * 10 + scope_rank

    # correlated to the outer products row (auto-correlation stops one level up)
    variant_of_product = (
        select(Variant.id).where(Variant.product_id == Product.id).correlate(Product)
    )
    beaten = (
        exists()
        .where(
            block.version_id.in_(version_ids),
            block.section == Section.EXCLUDE,
            or_(
                block.scope == Scope.ALL,
                block.category_id == Product.category_id,
                block.product_id == Product.id,
            ),
            specificity(block) <= specificity(price),
        )
        .correlate(Product, price)
    )  # two levels down: say what comes from outside
    return exists().where(
        price.version_id.in_(version_ids),
        price.section == Section.PRICE,
        or_(
            price.scope == Scope.ALL,
            price.category_id == Product.category_id,
            price.product_id == Product.id,
            price.variant_id.in_(variant_of_product),
        ),
        ~beaten,
    )


@dataclass
class ProductOffer:
    """A product's line in the buyer's catalog: its price range and rules over its SKUs."""

    skus: int
    min_price_cents: int | None
    max_price_cents: int | None
    moq: int | None
    floor_cents: int | None


@dataclass
class CatalogPage:
    page: Page
    terms: dict[int, SkuTerms]  # by variant id; empty for HQ's unfiltered view
    buyer: Buyer | None
    versions: list[PolicyVersion]  # the buyer's live versions, for whatever else the page shows

    def offer(self, product: Product) -> ProductOffer:
        priced = [self.terms[v.id] for v in product.variants if v.id in self.terms]
        priced = [t for t in priced if t.authorized]
        prices = [t.price_cents for t in priced if t.price_cents is not None]
        floors = [t.floor_cents for t in priced if t.floor_cents is not None]
        return ProductOffer(
            skus=len(priced),
            min_price_cents=min(prices) if prices else None,
            max_price_cents=max(prices) if prices else None,
            moq=max((t.moq for t in priced), default=None),
            floor_cents=min(floors) if floors else None,
        )


def browse(
    actor: Actor,
    brand_id: int,
    *,
    buyer: Buyer | None,
    q: str | None = None,
    category: str | None = None,
    season: str | None = None,
    page: int = 1,
    per_page: int = 24,
) -> CatalogPage:
    """One page of the catalog as `buyer` sees it (authorized active products, resolved terms),
    or, for HQ without a buyer, every active product of its brand."""
    if buyer is None and not is_brand_hq(actor, brand_id):
        raise NotFound()
    stmt = (
        select(Product)
        .where(Product.brand_id == brand_id, Product.status == ProductStatus.ACTIVE)
        .options(selectinload(Product.variants), selectinload(Product.category))
    )
    versions: list[PolicyVersion] = []
    if buyer is not None:
        versions = live_versions(buyer)
        stmt = stmt.where(authorized_clause([v.id for v in versions]))
    if q:
        text = q.strip()
        like = f"%{text}%"
        by_sku = select(Variant.product_id).where(
            Variant.brand_id == brand_id, Variant.sku == text.upper()
        )
        stmt = stmt.where(
            or_(Product.code.ilike(like), Product.name.ilike(like), Product.id.in_(by_sku))
        )
    if category:
        stmt = stmt.join(Category, Category.id == Product.category_id).where(
            Category.code == category.strip().upper()
        )
    if season:
        stmt = stmt.where(Product.season == season)
    result = paginate(stmt.order_by(Product.code), page, per_page)
    for product in result.items:  # each SKU knows its product without a loader call per SKU
        for variant in product.variants:
            set_committed_value(variant, "product", product)
    terms: dict[int, SkuTerms] = {}
    if buyer is not None:
        variants = [v for p in result.items for v in p.variants]
        terms = resolve(buyer, variants, versions=versions)
    return CatalogPage(page=result, terms=terms, buyer=buyer, versions=versions)


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


def get_offer_product(actor: Actor, brand_id: int, code: str, buyer: Buyer | None) -> Product:
    """A product page for a buyer: 404 when the product is retired, unknown or not authorized
    for the buyer (an unauthorized product does not exist for it)."""
    stmt = select(Product).where(
        Product.brand_id == brand_id,
        Product.code == code.strip().upper(),
        Product.status == ProductStatus.ACTIVE,
    )
    if buyer is None:
        if not is_brand_hq(actor, brand_id):
            raise NotFound()
    else:
        stmt = stmt.where(authorized_clause([v.id for v in live_versions(buyer)]))
    product = db.session.execute(stmt).scalar_one_or_none()
    if product is None:
        raise NotFound()
    return product


# -- HQ: policies --------------------------------------------------------------------------------


def visible_versions(actor: Actor) -> Select[Any]:
    """Policies are HQ's documents: seen by the HQ of their brand (buyers see them through their
    inbox and price explanations)."""
    stmt = select(PolicyVersion).join(Policy, Policy.id == PolicyVersion.policy_id)
    if actor.is_system:
        return stmt
    if not actor.is_hq:
        return stmt.where(false())
    return stmt.where(PolicyVersion.brand_id == actor.org_id)


def list_versions(
    actor: Actor,
    *,
    status: str | None = None,
    q: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page:
    """The latest version of each policy (older versions are reached from it)."""
    newer = aliased(PolicyVersion)
    latest = select(func.max(newer.number)).where(newer.policy_id == Policy.id).scalar_subquery()
    stmt = visible_versions(actor).where(PolicyVersion.number == latest)
    if status:
        stmt = stmt.where(PolicyVersion.status == status)
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(Policy.code.ilike(like), Policy.name.ilike(like)))
    return paginate(stmt.order_by(PolicyVersion.effective_from.desc(), Policy.code), page, per_page)


def get_version(actor: Actor, version_id: int) -> PolicyVersion:
    version = db.session.execute(
        visible_versions(actor).where(PolicyVersion.id == version_id)
    ).scalar_one_or_none()
    if version is None:
        raise NotFound()
    return version


def find_policy(brand_id: int, code: str) -> Policy | None:
    return db.session.execute(
        select(Policy).where(Policy.brand_id == brand_id, Policy.code == code.strip().upper())
    ).scalar_one_or_none()


def audience_links_by_values(brand_id: int, kind: str, values: Iterable[str]) -> Select[Any]:
    """Links of active buyers that an audience (kind, values) targets."""
    stmt = (
        select(ChannelLink)
        .join(Organization, Organization.id == ChannelLink.buyer_org_id)
        .where(ChannelLink.brand_id == brand_id, Organization.status == OrgStatus.ACTIVE)
    )
    values = list(values)
    if kind == AudienceKind.LEVEL:
        stmt = stmt.where(ChannelLink.level.in_(values))
    elif kind == AudienceKind.REGION:
        stmt = stmt.where(ChannelLink.region.in_(values))
    elif kind == AudienceKind.ORGS:
        stmt = stmt.where(ChannelLink.buyer_org_id.in_([int(v) for v in values]))
    return stmt


def audience_links(version: PolicyVersion) -> Select[Any]:
    values = [a.value for a in version.audience]
    return audience_links_by_values(version.brand_id, version.audience_kind, values)


def count_audience(version: PolicyVersion) -> int:
    stmt = audience_links(version).order_by(None).with_only_columns(func.count())
    return db.session.execute(stmt).scalar_one()


@dataclass
class ReachRow:
    level: str
    region: str
    delivered: int
    read: int
    acknowledged: int


def reach(version: PolicyVersion) -> list[ReachRow]:
    """Delivered / read / acknowledged per level and region of the targeted links."""
    stmt = (
        select(
            ChannelLink.level,
            ChannelLink.region,
            func.count(Notification.id),
            func.count(Notification.read_at),
            func.count(Notification.acknowledged_at),
        )
        .join(
            ChannelLink,
            and_(
                ChannelLink.brand_id == Notification.brand_id,
                ChannelLink.buyer_org_id == Notification.org_id,
            ),
        )
        .where(Notification.version_id == version.id)
        .group_by(ChannelLink.level, ChannelLink.region)
        .order_by(ChannelLink.level, ChannelLink.region)
    )
    return [ReachRow(*row) for row in db.session.execute(stmt)]


def unacknowledged(version: PolicyVersion, *, page: int = 1, per_page: int = 50) -> Page:
    stmt = (
        select(Notification)
        .join(Organization, Organization.id == Notification.org_id)
        .where(Notification.version_id == version.id, Notification.acknowledged_at.is_(None))
        .options(selectinload(Notification.org))
        .order_by(Organization.code)
    )
    return paginate(stmt, page, per_page)


# -- inboxes -------------------------------------------------------------------------------------


def list_notifications(
    actor: Actor, *, unread: bool = False, page: int = 1, per_page: int = 50
) -> Page:
    stmt = (
        select(Notification)
        .where(Notification.org_id == actor.org_id)
        .options(selectinload(Notification.version).selectinload(PolicyVersion.policy))
        .order_by(Notification.created_at.desc(), Notification.id.desc())
    )
    if unread:
        stmt = stmt.where(Notification.read_at.is_(None))
    return paginate(stmt, page, per_page)


def count_unread(actor: Actor) -> int:
    if actor.org_id is None:
        return 0
    stmt = select(func.count(Notification.id)).where(
        Notification.org_id == actor.org_id, Notification.read_at.is_(None)
    )
    return db.session.execute(stmt).scalar_one()


def get_notification(actor: Actor, notification_id: int) -> Notification:
    """An inbox item is its org's own: anyone else (HQ included) gets a 404."""
    notification = db.session.get(Notification, notification_id)
    if notification is None or notification.org_id != actor.org_id:
        raise NotFound()
    return notification


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
        changed.append((new or old, old, new))
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
