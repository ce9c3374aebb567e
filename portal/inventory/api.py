"""/api/v1/locations and /api/v1/stock: the locations the caller can see, their stock levels, and
adjustments and stock files at the caller's own locations (an ERP or POS keeping the portal's stock
in step)."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint, Schema
from apiflask.fields import Boolean, Dict, File, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range, Regexp
from flask import url_for

from portal.core.access import Permission, current_actor, require
from portal.core.errors import PermissionDenied, ValidationFailed
from portal.core.pagination import MAX_PAGE
from portal.core.spreadsheets import upload_limits
from portal.inventory import queries, services
from portal.inventory.models import (
    Grade,
    Location,
    LocationKind,
    StockLevel,
    StockMove,
    StockUpload,
    UploadStatus,
)

bp = APIBlueprint("api_inventory", __name__, url_prefix="/api/v1", tag="Stock")

# @require sits right under the route: access is decided before the query string or the body is
# validated. The location of /stock and /stock/adjustments is named in the query or the body, so
# it is loaded in the view, through the same scoped query: another org's location is a 404.


# -- schemas -------------------------------------------------------------------------------------


class LocationQuery(Schema):
    q = String(load_default=None, validate=Length(max=100))
    page = Integer(load_default=1, validate=Range(min=1, max=MAX_PAGE))
    per_page = Integer(load_default=50, validate=Range(min=1, max=200))


class LocationOut(Schema):
    code = String()
    org = String(metadata={"description": "code of the organization holding the location"})
    kind = String(metadata={"enum": [k.value for k in LocationKind]})
    name = String()
    is_own = Boolean(metadata={"description": "held by the caller's org (adjustable)"})


class LocationPage(Schema):
    items = List(Nested(LocationOut))
    page = Integer()
    per_page = Integer()
    total = Integer()


class StockQuery(Schema):
    location = String(required=True, validate=Length(min=1, max=40))
    q = String(load_default=None, validate=Length(max=100))
    grade = String(load_default=None, validate=OneOf([g.value for g in Grade]))
    available = Boolean(load_default=False, metadata={"description": "only levels with units"})
    page = Integer(load_default=1, validate=Range(min=1, max=MAX_PAGE))
    per_page = Integer(load_default=50, validate=Range(min=1, max=200))


class LevelOut(Schema):
    sku = String()
    grade = String()
    on_hand = Integer()
    reserved = Integer()
    available = Integer()


class StockPage(Schema):
    location = String()
    items = List(Nested(LevelOut))
    page = Integer()
    per_page = Integer()
    total = Integer()


class AdjustmentIn(Schema):
    location = String(required=True, validate=Length(min=1, max=40))
    sku = String(required=True, validate=Length(min=1, max=64))
    grade = String(load_default=Grade.A.value, validate=OneOf([g.value for g in Grade]))
    delta = Integer(
        required=True,
        strict=True,
        validate=Range(min=-services.MAX_QUANTITY, max=services.MAX_QUANTITY),
        metadata={"description": "units in (positive) or out (negative); not zero"},
    )
    reason = String(
        load_default=services.ADJUST_REASONS[0].value,
        validate=OneOf([r.value for r in services.ADJUST_REASONS]),
    )
    note = String(
        required=True,
        validate=[Length(min=1, max=500), Regexp(r"\s*\S", error="Say why.")],
        metadata={"description": "why (a count, goods found, a receipt...)"},
    )


class MoveOut(Schema):
    id = Integer()
    sku = String()
    grade = String()
    on_hand_delta = Integer()
    reserved_delta = Integer()
    reason = String()
    reference = String()
    note = String()
    created_at = String()


class AdjustmentOut(Schema):
    move = Nested(MoveOut)
    level = Nested(LevelOut)


# -- helpers -------------------------------------------------------------------------------------


def _location_json(location: Location) -> dict[str, Any]:
    return {
        "code": location.code,
        "org": location.org.code,
        "kind": location.kind,
        "name": location.name,
        "is_own": location.org_id == current_actor().org_id,
    }


def _level_json(level: StockLevel) -> dict[str, Any]:
    return {
        "sku": level.variant.sku,
        "grade": level.grade,
        "on_hand": level.on_hand,
        "reserved": level.reserved,
        "available": level.available,
    }


def _move_json(move: StockMove, sku: str) -> dict[str, Any]:
    return {
        "id": move.id,
        "sku": sku,
        "grade": move.grade,
        "on_hand_delta": move.on_hand_delta,
        "reserved_delta": move.reserved_delta,
        "reason": move.reason,
        "reference": move.reference,
        "note": move.note,
        "created_at": move.created_at.isoformat() if move.created_at else None,
    }


# -- routes --------------------------------------------------------------------------------------


@bp.get("/locations")
@require(Permission.STOCK_VIEW)
@bp.input(LocationQuery, location="query", arg_name="query")
@bp.output(LocationPage)
@bp.doc(summary="Stock locations the caller can see (its own first)", security="BearerAuth")
def list_locations(query: dict[str, Any]):
    result = queries.list_locations(
        current_actor(), q=query["q"], page=query["page"], per_page=query["per_page"]
    )
    return result.as_json([_location_json(location) for location in result.items])


@bp.get("/stock")
@require(Permission.STOCK_VIEW)
@bp.input(StockQuery, location="query", arg_name="query")
@bp.output(StockPage)
@bp.doc(
    summary="Stock levels at one location",
    description="An org above the location sees the levels of its own brands only. "
    "A location the caller cannot see is a 404.",
    security="BearerAuth",
)
def list_stock(query: dict[str, Any]):
    actor = current_actor()
    location = queries.get_location(actor, query["location"])
    result = queries.list_levels(
        actor,
        location,
        q=query["q"],
        grade=query["grade"],
        only_available=query["available"],
        page=query["page"],
        per_page=query["per_page"],
    )
    return result.as_json([_level_json(level) for level in result.items], location=location.code)


@bp.post("/stock/adjustments")
@require(Permission.STOCK_ADJUST)
@bp.input(AdjustmentIn, arg_name="body")
@bp.output(AdjustmentOut, status_code=201)
@bp.doc(
    summary="Adjust one SKU's stock at one of the caller's own locations",
    description="Errors: 404 for a location the caller cannot see; 403 for a location below the "
    "caller's org (read-only to it); 422 `validation_error` naming `delta`, `sku` or `note`; "
    "422 `insufficient_stock` with `available` when units held by orders or not on hand "
    "would be taken away.",
    security="BearerAuth",
)
def create_adjustment(body: dict[str, Any]):
    actor = current_actor()
    location = queries.get_location(actor, body["location"])
    if not services.may_adjust(actor, location):
        raise PermissionDenied("Only the organization holding this stock can change it.")
    variant = queries.find_stockable_variant(location, body["sku"])
    if variant is None:
        raise ValidationFailed(fields={"sku": "No such SKU is carried at this location."})
    move = services.adjust_stock(
        actor,
        location,
        variant,
        delta=body["delta"],
        reason=body["reason"],
        grade=body["grade"],
        note=body["note"],
    )
    return {"move": _move_json(move, variant.sku), "level": _level_json(queries.level_after(move))}


# -- stock files ---------------------------------------------------------------------------------


class StockUploadIn(Schema):
    location = String(
        required=True,
        validate=Length(min=1, max=40),
        metadata={"description": "code of one of the caller's locations: rows without one"},
    )
    file = File(
        required=True,
        metadata={"description": "CSV (UTF-8 or GBK) or XLSX: sku, on_hand, grade, location"},
    )


class UploadErrorOut(Schema):
    row = Integer(metadata={"description": "spreadsheet row, header = 1"})
    column = String()
    reason = String()


class StockUploadOut(Schema):
    id = Integer()
    location = String()
    filename = String()
    status = String(metadata={"enum": [s.value for s in UploadStatus]})
    total_rows = Integer()
    error_count = Integer()
    errors = List(Nested(UploadErrorOut), metadata={"description": "the first 1000"})
    summary = Dict(
        metadata={
            "description": "rows_changed, rows_unchanged, units_added, units_removed; "
            "failure when failed"
        }
    )
    job_id = String(allow_none=True)
    job_url = String(allow_none=True)
    created_at = String()
    applied_at = String(allow_none=True)


def _upload_json(stock_upload: StockUpload) -> dict[str, Any]:
    job_id = stock_upload.job_id
    return {
        "id": stock_upload.id,
        "location": stock_upload.location.code,
        "filename": stock_upload.filename,
        "status": stock_upload.status,
        "total_rows": stock_upload.total_rows,
        "error_count": stock_upload.error_count,
        "errors": stock_upload.errors,
        "summary": stock_upload.summary,
        "job_id": job_id,
        "job_url": url_for("api_jobs.get", job_id=job_id) if job_id else None,
        "created_at": stock_upload.created_at.isoformat(),
        "applied_at": stock_upload.applied_at.isoformat() if stock_upload.applied_at else None,
    }


@bp.post("/stock/uploads")
@require(Permission.STOCK_ADJUST)
@bp.input(StockUploadIn, location="form_and_files", arg_name="body")
@bp.output(StockUploadOut, status_code=202)
@bp.doc(
    summary="Upload a stock file setting on-hand levels at the caller's own locations",
    description="multipart/form-data. The file is checked by a job (follow `job_url`, then GET "
    "the upload): `ready` with a summary, `invalid` with errors by row and column, or `failed` "
    "with `summary.failure` for a file refused whole (not a workbook, or past the UPLOAD_* "
    "limits: rows, columns, cell length, sheet size). Confirm a "
    "ready upload to apply it, whole or not at all. Errors: 404 for a location the caller cannot "
    "see; 403 for one below the caller's org; 422 `stock_upload_rejected` naming `file`.",
    security="BearerAuth",
)
def create_stock_upload(body: dict[str, Any]):
    actor = current_actor()
    location = queries.get_location(actor, body["location"])
    if not services.may_adjust(actor, location):
        raise PermissionDenied("Only the organization holding this stock can change it.")
    file = body["file"]
    data = file.stream.read(upload_limits().max_bytes + 1)
    stock_upload = services.start_stock_upload(actor, location, file.filename or "", data)
    return _upload_json(stock_upload)


@bp.get("/stock/uploads/<int:upload_id>")
@require(Permission.STOCK_ADJUST, load=queries.get_stock_upload)
@bp.output(StockUploadOut)
@bp.doc(summary="A stock file's status, errors and summary", security="BearerAuth")
def get_stock_upload(stock_upload: StockUpload):
    return _upload_json(stock_upload)


@bp.post("/stock/uploads/<int:upload_id>/confirm")
@require(Permission.STOCK_ADJUST, load=queries.get_stock_upload)
@bp.output(StockUploadOut, status_code=202)
@bp.doc(
    summary="Apply a ready stock file, whole, in a job",
    description="Errors: 409 `stock_upload_not_ready` unless the upload is `ready` (confirming "
    "twice applies once).",
    security="BearerAuth",
)
def confirm_stock_upload(stock_upload: StockUpload):
    services.confirm_stock_upload(current_actor(), stock_upload)
    return _upload_json(stock_upload)
