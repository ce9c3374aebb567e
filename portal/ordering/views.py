"""The ordering pages, one blueprint (`ordering`): carts and the order grid, order lists and the
supplier's queue, purchasing rules, one order's page and its moves, returns. Importing this
module registers every route on `bp`; the routes live in the modules imported below, what they
share in `shared_views`."""

from __future__ import annotations

# Imported for their routes: each module adds its own to the one blueprint.
from portal.ordering import (  # noqa: F401
    cart_views,
    order_views,
    queue_views,
    return_views,
    rules_views,
)
from portal.ordering.shared_views import bp

__all__ = ["bp"]
