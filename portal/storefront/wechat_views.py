"""Sign-in with WeChat on the shop's website (blueprint `shop_wechat`), under
/shop/<brand>/account/wechat: the start (a state kept in the session, then WeChat's QR page), the
callback (the state checked, the code exchanged: signed in, or on to the link step), the link step
(the mobile number and its one-time code), and the signed-in consumer's page to link or unlink
WeChat. With the test backend it also serves the page that stands in for WeChat's QR page.

The WeChat user travels from the callback to the link step in the session as a signed link
ticket (wechat_accounts): what the browser sends in the forms is only the number and the code.
"""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from portal.core import transaction
from portal.core.access import public
from portal.core.errors import DomainError
from portal.network.models import Organization
from portal.storefront import consumers, wechat_accounts, wechat_login
from portal.storefront.auth import (
    consumer_required,
    current_consumer,
    shop_next,
    sign_in_browser,
    signed_in_consumer,
)
from portal.storefront.shared_views import shop_brand
from portal.storefront.wechat_login import WeChatApp

bp = Blueprint("shop_wechat", __name__)

STATE_KEY = "shop_wechat_state"  # the sign-in under way: state, brand, next page, linking whom
TICKET_KEY = "shop_wechat_ticket"  # the link step's ticket, brand and next page
STATE_SECONDS = 600  # a QR sign-in not finished within this starts again
TEMPLATES = "storefront/account/wechat"


@bp.app_template_global()
def wechat_sign_in_offered() -> bool:
    """Whether the shop's pages offer "Sign in with WeChat" (storefront/account/sign_in.html)."""
    return wechat_login.offered(WeChatApp.WEB)


def _page(template: str, brand: Organization, status: int = 200, **context: Any):
    context.setdefault("errors", {})
    context.setdefault("alert", None)
    context.setdefault("shop_consumer", current_consumer(brand))
    return render_template(f"{TEMPLATES}/{template}", brand=brand, **context), status


def _problem(brand: Organization, error: DomainError):
    """A WeChat sign-in that cannot go on: what happened, and the way back."""
    transaction.discard()
    return _page("problem.html", brand, error.status, message=error.message)


def _require_web(brand: Organization) -> wechat_login.WeChatLogin:
    """The website's WeChat backend; 404 when the shop does not offer WeChat sign-in."""
    try:
        return wechat_login.backend_for(WeChatApp.WEB)
    except wechat_login.WeChatLoginOff:
        abort(404)


# -- start and callback ------------------------------------------------------------------------


@bp.get("/shop/<brand_code>/account/wechat")
@public
def start(brand_code: str):
    """Send the browser to WeChat's QR page. `?link=1`: link WeChat to the signed-in account."""
    brand = shop_brand(brand_code)
    backend = _require_web(brand)
    consumer = current_consumer(brand)
    linking = request.args.get("link") == "1"
    next_page = shop_next(brand, request.args.get("next"))
    if linking and consumer is None:
        return redirect(
            url_for(
                "storefront.sign_in",
                brand_code=brand.code,
                next=url_for("shop_wechat.manage", brand_code=brand.code),
            )
        )
    if not linking and consumer is not None:
        return redirect(next_page)
    state = secrets.token_urlsafe(16)
    session[STATE_KEY] = {
        "state": state,
        "brand": brand.id,
        "next": next_page,
        "link": consumer.id if linking and consumer is not None else None,
        "at": int(time.time()),
    }
    session.pop(TICKET_KEY, None)
    callback = str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/") + url_for(
        "shop_wechat.callback", brand_code=brand.code
    )
    return redirect(backend.qr_login_url(callback, state))


class StateMismatch(DomainError):
    code = "wechat_state_mismatch"
    status = 400


