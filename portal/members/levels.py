"""Member levels from the rolling 12 months' spend, and the outlet prices they give.

TODO(helper E).
"""

from __future__ import annotations

from portal.storefront.catalog import LinePrice
from portal.storefront.models import Consumer, ConsumerOrder


def adjust_prices(
    brand_id: int, tier: str, consumer: Consumer | None, prices: dict[int, LinePrice]
) -> None:
    return None


def order_moved(order: ConsumerOrder, action: str) -> None:
    return None
