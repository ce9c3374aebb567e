"""Coupons: templates, issuing, claiming, redeeming at checkout, and the refund rule.

TODO(helper B).
"""

from __future__ import annotations

from portal.storefront.hooks import CheckoutContext, RefundRequest
from portal.storefront.models import ConsumerOrder


def after_place(context: CheckoutContext, order: ConsumerOrder) -> None:
    return None


def order_moved(order: ConsumerOrder, action: str) -> None:
    return None


def on_refund(request: RefundRequest) -> None:
    """The coupon rule on a refund (called by refunds.refund_rest)."""
    return None
