"""The consumer side's periodic jobs (portal/schedule.py runs them): unpaid orders expire and
give their units back; uncollected pickups are refunded; delivery orders not accepted in time
move to the next location. Each works in batches, each batch whole
(`jobs.checkpoint`), and is safe to run twice or beside itself (each order is re-checked under
its lock: a second run finds it done and passes over it)."""

from __future__ import annotations

from portal.core import jobs
from portal.storefront import orders, rerouting

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


@jobs.job(queue=jobs.QUEUE_DEFAULT, title="Pass delivery orders not accepted in time on")
def reroute_unaccepted_orders() -> dict[str, int]:
    moved = refunded = 0
    while True:
        batch = rerouting.reroute_unaccepted(limit=BATCH)
        jobs.checkpoint()
        moved += sum(1 for outcome in batch if outcome.moved_to is not None)
        refunded += sum(1 for outcome in batch if outcome.moved_to is None)
        if len(batch) < BATCH:
            return {"rerouted": moved, "refunded": refunded}
