"""Credentials and the Actor they produce."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from functools import cache

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from portal.auth import throttle
from portal.auth.models import ApiToken, TokenKind, UserSession
from portal.core import audit
from portal.core.access import (
    ROLE_PERMISSIONS,
    Actor,
    OrgKind,
    Permission,
    Role,
    api_key_scopes,
)
from portal.core.db import utcnow
from portal.core.errors import DomainError, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.network.models import ChannelLink, Membership, Organization, OrgStatus, User
from portal.network.services import MIN_PASSWORD, normalize_email, org_suspended


class InvalidCredentials(DomainError):
    code = "invalid_credentials"
    status = 401
    message = "E-mail or password is not correct."


class SignInThrottled(DomainError):
    code = "rate_limited"
    status = 429
    message = "Too many failed sign-ins. Wait a moment before trying again."

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"Too many failed sign-ins. Try again in {retry_after} seconds.",
            retry_after=retry_after,
        )
        self.retry_after = retry_after


class NoActiveOrganization(DomainError):
    code = "org_suspended"
    status = 403
    message = "Your organization is suspended. Contact your supplier."


def authenticate(email: str, password: str) -> User:
    user = db.session.execute(
        select(User).where(User.email == normalize_email(email))
    ).scalar_one_or_none()
    if user is None:
        # Spend the same time as a real check so response time does not reveal accounts.
        check_password_hash(_dummy_hash(), password)
        raise InvalidCredentials()
    if not user.check_password(password) or user.is_disabled:
        raise InvalidCredentials()
    return user


def sign_in_with_password(
    email: str, password: str, client: throttle.Client, *, org_code: str | None = None
) -> tuple[Membership, throttle.FailedSignIns | None]:
    """Check a sign-in under the throttle (portal/auth/throttle.py); returns the membership it
    acts as (membership_for_sign_in) and what failed since the user's last sign-in, if they
    should hear of it.

    Raises SignInThrottled while the client must wait (the password is not even looked at, and
    nothing is counted); InvalidCredentials with the failure counted (the caller commits before
    it answers, or the count is lost); or membership_for_sign_in's errors, counted as neither.
    """
    account = normalize_email(email)
    wait = throttle.wait_seconds(account, client)
    if wait:
        raise SignInThrottled(wait)
    try:
        user = authenticate(email, password)
    except InvalidCredentials:
        throttle.record_failure(account, client)
        raise
    membership = membership_for_sign_in(user, org_code)
    return membership, throttle.record_success(account, client)


@cache
def _dummy_hash() -> str:
    return generate_password_hash(secrets.token_hex(8), method="scrypt")


def active_memberships(user: User) -> list[Membership]:
    stmt = (
        select(Membership)
        .join(Organization, Organization.id == Membership.org_id)
        .options(joinedload(Membership.org))
        .where(Membership.user_id == user.id, Organization.status == OrgStatus.ACTIVE)
        .order_by(Organization.kind, Organization.code)
    )
    return list(db.session.execute(stmt).scalars())


def membership_for_sign_in(user: User, org_code: str | None = None) -> Membership:
    """The membership a sign-in acts as: the named org's, else the first active one."""
    memberships = active_memberships(user)
    if not memberships:
        raise NoActiveOrganization()
    if not org_code:
        return memberships[0]
    code = org_code.strip().upper()
    for membership in memberships:
        if membership.org.code == code:
            return membership
    raise ValidationFailed(fields={"org": f"You are not an active member of {code}."})


def validate_locale(locale: str) -> str:
    languages = current_app.config["LANGUAGES"]
    if locale not in languages:
        raise ValidationFailed(fields={"lang": f"Choose one of {', '.join(languages)}."})
    return locale


def org_paths(org: Organization) -> dict[int, str]:
    if org.kind == OrgKind.BRAND:
        return {org.id: f"/{org.id}/"}
    rows = db.session.execute(
        select(ChannelLink.brand_id, ChannelLink.path).where(ChannelLink.buyer_org_id == org.id)
    ).all()
    return {brand_id: path for brand_id, path in rows}


