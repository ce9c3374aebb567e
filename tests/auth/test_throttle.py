"""Sign-in is throttled per account and per address with growing delays, and the owner is never
locked out: not by an attacker at one address, nor by one at many."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal import create_app
from portal.auth.models import SignInFailure
from portal.extensions import db

ATTACKER = "203.0.113.9"
OWNER = "198.51.100.20"


def client_at(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def sign_in(client, email: str, password: str):
    return client.post("/login", data={"email": email, "password": password})


def elapse(seconds: int) -> None:
    """Let time pass for the throttle: every failure happened `seconds` earlier."""
    for row in db.session.execute(select(SignInFailure)).scalars():
        row.last_failed_at -= timedelta(seconds=seconds)
    db.session.commit()


def hammer(client, email: str, times: int) -> list[int]:
    """Wrong passwords, waiting out each delay as a patient attacker would."""
    statuses = []
    for _ in range(times):
        response = sign_in(client, email, "wrong-guess")
        if response.status_code == 429:
            elapse(int(response.headers["Retry-After"]))
            response = sign_in(client, email, "wrong-guess")
        statuses.append(response.status_code)
    return statuses


def own_failures(email: str, address: str) -> int:
    return db.session.execute(
        select(SignInFailure.failures).where(
            SignInFailure.account == email, SignInFailure.client == f"a:{address}"
        )
    ).scalar_one()


def test_delays_grow_and_no_password_is_checked_inside_one(app):
    attacker = client_at(app, ATTACKER)
    assert [sign_in(attacker, "dist2@demo.test", "x").status_code for _ in range(5)] == [401] * 5
    delays = []
    for _ in range(3):
        blocked = sign_in(attacker, "dist2@demo.test", "x")
        assert blocked.status_code == 429
        assert "Too many failed sign-ins" in blocked.get_data(as_text=True)
        delays.append(int(blocked.headers["Retry-After"]))
        # Inside the delay even the right password is not looked at, and nothing is counted.
        failures = own_failures("dist2@demo.test", ATTACKER)
        right = sign_in(attacker, "dist2@demo.test", "demo1234")
        assert right.status_code == 429
        assert own_failures("dist2@demo.test", ATTACKER) == failures
        elapse(delays[-1])
        assert sign_in(attacker, "dist2@demo.test", "x").status_code == 401
    assert delays == [2, 4, 8]


def test_delays_stop_growing_at_the_configured_cap(app, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_MAX_DELAY_SECONDS", 5)
    attacker = client_at(app, ATTACKER)
    hammer(attacker, "dist2@demo.test", 8)
    delays = []
    for _ in range(2):
        delays.append(int(sign_in(attacker, "dist2@demo.test", "x").headers["Retry-After"]))
        elapse(delays[-1])
        sign_in(attacker, "dist2@demo.test", "x")
    assert delays == [5, 5]


def test_owner_signs_in_from_another_address_while_an_attacker_hammers(app):
    attacker = client_at(app, ATTACKER)
    statuses = hammer(attacker, "dist2@demo.test", 30)
    assert statuses == [401] * 30  # every guess was checked, each after a longer wait
    assert sign_in(attacker, "dist2@demo.test", "x").status_code == 429

    owner = client_at(app, OWNER)  # a browser that never signed in before
    assert sign_in(owner, "dist2@demo.test", "demo1234").status_code == 302
    assert owner.get("/").status_code == 200
    # The attacker is still slowed after the owner's sign-in.
    assert sign_in(attacker, "dist2@demo.test", "x").status_code == 429


def test_the_hammering_address_can_still_sign_in_to_other_accounts(app):
    shared = client_at(app, ATTACKER)  # an office behind one address
    hammer(shared, "dist2@demo.test", 12)
    colleague = client_at(app, ATTACKER)
    assert sign_in(colleague, "store1@demo.test", "demo1234").status_code == 302


def test_many_addresses_slow_one_account_but_not_its_owners_browser(app):
    owner = client_at(app, OWNER)
    assert sign_in(owner, "dist2@demo.test", "demo1234").status_code == 302
    owner.post("/logout")  # the browser stays known for this account

    for index in range(4):  # 4 addresses x 5 free failures: the account's 20 free are spent
        bot = client_at(app, f"192.0.2.{index + 1}")
        assert hammer(bot, "dist2@demo.test", 5) == [401] * 5
    stranger = client_at(app, "192.0.2.200")
    slowed = sign_in(stranger, "dist2@demo.test", "demo1234")
    assert slowed.status_code == 429 and int(slowed.headers["Retry-After"]) > 0

    assert sign_in(owner, "dist2@demo.test", "demo1234").status_code == 302


def test_one_address_trying_many_accounts_is_slowed(app, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_FREE_FAILURES_PER_ADDRESS", 3)
    known = client_at(app, ATTACKER)
    assert sign_in(known, "store2@demo.test", "demo1234").status_code == 302
    known.post("/logout")

    sprayer = client_at(app, ATTACKER)
    for email in ("a@demo.test", "b@demo.test", "hq@demo.test"):
        assert sign_in(sprayer, email, "guess").status_code == 401
    assert sign_in(sprayer, "dist1@demo.test", "demo1234").status_code == 429
    # Elsewhere nothing changed, and a browser known to its account still signs in from there.
    assert sign_in(client_at(app, OWNER), "dist1@demo.test", "demo1234").status_code == 302
    assert sign_in(known, "store2@demo.test", "demo1234").status_code == 302


def test_next_sign_in_tells_of_failed_attempts_from_elsewhere(app):
    hammer(client_at(app, ATTACKER), "store1@demo.test", 3)
    owner = client_at(app, OWNER)
    response = sign_in(owner, "store1@demo.test", "demo1234")
    page = owner.get(response.headers["Location"]).get_data(as_text=True)
    assert "3 failed sign-in attempts since your last sign-in, the last from 203.0.113.9" in page

    owner.post("/logout")
    sign_in(owner, "store1@demo.test", "demo1234")
    assert "failed sign-in" not in owner.get("/").get_data(as_text=True)  # told once


def test_ones_own_typo_is_no_news(app):
    owner = client_at(app, OWNER)
    assert sign_in(owner, "store1@demo.test", "demo1235").status_code == 401
    response = sign_in(owner, "store1@demo.test", "demo1234")
    assert "failed sign-in" not in owner.get(response.headers["Location"]).get_data(as_text=True)


def test_token_endpoint_is_throttled_the_same_way(app):
    attacker = client_at(app, ATTACKER)
    body = {"email": "dist2@demo.test", "password": "wrong"}
    statuses = [attacker.post("/api/v1/auth/token", json=body).status_code for _ in range(5)]
    assert statuses == [401] * 5
    blocked = attacker.post("/api/v1/auth/token", json={**body, "password": "demo1234"})
    assert blocked.status_code == 429
    assert blocked.headers["Retry-After"] == "2"
    error = blocked.get_json()["error"]
    assert error["code"] == "rate_limited" and set(error) >= {"code", "message", "fields"}

    owner = client_at(app, OWNER)
    issued = owner.post("/api/v1/auth/token", json={**body, "password": "demo1234"})
    assert issued.status_code == 200
    failed = issued.get_json()["failed_sign_ins"]
    assert failed["count"] == 5 and failed["last_address"] == ATTACKER
    again = owner.post("/api/v1/auth/token", json={**body, "password": "demo1234"})
    assert again.get_json()["failed_sign_ins"] is None


def test_web_and_api_failures_count_together(app):
    attacker = client_at(app, ATTACKER)
    hammer(attacker, "dist2@demo.test", 5)
    body = {"email": "dist2@demo.test", "password": "wrong"}
    assert attacker.post("/api/v1/auth/token", json=body).status_code == 429


@pytest.mark.parametrize("path", ["/login", "/api/v1/auth/token"])
def test_sign_in_works_with_redis_down(base_app, app, path):
    """No Redis (nothing listens on port 1): signing in needs only the database."""
    down = create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=base_app.config["SQLALCHEMY_DATABASE_URI"],
        REDIS_URL="redis://127.0.0.1:1/0",
    )
    client = client_at(down, OWNER)

    def post(password: str):
        data = {"email": "hq@demo.test", "password": password}
        if path == "/login":
            return client.post(path, data=data)
        return client.post(path, json=data)

    assert post("wrong").status_code == 401
    ok = post("demo1234")
    assert ok.status_code == (302 if path == "/login" else 200)
