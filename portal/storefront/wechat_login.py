"""Who a WeChat user is, asked of WeChat: the sign-in interface and its backends. Which backend is
configuration (`WECHAT_LOGIN_BACKEND`, config.py): "" turns WeChat sign-in off, "test" is the
built-in stand-in for the demo and the tests, "wechat" asks WeChat's own API.

Two doors, one answer (`WeChatUser`: the app, the user's openid in that app, and the unionid
shared by the apps of one open-platform account when WeChat gives it):

- the mini-program: its front end calls wx.login and sends us the code, which we exchange at
  `{WECHAT_API_BASE}/sns/jscode2session`;
- the website: the browser goes to WeChat's QR page (`{WECHAT_OPEN_BASE}/connect/qrconnect`),
  the person scans it with WeChat, and WeChat sends the browser back to our callback with a code,
  which we exchange at `{WECHAT_API_BASE}/sns/oauth2/access_token`.

Only the ids cross this boundary. The mini-program's session_key and the website's access and
refresh tokens are dropped here, unread: the portal needs neither, and neither they nor the app
secrets are ever logged (a `requests` error names the URL, secret included, so only its class is).
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

import requests
from flask import current_app
from flask_babel import lazy_gettext as _l

from portal.core.errors import DomainError, NotFound
from portal.storefront.identity_models import IdentityApp
from portal.storefront.words import say

log = logging.getLogger(__name__)


class _HideSecrets(logging.Filter):
    """WeChat wants the app secret in the query string, and urllib3 logs each request's URL at
    DEBUG: the secret's value is blanked in what it logs."""

    pattern = re.compile(r"((?:secret|js_code|code)=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "secret=" in message:
            record.msg, record.args = self.pattern.sub(r"\1***", message), None
        return True


_URLLIB3 = logging.getLogger("urllib3.connectionpool")
if not any(isinstance(known, _HideSecrets) for known in _URLLIB3.filters):
    _URLLIB3.addFilter(_HideSecrets())

WeChatApp = IdentityApp  # mini: the brand's mini-program; web: the website's QR sign-in
MAX_CODE = 128  # WeChat's codes are 32 characters; anything much longer is not one


class Backend(enum.StrEnum):
    OFF = ""
    TEST = "test"
    WECHAT = "wechat"


@dataclass(frozen=True)
class WeChatUser:
    """A WeChat user as WeChat vouched for them: never built from what a client sent."""

    app: str  # WeChatApp
    openid: str  # the user's id in that app
    unionid: str | None = None  # the same in every app of the open-platform account, if bound


class WeChatLoginOff(NotFound):
    code = "wechat_sign_in_off"
    message = "Sign-in with WeChat is not offered here."


class WeChatCodeInvalid(DomainError):
    """WeChat refused the code: wrong, used already, or expired (errcode 40029, 40163)."""

    code = "wechat_code_invalid"
    status = 422

    def __init__(self) -> None:
        super().__init__(
            say(_l("WeChat did not accept this sign-in. Please start again.")),
            fields={"code": say(_l("This WeChat code is not valid, or was used already."))},
        )


class WeChatRefused(DomainError):
    """WeChat will not sign this user in (errcode 40226: a user it holds to be high-risk)."""

    code = "wechat_refused"
    status = 422

    def __init__(self) -> None:
        message = say(_l("WeChat refused this sign-in. Sign in with your mobile number instead."))
        super().__init__(message, fields={"code": message})


class WeChatUnavailable(DomainError):
    """WeChat could not be reached, answered something unreadable, or is busy or misconfigured
    on our side (errcode -1, 45011, 40013, 40125, ...): trying later may work."""

    code = "wechat_unavailable"
    status = 502

    def __init__(self) -> None:
        super().__init__(
            say(
                _l(
                    "WeChat cannot be reached right now. Try again in a moment, or sign in"
                    " with your mobile number."
                )
            )
        )


class WeChatNotConfigured(RuntimeError):
    """A backend was chosen whose settings are missing: a deployment mistake, not a request's."""


class WeChatLogin(Protocol):
    """The interface the sign-in pages and API use; one implementation per backend."""

    name: str

    def exchange_mini_code(self, code: str) -> WeChatUser:
        """The mini-program user whose wx.login gave `code`. Raises WeChatCodeInvalid,
        WeChatRefused or WeChatUnavailable."""
        ...

    def qr_login_url(self, redirect_uri: str, state: str) -> str:
        """Where to send the browser to sign in by QR code; WeChat comes back to `redirect_uri`
        (absolute) with `code` and `state`."""
        ...

    def exchange_web_code(self, code: str) -> WeChatUser:
        """The website user whose QR sign-in gave `code`. Raises as exchange_mini_code."""
        ...


# Errcodes that say the code itself is no good; the rest say WeChat or our settings are.
_CODE_ERRORS = {40029, 40163, 41008}  # invalid code, code been used, missing code
_REFUSALS = {40226}  # high-risk user


class WeChatClient:
    """WeChat's own API: jscode2session for the mini-program, the website app's OAuth 2
    access_token exchange for the QR sign-in."""

    name = Backend.WECHAT.value

    def __init__(
        self,
        *,
        api_base: str,
        open_base: str,
        mini_appid: str = "",
        mini_secret: str = "",
        web_appid: str = "",
        web_secret: str = "",
        timeout: float = 10,
    ) -> None:
        self._api_base = api_base.rstrip("/")
        self._open_base = open_base.rstrip("/")
        self._apps = {
            WeChatApp.MINI: (mini_appid, mini_secret),
            WeChatApp.WEB: (web_appid, web_secret),
        }
        self._timeout = timeout

    def _credentials(self, app: WeChatApp) -> tuple[str, str]:
        appid, secret = self._apps[app]
        if not appid or not secret:
            raise WeChatNotConfigured(f"WeChat sign-in ({app}) needs its app id and secret")
        return appid, secret

    def exchange_mini_code(self, code: str) -> WeChatUser:
        appid, secret = self._credentials(WeChatApp.MINI)
        data = self._get(
            "/sns/jscode2session",
            {
                "appid": appid,
                "secret": secret,
                "js_code": _checked_code(code),
                "grant_type": "authorization_code",
            },
        )
        return _user(WeChatApp.MINI, data)

    def qr_login_url(self, redirect_uri: str, state: str) -> str:
        appid, _secret = self._credentials(WeChatApp.WEB)
        # WeChat asks for the parameters in this order, and the fragment as written.
        query = urlencode(
            [
                ("appid", appid),
                ("redirect_uri", redirect_uri),
                ("response_type", "code"),
                ("scope", "snsapi_login"),
                ("state", state),
            ]
        )
        return f"{self._open_base}/connect/qrconnect?{query}#wechat_redirect"

    def exchange_web_code(self, code: str) -> WeChatUser:
        appid, secret = self._credentials(WeChatApp.WEB)
        data = self._get(
            "/sns/oauth2/access_token",
            {
                "appid": appid,
                "secret": secret,
                "code": _checked_code(code),
                "grant_type": "authorization_code",
            },
        )
        return _user(WeChatApp.WEB, data)

    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        try:
            response = requests.get(
                self._api_base + path,
                params=params,
                timeout=(self._timeout, self._timeout),
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            # The exception's text holds the URL, and with it the secret: its class only.
            log.warning("wechat sign-in %s unreachable: %s", path, type(exc).__name__)
            raise WeChatUnavailable() from None
        if response.status_code != 200:
            log.warning("wechat sign-in %s answered HTTP %s", path, response.status_code)
            raise WeChatUnavailable()
        try:
            # WeChat answers JSON, sometimes labelled text/plain.
            data = json.loads(response.content)
        except ValueError:
            log.warning("wechat sign-in %s answered something other than JSON", path)
            raise WeChatUnavailable() from None
        if not isinstance(data, dict):
            raise WeChatUnavailable()
        errcode = data.get("errcode")
        if errcode not in (None, 0, "0"):
            _raise_for(path, errcode, data.get("errmsg"))
        return data


def _raise_for(path: str, errcode: Any, errmsg: Any) -> None:
    try:
        number = int(errcode)
    except (TypeError, ValueError):
        number = -1
    if number in _CODE_ERRORS:
        raise WeChatCodeInvalid()
    if number in _REFUSALS:
        raise WeChatRefused()
    # Busy, over quota, or our app id or secret refused: the people running the portal look.
    log.warning("wechat sign-in %s: errcode %s %s", path, number, str(errmsg or "")[:200])
    raise WeChatUnavailable()


def _checked_code(code: str) -> str:
    code = (code or "").strip()
    if not code or len(code) > MAX_CODE:
        raise WeChatCodeInvalid()
    return code


def _user(app: WeChatApp, data: dict[str, Any]) -> WeChatUser:
    """The ids in an answer; session_key and the tokens are left where they are."""
    openid = data.get("openid")
    unionid = data.get("unionid")
    if not isinstance(openid, str) or not openid or len(openid) > 64:
        log.warning("wechat sign-in (%s): an answer without an openid", app)
        raise WeChatUnavailable()
    if not isinstance(unionid, str) or not unionid or len(unionid) > 64:
        unionid = None
    return WeChatUser(app=app.value, openid=openid, unionid=unionid)


# -- the test backend --------------------------------------------------------------------------

TEST_CODE = re.compile(r"wxtest-([A-Za-z0-9_-]{1,32})")
# Where the storefront serves the page that stands in for WeChat's QR page (shop_wechat).
TEST_PAGE_PATH = "/wechat-test/connect/qrconnect"


class TestLogin:
    """The built-in stand-in, for the demo and the tests: no WeChat, no network. Its QR page is
    ours (TEST_PAGE_PATH), where "scanning" is a button; a code names a test user
    ("wxtest-<name>", `code_for`), and each name is always the same fake WeChat user: the same
    openid per app, the same unionid in both. Anything else is an invalid code (errcode 40029).
    Anyone can be any test user, so production refuses this backend."""

    __test__ = False  # a backend, not a pytest class

    name = Backend.TEST.value

    @staticmethod
    def code_for(user_name: str) -> str:
        return f"wxtest-{user_name}"

    def exchange_mini_code(self, code: str) -> WeChatUser:
        return self._user(WeChatApp.MINI, code)

    def qr_login_url(self, redirect_uri: str, state: str) -> str:
        query = urlencode(
            [
                ("appid", "wx-test"),
                ("redirect_uri", redirect_uri),
                ("response_type", "code"),
                ("scope", "snsapi_login"),
                ("state", state),
            ]
        )
        return f"{TEST_PAGE_PATH}?{query}#wechat_redirect"

    def exchange_web_code(self, code: str) -> WeChatUser:
        return self._user(WeChatApp.WEB, code)

    def _user(self, app: WeChatApp, code: str) -> WeChatUser:
        found = TEST_CODE.fullmatch((code or "").strip())
        if found is None:
            raise WeChatCodeInvalid()
        user_name = found.group(1)
        return WeChatUser(
            app=app.value,
            openid=f"test-{app.value}-{_digest(app.value + ':' + user_name)}",
            unionid=f"test-union-{_digest(user_name)}",
        )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:20]


# -- choosing the backend ----------------------------------------------------------------------


def backend_name() -> str:
    return str(current_app.config.get("WECHAT_LOGIN_BACKEND") or "").strip().lower()


def offered(app: str) -> bool:
    """Whether sign-in with WeChat is offered through `app` (WeChatApp): the backend is on, and
    the real one has that app's id and secret."""
    name = backend_name()
    if name == Backend.TEST:
        return True
    if name == Backend.WECHAT:
        prefix = "WECHAT_MINI" if app == WeChatApp.MINI else "WECHAT_WEB"
        config = current_app.config
        return bool(config.get(f"{prefix}_APPID") and config.get(f"{prefix}_SECRET"))
    return False


def backend_for(app: str) -> WeChatLogin:
    """The configured backend for signing in through `app`; WeChatLoginOff (404) when it is not
    offered. Cheap to build: each call builds one from the settings in force."""
    name = backend_name()
    if name not in tuple(Backend):
        raise WeChatNotConfigured(
            f"WECHAT_LOGIN_BACKEND must be empty, test or wechat; got {name!r}"
        )
    if not offered(app):
        raise WeChatLoginOff()
    config = current_app.config
    if name == Backend.TEST:
        # Anyone may be any test user: in production that is anyone signing in as anyone linked.
        if config.get("PORTAL_ENV") == "production":
            raise WeChatNotConfigured("the test WeChat sign-in is refused in production")
        return TestLogin()
    return WeChatClient(
        api_base=str(config["WECHAT_API_BASE"]),
        open_base=str(config["WECHAT_OPEN_BASE"]),
        mini_appid=str(config.get("WECHAT_MINI_APPID") or ""),
        mini_secret=str(config.get("WECHAT_MINI_SECRET") or ""),
        web_appid=str(config.get("WECHAT_WEB_APPID") or ""),
        web_secret=str(config.get("WECHAT_WEB_SECRET") or ""),
        timeout=float(config.get("WECHAT_HTTP_TIMEOUT") or 10),
    )
