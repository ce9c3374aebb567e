"""Write use cases for the catalog. Only the HQ of a brand changes its catalog.

Services flush, never commit: the request or the job commits.
"""

from __future__ import annotations

import os
import re
import uuid
from datetime import date
from pathlib import Path
from typing import BinaryIO

from flask import current_app
from sqlalchemy import select

from portal.catalog import jobs as catalog_jobs
from portal.catalog import queries
from portal.catalog.errors import (
    ImageRejected,
    ImportFileRejected,
    ImportNotReady,
    ProductCodeTaken,
    SkuTaken,
)
from portal.catalog.models import (
    CatalogImport,
    Category,
    ImportStatus,
    Product,
    ProductStatus,
    Variant,
)
from portal.core import audit, jobs, staged
from portal.core.access import Actor, Permission
from portal.core.errors import NotFound, ValidationFailed
from portal.extensions import db

CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,39}$")
MAX_MSRP_CENTS = 10**13
MAX_CASE_PACK = 100_000
MAX_IMAGE_BYTES = 5 * 1024 * 1024
IMPORT_EXTENSIONS = staged.EXTENSIONS


def normalize_code(code: str) -> str:
    return (code or "").strip().upper()


def make_sku(code: str, color: str, size: str) -> str:
    """Generated SKU codes: product code, color and size, upper-cased, without spaces."""
    return f"{code}-{color}-{size}".upper().replace(" ", "")


def ensure_manages(actor: Actor, brand_id: int) -> None:
    """Catalog writes need catalog.manage (else 403) and the brand's own HQ (else 404)."""
    actor.ensure(Permission.CATALOG_MANAGE)
    if not queries.manages_brand(actor, brand_id):
        raise NotFound()


def _clean_list(values: list[str] | str, *, name: str, limit: int) -> list[str]:
    """A list from a list or a comma separated string, stripped, without repeats."""
    if isinstance(values, str):
        values = re.split(r"[,，;；\n]", values)
    out = list(dict.fromkeys(v.strip() for v in values if v and v.strip()))
    too_long = [v for v in out if len(v) > limit]
    if too_long:
        raise ValidationFailed(fields={name: f"At most {limit} characters each: {too_long[0]}."})
    return out


def _check_text(fields: dict[str, str], name: str, value: str, *, limit: int, required: bool):
    if required and not value.strip():
        fields[name] = "This field is required."
    elif len(value) > limit:
        fields[name] = f"At most {limit} characters."


def _validate_product_fields(
    *,
    name: str,
    category_code: str,
    season: str,
    msrp_cents: int,
    description: str,
    code: str | None = None,
) -> None:
    fields: dict[str, str] = {}
    if code is not None and not CODE_RE.match(code):
        fields["code"] = "1-40 capital letters, digits, '.', '-' or '_'."
    _check_text(fields, "name", name, limit=200, required=True)
    if not CODE_RE.match(category_code):
        fields["category_code"] = "1-40 capital letters, digits, '.', '-' or '_'."
    _check_text(fields, "season", season, limit=20, required=False)
    _check_text(fields, "description", description, limit=5000, required=False)
    if msrp_cents < 0:
        fields["msrp"] = "Cannot be negative."
    elif msrp_cents > MAX_MSRP_CENTS:
        fields["msrp"] = "Too large."
    if fields:
        raise ValidationFailed(fields=fields)


def _check_case_pack(case_pack: int) -> None:
    if not 1 <= case_pack <= MAX_CASE_PACK:
        raise ValidationFailed(fields={"case_pack": f"Between 1 and {MAX_CASE_PACK}."})


