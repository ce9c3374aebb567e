"""What each storefront lists (DESIGN §7), a page at a time, with its filters and search.

- official: active products' SKUs whose tier is official (a SKU that never moved is official)
  and that have an official price;
- outlet: SKUs whose tier is outlet, with an outlet price;
- employee: outlet SKUs, SKUs whose tier is employee, and any SKU with grade-B units for sale
  online, at the employee price.

Prices come from the brand's policy as its consumers resolve it
(`policy.queries.resolve_for_consumers`), so a page is found in SQL by tier and filters, then
priced; products without a priced SKU (or outside the price range) are skipped and the next
candidates read, so a page still holds 24 products. Pages are keyset pages (`after` = the
last product id shown), newest products first.

Given the signed-in `consumer`, pages, product offers and checkout (`price_variants`) show the
same prices: theirs, after the price adjusters the layers above registered (a member level's
outlet discount: storefront/hooks.py).

The shop's pages read through `shop_page`, `shop_categories` and `shop_facets`: what is the same
for every anonymous visitor of a brand is kept in the process for `SHOP_LIST_CACHE_SECONDS`
(10 s; 0 turns it off, as tests do). A page is kept per set of live policy versions, so a
published price shows on the next request; a product, image or tier change shows within the TTL.
A signed-in consumer's page is never kept (their prices may be their own).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from flask import current_app
from sqlalchemy import and_, exists, func, literal, or_, select
from sqlalchemy.orm import contains_eager, load_only

from portal.catalog.models import Category, Product, ProductStatus, Variant
from portal.catalog.queries import VariantGrid, sort_sizes
from portal.core.db import utcnow
from portal.core.errors import NotFound
from portal.extensions import db
from portal.inventory.models import Grade, StockLevel
from portal.policy import queries as policy_queries
from portal.policy.models import AudienceKind, PolicyVersion
from portal.policy.queries import SkuTerms
from portal.storefront import hooks
from portal.storefront.models import Consumer, OnlineLocation, SkuTier, Tier

PER_PAGE = 24
BATCH = 96  # candidate products read at a time while filling a page
MAX_BATCHES = 20  # a page never reads more than this many batches (a sparse price range)
FACET_LIMIT = 60
LIST_CACHE_SIZE = 2048  # entries kept per process; past it the oldest half goes


@dataclass
class Filters:
    category: str | None = None  # category code
    color: str | None = None
    size: str | None = None
    min_cents: int | None = None
    max_cents: int | None = None
    q: str | None = None  # product name or code, a substring

    @property
    def active(self) -> bool:
        return any(
            value not in (None, "")
            for value in (self.category, self.color, self.size, self.min_cents, self.max_cents)
        ) or bool(self.q)


@dataclass
class ListedProduct:
    id: int
    code: str
    name: str
    has_image: bool
    currency: str
    msrp_cents: int
    min_cents: int
    max_cents: int
    colors: list[str] = field(default_factory=list)


@dataclass
class ListingPage:
    tier: str
    items: list[ListedProduct]
    next_after: int | None  # the `after` of the next page; None: this is the last


def _online_grade_b() -> Any:
    """A SKU with grade-B units for sale online: at an enabled online location of its brand,
    more than that location keeps back."""
    return exists(
        select(literal(1))
        .select_from(StockLevel)
        .join(
            OnlineLocation,
            and_(
                OnlineLocation.location_id == StockLevel.location_id,
                OnlineLocation.brand_id == StockLevel.brand_id,
            ),
        )
        .where(
            StockLevel.variant_id == Variant.id,
            StockLevel.grade == Grade.B,
            OnlineLocation.is_enabled.is_(True),
            StockLevel.on_hand - StockLevel.reserved > OnlineLocation.safety_stock,
        )
    )


def tier_clause(tier: str) -> Any:
    """Which SKUs a storefront lists, before prices (the query outer-joins sku_tiers)."""
    if tier == Tier.OFFICIAL:
        return or_(SkuTier.variant_id.is_(None), SkuTier.tier == Tier.OFFICIAL)
    if tier == Tier.OUTLET:
        return SkuTier.tier == Tier.OUTLET
    if tier == Tier.EMPLOYEE:
        return or_(SkuTier.tier.in_((Tier.OUTLET, Tier.EMPLOYEE)), _online_grade_b())
    raise NotFound()


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _variant_conditions(brand_id: int, tier: str, filters: Filters) -> list[Any]:
    conditions: list[Any] = [
        Variant.brand_id == brand_id,
        Product.status == ProductStatus.ACTIVE,
        tier_clause(tier),
    ]
    if filters.category:
        conditions.append(
            Product.category_id.in_(
                select(Category.id).where(
                    Category.brand_id == brand_id, Category.code == filters.category.upper()
                )
            )
        )
    if filters.color:
        conditions.append(Variant.color == filters.color)
    if filters.size:
        conditions.append(Variant.size == filters.size)
    if filters.q and filters.q.strip():
        pattern = _like(filters.q.strip().lower())
        conditions.append(
            or_(
                func.lower(Product.name).like(pattern, escape="\\"),
                func.lower(Product.code).like(pattern, escape="\\"),
            )
        )
    return conditions


def _candidate_variants(brand_id: int, tier: str, filters: Filters, which: Any) -> list[Variant]:
    """The listed-before-prices SKUs among `which` (a condition on Variant: some products, some
    SKUs), with only the columns a page shows."""
    stmt = (
        select(Variant)
        .join(Product, Product.id == Variant.product_id)
        .outerjoin(SkuTier, SkuTier.variant_id == Variant.id)
        .where(which, *_variant_conditions(brand_id, tier, filters))
        .options(
            load_only(
                Variant.id,
                Variant.brand_id,
                Variant.product_id,
                Variant.sku,
                Variant.color,
                Variant.size,
                Variant.case_pack,
            ),
            contains_eager(Variant.product).load_only(
                Product.id,
                Product.code,
                Product.name,
                Product.category_id,
                Product.msrp_cents,
                Product.currency,
                Product.image_path,
            ),
        )
        .order_by(Variant.id)
    )
    return list(db.session.execute(stmt).unique().scalars())


@dataclass(slots=True)
class _ProductRow:
    """The columns of a product a listing shows and prices by (a plain row, not the ORM's)."""

    id: int
    code: str
    name: str
    category_id: int | None
    msrp_cents: int
    currency: str
    image_path: str | None


@dataclass(slots=True)
class _SkuRow:
    """A candidate SKU as pricing reads it (`id`, `sku`, `case_pack`, `product`...): a page
    holds hundreds, and plain rows cost a fraction of ORM objects to build."""

    id: int
    product_id: int
    sku: str
    color: str
    case_pack: int
    product: _ProductRow


def _candidate_rows(
    brand_id: int, tier: str, filters: Filters, product_ids: Sequence[int]
) -> list[_SkuRow]:
    """`_candidate_variants` for a listing: the same SKUs, read as rows."""
    stmt = (
        select(
            Variant.id,
            Variant.product_id,
            Variant.sku,
            Variant.color,
            Variant.case_pack,
            Product.code,
            Product.name,
            Product.category_id,
            Product.msrp_cents,
            Product.currency,
            Product.image_path,
        )
        .join(Product, Product.id == Variant.product_id)
        .outerjoin(SkuTier, SkuTier.variant_id == Variant.id)
        .where(
            Variant.product_id.in_(list(product_ids)), *_variant_conditions(brand_id, tier, filters)
        )
        .order_by(Variant.id)
    )
    products: dict[int, _ProductRow] = {}
    rows: list[_SkuRow] = []
    for (
        vid,
        pid,
        sku,
        color,
        case_pack,
        code,
        name,
        category,
        msrp,
        currency,
        image,
    ) in db.session.execute(stmt).tuples():
        product = products.get(pid)
        if product is None:
            product = products[pid] = _ProductRow(pid, code, name, category, msrp, currency, image)
        rows.append(_SkuRow(vid, pid, sku, color, case_pack, product))
    return rows


def _in_range(price: int, filters: Filters) -> bool:
    if filters.min_cents is not None and price < filters.min_cents:
        return False
    return filters.max_cents is None or price <= filters.max_cents


def list_products(
    brand_id: int,
    tier: str,
    filters: Filters | None = None,
    *,
    after: int | None = None,
    per_page: int = PER_PAGE,
    versions: list[PolicyVersion] | None = None,
    consumer: Consumer | None = None,
) -> ListingPage:
    """One page of a storefront's products: each with a price in the tier (from the lowest of
    its listed SKUs; the consumer's own price when given), newest first, after the product id
    `after`."""
    filters = filters or Filters()
    if versions is None:
        versions = policy_queries.consumer_versions(brand_id)
    ids_stmt = (
        select(Variant.product_id)
        .join(Product, Product.id == Variant.product_id)
        .outerjoin(SkuTier, SkuTier.variant_id == Variant.id)
        .where(*_variant_conditions(brand_id, tier, filters))
        .group_by(Variant.product_id)
        .order_by(Variant.product_id.desc())
    )
    items: list[ListedProduct] = []
    cursor = after
    # The first batch is a page and one more (most products are priced: the usual page needs no
    # second read); later ones are bigger, for filters that skip many.
    size = per_page + 1
    for _batch in range(MAX_BATCHES):
        stmt = ids_stmt if cursor is None else ids_stmt.where(Variant.product_id < cursor)
        product_ids = list(db.session.execute(stmt.limit(size)).scalars())
        if not product_ids:
            return ListingPage(tier, items, None)
        # Plain rows stand in for variants: pricing reads only their columns and product.
        variants = cast("list[Variant]", _candidate_rows(brand_id, tier, filters, product_ids))
        terms = policy_queries.resolve_for_consumers(brand_id, variants, versions=versions)
        priced = _line_prices(brand_id, tier, variants, terms, consumer)
        by_product: dict[int, list[Variant]] = {}
        for variant in variants:
            by_product.setdefault(variant.product_id, []).append(variant)
        for product_id in product_ids:
            listed = _priced(by_product.get(product_id, []), priced, filters)
            if listed is None:
                continue
            if len(items) == per_page:
                return ListingPage(tier, items, items[-1].id)
            items.append(listed)
        cursor = product_ids[-1]
        if len(product_ids) < size:
            return ListingPage(tier, items, None)
        size = max(size, BATCH)
    # A very sparse filter: stop reading here and let the next page go on from the cursor.
    return ListingPage(tier, items, cursor)


def _priced(
    variants: list[Variant], priced: dict[int, LinePrice], filters: Filters
) -> ListedProduct | None:
    prices = [
        (variant, price.cents)
        for variant in variants
        if (price := priced.get(variant.id)) is not None and _in_range(price.cents, filters)
    ]
    if not prices:
        return None
    product = prices[0][0].product
    values = [price for _variant, price in prices]
    return ListedProduct(
        id=product.id,
        code=product.code,
        name=product.name,
        has_image=bool(product.image_path),
        currency=product.currency,
        msrp_cents=product.msrp_cents,
        min_cents=min(values),
        max_cents=max(values),
        colors=list(dict.fromkeys(variant.color for variant, _price in prices)),
    )


# -- what every anonymous visitor sees, kept a few seconds ----------------------------------------

T = TypeVar("T")
_kept: dict[tuple[Any, ...], tuple[float, Any]] = {}
_clock = time.monotonic  # tests move it on


def cache_seconds() -> float:
    return float(current_app.config["SHOP_LIST_CACHE_SECONDS"])


def _kept_or_made(key: tuple[Any, ...], make: Callable[[], T]) -> T:
    """`make()`, kept in this process for `cache_seconds()` under `key` (values are never
    changed once made: callers only read them)."""
    ttl = cache_seconds()
    if ttl <= 0:
        return make()
    now = _clock()
    found = _kept.get(key)
    if found is not None and found[0] > now:
        value: T = found[1]
        return value
    value = make()
    if len(_kept) >= LIST_CACHE_SIZE:
        for old in sorted(_kept, key=lambda k: _kept[k][0])[: LIST_CACHE_SIZE // 2]:
            _kept.pop(old, None)
    _kept[key] = (now + ttl, value)
    return value


def forget_kept() -> None:
    """Drop everything kept in this process (tests; a shell after a bulk change)."""
    _kept.clear()


def shop_page(
    brand_id: int,
    tier: str,
    filters: Filters,
    *,
    after: int | None = None,
    consumer: Consumer | None = None,
) -> ListingPage:
    """`list_products` for the shop's pages and API: an anonymous visitor's page is kept per
    brand, tier, filters, cursor and live policy versions."""
    if consumer is not None or cache_seconds() <= 0:
        return list_products(brand_id, tier, filters, after=after, consumer=consumer)
    key = (
        "page",
        brand_id,
        tier,
        filters.category and filters.category.upper(),
        filters.color,
        filters.size,
        filters.min_cents,
        filters.max_cents,
        (filters.q or "").strip().lower(),
        after,
        _live_version_ids(brand_id),
    )
    return _kept_or_made(key, lambda: list_products(brand_id, tier, filters, after=after))


def _live_version_ids(brand_id: int) -> tuple[int, ...]:
    """The ids of `policy_queries.consumer_versions`, in one light query: a page priced by
    other versions is another page."""
    stmt = select(PolicyVersion.id).where(
        PolicyVersion.brand_id == brand_id,
        PolicyVersion.audience_kind == AudienceKind.ALL,
        policy_queries.live_condition(utcnow()),
    )
    return tuple(sorted(db.session.execute(stmt).scalars()))


@dataclass(frozen=True)
class CategoryChoice:
    code: str
    name: str


def shop_categories(brand_id: int) -> list[CategoryChoice]:
    """`list_categories` as plain values, kept a few seconds."""
    return _kept_or_made(
        ("categories", brand_id),
        lambda: [CategoryChoice(c.code, c.name) for c in list_categories(brand_id)],
    )


def shop_facets(brand_id: int) -> tuple[list[str], list[str]]:
    """`facets`, kept a few seconds."""
    return _kept_or_made(("facets", brand_id), lambda: facets(brand_id))


# -- one product -------------------------------------------------------------------------------


@dataclass
class ProductOffer:
    """A product as a storefront sells it: the SKUs it lists, priced, as a colour x size grid."""

    tier: str
    product: Product
    grid: VariantGrid
    prices: dict[int, int]  # variant id -> price in the tier (listed SKUs only)
    currency: str

    @property
    def min_cents(self) -> int:
        return min(self.prices.values())


def find_active_product(brand_id: int, code: str) -> Product | None:
    return db.session.execute(
        select(Product).where(
            Product.brand_id == brand_id,
            Product.code == code.strip().upper(),
            Product.status == ProductStatus.ACTIVE,
        )
    ).scalar_one_or_none()


def get_offer(
    brand_id: int, tier: str, code: str, *, consumer: Consumer | None = None
) -> ProductOffer:
    """A product of the storefront, or NotFound when the tier lists none of its SKUs at a
    price (a product one storefront does not sell does not exist there). With `consumer`, the
    prices are theirs."""
    product = find_active_product(brand_id, code)
    if product is None:
        raise NotFound()
    variants = _candidate_variants(brand_id, tier, Filters(), Variant.product_id == product.id)
    terms = policy_queries.resolve_for_consumers(brand_id, variants)
    prices = {
        variant_id: line.cents
        for variant_id, line in _line_prices(brand_id, tier, variants, terms, consumer).items()
    }
    if not prices:
        raise NotFound()
    listed = [v for v in variants if v.id in prices]
    colors = list(dict.fromkeys(v.color for v in listed))
    sizes = sort_sizes([v.size for v in listed])
    grid = VariantGrid(colors, sizes, {(v.color, v.size): v for v in listed})
    return ProductOffer(tier, product, grid, prices, product.currency)


# -- filters -------------------------------------------------------------------------------------


def list_categories(brand_id: int) -> list[Category]:
    """Categories that hold an active product."""
    stmt = (
        select(Category)
        .where(
            Category.brand_id == brand_id,
            Category.id.in_(
                select(Product.category_id).where(
                    Product.brand_id == brand_id, Product.status == ProductStatus.ACTIVE
                )
            ),
        )
        .order_by(Category.name)
    )
    return list(db.session.execute(stmt).scalars())


def facets(brand_id: int) -> tuple[list[str], list[str]]:
    """Colours and sizes to filter by: those of the brand's active products."""
    base = (
        select(Variant.color, Variant.size)
        .join(Product, Product.id == Variant.product_id)
        .where(Variant.brand_id == brand_id, Product.status == ProductStatus.ACTIVE)
        .distinct()
        .limit(FACET_LIMIT * 10)
    )
    rows = db.session.execute(base).all()
    colors = sorted({color for color, _size in rows})[:FACET_LIMIT]
    sizes = sort_sizes([size for _color, size in rows])[:FACET_LIMIT]
    return colors, sizes


# -- pricing a basket ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LinePrice:
    variant: Variant
    cents: int
    rule_id: int | None  # the policy rule that set it (the order line keeps it: "why")
    floor_cents: int | None = None  # the SKU's retail floor: an adjuster never goes below it


def _line_prices(
    brand_id: int,
    tier: str,
    variants: Sequence[Variant],
    terms: dict[int, SkuTerms],
    consumer: Consumer | None,
) -> dict[int, LinePrice]:
    """The tier's price of each SKU that has one, adjusted for `consumer` (hooks)."""
    priced: dict[int, LinePrice] = {}
    for variant in variants:
        found = terms[variant.id]
        cents = found.retail_cents(tier)
        if cents is not None:
            rule = found.retail_rule(tier)
            priced[variant.id] = LinePrice(
                variant, cents, rule.id if rule else None, found.floor_cents
            )
    return hooks.adjust_prices(brand_id, tier, consumer, priced)


def price_product(brand_id: int, tier: str, product_id: int) -> dict[int, LinePrice]:
    """What the storefront charges now (with no consumer) for each SKU of the product it lists."""
    ids = db.session.execute(select(Variant.id).where(Variant.product_id == product_id)).scalars()
    return price_variants(brand_id, tier, list(ids))


def highest_floor(lines: dict[int, LinePrice]) -> int | None:
    """The highest retail floor among the lines' SKUs (a price for the whole product clears
    each), or None when none has one."""
    floors = [line.floor_cents for line in lines.values() if line.floor_cents is not None]
    return max(floors) if floors else None


def price_variants(
    brand_id: int, tier: str, variant_ids: Sequence[int], *, consumer: Consumer | None = None
) -> dict[int, LinePrice]:
    """What the storefront charges now for each SKU it lists; SKUs it does not list (another
    brand's, another tier's, unpriced) are simply absent. Checkout prices with this, never
    with a number the client sent. With `consumer`, the prices are theirs (a member level's
    outlet discount: storefront/hooks.price_adjusters)."""
    if not variant_ids:
        return {}
    variants = _candidate_variants(brand_id, tier, Filters(), Variant.id.in_(list(variant_ids)))
    terms = policy_queries.resolve_for_consumers(brand_id, variants)
    return _line_prices(brand_id, tier, variants, terms, consumer)
