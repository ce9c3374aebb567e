"""Bulk catalog import: one row per SKU, from CSV (UTF-8, UTF-8 with BOM, GBK) or XLSX.

Built for a brand's whole catalog (600,000 SKUs): the brand's products and variants are loaded
into dicts once, the file is checked and diffed against them in memory, and the changes are
written with bulk statements in batches. Never one ORM object, nor one query, per row.
A file with any error is never applied; an applied file is applied in one transaction.

Kept whole: it is the import file's rules (columns, aliases, every row check, the diff against
the catalog and the bulk writes), read top to bottom by whoever changes the file's format.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import insert, select, update

from portal.catalog.models import CatalogImport, Category, Product, Variant
from portal.core import audit, staged
from portal.core.access import Actor
from portal.core.db import bulk_insert, utcnow
from portal.core.errors import ValidationFailed
from portal.core.money import to_cents
from portal.core.spreadsheets import FileRefused, read_table
from portal.core.staged import (
    Progress,
    errors_xlsx,  # noqa: F401 - re-exported: the row-error workbook
)
from portal.extensions import db
from portal.network.models import Organization

COLUMNS = (
    "product_code",
    "product_name",
    "category",
    "season",
    "launch_date",
    "msrp",
    "sku",
    "color",
    "size",
    "barcode",
    "case_pack",
)
REQUIRED_COLUMNS = ("product_code", "product_name", "category", "msrp", "sku", "color", "size")
# Headers as Chinese spreadsheets often have them.
HEADER_ALIASES = {
    "款号": "product_code",
    "商品编码": "product_code",
    "商品名称": "product_name",
    "品名": "product_name",
    "品类": "category",
    "类别": "category",
    "季节": "season",
    "上市日期": "launch_date",
    "吊牌价": "msrp",
    "零售价": "msrp",
    "颜色": "color",
    "尺码": "size",
    "条码": "barcode",
    "箱规": "case_pack",
}
EXAMPLE_ROWS = (
    ("AC-TS-001", "Classic tee", "TOPS", "2025SS", "2025-03-01", "199.00")
    + ("AC-TS-001-BLK-M", "Black", "M", "6901234567890", "12"),
    ("AC-TS-001", "Classic tee", "TOPS", "2025SS", "2025-03-01", "199.00")
    + ("AC-TS-001-BLK-L", "Black", "L", "6901234567891", "12"),
)

CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,39}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_MSRP_CENTS = 10**13
MAX_CASE_PACK = 100_000
MAX_STORED_ERRORS = 1000
PROGRESS_EVERY = 1000
BATCH = 5000
PRODUCT_COLUMNS = ("product_code", "product_name", "category", "season", "launch_date", "msrp")
LIMITS = {
    "product_name": 200,
    "season": 20,
    "sku": 64,
    "color": 40,
    "size": 20,
    "barcode": 32,
}

_no_progress = staged.no_progress


# -- checking -------------------------------------------------------------------------------------


@dataclass(slots=True)
class FileProduct:
    code: str
    name: str
    category: str
    season: str
    launch_date: date | None
    msrp_cents: int
    row: int


@dataclass(slots=True)
class FileVariant:
    product_code: str
    color: str
    size: str
    barcode: str
    case_pack: int
    row: int


@dataclass
class BrandCatalog:
    """What the brand has now, keyed by code: loaded once per check or apply."""

    currency: str
    categories: dict[str, int]  # code -> id
    # code -> (id, name, category code, season, launch date, msrp cents)
    products: dict[str, tuple[int, str, str, str, date | None, int]]
    # sku -> (id, product code, color, size, barcode, case pack)
    variants: dict[str, tuple[int, str, str, str, str, int]]
    combos: dict[tuple[str, str, str], str]  # (product code, color, size) -> sku


def load_brand_catalog(brand_id: int) -> BrandCatalog:
    session = db.session
    currency = session.execute(
        select(Organization.currency).where(Organization.id == brand_id)
    ).scalar_one()
    categories = dict(
        session.execute(select(Category.code, Category.id).where(Category.brand_id == brand_id))
        .tuples()
        .all()
    )
    category_codes = {v: k for k, v in categories.items()}
    products: dict[str, tuple[int, str, str, str, date | None, int]] = {}
    code_of: dict[int, str] = {}
    for pid, code, name, cat_id, season, launch, msrp in session.execute(
        select(
            Product.id,
            Product.code,
            Product.name,
            Product.category_id,
            Product.season,
            Product.launch_date,
            Product.msrp_cents,
        ).where(Product.brand_id == brand_id)
    ).tuples():
        products[code] = (pid, name, category_codes.get(cat_id, ""), season, launch, msrp)
        code_of[pid] = code
    variants: dict[str, tuple[int, str, str, str, str, int]] = {}
    combos: dict[tuple[str, str, str], str] = {}
    kept: dict[str, str] = {}
    keep = kept.setdefault
    for vid, pid, sku, color, size, barcode, case_pack in session.execute(
        select(
            Variant.id,
            Variant.product_id,
            Variant.sku,
            Variant.color,
            Variant.size,
            Variant.barcode,
            Variant.case_pack,
        ).where(Variant.brand_id == brand_id)
    ).tuples():
        code = code_of.get(pid, "")
        color, size = keep(color, color), keep(size, size)  # few distinct values, many rows
        variants[sku] = (vid, code, color, size, barcode, case_pack)
        combos[(code, color, size)] = sku
    return BrandCatalog(currency, categories, products, variants, combos)


@dataclass
class CheckedFile(staged.RowErrors):
    columns: frozenset[str] = frozenset()
    products: dict[str, FileProduct] = field(default_factory=dict)
    variants: dict[str, FileVariant] = field(default_factory=dict)

    def max_stored(self) -> int:
        return MAX_STORED_ERRORS  # read when used: a test lowers it


def _parse_product(
    row_no: int, values: dict[str, str], currency: str, checked: CheckedFile
) -> FileProduct | None:
    """The product-level values of a row, typed; None (with errors recorded) when invalid."""
    before = checked.error_count
    for column in ("product_code", "product_name", "category", "msrp"):
        if not values[column]:
            checked.error(row_no, column, "Required.")
    for column in ("product_name", "season"):
        if len(values[column]) > LIMITS[column]:
            checked.error(row_no, column, f"At most {LIMITS[column]} characters.")
    code = values["product_code"].upper()
    category = values["category"].upper()
    if code and not CODE_RE.match(code):
        checked.error(row_no, "product_code", "1-40 letters, digits, '.', '-' or '_'.")
    if category and not CODE_RE.match(category):
        checked.error(row_no, "category", "1-40 letters, digits, '.', '-' or '_'.")
    msrp_cents = 0
    if values["msrp"]:
        try:
            msrp_cents = to_cents(values["msrp"], currency)
        except ValidationFailed:
            checked.error(row_no, "msrp", f"Not a number: {values['msrp']}.")
        else:
            if msrp_cents < 0:
                checked.error(row_no, "msrp", "Cannot be negative.")
            elif msrp_cents > MAX_MSRP_CENTS:
                checked.error(row_no, "msrp", "Too large.")
    launch: date | None = None
    raw_date = values["launch_date"]
    if raw_date:
        try:
            if not DATE_RE.match(raw_date):
                raise ValueError(raw_date)
            launch = date.fromisoformat(raw_date)
        except ValueError:
            checked.error(row_no, "launch_date", f"Not a date (YYYY-MM-DD): {raw_date}.")
    if checked.error_count != before:
        return None
    return FileProduct(
        code, values["product_name"], category, values["season"], launch, msrp_cents, row_no
    )


def _parse_variant(
    row_no: int, values: dict[str, str], checked: CheckedFile, keep: Callable[[str, str], str]
) -> FileVariant | None:
    """The SKU-level values of a row, typed; None (with errors recorded) when invalid."""
    before = checked.error_count
    for column in ("sku", "color", "size"):
        if not values[column]:
            checked.error(row_no, column, "Required.")
    for column in ("sku", "color", "size", "barcode"):
        if len(values[column]) > LIMITS[column]:
            checked.error(row_no, column, f"At most {LIMITS[column]} characters.")
    case_pack = 1
    raw_pack = values["case_pack"]
    if raw_pack:
        try:
            case_pack = int(raw_pack)
        except ValueError:
            checked.error(row_no, "case_pack", f"Not a whole number: {raw_pack}.")
        else:
            if not 1 <= case_pack <= MAX_CASE_PACK:
                checked.error(row_no, "case_pack", f"Between 1 and {MAX_CASE_PACK}.")
    if checked.error_count != before:
        return None
    code = values["product_code"].upper()
    code = keep(code, code)
    color, size = keep(values["color"], values["color"]), keep(values["size"], values["size"])
    return FileVariant(code, color, size, values["barcode"], case_pack, row_no)


_PRODUCT_FIELDS = (
    ("product_name", "name"),
    ("category", "category"),
    ("msrp", "msrp_cents"),
    ("season", "season"),
    ("launch_date", "launch_date"),
)


def check_file(
    rows: Iterable[list[str]],
    catalog: BrandCatalog,
    *,
    total: int = 0,
    progress: Progress = _no_progress,
) -> CheckedFile:
    """Check every row (errors name the spreadsheet row, header = 1, and the column)."""
    checked = CheckedFile()
    file_combos: dict[tuple[str, str, str], str] = {}
    # Codes, colors and sizes repeat over many rows: keep one copy of each (600,000 rows).
    shared: dict[str, str] = {}
    parsed_products: dict[tuple[str, ...], FileProduct] = {}

    def header(cells: list[str]) -> dict[str, int]:
        index = staged.header_index(
            cells,
            checked,
            columns=COLUMNS,
            required=REQUIRED_COLUMNS,
            aliases=HEADER_ALIASES,
            refuse_unknown=True,
        )
        if not checked.error_count:
            checked.columns = frozenset(index)
        return index

    def row(row_no: int, values: dict[str, str]) -> None:
        # A product's fields repeat on each of its rows: parse them once per distinct text.
        raw = tuple(values[c] for c in PRODUCT_COLUMNS)
        product = parsed_products.get(raw)
        if product is None:
            product = _parse_product(row_no, values, catalog.currency, checked)
            if product is not None:
                parsed_products[raw] = product
        variant = _parse_variant(row_no, values, checked, shared.setdefault)
        if product is None or variant is None:
            return
        sku = values["sku"].upper()
        _check_against_file(checked, product, variant, sku, file_combos)
        _check_against_catalog(checked, catalog, variant, sku)

    return staged.check_rows(
        rows,
        checked,
        columns=COLUMNS,
        header=header,
        row=row,
        total=total,
        progress=progress,
        progress_every=PROGRESS_EVERY,
    )


def _check_against_file(
    checked: CheckedFile,
    product: FileProduct,
    variant: FileVariant,
    sku: str,
    combos: dict[tuple[str, str, str], str],
) -> None:
    row = variant.row
    ok = True
    seen = checked.products.get(product.code)
    if seen is None:
        checked.products[product.code] = product
    elif seen is not product:  # the same text parses to the same object
        for column, attr in _PRODUCT_FIELDS:
            if column in checked.columns and getattr(seen, attr) != getattr(product, attr):
                shown = getattr(seen, attr)
                if attr == "msrp_cents":
                    shown = f"{shown / 100:.2f}"
                checked.error(
                    row,
                    column,
                    f"Product {product.code} has {column} {shown or '(empty)'} on row {seen.row}.",
                )
                ok = False
    other = checked.variants.get(sku)
    if other is not None:
        checked.error(row, "sku", f"SKU {sku} is also on row {other.row}.")
        return
    key = (variant.product_code, variant.color, variant.size)
    taken = combos.get(key)
    if taken is not None:
        checked.error(
            row,
            "size",
            f"{variant.color} / {variant.size} is already SKU {taken} "
            f"(row {checked.variants[taken].row}).",
        )
        return
    if ok:
        combos[key] = sku
        checked.variants[sku] = variant


def _check_against_catalog(
    checked: CheckedFile, catalog: BrandCatalog, variant: FileVariant, sku: str
) -> None:
    if checked.variants.get(sku) is not variant:
        return  # already refused
    row = variant.row
    existing = catalog.variants.get(sku)
    if existing is not None:
        _vid, code, color, size, _barcode, _pack = existing
        if code != variant.product_code:
            checked.error(row, "sku", f"SKU {sku} already belongs to product {code}.")
        elif (color, size) != (variant.color, variant.size):
            checked.error(
                row, "color", f"SKU {sku} is {color} / {size}; a SKU's color and size stay."
            )
        return
    other = catalog.combos.get((variant.product_code, variant.color, variant.size))
    if other is not None:
        checked.error(
            row, "size", f"{variant.product_code} {variant.color} / {variant.size} is SKU {other}."
        )


# -- what would change ----------------------------------------------------------------------------


@dataclass
class ChangePlan:
    new_categories: list[str] = field(default_factory=list)
    new_products: list[FileProduct] = field(default_factory=list)
    changed_products: list[tuple[int, FileProduct]] = field(default_factory=list)
    unchanged_products: int = 0
    new_variants: list[tuple[str, FileVariant]] = field(default_factory=list)
    changed_variants: list[tuple[int, str, int]] = field(default_factory=list)  # id, barcode, pack
    unchanged_variants: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "products_new": len(self.new_products),
            "products_changed": len(self.changed_products),
            "products_unchanged": self.unchanged_products,
            "variants_new": len(self.new_variants),
            "variants_changed": len(self.changed_variants),
            "unchanged": self.unchanged_variants,
            "categories_new": len(self.new_categories),
            "new_categories": self.new_categories[:50],
        }


def plan_changes(checked: CheckedFile, catalog: BrandCatalog) -> ChangePlan:
    """Diff the file against the brand's catalog; a row equal to the database changes nothing.

    A column left out of the file leaves that field as it is.
    """
    plan = ChangePlan()
    columns = checked.columns
    plan.new_categories = sorted(
        {p.category for p in checked.products.values()} - catalog.categories.keys()
    )
    for code, product in checked.products.items():
        current = catalog.products.get(code)
        if current is None:
            plan.new_products.append(product)
            continue
        pid, name, category, season, launch, msrp = current
        differs = (
            name != product.name
            or category != product.category
            or msrp != product.msrp_cents
            or ("season" in columns and season != product.season)
            or ("launch_date" in columns and launch != product.launch_date)
        )
        if differs:
            plan.changed_products.append((pid, product))
        else:
            plan.unchanged_products += 1
    for sku, variant in checked.variants.items():
        current_variant = catalog.variants.get(sku)
        if current_variant is None:
            plan.new_variants.append((sku, variant))
            continue
        vid, _code, _color, _size, barcode, pack = current_variant
        new_barcode = variant.barcode if "barcode" in columns else barcode
        new_pack = variant.case_pack if "case_pack" in columns else pack
        if (new_barcode, new_pack) != (barcode, pack):
            plan.changed_variants.append((vid, new_barcode, new_pack))
        else:
            plan.unchanged_variants += 1
    return plan


def _batches(items: list[Any]) -> Iterator[Any]:
    return staged.batches(items, BATCH)


def apply_plan(
    brand_id: int,
    checked: CheckedFile,
    plan: ChangePlan,
    catalog: BrandCatalog,
    *,
    progress: Progress = _no_progress,
) -> None:
    """Write the plan with bulk statements. The caller holds the one transaction around it."""
    session = db.session
    now = utcnow()
    columns = checked.columns
    if plan.new_categories:
        session.execute(
            insert(Category),
            [
                {"brand_id": brand_id, "code": c, "name": c, "created_at": now, "updated_at": now}
                for c in plan.new_categories
            ],
        )
    categories = dict(
        session.execute(select(Category.code, Category.id).where(Category.brand_id == brand_id))
        .tuples()
        .all()
    )
    total = len(plan.new_products) + len(plan.changed_products)
    total += len(plan.new_variants) + len(plan.changed_variants)
    done = 0

    def step(n: int, what: str) -> None:
        nonlocal done
        done += n
        progress(done, total, f"{done} of {total} changes written ({what})")

    for batch in _batches(plan.new_products):
        bulk_insert(
            Product,
            [
                {
                    "brand_id": brand_id,
                    "code": p.code,
                    "name": p.name,
                    "category_id": categories[p.category],
                    "season": p.season,
                    "launch_date": p.launch_date,
                    "msrp_cents": p.msrp_cents,
                    "currency": catalog.currency,
                    "description": "",
                    "status": "active",
                    "created_at": now,
                    "updated_at": now,
                }
                for p in batch
            ],
        )
        step(len(batch), "new products")
    for batch in _batches(plan.changed_products):
        rows = []
        for pid, p in batch:
            current = catalog.products[p.code]
            rows.append(
                {
                    "id": pid,
                    "name": p.name,
                    "category_id": categories[p.category],
                    "msrp_cents": p.msrp_cents,
                    "season": p.season if "season" in columns else current[3],
                    "launch_date": p.launch_date if "launch_date" in columns else current[4],
                    "updated_at": now,
                }
            )
        session.execute(update(Product), rows)
        step(len(batch), "changed products")
    product_ids = dict(
        session.execute(select(Product.code, Product.id).where(Product.brand_id == brand_id))
        .tuples()
        .all()
    )
    for batch in _batches(plan.new_variants):
        bulk_insert(
            Variant,
            [
                {
                    "brand_id": brand_id,
                    "product_id": product_ids[v.product_code],
                    "sku": sku,
                    "color": v.color,
                    "size": v.size,
                    "barcode": v.barcode,
                    "case_pack": v.case_pack,
                    "created_at": now,
                    "updated_at": now,
                }
                for sku, v in batch
            ],
        )
        step(len(batch), "new SKUs")
    for batch in _batches(plan.changed_variants):
        session.execute(
            update(Variant),
            [
                {"id": vid, "barcode": barcode, "case_pack": pack, "updated_at": now}
                for vid, barcode, pack in batch
            ],
        )
        step(len(batch), "changed SKUs")
    session.flush()


# -- the two steps a job runs ---------------------------------------------------------------------


def stored_file(imp: CatalogImport) -> Path:
    return staged.stored_file(imp)


def _check_stored(
    imp: CatalogImport, catalog: BrandCatalog, progress: Progress, *, inspected: bool = False
) -> CheckedFile:
    """Read the stored file (portal.core.staged) and check its rows. A file past the UPLOAD_*
    limits raises FileRefused."""
    return staged.check_stored(
        imp,
        lambda rows, total: check_file(rows, catalog, total=total, progress=progress),
        CheckedFile,
        inspected=inspected,
        read=read_table,
    )


def _record_check(imp: CatalogImport, checked: CheckedFile, plan: ChangePlan) -> None:
    staged.record_check(imp, checked, plan.summary())


def validate_import(imp: CatalogImport, *, progress: Progress = _no_progress) -> CatalogImport:
    """Check the stored file and preview its changes: status becomes `invalid` or `ready`, or
    `failed` with the reason for a file refused whole (not a workbook, past a limit)."""
    catalog = load_brand_catalog(imp.brand_id)
    try:
        checked = _check_stored(imp, catalog, progress)
    except FileRefused as refused:
        _fail(imp, str(refused))
        return imp
    _record_check(imp, checked, plan_changes(checked, catalog))
    return imp


def apply_import(
    actor: Actor, imp: CatalogImport, *, progress: Progress = _no_progress
) -> CatalogImport:
    """Check the file again against the catalog as it is now, then apply it whole or not at all.

    Any error found now (the catalog may have changed since the preview) makes the import
    `invalid` again; a failure while writing rolls everything back and makes it `failed`.
    """
    if not staged.unchanged(imp):
        _fail(imp, "The stored file is missing or changed since it was checked.")
        return imp
    catalog = load_brand_catalog(imp.brand_id)
    try:  # the same bytes (SHA-256 above) as validated: an XLSX is not inspected again
        checked = _check_stored(imp, catalog, progress, inspected=True)
    except FileRefused as refused:  # the limits were lowered since
        _fail(imp, str(refused))
        return imp
    plan = plan_changes(checked, catalog)
    if checked.error_count:
        _record_check(imp, checked, plan)
        return imp
    try:
        with db.session.begin_nested():
            apply_plan(imp.brand_id, checked, plan, catalog, progress=progress)
    except Exception as exc:  # noqa: BLE001 - anything: nothing was applied, say so
        current_app.logger.exception("catalog import %s failed", imp.id)
        _fail(imp, staged.nothing_applied(exc))
        return imp
    db.session.expire_all()  # bulk statements bypass the identity map
    staged.record_applied(imp, checked.total_rows, plan.summary())
    audit.record(
        actor,
        "catalog.import_applied",
        brand_id=imp.brand_id,
        import_id=imp.id,
        user_id=imp.user_id,
        **{k: v for k, v in plan.summary().items() if k != "new_categories"},
    )
    return imp


_fail = staged.fail


# -- downloads (the row errors: portal.core.staged.errors_xlsx) -----------------------------------


def template_csv() -> bytes:
    """The header and two example rows."""
    return staged.template_csv(COLUMNS, EXAMPLE_ROWS)


def template_xlsx() -> bytes:
    return staged.template_xlsx(COLUMNS, EXAMPLE_ROWS, "catalog")
