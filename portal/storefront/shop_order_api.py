"""/api/v1/shop/<brand_code>: buying through the mini-program. The catalog of a storefront, a
product with what sells online (and near the shopper), pickup stores near a point, the cart,
checkout, starting the payment, and the consumer's orders with their timeline.

The routes sit on `api_shop` (portal/storefront/api.py, sign-in and addresses) so a token from
that sign-in works here, for its own brand only. Browsing is public where the storefront is
(the official one); the outlet answers a signed-in consumer of the brand only (`entry`). Prices
and amounts always come from the policy and our own order, never from the client.
"""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from apiflask.fields import Boolean, Float, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range
from flask import current_app, request, url_for
from sqlalchemy import select

from portal.core.access import public
from portal.core.errors import DomainError, PermissionDenied, ValidationFailed
from portal.core.inputs import MAX_INT_ID
from portal.extensions import db
from portal.inventory.models import Grade
from portal.network.models import Organization
from portal.storefront import carts, catalog, checkout, orders, queries, stock, transitions
from portal.storefront.api import bp
from portal.storefront.auth import consumer_required, signed_in_consumer
from portal.storefront.entry import may_enter
from portal.storefront.models import (
    Consumer,
    ConsumerOrder,
    ConsumerOrderStatus,
    Fulfilment,
    Tier,
)
from portal.storefront.payments import services as payments
from portal.storefront.payments.errors import PaymentNotPayable, ProviderNotConfigured
from portal.storefront.payments.providers import provider_named
from portal.storefront.shared_views import shop_brand
from portal.storefront.transitions import Action, Who

S = ConsumerOrderStatus
TIERS = [t.value for t in Tier]
GRADES = [g.value for g in Grade]
MAX_CENTS = 10**11
MAX_LOOKUP = 50  # SKUs per availability question: a product's grid, a cart
# The pickup code is shown once the order is paid and until it is collected or called off.
CODE_SHOWN = (S.PAID, S.PREPARING, S.READY_FOR_PICKUP)


class PaymentUnavailable(DomainError):
    code = "payment_unavailable"
    status = 503
    message = "Payment is not available in this shop right now."


# -- schemas -------------------------------------------------------------------------------------


def _tier_field() -> String:
    return String(
        load_default=Tier.OFFICIAL.value,
        validate=OneOf(TIERS),
        metadata={"description": "the storefront: official (anyone), outlet (members)"},
    )


def _id_field(**kwargs: Any) -> Integer:
    return Integer(validate=Range(min=1, max=MAX_INT_ID), **kwargs)


class ShopCatalogQuery(Schema):
    tier = _tier_field()
    category = String(load_default=None, validate=Length(max=40))
    color = String(load_default=None, validate=Length(max=40))
    size = String(load_default=None, validate=Length(max=20))
    min_cents = Integer(load_default=None, validate=Range(min=0, max=MAX_CENTS))
    max_cents = Integer(load_default=None, validate=Range(min=0, max=MAX_CENTS))
    q = String(load_default=None, validate=Length(max=100))
    after = Integer(
        load_default=None,
        validate=Range(min=1, max=MAX_INT_ID),
        metadata={"description": "`next_after` of the previous page"},
    )


class ShopListedProductOut(Schema):
    id = Integer()
    code = String()
    name = String()
    image_url = String(allow_none=True)
    currency = String()
    msrp_cents = Integer()
    min_cents = Integer()
    max_cents = Integer()
    colors = List(String())


class ShopCatalogOut(Schema):
    tier = String()
    items = List(Nested(ShopListedProductOut))
    next_after = Integer(allow_none=True, metadata={"description": "null on the last page"})


class ShopPointQuery(Schema):
    tier = _tier_field()
    lat = Float(load_default=None, validate=Range(-90, 90))
    lon = Float(load_default=None, validate=Range(-180, 180))


class ShopStockOut(Schema):
    grade = String()
    sellable = Integer(metadata={"description": "units sellable online after safety stock"})
    stores = Integer(metadata={"description": "enabled stores holding some"})
    stores_near = Integer(
        allow_none=True, metadata={"description": "pickup stores near the point; null: no point"}
    )


class ShopOfferVariantOut(Schema):
    id = Integer()
    sku = String()
    color = String()
    size = String()
    price_cents = Integer()
    stock = List(Nested(ShopStockOut))


