"""Bad input gets a clear error naming the field, never a 500 (portal/core/inputs.py)."""

from __future__ import annotations

import json

import pytest

from portal.network import queries as network_queries


@pytest.fixture
def api(client):
    """A client with an HQ admin's bearer token on every request."""
    token = client.post(
        "/api/v1/auth/token", json={"email": "hq@demo.test", "password": "demo1234"}
    ).get_json()["token"]

    class Api:
        def get(self, url, **kwargs):
            return client.get(url, headers={"Authorization": f"Bearer {token}"}, **kwargs)

        def post(self, url, **kwargs):
            return client.post(url, headers={"Authorization": f"Bearer {token}"}, **kwargs)

        def raw(self, url, body: bytes | str, method: str = "POST"):
            return client.open(
                url,
                method=method,
                data=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )

    return Api()


def error_of(response) -> dict:
    body = response.get_json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "fields"} <= set(body["error"]), body
    return body["error"]


def test_a_nul_in_the_query_string_is_a_400_naming_the_parameter(api):
    response = api.get("/api/v1/orgs?q=north%00")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_characters"
    assert error["fields"] == {"q": "must not contain a NUL character"}


def test_a_nul_in_a_path_segment_is_a_400_naming_it(api):
    response = api.get("/api/v1/orgs/D%001")
    assert response.status_code == 400
    assert error_of(response)["fields"] == {"code": "must not contain a NUL character"}


def test_a_nul_in_a_json_string_names_its_path(api):
    response = api.post(
        "/api/v1/orders",
        json={"brand": "ACME", "lines": [{"sku": "ACME-TEE-001-BLK-M\x00", "qty": 1}]},
    )
    assert response.status_code == 400
    assert error_of(response)["fields"] == {"lines.0.sku": "must not contain a NUL character"}


def test_a_lone_surrogate_in_json_is_a_400(api):
    response = api.raw("/api/v1/orders", '{"brand": "ACME", "po_number": "\\ud800", "lines": []}')
    assert response.status_code == 400
    assert error_of(response)["fields"] == {"po_number": "is not valid Unicode text"}


def test_a_nul_in_the_sign_in_email_is_a_400_not_a_lookup(client):
    response = client.post(
        "/api/v1/auth/token", json={"email": "hq@demo.test\x00", "password": "demo1234"}
    )
    assert response.status_code == 400
    assert "email" in error_of(response)["fields"]


@pytest.mark.parametrize("number", ["2147483648", "99999999999999999999999999"])
def test_an_id_beyond_its_column_is_a_404(api, number):
    response = api.get(f"/api/v1/accounts/{number}/entries")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_an_id_beyond_its_column_is_a_404_for_every_method(api):
    # A PUT rule and a GET rule share the path: still 404, not 405.
    response = api.raw("/api/v1/policies/99999999999999999999999", "{}", method="PUT")
    assert response.status_code == 404


def test_a_page_beyond_the_last_possible_is_a_422_naming_page(api):
    response = api.get("/api/v1/orgs?page=99999999999999999999999")
    assert response.status_code == 422
    assert "page" in error_of(response)["fields"]


def test_a_huge_number_in_json_is_a_422_naming_it(api):
    response = api.raw(
        "/api/v1/orders",
        '{"brand": "ACME", "lines": [{"sku": "X", "qty": 99999999999999999999999999999}]}',
    )
    assert response.status_code == 422
    assert error_of(response)["fields"] == {"lines.0.qty": "is out of range"}


def test_a_datetime_that_overflows_in_utc_is_a_422_naming_it(api):
    response = api.post(
        "/api/v1/policies",
        json={"code": "X1", "name": "x", "effective_from": "0001-01-01T00:00:00+14:00"},
    )
    assert response.status_code == 422
    assert "effective_from" in error_of(response)["fields"]


def test_a_date_out_of_range_in_the_query_string_is_a_422(api):
    link = api.get("/api/v1/accounts").get_json()["items"][0]["link_id"]
    response = api.get(f"/api/v1/accounts/{link}/entries?start=0001-01-01")
    assert response.status_code == 422
    assert "start" in error_of(response)["fields"]


def test_json_nested_a_thousand_deep_is_a_422(api):
    response = api.raw("/api/v1/orders", "[" * 1000 + "]" * 1000)
    assert response.status_code == 422
    assert error_of(response)["code"] == "validation_error"


def test_json_deeper_than_the_configured_depth_is_refused(app, api, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_JSON_DEPTH", 3)
    body = {"brand": "ACME", "lines": [{"sku": {"deep": "x"}, "qty": 1}]}
    response = api.raw("/api/v1/orders", json.dumps(body))
    assert response.status_code == 422
    assert error_of(response)["fields"] == {"lines.0.sku": "nests deeper than 3 levels"}


def test_a_json_body_over_the_limit_is_a_413(app, api, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_JSON_BYTES", 1000)
    response = api.post("/api/v1/orders", json={"brand": "ACME", "note": "x" * 2000, "lines": []})
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


def test_a_body_over_max_content_length_is_a_413_in_the_error_shape(app, api, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1000)
    response = api.post(
        "/api/v1/stock/uploads",
        data={"location": "HQ-WH", "file": (__import__("io").BytesIO(b"x" * 5000), "s.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


def test_a_method_the_api_does_not_take_is_a_405_in_the_error_shape(api):
    response = api.raw("/api/v1/me", "{}", method="DELETE")
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


def test_an_unexpected_failure_is_a_500_in_the_error_shape(app, api, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    monkeypatch.setattr(network_queries, "list_orgs", broken)
    response = api.get("/api/v1/orgs")
    assert response.status_code == 500
    error = error_of(response)
    assert error["code"] == "server_error"
    assert "a bug" not in error["message"]


def test_the_openapi_document_gives_every_error_the_one_shape(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status in ("400", "403", "404", "422"):
                response = operation["responses"][status]
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref.rsplit("/", 1)[1] in ("Error", "HTTPError", "ValidationError"), (
                    method,
                    path,
                    status,
                )
    for name in ("HTTPError", "ValidationError"):
        assert spec["components"]["schemas"][name] == error


def test_a_nul_in_the_idempotency_key_is_a_400_naming_the_header(client):
    token = client.post(
        "/api/v1/auth/token", json={"email": "dist1@demo.test", "password": "demo1234"}
    ).get_json()["token"]
    response = client.post(
        "/api/v1/orders",
        json={"brand": "ACME", "lines": [{"sku": "ACME-TEE-001-BLK-M", "qty": 1}]},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k\x00"},
    )
    assert response.status_code == 400
    assert "Idempotency-Key" in error_of(response)["fields"]
