"""The split's background work: sending the stores' shares of a completed consumer order to the
payment provider's profit sharing (portal/guides/split.py, `share_with_provider`), and the hook
that asks for it. `portal/guides/plugs.register()` puts the whole split into the storefront's
hooks."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from portal.core import jobs
from portal.extensions import db
from portal.guides import split
from portal.guides.commission import COMPLETING
from portal.storefront.models import ConsumerOrder


@jobs.job(title="Share a consumer order's money at the provider", retries=3)
def share_profits(order_id: int) -> dict[str, Any]:
    """Enqueued after the commit that completed the order (job id by order: once per order).
    Safe to run twice: the provider pays one share reference once. A refusal is the result,
    not an error: retrying the same request would be refused again."""
    order = db.session.execute(
        select(ConsumerOrder).where(ConsumerOrder.id == order_id)
    ).scalar_one_or_none()
    if order is None:
        return {"order_id": order_id, "state": "missing"}
    return split.share_with_provider(order)


def order_completed(order: ConsumerOrder, action: str) -> None:
    """Status listener: a collected or delivered order whose stores named a receiver account
    gets its shares sent to the provider, after the commit (never before: a rollback would
    leave money shared for an order that did not complete)."""
    if action in COMPLETING and split.shares_to_send(order):
        jobs.enqueue(
            share_profits, order.id, brand_id=order.brand_id, title=f"Profit sharing {order.number}"
        )