class ShopProductOut(Schema):
    tier = String()
    code = String()
    name = String()
    description = String()
    image_url = String(allow_none=True)
    currency = String()
    msrp_cents = Integer()
    min_cents = Integer()
    colors = List(String())
    sizes = List(String())
    variants = List(Nested(ShopOfferVariantOut))


class ShopAvailabilityQuery(ShopPointQuery):
    variant_id = List(
        Integer(validate=Range(min=1, max=MAX_INT_ID)),
        required=True,
        validate=Length(min=1, max=MAX_LOOKUP),
        metadata={"description": "SKU ids, repeated: `variant_id=1&variant_id=2`"},
    )
    grade = String(load_default=Grade.A.value, validate=OneOf(GRADES))


class ShopAvailabilityItemOut(ShopStockOut):
    variant_id = Integer()


class ShopAvailabilityOut(Schema):
    items = List(Nested(ShopAvailabilityItemOut))


class ShopLineIn(Schema):
    variant_id = _id_field(required=True)
    qty = Integer(required=True, validate=Range(min=1, max=checkout.MAX_QTY))
    grade = String(load_default=Grade.A.value, validate=OneOf(GRADES))


class ShopStoresIn(Schema):
    lat = Float(required=True, validate=Range(-90, 90))
    lon = Float(required=True, validate=Range(-180, 180))
    lines = List(Nested(ShopLineIn), required=True, validate=Length(min=1, max=checkout.MAX_LINES))
    limit = Integer(load_default=20, validate=Range(min=1, max=100))


class ShopStoreLineOut(Schema):
    variant_id = Integer()
    grade = String()
    free = Integer()


class ShopStoreOut(Schema):
    location_id = Integer()
    name = String()
    address = String()
    latitude = Float()
    longitude = Float()
    distance_km = Float()
    has_all = Boolean(metadata={"description": "every line in the quantity asked"})
    lines = List(Nested(ShopStoreLineOut))


class ShopStoresOut(Schema):
    items = List(Nested(ShopStoreOut))


class ShopTierQuery(Schema):
    tier = _tier_field()


class ShopCartAddIn(Schema):
    tier = _tier_field()
    variant_id = _id_field(required=True)
    grade = String(load_default=Grade.A.value, validate=OneOf(GRADES))
    qty = Integer(load_default=1, validate=Range(min=1, max=checkout.MAX_QTY))


class ShopCartQtyIn(Schema):
    tier = _tier_field()
    qty = Integer(
        required=True,
        validate=Range(min=0, max=checkout.MAX_QTY),
        metadata={"description": "the line's new quantity; 0 removes it"},
    )


class ShopCartLineOut(Schema):
    id = Integer(metadata={"description": "the line's id, for changing or removing it"})
    variant_id = Integer()
    sku = String()
    product_code = String()
    product_name = String()
    color = String()
    size = String()
    grade = String()
    qty = Integer()
    price_cents = Integer(allow_none=True, metadata={"description": "null: not sold here now"})
    line_cents = Integer(allow_none=True)
    sellable = Integer(metadata={"description": "units sellable online now"})


class ShopCartOut(Schema):
    tier = String()
    currency = String(allow_none=True)
    lines = List(Nested(ShopCartLineOut))
    total_cents = Integer(metadata={"description": "of the lines sold here now"})
    total_qty = Integer()
    can_check_out = Boolean(metadata={"description": "every line sold here, none short"})


class ShopCheckoutIn(Schema):
    tier = _tier_field()
    checkout_token = String(
        required=True,
        validate=Length(min=1, max=checkout.TOKEN_CHARS),
        metadata={"description": "made once per checkout by the client; a retry sends it again"},
    )
    fulfilment = String(required=True, validate=OneOf([f.value for f in Fulfilment]))
    pickup_location_id = _id_field(load_default=None, allow_none=True)
    address_id = _id_field(load_default=None, allow_none=True)
    lines = List(
        Nested(ShopLineIn),
        load_default=None,
        validate=Length(min=1, max=checkout.MAX_LINES),
        metadata={"description": "what to buy; left out: the storefront's cart"},
    )


