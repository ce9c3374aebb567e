"""The web side of signing in: the request's Actor, the session record behind the cookie, the
session's org and language, and who a sign-in attempt comes from. Request-bound, so it lives
apart from the services."""

from __future__ import annotations

import hashlib
import secrets

from flask import Response, after_this_request, current_app, request, session
from flask_login import current_user, login_user, logout_user
from itsdangerous import BadSignature, URLSafeTimedSerializer

from portal.auth import services
from portal.auth.services import (
    active_memberships,
    actor_for_bearer,
    actor_for_membership,
    validate_locale,
)
from portal.auth.throttle import Client, address_key
from portal.core.access import Actor
from portal.core.errors import NotFound
from portal.extensions import db
from portal.network.models import Membership, User
from portal.network.services import normalize_email

SESSION_MEMBERSHIP = "membership_id"
SESSION_SECRET = "sid"  # the secret of this browser's UserSession row
DEVICE_COOKIE = "portal_device"
DEVICE_ACCOUNTS = 5  # accounts one browser is remembered as known for


def load_request_actor() -> Actor | None:
    """Build the Actor for this request: bearer token for the API, else the session's membership.

    The session cookie authorizes the API for reads only, so a cross-site form can never write.
    """
    if request.path.startswith("/api/"):
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":
            return actor_for_bearer(header[7:].strip())
        if request.method not in ("GET", "HEAD"):
            return None
    if not current_user.is_authenticated:
        return None
    memberships = active_memberships(current_user)
    if not memberships:
        sign_out()  # every membership of this user has gone since sign-in
        db.session.commit()
        return None
    chosen = next((m for m in memberships if m.id == session.get(SESSION_MEMBERSHIP)), None)
    if chosen is None:
        chosen = memberships[0]
        session[SESSION_MEMBERSHIP] = chosen.id
    return actor_for_membership(chosen)


def switch_membership(user: User, membership_id: int) -> Membership:
    for membership in active_memberships(user):
        if membership.id == membership_id:
            session[SESSION_MEMBERSHIP] = membership.id
            return membership
    raise NotFound()


def set_locale(user: User | None, locale: str) -> str:
    """Remember the language in the session, and on the user when signed in."""
    session["lang"] = validate_locale(locale)
    if user is not None:
        user.locale = locale
        db.session.flush()
    return locale


# -- the session record behind the cookie ------------------------------------------------------


def load_session_user(user_id: str) -> User | None:
    """Flask-Login's user loader: the cookie's user only while its session record is live.
    A logged-out, replaced or suspended session is anonymous, so its pages send it to sign in."""
    secret = session.get(SESSION_SECRET)
    record = services.find_session(secret) if isinstance(secret, str) else None
    if record is None or str(record.user_id) != user_id:
        _clear_session()
        db.session.commit()  # an idle or disabled session found here is revoked for good
        return None
    if services.touch_session(record):
        # The loader runs first thing in the request, so this commits only the touch; a GET
        # would otherwise roll it back.
        db.session.commit()
    return record.user


def sign_in(user: User, membership: Membership) -> None:
    """Start a new session for this browser: a fresh cookie (nothing of the one before it
    survives, so a planted session id is useless) and a fresh server-side record."""
    _clear_session()
    login_user(user)
    session[SESSION_SECRET] = services.start_session(
        user,
        user_agent=request.headers.get("User-Agent", ""),
        address=request.remote_addr or "",
    )
    switch_membership(user, membership.id)


def renew_session(user: User) -> None:
    """After a password change: every session of the user has ended; this browser goes on
    with a new one."""
    membership_id = session.get(SESSION_MEMBERSHIP)
    memberships = active_memberships(user)
    chosen = next((m for m in memberships if m.id == membership_id), memberships[0])
    sign_in(user, chosen)


def sign_out() -> None:
    secret = session.get(SESSION_SECRET)
    if isinstance(secret, str):
        services.end_session(secret)
    logout_user()
    _clear_session()


def _clear_session() -> None:
    """Everything but the chosen language goes."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


# -- who a sign-in attempt comes from ----------------------------------------------------------


def _device_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="portal-known-device")


def _account_tag(account: str) -> str:
    # The cookie is signed, not secret: it names accounts only by a short hash.
    return hashlib.sha256(f"known-device:{account}".encode()).hexdigest()[:16]


def _read_device() -> tuple[str | None, list[str]]:
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw:
        return None, []
    max_age = current_app.config["LOGIN_KNOWN_DEVICE_DAYS"] * 86400
    try:
        data = _device_serializer().loads(raw, max_age=max_age)
    except BadSignature:
        return None, []
    if not isinstance(data, dict) or not isinstance(data.get("d"), str):
        return None, []
    accounts = data.get("a")
    if not isinstance(accounts, list):
        accounts = []
    return data["d"], [a for a in accounts if isinstance(a, str)]


def sign_in_client(email: str) -> Client:
    """The client trying `email`: its address, and its device id when this browser has signed in
    to that account before (the known-device cookie)."""
    address = address_key(request.remote_addr)
    device, accounts = _read_device()
    known = device is not None and _account_tag(normalize_email(email)) in accounts
    return Client(address=address, device=device if known else None)


def remember_device(email: str) -> None:
    """Mark this browser as known for the account it just signed in to (the cookie is set on the
    response)."""
    device, accounts = _read_device()
    tag = _account_tag(normalize_email(email))
    accounts = [tag, *(a for a in accounts if a != tag)][:DEVICE_ACCOUNTS]
    value = _device_serializer().dumps({"d": device or secrets.token_urlsafe(16), "a": accounts})
    config = current_app.config

    @after_this_request
    def set_cookie(response: Response) -> Response:
        response.set_cookie(
            DEVICE_COOKIE,
            value,
            max_age=config["LOGIN_KNOWN_DEVICE_DAYS"] * 86400,
            secure=config["SESSION_COOKIE_SECURE"],
            httponly=True,
            samesite="Lax",
        )
        return response
