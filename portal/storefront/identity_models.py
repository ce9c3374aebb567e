"""Who a consumer is at a sign-in provider outside the portal (WeChat): the ids it vouched for,
linked to the consumer who proved their mobile number (portal/storefront/wechat_accounts.py).

One WeChat user is one consumer per brand. Its openid differs per app (the mini-program, the
website), its unionid (when the apps share an open-platform account) does not: the unionid is
kept once per brand, on the identity that brought it first, and an identity that a later app
adds for the same consumer carries its own openid only. So every index below holds the rule
"one WeChat user, one consumer" where the database can see it, and a consumer holds at most one
identity per app.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.core.db import BigId, UTCDateTime, enum_check, utcnow
from portal.extensions import Model
from portal.storefront.models import Consumer


class IdentityProvider(enum.StrEnum):
    WECHAT = "wechat"


class IdentityApp(enum.StrEnum):
    MINI = "mini"  # the brand's mini-program
    WEB = "web"  # the website's QR sign-in


class ConsumerIdentity(Model):
    """One app's id of a consumer at a provider: made when they link it, gone when they unlink
    it or are erased."""

    __tablename__ = "consumer_identities"
    __table_args__ = (
        CheckConstraint(enum_check("provider", tuple(IdentityProvider)), name="provider"),
        CheckConstraint(enum_check("app", tuple(IdentityApp)), name="app"),
        UniqueConstraint("brand_id", "provider", "app", "openid"),
        UniqueConstraint("consumer_id", "provider", "app"),
        Index(
            "uq_consumer_identities_brand_id_provider_unionid",
            "brand_id",
            "provider",
            "unionid",
            unique=True,
            postgresql_where=text("unionid IS NOT NULL"),
            sqlite_where=text("unionid IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"), index=True)
    provider: Mapped[str] = mapped_column(String(20), default=IdentityProvider.WECHAT)
    app: Mapped[str] = mapped_column(String(10))
    openid: Mapped[str] = mapped_column(String(64))
    unionid: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    consumer: Mapped[Consumer] = relationship()