class ShopPayIn(Schema):
    payer_id = String(
        load_default="",
        validate=Length(max=128),
        metadata={"description": "the payer's id at the provider where it needs one (openid)"},
    )


class ShopClientParamOut(Schema):
    name = String()
    value = String()


class ShopPayOut(Schema):
    provider = String()
    reference = String()
    redirect_url = String(metadata={"description": "follow it, when set"})
    client_params = List(
        Nested(ShopClientParamOut),
        metadata={"description": "hand to the wallet's own pay call, when set"},
    )


class ShopCancelIn(Schema):
    reason = String(load_default="", validate=Length(max=200))


class ShopOrdersQuery(Schema):
    limit = Integer(load_default=20, validate=Range(min=1, max=50))


class ShopOrderLineOut(Schema):
    variant_id = Integer()
    sku = String()
    product_code = String()
    product_name = String()
    color = String()
    size = String()
    grade = String()
    qty = Integer()
    unit_price_cents = Integer()
    line_cents = Integer()


class ShopEventOut(Schema):
    kind = String()
    label = String()
    from_status = String()
    to_status = String()
    by_consumer = Boolean()
    at = String()


class ShopStoreRefOut(Schema):
    location_id = Integer()
    name = String()
    address = String()


class ShopOrderSummaryOut(Schema):
    number = String()
    tier = String()
    status = String()
    status_label = String()
    fulfilment = String()
    currency = String()
    total_cents = Integer()
    total_qty = Integer()
    created_at = String()


class ShopOrderOut(ShopOrderSummaryOut):
    goods_cents = Integer()
    delivery_cents = Integer()
    expires_at = String(allow_none=True, metadata={"description": "unpaid by then: cancelled"})
    paid_at = String(allow_none=True)
    pickup_code = String(allow_none=True, metadata={"description": "from payment to pickup"})
    store = Nested(ShopStoreRefOut)
    address = String(allow_none=True)
    carrier = String()
    tracking_number = String()
    cancel_reason = String()
    payment_status = String(allow_none=True)
    may_pay = Boolean()
    may_cancel = Boolean()
    lines = List(Nested(ShopOrderLineOut))
    events = List(Nested(ShopEventOut))


class ShopOrderItemOut(ShopOrderSummaryOut):
    """One order in a list (its own name: apispec refuses one schema both nested and alone)."""


class ShopOrderListOut(Schema):
    items = List(Nested(ShopOrderItemOut))


# -- helpers -------------------------------------------------------------------------------------


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def _entered(brand_code: str, tier: str, consumer: Consumer | None = None) -> Organization:
    brand = shop_brand(brand_code)
    if not may_enter(brand, tier, consumer):
        raise PermissionDenied("This storefront is not open to you.")
    return brand


def _image_url(brand: Organization, code: str, has_image: bool) -> str | None:
    if not has_image:
        return None
    return url_for("storefront.product_image", brand_code=brand.code, code=code)


def _point(query: dict[str, Any]) -> tuple[float, float] | None:
    lat, lon = query.get("lat"), query.get("lon")
    if lat is None and lon is None:
        return None
    if lat is None or lon is None:
        missing = "lon" if lon is None else "lat"
        raise ValidationFailed(fields={missing: "Send both lat and lon, or neither."})
    return float(lat), float(lon)


def _grades(tier: str) -> list[str]:
    # Grade-B units sell in the employee store only (checkout refuses them elsewhere).
    return [Grade.A.value, Grade.B.value] if tier == Tier.EMPLOYEE else [Grade.A.value]


def _stock_json(found: stock.VariantAvailability, grade: str) -> dict[str, Any]:
    return {
        "grade": grade,
        "sellable": found.sellable,
        "stores": found.stores,
        "stores_near": found.stores_near,
    }


# -- browsing ------------------------------------------------------------------------------------


