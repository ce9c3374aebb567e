"""Private sales (内购会) of the employee store.

TODO(helper C2).
"""

from __future__ import annotations

from portal.storefront.hooks import CheckoutContext
from portal.storefront.models import ConsumerOrder


def before_place(context: CheckoutContext) -> None:
    return None


def order_moved(order: ConsumerOrder, action: str) -> None:
    return None
