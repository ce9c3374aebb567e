"""HQ catalog pages: products with their color x size grid, and bulk imports."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.catalog import importer, queries, services
from portal.catalog.forms import (
    AddVariantsForm,
    ImageForm,
    ImportForm,
    ProductFieldsForm,
    ProductForm,
)
from portal.catalog.models import CatalogImport, ImportStatus, Product, ProductStatus
from portal.core import jobs, staged, transaction
from portal.core.access import Permission, current_actor, require
from portal.core.errors import DomainError, NotFound
from portal.core.forms import apply_errors
from portal.core.money import from_cents, to_cents
from portal.core.pagination import parse_page_args

bp = Blueprint("catalog", __name__, url_prefix="/catalog")

IMAGE_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}
SHOWN_ERRORS = 200
# Statuses the templates show through _() at run time, here so extraction sees them.
STATUS_TERMS = (
    _l("active"),
    _l("retired"),
    _l("validating"),
    _l("invalid"),
    _l("ready"),
    _l("applying"),
    _l("applied"),
    _l("failed"),
)


# -- products -------------------------------------------------------------------------------------


@bp.get("/products")
@require(Permission.CATALOG_MANAGE)
def product_list():
    actor = current_actor()
    brand = queries.get_brand(actor)
    page, per_page = parse_page_args(request.args)
    result = queries.list_products(
        actor,
        brand.id,
        q=request.args.get("q") or None,
        category=request.args.get("category") or None,
        season=request.args.get("season") or None,
        status=request.args.get("status") or None,
        page=page,
        per_page=per_page,
    )
    return render_template(
        "catalog/products.html",
        brand=brand,
        page=result,
        variant_counts=queries.count_variants([p.id for p in result.items]),
        categories=queries.list_categories(brand.id),
        seasons=queries.list_seasons(brand.id),
        statuses=tuple(ProductStatus),
    )


@bp.route("/products/new", methods=["GET", "POST"])
@require(Permission.CATALOG_MANAGE)
def product_new():
    actor = current_actor()
    brand = queries.get_brand(actor)
    form = ProductForm()
    if form.validate_on_submit():
        try:
            product = services.create_product(
                actor,
                brand.id,
                code=form.code.data,
                name=form.name.data,
                category_code=form.category_code.data,
                season=form.season.data or "",
                launch_date=form.launch_date.data,
                msrp_cents=to_cents(form.msrp.data, brand.currency),
                colors=form.colors.data,
                sizes=form.sizes.data,
                case_pack=form.case_pack.data or 1,
                description=form.description.data or "",
            )
        except DomainError as error:
            transaction.discard()
            apply_errors(form, error)
        else:
            flash(
                _(
                    "%(code)s was created with %(n)d SKUs.",
                    code=product.code,
                    n=len(product.variants),
                ),
                "success",
            )
            return redirect(url_for("catalog.product_detail", product_id=product.id))
    status = 422 if request.method == "POST" else 200
    return render_template(
        "catalog/product_new.html",
        form=form,
        brand=brand,
        categories=queries.list_categories(brand.id),
    ), status


@bp.get("/products/<int:product_id>")
@require(Permission.CATALOG_MANAGE, load=queries.get_product)
def product_detail(product: Product):
    return render_template(
        "catalog/product.html", product=product, grid=queries.variant_grid(product)
    )


def _edit_page(product: Product, status: int = 200, **forms):
    fields = forms.get("form") or ProductFieldsForm(
        formdata=None,
        obj=product,
        category_code=product.category.code,
        msrp=from_cents(product.msrp_cents, product.currency),
    )
    return render_template(
        "catalog/product_edit.html",
        product=product,
        form=fields,
        variants_form=forms.get("variants_form") or AddVariantsForm(formdata=None),
        image_form=forms.get("image_form") or ImageForm(formdata=None),
        grid=queries.variant_grid(product),
        sku_errors=forms.get("sku_errors") or {},
    ), status


@bp.route("/products/<int:product_id>/edit", methods=["GET", "POST"])
@require(Permission.CATALOG_MANAGE, load=queries.get_product)
def product_edit(product: Product):
    if request.method == "GET":
        return _edit_page(product)
    form = ProductFieldsForm()
    if form.validate_on_submit():
        try:
            services.update_product(
                current_actor(),
                product,
                name=form.name.data,
                category_code=form.category_code.data,
                season=form.season.data or "",
                launch_date=form.launch_date.data,
                msrp_cents=to_cents(form.msrp.data, product.currency),
                description=form.description.data or "",
            )
        except DomainError as error:
            transaction.discard()
            apply_errors(form, error)
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("catalog.product_detail", product_id=product.id))
    return _edit_page(product, 422, form=form)


@bp.post("/products/<int:product_id>/variants")
@require(Permission.CATALOG_MANAGE, load=queries.get_product)
def product_add_variants(product: Product):
    form = AddVariantsForm()
    if form.validate_on_submit():
        try:
            added = services.add_variants(
                current_actor(),
                product,
                form.colors.data or "",
                form.sizes.data or "",
                case_pack=form.case_pack.data or 1,
            )
        except DomainError as error:
            transaction.discard()
            apply_errors(form, error)
        else:
            if added:
                flash(_("%(n)d SKUs added.", n=len(added)), "success")
            else:
                flash(_("Every one of those colors and sizes already exists."), "success")
            return redirect(url_for("catalog.product_edit", product_id=product.id))
    return _edit_page(product, 422, variants_form=form)


@bp.post("/products/<int:product_id>/skus")
@require(Permission.CATALOG_MANAGE, load=queries.get_product)
def product_update_skus(product: Product):
    changes: dict[int, tuple[str, int]] = {}
    sku_errors: dict[str, str] = {}
    for variant in product.variants:
        barcode = request.form.get(f"barcode-{variant.id}")
        pack = request.form.get(f"case_pack-{variant.id}")
        if barcode is None and pack is None:
            continue
        try:
            case_pack = int(pack) if pack not in (None, "") else variant.case_pack
        except ValueError:
            sku_errors[f"sku-{variant.id}"] = _(
                "%(sku)s: case pack is not a number.", sku=variant.sku
            )
            continue
        barcode = variant.barcode if barcode is None else barcode
        if (barcode.strip(), case_pack) != (variant.barcode, variant.case_pack):
            changes[variant.id] = (barcode, case_pack)
    if not sku_errors:
        try:
            services.update_variants(current_actor(), product, changes)
        except DomainError as error:
            transaction.discard()
            sku_errors = dict(error.fields) or {"": error.message}
        else:
            flash(_("%(n)d SKUs saved.", n=len(changes)), "success")
            return redirect(url_for("catalog.product_edit", product_id=product.id))
    flash(" ".join(sku_errors.values()), "error")
    return _edit_page(product, 422, sku_errors=sku_errors)


@bp.post("/products/<int:product_id>/image")
@require(Permission.CATALOG_MANAGE, load=queries.get_product)
def product_image_upload(product: Product):
    form = ImageForm()
    if form.validate_on_submit():
        upload = form.image.data
        data = upload.stream.read(services.MAX_IMAGE_BYTES + 1)
        try:
            services.set_product_image(current_actor(), product, upload.filename or "", data)
        except DomainError as error:
            transaction.discard()
            apply_errors(form, error)
        else:
            flash(_("Image saved."), "success")
            return redirect(url_for("catalog.product_detail", product_id=product.id))
    return _edit_page(product, 422, image_form=form)


@bp.get("/products/<int:product_id>/image")
@require(Permission.CATALOG_MANAGE, load=queries.get_product)
def product_image(product: Product):
    path = services.image_file(product)
    if path is None or not path.is_file():
        raise NotFound()
    mimetype = IMAGE_TYPES.get(path.suffix.lstrip(".").lower(), "application/octet-stream")
    # At most 5 MB: read whole, so no file handle outlives the request.
    response = Response(path.read_bytes(), mimetype=mimetype)
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


@bp.post("/products/<int:product_id>/retire")
@require(Permission.CATALOG_MANAGE, load=queries.get_product)
def product_retire(product: Product):
    services.retire_product(current_actor(), product)
    flash(_("%(code)s is retired: it is no longer offered.", code=product.code), "success")
    return redirect(url_for("catalog.product_detail", product_id=product.id))


@bp.post("/products/<int:product_id>/reactivate")
@require(Permission.CATALOG_MANAGE, load=queries.get_product)
def product_reactivate(product: Product):
    services.reactivate_product(current_actor(), product)
    flash(_("%(code)s is active again.", code=product.code), "success")
    return redirect(url_for("catalog.product_detail", product_id=product.id))


# -- imports --------------------------------------------------------------------------------------


@bp.route("/imports", methods=["GET", "POST"])
@require(Permission.CATALOG_MANAGE)
def import_list():
    actor = current_actor()
    brand = queries.get_brand(actor)
    form = ImportForm()
    if form.validate_on_submit():
        upload = form.file.data
        try:
            imp = services.start_import(
                actor, brand.id, filename=upload.filename or "", stream=upload.stream
            )
        except DomainError as error:
            transaction.discard()
            apply_errors(form, error)
        else:
            return redirect(url_for("catalog.import_detail", import_id=imp.id))
    status = 422 if request.method == "POST" else 200
    return render_template(
        "catalog/imports.html",
        form=form,
        brand=brand,
        imports=queries.list_imports(actor, brand.id),
        columns=importer.COLUMNS,
        required=importer.REQUIRED_COLUMNS,
    ), status


@bp.get("/imports/template.csv")
@require(Permission.CATALOG_MANAGE)
def import_template_csv():
    return staged.download(importer.template_csv(), "catalog-template.csv", staged.CSV_MIMETYPE)


@bp.get("/imports/template.xlsx")
@require(Permission.CATALOG_MANAGE)
def import_template_xlsx():
    return staged.download(importer.template_xlsx(), "catalog-template.xlsx", staged.XLSX_MIMETYPE)


@bp.get("/imports/<int:import_id>")
@require(Permission.CATALOG_MANAGE, load=queries.get_import)
def import_detail(imp: CatalogImport):
    run = progress = message = None
    busy = imp.status in (ImportStatus.VALIDATING, ImportStatus.APPLYING)
    if busy and imp.job_id:
        try:
            run = jobs.get_run(current_actor(), imp.job_id)
        except NotFound:
            run = None
        if run is not None:
            progress, message = jobs.live_progress(run)
    return render_template(
        "catalog/import.html",
        imp=imp,
        busy=busy,
        run=run,
        progress=progress,
        message=message,
        shown_errors=imp.errors[:SHOWN_ERRORS],
    )


@bp.get("/imports/<int:import_id>/errors.xlsx")
@require(Permission.CATALOG_MANAGE, load=queries.get_import)
def import_errors(imp: CatalogImport):
    return staged.download(
        staged.errors_xlsx(imp.errors), f"catalog-import-{imp.id}-errors.xlsx", staged.XLSX_MIMETYPE
    )


@bp.post("/imports/<int:import_id>/confirm")
@require(Permission.CATALOG_MANAGE, load=queries.get_import)
def import_confirm(imp: CatalogImport):
    try:
        services.confirm_import(current_actor(), imp)
    except DomainError as error:
        transaction.discard()
        flash(error.message, "error")
    return redirect(url_for("catalog.import_detail", import_id=imp.id))
