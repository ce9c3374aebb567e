"""Housekeeping jobs for credentials."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import CursorResult, Delete, delete, or_

from portal.auth import throttle
from portal.auth.models import ApiToken, TokenKind, UserSession
from portal.core import jobs
from portal.core.db import utcnow
from portal.extensions import db


@jobs.job(queue=jobs.QUEUE_DEFAULT, title="Remove expired API session tokens and ended sessions")
def prune_expired_tokens() -> dict[str, int]:
    """Session tokens a day past expiry are useless; API keys are kept (revoked ones too).
    Browser sessions go a day after they ended (revoked, or idle past SESSION_IDLE_DAYS), and
    sign-in failures once the throttle has long forgotten them."""
    cutoff = utcnow() - timedelta(days=1)
    tokens = _deleted(
        delete(ApiToken).where(ApiToken.kind == TokenKind.SESSION, ApiToken.expires_at < cutoff)
    )
    idle = timedelta(days=current_app.config["SESSION_IDLE_DAYS"])
    sessions = _deleted(
        delete(UserSession).where(
            or_(UserSession.revoked_at < cutoff, UserSession.last_seen_at < cutoff - idle)
        )
    )
    return {
        "removed": tokens,
        "sessions_removed": sessions,
        "sign_in_failures_removed": throttle.prune(),
    }


def _deleted(statement: Delete) -> int:
    result = cast(CursorResult[Any], db.session.execute(statement))
    return result.rowcount or 0
