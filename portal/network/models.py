from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from portal.core.access import OrgKind, Role
from portal.core.db import TimestampMixin, UTCDateTime, enum_check
from portal.extensions import Model


class OrgStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Organization(TimestampMixin, Model):
    """Identity only: who an org is and where. What it buys and from whom lives in ChannelLink."""

    __tablename__ = "organizations"
    __table_args__ = (
        CheckConstraint(enum_check("kind", tuple(OrgKind)), name="kind"),
        CheckConstraint(enum_check("status", tuple(OrgStatus)), name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    region: Mapped[str] = mapped_column(String(40), default="")
    address: Mapped[str] = mapped_column(String(255), default="")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    status: Mapped[str] = mapped_column(String(20), default=OrgStatus.ACTIVE, index=True)

    @property
    def is_active(self) -> bool:
        return self.status == OrgStatus.ACTIVE

    @property
    def is_brand(self) -> bool:
        return self.kind == OrgKind.BRAND

    def __repr__(self) -> str:
        return f"<Organization {self.code}>"


class ChannelLink(TimestampMixin, Model):
    """ "Brand B sells to buyer through supplier": one node of brand B's channel tree.

    `path` lists org ids from the brand down to the buyer ("/1/7/42/"), so everything below an
    org in one brand is a single indexed prefix match.
    """

    __tablename__ = "channel_links"
    __table_args__ = (
        UniqueConstraint("brand_id", "buyer_org_id"),
        CheckConstraint("credit_limit_cents >= 0", name="credit_limit_not_negative"),
        CheckConstraint("payment_terms_days >= 0", name="payment_terms_not_negative"),
        Index(
            "ix_channel_links_brand_id_path",
            "brand_id",
            "path",
            postgresql_ops={"path": "text_pattern_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    supplier_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    buyer_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    level: Mapped[str] = mapped_column(String(20), default="")
    region: Mapped[str] = mapped_column(String(40), default="")
    credit_limit_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    payment_terms_days: Mapped[int] = mapped_column(Integer, default=0)
    path: Mapped[str] = mapped_column(String(255))

    brand: Mapped[Organization] = relationship(foreign_keys=[brand_id])
    supplier: Mapped[Organization] = relationship(foreign_keys=[supplier_org_id])
    buyer: Mapped[Organization] = relationship(foreign_keys=[buyer_org_id])

    @property
    def depth(self) -> int:
        return self.path.strip("/").count("/")


class User(UserMixin, TimestampMixin, Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    locale: Mapped[str | None] = mapped_column(String(20))
    is_disabled: Mapped[bool] = mapped_column(default=False)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return not self.is_disabled

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method="scrypt")

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)


class Membership(TimestampMixin, Model):
    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("user_id", "org_id"),
        CheckConstraint(enum_check("role", tuple(Role)), name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    role: Mapped[str] = mapped_column(String(30))

    user: Mapped[User] = relationship(back_populates="memberships")
    org: Mapped[Organization] = relationship()


class Invitation(TimestampMixin, Model):
    """An e-mailed invitation to join an org with a role; its link carries a signed token."""

    __tablename__ = "invitations"
    __table_args__ = (CheckConstraint(enum_check("role", tuple(Role)), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    role: Mapped[str] = mapped_column(String(30))
    nonce: Mapped[str] = mapped_column(String(32))
    invited_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    org: Mapped[Organization] = relationship()