def _take_state(brand: Organization) -> dict[str, Any]:
    """The sign-in this browser started at this brand, used up; StateMismatch (400) when the
    callback's state is not it (another browser's, a replay, a forgery, or too old)."""
    kept = session.pop(STATE_KEY, None)
    given = request.args.get("state", "")
    fresh = (
        isinstance(kept, dict)
        and kept.get("brand") == brand.id
        and isinstance(kept.get("state"), str)
        and hmac.compare_digest(kept["state"].encode(), given.encode())
        and time.time() - int(kept.get("at") or 0) <= STATE_SECONDS
    )
    if not fresh:
        raise StateMismatch(
            _(
                "This WeChat sign-in was not started in this browser, or took too long. Please"
                " start again."
            )
        )
    assert isinstance(kept, dict)
    return kept


@bp.get("/shop/<brand_code>/account/wechat/callback")
@public
def callback(brand_code: str):
    brand = shop_brand(brand_code)
    backend = _require_web(brand)
    try:
        started = _take_state(brand)
    except StateMismatch as error:
        return _problem(brand, error)
    code = request.args.get("code", "")
    if not code:  # the person declined on WeChat's page
        flash(_("Sign-in with WeChat was cancelled."), "error")
        return redirect(url_for("storefront.sign_in", brand_code=brand.code))
    next_page = shop_next(brand, started.get("next"))
    try:
        user = backend.exchange_web_code(code)
        if started.get("link") is not None:
            return _link_signed_in(brand, user, started["link"])
        consumer = wechat_accounts.sign_in_with_wechat(brand, user)
    except DomainError as error:
        return _problem(brand, error)
    if consumer is not None:
        sign_in_browser(consumer)
        flash(_("You are signed in."), "success")
        return redirect(next_page)
    ticket, _expires = wechat_accounts.make_link_ticket(brand, user)
    session[TICKET_KEY] = {"ticket": ticket, "brand": brand.id, "next": next_page}
    return redirect(url_for("shop_wechat.link_form", brand_code=brand.code))


def _link_signed_in(brand: Organization, user: wechat_login.WeChatUser, consumer_id: int):
    """The callback of a link started from the account page: the same consumer must still be
    signed in."""
    consumer = current_consumer(brand)
    if consumer is None or consumer.id != consumer_id:
        raise StateMismatch(_("Sign in again, then link WeChat from your account page."))
    wechat_accounts.link_identity(consumer, user)
    flash(_("WeChat is linked: you can sign in with it from now on."), "success")
    return redirect(url_for("shop_wechat.manage", brand_code=brand.code))


# -- the link step: mobile number and code -----------------------------------------------------


def _ticket(brand: Organization) -> tuple[wechat_login.WeChatUser, dict[str, Any]]:
    kept = session.get(TICKET_KEY)
    if not isinstance(kept, dict) or kept.get("brand") != brand.id:
        raise wechat_accounts.LinkTicketInvalid()
    return wechat_accounts.read_link_ticket(brand, str(kept.get("ticket") or "")), kept


def _restart(brand: Organization, error: DomainError):
    session.pop(TICKET_KEY, None)
    flash(error.message, "error")
    return redirect(url_for("storefront.sign_in", brand_code=brand.code))


@bp.get("/shop/<brand_code>/account/wechat/link")
@public
def link_form(brand_code: str):
    brand = shop_brand(brand_code)
    _require_web(brand)
    try:
        _ticket(brand)
    except wechat_accounts.LinkTicketInvalid as error:
        return _restart(brand, error)
    return _page("link.html", brand, phone="", step="phone")


@bp.post("/shop/<brand_code>/account/wechat/link/code")
@public
def link_send_code(brand_code: str):
    brand = shop_brand(brand_code)
    _require_web(brand)
    phone = request.form.get("phone", "")
    try:
        _ticket(brand)
    except wechat_accounts.LinkTicketInvalid as error:
        return _restart(brand, error)
    try:
        sent = consumers.request_sign_in_code(
            brand, phone, address=request.remote_addr or "unknown"
        )
    except consumers.CodeThrottled as error:
        transaction.discard()
        # A code sent a moment ago may still be on its way: the code form stays usable.
        return _page("link.html", brand, 429, phone=phone, step="code", alert=error.message)
    except DomainError as error:
        transaction.discard()
        return _page("link.html", brand, 422, phone=phone, step="phone", errors=error.fields)
    shown = sent.code if current_app.config["SMS_SHOW_CODE"] else None
    return _page("link.html", brand, phone=sent.phone, step="code", code_shown=shown, sent=True)


