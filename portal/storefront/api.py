"""/api/v1/shop/<brand_code>: the consumer side for a mini-program front end. Sign-in (a code by
SMS, then a token; or e-mail and password), who is signed in, and the address book. A token is
good for its own brand only: on another brand's routes it is a 401."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint, Schema
from apiflask.fields import Boolean, Float, Integer, List, Nested, String
from apiflask.schemas import EmptySchema
from apiflask.validators import Length, Range
from flask import current_app, jsonify, request

from portal.core import transaction
from portal.core.access import public
from portal.core.errors import DomainError, error_body
from portal.storefront import consumers
from portal.storefront.auth import (
    consumer_required,
    end_session,
    signed_in_consumer,
    start_session,
)
from portal.storefront.models import Consumer
from portal.storefront.shared_views import shop_brand

bp = APIBlueprint("api_shop", __name__, url_prefix="/api/v1/shop/<brand_code>", tag="Shop")

# @consumer_required and @public sit right under the route: who may ask is decided before the
# body is validated.


class CodeIn(Schema):
    phone = String(
        required=True,
        validate=Length(min=1, max=40),
        metadata={"description": "mobile number; without a country code it is read as Chinese"},
    )


class CodeOut(Schema):
    phone = String(metadata={"description": "the number in E.164"})
    expires_at = String()
    resend_after_seconds = Integer()
    demo_code = String(
        allow_none=True,
        metadata={"description": "the code itself, only when the portal runs in demo mode"},
    )


class CodeTokenIn(Schema):
    phone = String(required=True, validate=Length(min=1, max=40))
    code = String(required=True, validate=Length(min=1, max=12))
    guide_code = String(
        load_default=None,
        allow_none=True,
        validate=Length(max=20),
        metadata={"description": "A shopping guide's code, for a consumer made by this sign-in"},
    )


class PasswordTokenIn(Schema):
    email = String(required=True, validate=Length(min=1, max=254))
    password = String(required=True, validate=Length(min=1, max=200))


class ShopConsumerOut(Schema):
    id = Integer()
    phone = String(allow_none=True)
    email = String(allow_none=True)
    name = String()
    locale = String()


class ShopTokenOut(Schema):
    token = String()
    expires_at = String()
    consumer = Nested(ShopConsumerOut)


class AddressIn(Schema):
    recipient = String(required=True, validate=Length(min=1, max=120))
    phone = String(required=True, validate=Length(min=1, max=40))
    province = String(required=True, validate=Length(min=1, max=40))
    city = String(required=True, validate=Length(min=1, max=40))
    district = String(load_default="", validate=Length(max=40))
    line = String(required=True, validate=Length(min=1, max=255))
    latitude = Float(load_default=None, allow_none=True, validate=Range(-90, 90))
    longitude = Float(load_default=None, allow_none=True, validate=Range(-180, 180))
    is_default = Boolean(load_default=False)


class AddressOut(Schema):
    id = Integer()
    recipient = String()
    phone = String()
    province = String()
    city = String()
    district = String()
    line = String()
    latitude = Float(allow_none=True)
    longitude = Float(allow_none=True)
    is_default = Boolean()


class AddressItem(AddressOut):
    """One address in a list (its own name: apispec refuses one schema both nested and alone)."""


class AddressList(Schema):
    items = List(Nested(AddressItem))


def _consumer_json(consumer: Consumer) -> dict[str, Any]:
    return {
        "id": consumer.id,
        "phone": consumer.phone,
        "email": consumer.email,
        "name": consumer.name,
        "locale": consumer.locale,
    }


def _token(consumer: Consumer) -> dict[str, Any]:
    token, expires_at = start_session(consumer, kind="api")
    return {
        "token": token,
        "expires_at": expires_at.isoformat(),
        "consumer": _consumer_json(consumer),
    }


def _answer(error: DomainError, **headers: str):
    response = jsonify(error_body(error.code, error.message, error.fields))
    response.status_code = error.status
    response.headers.update(headers)
    return response


@bp.post("/sign-in/code")
@public
@bp.input(CodeIn, arg_name="body")
@bp.output(CodeOut, status_code=202)
@bp.doc(
    summary="Send a sign-in code by SMS",
    description="One code per number per minute, and hourly caps per number and per client"
    " address: past them the answer is 429 `rate_limited` with `Retry-After`. The code expires"
    " after a few minutes; a new code replaces the one before.",
    responses=[404, 422, 429],
)
def request_code(brand_code: str, body: dict):
    brand = shop_brand(brand_code)
    try:
        sent = consumers.request_sign_in_code(
            brand, body["phone"], address=request.remote_addr or "unknown"
        )
    except consumers.CodeThrottled as error:
        return _answer(error, **{"Retry-After": str(error.retry_after)})
    return {
        "phone": sent.phone,
        "expires_at": sent.expires_at.isoformat(),
        "resend_after_seconds": sent.resend_after,
        "demo_code": sent.code if current_app.config["SMS_SHOW_CODE"] else None,
    }


@bp.post("/token/code")
@public
@bp.input(CodeTokenIn, arg_name="body")
@bp.output(ShopTokenOut, status_code=201)
@bp.doc(
    summary="Exchange a mobile number and its code for a bearer token",
    description="The first sign-in of a number makes its account. A wrong code is 422"
    " `invalid_code`; after five wrong tries, or once expired, the code is refused and a new one"
    " must be asked for.",
    responses=[404, 422],
)
def token_from_code(brand_code: str, body: dict):
    brand = shop_brand(brand_code)
    try:
        consumer = consumers.sign_in_with_code(
            brand, body["phone"], body["code"], guide_code=body.get("guide_code")
        )
    except consumers.InvalidCode as error:
        transaction.keep()  # the wrong try counts toward the code's limit
        return _answer(error)
    return _token(consumer)


@bp.post("/token/password")
@public
@bp.input(PasswordTokenIn, arg_name="body")
@bp.output(ShopTokenOut, status_code=201)
@bp.doc(
    summary="Exchange e-mail and password for a bearer token",
    description="Failed sign-ins are throttled per e-mail and per client address with growing"
    " delays: while one applies, the answer is 429 `rate_limited` with `Retry-After`.",
    responses=[401, 404, 422, 429],
)
def token_from_password(brand_code: str, body: dict):
    brand = shop_brand(brand_code)
    try:
        consumer = consumers.sign_in_with_password(
            brand, body["email"], body["password"], address=request.remote_addr
        )
    except consumers.SignInThrottled as error:
        return _answer(error, **{"Retry-After": str(error.retry_after)})
    except consumers.InvalidCredentials as error:
        # Answered here, not raised: the error handler would roll back the throttle's count.
        transaction.keep()
        return _answer(error)
    return _token(consumer)


@bp.delete("/token")
@consumer_required
@bp.output(EmptySchema, status_code=204)
@bp.doc(
    summary="Sign out: the bearer token stops working",
    security="BearerAuth",
)
def revoke_token(brand_code: str):
    header = request.headers.get("Authorization", "")
    end_session(shop_brand(brand_code), header[7:].strip())
    return ""


@bp.get("/me")
@consumer_required
@bp.output(ShopConsumerOut)
@bp.doc(summary="The signed-in consumer", security="BearerAuth")
def me(brand_code: str):
    return _consumer_json(signed_in_consumer())


@bp.get("/addresses")
@consumer_required
@bp.output(AddressList)
@bp.doc(summary="The consumer's addresses, the default first", security="BearerAuth")
def list_addresses(brand_code: str):
    rows = consumers.list_addresses(signed_in_consumer())
    return {"items": [consumers.address_dict(a) for a in rows]}


@bp.post("/addresses")
@consumer_required
@bp.input(AddressIn, arg_name="body")
@bp.output(AddressOut, status_code=201)
@bp.doc(
    summary="Add an address",
    description="The first address, or one sent with `is_default`, becomes the default.",
    security="BearerAuth",
)
def add_address(brand_code: str, body: dict):
    return consumers.address_dict(consumers.add_address(signed_in_consumer(), body))


@bp.put("/addresses/<int:address_id>")
@consumer_required
@bp.input(AddressIn, arg_name="body")
@bp.output(AddressOut)
@bp.doc(summary="Replace an address", security="BearerAuth")
def update_address(brand_code: str, address_id: int, body: dict):
    consumer = signed_in_consumer()
    address = consumers.get_address(consumer, address_id)
    return consumers.address_dict(consumers.update_address(consumer, address, body))


@bp.delete("/addresses/<int:address_id>")
@consumer_required
@bp.output(EmptySchema, status_code=204)
@bp.doc(summary="Remove an address", security="BearerAuth")
def delete_address(brand_code: str, address_id: int):
    consumer = signed_in_consumer()
    consumers.delete_address(consumer, consumers.get_address(consumer, address_id))
    return ""
