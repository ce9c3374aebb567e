"""Scoped reads of the HQ catalog: only the HQ of a brand manages, and so reads here, its catalog.

The buyer-facing catalog (what a distributor or store may buy, at its price) is policy's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from portal.core.access import Actor
from portal.core.errors import NotFound
from portal.core.pagination import Page, paginate
from portal.extensions import db
from portal.network.models import Organization

from .models import CatalogImport, Category, Product, ProductStatus, Variant


def manages_brand(actor: Actor, brand_id: int) -> bool:
    """The brand's own HQ (or the system) manages its catalog."""
    return actor.is_system or (actor.is_hq and actor.org_id == brand_id and brand_id in actor.paths)


def get_brand(actor: Actor, brand_id: int | None = None) -> Organization:
    """The brand whose catalog the actor manages (its own HQ's brand); 404 for anyone else."""
    brand_id = brand_id if brand_id is not None else actor.org_id
    if brand_id is None or not manages_brand(actor, brand_id):
        raise NotFound()
    brand = db.session.get(Organization, brand_id)
    if brand is None or not brand.is_brand:
        raise NotFound()
    return brand


def list_products(
    actor: Actor,
    brand_id: int,
    *,
    q: str | None = None,
    category: str | None = None,
    season: str | None = None,
    status: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page:
    """One page of a brand's products, searched by code or name; HQ of that brand only."""
    if not manages_brand(actor, brand_id):
        raise NotFound()
    stmt = (
        select(Product)
        .where(Product.brand_id == brand_id)
        .options(selectinload(Product.category))
        .order_by(Product.code)
    )
    if q and q.strip():
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(Product.code.ilike(like), Product.name.ilike(like)))
    if category:
        stmt = stmt.join(Category, Category.id == Product.category_id).where(
            Category.code == category.strip().upper()
        )
    if season:
        stmt = stmt.where(Product.season == season)
    if status in tuple(ProductStatus):
        stmt = stmt.where(Product.status == status)
    return paginate(stmt, page, per_page)


def count_variants(product_ids: list[int]) -> dict[int, int]:
    """Variant count per product, for a page of products: one grouped query."""
    if not product_ids:
        return {}
    rows = db.session.execute(
        select(Variant.product_id, func.count())
        .where(Variant.product_id.in_(product_ids))
        .group_by(Variant.product_id)
    ).all()
    return {product_id: n for product_id, n in rows}


def find_product(actor: Actor, product_id: int) -> Product | None:
    product = db.session.get(Product, product_id)
    if product is None or not manages_brand(actor, product.brand_id):
        return None
    return product


def get_product(actor: Actor, product_id: int) -> Product:
    """A product of the actor's brand; any other brand's product (or none) is a 404."""
    product = find_product(actor, product_id)
    if product is None:
        raise NotFound()
    return product


def find_product_by_code(brand_id: int, code: str) -> Product | None:
    stmt = select(Product).where(Product.brand_id == brand_id, Product.code == code)
    return db.session.execute(stmt).scalar_one_or_none()


def find_category(brand_id: int, code: str) -> Category | None:
    stmt = select(Category).where(Category.brand_id == brand_id, Category.code == code)
    return db.session.execute(stmt).scalar_one_or_none()


def list_categories(brand_id: int) -> list[Category]:
    stmt = select(Category).where(Category.brand_id == brand_id).order_by(Category.code)
    return list(db.session.execute(stmt).scalars())


def list_seasons(brand_id: int) -> list[str]:
    """Seasons used by the brand's products, newest-looking first ("2025FW" before "2025SS")."""
    stmt = (
        select(Product.season)
        .where(Product.brand_id == brand_id, Product.season != "")
        .group_by(Product.season)
    )
    return sorted(db.session.execute(stmt).scalars(), reverse=True)


def find_import(actor: Actor, import_id: int) -> CatalogImport | None:
    imp = db.session.get(CatalogImport, import_id)
    if imp is None or not manages_brand(actor, imp.brand_id):
        return None
    return imp


def get_import(actor: Actor, import_id: int) -> CatalogImport:
    """An import of the actor's brand; any other is a 404."""
    imp = find_import(actor, import_id)
    if imp is None:
        raise NotFound()
    return imp


def list_imports(actor: Actor, brand_id: int, *, limit: int = 20) -> list[CatalogImport]:
    if not manages_brand(actor, brand_id):
        raise NotFound()
    stmt = (
        select(CatalogImport)
        .where(CatalogImport.brand_id == brand_id)
        .order_by(CatalogImport.id.desc())
        .limit(limit)
    )
    return list(db.session.execute(stmt).scalars())


# -- the color x size grid ------------------------------------------------------------------------

APPAREL_SIZES = ("XXXS", "XXS", "XS", "S", "M", "L", "XL", "XXL", "XXXL", "XXXXL")
_SIZE_ALIASES = {"2XS": "XXS", "2XL": "XXL", "3XL": "XXXL", "4XL": "XXXXL"}
_NUMBER = re.compile(r"^\d+(\.\d+)?$")


def size_sort_key(size: str, first_seen: int = 0) -> tuple[int, float, int]:
    """Letter sizes in wearing order, then numeric sizes by value, then anything else as entered."""
    upper = size.strip().upper()
    upper = _SIZE_ALIASES.get(upper, upper)
    if upper in APPAREL_SIZES:
        return (0, float(APPAREL_SIZES.index(upper)), first_seen)
    if _NUMBER.match(upper):
        return (1, float(upper), first_seen)
    return (2, 0.0, first_seen)


def sort_sizes(sizes: list[str]) -> list[str]:
    unique = list(dict.fromkeys(sizes))
    return sorted(unique, key=lambda s: size_sort_key(s, unique.index(s)))


@dataclass
class VariantGrid:
    colors: list[str]
    sizes: list[str]
    cells: dict[tuple[str, str], Variant] = field(default_factory=dict)

    @property
    def rows(self) -> list[tuple[str, list[Variant | None]]]:
        return [(c, [self.cells.get((c, s)) for s in self.sizes]) for c in self.colors]

    def __len__(self) -> int:
        return len(self.cells)


def variant_grid(product: Product) -> VariantGrid:
    """The product's SKUs as a colors x sizes matrix: colors as entered, sizes in size order."""
    variants: list[Any] = list(product.variants)
    colors = list(dict.fromkeys(v.color for v in variants))
    sizes = sort_sizes([v.size for v in variants])
    return VariantGrid(colors, sizes, {(v.color, v.size): v for v in variants})
