"""Opening a guide's shared link in a browser, `GET /shop/<brand>/g/<token>` (public: the person
opening it may be anyone), and the same for the mini-program, `POST /api/v1/shop/<brand>/
guide-visits` (the signed-in consumer's bearer token).

The browser gets its own random id in a long-lived cookie (`gv`) the first time, so links opened
before signing in count at checkout (CheckoutExtras.visitor). A link that does not count (forged,
altered, expired, another brand's, a stopped guide's) records nothing and lands on the shop's
home page: never an error page, as the person opening it can do nothing about it.

A link to a campaign's page (a live event, a group buy, a red packet: portal/campaigns, a layer
above, whose pages are named here by endpoint and never imported) is recorded like any other
and opens that page; while the app has no such page, the shop's home. A sharer's link is opened
and recorded the same way (what it counts for is attribution.py's to say).
"""

from __future__ import annotations

import secrets
from typing import Any

from apiflask import APIBlueprint, Schema
from apiflask.fields import String
from apiflask.validators import Length
from flask import Blueprint, current_app, redirect
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l

from portal.core.access import public
from portal.core.errors import ValidationFailed
from portal.guides import visits
from portal.storefront.auth import consumer_required, current_consumer, signed_in_consumer
from portal.storefront.shops import shop_brand
from portal.storefront.words import say

VISITOR_DAYS = 730
bp = Blueprint("guide_links", __name__)
api_bp = APIBlueprint(
    "api_guide_links", __name__, url_prefix="/api/v1/shop/<brand_code>", tag="Shop"
)


@bp.get("/shop/<brand_code>/g/<token>")
@public
def open_link(brand_code: str, token: str) -> ResponseReturnValue:
    brand = shop_brand(brand_code)
    visitor = visits.browser_visitor()
    fresh = visitor is None
    if visitor is None:
        visitor = secrets.token_urlsafe(24)
    visit = visits.record_visit(brand, token, consumer=current_consumer(brand), visitor=visitor)
    if visit is None:
        target = visits.target_path(brand, "home", "")
    else:
        target = visits.target_path(brand, visit.target, visit.ref)
    response = redirect(target)
    if fresh:
        response.set_cookie(
            visits.VISITOR_COOKIE,
            visitor,
            max_age=VISITOR_DAYS * 86400,
            secure=current_app.config["SESSION_COOKIE_SECURE"],
            httponly=True,
            samesite="Lax",
        )
    response.headers["Cache-Control"] = "no-store"  # each opening is a visit
    response.headers["Referrer-Policy"] = "no-referrer"  # the token stays out of others' logs
    return response


class GuideVisitIn(Schema):
    link = String(
        required=True,
        validate=Length(min=1, max=1000),
        metadata={"description": "the shared link as scanned or opened, or just its token"},
    )


class GuideVisitOut(Schema):
    guide_code = String()
    target = String(
        metadata={
            "description": "home, product, shop, event, coupon, live, group_buy or red_packet"
        }
    )
    ref = String(
        metadata={
            "description": "the product, store, sale, coupon, live event, group buy or red "
            "packet code it opens"
        }
    )
    path = String(metadata={"description": "the shop page the link opens"})


def _token_of(link: str) -> str:
    """The token from a whole link ("https://.../shop/ACME/g/<token>?x") or a bare token."""
    text = link.strip()
    if "/g/" in text:
        text = text.rsplit("/g/", 1)[1]
    return text.split("?", 1)[0].split("#", 1)[0].strip("/")


@api_bp.post("/guide-visits")
@consumer_required
@api_bp.input(GuideVisitIn, arg_name="body")
@api_bp.output(GuideVisitOut, status_code=201)
@api_bp.doc(
    summary="Record that the consumer opened a guide's shared link",
    description="For a link opened inside the mini-program: the consumer's orders in the "
    "brand's attribution window (policy `guides.window_days`) count for the link's guide, and "
    "the visit may bind the consumer to the guide (the brand's binding mode). A forged, "
    "altered or expired link, another brand's, or a stopped guide's is 422 naming `link`, and "
    "nothing is recorded.",
    security="BearerAuth",
    responses=[401, 404, 422],
)
def record_visit(brand_code: str, body: dict[str, Any]):
    brand = shop_brand(brand_code)
    visit = visits.record_visit(
        brand, _token_of(body["link"]), consumer=signed_in_consumer(), visitor=""
    )
    if visit is None:
        raise ValidationFailed(
            fields={"link": say(_l("This link is not valid here, or it has expired."))}
        )
    return {
        "guide_code": visit.guide.code,
        "target": visit.target,
        "ref": visit.ref,
        "path": visits.target_path(brand, visit.target, visit.ref),
    }
