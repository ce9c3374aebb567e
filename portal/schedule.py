"""The periodic job list: the one place that says what runs when.

`python worker.py` runs RQ's cron scheduler in a thread. Each entry enqueues through
portal.core.jobs with a key per period, so several workers running schedulers never double a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Flask

from portal.core import jobs
from portal.core.db import utcnow


@dataclass(frozen=True)
class Periodic:
    name: str
    job: str  # registered job name
    interval_seconds: int


PERIODIC: tuple[Periodic, ...] = (
    Periodic("prune-expired-tokens", "portal.auth.jobs.prune_expired_tokens", 3600),
    Periodic("policy-states", "portal.policy.jobs.advance_policy_states", 60),
    Periodic("recover-stale-jobs", "portal.core.jobs.recover_stale_runs", 300),
    Periodic("expire-quotas", "portal.ordering.jobs.expire_quotas", 300),
    Periodic("prune-idempotency-keys", "portal.ordering.jobs.prune_idempotency_keys", 3600),
    Periodic("nightly-replenishment", "portal.replenishment.jobs.nightly_replenishment", 86400),
    Periodic("mark-aged-stock", "portal.replenishment.jobs.mark_aged_stock", 86400),
)


def enqueue_periodic(name: str) -> str:
    """Enqueue one periodic entry for the current period (idempotent per period)."""
    entry = next(p for p in PERIODIC if p.name == name)
    spec = jobs.REGISTRY[entry.job]
    bucket = int(utcnow().timestamp()) // entry.interval_seconds
    started = datetime.fromtimestamp(bucket * entry.interval_seconds, UTC)
    run = jobs.enqueue(spec.func, key=f"periodic:{name}:{started:%Y%m%dT%H%M%S}")
    jobs.commit()
    return run.id


def _tick(name: str) -> str:
    # Runs inside an RQ work horse: the worker bound the app.
    with jobs.bound_app().app_context():
        return enqueue_periodic(name)


def start_periodic(app: Flask) -> None:
    from rq.cron import CronScheduler

    import portal.auth.jobs  # noqa: F401 - registers the job functions
    import portal.ordering.jobs  # noqa: F401
    import portal.policy.jobs  # noqa: F401
    import portal.replenishment.jobs  # noqa: F401

    scheduler = CronScheduler(connection=jobs.redis_connection(app.config["REDIS_URL"]))
    for entry in PERIODIC:
        scheduler.register(
            _tick, jobs.QUEUE_DEFAULT, args=(entry.name,), interval=entry.interval_seconds
        )
    scheduler.start()
