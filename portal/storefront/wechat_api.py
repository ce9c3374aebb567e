"""/api/v1/shop/<brand_code>/sessions/wechat: sign-in with WeChat for the mini-program
(blueprint `api_shop_wechat`). The mini-program sends the code of wx.login; a WeChat user linked to
an account gets the same bearer token as the shop API's code sign-in (portal/storefront/api.py),
one not yet linked gets a link ticket, then proves a mobile number: the code comes from
`POST /sign-in/code`, and `POST /sessions/wechat/link` with the ticket, the number and the code
links them and answers the token."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint, Schema
from apiflask.fields import Nested, String
from apiflask.validators import Length
from flask import jsonify

from portal.core import transaction
from portal.core.access import public
from portal.core.errors import DomainError, error_body
from portal.storefront import consumers, wechat_accounts, wechat_login
from portal.storefront.api import ShopConsumerOut, ShopTokenOut
from portal.storefront.auth import start_session
from portal.storefront.models import Consumer
from portal.storefront.shared_views import shop_brand
from portal.storefront.wechat_login import WeChatApp

bp = APIBlueprint("api_shop_wechat", __name__, url_prefix="/api/v1/shop/<brand_code>", tag="Shop")

MAX_TICKET = 1000  # a ticket is about 200 characters


class WeChatCodeIn(Schema):
    code = String(
        required=True,
        validate=Length(min=1, max=wechat_login.MAX_CODE),
        metadata={"description": "the code the mini-program's wx.login gave"},
    )


class WeChatSessionOut(Schema):
    token = String(allow_none=True, metadata={"description": "the bearer token; null: link first"})
    expires_at = String(allow_none=True)
    consumer = Nested(ShopConsumerOut, allow_none=True)
    link_ticket = String(
        allow_none=True,
        metadata={
            "description": "the WeChat user is linked to no account yet: send this with a mobile"
            " number and its code to `sessions/wechat/link`"
        },
    )
    link_expires_at = String(allow_none=True)


class WeChatLinkIn(Schema):
    link_ticket = String(required=True, validate=Length(min=1, max=MAX_TICKET))
    phone = String(required=True, validate=Length(min=1, max=40))
    code = String(
        required=True,
        validate=Length(min=1, max=12),
        metadata={"description": "the code `POST /sign-in/code` sent to the number"},
    )
    guide_code = String(
        load_default=None,
        allow_none=True,
        validate=Length(max=20),
        metadata={"description": "A shopping guide's code, for a consumer made by this sign-in"},
    )


def _session(consumer: Consumer) -> dict[str, Any]:
    token, expires_at = start_session(consumer, kind="api")
    return {
        "token": token,
        "expires_at": expires_at.isoformat(),
        "consumer": {
            "id": consumer.id,
            "phone": consumer.phone,
            "email": consumer.email,
            "name": consumer.name,
            "locale": consumer.locale,
        },
    }


@bp.post("/sessions/wechat")
@public
@bp.input(WeChatCodeIn, arg_name="body")
@bp.output(WeChatSessionOut)
@bp.doc(
    summary="Sign in with WeChat (mini-program)",
    description="The code of wx.login, exchanged with WeChat. A WeChat user linked to an account"
    " gets a bearer token (`token`, `expires_at`, `consumer`); one not linked yet gets"
    " `link_ticket` instead (valid for minutes), to link with a mobile number. A code WeChat"
    " refuses is 422 `wechat_code_invalid`; 404 `wechat_sign_in_off` when the shop does not"
    " offer WeChat sign-in; 502 `wechat_unavailable` when WeChat cannot be asked.",
    responses=[404, 422, 502],
)
def wechat_session(brand_code: str, body: dict):
    brand = shop_brand(brand_code)
    user = wechat_login.backend_for(WeChatApp.MINI).exchange_mini_code(body["code"])
    consumer = wechat_accounts.sign_in_with_wechat(brand, user)
    if consumer is not None:
        return {**_session(consumer), "link_ticket": None, "link_expires_at": None}
    ticket, expires_at = wechat_accounts.make_link_ticket(brand, user)
    return {
        "token": None,
        "expires_at": None,
        "consumer": None,
        "link_ticket": ticket,
        "link_expires_at": expires_at.isoformat(),
    }


@bp.post("/sessions/wechat/link")
@public
@bp.input(WeChatLinkIn, arg_name="body")
@bp.output(ShopTokenOut, status_code=201)
@bp.doc(
    summary="Link WeChat to a mobile number and sign in",
    description="The link ticket of `sessions/wechat`, a mobile number and the code sent to it"
    " (`POST /sign-in/code`). The number's account (made if new) is linked to the WeChat user,"
    " who from then on signs in directly. A wrong code is 422 `invalid_code` (counted, as in"
    " the code sign-in); an expired or forged ticket 422 `wechat_link_ticket_invalid`; a WeChat"
    " user linked to another account, or an account linked to another WeChat user, 409.",
    responses=[404, 409, 422],
)
def wechat_link(brand_code: str, body: dict):
    brand = shop_brand(brand_code)
    if not wechat_login.offered(WeChatApp.MINI):
        raise wechat_login.WeChatLoginOff()
    user = wechat_accounts.read_link_ticket(brand, body["link_ticket"])
    try:
        consumer = wechat_accounts.link_with_code(
            brand, user, body["phone"], body["code"], guide_code=body.get("guide_code")
        )
    except consumers.InvalidCode as error:
        transaction.keep()  # the wrong try counts toward the code's limit
        return _answer(error)
    return _session(consumer)


def _answer(error: DomainError):
    response = jsonify(error_body(error.code, error.message, error.fields))
    response.status_code = error.status
    return response
