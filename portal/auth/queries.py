"""Scoped reads of credentials: an org sees its own API keys and no one else's."""

from __future__ import annotations

from sqlalchemy import select

from portal.auth.models import ApiToken, TokenKind
from portal.core.access import Actor
from portal.core.errors import NotFound
from portal.extensions import db


def list_api_keys(actor: Actor) -> list[ApiToken]:
    stmt = select(ApiToken).where(
        ApiToken.org_id == actor.org_id, ApiToken.kind == TokenKind.API_KEY
    )
    return list(db.session.execute(stmt.order_by(ApiToken.created_at.desc())).scalars())


def get_api_key(actor: Actor, key_id: int) -> ApiToken:
    key = db.session.execute(
        select(ApiToken).where(
            ApiToken.id == key_id,
            ApiToken.org_id == actor.org_id,
            ApiToken.kind == TokenKind.API_KEY,
        )
    ).scalar_one_or_none()
    if key is None:
        raise NotFound()
    return key
