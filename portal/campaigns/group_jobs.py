"""The group buys' periodic job (portal/schedule.py, every minute): groups whose time ran out
fail (their paid orders refunded in full through the payment provider, their unpaid ones
cancelled, the units released: `group_buys.settle_group`), and the orders of complete groups
that could not be released when the group filled are released. One group (or order) per
transaction (`jobs.checkpoint`), so a run killed half way keeps what it finished; safe to run
twice, or beside itself: each group is settled under its orders' and its own row locks, and a
second run finds it done."""

from __future__ import annotations

from typing import Any

from portal.campaigns import group_buys
from portal.core import jobs
from portal.core.db import utcnow

BATCH = 100


@jobs.job(queue=jobs.QUEUE_DEFAULT, title="Settle group buys whose time ran out")
def settle_buy_groups() -> dict[str, Any]:
    now = utcnow()
    seen: set[int] = set()
    called_off = released = 0
    while True:
        # A group left unfinished (an order someone else held) comes back the next minute.
        due = [i for i in group_buys.due_groups(now=now, limit=BATCH) if i not in seen]
        for group_id in due:
            seen.add(group_id)
            called_off += group_buys.settle_group(group_id, now=now)
            jobs.checkpoint()
        if not due:
            break
    tried: set[int] = set()
    while True:
        held = [i for i in group_buys.held_in_filled_groups(limit=BATCH) if i not in tried]
        for order_id in held:
            tried.add(order_id)
            released += group_buys.release_filled(order_id)
            jobs.checkpoint()
        if not held:
            break
    return {"groups": len(seen), "orders_called_off": called_off, "orders_released": released}
