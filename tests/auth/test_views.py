from __future__ import annotations

import logging
import re

from sqlalchemy import select

from portal.core import jobs
from portal.core.db import utcnow
from portal.extensions import db
from portal.network import services
from portal.network.models import Invitation, Membership, User
from tests.support.services import actor_for, org


def test_wrong_password_is_refused_and_names_the_field(client):
    response = client.post("/login", data={"email": "hq@demo.test", "password": "nope"})
    assert response.status_code == 401
    assert "E-mail or password is not correct." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302  # still signed out


def test_login_with_missing_fields_names_them(client):
    response = client.post("/login", data={"email": "", "password": ""})
    assert response.status_code == 422
    assert response.get_data(as_text=True).count('aria-invalid="true"') == 2


def test_login_redirects_to_a_local_next_only(client):
    data = {"email": "hq@demo.test", "password": "demo1234", "next": "https://evil.example/"}
    response = client.post("/login", data=data)
    assert response.headers["Location"] == "/"


def test_failed_logins_delay_the_failing_address_not_the_owner(app, client):
    statuses = [
        client.post("/login", data={"email": "dist2@demo.test", "password": "x"}).status_code
        for _ in range(6)
    ]
    assert statuses[:5] == [401] * 5
    assert statuses[5] == 429
    # From this address the right password waits out the delay too (it is not even checked).
    blocked = client.post("/login", data={"email": "dist2@demo.test", "password": "demo1234"})
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    # Another account from the same address is not affected.
    other = client.post("/login", data={"email": "hq@demo.test", "password": "demo1234"})
    assert other.status_code == 302
    # The owner, from another address, signs in at once (tests/auth/test_throttle.py has more).
    owner = app.test_client()
    owner.environ_base["REMOTE_ADDR"] = "198.51.100.20"
    response = owner.post("/login", data={"email": "dist2@demo.test", "password": "demo1234"})
    assert response.status_code == 302


def test_security_headers_and_cookie_flags(client):
    response = client.post("/login", data={"email": "hq@demo.test", "password": "demo1234"})
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_pages_load_nothing_from_another_host(login):
    html = login("hq@demo.test").get("/network").get_data(as_text=True)
    assert not re.search(r'(src|href)="(https?:)?//', html)


def _invitation_path(caplog, email: str = "new.staff@example.com") -> str:  # noqa: ANN001
    """S1's owner invites someone; return the link path from the logged e-mail."""
    caplog.set_level(logging.INFO, logger="portal.mail")
    services.invite_user(actor_for("store1@demo.test"), org("S1"), email=email, role="store_staff")
    jobs.commit()  # the e-mail job runs inline after the commit
    return _link_from_log(caplog)


def _link_from_log(caplog) -> str:
    messages = [r.getMessage() for r in caplog.records if r.name == "portal.mail"]
    assert messages, "no invitation e-mail was written to the log"
    return re.search(r"(/invitations/\S+)", messages[-1]).group(1)


def test_invitation_email_link_creates_account_and_membership(app, client, caplog):
    path = _invitation_path(caplog)
    assert client.get(path).status_code == 200
    form = {"name": "New Staff", "password": "longenough1", "confirm": "longenough1"}
    response = client.post(path, data=form)
    assert response.status_code == 302
    user = db.session.execute(
        select(User).where(User.email == "new.staff@example.com")
    ).scalar_one()
    membership = db.session.execute(
        select(Membership).where(Membership.user_id == user.id)
    ).scalar_one()
    assert (membership.org.code, membership.role) == ("S1", "store_staff")
    # The same link a second time is refused, and nothing changes.
    client.post("/logout")
    again = client.post(path, data=form)
    assert again.status_code == 400
    assert "already been used" in again.get_data(as_text=True)


def test_expired_or_tampered_invitation_is_refused(app, client, caplog):
    path = _invitation_path(caplog)
    assert client.get(path[:-3] + "xyz").status_code == 400
    invitation = db.session.execute(select(Invitation)).scalars().all()[-1]
    invitation.expires_at = utcnow()
    db.session.commit()
    response = client.get(path)
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)


