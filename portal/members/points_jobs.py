"""The points' periodic jobs (portal/schedule.py runs them): pending points mature when their
return window closes (hourly), and points of years past their last one expire (daily). Each works
in batches, each batch whole (`jobs.checkpoint`), and is safe to run twice or beside itself: each
member is locked and their ledger read again, and an entry is written once per reference."""

from __future__ import annotations

from portal.core import jobs
from portal.core.db import utcnow
from portal.members import points

BATCH = 500


@jobs.job(queue=jobs.QUEUE_DEFAULT, title="Make pending points usable once returns are closed")
def mature_points() -> dict[str, int]:
    now = utcnow()
    return {"lots": jobs.in_batches(lambda size: points.mature_due(now=now, limit=size), BATCH)}


@jobs.job(queue=jobs.QUEUE_DEFAULT, title="Expire points of years that have ended")
def expire_points() -> dict[str, int]:
    run = points.ExpiryRun(now=utcnow())
    jobs.in_batches(lambda size: points.expire_due(run, limit=size), BATCH)
    return {"members": run.members, "points": run.expired_points}
