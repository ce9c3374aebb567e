"""The consumer API for a mini-program (/api/v1/shop/<brand>, portal/storefront/api.py): tokens
from a code or a password, who is signed in, the address book; a token is good for its own
brand only."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.storefront import consumers
from portal.storefront.models import SignInCode
from tests.support.services import org

BASE = "/api/v1/shop/ACME"
ADDRESS = {
    "recipient": "Li Lei",
    "phone": "13900139000",
    "province": "Shanghai",
    "city": "Shanghai",
    "line": "1 Nanjing Road",
    "latitude": 31.2304,
    "longitude": 121.4737,
}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _token(client, phone: str = "13800138000", base: str = BASE) -> str:
    sent = client.post(f"{base}/sign-in/code", json={"phone": phone})
    assert sent.status_code == 202, sent.get_json()
    issued = client.post(
        f"{base}/token/code", json={"phone": phone, "code": sent.get_json()["demo_code"]}
    )
    assert issued.status_code == 201, issued.get_json()
    return issued.get_json()["token"]


def test_a_code_then_a_token_then_me(client):
    sent = client.post(f"{BASE}/sign-in/code", json={"phone": "138 0013 8000"})
    body = sent.get_json()
    assert sent.status_code == 202
    assert body["phone"] == "+8613800138000" and body["resend_after_seconds"] == 60
    issued = client.post(
        f"{BASE}/token/code", json={"phone": "13800138000", "code": body["demo_code"]}
    ).get_json()
    assert issued["consumer"]["phone"] == "+8613800138000"
    me = client.get(f"{BASE}/me", headers=_bearer(issued["token"]))
    assert me.status_code == 200 and me.get_json()["phone"] == "+8613800138000"


def test_outside_demo_mode_the_answer_holds_no_code(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "SMS_SHOW_CODE", False)
    sent = client.post(f"{BASE}/sign-in/code", json={"phone": "13800138000"})
    assert sent.status_code == 202 and sent.get_json()["demo_code"] is None


def test_an_invalid_number_is_422_naming_the_phone(client):
    response = client.post(f"{BASE}/sign-in/code", json={"phone": "12345"})
    assert response.status_code == 422
    assert "phone" in response.get_json()["error"]["fields"]
    assert db.session.execute(select(SignInCode)).first() is None


def test_asking_again_too_soon_is_429_with_retry_after(client):
    client.post(f"{BASE}/sign-in/code", json={"phone": "13800138000"})
    again = client.post(f"{BASE}/sign-in/code", json={"phone": "13800138000"})
    assert again.status_code == 429
    assert again.get_json()["error"]["code"] == "rate_limited"
    assert 0 < int(again.headers["Retry-After"]) <= 60


def test_wrong_codes_are_counted_and_five_need_a_new_code(client):
    code = client.post(f"{BASE}/sign-in/code", json={"phone": "13800138000"}).get_json()[
        "demo_code"
    ]
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        response = client.post(f"{BASE}/token/code", json={"phone": "13800138000", "code": wrong})
        assert response.status_code == 422
        error = response.get_json()["error"]
        assert error["code"] == "invalid_code" and "code" in error["fields"]
    stored = db.session.execute(select(SignInCode)).scalar_one()
    db.session.refresh(stored)
    assert stored.attempts == 5  # kept although each answer was an error
    right = client.post(f"{BASE}/token/code", json={"phone": "13800138000", "code": code})
    assert right.status_code == 422 and "new code" in right.get_json()["error"]["fields"]["code"]


def test_token_from_email_and_password(client):
    consumers.sign_up_with_password(org("ACME"), "li@example.com", "long enough")
    db.session.commit()
    wrong = client.post(
        f"{BASE}/token/password", json={"email": "li@example.com", "password": "not it"}
    )
    assert wrong.status_code == 401 and wrong.get_json()["error"]["code"] == "invalid_credentials"
    right = client.post(
        f"{BASE}/token/password", json={"email": "li@example.com", "password": "long enough"}
    )
    assert right.status_code == 201
    me = client.get(f"{BASE}/me", headers=_bearer(right.get_json()["token"])).get_json()
    assert me["email"] == "li@example.com"


def test_addresses_through_the_api(client):
    headers = _bearer(_token(client))
    made = client.post(f"{BASE}/addresses", json=ADDRESS, headers=headers)
    assert made.status_code == 201
    address = made.get_json()
    assert address["is_default"] and address["phone"] == "+8613900139000"
    changed = client.put(
        f"{BASE}/addresses/{address['id']}", json={**ADDRESS, "line": "9 Bund"}, headers=headers
    )
    assert changed.status_code == 200 and changed.get_json()["line"] == "9 Bund"
    listed = client.get(f"{BASE}/addresses", headers=headers).get_json()["items"]
    assert [a["line"] for a in listed] == ["9 Bund"]
    assert client.delete(f"{BASE}/addresses/{address['id']}", headers=headers).status_code == 204
    assert client.get(f"{BASE}/addresses", headers=headers).get_json()["items"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [({"latitude": 91}, "latitude"), ({"longitude": -181}, "longitude"), ({"phone": "1"}, "phone")],
)
def test_a_bad_address_is_422_naming_the_field_and_saves_nothing(client, change, field):
    headers = _bearer(_token(client))
    response = client.post(f"{BASE}/addresses", json={**ADDRESS, **change}, headers=headers)
    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]
    assert client.get(f"{BASE}/addresses", headers=headers).get_json()["items"] == []


def test_another_consumers_address_is_not_found(client):
    mine = _bearer(_token(client))
    address = client.post(f"{BASE}/addresses", json=ADDRESS, headers=mine).get_json()
    other = _bearer(_token(client, phone="13900139000"))
    url = f"{BASE}/addresses/{address['id']}"
    assert client.put(url, json=ADDRESS, headers=other).status_code == 404
    assert client.delete(url, headers=other).status_code == 404


def test_a_token_of_one_brand_is_401_on_another(client):
    token = _token(client)
    response = client.get("/api/v1/shop/LUMI/me", headers=_bearer(token))
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert client.get("/api/v1/shop/NOPE/me", headers=_bearer(token)).status_code == 404


def test_a_revoked_token_stops_working(client):
    token = _token(client)
    assert client.delete(f"{BASE}/token", headers=_bearer(token)).status_code == 204
    assert client.get(f"{BASE}/me", headers=_bearer(token)).status_code == 401


def test_the_shop_api_is_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    me = spec["paths"]["/api/v1/shop/{brand_code}/me"]["get"]
    assert "consumer's bearer token" in me["description"]
    assert "x-scope" not in me
    assert "post" in spec["paths"]["/api/v1/shop/{brand_code}/token/code"]