def get_or_create_category(
    actor: Actor, brand_id: int, code: str, *, name: str | None = None
) -> Category:
    """The brand's category with this code, created (named after its code) when new."""
    ensure_manages(actor, brand_id)
    code = normalize_code(code)
    if not CODE_RE.match(code):
        raise ValidationFailed(fields={"category_code": "1-40 capital letters or digits."})
    category = queries.find_category(brand_id, code)
    if category is None:
        category = Category(brand_id=brand_id, code=code, name=(name or code).strip()[:120])
        db.session.add(category)
        db.session.flush()
        audit.record(actor, "catalog.category_created", brand_id=brand_id, code=code)
    return category


def create_product(
    actor: Actor,
    brand_id: int,
    *,
    code: str,
    name: str,
    category_code: str,
    season: str = "",
    launch_date: date | None = None,
    msrp_cents: int,
    colors: list[str] | str,
    sizes: list[str] | str,
    case_pack: int = 1,
    description: str = "",
) -> Product:
    """A product with one variant per color x size. Codes are unique per brand.

    Raises ValidationFailed naming the field, ProductCodeTaken, SkuTaken, NotFound / 403.
    """
    ensure_manages(actor, brand_id)
    brand = queries.get_brand(actor, brand_id)
    code, category_code = normalize_code(code), normalize_code(category_code)
    _validate_product_fields(
        code=code,
        name=name,
        category_code=category_code,
        season=season or "",
        msrp_cents=msrp_cents,
        description=description or "",
    )
    colors = _clean_list(colors, name="colors", limit=40)
    sizes = _clean_list(sizes, name="sizes", limit=20)
    fields = {}
    if not colors:
        fields["colors"] = "Enter at least one color."
    if not sizes:
        fields["sizes"] = "Enter at least one size."
    if fields:
        raise ValidationFailed(fields=fields)
    _check_case_pack(case_pack)
    if queries.find_product_by_code(brand_id, code) is not None:
        raise ProductCodeTaken(fields={"code": f"{code} is already a product of this brand."})
    category = get_or_create_category(actor, brand_id, category_code)
    product = Product(
        brand_id=brand_id,
        code=code,
        name=name.strip(),
        category_id=category.id,
        season=(season or "").strip(),
        launch_date=launch_date,
        msrp_cents=msrp_cents,
        currency=brand.currency,
        description=(description or "").strip(),
        status=ProductStatus.ACTIVE,
    )
    db.session.add(product)
    db.session.flush()
    _add_variant_rows(product, [(c, s) for c in colors for s in sizes], case_pack)
    audit.record(
        actor,
        "catalog.product_created",
        brand_id=brand_id,
        code=code,
        variants=len(product.variants),
    )
    return product


def _add_variant_rows(
    product: Product, combos: list[tuple[str, str]], case_pack: int
) -> list[Variant]:
    skus = {make_sku(product.code, c, s): (c, s) for c, s in combos}
    too_long = [sku for sku in skus if len(sku) > 64]
    if too_long:
        raise ValidationFailed(fields={"colors": f"SKU {too_long[0]} is longer than 64."})
    taken = list(
        db.session.execute(
            select(Variant.sku).where(Variant.brand_id == product.brand_id, Variant.sku.in_(skus))
        ).scalars()
    )
    if taken:
        raise SkuTaken(fields={"colors": f"SKU {taken[0]} already exists in this brand."})
    added = [
        Variant(
            brand_id=product.brand_id,
            sku=sku,
            color=color,
            size=size,
            barcode="",
            case_pack=case_pack,
        )
        for sku, (color, size) in skus.items()
    ]
    product.variants.extend(added)
    db.session.flush()
    return added


def update_product(
    actor: Actor,
    product: Product,
    *,
    name: str,
    category_code: str,
    season: str = "",
    launch_date: date | None = None,
    msrp_cents: int,
    description: str = "",
) -> Product:
    """Change a product's fields; its code (and so its SKUs) stays."""
    ensure_manages(actor, product.brand_id)
    category_code = normalize_code(category_code)
    _validate_product_fields(
        name=name,
        category_code=category_code,
        season=season or "",
        msrp_cents=msrp_cents,
        description=description or "",
    )
    category = get_or_create_category(actor, product.brand_id, category_code)
    product.name = name.strip()
    product.category_id = category.id
    product.season = (season or "").strip()
    product.launch_date = launch_date
    product.msrp_cents = msrp_cents
    product.description = (description or "").strip()
    db.session.flush()
    audit.record(actor, "catalog.product_updated", brand_id=product.brand_id, code=product.code)
    return product


