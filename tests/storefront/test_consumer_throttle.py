"""A consumer's e-mail sign-in is throttled like the portal's own (portal/core/throttle.py), per
brand: growing delays per e-mail and per client address, counted even though the answer is an
error, and never spilling over to the portal's users or to another brand's shop."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.core.throttle import SignInFailure
from portal.extensions import db
from portal.storefront import consumers
from tests.support.services import org

BASE = "/api/v1/shop/ACME"
ATTACKER = "203.0.113.9"
OWNER = "198.51.100.20"
EMAIL = "li@example.com"


def elapse(seconds: int) -> None:
    """Every failure happened `seconds` earlier."""
    for row in db.session.execute(select(SignInFailure)).scalars():
        row.last_failed_at -= timedelta(seconds=seconds)
    db.session.commit()


def at(app, address: str):
    """A browser at `address` that chose English."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    with client.session_transaction() as session:
        session["lang"] = "en"
    return client


@pytest.fixture
def li(app):
    consumers.sign_up_with_password(org("ACME"), EMAIL, "long enough")
    db.session.commit()


def _page_sign_in(client, password: str):
    return client.post(
        "/shop/ACME/account/sign-in/email", data={"email": EMAIL, "password": password}
    )


def _api_sign_in(client, password: str, email: str = EMAIL):
    return client.post(f"{BASE}/token/password", json={"email": email, "password": password})


def test_wrong_passwords_on_the_page_are_counted_and_then_delayed(app, li):
    attacker = at(app, ATTACKER)
    assert [_page_sign_in(attacker, "guess").status_code for _ in range(5)] == [401] * 5
    blocked = _page_sign_in(attacker, "long enough")  # inside the delay, not even looked at
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) == 2
    assert "Too many failed sign-ins" in blocked.get_data(as_text=True)
    elapse(2)
    assert _page_sign_in(attacker, "guess").status_code == 401
    assert int(_page_sign_in(attacker, "guess").headers["Retry-After"]) == 4


def test_the_owner_elsewhere_still_signs_in_and_clears_the_count(app, li):
    attacker = at(app, ATTACKER)
    for _ in range(5):
        _api_sign_in(attacker, "guess")
    assert _api_sign_in(attacker, "long enough").status_code == 429
    assert _api_sign_in(at(app, OWNER), "long enough").status_code == 201
    clients = set(
        db.session.execute(
            select(SignInFailure.client).where(SignInFailure.account.like("%" + EMAIL))
        ).scalars()
    )
    assert clients == {f"a:{ATTACKER}"}  # the account-wide row went with the owner's sign-in


def test_the_api_answers_429_with_retry_after_and_keeps_the_count(app, li):
    attacker = at(app, ATTACKER)
    wrong = [_api_sign_in(attacker, "guess") for _ in range(5)]
    assert {r.status_code for r in wrong} == {401}
    assert wrong[0].get_json()["error"]["code"] == "invalid_credentials"
    blocked = _api_sign_in(attacker, "guess")
    assert blocked.status_code == 429
    assert blocked.get_json()["error"]["code"] == "rate_limited"
    assert blocked.headers["Retry-After"] == "2"


def test_one_address_spraying_many_e_mails_is_slowed(app, li, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_FREE_FAILURES_PER_ADDRESS", 3)
    attacker = at(app, ATTACKER)
    answers = [_api_sign_in(attacker, "guess", f"n{i}@example.com").status_code for i in range(3)]
    assert answers == [401] * 3
    assert _api_sign_in(attacker, "long enough").status_code == 429


def test_counts_are_kept_apart_per_brand_and_from_the_portal(app, li):
    acme, lumi = org("ACME"), org("LUMI")
    for _ in range(5):
        with pytest.raises(consumers.InvalidCredentials):
            consumers.sign_in_with_password(acme, EMAIL, "guess", address=ATTACKER)
    with pytest.raises(consumers.SignInThrottled) as throttled:
        consumers.sign_in_with_password(acme, EMAIL, "long enough", address=ATTACKER)
    assert throttled.value.status == 429 and throttled.value.retry_after == 2
    # The same e-mail from the same address: another brand's shop, and the portal, are not slowed.
    with pytest.raises(consumers.InvalidCredentials):
        consumers.sign_in_with_password(lumi, EMAIL, "guess", address=ATTACKER)
    portal = at(app, ATTACKER).post("/login", data={"email": EMAIL, "password": "guess"})
    assert portal.status_code == 401
    accounts = set(db.session.execute(select(SignInFailure.account)).scalars())
    assert f"shop{acme.id}:{EMAIL}" in accounts and EMAIL in accounts
