"""Who may enter a brand's employee store, and why (DESIGN §7 "Employee store").

A member enters on a live `Entitlement` for the brand: a record of its source, so HQ can see
why someone may enter and revoke it.

- employee: the consumer's mobile number is on the brand's HR list (`HrListEntry`, replaced
  whole by an uploaded file, `HrListUpload`), or they proved by a code sent by e-mail that an
  address of the brand's HR list or of a portal user of its HQ or stores is theirs;
- partner: their number is on a partner company's list (`PartnerPhone`), or they proved an
  address at the partner's e-mail domain (`PartnerCompany.email_domain`);
- friend: they joined with an employee's `InviteCode`.

Records are never deleted: a revoked one keeps when and why (`revoked_reason`).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.core.db import BigId, TimestampMixin, UTCDateTime, enum_check, utcnow
from portal.core.staged import StagedStatus
from portal.extensions import Model
from portal.members.models import Member


class EntitlementKind(enum.StrEnum):
    EMPLOYEE = "employee"
    PARTNER = "partner"  # an employee of a partner company
    FRIEND = "friend"  # invited by an employee or a partner employee


class EntitlementSource(enum.StrEnum):
    HR_LIST = "hr_list"  # a row of the HR list, matched by mobile number or a proven e-mail
    PORTAL_USER = "portal_user"  # a portal user of the brand's HQ or stores, by proven e-mail
    PARTNER_LIST = "partner_list"  # a partner company's list of mobile numbers
    PARTNER_DOMAIN = "partner_domain"  # a proven address at a partner company's domain
    INVITE = "invite"  # an invite code


class RevokeReason(enum.StrEnum):
    HQ = "hq"  # revoked by HQ by hand: the same source never grants it again by itself
    LEFT_LIST = "left_list"  # no longer on the HR list or the partner's list (or changed there)
    PARTNER_ENDED = "partner_ended"  # the partner company was ended, or its domain changed


INVITING_KINDS = (EntitlementKind.EMPLOYEE, EntitlementKind.PARTNER)


class Entitlement(TimestampMixin, Model):
    """One reason a member may enter a brand's employee store."""

    __tablename__ = "employee_entitlements"
    __table_args__ = (
        # One record per source and member: found again, a record is revived, not duplicated.
        UniqueConstraint("brand_id", "member_id", "source_key"),
        CheckConstraint(enum_check("kind", tuple(EntitlementKind)), name="kind"),
        CheckConstraint(enum_check("source", tuple(EntitlementSource)), name="source"),
        CheckConstraint(
            "revoked_reason IS NULL OR " + enum_check("revoked_reason", tuple(RevokeReason)),
            name="revoked_reason",
        ),
        Index("ix_employee_entitlements_member_id_brand_id", "member_id", "brand_id"),
        Index("ix_employee_entitlements_brand_id_id", "brand_id", "id"),
        Index(
            "ix_employee_entitlements_invited_by_member_id_granted_at",
            "invited_by_member_id",
            "granted_at",
        ),
        Index("ix_employee_entitlements_hr_entry_id", "hr_entry_id"),
        Index("ix_employee_entitlements_partner_id", "partner_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    consumer_id: Mapped[int | None] = mapped_column(ForeignKey("consumers.id"))  # who proved it
    kind: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(20))
    # "hr:<entry>", "user:<user>", "partner:<partner>:phone", "partner:<partner>:email",
    # "code:<code>": what makes two records the same
    source_key: Mapped[str] = mapped_column(String(80))
    hr_entry_id: Mapped[int | None] = mapped_column(ForeignKey("employee_hr_entries.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("employee_partners.id"))
    invite_code_id: Mapped[int | None] = mapped_column(ForeignKey("employee_invite_codes.id"))
    invited_by_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    phone: Mapped[str | None] = mapped_column(String(20))  # the number a list matched
    email: Mapped[str | None] = mapped_column(String(254))  # the address proven by a code
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(String(20))
    revoked_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    member: Mapped[Member] = relationship(foreign_keys=[member_id])
    inviter: Mapped[Member | None] = relationship(foreign_keys=[invited_by_member_id])
    hr_entry: Mapped[HrListEntry | None] = relationship()
    partner: Mapped[PartnerCompany | None] = relationship()
    invite_code: Mapped[InviteCode | None] = relationship(foreign_keys=[invite_code_id])

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None


class HrListEntry(TimestampMixin, Model):
    """A person on a brand's HR list, by employee number. A new list replaces the old: rows no
    longer on it are marked removed (and their entitlements revoked), never deleted."""

    __tablename__ = "employee_hr_entries"
    __table_args__ = (
        UniqueConstraint("brand_id", "employee_no"),
        Index("ix_employee_hr_entries_brand_id_phone", "brand_id", "phone"),
        Index("ix_employee_hr_entries_brand_id_email", "brand_id", "email"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    employee_no: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(120), default="")
    phone: Mapped[str | None] = mapped_column(String(20))  # E.164
    email: Mapped[str | None] = mapped_column(String(254))
    upload_id: Mapped[int | None] = mapped_column(ForeignKey("employee_hr_uploads.id"))
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class HrListUpload(TimestampMixin, Model):
    """An uploaded HR list (portal.core.staged): checked by a job, confirmed by HQ, then applied
    whole (the brand's list becomes the file's rows) or not at all."""

    __tablename__ = "employee_hr_uploads"
    __table_args__ = (
        CheckConstraint(enum_check("status", tuple(StagedStatus)), name="status"),
        Index("ix_employee_hr_uploads_brand_id_id", "brand_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    filename: Mapped[str] = mapped_column(String(255))
    stored_path: Mapped[str] = mapped_column(String(255))  # relative to instance/
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default=StagedStatus.VALIDATING)
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    # [{"row": 3, "column": "phone", "reason": "..."}], capped; error_count has the full number
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # {"added", "kept", "changed", "removed", "revoked"}, or {"failure": "..."}
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    job_id: Mapped[str | None] = mapped_column(String(160))
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def is_busy(self) -> bool:
        return self.status in (StagedStatus.VALIDATING, StagedStatus.APPLYING)


class PartnerCompany(TimestampMixin, Model):
    """A company whose employees may enter the brand's employee store: by its list of mobile
    numbers, or by proving an address at its e-mail domain."""

    __tablename__ = "employee_partners"
    __table_args__ = (
        UniqueConstraint("brand_id", "name"),
        Index("ix_employee_partners_brand_id_email_domain", "brand_id", "email_domain"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(120))
    email_domain: Mapped[str | None] = mapped_column(String(120))  # "partner.example.com"
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def is_live(self) -> bool:
        return self.ended_at is None


class PartnerPhone(Model):
    """A mobile number on a partner company's list."""

    __tablename__ = "employee_partner_phones"
    __table_args__ = (
        UniqueConstraint("partner_id", "phone"),
        Index("ix_employee_partner_phones_brand_id_phone", "brand_id", "phone"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    partner_id: Mapped[int] = mapped_column(ForeignKey("employee_partners.id"))
    phone: Mapped[str] = mapped_column(String(20))  # E.164
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EmailProof(Model):
    """A one-time code sent to an address a consumer claims (a work address). Only a nonce is
    stored: the code is derived from it with the app's secret (employee_proofs.py), so neither
    the row nor the mail job's arguments hold it."""

    __tablename__ = "employee_email_proofs"
    __table_args__ = (
        Index("ix_employee_email_proofs_consumer_id_id", "consumer_id", "id"),
        Index(
            "ix_employee_email_proofs_brand_id_email_created_at", "brand_id", "email", "created_at"
        ),
        Index("ix_employee_email_proofs_requested_from_created_at", "requested_from", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"))
    email: Mapped[str] = mapped_column(String(254))
    nonce: Mapped[str] = mapped_column(String(32))
    locale: Mapped[str] = mapped_column(String(10), default="zh_Hans_CN")  # of the mail
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    requested_from: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class InviteCode(Model):
    """An employee's invite code: lets `uses_allowed` friends in until `expires_at`."""

    __tablename__ = "employee_invite_codes"
    __table_args__ = (
        CheckConstraint("uses_count >= 0 AND uses_count <= uses_allowed", name="uses"),
        Index("ix_employee_invite_codes_member_id_brand_id", "member_id", "brand_id"),
        Index("ix_employee_invite_codes_brand_id_id", "brand_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    code: Mapped[str] = mapped_column(String(16), unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))  # the inviter
    uses_allowed: Mapped[int] = mapped_column(Integer)
    uses_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    inviter: Mapped[Member] = relationship()

    @property
    def uses_left(self) -> int:
        return self.uses_allowed - self.uses_count

    def is_open(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now and self.uses_left > 0
