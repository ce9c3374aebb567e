"""What a refund pays back besides the provider's share: wallet, points, and the coupon rule.

`orders.refund_money` sends the provider its proportional share and hands the rest here
(`RefundRequest.rest_cents`), once per refund (`reference`).

- **A whole refund** (an order called off after payment): all the wallet money and all the
  redeemed points the order used come back (less what came back already), whatever `rest_cents`
  says.
- **A part** (goods returned, a fee given back): `rest_cents` goes back to the wallet first, up
  to what the order took from it and has not had back; what is left of it comes back as points
  at the order's own rate (points used ÷ their worth), rounded up in the member's favour, up to
  the points it redeemed and has not had back. Whatever exceeds both (a fen of rounding) is not
  paid twice.
- **Earned points** follow the refunded value: see `points.reverse_lot` (pending first, then
  available down to 0; spent points are not clawed back).
- Then the coupon rule (`coupons.on_refund`), and a part refund recounts the member's level.

Everything is written under the member's row lock, in the refund's transaction; a refund whose
reference already wrote its entries writes nothing again.
"""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.members import coupons, levels, membership, points, wallet
from portal.members.ledger_models import PointsEntry, PointsKind, WalletEntry, WalletKind
from portal.members.models import Member
from portal.storefront.hooks import RefundRequest
from portal.storefront.models import ConsumerOrder


def refund_rest(request: RefundRequest) -> None:
    order = request.order
    lot = points.order_lot(order)
    member_id = order.member_id or (lot.member_id if lot is not None else None)
    if member_id is not None and (order.wallet_cents or order.points_used or lot is not None):
        member = membership.lock_member(member_id)
        if not _done(member, order, request.reference):
            _pay_back(member, order, request)
            if lot is not None and lot.member_id == member.id:
                points.reverse_lot(
                    member,
                    lot,
                    kind=PointsKind.REVERSE,
                    reference=request.reference,
                    value_cents=request.amount_cents,
                    base_cents=order.goods_cents - order.discount_cents,
                    full=request.full,
                )
    coupons.on_refund(request)
    if not request.full:
        # A return changes no order status: the level follows it now, not at the nightly recount.
        levels.order_moved(order, "refund")


def _done(member: Member, order: ConsumerOrder, reference: str) -> bool:
    """This refund's entries were written already (by an earlier call with its reference)."""
    in_points = db.session.execute(
        select(PointsEntry.id).where(
            PointsEntry.member_id == member.id,
            PointsEntry.order_id == order.id,
            PointsEntry.kind.in_((PointsKind.REFUND, PointsKind.REVERSE)),
            PointsEntry.reference == reference,
        )
    ).first()
    in_wallet = db.session.execute(
        select(WalletEntry.id).where(
            WalletEntry.member_id == member.id,
            WalletEntry.order_id == order.id,
            WalletEntry.kind == WalletKind.REFUND,
            WalletEntry.reference == reference,
        )
    ).first()
    return in_points is not None or in_wallet is not None


def _pay_back(member: Member, order: ConsumerOrder, request: RefundRequest) -> None:
    wallet_left = max(order.wallet_cents - wallet.given_back(order), 0)
    points_left = max(order.points_used - points.given_back(order), 0)
    if request.full:
        to_wallet, to_points = wallet_left, points_left
    else:
        rest = max(request.rest_cents, 0)
        to_wallet = min(rest, wallet_left)
        rest -= to_wallet
        to_points = 0
        if rest and order.points_cents:
            # Points at the order's own rate, rounded up: -(-a // b) is the ceiling.
            to_points = min(-(-rest * order.points_used // order.points_cents), points_left)
    wallet.give_back(member, order, to_wallet, kind=WalletKind.REFUND, reference=request.reference)
    points.give_back(member, order, to_points, kind=PointsKind.REFUND, reference=request.reference)
