"""Policy jobs: fan-out of a published version to its audience, reminders, state changes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import or_, select, update

from portal.core import jobs
from portal.core.access import Actor
from portal.core.db import utcnow
from portal.core.mail import deliver_mail
from portal.extensions import db
from portal.network.models import ChannelLink
from portal.policy import delivery, queries
from portal.policy.models import Notification, PolicyVersion

BATCH = 500


def _inbox_link(notification_id: int) -> str:
    # Built from the URL map, not a request: this runs in a worker.
    path = current_app.url_map.bind("portal").build(
        "policy.inbox_item", {"notification_id": notification_id}
    )
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path


def _mail_admins(
    version: PolicyVersion,
    targets: list[tuple[int, int]],
    subject: str,
    mark: Callable[[list[int]], None],
) -> int:
    """E-mail the admins of each target's org (notification id, org id), then `mark` the
    notification served. The mark is committed (a checkpoint) right after each org's mails, so a
    worker that dies repeats at most the one org it was on. Orgs without admins are marked
    together; the caller's next checkpoint, or the runner at the end, commits them."""
    emails = delivery.admin_emails([org_id for _id, org_id in targets])
    intro = (
        f"{version.policy.name} ({version.label}) applies to your organization from "
        f"{version.effective_from:%Y-%m-%d %H:%M} UTC.\n\n"
    )
    sent = 0
    for notification_id, org_id in targets:
        addresses = emails.get(org_id, [])
        if not addresses:
            continue
        for address in addresses:
            link = _inbox_link(notification_id)
            deliver_mail(address, subject, f"{intro}Read and acknowledge it: {link}\n")
            sent += 1
        mark([notification_id])
        jobs.checkpoint()  # sent and marked as one: a retry never mails this org again
    mark([notification_id for notification_id, org_id in targets if not emails.get(org_id)])
    return sent


def _update_notifications(ids: list[int], **values: Any) -> None:
    if ids:
        db.session.execute(
            update(Notification)
            .where(Notification.id.in_(ids))
            .values(**values)
            .execution_options(synchronize_session=False)
        )


# Short timeouts: a run whose worker died is taken over once its timeout has passed.
@jobs.job(queue=jobs.QUEUE_PUSH, title="Deliver a policy")
def deliver_policy(version_id: int) -> dict[str, Any]:
    """Every targeted org gets one notification, then its admins one e-mail.

    Notifications are committed batch by batch, and each batch skips orgs already served; each
    org's e-mails are committed as sent right after sending. A worker that dies half way and the
    job run again finishes the rest, repeating at most the e-mails of the org it died on.
    """
    version = queries.find_version(Actor.system(), version_id)
    if version is None or version.is_draft:
        return {"skipped": "not published"}
    org_ids = list(
        db.session.execute(
            queries.audience_links(version)
            .with_only_columns(ChannelLink.buyer_org_id)
            .order_by(ChannelLink.buyer_org_id)
        ).scalars()
    )
    total = len(org_ids)
    delivered = 0
    for start in range(0, total, BATCH):
        delivered += delivery.deliver_batch(version, org_ids[start : start + BATCH])
        done = min(start + BATCH, total)
        jobs.report_progress(done, total * 2, f"delivered to {done} of {total}")
        jobs.checkpoint()

    def mark_emailed(ids: list[int]) -> None:
        _update_notifications(ids, emailed_at=utcnow())

    emailed = 0
    subject = f"New channel policy: {version.policy.name}"
    while batch := delivery.unemailed(version_id, BATCH):
        targets = [(n.id, n.org_id) for n in batch]
        emailed += _mail_admins(version, targets, subject, mark_emailed)
        jobs.report_progress(total + emailed, total * 2, "e-mailing admins")
        jobs.checkpoint()  # the orgs without admins, marked together
    jobs.report_progress(1, 1, f"delivered to {total} organizations")
    return {"targeted": total, "delivered": delivered, "emails": emailed}


@jobs.job(queue=jobs.QUEUE_PUSH, title="Remind about a policy")
def remind_unacknowledged(version_id: int, requested_at: str) -> dict[str, Any]:
    """Remind each org that has not acknowledged, once per request: an org reminded since
    `requested_at` (ISO time of the request) is skipped, so a re-run after dying half way
    neither mails nor counts an org twice (bar the one it died on)."""
    version = queries.find_version(Actor.system(), version_id)
    if version is None:
        return {"skipped": "gone"}
    asked = datetime.fromisoformat(requested_at)
    asked = asked if asked.tzinfo else asked.replace(tzinfo=UTC)
    pending = list(
        db.session.execute(
            select(Notification.id, Notification.org_id)
            .where(
                Notification.version_id == version_id,
                Notification.acknowledged_at.is_(None),
                or_(Notification.reminded_at.is_(None), Notification.reminded_at < asked),
            )
            .order_by(Notification.id)
        ).tuples()
    )

    def mark_reminded(ids: list[int]) -> None:
        # Never before the request, even on a worker whose clock lags the web server's.
        _update_notifications(
            ids,
            reminded_at=max(utcnow(), asked),
            remind_count=Notification.remind_count + 1,
        )

    sent = 0
    subject = f"Reminder: please acknowledge {version.policy.name}"
    for start in range(0, len(pending), BATCH):
        batch = pending[start : start + BATCH]
        sent += _mail_admins(version, batch, subject, mark_reminded)
        jobs.report_progress(start + len(batch), len(pending), "reminding")
        jobs.checkpoint()
    return {"reminded": len(pending), "emails": sent}


@jobs.job(queue=jobs.QUEUE_DEFAULT, title="Activate and expire policies")
def advance_policy_states() -> dict[str, int]:
    return delivery.advance_states()
