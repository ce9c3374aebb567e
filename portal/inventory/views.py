"""Pages: the stock of every location the actor can see, one location's levels with the forms that
change them (only for the org holding it), its ledger, and the stock files that set its levels."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm

from portal.catalog.models import Variant
from portal.core import jobs, staged, transaction
from portal.core.access import Actor, Permission, current_actor, require
from portal.core.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from portal.core.forms import apply_errors
from portal.core.pagination import parse_page_args
from portal.core.spreadsheets import upload_limits
from portal.inventory import allocations, queries, services, upload
from portal.inventory.errors import StockUploadNotReady
from portal.inventory.forms import AdjustForm, CountForm, DamageForm, StockUploadForm
from portal.inventory.models import Grade, Location, LocationKind, MoveReason, StockUpload
from portal.network import queries as network_queries

bp = Blueprint("inventory", __name__)

FORMS = {"adjust": AdjustForm, "count": CountForm, "damage": DamageForm}

KIND_LABELS = {LocationKind.WAREHOUSE: _l("Warehouse"), LocationKind.STORE: _l("Store shelf")}
GRADE_LABELS = {Grade.A: _l("A (sellable)"), Grade.B: _l("B (slightly damaged)")}
REASON_LABELS = {
    MoveReason.RECEIPT: _l("Receipt"),
    MoveReason.SHIPMENT: _l("Shipment"),
    MoveReason.TRANSFER: _l("Transfer"),
    MoveReason.ADJUSTMENT: _l("Adjustment"),
    MoveReason.COUNT: _l("Count"),
    MoveReason.DAMAGE: _l("Damage"),
    MoveReason.FOUND: _l("Found"),
    MoveReason.SALE: _l("Sale"),
    MoveReason.RETURN: _l("Return"),
    MoveReason.PUSH: _l("Push"),
    MoveReason.UPLOAD: _l("Upload"),
    MoveReason.RESERVE: _l("Reserved for an order"),
    MoveReason.RELEASE: _l("Released"),
}


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {
        "kind_labels": KIND_LABELS,
        "grade_labels": GRADE_LABELS,
        "reason_labels": REASON_LABELS,
    }


def _load_location(actor: Actor, code: str) -> Location:
    return queries.get_location(actor, code)


def _ensure_permitted(location: Location) -> None:
    """Orgs above a location only look: refused before any form is read."""
    if not services.may_adjust(current_actor(), location):
        raise PermissionDenied(_("Only the organization holding this stock can change it."))


def _variant(location: Location, sku: str) -> Variant:
    variant = queries.find_stockable_variant(location, sku)
    if variant is None:
        raise ValidationFailed(fields={"sku": _("No SKU %(sku)s is carried here.", sku=sku)})
    return variant


# -- pages ---------------------------------------------------------------------------------------


@bp.get("/stock")
@require(Permission.STOCK_VIEW)
def location_list():
    """Every visible location with its totals. The actor's own org comes first: it is the only
    one of its kind an actor sees (brand < distributor < store), and the list is ordered by kind."""
    actor = current_actor()
    page, per_page = parse_page_args(request.args, default_per_page=25)
    result = queries.list_locations(
        actor, q=request.args.get("q") or None, page=page, per_page=per_page
    )
    totals = queries.totals_for(actor, result.items)
    return render_template(
        "inventory/locations.html",
        page=result,
        totals=totals,
        can_push=allocations.may_push(actor),
    )


def _render_location(
    location: Location, forms: dict[str, FlaskForm] | None = None, status: int = 200
) -> tuple[str, int]:
    actor = current_actor()
    permitted = services.may_adjust(actor, location)
    page, per_page = parse_page_args(request.args)
    grade = request.args.get("grade") or None
    levels = queries.list_levels(
        actor,
        location,
        q=request.args.get("q") or None,
        grade=grade if grade in tuple(Grade) else None,
        only_available=request.args.get("available") == "1",
        page=page,
        per_page=per_page,
    )
    forms = forms or {}
    if permitted:
        for name, form_class in FORMS.items():
            forms.setdefault(name, form_class(prefix=name, formdata=None))
    body = render_template(
        "inventory/location.html",
        location=location,
        page=levels,
        totals=queries.location_totals(actor, location),
        permitted=permitted,
        forms=forms,
    )
    return body, status


@bp.get("/stock/<code>")
@require(Permission.STOCK_VIEW, load=_load_location)
def location_detail(location: Location):
    return _render_location(location)


@bp.get("/stock/<code>/moves")
@require(Permission.STOCK_VIEW, load=_load_location)
def location_moves(location: Location):
    actor = current_actor()
    page, per_page = parse_page_args(request.args)
    moves = queries.list_moves(
        actor, location, sku=request.args.get("sku") or None, page=page, per_page=per_page
    )
    return render_template(
        "inventory/moves.html",
        location=location,
        page=moves,
        authors=network_queries.actor_names(moves.items),
    )


# -- changes (the org holding the location only) -------------------------------------------------


def _submit(location: Location, name: str, change: Any) -> Any:
    """Validate the named form, make the change; on any refusal show the page again with
    the errors on the form and nothing changed."""
    _ensure_permitted(location)
    form = FORMS[name](prefix=name)
    if form.validate_on_submit():
        try:
            message = change(form, _variant(location, form.sku.data))
            flash(message, "success")
            return redirect(url_for("inventory.location_detail", code=location.code))
        except DomainError as error:
            transaction.discard()
            apply_errors(form, error)
    return _render_location(location, forms={name: form}, status=422)


@bp.post("/stock/<code>/adjust")
@require(Permission.STOCK_ADJUST, load=_load_location)
def location_adjust(location: Location):
    def change(form: AdjustForm, variant: Variant) -> str:
        services.adjust_stock(
            current_actor(),
            location,
            variant,
            delta=form.delta.data,
            reason=form.reason.data,
            grade=form.grade.data,
            note=form.note.data,
        )
        return _("%(sku)s adjusted by %(delta)+d.", sku=variant.sku, delta=form.delta.data)

    return _submit(location, "adjust", change)


@bp.post("/stock/<code>/count")
@require(Permission.STOCK_ADJUST, load=_load_location)
def location_count(location: Location):
    def change(form: CountForm, variant: Variant) -> str:
        move = services.count_stock(
            current_actor(),
            location,
            variant,
            counted=form.counted.data,
            grade=form.grade.data,
            note=form.note.data,
        )
        if move is None:
            return _("%(sku)s: the count matches; nothing changed.", sku=variant.sku)
        return _(
            "%(sku)s counted: %(counted)s on hand (%(delta)+d).",
            sku=variant.sku,
            counted=form.counted.data,
            delta=move.on_hand_delta,
        )

    return _submit(location, "count", change)


@bp.post("/stock/<code>/damage")
@require(Permission.STOCK_ADJUST, load=_load_location)
def location_damage(location: Location):
    def change(form: DamageForm, variant: Variant) -> str:
        services.mark_damaged(
            current_actor(), location, variant, qty=form.qty.data, note=form.note.data
        )
        return _("%(qty)s × %(sku)s moved to grade B.", qty=form.qty.data, sku=variant.sku)

    return _submit(location, "damage", change)


# -- stock files (the org holding the location only) --------------------------------------------

SHOWN_ERRORS = 200


@bp.route("/stock/<code>/uploads/new", methods=["GET", "POST"])
@require(Permission.STOCK_ADJUST, load=_load_location)
def upload_new(location: Location):
    _ensure_permitted(location)
    actor = current_actor()
    form = StockUploadForm()
    if form.validate_on_submit():
        file = form.file.data
        data = file.stream.read(upload_limits().max_bytes + 1)
        try:
            started = services.start_stock_upload(actor, location, file.filename or "", data)
        except DomainError as error:
            transaction.discard()
            apply_errors(form, error)
        else:
            return redirect(url_for("inventory.upload_detail", upload_id=started.id))
    status = 422 if request.method == "POST" else 200
    return render_template(
        "inventory/upload_new.html",
        form=form,
        location=location,
        uploads=queries.list_stock_uploads(actor, location),
        columns=upload.COLUMNS,
        required=upload.REQUIRED_COLUMNS,
    ), status


@bp.get("/stock/uploads/template.csv")
@require(Permission.STOCK_ADJUST)
def upload_template_csv():
    return staged.download(upload.template_csv(), "stock-template.csv", staged.CSV_MIMETYPE)


@bp.get("/stock/uploads/template.xlsx")
@require(Permission.STOCK_ADJUST)
def upload_template_xlsx():
    return staged.download(upload.template_xlsx(), "stock-template.xlsx", staged.XLSX_MIMETYPE)


@bp.get("/stock/uploads/<int:upload_id>")
@require(Permission.STOCK_ADJUST, load=queries.get_stock_upload)
def upload_detail(stock_upload: StockUpload):
    run = progress = message = None
    if stock_upload.is_busy and stock_upload.job_id:
        try:
            run = jobs.get_run(current_actor(), stock_upload.job_id)
        except NotFound:
            run = None
        if run is not None:
            progress, message = jobs.live_progress(run)
    return render_template(
        "inventory/upload.html",
        upload=stock_upload,
        location=stock_upload.location,
        run=run,
        progress=progress,
        message=message,
        shown_errors=stock_upload.errors[:SHOWN_ERRORS],
    )


@bp.get("/stock/uploads/<int:upload_id>/errors.xlsx")
@require(Permission.STOCK_ADJUST, load=queries.get_stock_upload)
def upload_errors(stock_upload: StockUpload):
    return staged.download(
        staged.errors_xlsx(stock_upload.errors),
        f"stock-upload-{stock_upload.id}-errors.xlsx",
        staged.XLSX_MIMETYPE,
    )


@bp.post("/stock/uploads/<int:upload_id>/confirm")
@require(Permission.STOCK_ADJUST, load=queries.get_stock_upload)
def upload_confirm(stock_upload: StockUpload):
    try:
        services.confirm_stock_upload(current_actor(), stock_upload)
    except StockUploadNotReady:
        transaction.discard()
        flash(_("Only a checked stock file without errors can be applied."), "error")
    return redirect(url_for("inventory.upload_detail", upload_id=stock_upload.id))