def actor_for_membership(membership: Membership) -> Actor:
    org = membership.org
    role = Role(membership.role)
    return Actor(
        org_id=org.id,
        org_kind=OrgKind(org.kind),
        org_code=org.code,
        permissions=ROLE_PERMISSIONS[role],
        paths=org_paths(org),
        user_id=membership.user_id,
        role=role,
        locale=membership.user.locale,
    )


def actor_for_api_key(token: ApiToken) -> Actor:
    org = token.org
    return Actor(
        org_id=org.id,
        org_kind=OrgKind(org.kind),
        org_code=org.code,
        # Every key may identify itself (GET /api/v1/me); the rest is what it was granted.
        permissions=frozenset(
            {Permission.ACCOUNT_USE}
            | {Permission(s) for s in token.scopes if s in api_key_scopes(OrgKind(org.kind))}
        ),
        paths=org_paths(org),
        api_key_id=token.id,
    )


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_secret() -> tuple[str, str]:
    prefix = secrets.token_hex(6)
    return prefix, f"pt_{prefix}_{secrets.token_urlsafe(32)}"


def issue_session_token(user: User, membership: Membership) -> tuple[str, datetime]:
    """A bearer token for one membership, expiring after API_TOKEN_TTL_HOURS."""
    prefix, token = _new_secret()
    expires_at = utcnow() + timedelta(hours=current_app.config["API_TOKEN_TTL_HOURS"])
    db.session.add(
        ApiToken(
            kind=TokenKind.SESSION,
            name=f"session {user.email}",
            prefix=prefix,
            token_hash=_hash(token),
            org_id=membership.org_id,
            membership_id=membership.id,
            created_by_user_id=user.id,
            expires_at=expires_at,
        )
    )
    db.session.flush()
    return token, expires_at


def create_api_key(actor: Actor, *, name: str, scopes: list[str]) -> tuple[ApiToken, str]:
    """An org-level key for an integration. The secret is returned once and never stored."""
    actor.ensure(Permission.API_KEYS_MANAGE)
    if actor.org_id is None:
        raise PermissionDenied()
    fields = {}
    name = (name or "").strip()
    if not name or len(name) > 80:
        fields["name"] = "Give the key a name of at most 80 characters."
    # Never more than the org's admin role may do itself (a store's key cannot fulfil orders).
    allowed = {s.value for s in api_key_scopes(actor.org_kind)} if actor.org_kind else set()
    unknown = [s for s in scopes if s not in allowed]
    if not scopes or unknown:
        fields["scopes"] = f"Choose from: {', '.join(sorted(allowed))}."
    if fields:
        raise ValidationFailed(fields=fields)
    prefix, token = _new_secret()
    key = ApiToken(
        kind=TokenKind.API_KEY,
        name=name,
        prefix=prefix,
        token_hash=_hash(token),
        org_id=actor.org_id,
        scopes=sorted(set(scopes)),
        created_by_user_id=actor.user_id,
    )
    db.session.add(key)
    db.session.flush()
    audit.record(actor, "api_key.created", org_id=actor.org_id, name=name, scopes=key.scopes)
    return key, token


def revoke_api_key(actor: Actor, key: ApiToken) -> None:
    actor.ensure(Permission.API_KEYS_MANAGE)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        db.session.flush()
        audit.record(actor, "api_key.revoked", org_id=key.org_id, name=key.name)


def actor_for_bearer(token: str) -> Actor | None:
    parts = token.split("_")
    if len(parts) < 3 or parts[0] != "pt":
        return None
    row = db.session.execute(
        select(ApiToken).where(ApiToken.prefix == parts[1])
    ).scalar_one_or_none()
    if row is None or not secrets.compare_digest(row.token_hash, _hash(token)):
        return None
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at < utcnow()):
        return None
    if not row.org.is_active:
        return None
    if row.kind == TokenKind.API_KEY:
        return actor_for_api_key(row)
    membership = row.membership
    if membership is None or membership.user.is_disabled:
        return None
    return actor_for_membership(membership)


