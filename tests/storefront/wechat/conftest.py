"""Sign-in with WeChat: an app that serves its pages and API, the test backend switched on, and a
local stand-in for WeChat's API (a small HTTP server on 127.0.0.1 answering with WeChat's
documented shapes). Nothing reaches the network: `requests` may call loopback only."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

MINI_APPID, MINI_SECRET = "wxmini0000000001", "mini-secret-of-the-tests"
WEB_APPID, WEB_SECRET = "wxweb00000000001", "web-secret-of-the-tests"
SESSION_KEY = "tiihtNczf5v6AKRyjwEUhQ=="  # WeChat's example session_key: never to be logged


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Replaces the payments' guard (tests/storefront/conftest.py): loopback is allowed, since
    the stand-in server lives there; any other address fails the test."""
    import requests

    original = requests.Session.request

    def loopback_only(self, method, url, *args, **kwargs):
        host = urlsplit(url).hostname
        if host not in ("127.0.0.1", "localhost"):
            raise AssertionError(f"a WeChat sign-in test tried to reach {host}")
        return original(self, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", loopback_only)


@pytest.fixture
def wechat_test(app, monkeypatch):
    """The built-in test backend switched on; a person may ask for a new code at once (a test
    signs one number in several times)."""
    monkeypatch.setitem(app.config, "WECHAT_LOGIN_BACKEND", "test")
    monkeypatch.setitem(app.config, "SIGN_IN_CODE_RESEND_SECONDS", 0)
    return app


@pytest.fixture
def shop(client):
    """A browser that chose English (the shop is Chinese until one chooses)."""
    with client.session_transaction() as session:
        session["lang"] = "en"
    return client


# -- the stand-in for WeChat's API -------------------------------------------------------------


@dataclass
class StandIn:
    """WeChat's sign-in endpoints as documented: jscode2session (mini-program) and
    sns/oauth2/access_token (website app). `users` maps a valid code to (openid, unionid or
    None); a code is good once (then errcode 40163), an unknown one is errcode 40029. Codes
    "busy", "slow", "not-json" and "http-500" play WeChat's bad days."""

    base: str = ""
    users: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    delay: float = 2.0

    def answer(self, path: str, query: dict[str, str]) -> tuple[int, bytes]:
        self.requests.append((path, query))
        if path == "/sns/jscode2session":
            appid, secret, code = MINI_APPID, MINI_SECRET, query.get("js_code")
        elif path == "/sns/oauth2/access_token":
            appid, secret, code = WEB_APPID, WEB_SECRET, query.get("code")
        else:
            return 404, b"not found"
        if query.get("appid") != appid:
            return _json(errcode=40013, errmsg="invalid appid, rid: 1")
        if query.get("secret") != secret:
            return _json(errcode=40125, errmsg="invalid appsecret, rid: 2")
        if query.get("grant_type") != "authorization_code":
            return _json(errcode=40002, errmsg="invalid grant_type, rid: 3")
        if code == "busy":
            return _json(errcode=-1, errmsg="system error, rid: 4")
        if code == "slow":
            time.sleep(self.delay)
            return _json(errcode=-1, errmsg="too late")
        if code == "not-json":
            return 200, b"<html>gateway</html>"
        if code == "http-500":
            return 500, b"oops"
        if code in self.used:
            return _json(errcode=40163, errmsg="code been used, rid: 5")
        if code not in self.users:
            return _json(errcode=40029, errmsg="invalid code, rid: 6")
        self.used.add(code)
        openid, unionid = self.users[code]
        if path == "/sns/jscode2session":
            body = {"openid": openid, "session_key": SESSION_KEY}
        else:
            body = {
                "access_token": "ACCESS_TOKEN_OF_THE_TESTS",
                "expires_in": 7200,
                "refresh_token": "REFRESH_TOKEN_OF_THE_TESTS",
                "openid": openid,
                "scope": "snsapi_login",
            }
        if unionid:
            body["unionid"] = unionid
        return _json(**body)


def _json(**body) -> tuple[int, bytes]:
    return 200, json.dumps(body).encode()


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    standin = StandIn()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            parts = urlsplit(self.path)
            query = {key: values[0] for key, values in parse_qs(parts.query).items()}
            status, body = standin.answer(parts.path, query)
            self.send_response(status)
            # WeChat labels its JSON text/plain.
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(OSError):  # the client stopped waiting ("slow")
                self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    standin.base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield standin
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def wechat_real(app, monkeypatch, stand_in):
    """The real adapter ("wechat"), pointed at the stand-in server."""
    for name, value in {
        "WECHAT_LOGIN_BACKEND": "wechat",
        "WECHAT_MINI_APPID": MINI_APPID,
        "WECHAT_MINI_SECRET": MINI_SECRET,
        "WECHAT_WEB_APPID": WEB_APPID,
        "WECHAT_WEB_SECRET": WEB_SECRET,
        "WECHAT_API_BASE": stand_in.base,
        "WECHAT_OPEN_BASE": "https://open.weixin.qq.com",
        "WECHAT_HTTP_TIMEOUT": 1,
    }.items():
        monkeypatch.setitem(app.config, name, value)
    return stand_in
