"""Per-person limits of the employee store and of private sales.

TODO(helper C2).
"""

from __future__ import annotations

from portal.storefront.hooks import CheckoutContext
from portal.storefront.models import ConsumerOrder


def after_place(context: CheckoutContext, order: ConsumerOrder) -> None:
    return None
