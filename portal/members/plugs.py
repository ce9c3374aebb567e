"""What this package plugs into the storefront (portal/storefront/hooks.py), in one place, so the
order in which checkout steps run is read here: the private sale's prices and set-aside stock
before the units are held; then limits, coupons, points and wallet on the placed order, in that
order (a coupon lowers what points may pay; the wallet pays what is left)."""

from __future__ import annotations

from portal.members import (
    coupons,
    entitlement,
    levels,
    limits,
    membership,
    points,
    private_sales,
    refunds,
    spend_options,
    wallet,
)
from portal.storefront import hooks


def register() -> None:
    """Idempotent: every app created in one process (the tests make many) registers once."""
    hooks.entry["outlet"] = membership.is_member
    hooks.entry["employee"] = entitlement.may_enter_employee_store
    _add(hooks.price_adjusters, levels.adjust_prices)
    # The member's lock first, before any row that points at the member is written.
    _add(hooks.checkout_before_place, points.lock_spender)
    _add(hooks.checkout_before_place, private_sales.before_place)
    for step in (limits.after_place, coupons.after_place, points.after_place, wallet.after_place):
        _add(hooks.checkout_after_place, step)
    for listener in (
        points.order_moved,
        wallet.order_moved,
        coupons.order_moved,
        levels.order_moved,
        private_sales.order_moved,
    ):
        _add(hooks.status_listeners, listener)
    _add(hooks.refund_rest, refunds.refund_rest)
    _add(hooks.payment_paid, wallet.top_up_paid)
    _add(hooks.spend_offers, spend_options.offer)
    _add(hooks.consumer_erased, membership.consumer_erased)


def _add(registry: list, function: object) -> None:
    if function not in registry:
        registry.append(function)
