"""The employee store for the mini-program (portal/members/employee_api.py) on both backends:
may I enter and why, making an invite code, joining with one, proving a work address; errors in
the API's one shape, and a token of another brand's shop is a 401."""

from __future__ import annotations

import logging

import pytest

from portal.extensions import db
from portal.members.employee_models import PartnerCompany
from portal.storefront.auth import start_session
from portal.storefront.models import Consumer
from tests.members.test_entitlement import an_employee, mail_code, retail_shop
from tests.support.retail import RetailShop


@pytest.fixture
def shop(app) -> RetailShop:
    built = retail_shop("EA")
    db.session.commit()
    return built


def bearer(consumer: Consumer) -> dict[str, str]:
    token, _expires = start_session(consumer, kind="api")
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_status_says_who_may_enter_why_and_the_quota(client, shop):
    stranger = bearer(shop.consumer())
    answer = client.get("/api/v1/shop/EA/employee/status", headers=stranger).get_json()
    assert answer["may_enter"] is False and answer["is_member"] is True
    assert answer["reasons"] == [] and answer["quota"] is None
    assert answer["join_url"].endswith("/shop/EA/employee/join")

    employee = bearer(an_employee(shop))
    answer = client.get("/api/v1/shop/EA/employee/status", headers=employee).get_json()
    assert answer["may_enter"] is True and answer["may_invite"] is True
    assert [(r["kind"], r["source"]) for r in answer["reasons"]] == [("employee", "hr_list")]
    assert answer["quota"] == {"per_year": 5, "joined_this_year": 0, "open_uses": 0, "left": 5}


def test_an_employee_makes_a_code_and_a_friend_joins_with_it(client, shop):
    employee = an_employee(shop)
    made = client.post("/api/v1/shop/EA/employee/invites", headers=bearer(employee))
    assert made.status_code == 201
    code = made.get_json()
    assert code["uses_allowed"] == code["uses_left"] == 1
    assert code["link"].endswith(f"/shop/EA/employee/join?code={code['code']}")

    friend = bearer(shop.consumer(member=False, name="Li Lei"))
    joined = client.post(
        "/api/v1/shop/EA/employee/join", json={"code": code["code"]}, headers=friend
    )
    assert joined.status_code == 201
    body = joined.get_json()
    assert body["may_enter"] is True and body["may_invite"] is False
    assert body["reasons"][0]["kind"] == "friend"
    assert body["reasons"][0]["invited_by"] == "Wang Fang"

    again = client.post(
        "/api/v1/shop/EA/employee/join", json={"code": code["code"]}, headers=friend
    )
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "already_entitled"
    refused = client.post("/api/v1/shop/EA/employee/invites", headers=friend)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "not_an_employee"


def test_a_bad_code_is_refused_naming_the_field(client, shop):
    headers = bearer(shop.consumer(member=False))
    response = client.post(
        "/api/v1/shop/EA/employee/join", json={"code": "WRONG234"}, headers=headers
    )
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invite_refused" and "not known" in error["fields"]["code"]
    missing = client.post("/api/v1/shop/EA/employee/join", json={}, headers=headers)
    assert missing.status_code == 422


def test_a_work_address_is_proven_through_the_api(client, shop, caplog):
    caplog.set_level(logging.INFO, logger="portal.mail")
    db.session.add(PartnerCompany(brand_id=shop.brand.id, name="Bright", email_domain="bright.cn"))
    headers = bearer(shop.consumer())
    wrong = client.post(
        "/api/v1/shop/EA/employee/email-code", json={"email": "a@dark.cn"}, headers=headers
    )
    assert wrong.status_code == 422 and "email" in wrong.get_json()["error"]["fields"]
    sent = client.post(
        "/api/v1/shop/EA/employee/email-code", json={"email": "a@bright.cn"}, headers=headers
    )
    assert sent.status_code == 202
    code = mail_code(caplog, "a@bright.cn")
    throttled = client.post(
        "/api/v1/shop/EA/employee/email-code", json={"email": "a@bright.cn"}, headers=headers
    )
    assert throttled.status_code == 429 and "Retry-After" in throttled.headers
    bad = client.post(
        "/api/v1/shop/EA/employee/email-code/verify",
        json={"email": "a@bright.cn", "code": "99999x"},
        headers=headers,
    )
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_code"
    done = client.post(
        "/api/v1/shop/EA/employee/email-code/verify",
        json={"email": "a@bright.cn", "code": code},
        headers=headers,
    )
    assert done.status_code == 201
    assert done.get_json()["reasons"][0]["source"] == "partner_domain"
    assert done.get_json()["reasons"][0]["partner"] == "Bright"


def test_signed_out_or_another_brands_token_is_401(client, shop):
    other = retail_shop("EB")
    db.session.commit()
    foreign = bearer(other.consumer())
    for method, url in (
        ("GET", "/api/v1/shop/EA/employee/status"),
        ("POST", "/api/v1/shop/EA/employee/invites"),
        ("POST", "/api/v1/shop/EA/employee/join"),
    ):
        assert client.open(url, method=method, json={}).status_code == 401
        assert client.open(url, method=method, json={}, headers=foreign).status_code == 401
