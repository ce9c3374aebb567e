"""The models of /api/v1/catalog and /api/v1/orders: what a client sends (`*In`, `*Query`) and
gets back (`*Out`). Their class names are the OpenAPI document's schema names."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import Integer, List, Nested, Raw, String
from apiflask.validators import Length, OneOf, Range

from portal.core.pagination import MAX_PAGE
from portal.ordering import services
from portal.ordering.models import OrderStatus


class CatalogQuery(Schema):
    brand = String(load_default=None, validate=Length(max=32))
    q = String(load_default=None, validate=Length(max=100))
    category = String(load_default=None, validate=Length(max=40))
    season = String(load_default=None, validate=Length(max=20))
    as_org = String(
        load_default=None,
        data_key="as",
        validate=Length(max=32),
        metadata={"description": "HQ only: see the catalog as this org"},
    )
    page = Integer(load_default=1, validate=Range(min=1, max=MAX_PAGE))
    per_page = Integer(load_default=24, validate=Range(min=1, max=200))


class VariantOut(Schema):
    sku = String()
    color = String()
    size = String()
    barcode = String()
    price_cents = Integer(allow_none=True)
    currency = String()
    moq = Integer()
    multiple = Integer()
    case_pack = Integer()
    floor_price_cents = Integer(allow_none=True)
    available = Integer(
        metadata={
            "description": "units the caller can order now from its supplier's location (for "
            "allocated SKUs: what is left of its quota); HQ: free stock at its own warehouse"
        }
    )


class ProductOut(Schema):
    code = String()
    name = String()
    category = String()
    season = String()
    msrp_cents = Integer()
    variants = List(Nested(VariantOut))


class CatalogOut(Schema):
    items = List(Nested(ProductOut))
    page = Integer()
    per_page = Integer()
    total = Integer()


class LineIn(Schema):
    sku = String(required=True, validate=Length(min=1, max=64))
    qty = Integer(
        required=True,
        strict=True,
        validate=Range(min=1, max=services.MAX_LINE_QTY),
        metadata={"description": "whole units, at least 1"},
    )


class OrderIn(Schema):
    brand = String(required=True, validate=Length(min=1, max=32))
    supplier = String(
        load_default=None,
        validate=Length(max=32),
        metadata={"description": "the caller's supplier for the brand (the default)"},
    )
    lines = List(Nested(LineIn), required=True, validate=Length(min=1, max=services.MAX_LINES))
    po_number = String(load_default="", validate=Length(max=64))
    note = String(load_default="", validate=Length(max=500))


class OrderLineOut(Schema):
    sku = String()
    qty = Integer()
    unit_price_cents = Integer()
    line_total_cents = Integer()
    shipped_qty = Integer()
    received_qty = Integer()
    returned_qty = Integer()
    policy_version_id = Integer(allow_none=True)


class ShipmentLineOut(Schema):
    sku = String()
    qty = Integer()
    received_qty = Integer()


class ShipmentOut(Schema):
    seq = Integer()
    status = String()
    carrier = String()
    tracking_number = String()
    shipped_at = String()
    received_at = String(allow_none=True)
    lines = List(Nested(ShipmentLineOut))


class EventOut(Schema):
    kind = String()
    from_status = String()
    to_status = String()
    note = String()
    details = Raw()
    actor_org = String(allow_none=True)
    at = String()


class OrderOut(Schema):
    number = String()
    brand = String()
    buyer = String()
    supplier = String()
    kind = String()
    status = String(metadata={"enum": [s.value for s in OrderStatus]})
    hold_reason = String(metadata={"description": "why it waits: credit, amount or spending_limit"})
    lines = List(Nested(OrderLineOut))
    total_cents = Integer()
    currency = String()
    po_number = String()
    note = String()
    policy_version_id = Integer(allow_none=True)
    submitted_at = String(allow_none=True)
    shipments = List(Nested(ShipmentOut))
    events = List(Nested(EventOut))


class OrderSummaryOut(Schema):
    number = String()
    brand = String()
    buyer = String()
    supplier = String()
    kind = String()
    status = String()
    total_cents = Integer()
    currency = String()
    submitted_at = String(allow_none=True)


class OrderPage(Schema):
    items = List(Nested(OrderSummaryOut))
    page = Integer()
    per_page = Integer()
    total = Integer()


class OrderQuery(Schema):
    status = String(load_default=None, validate=OneOf([s.value for s in OrderStatus]))
    side = String(load_default="", validate=OneOf(["", "buying", "selling"]))
    buyer = String(load_default=None, validate=Length(max=32))
    page = Integer(load_default=1, validate=Range(min=1, max=MAX_PAGE))
    per_page = Integer(load_default=50, validate=Range(min=1, max=200))


class ReasonIn(Schema):
    reason = String(load_default="", validate=Length(max=500))


class ShipIn(Schema):
    lines = List(Nested(LineIn), required=True, validate=Length(min=1, max=services.MAX_LINES))
    carrier = String(load_default="", validate=Length(max=60))
    tracking_number = String(load_default="", validate=Length(max=80))


class ReceiveLineIn(Schema):
    sku = String(required=True, validate=Length(min=1, max=64))
    qty = Integer(required=True, strict=True, validate=Range(min=0, max=services.MAX_LINE_QTY))


class ReceiveIn(Schema):
    shipment = Integer(
        load_default=None,
        validate=Range(min=1, max=10_000),
        metadata={
            "description": "the shipment's number within the order (default: the oldest "
            "not yet received)"
        },
    )
    lines = List(
        Nested(ReceiveLineIn),
        load_default=None,
        metadata={"description": "units that arrived, when fewer than shipped"},
    )
    note = String(load_default="", validate=Length(max=500))
