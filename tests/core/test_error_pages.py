"""Every error status has its own page for browsers, in English and Chinese, and the one JSON
shape under /api/ (portal/core/errors.py)."""

from __future__ import annotations

import io

import pytest
from flask_babel import force_locale
from werkzeug.exceptions import TooManyRequests

from portal.core import errors
from portal.network import queries as network_queries

STATUSES = (400, 403, 404, 405, 413, 422, 429, 500)


def _trigger(status: int, app, client, login, monkeypatch):
    """A browser request that really ends in `status`."""
    if status == 400:
        login("hq@demo.test")
        return client.get("/orgs?q=north%00")
    if status == 403:
        login("dist1@demo.test")
        return client.get("/catalog/products")
    if status == 404:
        login("hq@demo.test")
        return client.get("/no-such-page")
    if status == 405:
        return client.get("/logout")
    if status == 413:
        monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1000)
        return client.post("/login", data={"email": "x" * 5000, "password": "x"})
    if status == 422:
        login("hq@demo.test")
        return client.get("/orgs?page=0")
    if status == 429:
        # The throttle's own exception through the app's handler (the sign-in throttle's
        # thresholds are its own tests' business).
        language = client.environ_base["HTTP_ACCEPT_LANGUAGE"]
        with app.test_request_context("/login", headers={"Accept-Language": language}):
            return app.make_response(app.handle_http_exception(TooManyRequests()))
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(network_queries, "list_orgs", broken)
    login("hq@demo.test")
    return client.get("/orgs")


def _title(status: int, locale: str) -> str:
    with force_locale(locale):
        return str(errors._PAGES[status][0])


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_each_error_status_has_its_page_in_the_browsers_language(
    status, language, app, client, login, monkeypatch
):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    if language == "zh-CN":
        with client.session_transaction() as session:
            session["lang"] = "zh_Hans_CN"
    response = _trigger(status, app, client, login, monkeypatch)
    assert response.status_code == status
    page = response.get_data(as_text=True)
    assert f'data-status="{status}"' in page
    locale = "zh_Hans_CN" if language == "zh-CN" else "en"
    expected_lang = "zh-CN" if language == "zh-CN" else "en"
    assert f'lang="{expected_lang}"' in page
    with app.test_request_context():
        assert f"<h1>{_title(status, locale)}</h1>" in page
    assert "a bug" not in page
    assert "Traceback" not in page


def test_each_status_has_its_own_title_and_sentence(app):
    with app.test_request_context():
        titles = [str(errors._PAGES[s][0]) for s in STATUSES]
        sentences = [str(errors._PAGES[s][1]) for s in STATUSES]
    assert len(set(titles)) == len(STATUSES)
    assert len(set(sentences)) == len(STATUSES)


@pytest.mark.parametrize(
    ("method", "url", "status", "code"),
    [
        ("GET", "/api/v1/orgs?q=%00", 400, "invalid_characters"),
        ("GET", "/api/v1/orgs/NOPE", 404, "not_found"),
        ("DELETE", "/api/v1/orgs", 405, "method_not_allowed"),
        ("GET", "/api/v1/orgs?page=0", 422, "validation_error"),
    ],
)
def test_api_errors_have_the_error_shape(client, method, url, status, code):
    token = client.post(
        "/api/v1/auth/token", json={"email": "hq@demo.test", "password": "demo1234"}
    ).get_json()["token"]
    response = client.open(url, method=method, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == status
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and isinstance(error["fields"], dict)


def test_api_403_413_429_and_500_have_the_error_shape(app, client, monkeypatch):
    token = client.post(
        "/api/v1/auth/token", json={"email": "dist1@demo.test", "password": "demo1234"}
    ).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    forbidden = client.post("/api/v1/policies", json={}, headers=headers)
    assert (forbidden.status_code, forbidden.get_json()["error"]["code"]) == (403, "forbidden")

    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1000)
    too_large = client.post(
        "/api/v1/stock/uploads",
        data={"location": "D1-WH", "file": (io.BytesIO(b"x" * 5000), "s.csv")},
        headers=headers,
    )
    assert (too_large.status_code, too_large.get_json()["error"]["code"]) == (
        413,
        "payload_too_large",
    )

    with app.test_request_context("/api/v1/auth/token"):
        limited = app.make_response(app.handle_http_exception(TooManyRequests()))
    assert (limited.status_code, limited.get_json()["error"]["code"]) == (429, "rate_limited")

    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    monkeypatch.setattr(network_queries, "list_orgs", lambda *a, **k: 1 / 0)
    failed = client.get("/api/v1/orgs", headers=headers)
    assert (failed.status_code, failed.get_json()["error"]["code"]) == (500, "server_error")
