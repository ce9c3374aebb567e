"""Housekeeping jobs for credentials."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete

from portal.auth.models import ApiToken, TokenKind
from portal.core import jobs
from portal.core.db import utcnow
from portal.extensions import db


@jobs.job(queue=jobs.QUEUE_DEFAULT, title="Remove expired API session tokens")
def prune_expired_tokens() -> dict[str, int]:
    """Session tokens a day past expiry are useless; API keys are kept (revoked ones too)."""
    cutoff = utcnow() - timedelta(days=1)
    result = db.session.execute(
        delete(ApiToken).where(ApiToken.kind == TokenKind.SESSION, ApiToken.expires_at < cutoff)
    )
    db.session.commit()
    return {"removed": result.rowcount or 0}