@bp.post("/shop/<brand_code>/account/wechat/link")
@public
def link_verify(brand_code: str):
    brand = shop_brand(brand_code)
    _require_web(brand)
    phone = request.form.get("phone", "")
    guide_code = request.form.get("guide_code", "")
    try:
        user, kept = _ticket(brand)
    except wechat_accounts.LinkTicketInvalid as error:
        return _restart(brand, error)
    try:
        consumer = wechat_accounts.link_with_code(
            brand, user, phone, request.form.get("code", ""), guide_code=guide_code
        )
    except consumers.InvalidCode as error:
        transaction.keep()  # the wrong try counts toward the code's limit
        return _page(
            "link.html",
            brand,
            422,
            phone=phone,
            step="code",
            errors=error.fields,
            guide_code=guide_code,
        )
    except DomainError as error:
        transaction.discard()
        fields = {k: v for k, v in error.fields.items() if k in ("phone", "code", "guide_code")}
        return _page(
            "link.html",
            brand,
            error.status,
            phone=phone,
            step="code",
            errors=fields,
            alert=None if fields else error.message,
            guide_code=guide_code,
        )
    session.pop(TICKET_KEY, None)
    sign_in_browser(consumer)
    flash(_("WeChat is linked to your account. You are signed in."), "success")
    return redirect(shop_next(brand, kept.get("next")))


# -- the signed-in consumer's WeChat -----------------------------------------------------------


@bp.get("/shop/<brand_code>/account/wechat/manage")
@consumer_required
def manage(brand_code: str):
    brand = shop_brand(brand_code)
    consumer = signed_in_consumer()
    return _page(
        "manage.html",
        brand,
        identities=wechat_accounts.list_identities(consumer),
        offered=wechat_login.offered(WeChatApp.WEB),
    )


@bp.post("/shop/<brand_code>/account/wechat/unlink")
@consumer_required
def unlink(brand_code: str):
    brand = shop_brand(brand_code)
    if wechat_accounts.unlink(signed_in_consumer()):
        flash(_("WeChat is unlinked: it no longer signs you in."), "success")
    return redirect(url_for("shop_wechat.manage", brand_code=brand.code))


# -- the test backend's stand-in for WeChat's QR page ------------------------------------------


def _test_page_request() -> tuple[str, str]:
    """The callback path and state the stand-in page was sent with; 404 unless the test backend
    is on. Only a path of one of our shops' callbacks is followed: never another site."""
    if wechat_login.backend_name() != wechat_login.Backend.TEST:
        abort(404)
    target = urlsplit(request.values.get("redirect_uri", ""))
    path = target.path
    if not (path.startswith("/shop/") and path.endswith("/account/wechat/callback")):
        abort(400)
    return path, request.values.get("state", "")


@bp.get(wechat_login.TEST_PAGE_PATH)
@public
def test_qr_page():
    path, state = _test_page_request()
    return render_template(
        f"{TEMPLATES}/test_qr.html",
        redirect_uri=request.args.get("redirect_uri", ""),
        state=state,
        cancel_url=f"{path}?{urlencode({'state': state})}",
    )


@bp.post(wechat_login.TEST_PAGE_PATH)
@public
def test_qr_scan():
    """ "Scanning" as a test user: back to the shop with that user's code, as WeChat would."""
    path, state = _test_page_request()
    user_name = (request.form.get("user") or "").strip()
    if not wechat_login.TEST_CODE.fullmatch(wechat_login.TestLogin.code_for(user_name)):
        abort(400)
    code = wechat_login.TestLogin.code_for(user_name)
    return redirect(f"{path}?{urlencode({'code': code, 'state': state})}")
