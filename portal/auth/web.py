"""The web side of signing in: the request's Actor, the session's org and language, and the
sign-in throttle. Request-bound, so it lives apart from the services."""

from __future__ import annotations

from flask import current_app, request, session
from flask_login import current_user, logout_user

from portal.auth.services import (
    active_memberships,
    actor_for_bearer,
    actor_for_membership,
    validate_locale,
)
from portal.core.access import Actor
from portal.core.errors import NotFound
from portal.extensions import db
from portal.network.models import Membership, User
from portal.network.services import normalize_email

SESSION_MEMBERSHIP = "membership_id"


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
        logout_user()  # every org of this user has been suspended since sign-in
        session.pop(SESSION_MEMBERSHIP, None)
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


# -- sign-in throttle: only failed attempts count, per account and per client address ----------


def login_throttle_key() -> str:
    """The account being tried, from the login form or the token endpoint's JSON body."""
    email = request.form.get("email", "")
    if not email and request.is_json:
        body = request.get_json(silent=True)
        email = str(body.get("email", "")) if isinstance(body, dict) else ""
    return "login:" + normalize_email(email)


def account_limit() -> str:
    return current_app.config["LOGIN_LIMIT_PER_ACCOUNT"]


def ip_limit() -> str:
    return current_app.config["LOGIN_LIMIT_PER_IP"]