def add_variants(
    actor: Actor,
    product: Product,
    colors: list[str] | str,
    sizes: list[str] | str,
    *,
    case_pack: int = 1,
) -> list[Variant]:
    """Fill in the color x size combinations the product lacks; existing ones stay as they are.

    Empty colors (or sizes) mean the product's current ones, so adding a size to every color
    needs only the size.
    """
    ensure_manages(actor, product.brand_id)
    colors = _clean_list(colors, name="colors", limit=40)
    sizes = _clean_list(sizes, name="sizes", limit=20)
    if not colors and not sizes:
        raise ValidationFailed(fields={"colors": "Enter a color or a size to add."})
    _check_case_pack(case_pack)
    have = {(v.color, v.size) for v in product.variants}
    colors = colors or list(dict.fromkeys(v.color for v in product.variants))
    sizes = sizes or list(dict.fromkeys(v.size for v in product.variants))
    missing = [(c, s) for c in colors for s in sizes if (c, s) not in have]
    if not missing:
        return []
    added = _add_variant_rows(product, missing, case_pack)
    audit.record(
        actor,
        "catalog.variants_added",
        brand_id=product.brand_id,
        code=product.code,
        skus=[v.sku for v in added],
    )
    return added


def update_variant(actor: Actor, variant: Variant, *, barcode: str, case_pack: int) -> Variant:
    """A SKU's barcode and case pack (the multiple it ships in)."""
    ensure_manages(actor, variant.brand_id)
    barcode = (barcode or "").strip()
    if len(barcode) > 32:
        raise ValidationFailed(fields={"barcode": "At most 32 characters."})
    _check_case_pack(case_pack)
    if (variant.barcode, variant.case_pack) == (barcode, case_pack):
        return variant
    variant.barcode, variant.case_pack = barcode, case_pack
    db.session.flush()
    audit.record(
        actor,
        "catalog.variant_updated",
        brand_id=variant.brand_id,
        sku=variant.sku,
        barcode=barcode,
        case_pack=case_pack,
    )
    return variant


def update_variants(
    actor: Actor, product: Product, changes: dict[int, tuple[str, int]]
) -> list[Variant]:
    """Barcodes and case packs of several of the product's SKUs at once: all or none.

    `changes` maps variant id -> (barcode, case pack); a field error names "sku-<id>".
    """
    ensure_manages(actor, product.brand_id)
    by_id = {v.id: v for v in product.variants}
    fields = {}
    for vid, (barcode, case_pack) in changes.items():
        if vid not in by_id:
            raise NotFound()
        if len((barcode or "").strip()) > 32:
            fields[f"sku-{vid}"] = f"{by_id[vid].sku}: barcode at most 32 characters."
        elif not 1 <= case_pack <= MAX_CASE_PACK:
            fields[f"sku-{vid}"] = f"{by_id[vid].sku}: case pack between 1 and {MAX_CASE_PACK}."
    if fields:
        raise ValidationFailed(fields=fields)
    return [
        update_variant(actor, by_id[vid], barcode=barcode, case_pack=case_pack)
        for vid, (barcode, case_pack) in changes.items()
    ]


def retire_product(actor: Actor, product: Product) -> Product:
    """A retired product stays in history (orders, policies) but is no longer offered."""
    return _set_status(actor, product, ProductStatus.RETIRED)


def reactivate_product(actor: Actor, product: Product) -> Product:
    return _set_status(actor, product, ProductStatus.ACTIVE)


