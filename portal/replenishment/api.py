"""/api/v1/replenishment and /api/v1/sales: suggestions, runs on demand, sell-out reports."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from apiflask import APIBlueprint, Schema
from apiflask.fields import Boolean, Dict, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range
from flask import url_for

from portal.core.access import Permission, current_actor, require
from portal.core.errors import PermissionDenied, ValidationFailed
from portal.core.inputs import AwareDateTime, Date
from portal.core.pagination import MAX_PAGE
from portal.extensions import db
from portal.inventory import queries as inventory_queries
from portal.inventory import services as inventory_services
from portal.policy import queries as policy_queries
from portal.replenishment import jobs, queries, sales, services
from portal.replenishment.models import SalesReport, Suggestion, SuggestionStatus

bp = APIBlueprint("api_replenishment", __name__, url_prefix="/api/v1", tag="Replenishment")

# @require sits right under the route: access is decided before the query string or the body is
# validated. Locations and orgs named in the query or the body are loaded in the view through
# the scoped queries: another org's is a 404.

MAX_SALE_LINES = 1000


# -- schemas -------------------------------------------------------------------------------------


class SuggestionQuery(Schema):
    location = String(
        load_default=None,
        validate=Length(min=1, max=40),
        metadata={"description": "code of a location the caller can see"},
    )
    status = String(load_default=None, validate=OneOf([s.value for s in SuggestionStatus]))
    business_date = Date(load_default=None, data_key="date")
    page = Integer(load_default=1, validate=Range(min=1, max=MAX_PAGE))
    per_page = Integer(load_default=50, validate=Range(min=1, max=200))


class SuggestionLineOut(Schema):
    sku = String()
    qty = Integer(metadata={"description": "what will be ordered (the buyer may edit it)"})
    suggested_qty = Integer(metadata={"description": "what the run computed"})
    unit_price_cents = Integer(allow_none=True)
    reason = Dict(
        metadata={
            "description": "the figures behind the line: rule, min / max or cover, velocity, "
            "on hand, reserved, inbound, target, and what capped it"
        }
    )


class SuggestionOut(Schema):
    id = Integer()
    location = String(metadata={"description": "location code"})
    buyer = String(metadata={"description": "buyer org code"})
    supplier = String(metadata={"description": "supplier org code"})
    business_date = String()
    status = String(metadata={"enum": [s.value for s in SuggestionStatus]})
    total_cents = Integer()
    auto_submit = Boolean()
    problem = String(metadata={"description": "why an automatic submit was refused"})
    order = String(allow_none=True, metadata={"description": "order number once submitted"})
    lines = List(Nested(SuggestionLineOut))


class SuggestionPage(Schema):
    items = List(Nested(SuggestionOut))
    page = Integer()
    per_page = Integer()
    total = Integer()


class RunIn(Schema):
    scope = String(required=True, validate=OneOf(list(jobs.SCOPES)))
    code = String(
        load_default="",
        validate=Length(max=40),
        metadata={
            "description": "location scope: an org code (or one of its location codes); region "
            "scope: a region of the brand's network; brand scope: ignored"
        },
    )
    brand = String(
        load_default=None,
        validate=Length(max=32),
        metadata={"description": "distributors and stores: code of the brand to run for"},
    )


class RunOut(Schema):
    job_id = String()
    status = String(metadata={"description": "queued, started, finished or failed"})
    url = String(metadata={"description": "the job's progress and result"})


class SaleLineIn(Schema):
    sku = String(required=True, validate=Length(min=1, max=64))
    qty = Integer(required=True, strict=True, validate=Range(min=1, max=sales.MAX_LINE_QTY))


class SalesIn(Schema):
    id = String(
        required=True,
        validate=Length(min=1, max=80),
        metadata={"description": "the report's own id in the POS: sending it again is a no-op"},
    )
    location = String(required=True, validate=Length(min=1, max=40))
    sold_at = AwareDateTime(
        required=True,
        metadata={
            "description": "when the sale happened, with its UTC offset: velocity counts the "
            "lines on this day, whenever the report is sent"
        },
    )
    lines = List(Nested(SaleLineIn), required=True, validate=Length(min=1, max=MAX_SALE_LINES))


class SaleLineOut(Schema):
    sku = String()
    qty = Integer()


class SalesOut(Schema):
    id = String()
    location = String()
    sold_at = String()
    units = Integer()
    lines = List(Nested(SaleLineOut))
    replayed = Boolean(metadata={"description": "true when this id was received before"})


# -- helpers -------------------------------------------------------------------------------------


def _suggestion_json(suggestion: Suggestion, order_number: str | None) -> dict[str, Any]:
    return {
        "id": suggestion.id,
        "location": suggestion.location.code,
        "buyer": suggestion.buyer.code,
        "supplier": suggestion.supplier.code,
        "business_date": suggestion.business_date.isoformat(),
        "status": suggestion.status,
        "total_cents": suggestion.total_cents,
        "auto_submit": suggestion.auto_submit,
        "problem": suggestion.problem,
        "order": order_number,
        "lines": [
            {
                "sku": line.variant.sku,
                "qty": line.qty,
                "suggested_qty": line.suggested_qty,
                "unit_price_cents": line.unit_price_cents,
                "reason": line.reason,
            }
            for line in suggestion.lines
        ],
    }


def _report_json(report: SalesReport, *, replayed: bool) -> dict[str, Any]:
    return {
        "id": report.external_id,
        "location": report.location.code,
        "sold_at": report.sold_at.isoformat(),
        "units": report.units,
        "lines": report.lines,
        "replayed": replayed,
    }


# -- routes --------------------------------------------------------------------------------------


@bp.get("/replenishment/suggestions")
@require(Permission.REPLENISHMENT_VIEW)
@bp.input(SuggestionQuery, location="query", arg_name="query")
@bp.output(SuggestionPage)
@bp.doc(
    summary="Suggested replenishment orders the caller can see, newest day first",
    description="A buyer sees its own; a supplier the ones addressed to it; an org above a "
    "location (HQ, a distributor over its stores) sees them read-only. A location the caller "
    "cannot see is a 404.",
    security="BearerAuth",
)
def list_suggestions(query: dict[str, Any]):
    actor = current_actor()
    location = None
    if query["location"]:
        location = inventory_queries.get_location(actor, query["location"])
    result = queries.list_suggestions(
        actor,
        location=location,
        status=query["status"],
        business_date=query["business_date"],
        page=query["page"],
        per_page=query["per_page"],
    )
    queries.load_lines(result.items)
    numbers = queries.order_numbers(result.items)
    return result.as_json([_suggestion_json(s, numbers.get(s.id)) for s in result.items])


@bp.post("/replenishment/runs")
@require(Permission.REPLENISHMENT_MANAGE)
@bp.input(RunIn, arg_name="body")
@bp.output(RunOut, status_code=202)
@bp.doc(
    summary="Run replenishment for a location, a region or the whole brand (today)",
    description="The run is a job on the `replenishment` queue; follow `url` for its progress. "
    "Asking again for the same scope and day is the same run: while it runs, or once it has "
    "finished, nothing new starts (a location that already has today's suggestion keeps it). "
    "HQ runs any scope of its own brand; a distributor or a store names the `brand` and runs "
    "its own org (`scope` location) only. Errors: 403 for a scope the caller may not run; 404 "
    "for a brand it does not buy from, or an org, location or region it cannot see; 422 naming "
    "`scope`, `code` or `brand`.",
    security="BearerAuth",
)
def request_run(body: dict[str, Any]):
    actor = current_actor()
    if not actor.is_hq and not body["brand"]:
        raise ValidationFailed(fields={"brand": "Name the brand to run replenishment for."})
    brand = policy_queries.get_buying_brand(actor, body["brand"])
    code = services.run_code(actor, brand, body["scope"], body["code"])
    run = jobs.request_run(
        brand.id, body["scope"], code, user_id=actor.user_id, org_id=actor.org_id
    )
    db.session.flush()
    # The run starts once this request commits (inline mode: right after, before the answer
    # is sent), so it is answered as queued whatever the mode; its URL says how it went.
    return {
        "job_id": run.id,
        "status": run.status,
        "url": url_for("api_jobs.get", job_id=run.id),
    }


@bp.post("/sales")
@require(Permission.STOCK_ADJUST)
@bp.input(SalesIn, arg_name="body")
@bp.output(SalesOut, status_code=201)
@bp.doc(
    summary="Report what a store sold (sell-out from its own POS)",
    description="The units leave the location's shelf as sales, which replenishment counts as "
    "velocity on the day of `sold_at` (in the portal's time zone), not on the day the report "
    "arrives: last week's sales sent today count as last week's. A `sold_at` up to 5 minutes "
    "ahead of the portal's clock is taken as it is; further ahead is refused. A report older "
    "than the 28-day velocity window is taken (the units leave the shelf) but never counts as "
    "velocity. Idempotent by the report's own `id`: the same report again is 200 with "
    "`replayed` true and changes nothing; the same `id` with other content is 409 "
    "`duplicate_report`. Errors: 404 for a location the caller cannot see; 403 for one below "
    "its org; 422 `validation_error` naming `lines.<index>.sku` for a SKU not carried there "
    "(or `sold_at` in the future); 422 `insufficient_stock` naming the line when the shelf "
    "holds fewer units than reported. Nothing of a refused report is kept.",
    security="BearerAuth",
)
def report_sales(body: dict[str, Any]):
    actor = current_actor()
    location = inventory_queries.get_location(actor, body["location"])
    if not inventory_services.may_adjust(actor, location):
        raise PermissionDenied("Sales are reported for one's own locations.")
    # One instant, one report: the same sale sent with another UTC offset is a replay.
    sold_at = body["sold_at"].astimezone(UTC)
    report, created = sales.record_sales(
        actor, location, external_id=body["id"], sold_at=sold_at, lines=body["lines"]
    )
    return _report_json(report, replayed=not created), 201 if created else 200
