from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal.auth.models import ApiToken
from portal.auth.services import create_api_key, revoke_api_key
from portal.core.db import utcnow
from portal.extensions import db
from tests.support.services import actor_for


def token_for(client, email: str, **extra) -> str:
    response = client.post(
        "/api/v1/auth/token", json={"email": email, "password": "demo1234", **extra}
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()["token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_token_then_me_describes_the_caller(client):
    body = client.post(
        "/api/v1/auth/token", json={"email": "dist1@demo.test", "password": "demo1234"}
    ).get_json()
    assert body["org"] == "D1" and body["expires_at"]
    me = client.get("/api/v1/me", headers=bearer(body["token"])).get_json()
    assert me["org"] == {"code": "D1", "kind": "distributor", "name": "North Star Distribution"}
    assert me["role"] == "distributor_admin"
    assert me["brands"] == ["ACME", "LUMI"]
    assert me["user"]["email"] == "dist1@demo.test"


def test_token_for_a_chosen_org(client):
    token = token_for(client, "owner34@demo.test", org="s4")
    assert client.get("/api/v1/me", headers=bearer(token)).get_json()["org"]["code"] == "S4"
    response = client.post(
        "/api/v1/auth/token",
        json={"email": "owner34@demo.test", "password": "demo1234", "org": "S1"},
    )
    assert response.status_code == 422
    assert "org" in response.get_json()["error"]["fields"]


def test_wrong_password_gets_the_error_shape(client):
    response = client.post("/api/v1/auth/token", json={"email": "hq@demo.test", "password": "x"})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_credentials"


def test_missing_fields_are_named(client):
    response = client.post("/api/v1/auth/token", json={"email": "hq@demo.test"})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert "password" in error["fields"]


def test_malformed_json_is_a_clear_400_or_422(client):
    response = client.post(
        "/api/v1/auth/token", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code in (400, 422)
    assert set(response.get_json()["error"]) == {"code", "message", "fields"}


def test_orgs_are_scoped_and_paginated(client):
    token = token_for(client, "dist1@demo.test")
    body = client.get("/api/v1/orgs?per_page=2", headers=bearer(token)).get_json()
    assert body["total"] == 5 and len(body["items"]) == 2
    codes = {
        o["code"] for o in client.get("/api/v1/orgs", headers=bearer(token)).get_json()["items"]
    }
    assert codes == {"D1", "S1", "S3", "S4", "L1"}
    stores = client.get("/api/v1/orgs?kind=store&brand=LUMI", headers=bearer(token)).get_json()
    assert [o["code"] for o in stores["items"]] == ["L1"]


def test_org_detail_outside_scope_is_404_with_the_error_shape(client):
    token = token_for(client, "dist1@demo.test")
    ok = client.get("/api/v1/orgs/S1", headers=bearer(token)).get_json()
    assert ok["links"][0]["supplier"] == "D1"
    missing = client.get("/api/v1/orgs/S2", headers=bearer(token))
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "not_found"
    unknown = client.get("/api/v1/orgs/NOPE", headers=bearer(token))
    assert unknown.status_code == 404


def test_bad_query_values_are_named(client):
    token = token_for(client, "hq@demo.test")
    response = client.get("/api/v1/orgs?kind=planet&per_page=5000", headers=bearer(token))
    assert response.status_code == 422
    assert {"kind", "per_page"} <= set(response.get_json()["error"]["fields"])


def test_api_key_works_until_revoked_and_only_its_hash_is_stored(client):
    actor = actor_for("dist1@demo.test")
    key, token = create_api_key(actor, name="ERP", scopes=["network.view"])
    db.session.commit()
    stored = db.session.execute(select(ApiToken).where(ApiToken.id == key.id)).scalar_one()
    assert token not in (stored.token_hash, stored.prefix)
    me = client.get("/api/v1/me", headers=bearer(token)).get_json()
    assert me["user"] is None and me["org"]["code"] == "D1" and me["role"] is None
    assert client.get("/api/v1/orgs", headers=bearer(token)).status_code == 200
    revoke_api_key(actor, key)
    db.session.commit()
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401


def test_expired_and_garbage_tokens_are_401(client):
    token = token_for(client, "hq@demo.test")
    row = db.session.execute(select(ApiToken).order_by(ApiToken.id.desc())).scalars().first()
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401
    assert client.get("/api/v1/me", headers=bearer("pt_nope_nope")).status_code == 401


def test_session_cookie_cannot_write_through_the_api(login):
    client = login("hq@demo.test")
    assert client.get("/api/v1/me").status_code == 200
    # A cookie-authenticated POST is treated as anonymous (no CSRF token on the API).
    response = client.post("/api/v1/auth/token", json={"email": "hq@demo.test", "password": "x"})
    assert response.status_code == 401


def test_openapi_document_lists_the_api(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    for path in (
        "/api/v1/auth/token",
        "/api/v1/me",
        "/api/v1/orgs",
        "/api/v1/orgs/{code}",
        "/api/v1/jobs/{job_id}",
    ):
        assert path in spec["paths"], path
    assert not any(p.startswith("/orgs") for p in spec["paths"])  # HTML pages stay out


def test_html_pages_keep_html_errors(login):
    response = login("dist1@demo.test").get("/orgs/S2")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