@bp.get("/catalog")
@public
@bp.input(ShopCatalogQuery, location="query", arg_name="query")
@bp.output(ShopCatalogOut)
@bp.doc(
    summary="One page of a storefront's products, newest first",
    description="Filters: category code, colour, size, price range in fen, `q` (name or code). "
    "Pages are keyed: send `next_after` as `after`. The outlet answers a bearer token of the "
    "brand's consumers only (403 otherwise).",
    responses=[403, 404, 422],
)
def list_catalog(brand_code: str, query: dict[str, Any]):
    brand = _entered(brand_code, query["tier"])
    filters = catalog.Filters(
        category=query["category"],
        color=query["color"],
        size=query["size"],
        min_cents=query["min_cents"],
        max_cents=query["max_cents"],
        q=query["q"],
    )
    page = catalog.list_products(brand.id, query["tier"], filters, after=query["after"])
    return {
        "tier": page.tier,
        "items": [
            {
                "id": item.id,
                "code": item.code,
                "name": item.name,
                "image_url": _image_url(brand, item.code, item.has_image),
                "currency": item.currency,
                "msrp_cents": item.msrp_cents,
                "min_cents": item.min_cents,
                "max_cents": item.max_cents,
                "colors": item.colors,
            }
            for item in page.items
        ],
        "next_after": page.next_after,
    }


@bp.get("/products/<code>")
@public
@bp.input(ShopPointQuery, location="query", arg_name="query")
@bp.output(ShopProductOut)
@bp.doc(
    summary="A product of a storefront: its SKUs as a colour x size grid, priced, with stock",
    description="Per SKU: units sellable online and the stores holding them; with `lat` and "
    "`lon`, also how many pickup stores near that point hold them. A product the storefront "
    "does not sell is 404.",
    responses=[403, 404, 422],
)
def get_product(brand_code: str, code: str, query: dict[str, Any]):
    tier = query["tier"]
    brand = _entered(brand_code, tier)
    near = _point(query)
    offer = catalog.get_offer(brand.id, tier, code)
    variants = list(offer.grid.cells.values())
    found = {
        grade: stock.availability(brand, variants, grade=grade, near=near)
        for grade in _grades(tier)
    }
    product = offer.product
    return {
        "tier": tier,
        "code": product.code,
        "name": product.name,
        "description": product.description or "",
        "image_url": _image_url(brand, product.code, bool(product.image_path)),
        "currency": offer.currency,
        "msrp_cents": product.msrp_cents,
        "min_cents": offer.min_cents,
        "colors": offer.grid.colors,
        "sizes": offer.grid.sizes,
        "variants": [
            {
                "id": v.id,
                "sku": v.sku,
                "color": v.color,
                "size": v.size,
                "price_cents": offer.prices[v.id],
                "stock": [_stock_json(found[g][v.id], g) for g in found],
            }
            for v in sorted(variants, key=lambda v: v.id)
        ],
    }


@bp.get("/availability")
@public
@bp.input(ShopAvailabilityQuery, location="query", arg_name="query")
@bp.output(ShopAvailabilityOut)
@bp.doc(
    summary="What sells online of some SKUs, and near a point",
    description="Per SKU asked (another brand's or an unknown one: 0): units sellable online "
    "after safety stock, enabled stores holding some and, with `lat` and `lon`, pickup stores "
    "near that point holding some.",
    responses=[403, 404, 422],
)
def availability(brand_code: str, query: dict[str, Any]):
    tier, grade = query["tier"], query["grade"]
    brand = _entered(brand_code, tier)
    if grade not in _grades(tier):
        raise ValidationFailed(fields={"grade": "Grade-B items are sold in the employee store."})
    found = stock.availability(brand, query["variant_id"], grade=grade, near=_point(query))
    return {
        "items": [
            {"variant_id": variant_id, **_stock_json(item, grade)}
            for variant_id, item in found.items()
        ]
    }


@bp.post("/pickup-stores")
@public
@bp.input(ShopStoresIn, arg_name="body")
@bp.output(ShopStoresOut)
@bp.doc(
    summary="Pickup stores nearest a point, each saying whether it has every line",
    description="A question, not a change (POST for its list of lines). Stores are the brand's "
    "enabled pickup stores, nearest first by great-circle distance; `lines` tells what each "
    "can sell of every line after its safety stock.",
    responses=[404, 422],
)
def pickup_stores(brand_code: str, body: dict[str, Any]):
    brand = shop_brand(brand_code)
    wanted: dict[tuple[int, str], int] = {}
    for line in body["lines"]:
        key = (line["variant_id"], line["grade"])
        wanted[key] = wanted.get(key, 0) + line["qty"]
    if any(qty > checkout.MAX_QTY for qty in wanted.values()):
        raise ValidationFailed(fields={"lines": f"At most {checkout.MAX_QTY} of one item."})
    found = stock.stores_near(brand, body["lat"], body["lon"], wanted, limit=body["limit"])
    return {
        "items": [
            {
                "location_id": store.location_id,
                "name": store.name,
                "address": store.address or "",
                "latitude": store.latitude,
                "longitude": store.longitude,
                "distance_km": store.distance_km,
                "has_all": store.has_all,
                "lines": [
                    {"variant_id": variant_id, "grade": grade, "free": free}
                    for (variant_id, grade), free in store.free.items()
                ],
            }
            for store in found
        ]
    }


