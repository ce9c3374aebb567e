"""What a refund pays back besides the provider's share: wallet, points, and the coupon rule.

TODO(helper A).
"""

from __future__ import annotations

from portal.storefront.hooks import RefundRequest


def refund_rest(request: RefundRequest) -> None:
    return None
