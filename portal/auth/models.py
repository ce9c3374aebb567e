from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import JSON

from portal.core.db import TimestampMixin, UTCDateTime, enum_check, utcnow
from portal.core.throttle import SignInFailure  # noqa: F401 - moved to core, kept here
from portal.extensions import Model
from portal.network.models import Membership, Organization, User


class TokenKind(enum.StrEnum):
    SESSION = "session"  # issued by POST /api/v1/auth/token to a user, acts as that membership
    API_KEY = "api_key"  # created in the portal for an org's ERP/POS, acts with its scopes


class ApiToken(TimestampMixin, Model):
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


class UserSession(Model):
    """One signed-in browser. Its secret travels in the signed session cookie and only a SHA-256
    of it is stored here, so logout, a password change or a suspension can end it server-side:
    a copy of the cookie is worth nothing once the row is revoked."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    address: Mapped[str] = mapped_column(String(64), default="")

    user: Mapped[User] = relationship()
