"""What guides plug into the storefront's hooks (portal/storefront/hooks.py) and the members'
till sales (portal/members/pos_sales.sale_listeners), in one place.

Order matters and is kept by create_app calling this after `portal.members.plugs.register()`:
- the guide code is checked before the units are held (nothing written for a bad code), after
  the members' own before-steps;
- the attribution comes after the members' after-place steps (limits, coupons, points, wallet),
  so the commission is counted on what the consumer pays once coupons are off.
"""

from __future__ import annotations

from portal.guides import attribution, bindings, commission, jobs_split, split
from portal.members import membership, pos_sales
from portal.storefront import hooks


def register() -> None:
    """Idempotent: every app created in one process (the tests make many) registers once."""
    _add(hooks.checkout_before_place, attribution.check_code)
    _add(hooks.checkout_after_place, attribution.after_place)
    _add(hooks.consumer_signed_up, attribution.consumer_signed_up)
    _add(pos_sales.sale_listeners, attribution.pos_sale_recorded)
    _add(hooks.consumer_erased, bindings.consumer_erased)
    _add(membership.joined_listeners, attribution.member_joined)
    # Commission: earned when an order completes, reversed by its refunds and the till's.
    _add(hooks.status_listeners, commission.order_moved)
    _add(hooks.refund_listeners, commission.order_refunded)
    _add(pos_sales.refund_listeners, commission.pos_sale_refunded)
    # The split of a paid order's money, its refunds, and the providers' profit sharing once the
    # order completes.
    _add(hooks.status_listeners, split.order_moved)
    _add(hooks.status_listeners, jobs_split.order_completed)
    _add(hooks.refund_listeners, split.order_refunded)


def _add(registry: list, function: object) -> None:
    if function not in registry:
        registry.append(function)
