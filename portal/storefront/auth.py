"""The consumer principal: who is signed in to a brand's shop. Apart from the B2B `Actor` on
purpose: an org user signed in to the portal is no consumer, and a consumer reaches no portal
page.

A browser holds one session per brand (the Flask session maps brand id -> secret); the mini-program
holds a bearer token from the same sign-in. Both are `ConsumerSession` rows kept only as hashes,
so signing out, erasure or a stolen phone ends them on the server. A session or token of brand A
means nothing on brand B's shop.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, g, redirect, request, session, url_for
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from portal.core.db import utcnow
from portal.core.errors import Unauthorized, wants_json
from portal.extensions import db
from portal.network.models import Organization
from portal.storefront.models import Consumer, ConsumerSession, ConsumerStatus
from portal.storefront.shared_views import shop_brand

SESSION_KEY = "shop_sessions"  # brand id (as text) -> the secret of that brand's session
TOKEN_PREFIX = "cs_"
# last_seen_at is written at most this often: a write per page would cost every page.
TOUCH_EVERY = timedelta(minutes=5)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def start_session(consumer: Consumer, *, kind: str = "web") -> tuple[str, datetime]:
    """A new revocable session for `consumer`: its secret (shown once) and expiry."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = utcnow() + timedelta(days=current_app.config["CONSUMER_SESSION_DAYS"])
    db.session.add(
        ConsumerSession(
            brand_id=consumer.brand_id,
            consumer_id=consumer.id,
            secret_hash=_hash(secret),
            kind=kind,
            expires_at=expires_at,
        )
    )
    db.session.flush()
    return secret, expires_at


def find_session(brand: Organization, secret: str) -> ConsumerSession | None:
    """The live session of `brand` with this secret: not revoked, not expired, its consumer not
    erased. Another brand's secret is None."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    record = db.session.execute(
        select(ConsumerSession)
        .where(
            ConsumerSession.secret_hash == _hash(secret),
            ConsumerSession.brand_id == brand.id,
        )
        .options(joinedload(ConsumerSession.consumer))
    ).scalar_one_or_none()
    now = utcnow()
    if record is None or record.revoked_at is not None or record.expires_at <= now:
        return None
    consumer = record.consumer
    if consumer.brand_id != brand.id or consumer.status != ConsumerStatus.ACTIVE:
        return None
    if now - record.last_seen_at > TOUCH_EVERY:
        record.last_seen_at = now
    return record


def end_session(brand: Organization, secret: str) -> None:
    db.session.execute(
        update(ConsumerSession)
        .where(
            ConsumerSession.secret_hash == _hash(secret),
            ConsumerSession.brand_id == brand.id,
            ConsumerSession.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )


# -- the browser -------------------------------------------------------------------------------


def sign_in_browser(consumer: Consumer) -> None:
    """Sign this browser in to the consumer's brand (a session of another brand stays)."""
    brand = consumer.brand
    sessions = dict(session.get(SESSION_KEY) or {})
    old = sessions.get(str(brand.id))
    if isinstance(old, str):
        end_session(brand, old)
    secret, _expires = start_session(consumer, kind="web")
    sessions[str(brand.id)] = secret
    session[SESSION_KEY] = sessions
    session.permanent = True
    g.pop("consumers", None)


def sign_out_browser(brand: Organization) -> None:
    sessions = dict(session.get(SESSION_KEY) or {})
    secret = sessions.pop(str(brand.id), None)
    if isinstance(secret, str):
        end_session(brand, secret)
    session[SESSION_KEY] = sessions
    g.pop("consumers", None)


def _request_secret(brand: Organization) -> str | None:
    if request.path.startswith("/api/"):
        header = request.headers.get("Authorization", "")
        return header[7:].strip() if header[:7].lower() == "bearer " else None
    secret = (session.get(SESSION_KEY) or {}).get(str(brand.id))
    return secret if isinstance(secret, str) else None


def current_consumer(brand: Organization) -> Consumer | None:
    """The consumer of `brand` signed in to this request (browser session or bearer token)."""
    cache: dict[int, Consumer | None] = g.setdefault("consumers", {})
    if brand.id not in cache:
        secret = _request_secret(brand)
        record = find_session(brand, secret) if secret else None
        cache[brand.id] = record.consumer if record else None
    return cache[brand.id]


def signed_in_consumer() -> Consumer:
    """The consumer a `@consumer_required` route is serving."""
    consumer = g.get("consumer")
    if consumer is None:
        raise Unauthorized()
    return consumer


def shop_next(brand: Organization, target: str | None) -> str:
    """`target` when it is a page of this brand's shop, else the account page: never off-site."""
    prefix = url_for("storefront.home", brand_code=brand.code)
    parts = urlsplit(target or "")
    if target and not parts.scheme and not parts.netloc and target.startswith(prefix):
        return target
    return url_for("storefront.account", brand_code=brand.code)


def consumer_required(view: Callable) -> Callable:
    """Declare and enforce a route for the signed-in consumer of the URL's brand. Signed out (or
    signed in to another brand only), a page sends the visitor to the shop's sign-in page and the
    API answers 401."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        brand = shop_brand(kwargs["brand_code"])
        consumer = current_consumer(brand)
        if consumer is None:
            if wants_json():
                raise Unauthorized()
            target = request.full_path.rstrip("?") if request.method == "GET" else None
            return redirect(url_for("storefront.sign_in", brand_code=brand.code, next=target))
        g.consumer = consumer
        return view(*args, **kwargs)

    wrapped._access = ("consumer", None)  # type: ignore[attr-defined]
    return wrapped
