"""The shop API's request and answer shapes (shop_browse_api.py, shop_order_api.py), with the
limits that make a bad body a 422 naming its field."""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from apiflask.fields import Boolean, Float, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range

from portal.core.inputs import MAX_INT_ID
from portal.inventory.models import Grade
from portal.storefront import checkout
from portal.storefront.models import DeliveryMethod, Fulfilment, Tier

TIERS = [t.value for t in Tier]
GRADES = [g.value for g in Grade]
MAX_CENTS = 10**11
MAX_LOOKUP = 50  # SKUs per availability question: a product's grid, a cart


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
    delivery_method = String(
        load_default=None,
        allow_none=True,
        validate=OneOf([m.value for m in DeliveryMethod]),
        metadata={"description": "delivery only: parcel (left out) or same_city by courier"},
    )
    lines = List(
        Nested(ShopLineIn),
        load_default=None,
        validate=Length(min=1, max=checkout.MAX_LINES),
        metadata={"description": "what to buy; left out: the storefront's cart"},
    )
    # Whole numbers only: 1.5 points or 10.5 fen is refused, never rounded to something else.
    points = Integer(
        load_default=0,
        strict=True,
        validate=Range(0, 10**9),
        metadata={"description": "points to redeem (members; capped by the programme's terms)"},
    )
    wallet_cents = Integer(
        load_default=0,
        strict=True,
        validate=Range(0, MAX_CENTS),
        metadata={"description": "stored value to use, in fen (members)"},
    )
    coupon_ids = List(
        _id_field(),
        load_default=list,
        validate=Length(max=10),
        metadata={"description": "the member's own coupons to apply"},
    )
    guide_code = String(
        load_default=None,
        allow_none=True,
        validate=Length(max=20),
        metadata={
            "description": "a shopping guide's code (optional); one that does not count in "
            "this shop is 422 naming `guide_code`"
        },
    )
    group_buy = String(
        load_default=None,
        allow_none=True,
        validate=Length(max=32),
        metadata={
            "description": "a group buy's code: the lines (SKUs of its product only) cost its "
            "group price, and the order is held until its group is complete"
        },
    )
    group = String(
        load_default=None,
        allow_none=True,
        validate=Length(max=16),
        metadata={
            "description": "with `group_buy`: the code of the open group to join (left out: the "
            "order opens a new group); a full group is 409 `group_full`"
        },
    )


class ShopCouponChoiceOut(Schema):
    id = Integer()
    label = String()


class ShopSpendOut(Schema):
    points_available = Integer()
    points_max = Integer(metadata={"description": "the most points this order may take"})
    cents_per_point = Integer()
    wallet_cents = Integer()
    coupons = List(Nested(ShopCouponChoiceOut))


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
    discount_cents = Integer(metadata={"description": "taken off by coupons"})
    points_used = Integer()
    points_cents = Integer(metadata={"description": "paid with points"})
    wallet_cents = Integer(metadata={"description": "paid from the wallet"})
    pay_cents = Integer(metadata={"description": "what the payment provider collects"})
    refunded_cents = Integer()
    delivery_method = String(allow_none=True)
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
    on_hold = Boolean(
        metadata={"description": "paid, but waiting for its group buy's group to be complete"}
    )
    lines = List(Nested(ShopOrderLineOut))
    events = List(Nested(ShopEventOut))


class ShopOrderItemOut(ShopOrderSummaryOut):
    """One order in a list (its own name: apispec refuses one schema both nested and alone)."""


class ShopOrderListOut(Schema):
    items = List(Nested(ShopOrderItemOut))
