"""Points: a ledger per member (ledger_models.PointsEntry), earned, maturing, redeemed, expiring
and reversed; and the sales stores' tills report, which earn on the same balance.

**Earning.** An order earns when it completes (collected, or delivered). Its earning value is
what was paid for the goods with money or wallet after coupons: `goods - discount - points'
worth` (the delivery fee earns nothing), shared over the lines in proportion to each line's value
after its coupon share (the rounding remainder on the largest line). Each line's share is weighted
by its product category's `category_multiplier_bp` (10000 when the category has none), then

    points = ⌊ ⌊Σ share × category_bp / 10000 / 100⌋ × per_yuan[tier] × level_bp / 10000 ⌋

with `per_yuan` and the level's `points_multiplier_bp` (the member's level now) from the
programme's terms. A till's sale earns the same way on its whole amount, at the official tier's
rate, with no category (a till reports an amount, not lines).

**Maturing.** Earned points are pending until the return window closes: CONSUMER_RETURN_DAYS after
the order completed (or the till's sale happened). The hourly job `mature_points` moves what is
left of each lot (after any reversal) to available.

**Expiry.** Points earned in year Y (in PORTAL_TIMEZONE, the portal's local time, by when they were
earned) expire at the end of year Y + `expire_after_years`. Spending takes the oldest points
first, so what expires is what is left of the due years' lots after every debit so far:
`max(0, matured in those years - (spent + reversed from available + expired - given back))`.
The daily job `expire_points` writes it.

**Redeeming.** At checkout a member may pay with available points, at most `redeem_cap_bp` of the
goods after coupons, each worth `cents_per_point`. Any member may redeem in any storefront
(official, outlet, employee); a consumer who has not joined may not.

**Reversal.** Goods coming back take back the points they earned, in proportion to the refunded
value (of the goods after coupons; a whole refund takes back all): from the lot's pending points
first, then from available points down to 0. Points the member already spent are not clawed
back: the entry records what was due (`points`) and notes the part that could not be taken.

The door: pages, the API, plugs.py, refunds.py, the jobs, the seed and the tests call
`points.<name>`; the code lives in rooms behind it and may move between them:
- `points_ledger`: balances, history, what may be redeemed and what expires, writing an entry,
  giving redeemed points back and taking a lot's points back;
- `points_earning`: what an order earns, maturing and expiry;
- `pos_sales`: the tills' sales and refunds.
Here: the checkout's redeeming step and what an order's moves do to points.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from portal.core.errors import ValidationFailed
from portal.core.money import format_percent
from portal.members import membership
from portal.members.ledger_models import PointsKind
from portal.members.models import Member
from portal.members.points_earning import (
    LOTS,
    ExpiryRun,
    earn_for_order,
    earning_value,
    expire_due,
    mature_due,
    order_lot,
    points_for_order,
)
from portal.members.points_ledger import (
    FULL_BP,
    PointsBalance,
    balance,
    expiring,
    give_back,
    given_back,
    history,
    local_year,
    max_redeemable,
    redeem_cap,
    reverse_lot,
    write_entry,
    written,
    zone,
)
from portal.members.pos_sales import (
    FUTURE_SLACK,
    MAX_SALE_CENTS,
    POS_REFERENCE,
    DuplicatePosSale,
    PosSaleResult,
    get_pos_sale,
    pos_lot,
    pos_points_reversed,
    record_pos_sale,
    refund_pos_sale,
)
from portal.storefront.hooks import CheckoutContext
from portal.storefront.models import ConsumerOrder
from portal.storefront.transitions import Action
from portal.storefront.words import say

__all__ = [
    "FULL_BP",
    "FUTURE_SLACK",
    "LOTS",
    "MAX_SALE_CENTS",
    "POS_REFERENCE",
    "DuplicatePosSale",
    "ExpiryRun",
    "PointsBalance",
    "PosSaleResult",
    "after_place",
    "balance",
    "earn_for_order",
    "earning_value",
    "expire_due",
    "expiring",
    "get_pos_sale",
    "give_back",
    "given_back",
    "history",
    "local_year",
    "lock_spender",
    "mature_due",
    "max_redeemable",
    "order_lot",
    "order_moved",
    "points_for_order",
    "pos_lot",
    "pos_points_reversed",
    "record_pos_sale",
    "refund_pos_sale",
    "reverse_lot",
    "zone",
]

K = PointsKind


def _whole(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationFailed(fields={field: say(_l("A whole number, 0 or more."))})
    return value


def _member_at_checkout(context: CheckoutContext, field: str) -> Member:
    member = membership.member_in(context.brand, context.consumer)
    if member is None:
        raise ValidationFailed(
            fields={field: say(_l("Join the membership to pay with points or the wallet."))}
        )
    return member


# -- checkout ------------------------------------------------------------------------------------


def lock_spender(context: CheckoutContext) -> None:
    """A checkout that spends points, wallet money or coupons takes the member's row lock before
    the order is written: the order's row refers to the member, and that reference holds a key
    share of the member's row until the end; two checkouts of one member each holding one could
    then never both take the lock (a deadlock on PostgreSQL)."""
    extras = context.extras
    if not (extras.points or extras.wallet_cents or extras.coupon_ids):
        return
    if context.consumer.member_id is not None:
        membership.lock_member(context.consumer.member_id)


def after_place(context: CheckoutContext, order: ConsumerOrder) -> None:
    """Redeem `context.extras.points` on the placed order (after coupons): sets
    `order.points_used` and `order.points_cents`. Raises ValidationFailed naming `points` when
    they are more than the member holds or than the cap allows, or not a whole number."""
    wanted = _whole(context.extras.points, "points")
    if wanted == 0:
        return
    member = membership.lock_member(_member_at_checkout(context, "points").id)
    terms = membership.terms_of(member)
    held = balance(member).available
    cap = redeem_cap(order.goods_cents - order.discount_cents, terms)
    if wanted > held:
        raise ValidationFailed(
            fields={"points": say(_l("You have %(held)d points to use."), held=held)}
        )
    if wanted > cap:
        raise ValidationFailed(
            fields={
                "points": say(
                    _l("Points pay at most %(share)s of the goods: %(cap)d points on this order."),
                    share=format_percent(terms.points.redeem_cap_bp),
                    cap=cap,
                )
            }
        )
    cents = wanted * terms.points.cents_per_point
    write_entry(
        member,
        K.REDEEM,
        order.number,
        available_delta=-wanted,
        value_cents=cents,
        order_id=order.id,
    )
    order.points_used, order.points_cents = wanted, cents


# -- the order's moves ---------------------------------------------------------------------------


def order_moved(order: ConsumerOrder, action: str) -> None:
    """Completed (collected or delivered): the order earns, pending. Cancelled or expired
    before payment: the points it redeemed come back."""
    if action in (Action.HAND_OVER, Action.DELIVER):
        earn_for_order(order)
    elif action in (Action.CANCEL, Action.EXPIRE) and order.points_used and order.member_id:
        member = membership.lock_member(order.member_id)
        if written(member.id, K.RELEASE, order.number) is None:
            give_back(member, order, order.points_used, kind=K.RELEASE, reference=order.number)
