"""Idempotent requests (DESIGN §9): a client that retries a POST with the same Idempotency-Key
(or a page form with the same one-time token) gets the first response back and never a second
order. Any domain's write can use it; orders and replenishment submits do.

The key's row is written in the same transaction as the work, so it exists exactly when the
work's rows do. While the first request runs, it holds a transaction-scoped advisory lock on the key
(PostgreSQL): a duplicate arriving meanwhile gets 409 at once instead of queueing. On SQLite
writers take turns (BEGIN IMMEDIATE), so a duplicate simply waits and then replays.
Keys are scoped to the caller's org and kept `RETENTION` (pruned by a periodic job).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    delete,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import JSON

from portal.core.db import BigId, UTCDateTime, utcnow
from portal.core.errors import Conflict, DomainError, ValidationFailed
from portal.extensions import Model, db


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was used with a different request."


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"
    message = "A request with this Idempotency-Key is still being processed; retry shortly."


class IdempotencyKey(Model):
    """A request an org made under its own key, written with its outcome in the request's own
    transaction: a replay gets the stored response, the same key with another body is refused."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("org_id", "key"),
        Index("ix_idempotency_keys_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[dict[str, Any]] = mapped_column(JSON)
    # the order the request placed (the table is referred to by name: core imports no domain)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


RETENTION = timedelta(hours=48)  # at least the 24 hours promised to clients
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Response:
    status: int
    body: dict[str, Any]
    replayed: bool = False


def request_hash(payload: Any) -> str:
    return hashlib.sha256(
        json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()


def _lock_id(org_id: int, key: str) -> int:
    digest = hashlib.sha256(f"{org_id}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _find(org_id: int, key: str) -> IdempotencyKey | None:
    return db.session.execute(
        select(IdempotencyKey)
        .where(IdempotencyKey.org_id == org_id, IdempotencyKey.key == key)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def _replay(row: IdempotencyKey, digest: str) -> Response:
    if row.request_hash != digest:
        raise IdempotencyKeyReused()
    return Response(row.response_status, row.response_body, replayed=True)


def run_once(
    org_id: int,
    key: str,
    payload: Any,
    work: Callable[[], tuple[int, dict[str, Any], int | None]],
) -> Response:
    """Run `work` once per (org, key): it returns (status, body, order id) and must not commit.
    A DomainError from `work` is stored as its error response too (a replay gets the same
    answer), its partial writes undone. The caller commits."""
    key = (key or "").strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed(
            fields={"Idempotency-Key": f"A key of 1 to {MAX_KEY_LENGTH} characters."}
        )
    digest = request_hash(payload)
    if db.session.get_bind().dialect.name == "postgresql":
        locked = db.session.execute(
            text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": _lock_id(org_id, key)}
        ).scalar_one()
        if not locked:
            row = _find(org_id, key)
            if row is not None and row.request_hash != digest:
                raise IdempotencyKeyReused()
            raise IdempotencyInProgress()
    row = _find(org_id, key)
    if row is not None:
        if row.created_at > utcnow() - RETENTION:
            return _replay(row, digest)
        db.session.delete(row)  # an expired key the pruning job has not reached yet
        db.session.flush()
    try:
        with db.session.begin_nested():
            status, body, order_id = work()
    except DomainError as error:
        status = error.status
        body = {"error": {"code": error.code, "message": error.message, "fields": error.fields}}
        body["error"].update(error.extra)
        order_id = None
    db.session.add(
        IdempotencyKey(
            org_id=org_id,
            key=key,
            request_hash=digest,
            response_status=status,
            response_body=body,
            order_id=order_id,
            created_at=utcnow(),
        )
    )
    db.session.flush()
    return Response(status, body)


def prune_keys() -> int:
    """Forget keys older than the retention period."""
    result = db.session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < utcnow() - RETENTION)
    )
    return cast(CursorResult[Any], result).rowcount or 0
