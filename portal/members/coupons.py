"""Coupons: templates, issuing, claiming, redeeming at checkout, and the refund rule.

TODO(helper B).
"""

from __future__ import annotations

from portal.storefront.hooks import CheckoutContext
from portal.storefront.models import ConsumerOrder


def after_place(context: CheckoutContext, order: ConsumerOrder) -> None:
    return None


def order_moved(order: ConsumerOrder, action: str) -> None:
    return None
