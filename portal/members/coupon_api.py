"""The consumer's coupons through the API (a mini-program): their coupons in a brand's shop, and
claiming one by the code of its link. A consumer's bearer token from the shop's sign-in
(`/api/v1/shop/<brand_code>/token`), good for its own brand only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apiflask import Schema
from apiflask.fields import Boolean, Integer, List, Nested, String

from portal.members import coupons
from portal.members.api import bp
from portal.storefront.auth import consumer_required, signed_in_consumer
from portal.storefront.shops import shop_brand

__all__ = ["bp"]


class CouponOut(Schema):
    id = Integer()
    template_id = Integer()
    name = String()
    label = String(metadata={"description": "what it takes off, in the request's language"})
    description = String()
    where = String(metadata={"description": "the storefronts and items it counts for"})
    state = String(metadata={"description": "usable, upcoming (not yet valid), used or expired"})
    valid_from = String()
    valid_until = String(metadata={"description": "the moment it stops counting (exclusive)"})
    stackable = Boolean(metadata={"description": "false: used alone on an order"})
    tiers = List(String())
    order_number = String(allow_none=True, metadata={"description": "the order that used it"})
    discount_cents = Integer(metadata={"description": "what it took off that order"})


class ClaimableOut(Schema):
    code = String(metadata={"description": "claim it at /coupons/<code>/claim"})
    name = String()
    label = String()


class CouponListOut(Schema):
    member = Boolean(metadata={"description": "false: not a member; coupons are for members"})
    coupons = List(Nested(CouponOut))
    claimable = List(Nested(ClaimableOut))


class ClaimOut(Schema):
    coupon = Nested(CouponOut)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _coupon_json(coupon: coupons.HeldCoupon) -> dict[str, Any]:
    return {
        "id": coupon.id,
        "template_id": coupon.template_id,
        "name": coupon.name,
        "label": coupon.label,
        "description": coupon.description,
        "where": coupon.where,
        "state": coupon.state,
        "valid_from": _iso(coupon.valid_from),
        "valid_until": _iso(coupon.valid_until),
        "stackable": coupon.is_stackable,
        "tiers": list(coupon.tiers),
        "order_number": coupon.order_number,
        "discount_cents": coupon.discount_cents,
    }


@bp.get("/shop/<brand_code>/member/coupons")
@consumer_required
@bp.output(CouponListOut)
@bp.doc(
    tags=["Shop"],
    summary="The consumer's coupons in this brand's shop, newest first",
    description="Every coupon the member holds of this brand (usable, upcoming, used with its "
    "order, expired), and the coupons on offer that they may claim now. A consumer who has "
    "not joined the membership gets `member: false` and empty lists.",
    security="BearerAuth",
    responses=[404],
)
def coupon_list_mine(brand_code: str):
    brand = shop_brand(brand_code)
    consumer = signed_in_consumer()
    member = coupons.member_of_shop(brand, consumer)
    if member is None:
        return {"member": False, "coupons": [], "claimable": []}
    return {
        "member": True,
        "coupons": [_coupon_json(c) for c in coupons.member_coupons(member, brand.id)],
        "claimable": [
            {"code": t.code, "name": t.name, "label": coupons.label(t)}
            for t in coupons.claimable_templates(brand, consumer)
        ],
    }


@bp.post("/shop/<brand_code>/coupons/<code>/claim")
@consumer_required
@bp.output(ClaimOut, status_code=201)
@bp.doc(
    tags=["Shop"],
    summary="Claim a coupon by the code of its link",
    description="The code is the last part of a coupon's shared link "
    "(`/shop/<brand>/coupons/<code>`). A template that is not claimed (issued by HQ only), or "
    "no such code, is 404. Refused with 422 `coupon_refused`, saying why in `fields.code`: not "
    "a member, no longer given out, validity ended, none left, or the member already holds as "
    "many as one may.",
    security="BearerAuth",
    responses=[404, 422],
)
def coupon_claim(brand_code: str, code: str):
    brand = shop_brand(brand_code)
    consumer = signed_in_consumer()
    claimed = coupons.claim(consumer, brand, code)
    return {"coupon": _coupon_json(coupons.describe(claimed))}
