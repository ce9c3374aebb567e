"""Sign-in with WeChat for the mini-program (/api/v1/shop/<brand>/sessions/wechat): a code for a
token, or for a link ticket that a mobile number and its code turn into a token; the ticket
cannot be forged, outlived or carried to another brand."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.storefront import consumers
from portal.storefront.identity_models import ConsumerIdentity
from portal.storefront.models import SignInCode
from tests.support.services import org

BASE = "/api/v1/shop/ACME"
PHONE, E164 = "13800138000", "+8613800138000"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _phone_token(client, phone: str = PHONE) -> dict:
    sent = client.post(f"{BASE}/sign-in/code", json={"phone": phone}).get_json()
    issued = client.post(f"{BASE}/token/code", json={"phone": phone, "code": sent["demo_code"]})
    assert issued.status_code == 201, issued.get_json()
    return issued.get_json()


def _link(client, ticket: str, phone: str = PHONE, base: str = BASE):
    sent = client.post(f"{base}/sign-in/code", json={"phone": phone})
    assert sent.status_code == 202, sent.get_json()
    return client.post(
        f"{base}/sessions/wechat/link",
        json={"link_ticket": ticket, "phone": phone, "code": sent.get_json()["demo_code"]},
    )


def _identities() -> list[ConsumerIdentity]:
    return list(
        db.session.execute(select(ConsumerIdentity).order_by(ConsumerIdentity.id)).scalars()
    )


def test_first_a_ticket_then_a_linked_token_then_tokens_directly(wechat_test, client):
    phone_consumer = _phone_token(client)["consumer"]
    first = client.post(f"{BASE}/sessions/wechat", json={"code": "wxtest-alice"})
    assert first.status_code == 200
    body = first.get_json()
    assert body["token"] is None and body["consumer"] is None
    assert body["link_ticket"] and body["link_expires_at"]

    linked = _link(client, body["link_ticket"])
    assert linked.status_code == 201, linked.get_json()
    assert linked.get_json()["consumer"]["id"] == phone_consumer["id"]  # the same person
    me = client.get(f"{BASE}/me", headers=_bearer(linked.get_json()["token"]))
    assert me.status_code == 200 and me.get_json()["phone"] == E164

    again = client.post(f"{BASE}/sessions/wechat", json={"code": "wxtest-alice"}).get_json()
    assert again["link_ticket"] is None and again["consumer"]["id"] == phone_consumer["id"]
    assert client.get(f"{BASE}/me", headers=_bearer(again["token"])).status_code == 200
    (identity,) = _identities()
    assert (identity.app, identity.consumer_id) == ("mini", phone_consumer["id"])


def test_the_website_and_the_mini_program_are_one_wechat_user_by_unionid(wechat_test, client):
    from portal.storefront import wechat_accounts
    from portal.storefront.wechat_login import TestLogin

    brand = org("ACME")
    web_user = TestLogin().exchange_web_code("wxtest-erin")
    _phone_token(client)
    consumer = consumers.find_consumer_by_phone(brand, E164)
    wechat_accounts.link_identity(consumer, web_user)
    answer = client.post(f"{BASE}/sessions/wechat", json={"code": "wxtest-erin"}).get_json()
    assert answer["consumer"]["id"] == consumer.id  # no link step: the unionid is known
    rows = _identities()
    assert [(row.app, row.unionid is not None) for row in rows] == [("web", True), ("mini", False)]
    assert {row.consumer_id for row in rows} == {consumer.id}


def test_a_code_wechat_refuses_is_422_naming_the_code(wechat_test, client):
    response = client.post(f"{BASE}/sessions/wechat", json={"code": "nonsense"})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "wechat_code_invalid" and "code" in error["fields"]


def test_missing_or_oversized_fields_are_named(wechat_test, client):
    response = client.post(f"{BASE}/sessions/wechat", json={})
    assert response.status_code == 422 and "code" in response.get_json()["error"]["fields"]
    response = client.post(f"{BASE}/sessions/wechat", json={"code": "x" * 500})
    assert response.status_code == 422 and "code" in response.get_json()["error"]["fields"]
    response = client.post(f"{BASE}/sessions/wechat/link", json={"phone": PHONE})
    fields = response.get_json()["error"]["fields"]
    assert response.status_code == 422 and {"link_ticket", "code"} <= set(fields)


def test_without_wechat_sign_in_the_api_answers_404(app, client):
    response = client.post(f"{BASE}/sessions/wechat", json={"code": "wxtest-alice"})
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "wechat_sign_in_off"
    response = client.post(
        f"{BASE}/sessions/wechat/link", json={"link_ticket": "x", "phone": PHONE, "code": "1"}
    )
    assert response.status_code == 404


def test_a_forged_ticket_is_refused_and_the_code_is_not_spent(wechat_test, client):
    ticket = client.post(f"{BASE}/sessions/wechat", json={"code": "wxtest-alice"}).get_json()[
        "link_ticket"
    ]
    forged = ticket[:-4] + ("AAAA" if not ticket.endswith("AAAA") else "BBBB")
    response = _link(client, forged)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "wechat_link_ticket_invalid" and "link_ticket" in error["fields"]
    assert _identities() == []
    code = db.session.execute(select(SignInCode)).scalar_one()
    assert code.used_at is None and code.attempts == 0


def test_a_ticket_made_up_by_the_client_is_refused(wechat_test, client):
    made_up = '{"b": 1, "a": "mini", "o": "someone-elses-openid"}'
    response = _link(client, made_up)
    assert response.status_code == 422 and _identities() == []


def test_an_expired_ticket_is_refused(wechat_test, app, client, monkeypatch):
    ticket = client.post(f"{BASE}/sessions/wechat", json={"code": "wxtest-alice"}).get_json()[
        "link_ticket"
    ]
    monkeypatch.setitem(app.config, "WECHAT_LINK_TICKET_SECONDS", -1)
    response = _link(client, ticket)
    assert response.status_code == 422
    assert "expired" in response.get_json()["error"]["fields"]["link_ticket"]


def test_a_ticket_of_another_brand_is_refused(wechat_test, client):
    ticket = client.post(f"{BASE}/sessions/wechat", json={"code": "wxtest-alice"}).get_json()[
        "link_ticket"
    ]
    response = _link(client, ticket, base="/api/v1/shop/LUMI")
    assert response.status_code == 422 and _identities() == []


def test_a_wrong_code_at_the_link_step_is_counted(wechat_test, client):
    ticket = client.post(f"{BASE}/sessions/wechat", json={"code": "wxtest-alice"}).get_json()[
        "link_ticket"
    ]
    sent = client.post(f"{BASE}/sign-in/code", json={"phone": PHONE}).get_json()
    wrong = "000000" if sent["demo_code"] != "000000" else "111111"
    response = client.post(
        f"{BASE}/sessions/wechat/link",
        json={"link_ticket": ticket, "phone": PHONE, "code": wrong},
    )
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "invalid_code"
    assert db.session.execute(select(SignInCode)).scalar_one().attempts == 1
    assert _identities() == []


def test_one_wechat_user_cannot_be_linked_to_two_consumers(wechat_test, client):
    ticket = client.post(f"{BASE}/sessions/wechat", json={"code": "wxtest-alice"}).get_json()[
        "link_ticket"
    ]
    assert _link(client, ticket).status_code == 201
    replayed = _link(client, ticket, phone="13900139000")  # the same ticket, another number
    assert replayed.status_code == 409
    assert replayed.get_json()["error"]["code"] == "wechat_identity_taken"
    assert consumers.find_consumer_by_phone(org("ACME"), "+8613900139000") is None
    assert len(_identities()) == 1


def test_the_real_adapter_signs_in_through_the_stand_in_server(wechat_real, client):
    wechat_real.users["081first"] = ("oMiniUser0001", "uUnion0001")
    wechat_real.users["081second"] = ("oMiniUser0001", "uUnion0001")
    first = client.post(f"{BASE}/sessions/wechat", json={"code": "081first"}).get_json()
    linked = _link(client, first["link_ticket"])
    assert linked.status_code == 201
    second = client.post(f"{BASE}/sessions/wechat", json={"code": "081second"}).get_json()
    assert second["consumer"]["id"] == linked.get_json()["consumer"]["id"]
    used = client.post(f"{BASE}/sessions/wechat", json={"code": "081first"})
    assert used.status_code == 422  # WeChat's code is good once (errcode 40163)
    (identity,) = _identities()
    assert (identity.openid, identity.unionid) == ("oMiniUser0001", "uUnion0001")
