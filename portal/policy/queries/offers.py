"""The role-scoped catalog: the products a buyer is offered, with their resolved terms, filtered
and paged in SQL by the same authorization that resolve() applies per SKU."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, exists, false, or_, select
from sqlalchemy.orm import aliased, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from portal.catalog.models import Category, Product, ProductStatus, Variant
from portal.core.access import Actor
from portal.core.errors import NotFound
from portal.core.pagination import Page, paginate
from portal.extensions import db
from portal.policy.models import PolicyRule, PolicyVersion, Scope, Section
from portal.policy.queries.buyers import Buyer, is_brand_hq
from portal.policy.queries.resolution import SCOPE_RANK, SkuTerms, live_versions, resolve


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
