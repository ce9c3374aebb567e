"""Points: a ledger per member, earned, maturing, redeemed, expiring and reversed.

TODO(helper A).
"""

from __future__ import annotations

from portal.storefront.hooks import CheckoutContext
from portal.storefront.models import ConsumerOrder


def after_place(context: CheckoutContext, order: ConsumerOrder) -> None:
    return None


def order_moved(order: ConsumerOrder, action: str) -> None:
    return None
