"""Signing consumers in with WeChat, and linking WeChat users to consumers.

A WeChat user is linked to the consumer of their mobile number. The first time they sign in with
WeChat nobody is linked yet: they get a link ticket (signed with the app's secret, salt of its
own, short-lived) that says which WeChat user WeChat vouched for, and prove a mobile number with
the shop's one-time code, under the code sign-in's own rules and throttles
(`consumers.request_sign_in_code` / `sign_in_with_code`); the WeChat user is then linked to that
number's consumer, made if new as a code sign-in makes one. An openid is only ever taken from
WeChat's answer or from a ticket we signed, never from what a client sends. From then on WeChat
signs them in directly. A consumer who is signed in links WeChat from their account page (no
ticket: they are who they are) and may unlink it; erasure forgets their identities.

Services take the brand, as `consumers` does, and raise `DomainError`s whose `fields` name the
field; nothing they raise leaves a write behind except a wrong code, whose try is counted (the
caller keeps it with `transaction.keep()`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.exc import IntegrityError

from portal.core.db import utcnow
from portal.core.errors import Conflict, DomainError
from portal.extensions import db
from portal.network.models import Organization
from portal.storefront import consumers, hooks
from portal.storefront.identity_models import ConsumerIdentity, IdentityApp, IdentityProvider
from portal.storefront.models import Consumer, ConsumerStatus
from portal.storefront.wechat_login import WeChatUser
from portal.storefront.words import say

SALT = "shop-wechat-link"
PROVIDER = IdentityProvider.WECHAT.value


class LinkTicketInvalid(DomainError):
    """A link ticket we did not sign, of another brand, or past WECHAT_LINK_TICKET_SECONDS."""

    code = "wechat_link_ticket_invalid"
    status = 422

    def __init__(self, *, expired: bool = False) -> None:
        message = (
            say(_l("This WeChat sign-in has expired. Sign in with WeChat again."))
            if expired
            else say(_l("This WeChat sign-in is not valid. Sign in with WeChat again."))
        )
        super().__init__(message, fields={"link_ticket": message})


class IdentityTaken(Conflict):
    """The WeChat user is linked to another consumer of the brand already."""

    code = "wechat_identity_taken"

    def __init__(self) -> None:
        message = say(_l("This WeChat account is already linked to another account of this shop."))
        super().__init__(message, fields={"link_ticket": message})


class ConsumerHasWeChat(Conflict):
    """The consumer is linked to another WeChat user already (one WeChat per account)."""

    code = "wechat_already_linked"

    def __init__(self) -> None:
        message = say(
            _l(
                "This account is already linked to another WeChat account. Unlink it on the"
                " account page first."
            )
        )
        super().__init__(message, fields={"phone": message})


# -- finding and signing in --------------------------------------------------------------------


def _identities(brand_id: int) -> Any:
    return select(ConsumerIdentity).where(
        ConsumerIdentity.brand_id == brand_id, ConsumerIdentity.provider == PROVIDER
    )


def find_identity(brand: Organization, user: WeChatUser) -> ConsumerIdentity | None:
    """The brand's identity of this WeChat user: by this app's openid, else by the unionid
    another app of theirs brought."""
    match: ColumnElement[bool] = (ConsumerIdentity.app == user.app) & (
        ConsumerIdentity.openid == user.openid
    )
    if user.unionid:
        match = or_(match, ConsumerIdentity.unionid == user.unionid)
    rows = db.session.execute(
        _identities(brand.id).where(match).order_by(ConsumerIdentity.id)
    ).scalars()
    found = list(rows)
    # This app's own row first: it is the one that names exactly this user.
    found.sort(key=lambda row: (row.app != user.app or row.openid != user.openid, row.id))
    return found[0] if found else None


def sign_in_with_wechat(brand: Organization, user: WeChatUser) -> Consumer | None:
    """The consumer this WeChat user is linked to, signed in now; None: not linked yet (the
    caller asks for the mobile number, `make_link_ticket`). Known through another app of the
    same open-platform account (the unionid), this app's openid is recorded for them too."""
    identity = find_identity(brand, user)
    if identity is None:
        return None
    consumer = identity.consumer
    if consumer.status != ConsumerStatus.ACTIVE or consumer.brand_id != brand.id:
        return None
    if identity.app != user.app:
        _add_app_identity(consumer, user)
    consumer.last_sign_in_at = utcnow()
    db.session.flush()
    return consumer


def _add_app_identity(consumer: Consumer, user: WeChatUser) -> None:
    """Record this app's openid for a consumer known by unionid (not repeated: the unionid
    stays on the identity that brought it). A concurrent sign-in that recorded it first wins."""
    if any(row.app == user.app for row in list_identities(consumer)):
        return
    try:
        with db.session.begin_nested():
            db.session.add(_identity(consumer, user, unionid=None))
    except IntegrityError:
        pass


