from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import JSON

from portal.core.db import TimestampMixin, UTCDateTime, enum_check
from portal.extensions import db
from portal.network.models import Membership, Organization


class TokenKind(enum.StrEnum):
    SESSION = "session"  # issued by POST /api/v1/auth/token to a user, acts as that membership
    API_KEY = "api_key"  # created in the portal for an org's ERP/POS, acts with its scopes


class ApiToken(TimestampMixin, db.Model):
    """A bearer credential. Only a SHA-256 of the secret is stored; the prefix finds the row."""

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint(enum_check("kind", tuple(TokenKind)), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(80), default="")
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    membership_id: Mapped[int | None] = mapped_column(
        ForeignKey("memberships.id", ondelete="CASCADE")
    )
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    org: Mapped[Organization] = relationship()
    membership: Mapped[Membership | None] = relationship()