def _set_status(actor: Actor, product: Product, status: ProductStatus) -> Product:
    ensure_manages(actor, product.brand_id)
    if product.status != status:
        product.status = status
        db.session.flush()
        audit.record(
            actor, f"catalog.product_{status}", brand_id=product.brand_id, code=product.code
        )
    return product


# -- images ---------------------------------------------------------------------------------------


def sniff_image(data: bytes) -> str | None:
    """The image type from its first bytes (never from the name or the browser's word)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def image_file(product: Product) -> Path | None:
    """Where the product's image is stored, if it has one."""
    if not product.image_path:
        return None
    return Path(current_app.instance_path) / product.image_path


def set_product_image(actor: Actor, product: Product, filename: str, data: bytes) -> Product:
    """Store a PNG, JPEG or WebP image (at most 5 MB) as the product's image.

    Raises ImageRejected (field "image") for anything else.
    """
    ensure_manages(actor, product.brand_id)
    if not data:
        raise ImageRejected(fields={"image": "The file is empty."})
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageRejected(fields={"image": "The image is larger than 5 MB."})
    ext = sniff_image(data)
    if ext is None:
        raise ImageRejected(fields={"image": "Only PNG, JPEG or WebP images."})
    relative = f"catalog-images/{product.brand_id}/{product.id}.{ext}"
    target = Path(current_app.instance_path) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
    temporary.write_bytes(data)
    os.replace(temporary, target)  # readers never see half a file
    old = image_file(product)
    if old is not None and old != target and old.exists():
        old.unlink()
    product.image_path = relative
    db.session.flush()
    audit.record(
        actor,
        "catalog.image_set",
        brand_id=product.brand_id,
        code=product.code,
        filename=(filename or "")[:200],
        bytes=len(data),
    )
    return product


# -- imports --------------------------------------------------------------------------------------


def start_import(actor: Actor, brand_id: int, *, filename: str, stream: BinaryIO) -> CatalogImport:
    """Store an uploaded catalog file and validate it in a job (after commit).

    Raises ImportFileRejected (field "file") for an unknown type, an empty file or one past
    UPLOAD_MAX_BYTES (the stream is read no further). Nothing is parsed here: the job does it.
    """
    ensure_manages(actor, brand_id)
    name = os.path.basename(filename or "").strip()[:255]
    relative, sha256, size = staged.store(
        f"imports/{brand_id}", name, stream, rejected=ImportFileRejected
    )
    imp = CatalogImport(
        brand_id=brand_id,
        user_id=actor.user_id,
        filename=name,
        stored_path=relative,
        sha256=sha256,
        status=ImportStatus.VALIDATING,
        errors=[],
        summary={},
    )
    db.session.add(imp)
    db.session.flush()
    run = jobs.enqueue(
        catalog_jobs.validate_catalog_import,
        imp.id,
        org_id=actor.org_id,
        brand_id=brand_id,
        user_id=actor.user_id,
        title=f"Validate catalog file {name}",
    )
    imp.job_id = run.id
    audit.record(actor, "catalog.import_uploaded", brand_id=brand_id, file=name, bytes=size)
    return imp


def confirm_import(actor: Actor, imp: CatalogImport) -> CatalogImport:
    """Apply a validated import, whole, in a job. Only a `ready` import can be confirmed."""
    ensure_manages(actor, imp.brand_id)
    if not staged.claim(CatalogImport, imp):  # of two confirmations racing, one moves it on
        raise ImportNotReady()
    run = jobs.enqueue(
        catalog_jobs.apply_catalog_import,
        imp.id,
        org_id=actor.org_id,
        brand_id=imp.brand_id,
        user_id=actor.user_id,
        title=f"Apply catalog file {imp.filename}",
    )
    imp.job_id = run.id
    audit.record(actor, "catalog.import_confirmed", brand_id=imp.brand_id, file=imp.filename)
    return imp
