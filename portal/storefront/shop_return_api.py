"""/api/v1/shop/<brand_code>/orders/<number>/returns: the mini-program asks to send back goods
of a completed order and lists the order's returns. Routes join `api_shop` (a consumer token of
the brand); another consumer's order is 404. What is refunded comes from the order's lines."""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from apiflask.fields import DateTime, Integer, List, Nested, String
from apiflask.validators import Length, Range

from portal.core.inputs import MAX_INT_ID
from portal.storefront import queries, returns
from portal.storefront.api import bp
from portal.storefront.auth import consumer_required, signed_in_consumer
from portal.storefront.models import ConsumerOrder
from portal.storefront.return_models import ConsumerReturn
from portal.storefront.returns import ReturnLineInput

MAX_RETURN_LINES = 100


class ShopReturnLineIn(Schema):
    order_line_id = Integer(required=True, validate=Range(min=1, max=MAX_INT_ID))
    qty = Integer(required=True, validate=Range(min=1, max=100_000))


class ShopReturnIn(Schema):
    lines = List(
        Nested(ShopReturnLineIn), required=True, validate=Length(min=1, max=MAX_RETURN_LINES)
    )
    reason = String(load_default="", validate=Length(max=200))


class ShopReturnLineOut(Schema):
    order_line_id = Integer()
    variant_id = Integer()
    sku = String()
    qty = Integer()
    unit_price_cents = Integer()
    grade = String(allow_none=True, metadata={"description": "A or B once inspected"})


class ShopReturnOut(Schema):
    number = String()
    status = String(metadata={"description": "requested, received, refunded or rejected"})
    reason = String()
    currency = String()
    refund_cents = Integer()
    reject_reason = String()
    requested_at = DateTime()
    received_at = DateTime(allow_none=True)
    refunded_at = DateTime(allow_none=True)
    rejected_at = DateTime(allow_none=True)
    lines = List(Nested(ShopReturnLineOut))


class ShopReturnItemOut(ShopReturnOut):
    """The same fields in the list (its own class: one schema is one component of the spec)."""


class ShopReturnListOut(Schema):
    return_until = DateTime(
        allow_none=True, metadata={"description": "null when the order cannot be returned"}
    )
    returns = List(Nested(ShopReturnItemOut))


def _return_json(found: ConsumerReturn) -> dict[str, Any]:
    return {
        "number": found.number,
        "status": found.status,
        "reason": found.reason,
        "currency": found.currency,
        "refund_cents": found.refund_cents,
        "reject_reason": found.reject_reason,
        "requested_at": found.requested_at,
        "received_at": found.received_at,
        "refunded_at": found.refunded_at,
        "rejected_at": found.rejected_at,
        "lines": [
            {
                "order_line_id": line.order_line_id,
                "variant_id": line.variant_id,
                "sku": line.order_line.variant.sku,
                "qty": line.qty,
                "unit_price_cents": line.unit_price_cents,
                "grade": line.grade,
            }
            for line in found.lines
        ],
    }


def _list_json(order: ConsumerOrder) -> dict[str, Any]:
    return {
        "return_until": returns.return_deadline(order) if returns.may_return(order) else None,
        "returns": [_return_json(found) for found in returns.list_order_returns(order)],
    }


@bp.get("/orders/<number>/returns")
@consumer_required
@bp.output(ShopReturnListOut)
@bp.doc(
    summary="The order's returns, and until when more may be asked",
    description="Anyone else's order is 404.",
    security="BearerAuth",
)
def list_returns(brand_code: str, number: str):
    return _list_json(queries.get_own_order(signed_in_consumer(), number))


@bp.post("/orders/<number>/returns")
@consumer_required
@bp.input(ShopReturnIn, arg_name="body")
@bp.output(ShopReturnOut, status_code=201)
@bp.doc(
    summary="Ask to send back goods of a completed order",
    description="Only a completed order, within the return window (409 `return_conflict`). "
    "A line asking for more than was bought less what is already asked back is 422 naming "
    "`lines.<i>.qty`. The store that fulfilled the order receives, inspects and refunds.",
    security="BearerAuth",
    responses=[404, 409, 422],
)
def request_return(brand_code: str, number: str, body: dict[str, Any]):
    consumer = signed_in_consumer()
    order = queries.get_own_order(consumer, number)
    created = returns.request_return(
        consumer,
        order,
        [ReturnLineInput(line["order_line_id"], line["qty"]) for line in body["lines"]],
        reason=body["reason"],
    )
    return _return_json(created)
