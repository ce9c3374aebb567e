"""Policy jobs: fan-out of a published version to its audience, reminders, state changes."""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import select

from portal.core import jobs
from portal.core.db import utcnow
from portal.core.mail import deliver_mail
from portal.extensions import db
from portal.policy import queries, services
from portal.policy.models import Notification, PolicyVersion

BATCH = 500


def _inbox_link(notification_id: int) -> str:
    # Built from the URL map, not a request: this runs in a worker.
    path = current_app.url_map.bind("portal").build(
        "policy.inbox_item", {"notification_id": notification_id}
    )
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path


def _mail_admins(version: PolicyVersion, notifications: list[Notification], subject: str) -> int:
    emails = services.admin_emails([n.org_id for n in notifications])
    sent = 0
    for notification in notifications:
        for address in emails.get(notification.org_id, []):
            deliver_mail(
                address,
                subject,
                f"{version.policy.name} ({version.label}) applies to your organization from "
                f"{version.effective_from:%Y-%m-%d %H:%M} UTC.\n\n"
                f"Read and acknowledge it: {_inbox_link(notification.id)}\n",
            )
            sent += 1
    return sent


# Short timeouts: a run whose worker died is taken over once its timeout has passed.
@jobs.job(queue=jobs.QUEUE_PUSH, timeout=600, title="Deliver a policy")
def deliver_policy(version_id: int) -> dict[str, Any]:
    """Every targeted org gets one notification, then its admins one e-mail.

    Work is committed batch by batch, and each batch skips orgs already served: a worker that
    dies half way and the job run again finishes the rest without doubling anything.
    """
    version = db.session.get(PolicyVersion, version_id)
    if version is None or version.is_draft:
        return {"skipped": "not published"}
    org_ids = list(
        db.session.execute(
            queries.audience_links(version)
            .with_only_columns(queries.ChannelLink.buyer_org_id)
            .order_by(queries.ChannelLink.buyer_org_id)
        ).scalars()
    )
    total = len(org_ids)
    delivered = 0
    for start in range(0, total, BATCH):
        delivered += services.deliver_batch(version, org_ids[start : start + BATCH])
        done = min(start + BATCH, total)
        jobs.report_progress(done, total * 2, f"delivered to {done} of {total}")
        db.session.commit()
    emailed = 0
    while batch := services.unemailed(version.id, BATCH):
        emailed += _mail_admins(version, batch, f"New channel policy: {version.policy.name}")
        now = utcnow()
        for notification in batch:
            notification.emailed_at = now
        jobs.report_progress(total + emailed, total * 2, "e-mailing admins")
        db.session.commit()
    jobs.report_progress(1, 1, f"delivered to {total} organizations")
    return {"targeted": total, "delivered": delivered, "emails": emailed}


@jobs.job(queue=jobs.QUEUE_PUSH, timeout=600, title="Remind about a policy")
def remind_unacknowledged(version_id: int) -> dict[str, Any]:
    version = db.session.get(PolicyVersion, version_id)
    if version is None:
        return {"skipped": "gone"}
    pending = list(
        db.session.execute(
            select(Notification)
            .where(Notification.version_id == version_id, Notification.acknowledged_at.is_(None))
            .order_by(Notification.id)
        ).scalars()
    )
    sent = 0
    for start in range(0, len(pending), BATCH):
        batch = pending[start : start + BATCH]
        sent += _mail_admins(version, batch, f"Reminder: please acknowledge {version.policy.name}")
        now = utcnow()
        for notification in batch:
            notification.reminded_at = now
            notification.remind_count += 1
        jobs.report_progress(start + len(batch), len(pending), "reminding")
        db.session.commit()
    return {"reminded": len(pending), "emails": sent}


@jobs.job(queue=jobs.QUEUE_DEFAULT, title="Activate and expire policies")
def advance_policy_states() -> dict[str, int]:
    return services.advance_states()