def test_invitation_with_short_password_names_the_field(app, client, caplog):
    path = _invitation_path(caplog)
    response = client.post(path, data={"name": "X", "password": "short", "confirm": "short"})
    assert response.status_code == 422
    assert 'id="password-error"' in response.get_data(as_text=True)
    assert (
        db.session.execute(select(User).where(User.email == "new.staff@example.com")).first()
        is None
    )


def test_user_with_two_stores_switches_between_them(login):
    client = login("owner34@demo.test")
    page = client.get("/account").get_data(as_text=True)
    assert "S3" in page and "S4" in page
    s4 = (
        db.session.execute(select(Membership).join(User).where(User.email == "owner34@demo.test"))
        .scalars()
        .all()
    )
    target = next(m for m in s4 if m.org.code == "S4")
    response = client.post("/switch-org", data={"membership_id": target.id})
    assert response.status_code == 302
    assert "S4 · " in client.get("/").get_data(as_text=True) or "S4" in client.get(
        "/account"
    ).get_data(as_text=True)
    assert client.get("/orgs/S4").status_code == 200
    assert client.get("/orgs/S3").status_code == 404  # acting as S4 now


def test_suspending_an_org_signs_its_people_out(app, login):
    client = login("store2@demo.test")
    assert client.get("/").status_code == 200
    services.set_org_status(actor_for("hq@demo.test"), org("S2"), "suspended", reason="overdue")
    db.session.commit()
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_language_switch_is_remembered_for_the_user(login):
    client = login("hq@demo.test")
    client.post("/language", data={"lang": "zh_Hans_CN", "next": "/"})
    user = db.session.execute(select(User).where(User.email == "hq@demo.test")).scalar_one()
    assert user.locale == "zh_Hans_CN"
    assert 'lang="zh-CN"' in client.get("/").get_data(as_text=True)
    bad = client.post("/language", data={"lang": "xx", "next": "/"})
    assert bad.status_code == 302
    assert user.locale == "zh_Hans_CN"


def test_csrf_token_is_required_on_forms(base_app, app, client):
    base_app.config["WTF_CSRF_ENABLED"] = True
    try:
        response = client.post("/login", data={"email": "hq@demo.test", "password": "demo1234"})
        assert response.status_code == 400
        assert "CSRF" in response.get_data(as_text=True)
    finally:
        base_app.config["WTF_CSRF_ENABLED"] = False


def test_existing_account_accepts_an_invitation_with_its_password(app, client, caplog):
    path = _invitation_path(caplog, email="store2@demo.test")  # S2's owner joins S1 as staff
    response = client.post(path, data={"password": "demo1234"})
    assert response.status_code == 302
    memberships = db.session.execute(
        select(Membership).join(User).where(User.email == "store2@demo.test")
    ).scalars()
    assert {m.org.code for m in memberships} == {"S1", "S2"}


def test_absurd_credit_limit_is_refused_with_the_field_named(login):
    client = login("hq@demo.test")
    for value in ("NaN", "Infinity", "1e30", "-5"):
        response = client.post(
            f"/orgs/S2/terms?brand_id={org('ACME').id}",
            data={"level": "A", "region": "south", "credit_limit": value, "payment_terms_days": 10},
        )
        assert response.status_code == 422, value
        assert 'id="credit_limit-error"' in response.get_data(as_text=True)


def test_a_key_for_payments_and_replenishment_is_created_and_listed_with_its_scopes(login, client):
    page = login("dist1@demo.test")
    form = page.get("/settings/api-keys").get_data(as_text=True)
    assert "finance.manage: record payments and adjustments as the supplier" in form
    assert 'value="replenishment.view"' in form and 'value="replenishment.manage"' in form
    scopes = ["finance.manage", "replenishment.view", "replenishment.manage"]
    response = page.post("/settings/api-keys", data={"name": "SAP", "scopes": scopes})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "finance.manage, replenishment.manage, replenishment.view" in html
    token = re.search(r'data-testid="new-token">([^<]+)<', html).group(1)
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert me["scopes"] == ["account.use", *sorted(scopes)]


def test_a_store_is_not_offered_a_scope_beyond_its_owner(login):
    page = login("store1@demo.test")
    assert 'value="finance.manage"' not in page.get("/settings/api-keys").get_data(as_text=True)
    response = page.post("/settings/api-keys", data={"name": "POS", "scopes": ["finance.manage"]})
    assert response.status_code == 422
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
