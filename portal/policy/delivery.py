"""What happens to a published version over time, below both `services` (which publishes and
enqueues the jobs) and `jobs` (which run them): versions moving from scheduled to active to
expired, and delivery to the audience (one notification per org, then its admins' e-mails).
Keeping these steps here lets the jobs call them without importing `services`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, select, update

from portal.core.access import ADMIN_ROLE, OrgKind
from portal.core.db import utcnow
from portal.extensions import db
from portal.network.models import Membership, Organization, User
from portal.policy import queries
from portal.policy.models import Notification, PolicyVersion, VersionStatus


def advance_states(*, now: datetime | None = None, brand_id: int | None = None) -> dict[str, int]:
    """Scheduled versions whose start has come become active; those whose end has passed
    expire. Reads never wait for this (they check the window), so it only keeps labels true."""
    now = now or utcnow()
    scope = [PolicyVersion.brand_id == brand_id] if brand_id is not None else []
    expired = _changed(
        update(PolicyVersion)
        .where(
            *scope,
            PolicyVersion.status.in_(queries.LIVE_STATUSES),
            PolicyVersion.effective_to.is_not(None),
            PolicyVersion.effective_to <= now,
        )
        .values(status=VersionStatus.EXPIRED)
        .execution_options(synchronize_session="fetch")
    )
    activated = _changed(
        update(PolicyVersion)
        .where(
            *scope,
            PolicyVersion.status == VersionStatus.SCHEDULED,
            PolicyVersion.effective_from <= now,
        )
        .values(status=VersionStatus.ACTIVE)
        .execution_options(synchronize_session="fetch")
    )
    return {"activated": activated, "expired": expired}


def _changed(statement: Any) -> int:
    """Rows an UPDATE changed (an UPDATE's result is a cursor result)."""
    return cast(CursorResult[Any], db.session.execute(statement)).rowcount


def deliver_batch(version: PolicyVersion, org_ids: list[int]) -> int:
    """Give each org in the batch its notification, once: orgs that already have one are
    skipped, so a re-run after a crash or a second publish click adds nothing."""
    if not org_ids:
        return 0
    have = set(
        db.session.execute(
            select(Notification.org_id).where(
                Notification.version_id == version.id, Notification.org_id.in_(org_ids)
            )
        ).scalars()
    )
    missing = [org_id for org_id in org_ids if org_id not in have]
    if missing:
        now = utcnow()
        db.session.execute(
            cast(Table, Notification.__table__).insert(),
            [
                {
                    "brand_id": version.brand_id,
                    "org_id": org_id,
                    "version_id": version.id,
                    "created_at": now,
                    "updated_at": now,
                    "remind_count": 0,
                }
                for org_id in missing
            ],
        )
    return len(missing)


def unemailed(version_id: int, limit: int) -> list[Notification]:
    return list(
        db.session.execute(
            select(Notification)
            .where(Notification.version_id == version_id, Notification.emailed_at.is_(None))
            .order_by(Notification.id)
            .limit(limit)
        ).scalars()
    )


def admin_emails(org_ids: list[int]) -> dict[int, list[str]]:
    """The e-mail addresses of each org's admins (the role that administers its kind)."""
    rows = db.session.execute(
        select(Membership.org_id, User.email, Membership.role, Organization.kind)
        .join(User, User.id == Membership.user_id)
        .join(Organization, Organization.id == Membership.org_id)
        .where(Membership.org_id.in_(org_ids), User.is_disabled.is_(False))
    )
    emails: dict[int, list[str]] = {}
    for org_id, email, role, kind in rows:
        if role == ADMIN_ROLE[OrgKind(kind)]:
            emails.setdefault(org_id, []).append(email)
    return emails
