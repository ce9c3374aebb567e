"""The consumer side's periodic jobs (portal/schedule.py runs them): unpaid orders expire and
give their units back; uncollected pickups, and pickups their store did not accept in time, are
refunded; delivery orders not accepted in time move to the next location. Each works in
batches, each batch whole (`jobs.checkpoint`), and is safe to run twice or beside itself (each
order is re-checked under its lock: a second run finds it done and passes over it). Nightly,
stock moves down the tiers as each brand's policy says (`move_tiers`, portal/storefront/aging.py).
"""

from __future__ import annotations

from typing import Any

from portal.core import jobs
from portal.storefront import aging, orders, rerouting, webhooks

BATCH = 500


@jobs.job(queue=jobs.QUEUE_DEFAULT, title="Cancel consumer orders not paid in time")
def expire_unpaid_orders() -> dict[str, int]:
    return {"cancelled": jobs.in_batches(lambda size: orders.expire_unpaid(limit=size), BATCH)}


@jobs.job(queue=jobs.QUEUE_DEFAULT, title="Refund pickups not collected in time")
def cancel_uncollected_pickups() -> dict[str, int]:
    return {"refunded": jobs.in_batches(lambda size: orders.cancel_uncollected(limit=size), BATCH)}


@jobs.job(queue=jobs.QUEUE_DEFAULT, title="Pass delivery orders not accepted in time on")
def reroute_unaccepted_orders() -> dict[str, int]:
    moved = refunded = 0

    def step(size: int) -> int:
        nonlocal moved, refunded
        batch = rerouting.reroute_unaccepted(limit=size)
        moved += sum(1 for outcome in batch if outcome.moved_to is not None)
        refunded += sum(1 for outcome in batch if outcome.moved_to is None)
        return len(batch)

    jobs.in_batches(step, BATCH)
    return {"rerouted": moved, "refunded": refunded}


@jobs.job(queue=jobs.QUEUE_DEFAULT, title="Refund pickups their store did not accept in time")
def refund_unaccepted_pickups() -> dict[str, int]:
    refund = rerouting.refund_unaccepted_pickups
    return {"refunded": jobs.in_batches(lambda size: refund(limit=size), BATCH)}


@jobs.job(queue=jobs.QUEUE_DEFAULT, title="Move aged stock down the tiers")
def move_tiers() -> dict[str, Any]:
    """Every brand's tier moves for tonight, whole or not at all (one transaction: a retry
    starts again and, since moved SKUs no longer qualify, moves each SKU once)."""
    run = aging.move_all()
    return {"at": run.at.isoformat(), "brands": run.brands, "moved": run.total, **run.by_reason()}


# -- the available-to-sell webhook (portal/storefront/webhooks.py) ------------------------------


def _delivery_given_up(delivery_id: int, *, reason: str) -> None:
    webhooks.give_up(delivery_id, reason=reason)


@jobs.job(
    queue=jobs.QUEUE_PUSH, title="Send changed stock to a webhook", on_give_up=_delivery_given_up
)
def deliver_availability(delivery_id: int) -> str:
    try:
        return webhooks.deliver(delivery_id)
    except webhooks.WebhookFailed:
        # The attempt stays on record; the failure then goes on to the queue, which retries.
        jobs.checkpoint()
        raise


@jobs.job(queue=jobs.QUEUE_DEFAULT, retries=0, title="Find stock changes for the webhooks")
def collect_availability_changes() -> dict[str, int]:
    made = webhooks.collect_changes()
    for delivery in made:
        jobs.enqueue(deliver_availability, delivery.delivery_id, brand_id=delivery.brand_id)
    return {"deliveries": len(made)}
