"""/api/v1/catalog and /api/v1/orders: what the caller can order (at its prices, with what is
available from its supplier), placing orders idempotently, reading them, moving them along."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import jsonify, request

from portal.core import idempotency, transaction
from portal.core.access import Actor, Permission, current_actor, require
from portal.core.errors import PermissionDenied, ValidationFailed
from portal.inventory import services as stock_services
from portal.ordering import queries, services
from portal.ordering.models import Order, OrderStatus
from portal.ordering.schemas import (
    CatalogOut,
    CatalogQuery,
    OrderIn,
    OrderOut,
    OrderPage,
    OrderQuery,
    ReasonIn,
    ReceiveIn,
    ShipIn,
)
from portal.policy import queries as policy_queries

bp = APIBlueprint("api_ordering", __name__, url_prefix="/api/v1", tag="Orders")

# @require sits right under the route: access (404, then 403) is decided before the body or the
# query string is validated.


# -- helpers -------------------------------------------------------------------------------------


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def _variant_json(variant: Any, terms: Any, available: int) -> dict[str, Any]:
    data = {
        "sku": variant.sku,
        "color": variant.color,
        "size": variant.size,
        "barcode": variant.barcode,
        "currency": variant.product.currency,
        "case_pack": variant.case_pack,
        "price_cents": None,
        "moq": 1,
        "multiple": 1,
        "floor_price_cents": None,
        "available": available,
    }
    if terms is not None:
        data.update(
            price_cents=terms.price_cents,
            moq=terms.moq,
            multiple=terms.multiple,
            floor_price_cents=terms.floor_cents,
        )
    return data


def _summary_json(order: Order) -> dict[str, Any]:
    return {
        "number": order.number,
        "brand": order.brand.code,
        "buyer": order.buyer.code,
        "supplier": order.supplier.code,
        "kind": order.kind,
        "status": order.status,
        "total_cents": order.total_cents,
        "currency": order.currency,
        "submitted_at": _iso(order.submitted_at),
    }


def order_json(order: Order, *, full: bool = True) -> dict[str, Any]:
    data = {
        **_summary_json(order),
        "hold_reason": order.hold_reason,
        "po_number": order.po_number,
        "note": order.note,
        "policy_version_id": order.policy_version_id,
        "lines": [
            {
                "sku": line.sku,
                "qty": line.qty,
                "unit_price_cents": line.unit_price_cents,
                "line_total_cents": line.line_total_cents,
                "shipped_qty": line.shipped_qty,
                "received_qty": line.received_qty,
                "returned_qty": line.returned_qty,
                "policy_version_id": line.policy_version_id,
            }
            for line in order.lines
        ],
    }
    if full:
        data["shipments"] = [
            {
                "seq": s.seq,
                "status": s.status,
                "carrier": s.carrier,
                "tracking_number": s.tracking_number,
                "shipped_at": _iso(s.created_at),
                "received_at": _iso(s.received_at),
                "lines": [
                    {"sku": sl.order_line.sku, "qty": sl.qty, "received_qty": sl.received_qty}
                    for sl in s.lines
                ],
            }
            for s in queries.shipments(order)
        ]
        data["events"] = [
            {
                "kind": e.kind,
                "from_status": e.from_status,
                "to_status": e.to_status,
                "note": e.note,
                "details": e.details,
                "actor_org": e.actor_org.code if e.actor_org else None,
                "at": _iso(e.created_at),
            }
            for e in queries.order_events(order)
        ]
    return data


def _load_order(actor: Actor, number: str) -> Order:
    return queries.get_order(actor, number)


# -- catalog -------------------------------------------------------------------------------------


@bp.get("/catalog")
@require(Permission.CATALOG_VIEW)
@bp.input(CatalogQuery, location="query", arg_name="query")
@bp.output(CatalogOut)
@bp.doc(
    summary="The caller's catalog: authorized products with its own prices and availability",
    security="BearerAuth",
)
def catalog(query: dict[str, Any]):
    actor = current_actor()
    brand = policy_queries.get_buying_brand(actor, query["brand"])
    buyer = policy_queries.buyer_for(actor, brand.id, query["as_org"])
    result = policy_queries.browse(
        actor,
        brand.id,
        buyer=buyer,
        q=query["q"],
        category=query["category"],
        season=query["season"],
        page=query["page"],
        per_page=query["per_page"],
    )
    variant_ids = [v.id for product in result.page.items for v in product.variants]
    if buyer is not None:
        available = queries.available_to(queries.get_link(actor, buyer.link_id), variant_ids)
    else:
        available = queries.free_at(stock_services.default_location(brand), variant_ids)
    items = []
    for product in result.page.items:
        variants = []
        for variant in product.variants:
            terms = result.terms.get(variant.id) if buyer else None
            if buyer is not None and (terms is None or not terms.authorized):
                continue
            variants.append(_variant_json(variant, terms, available.get(variant.id, 0)))
        items.append(
            {
                "code": product.code,
                "name": product.name,
                "category": product.category.code,
                "season": product.season,
                "msrp_cents": product.msrp_cents,
                "variants": variants,
            }
        )
    # Built to CatalogOut's shape and sent as is: the hottest read skips the schema's dump of
    # ~750 nested SKUs (a third of the request's time at scale; bench/).
    return jsonify(result.page.as_json(items))


# -- orders --------------------------------------------------------------------------------------


@bp.post("/orders")
@require(Permission.ORDER_PLACE)
@bp.input(OrderIn, arg_name="body")
@bp.output(OrderOut, status_code=201)
@bp.doc(
    summary="Place an order with the caller's supplier",
    description="Send an `Idempotency-Key` header (up to 255 characters, kept 48 hours per "
    "org) to retry safely: a replay returns the first response (status and body); the same key "
    "with a different body is 422 `idempotency_key_reused`; while the first request is still "
    "running, 409 `idempotency_in_progress`.\n\n"
    "Refusals are 422 with the first problem's code (`unknown_sku`, `invalid_quantity`, "
    "`sku_not_authorized`, `below_moq`, `not_multiple`, `below_min_amount`, "
    "`outside_order_window`, `quota_exceeded`, `insufficient_stock` with `available`), "
    "`fields` naming each bad line as `lines.<index>`, and `problems` listing every one. "
    "A SKU listed twice is one line with the quantities added. Over the credit limit the order "
    "is accepted as `awaiting_approval`.",
    security="BearerAuth",
)
def place_order(body: dict[str, Any]):
    actor = current_actor()

    def work() -> tuple[int, dict[str, Any], int | None]:
        brand = policy_queries.get_buying_brand(actor, body["brand"])
        link = services.buyer_link(actor, brand.id, body["supplier"])
        order = services.place_order(
            actor,
            link,
            services.parse_lines(body["lines"]),
            po_number=body["po_number"],
            note=body["note"],
        )
        return 201, order_json(order), order.id

    key = request.headers.get("Idempotency-Key")
    if key is None:
        status, payload, _order_id = work()
        return payload, status
    if actor.org_id is None:  # keys are kept per org; only the system acts without one
        raise PermissionDenied()
    response = idempotency.run_once(actor.org_id, key, body, work)
    # The stored answer lasts even when it is a refusal: a retry with the key gets the same one.
    transaction.keep()
    headers = {"Idempotent-Replayed": "true"} if response.replayed else {}
    if response.status >= 400:  # an error body is not an order: a Response skips the schema
        error = jsonify(response.body)
        error.status_code = response.status
        error.headers.update(headers)
        return error
    return response.body, response.status, headers


@bp.get("/orders")
@require(Permission.ORDER_VIEW)
@bp.input(OrderQuery, location="query", arg_name="query")
@bp.output(OrderPage)
@bp.doc(
    summary="Orders the caller placed, supplies, or (read-only) of the orgs below it",
    security="BearerAuth",
)
def list_orders(query: dict[str, Any]):
    result = queries.list_orders(
        current_actor(),
        side=query["side"],
        status=query["status"],
        buyer=query["buyer"],
        page=query["page"],
        per_page=query["per_page"],
    )
    return result.as_json([_summary_json(order) for order in result.items])


@bp.get("/orders/<number>")
@require(Permission.ORDER_VIEW, load=_load_order)
@bp.output(OrderOut)
@bp.doc(summary="One order with its shipments and timeline", security="BearerAuth")
def get_order(order: Order):
    return order_json(order)


_TRANSITION_DOC = (
    "409 `invalid_transition` when the order's status does not allow it; 403 when the caller's "
    "org is not the side that may do it; 404 outside the caller's scope."
)


@bp.post("/orders/<number>/approve")
@require(Permission.ORDER_VIEW, load=_load_order)
@bp.output(OrderOut)
@bp.doc(
    summary="Approve: the supplier confirms (also over credit); the buyer org's admin releases "
    "an order held by its own rules",
    description=_TRANSITION_DOC,
    security="BearerAuth",
)
def approve(order: Order):
    actor = current_actor()
    if order.status == OrderStatus.PENDING_BUYER_APPROVAL:
        services.buyer_approve_order(actor, order)
    else:
        services.approve_order(actor, order)
    return order_json(order)


@bp.post("/orders/<number>/reject")
@require(Permission.ORDER_VIEW, load=_load_order)
@bp.input(ReasonIn, arg_name="body")
@bp.output(OrderOut)
@bp.doc(
    summary="Reject before shipping (reason required)",
    description=_TRANSITION_DOC,
    security="BearerAuth",
)
def reject(order: Order, body: dict[str, Any]):
    services.reject_order(current_actor(), order, reason=body["reason"])
    return order_json(order)


@bp.post("/orders/<number>/cancel")
@require(Permission.ORDER_PLACE, load=_load_order)
@bp.input(ReasonIn, arg_name="body")
@bp.output(OrderOut)
@bp.doc(
    summary="The buyer cancels before anything ships",
    description=_TRANSITION_DOC,
    security="BearerAuth",
)
def cancel(order: Order, body: dict[str, Any]):
    services.cancel_order(current_actor(), order, reason=body["reason"])
    return order_json(order)


@bp.post("/orders/<number>/ship")
@require(Permission.ORDER_FULFIL, load=_load_order)
@bp.input(ShipIn, arg_name="body")
@bp.output(OrderOut)
@bp.doc(
    summary="The supplier ships some or all open units",
    description="More than is open on a line is 422 naming `lines.<sku>`. " + _TRANSITION_DOC,
    security="BearerAuth",
)
def ship(order: Order, body: dict[str, Any]):
    quantities: dict[str, int] = {}
    for line in body["lines"]:
        sku = line["sku"].strip().upper()
        quantities[sku] = quantities.get(sku, 0) + line["qty"]
    services.ship_order(
        current_actor(),
        order,
        quantities,
        carrier=body["carrier"],
        tracking_number=body["tracking_number"],
    )
    return order_json(order)


@bp.post("/orders/<number>/receive")
@require(Permission.ORDER_PLACE, load=_load_order)
@bp.input(ReceiveIn, arg_name="body")
@bp.output(OrderOut)
@bp.doc(
    summary="The buyer confirms a shipment arrived (fewer units: a note is required)",
    description="Receiving a shipment twice is 409. " + _TRANSITION_DOC,
    security="BearerAuth",
)
def receive(order: Order, body: dict[str, Any]):
    actor = current_actor()
    if body["shipment"] is not None:
        shipment = queries.get_shipment(order, body["shipment"])
    else:
        waiting = [s for s in queries.shipments(order) if s.status == "shipped"]
        if not waiting:
            raise ValidationFailed(fields={"shipment": "No shipment is waiting to be received."})
        shipment = waiting[0]
    received = None
    if body["lines"] is not None:
        received = {line["sku"]: line["qty"] for line in body["lines"]}
    services.receive_shipment(actor, order, shipment, received=received, note=body["note"])
    return order_json(order)