def _identity(consumer: Consumer, user: WeChatUser, *, unionid: str | None) -> ConsumerIdentity:
    return ConsumerIdentity(
        brand_id=consumer.brand_id,
        consumer_id=consumer.id,
        provider=PROVIDER,
        app=IdentityApp(user.app).value,
        openid=user.openid,
        unionid=unionid,
    )


def list_identities(consumer: Consumer) -> list[ConsumerIdentity]:
    return list(
        db.session.execute(
            _identities(consumer.brand_id)
            .where(ConsumerIdentity.consumer_id == consumer.id)
            .order_by(ConsumerIdentity.id)
        ).scalars()
    )


# -- the link ticket ---------------------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def ticket_seconds() -> int:
    return int(current_app.config["WECHAT_LINK_TICKET_SECONDS"])


def make_link_ticket(brand: Organization, user: WeChatUser) -> tuple[str, datetime]:
    """A ticket that carries the WeChat user WeChat vouched for to the step that links them,
    and when it expires."""
    payload = {"b": brand.id, "a": user.app, "o": user.openid, "u": user.unionid}
    ticket = _serializer().dumps(payload)
    return ticket, utcnow() + timedelta(seconds=ticket_seconds())


def read_link_ticket(brand: Organization, ticket: str) -> WeChatUser:
    """The WeChat user of a ticket we signed for this brand, within its time; else
    LinkTicketInvalid naming `link_ticket`."""
    try:
        payload = _serializer().loads(ticket or "", max_age=ticket_seconds())
    except SignatureExpired:
        raise LinkTicketInvalid(expired=True) from None
    except BadData:
        raise LinkTicketInvalid() from None
    if not isinstance(payload, dict) or payload.get("b") != brand.id:
        raise LinkTicketInvalid()
    app, openid, unionid = payload.get("a"), payload.get("o"), payload.get("u")
    if app not in tuple(IdentityApp) or not isinstance(openid, str) or not openid:
        raise LinkTicketInvalid()
    if unionid is not None and not isinstance(unionid, str):
        raise LinkTicketInvalid()
    return WeChatUser(app=app, openid=openid, unionid=unionid or None)


# -- linking and unlinking ---------------------------------------------------------------------


def link_with_code(
    brand: Organization,
    user: WeChatUser,
    raw_phone: str,
    code: str,
    *,
    guide_code: str | None = None,
) -> Consumer:
    """Link the WeChat user (read from a ticket) to the consumer of this mobile number, made if
    new, once the number's sign-in code checks out (`consumers.sign_in_with_code`: InvalidCode
    counts the try). A WeChat user linked to someone else is refused (IdentityTaken) before the
    code is spent; an account linked to another WeChat (ConsumerHasWeChat) after, so that
    nobody learns it without the number's code."""
    existing = find_identity(brand, user)
    if existing is not None and _phone_of(existing) != consumers.normalize_phone(raw_phone):
        raise IdentityTaken()
    consumer = consumers.sign_in_with_code(brand, raw_phone, code, guide_code=guide_code)
    link_identity(consumer, user)
    return consumer


def _phone_of(identity: ConsumerIdentity) -> str | None:
    return identity.consumer.phone


def link_identity(consumer: Consumer, user: WeChatUser) -> ConsumerIdentity:
    """Link the WeChat user to `consumer` (linked to them already: nothing changes). Refused
    when the WeChat user is another consumer's (IdentityTaken), or when the consumer has
    another WeChat user's identity (ConsumerHasWeChat). Two links of one WeChat user at the same
    moment: the database's unique indexes let one through, the other is IdentityTaken."""
    brand = consumer.brand
    existing = find_identity(brand, user)
    if existing is not None:
        if existing.consumer_id != consumer.id:
            raise IdentityTaken()
        if existing.app != user.app:
            _add_app_identity(consumer, user)
        return existing
    theirs = list_identities(consumer)
    other_user = any(
        row.app == user.app or (row.unionid and user.unionid and row.unionid != user.unionid)
        for row in theirs
    )
    if other_user:
        raise ConsumerHasWeChat()
    identity = _identity(consumer, user, unionid=user.unionid)
    try:
        with db.session.begin_nested():
            db.session.add(identity)
    except IntegrityError:
        raise IdentityTaken() from None
    return identity


def unlink(consumer: Consumer) -> int:
    """Remove the consumer's WeChat identities (every app): WeChat no longer signs them in.
    Their number (or e-mail) still does. How many were removed."""
    rows = list_identities(consumer)
    for row in rows:
        db.session.delete(row)
    db.session.flush()
    return len(rows)


def forget_identities(consumer: Consumer) -> None:
    """Erasure (hooks.consumer_erased): the consumer's identities at every provider go."""
    db.session.execute(
        delete(ConsumerIdentity)
        .where(ConsumerIdentity.consumer_id == consumer.id)
        .execution_options(synchronize_session="fetch")
    )


def plug() -> None:
    """Join the storefront's hooks; idempotent (every app of one process calls it)."""
    if forget_identities not in hooks.consumer_erased:
        hooks.consumer_erased.append(forget_identities)
