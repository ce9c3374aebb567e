"""Sessions end on the server: a copy of an old session cookie is worth nothing after logout, a
password change or a suspension, and a suspended org's bearer tokens stop at once."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import select

from portal.auth.jobs import prune_expired_tokens
from portal.auth.models import SignInFailure, UserSession
from portal.auth.services import create_api_key
from portal.core.db import utcnow
from portal.extensions import db
from portal.network import services as network
from portal.network.models import User
from tests.support.services import actor_for, org


def signed_in(app, email: str, password: str = "demo1234", address: str = "198.51.100.20"):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    response = client.post("/login", data={"email": email, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return client


def copy_of(app, client):
    """Another browser holding a copy of the client's session cookie (a stolen cookie)."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_for(client, email: str, password: str = "demo1234") -> str:
    response = client.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["token"]


def sent_to_login(response) -> bool:
    return response.status_code == 302 and "/login" in response.headers["Location"]


def test_logout_ends_the_session_for_every_copy_of_the_cookie(app):
    client = signed_in(app, "hq@demo.test")
    thief = copy_of(app, client)
    assert thief.get("/").status_code == 200  # the copy works while the session lives

    assert sent_to_login(client.post("/logout"))

    assert sent_to_login(thief.get("/"))
    assert sent_to_login(thief.get("/orgs"))
    api = thief.get("/api/v1/me")
    assert api.status_code == 401
    assert api.get_json()["error"]["code"] == "unauthorized"


def test_signing_in_again_starts_a_new_session_not_the_old_one(app):
    client = signed_in(app, "hq@demo.test")
    old = copy_of(app, client)
    client.post("/logout")
    client.post("/login", data={"email": "hq@demo.test", "password": "demo1234"})
    assert client.get("/").status_code == 200
    assert sent_to_login(old.get("/"))


def test_password_change_ends_every_other_session_and_token(app):
    here = signed_in(app, "store1@demo.test", address="198.51.100.20")
    elsewhere = signed_in(app, "store1@demo.test", address="203.0.113.50")
    token = token_for(elsewhere, "store1@demo.test")
    old_cookie_here = copy_of(app, here)

    response = here.post(
        "/account/password",
        data={
            "current_password": "demo1234",
            "new_password": "a-new-secret-9",
            "confirm": "a-new-secret-9",
        },
    )
    assert response.status_code == 302
    follow = here.get(response.headers["Location"])
    assert "signed out everywhere else" in follow.get_data(as_text=True)

    assert here.get("/").status_code == 200  # the browser that changed it goes on
    assert sent_to_login(elsewhere.get("/"))
    assert sent_to_login(old_cookie_here.get("/"))  # it goes on with a new session
    assert elsewhere.get("/api/v1/me", headers=bearer(token)).status_code == 401
    fresh = app.test_client()
    assert (
        fresh.post("/login", data={"email": "store1@demo.test", "password": "demo1234"}).status_code
        == 401
    )
    assert (
        fresh.post(
            "/login", data={"email": "store1@demo.test", "password": "a-new-secret-9"}
        ).status_code
        == 302
    )


def test_password_change_needs_the_current_password(app):
    client = signed_in(app, "store1@demo.test")
    other = signed_in(app, "store1@demo.test", address="203.0.113.50")
    response = client.post(
        "/account/password",
        data={"current_password": "wrong", "new_password": "a-new-secret-9", "confirm": "x"},
    )
    assert response.status_code == 422
    response = client.post(
        "/account/password",
        data={
            "current_password": "wrong",
            "new_password": "a-new-secret-9",
            "confirm": "a-new-secret-9",
        },
    )
    assert response.status_code == 422
    assert 'id="current_password-error"' in response.get_data(as_text=True)
    assert other.get("/").status_code == 200  # nothing ended


