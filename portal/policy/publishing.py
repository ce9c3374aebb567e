"""Publishing a draft and what follows it: the fan-out to the audience (a job on the `push`
queue), reminders, and each org reading and acknowledging what reached its inbox.

Publishing freezes a draft and replaces the policy's previous version from the new version's
start.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select, update

from portal.core import audit, jobs
from portal.core.access import Actor, Permission
from portal.core.db import utcnow
from portal.core.errors import NotFound, ValidationFailed
from portal.extensions import db
from portal.policy import queries
from portal.policy.delivery import advance_states
from portal.policy.drafting import ensure_brand_hq
from portal.policy.errors import AudienceEmpty, PolicyNotEditable, PolicyOverlap
from portal.policy.floors import check_official_floor
from portal.policy.jobs import deliver_policy, remind_unacknowledged
from portal.policy.models import Notification, PolicyAudience, PolicyVersion, VersionStatus


def _overlapping(version: PolicyVersion, start: datetime) -> PolicyVersion | None:
    """Another policy's published version with the same audience kind, a shared value and an
    overlapping window [start, effective_to): two rules of equal rank would compete, so
    publishing is refused."""
    values = [a.value for a in version.audience]
    far = version.effective_to
    stmt = (
        select(PolicyVersion)
        .join(PolicyAudience, PolicyAudience.version_id == PolicyVersion.id)
        .where(
            PolicyVersion.brand_id == version.brand_id,
            PolicyVersion.policy_id != version.policy_id,
            PolicyVersion.status.in_(queries.LIVE_STATUSES),
            PolicyVersion.audience_kind == version.audience_kind,
            PolicyAudience.value.in_(values),
            or_(
                PolicyVersion.effective_to.is_(None),
                PolicyVersion.effective_to > start,
            ),
        )
    )
    if far is not None:
        stmt = stmt.where(PolicyVersion.effective_from < far)
    return db.session.execute(stmt.limit(1)).scalar_one_or_none()


PUBLISH_LOCK_SPACE = 3  # first key of PostgreSQL advisory locks taken while publishing


def _lock_brand_publishing(brand_id: int) -> None:
    """Publishes of one brand run one at a time, so two overlapping policies published at the
    same moment cannot both pass the overlap check. PostgreSQL: a transaction-scoped advisory
    lock; SQLite: a writing transaction already holds the only write lock."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(func.pg_advisory_xact_lock(PUBLISH_LOCK_SPACE, brand_id)))


def publish_policy(actor: Actor, version: PolicyVersion) -> PolicyVersion:
    """Freeze a draft and push it to its audience (a fan-out job on the push queue).

    Refuses an audience that matches nobody and a window that overlaps another policy with the
    same audience. The policy's earlier versions end where this one starts.
    """
    ensure_brand_hq(actor, version.brand_id, Permission.POLICY_PUBLISH)
    if not version.is_draft:
        raise PolicyNotEditable("This version is already published.")
    now = utcnow()
    if version.effective_to is not None and version.effective_to <= now:
        raise ValidationFailed(fields={"effective_to": "The window has already ended."})
    names = (*queries.ORDER_FIELDS, "order_window_start", "order_window_end")
    terms = [getattr(version, name) for name in names]
    said = version.rules or version.rebates or version.member_terms
    if not said and all(value is None for value in terms):
        raise ValidationFailed(fields={"rules": "The policy says nothing yet: add rules or terms."})
    check_official_floor(version.brand_id, version.rules)  # MSRPs may have changed since drafting
    targeted = queries.count_audience(version)
    if targeted == 0:
        raise AudienceEmpty(fields={"audience_values": AudienceEmpty.message})
    # A policy never takes effect in the past: it starts when published at the earliest, and it
    # is that window which must not overlap (a start typed in the past must not collide with a
    # policy that has ended since).
    start = max(version.effective_from, now)
    _lock_brand_publishing(version.brand_id)
    other = _overlapping(version, start)
    if other is not None:
        raise PolicyOverlap(
            f"{other.policy.code} v{other.number} already targets this audience "
            f"({queries.audience_label(other)}) in an overlapping window.",
            fields={"effective_from": "Overlaps " + other.label},
        )
    version.effective_from = start
    version.status = (
        VersionStatus.ACTIVE if version.effective_from <= now else VersionStatus.SCHEDULED
    )
    version.published_at = now
    version.published_by_user_id = actor.user_id
    version.targeted_count = targeted
    # Earlier versions of the same policy stop where this one begins.
    db.session.execute(
        update(PolicyVersion)
        .where(
            PolicyVersion.policy_id == version.policy_id,
            PolicyVersion.id != version.id,
            PolicyVersion.status.in_(queries.LIVE_STATUSES),
            or_(
                PolicyVersion.effective_to.is_(None),
                PolicyVersion.effective_to > version.effective_from,
            ),
        )
        .values(effective_to=version.effective_from)
        .execution_options(synchronize_session="fetch")
    )
    advance_states(now=now, brand_id=version.brand_id)
    run = jobs.enqueue(
        deliver_policy,
        version.id,
        key=f"policy-delivery:{version.id}",
        org_id=actor.org_id,
        brand_id=version.brand_id,
        user_id=actor.user_id,
        title=f"Deliver {version.label}",
    )
    version.fanout_job_id = run.id
    db.session.flush()
    audit.record(
        actor,
        "policy.published",
        brand_id=version.brand_id,
        policy=version.policy.code,
        version=version.number,
        targeted=targeted,
    )
    return version


def mark_read(actor: Actor, notification: Notification) -> Notification:
    """Opening an inbox item marks it read for the org (the first reader is kept)."""
    if notification.org_id != actor.org_id:
        raise NotFound()
    if notification.read_at is None:
        notification.read_at = utcnow()
        notification.read_by_user_id = actor.user_id
    return notification


def acknowledge(actor: Actor, notification: Notification) -> Notification:
    """The org confirms it has taken note of the policy; repeating it changes nothing."""
    if notification.org_id != actor.org_id:
        raise NotFound()
    actor.ensure(Permission.INBOX_ACK)
    mark_read(actor, notification)
    if notification.acknowledged_at is None:
        notification.acknowledged_at = utcnow()
        notification.acknowledged_by_user_id = actor.user_id
        audit.record(
            actor,
            "policy.acknowledged",
            org_id=actor.org_id,
            brand_id=notification.brand_id,
            version_id=notification.version_id,
        )
    return notification


def remind(actor: Actor, version: PolicyVersion) -> jobs.JobRun:
    """E-mail the admins of every org that has not acknowledged yet (a job on the push queue).
    Clicking twice within a minute sends one reminder."""
    ensure_brand_hq(actor, version.brand_id, Permission.POLICY_PUBLISH)
    if version.is_draft:
        raise PolicyNotEditable("Publish the policy before sending reminders.")
    stamp = utcnow().strftime("%Y%m%dT%H%M")
    audit.record(actor, "policy.reminded", brand_id=version.brand_id, version_id=version.id)
    return jobs.enqueue(
        remind_unacknowledged,
        version.id,
        utcnow().isoformat(),
        key=f"policy-reminder:{version.id}:{stamp}",
        org_id=actor.org_id,
        brand_id=version.brand_id,
        user_id=actor.user_id,
        title=f"Remind {version.label}",
    )
