"""/api/v1/shop/<brand_code>: buying through the mini-program: the cart, checkout, starting the
payment, and the consumer's orders with their timeline (browsing is in `shop_browse_api`).

The routes sit on `api_shop` (portal/storefront/api.py, sign-in and addresses) so a token from
that sign-in works here, for its own brand only. Browsing is public where the storefront is
(the official one); the outlet answers a signed-in consumer of the brand only (`entry`). Prices
and amounts always come from the policy and our own order, never from the client.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, request, url_for

from portal.core.errors import DomainError
from portal.network.models import Organization
from portal.storefront import carts, checkout, hooks, orders, queries, transitions
from portal.storefront.api import bp
from portal.storefront.auth import consumer_required, signed_in_consumer
from portal.storefront.models import (
    Consumer,
    ConsumerOrder,
    ConsumerOrderStatus,
)
from portal.storefront.payments import services as payments
from portal.storefront.payments.errors import PaymentNotPayable, ProviderNotConfigured
from portal.storefront.payments.providers import provider_named
from portal.storefront.shared_views import shop_brand
from portal.storefront.shop_browse_api import entered, iso
from portal.storefront.shop_schemas import (
    ShopCancelIn,
    ShopCartAddIn,
    ShopCartOut,
    ShopCartQtyIn,
    ShopCheckoutIn,
    ShopOrderListOut,
    ShopOrderOut,
    ShopOrdersQuery,
    ShopPayIn,
    ShopPayOut,
    ShopSpendOut,
    ShopTierQuery,
)
from portal.storefront.transitions import Action

S = ConsumerOrderStatus
# The pickup code is shown once the order is paid and until it is collected or called off.
CODE_SHOWN = (S.PAID, S.PREPARING, S.READY_FOR_PICKUP)


class PaymentUnavailable(DomainError):
    code = "payment_unavailable"
    status = 503
    message = "Payment is not available in this shop right now."


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
    brand = entered(brand_code, query["tier"], consumer)
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
    brand = entered(brand_code, tier, consumer)
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
    brand = entered(brand_code, tier, consumer)
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
    brand = entered(brand_code, tier, consumer)
    carts.remove(consumer, brand, tier, line_id)
    return _cart_json(consumer, brand, tier)


# -- checkout and payment ------------------------------------------------------------------------


@bp.get("/checkout/options")
@consumer_required
@bp.input(ShopTierQuery, location="query", arg_name="query")
@bp.output(ShopSpendOut)
@bp.doc(
    summary="What a member may spend on the cart besides money",
    description="Points held and the most this cart may take (before coupons: a coupon lowers "
    "it, as points pay at most a share of the goods after coupons), the wallet's balance, and "
    "the member's coupons that apply to the storefront; all zero and empty for a non-member.",
    security="BearerAuth",
    responses=[403, 404, 422],
)
def checkout_options(brand_code: str, query: dict[str, Any]):
    consumer = signed_in_consumer()
    brand = entered(brand_code, query["tier"], consumer)
    goods = carts.priced_cart(consumer, brand, query["tier"]).total_cents
    options = hooks.spend_options(consumer, brand, query["tier"], goods)
    return {
        "points_available": options.points_available,
        "points_max": options.points_max,
        "cents_per_point": options.cents_per_point,
        "wallet_cents": options.wallet_cents,
        "coupons": [{"id": c.id, "label": c.label} for c in options.coupons],
    }


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
    "Placed from the cart, the cart is emptied. A member may spend `points`, `wallet_cents` and "
    "their `coupon_ids` (see `/checkout/options`): `total_cents` is the goods and delivery less "
    "`discount_cents`, and `pay_cents` (the total less what points and the wallet paid) is all "
    "the provider collects; when it is 0 the order is paid at once. A wrong one is 422 naming "
    "`points`, `wallet_cents` or `coupon_ids.<index>`, and nothing is spent. An optional "
    "`guide_code` credits that shopping guide with the order; a code that does not count in "
    "this shop (unknown, stopped, another brand's) is 422 naming `guide_code`. With "
    "`group_buy` (and `group` to join an open group) the order is bought in a group buy: "
    "refusals name `group_buy`, `group` or the line, a full group is 409 `group_full`, and the "
    "order, paid, stays `on_hold` until its group is complete.",
    security="BearerAuth",
    responses={
        200: "The order this token placed before (a replay)",
        403: "The storefront is not open to the consumer",
        404: "Not found",
        409: "The group buy's group is full, or group buys are off in this shop",
        422: "Refused, naming the field or line",
    },
)
def place_order(brand_code: str, body: dict[str, Any]):
    consumer = signed_in_consumer()
    brand = shop_brand(brand_code)
    tier = body["tier"]
    from_cart = body["lines"] is None
    if from_cart:
        lines = carts.priced_cart(consumer, brand, tier).checkout_lines()
    else:
        lines = [
            checkout.CheckoutLine(line["variant_id"], line["qty"], line["grade"])
            for line in body["lines"]
        ]
    # `replayed`: the token placed it before, in an earlier call or one running at the same
    # time (which spent what it spent; this call spent nothing).
    order, replayed = checkout.place(
        consumer,
        brand,
        tier,
        lines,
        fulfilment=body["fulfilment"],
        checkout_token=body["checkout_token"],
        pickup_location_id=body["pickup_location_id"],
        address_id=body["address_id"],
        delivery_method=body["delivery_method"],
        extras=hooks.CheckoutExtras(
            points=body["points"],
            wallet_cents=body["wallet_cents"],
            coupon_ids=tuple(body["coupon_ids"]),
            guide_code=body["guide_code"] or None,
            group_buy=body["group_buy"] or None,
            group=body["group"] or None,
        ),
    )
    if replayed:
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
        "created_at": iso(order.created_at),
    }


def _address_text(address: dict[str, Any] | None) -> str | None:
    if not address:
        return None
    parts = ("province", "city", "district", "line")
    return " ".join(str(address[p]) for p in parts if address.get(p))


def _order_json(order: ConsumerOrder) -> dict[str, Any]:
    payment = queries.payment_of(order)
    store = order.location.org  # the fulfilling location's org: the store (or the brand)
    return {
        **_summary_json(order),
        "goods_cents": order.goods_cents,
        "delivery_cents": order.delivery_cents,
        "discount_cents": order.discount_cents,
        "points_used": order.points_used,
        "points_cents": order.points_cents,
        "wallet_cents": order.wallet_cents,
        "pay_cents": order.pay_cents,
        "refunded_cents": order.refunded_cents,
        "delivery_method": order.delivery_method,
        "expires_at": iso(order.expires_at),
        "paid_at": iso(order.paid_at),
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
        "may_cancel": transitions.consumer_may_call_off(order),
        "on_hold": bool(order.on_hold),
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
                "at": iso(event.created_at),
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
