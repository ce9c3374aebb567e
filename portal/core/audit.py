"""Append-only audit trail: who changed what in the network, when."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import JSON

from portal.core.access import Actor
from portal.core.db import TimestampMixin
from portal.extensions import Model, db


class AuditEvent(TimestampMixin, Model):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    action: Mapped[str] = mapped_column(String(60))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


def record(
    actor: Actor,
    action: str,
    *,
    org_id: int | None = None,
    brand_id: int | None = None,
    **details: Any,
) -> AuditEvent:
    event = AuditEvent(
        action=action,
        org_id=org_id,
        brand_id=brand_id,
        actor_user_id=actor.user_id,
        actor_org_id=actor.org_id,
        details=details,
    )
    db.session.add(event)
    return event