def test_suspending_an_org_ends_its_sessions_and_tokens_at_once(app):
    browser = signed_in(app, "store2@demo.test")
    api_client = app.test_client()
    token = token_for(api_client, "store2@demo.test")
    _key, api_key = create_api_key(
        actor_for("store2@demo.test"), name="POS", scopes=["network.view"]
    )
    db.session.commit()
    assert api_client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    assert api_client.get("/api/v1/me", headers=bearer(api_key)).status_code == 200

    hq = actor_for("hq@demo.test")
    network.set_org_status(hq, org("S2"), "suspended", reason="overdue")
    db.session.commit()

    assert sent_to_login(browser.get("/"))
    assert api_client.get("/api/v1/me", headers=bearer(token)).status_code == 401
    assert api_client.get("/api/v1/me", headers=bearer(api_key)).status_code == 401

    # Reactivation lets the org's own API keys work again; the people sign in anew.
    network.set_org_status(hq, org("S2"), "active")
    db.session.commit()
    assert sent_to_login(browser.get("/"))
    assert api_client.get("/api/v1/me", headers=bearer(token)).status_code == 401
    assert api_client.get("/api/v1/me", headers=bearer(api_key)).status_code == 200
    assert signed_in(app, "store2@demo.test").get("/").status_code == 200


def test_suspension_signs_out_a_member_acting_as_another_of_their_orgs(app):
    client = signed_in(app, "owner34@demo.test")  # acting as its first store
    network.set_org_status(actor_for("dist1@demo.test"), org("S4"), "suspended", reason="audit")
    db.session.commit()
    assert sent_to_login(client.get("/"))
    again = signed_in(app, "owner34@demo.test")
    assert "S3" in again.get("/account").get_data(as_text=True)


def test_a_disabled_user_is_signed_out(app):
    client = signed_in(app, "staff1@demo.test")
    user = db.session.execute(select(User).where(User.email == "staff1@demo.test")).scalar_one()
    user.is_disabled = True
    db.session.commit()
    assert sent_to_login(client.get("/"))
    session = db.session.execute(
        select(UserSession).where(UserSession.user_id == user.id)
    ).scalar_one()
    assert session.revoked_at is not None


def test_a_session_records_its_browser(app):
    client = app.test_client()
    client.environ_base.update(REMOTE_ADDR="198.51.100.77", HTTP_USER_AGENT="Test browser 1.0")
    client.post("/login", data={"email": "merch@demo.test", "password": "demo1234"})
    user = db.session.execute(select(User).where(User.email == "merch@demo.test")).scalar_one()
    session = db.session.execute(
        select(UserSession).where(UserSession.user_id == user.id)
    ).scalar_one()
    assert (session.address, session.user_agent) == ("198.51.100.77", "Test browser 1.0")
    # The cookie carries the secret; the database only its hash.
    serializer = app.session_interface.get_signing_serializer(app)
    secret = serializer.loads(client.get_cookie("session").value)["sid"]
    assert session.token_hash == hashlib.sha256(secret.encode()).hexdigest() != secret


def test_housekeeping_removes_ended_sessions_and_old_failures_only(app):
    live = signed_in(app, "hq@demo.test")
    ended = signed_in(app, "merch@demo.test")
    ended.post("/logout")
    fresh_failure = app.test_client()
    fresh_failure.post("/login", data={"email": "dist1@demo.test", "password": "nope"})
    old_failure = app.test_client()
    old_failure.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    old_failure.post("/login", data={"email": "store2@demo.test", "password": "nope"})
    for row in db.session.execute(select(UserSession)).scalars():
        if row.revoked_at is not None:
            row.revoked_at -= timedelta(days=2)
    for row in db.session.execute(select(SignInFailure)).scalars():
        if row.account == "store2@demo.test" or row.client == "a:203.0.113.9":
            row.last_failed_at -= timedelta(days=31)
    db.session.commit()

    result = prune_expired_tokens()

    assert result["sessions_removed"] == 1 and result["sign_in_failures_removed"] == 3
    assert live.get("/").status_code == 200
    assert (
        db.session.execute(select(UserSession).where(UserSession.revoked_at.is_not(None))).first()
        is None
    )
    accounts = set(db.session.execute(select(SignInFailure.account)).scalars())
    assert accounts == {"dist1@demo.test", "*"}


def test_a_session_unused_for_the_idle_limit_ends_and_one_in_use_does_not(app):
    client = signed_in(app, "hq@demo.test")
    record = db.session.execute(select(UserSession)).scalar_one()
    record.last_seen_at -= timedelta(days=app.config["SESSION_IDLE_DAYS"] - 1)
    db.session.commit()
    assert client.get("/").status_code == 200  # in use: seen again now
    db.session.refresh(record)
    assert record.last_seen_at > utcnow() - timedelta(minutes=1)

    record.last_seen_at -= timedelta(days=app.config["SESSION_IDLE_DAYS"] + 1)
    db.session.commit()
    assert sent_to_login(client.get("/"))
