"""The real WeChat adapter (portal/storefront/wechat_login.py, backend "wechat") against a local
stand-in for WeChat's API: what it sends, what it reads from WeChat's documented answers, and
how WeChat's refusals and bad days reach the person signing in. Secrets and the session_key
never reach the log."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlsplit

import pytest

from portal.storefront import wechat_login
from portal.storefront.wechat_login import (
    WeChatClient,
    WeChatCodeInvalid,
    WeChatLoginOff,
    WeChatUnavailable,
    WeChatUser,
)
from tests.storefront.wechat.conftest import (
    MINI_APPID,
    MINI_SECRET,
    SESSION_KEY,
    WEB_APPID,
    WEB_SECRET,
)


def _client(base: str, timeout: float = 1) -> WeChatClient:
    return WeChatClient(
        api_base=base,
        open_base="https://open.weixin.qq.com",
        mini_appid=MINI_APPID,
        mini_secret=MINI_SECRET,
        web_appid=WEB_APPID,
        web_secret=WEB_SECRET,
        timeout=timeout,
    )


def _logged(caplog) -> str:
    return "\n".join(record.getMessage() for record in caplog.records)


def test_a_mini_program_code_is_exchanged_for_the_users_ids(app, stand_in):
    stand_in.users["081mini"] = ("o6_bmjrPTlm6_2sgVt7hMZOPfL2M", "o6_bmasdasdsad6_2sgVt7hMZOPfL")
    user = _client(stand_in.base).exchange_mini_code("081mini")
    assert user == WeChatUser(
        app="mini", openid="o6_bmjrPTlm6_2sgVt7hMZOPfL2M", unionid="o6_bmasdasdsad6_2sgVt7hMZOPfL"
    )
    path, query = stand_in.requests[-1]
    assert path == "/sns/jscode2session"
    assert query == {
        "appid": MINI_APPID,
        "secret": MINI_SECRET,
        "js_code": "081mini",
        "grant_type": "authorization_code",
    }


def test_a_website_code_is_exchanged_at_the_oauth_access_token_endpoint(app, stand_in):
    stand_in.users["0a1web"] = ("oWebOpenid000000000000000001", None)
    user = _client(stand_in.base).exchange_web_code("0a1web")
    assert user == WeChatUser(app="web", openid="oWebOpenid000000000000000001", unionid=None)
    path, query = stand_in.requests[-1]
    assert path == "/sns/oauth2/access_token"
    assert query == {
        "appid": WEB_APPID,
        "secret": WEB_SECRET,
        "code": "0a1web",
        "grant_type": "authorization_code",
    }


def test_the_qr_page_address_is_wechats_qrconnect_with_our_callback_and_state(app):
    url = _client("http://127.0.0.1:9").qr_login_url(
        "https://shop.example.cn/shop/ACME/account/wechat/callback", "st4te"
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "open.weixin.qq.com",
        "/connect/qrconnect",
    )
    assert parts.fragment == "wechat_redirect"
    assert parse_qsl(parts.query) == [
        ("appid", WEB_APPID),
        ("redirect_uri", "https://shop.example.cn/shop/ACME/account/wechat/callback"),
        ("response_type", "code"),
        ("scope", "snsapi_login"),
        ("state", "st4te"),
    ]


def test_an_invalid_code_is_errcode_40029_and_a_clear_error_naming_the_code(app, stand_in):
    with pytest.raises(WeChatCodeInvalid) as raised:
        _client(stand_in.base).exchange_mini_code("made-up")
    assert raised.value.fields["code"] == "This WeChat code is not valid, or was used already."
    assert raised.value.status == 422


def test_a_code_is_good_once(app, stand_in):
    stand_in.users["081once"] = ("oOnce", None)
    client = _client(stand_in.base)
    client.exchange_mini_code("081once")
    with pytest.raises(WeChatCodeInvalid):
        client.exchange_mini_code("081once")  # errcode 40163


def test_a_wrong_secret_is_wechat_unavailable_and_the_log_names_the_errcode_only(
    app, stand_in, caplog
):
    caplog.set_level(logging.INFO)
    stand_in.users["081x"] = ("oX", None)
    client = WeChatClient(
        api_base=stand_in.base,
        open_base="https://open.weixin.qq.com",
        mini_appid=MINI_APPID,
        mini_secret="not-the-secret",
        timeout=1,
    )
    with pytest.raises(WeChatUnavailable) as raised:
        client.exchange_mini_code("081x")
    assert raised.value.status == 502
    assert "40125" in _logged(caplog)
    assert "not-the-secret" not in _logged(caplog)


def test_wechat_busy_unreadable_or_failing_is_unavailable(app, stand_in):
    client = _client(stand_in.base)
    for code in ("busy", "not-json", "http-500"):
        with pytest.raises(WeChatUnavailable):
            client.exchange_web_code(code)


def test_a_slow_wechat_is_given_up_after_the_timeout(app, stand_in, caplog):
    caplog.set_level(logging.INFO)
    stand_in.delay = 3
    with pytest.raises(WeChatUnavailable):
        _client(stand_in.base, timeout=0.5).exchange_mini_code("slow")
    assert MINI_SECRET not in _logged(caplog)


def test_an_unreachable_wechat_is_unavailable_and_the_secret_stays_out_of_the_log(app, caplog):
    caplog.set_level(logging.INFO)
    with pytest.raises(WeChatUnavailable):
        _client("http://127.0.0.1:9").exchange_mini_code("081anything")  # nothing listens
    assert "unreachable" in _logged(caplog)
    assert MINI_SECRET not in _logged(caplog)


def test_the_session_key_is_neither_kept_nor_logged(app, stand_in, caplog):
    caplog.set_level(logging.DEBUG)
    stand_in.users["081sk"] = ("oSk", "uSk")
    user = _client(stand_in.base).exchange_mini_code("081sk")
    assert SESSION_KEY not in repr(user) and SESSION_KEY not in _logged(caplog)
    assert MINI_SECRET not in _logged(caplog)


def test_the_backend_follows_configuration(app, monkeypatch, stand_in):
    monkeypatch.setitem(app.config, "WECHAT_LOGIN_BACKEND", "")
    with pytest.raises(WeChatLoginOff):
        wechat_login.backend_for("mini")
    monkeypatch.setitem(app.config, "WECHAT_LOGIN_BACKEND", "wechat")
    monkeypatch.setitem(app.config, "WECHAT_MINI_APPID", "")
    assert not wechat_login.offered("mini")  # no app id: not offered
    monkeypatch.setitem(app.config, "WECHAT_MINI_APPID", MINI_APPID)
    monkeypatch.setitem(app.config, "WECHAT_MINI_SECRET", MINI_SECRET)
    monkeypatch.setitem(app.config, "WECHAT_API_BASE", stand_in.base)
    stand_in.users["081cfg"] = ("oCfg", None)
    assert wechat_login.backend_for("mini").exchange_mini_code("081cfg").openid == "oCfg"
    monkeypatch.setitem(app.config, "WECHAT_LOGIN_BACKEND", "test")
    assert wechat_login.backend_for("web").name == "test"


def test_production_refuses_the_test_backend(app, monkeypatch):
    monkeypatch.setitem(app.config, "WECHAT_LOGIN_BACKEND", "test")
    monkeypatch.setitem(app.config, "PORTAL_ENV", "production")
    with pytest.raises(wechat_login.WeChatNotConfigured):
        wechat_login.backend_for("web")


def test_the_test_backend_maps_each_name_to_one_stable_user(app):
    backend = wechat_login.TestLogin()
    web = backend.exchange_web_code("wxtest-alice")
    assert web == backend.exchange_web_code("wxtest-alice")
    mini = backend.exchange_mini_code("wxtest-alice")
    assert mini.openid != web.openid and mini.unionid == web.unionid  # one open platform
    assert backend.exchange_web_code("wxtest-bob").unionid != web.unionid
    with pytest.raises(WeChatCodeInvalid):
        backend.exchange_web_code("081-a-real-looking-code")
