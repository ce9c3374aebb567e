"""Ordering housekeeping: forget idempotency keys past their retention, give expired quotas back
to the pool. Both are safe to run twice and beside live orders."""

from __future__ import annotations

from portal.core import idempotency, jobs
from portal.core.access import Actor
from portal.inventory import allocations


@jobs.job(queue=jobs.QUEUE_DEFAULT, title="Forget old idempotency keys")
def prune_idempotency_keys() -> dict[str, int]:
    removed = idempotency.prune_keys()
    return {"removed": removed}


@jobs.job(queue=jobs.QUEUE_DEFAULT, title="Return expired quotas to the pool")
def expire_quotas() -> dict[str, int]:
    """Closes due quotas in batches, each batch its own transaction, until none is left."""
    closed = jobs.in_batches(
        lambda size: allocations.expire_allocations(Actor.system(), limit=size), 500
    )
    return {"closed": closed}