# -- the cart ------------------------------------------------------------------------------------


def _cart_json(consumer: Consumer, brand: Organization, tier: str) -> dict[str, Any]:
    cart = carts.priced_cart(consumer, brand, tier)
    return {
        "tier": tier,
        "currency": cart.currency,
        "lines": [
            {
                "id": row.line_id,
                "variant_id": row.variant.id,
                "sku": row.variant.sku,
                "product_code": row.variant.product.code,
                "product_name": row.variant.product.name,
                "color": row.variant.color,
                "size": row.variant.size,
                "grade": row.grade,
                "qty": row.qty,
                "price_cents": row.cents,
                "line_cents": row.line_cents if row.is_listed else None,
                "sellable": row.sellable,
            }
            for row in cart.rows
        ],
        "total_cents": cart.total_cents,
        "total_qty": cart.total_qty,
        "can_check_out": cart.can_check_out,
    }


@bp.get("/cart")
@consumer_required
@bp.input(ShopTierQuery, location="query", arg_name="query")
@bp.output(ShopCartOut)
@bp.doc(
    summary="The consumer's cart in a storefront, priced now",
    description="Prices are resolved when asked, never stored; a line the storefront no longer "
    "sells has a null price and is left out of the total, and checkout refuses it.",
    security="BearerAuth",
    responses=[403, 404, 422],
)
def get_cart(brand_code: str, query: dict[str, Any]):
    consumer = signed_in_consumer()
    brand = _entered(brand_code, query["tier"], consumer)
    return _cart_json(consumer, brand, query["tier"])


@bp.post("/cart/lines")
@consumer_required
@bp.input(ShopCartAddIn, arg_name="body")
@bp.output(ShopCartOut)
@bp.doc(
    summary="Put some of a SKU in the cart (added to what the cart holds of it)",
    description="A SKU the storefront does not sell now is 422 naming `variant_id`; more than "
    "can be sold online, 422 naming `qty` and saying how many can.",
    security="BearerAuth",
    responses=[403, 404, 422],
)
def add_cart_line(brand_code: str, body: dict[str, Any]):
    consumer = signed_in_consumer()
    tier = body["tier"]
    brand = _entered(brand_code, tier, consumer)
    carts.add(consumer, brand, tier, body["variant_id"], body["qty"], grade=body["grade"])
    return _cart_json(consumer, brand, tier)


@bp.put("/cart/lines/<int:line_id>")
@consumer_required
@bp.input(ShopCartQtyIn, arg_name="body")
@bp.output(ShopCartOut)
@bp.doc(
    summary="Set a cart line's quantity (0 removes it)",
    description="More than can be sold online is 422 naming `qty.<line id>` and saying how "
    "many can. Another consumer's line, or one of another storefront's cart, is 404.",
    security="BearerAuth",
    responses=[403, 404, 422],
)
def set_cart_line(brand_code: str, line_id: int, body: dict[str, Any]):
    consumer = signed_in_consumer()
    tier = body["tier"]
    brand = _entered(brand_code, tier, consumer)
    carts.set_qty(consumer, brand, tier, line_id, body["qty"])
    return _cart_json(consumer, brand, tier)


@bp.delete("/cart/lines/<int:line_id>")
@consumer_required
@bp.input(ShopTierQuery, location="query", arg_name="query")
@bp.output(ShopCartOut)
@bp.doc(
    summary="Remove a line from the cart",
    description="Another consumer's line, or one of another storefront's cart, is 404.",
    security="BearerAuth",
    responses=[403, 404, 422],
)
def remove_cart_line(brand_code: str, line_id: int, query: dict[str, Any]):
    consumer = signed_in_consumer()
    tier = query["tier"]
    brand = _entered(brand_code, tier, consumer)
    carts.remove(consumer, brand, tier, line_id)
    return _cart_json(consumer, brand, tier)