# -- web sessions: a row per signed-in browser, so that ending one is a server-side fact ---------

# last_seen_at is written at most this often: a write per request would cost every page.
TOUCH_EVERY = timedelta(minutes=5)


def start_session(user: User, *, user_agent: str = "", address: str = "") -> str:
    """Record a new signed-in browser; returns the secret its session cookie carries."""
    secret = secrets.token_urlsafe(32)
    db.session.add(
        UserSession(
            token_hash=_hash(secret),
            user_id=user.id,
            user_agent=user_agent[:255],
            address=address[:64],
        )
    )
    db.session.flush()
    return secret


def find_session(secret: str) -> UserSession | None:
    """The live session with this secret: not revoked, not idle past SESSION_IDLE_DAYS, and
    its user not disabled. A session found idle or disabled is revoked on the way."""
    record = db.session.execute(
        select(UserSession)
        .options(joinedload(UserSession.user))
        .where(UserSession.token_hash == _hash(secret))
    ).scalar_one_or_none()
    if record is None or record.revoked_at is not None:
        return None
    now = utcnow()
    idle = timedelta(days=current_app.config["SESSION_IDLE_DAYS"])
    if record.last_seen_at < now - idle or record.user.is_disabled:
        record.revoked_at = now
        db.session.flush()
        return None
    return record


def touch_session(record: UserSession) -> bool:
    """Note that the session is in use; True when that changed the row (the caller commits)."""
    now = utcnow()
    if record.last_seen_at > now - TOUCH_EVERY:
        return False
    record.last_seen_at = now
    db.session.flush()
    return True


def end_session(secret: str) -> None:
    """Logout: the session's cookie never works again, wherever a copy of it is."""
    db.session.execute(
        update(UserSession)
        .where(UserSession.token_hash == _hash(secret), UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def end_all_sessions(user_ids: list[int]) -> None:
    """Sign these users out everywhere: every browser session and every bearer token they got
    with their password (org API keys are the org's, not theirs, and stay)."""
    if not user_ids:
        return
    now = utcnow()
    db.session.execute(
        update(UserSession)
        .where(UserSession.user_id.in_(user_ids), UserSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    db.session.execute(
        update(ApiToken)
        .where(
            ApiToken.kind == TokenKind.SESSION,
            ApiToken.created_by_user_id.in_(user_ids),
            ApiToken.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )


def change_password(actor: Actor, *, current_password: str, new_password: str) -> User:
    """Change the actor's own password. Every session and token of the user ends, the one in
    use included: the caller starts a fresh session for the browser that made the change.
    Raises ValidationFailed naming the field."""
    actor.ensure(Permission.ACCOUNT_USE)
    user = db.session.get(User, actor.user_id) if actor.user_id else None
    if user is None:
        raise PermissionDenied()
    if not user.check_password(current_password):
        raise ValidationFailed(fields={"current_password": "This is not your current password."})
    if len(new_password) < MIN_PASSWORD:
        raise ValidationFailed(fields={"new_password": f"At least {MIN_PASSWORD} characters."})
    if len(new_password) > 200:
        raise ValidationFailed(fields={"new_password": "At most 200 characters."})
    if new_password == current_password:
        raise ValidationFailed(fields={"new_password": "Choose a password you do not use now."})
    user.set_password(new_password)
    end_all_sessions([user.id])
    db.session.flush()
    audit.record(actor, "user.password_changed", org_id=actor.org_id)
    return user


@org_suspended.connect
def _sign_out_suspended_org(org: Organization, **_: object) -> None:
    """A suspended org's people are signed out (all their sessions end, not just those acting
    as this org), and the tokens issued to act as it end too; its API keys are refused while it
    is suspended (actor_for_bearer)."""
    member_ids = list(
        db.session.execute(select(Membership.user_id).where(Membership.org_id == org.id)).scalars()
    )
    end_all_sessions(member_ids)
    db.session.execute(
        update(ApiToken)
        .where(
            ApiToken.kind == TokenKind.SESSION,
            ApiToken.org_id == org.id,
            ApiToken.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
