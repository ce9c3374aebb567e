"""The storefront pages, one blueprint (`storefront`) for every brand's three shops: official at
`/shop/<brand>/`, outlet at `/shop/<brand>/outlet/`, employee at `/shop/<brand>/employee/`.
Importing this module registers every route on `bp`; the routes live in the modules imported
below, what they share in `shared_views`."""

from __future__ import annotations

# Imported for their routes: each module adds its own to the one blueprint.
from portal.storefront import (  # noqa: F401
    account_views,
    browse_views,
    cart_views,
    checkout_views,
    consumer_order_views,
    online_views,
    pay_views,
    return_views,
    store_shop_views,
    tier_views,
    webhook_views,
)
from portal.storefront.shared_views import bp

__all__ = ["bp"]