# -- checkout and payment ------------------------------------------------------------------------


@bp.post("/checkout")
@consumer_required
@bp.input(ShopCheckoutIn, arg_name="body")
@bp.output(ShopOrderOut, status_code=201)
@bp.doc(
    summary="Place the order: the cart (or the lines sent) at the policy's prices",
    description="Units are reserved at the pickup store chosen (`pickup_location_id`, from "
    "`/pickup-stores`) or, for delivery to one of the consumer's addresses (`address_id`, with "
    "coordinates), at the location the routing rule picks. The order waits for payment for "
    "CONSUMER_ORDER_PAY_MINUTES. `checkout_token` makes a retry safe: the same token again "
    "answers 200 with the order it placed, never a second order. Refusals name the field or "
    "the line (`lines.<index>`); too few units is 422 `insufficient_stock` with `available`. "
    "Placed from the cart, the cart is emptied.",
    security="BearerAuth",
    responses={
        200: "The order this token placed before (a replay)",
        403: "The storefront is not open to the consumer",
        404: "Not found",
        422: "Refused, naming the field or line",
    },
)
def place_order(brand_code: str, body: dict[str, Any]):
    consumer = signed_in_consumer()
    brand = shop_brand(brand_code)
    tier = body["tier"]
    replay = carts.find_placed(consumer, body["checkout_token"].strip()) is not None
    from_cart = body["lines"] is None
    if from_cart:
        lines = carts.priced_cart(consumer, brand, tier).checkout_lines()
    else:
        lines = [
            checkout.CheckoutLine(line["variant_id"], line["qty"], line["grade"])
            for line in body["lines"]
        ]
    order = checkout.checkout(
        consumer,
        brand,
        tier,
        lines,
        fulfilment=body["fulfilment"],
        checkout_token=body["checkout_token"],
        pickup_location_id=body["pickup_location_id"],
        address_id=body["address_id"],
    )
    if replay:
        return _order_json(order), 200
    if from_cart:
        carts.clear(consumer, tier)
    return _order_json(order), 201


def _absolute(path: str) -> str:
    return str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/") + path


def _notify_url(order: ConsumerOrder, provider: str) -> str:
    """Where the provider posts its notice: the storefront's callback route."""
    return _absolute(
        url_for("storefront.pay_notify", brand_code=order.brand.code, provider=provider)
    )


def _return_url(order: ConsumerOrder) -> str:
    """Where a provider's page sends the consumer back: the order's page in the shop."""
    return _absolute(
        url_for("storefront.consumer_order", brand_code=order.brand.code, number=order.number)
    )


@bp.post("/orders/<number>/pay")
@consumer_required
@bp.input(ShopPayIn, arg_name="body")
@bp.output(ShopPayOut)
@bp.doc(
    summary="Start paying an order awaiting payment",
    description="The amount is the order's own. The answer says what the front end does next: "
    "follow `redirect_url`, or hand `client_params` to the wallet. May be asked again until "
    "the order is paid or expires; after that 409 `payment_not_payable`.",
    security="BearerAuth",
    responses=[404, 409, 422, 502, 503],
)
def start_payment(brand_code: str, number: str, body: dict[str, Any]):
    consumer = signed_in_consumer()
    shop_brand(brand_code)
    order = queries.get_own_order(consumer, number)
    payment = queries.payment_of(order)
    if payment is None or order.status != S.AWAITING_PAYMENT:
        raise PaymentNotPayable()
    try:
        # The provider the payment was made with, whatever the brand's choice is now.
        provider = provider_named(payment.provider)
    except ProviderNotConfigured as error:
        current_app.logger.error("payment %s: %s", payment.reference, error)
        raise PaymentUnavailable() from error
    started = payments.start_payment(
        payment,
        provider,
        description=f"{order.brand.name} {order.number}"[:120],
        notify_url=_notify_url(order, payment.provider),
        return_url=_return_url(order),
        payer_id=body["payer_id"],
        client_ip=request.remote_addr or "",
    )
    return {
        "provider": started.provider,
        "reference": started.reference,
        "redirect_url": started.redirect_url,
        "client_params": [
            {"name": name, "value": str(value)} for name, value in started.client_params.items()
        ],
    }


