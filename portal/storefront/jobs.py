"""The consumer side's periodic jobs (portal/schedule.py runs them): unpaid orders expire and
give their units back; uncollected pickups are refunded. Each works in batches, each batch whole
(`jobs.checkpoint`), and is safe to run twice or beside itself (rows are taken SKIP LOCKED on
PostgreSQL and re-checked under their lock)."""

from __future__ import annotations

from portal.core import jobs
from portal.storefront import orders

BATCH = 500


@jobs.job(queue=jobs.QUEUE_DEFAULT, title="Cancel consumer orders not paid in time")
def expire_unpaid_orders() -> dict[str, int]:
    done = 0
    while True:
        batch = orders.expire_unpaid(limit=BATCH)
        jobs.checkpoint()
        done += batch
        if batch < BATCH:
            return {"cancelled": done}


@jobs.job(queue=jobs.QUEUE_DEFAULT, title="Refund pickups not collected in time")
def cancel_uncollected_pickups() -> dict[str, int]:
    done = 0
    while True:
        batch = orders.cancel_uncollected(limit=BATCH)
        jobs.checkpoint()
        done += batch
        if batch < BATCH:
            return {"refunded": done}