# -- orders --------------------------------------------------------------------------------------


def _summary_json(order: ConsumerOrder) -> dict[str, Any]:
    return {
        "number": order.number,
        "tier": order.tier,
        "status": order.status,
        "status_label": str(transitions.STATUS_LABELS.get(S(order.status), order.status)),
        "fulfilment": order.fulfilment,
        "currency": order.currency,
        "total_cents": order.total_cents,
        "total_qty": order.total_qty,
        "created_at": _iso(order.created_at),
    }


def _address_text(address: dict[str, Any] | None) -> str | None:
    if not address:
        return None
    parts = ("province", "city", "district", "line")
    return " ".join(str(address[p]) for p in parts if address.get(p))


def _order_json(order: ConsumerOrder) -> dict[str, Any]:
    payment = queries.payment_of(order)
    store = db.session.execute(
        select(Organization.name, Organization.address).where(
            Organization.id == order.location.org_id
        )
    ).one()
    return {
        **_summary_json(order),
        "goods_cents": order.goods_cents,
        "delivery_cents": order.delivery_cents,
        "expires_at": _iso(order.expires_at),
        "paid_at": _iso(order.paid_at),
        "pickup_code": order.pickup_code if order.status in CODE_SHOWN else None,
        "store": {
            "location_id": order.location_id,
            "name": store.name,
            "address": store.address or "",
        },
        "address": _address_text(order.address),
        "carrier": order.carrier,
        "tracking_number": order.tracking_number,
        "cancel_reason": order.cancel_reason,
        "payment_status": payment.status if payment is not None else None,
        "may_pay": order.status == S.AWAITING_PAYMENT and payment is not None,
        "may_cancel": transitions.may(order, Action.CANCEL, Who.CONSUMER)
        or transitions.may(order, Action.REFUND, Who.CONSUMER),
        "lines": [
            {
                "variant_id": line.variant_id,
                "sku": line.variant.sku,
                "product_code": line.variant.product.code,
                "product_name": line.variant.product.name,
                "color": line.variant.color,
                "size": line.variant.size,
                "grade": line.grade,
                "qty": line.qty,
                "unit_price_cents": line.unit_price_cents,
                "line_cents": line.line_cents,
            }
            for line in order.lines
        ],
        "events": [
            {
                "kind": event.kind,
                "label": str(transitions.EVENT_LABELS.get(Action(event.kind), event.kind)),
                "from_status": event.from_status,
                "to_status": event.to_status,
                "by_consumer": event.by_consumer,
                "at": _iso(event.created_at),
            }
            for event in order.events
        ],
    }


@bp.get("/orders")
@consumer_required
@bp.input(ShopOrdersQuery, location="query", arg_name="query")
@bp.output(ShopOrderListOut)
@bp.doc(summary="The consumer's orders in this brand, newest first", security="BearerAuth")
def list_orders(brand_code: str, query: dict[str, Any]):
    rows = queries.list_own_orders(signed_in_consumer(), limit=query["limit"])
    return {"items": [_summary_json(order) for order in rows]}


@bp.get("/orders/<number>")
@consumer_required
@bp.output(ShopOrderOut)
@bp.doc(
    summary="One of the consumer's orders: lines, status, pickup code and timeline",
    description="Anyone else's order is 404.",
    security="BearerAuth",
)
def get_order(brand_code: str, number: str):
    return _order_json(queries.get_own_order(signed_in_consumer(), number))


@bp.post("/orders/<number>/cancel")
@consumer_required
@bp.input(ShopCancelIn, arg_name="body")
@bp.output(ShopOrderOut)
@bp.doc(
    summary="Call the order off",
    description="Before payment it is cancelled; paid but not yet taken on by the store, it is "
    "refunded in full. Either way its units go back. Later, 409 `invalid_transition`.",
    security="BearerAuth",
    responses=[404, 409, 422],
)
def cancel_order(brand_code: str, number: str, body: dict[str, Any]):
    consumer = signed_in_consumer()
    order = orders.cancel(
        consumer, queries.get_own_order(consumer, number), reason=body["reason"].strip()
    )
    return _order_json(order)
