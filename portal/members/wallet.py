"""The wallet (stored value): a ledger per member (ledger_models.WalletEntry), topped up through
the payment provider, spent at checkout, paid back by refunds.

Money comes in only through a paid top-up (`start_top_up`, then the provider's notice reaching
`top_up_paid`, once) and through what an order took and gives back (an unpaid order called off,
a refund). It leaves only to pay an order, never more than the balance nor more than the order
has left to pay after coupons and points. Nothing pays wallet money out as cash: there is no
withdrawal.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from portal.core.db import utcnow
from portal.core.errors import NotFound, ValidationFailed
from portal.core.money import to_cents
from portal.extensions import db
from portal.members import membership
from portal.members.ledger_models import TopUpStatus, WalletEntry, WalletKind, WalletTopUp
from portal.members.models import Member
from portal.network.models import Organization
from portal.storefront.hooks import CheckoutContext
from portal.storefront.models import Consumer, ConsumerOrder
from portal.storefront.payments import services as payments
from portal.storefront.payments.models import PayableKind, Payment, PaymentStatus
from portal.storefront.payments.providers import provider_name_for
from portal.storefront.transitions import Action
from portal.storefront.words import say, say_money

K = WalletKind
CURRENCY = "CNY"
MIN_TOP_UP_CENTS = 100


# -- reads ---------------------------------------------------------------------------------------


def _latest(member_id: int) -> WalletEntry | None:
    return db.session.execute(
        select(WalletEntry)
        .where(WalletEntry.member_id == member_id)
        .order_by(WalletEntry.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def balance_cents(member: Member) -> int:
    """What the member's wallet holds: their latest entry's running balance."""
    latest = _latest(member.id)
    return latest.balance_after_cents if latest is not None else 0


def history(member: Member, limit: int = 50) -> list[WalletEntry]:
    """The member's entries, newest first."""
    return list(
        db.session.execute(
            select(WalletEntry)
            .where(WalletEntry.member_id == member.id)
            .order_by(WalletEntry.id.desc())
            .limit(limit)
        ).scalars()
    )


def _written(member_id: int, kind: str, reference: str) -> WalletEntry | None:
    return db.session.execute(
        select(WalletEntry).where(
            WalletEntry.member_id == member_id,
            WalletEntry.kind == kind,
            WalletEntry.reference == reference,
        )
    ).scalar_one_or_none()


def _write(member: Member, kind: str, reference: str, amount_cents: int, **columns) -> WalletEntry:
    """One entry on top of the member's latest. The caller holds the member's row lock and has
    checked the balance stays at 0 or above (the database checks it again)."""
    after = balance_cents(member) + amount_cents
    if after < 0:
        raise ValueError(f"member {member.id}: {kind} {reference} would overdraw the wallet")
    entry = WalletEntry(
        member_id=member.id,
        program_id=member.program_id,
        kind=kind,
        reference=reference,
        amount_cents=amount_cents,
        balance_after_cents=after,
        created_at=utcnow(),
        **columns,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


# -- checkout ------------------------------------------------------------------------------------


def after_place(context: CheckoutContext, order: ConsumerOrder) -> None:
    """Pay `context.extras.wallet_cents` of the placed order from the wallet (after coupons and
    points): sets `order.wallet_cents`. Raises ValidationFailed naming `wallet_cents` when it is
    more than the wallet holds or than is left to pay, or not a whole number of fen."""
    wanted = context.extras.wallet_cents
    if isinstance(wanted, bool) or not isinstance(wanted, int) or wanted < 0:
        raise ValidationFailed(
            fields={"wallet_cents": say(_l("A whole number of fen, 0 or more."))}
        )
    if wanted == 0:
        return
    found = membership.member_in(context.brand, context.consumer)
    if found is None:
        raise ValidationFailed(
            fields={"wallet_cents": say(_l("Join the membership to pay with the wallet."))}
        )
    member = membership.lock_member(found.id)
    held = balance_cents(member)
    left = order.goods_cents + order.delivery_cents - order.discount_cents - order.points_cents
    if wanted > held:
        raise ValidationFailed(
            fields={
                "wallet_cents": say(
                    _l("Your wallet holds %(amount)s."), amount=say_money(held, order.currency)
                )
            }
        )
    if wanted > left:
        raise ValidationFailed(
            fields={
                "wallet_cents": say(
                    _l("At most %(amount)s is left to pay on this order."),
                    amount=say_money(max(left, 0), order.currency),
                )
            }
        )
    _write(member, K.PAY, order.number, -wanted, currency=order.currency, order_id=order.id)
    order.wallet_cents = wanted


def order_moved(order: ConsumerOrder, action: str) -> None:
    """Cancelled or expired before payment: the money the order took comes back."""
    if action not in (Action.CANCEL, Action.EXPIRE) or not order.wallet_cents:
        return
    if order.member_id is None:
        return
    member = membership.lock_member(order.member_id)
    if _written(member.id, K.RELEASE, order.number) is None:
        give_back(member, order, order.wallet_cents, kind=K.RELEASE, reference=order.number)


def give_back(
    member: Member, order: ConsumerOrder, amount_cents: int, *, kind: str, reference: str
) -> None:
    """Money an order took goes back to the wallet. The caller holds the member's lock and
    checked that the reference is new."""
    if amount_cents > 0:
        _write(member, kind, reference, amount_cents, currency=order.currency, order_id=order.id)


def given_back(order: ConsumerOrder) -> int:
    """What of the order's wallet money came back so far."""
    return int(
        db.session.execute(
            select(func.coalesce(func.sum(WalletEntry.amount_cents), 0)).where(
                WalletEntry.order_id == order.id,
                WalletEntry.kind.in_((K.RELEASE, K.REFUND)),
            )
        ).scalar_one()
    )


# -- top-ups -------------------------------------------------------------------------------------


def top_up_limits() -> tuple[int, int]:
    return MIN_TOP_UP_CENTS, int(current_app.config.get("WALLET_TOP_UP_MAX_CENTS", 500_000))


def _outside_limits(low: int, high: int) -> str:
    return say(
        _l("An amount from %(low)s to %(high)s."),
        low=say_money(low, CURRENCY),
        high=say_money(high, CURRENCY),
    )


def parse_top_up_amount(typed: str) -> int:
    """A top-up amount as typed in yuan ("100", "88.50"): fen within the limits. Raises
    ValidationFailed naming `amount`."""
    low, high = top_up_limits()
    wrong = _outside_limits(low, high)
    try:
        cents = to_cents((typed or "").strip() or "x", CURRENCY)
    except ValidationFailed:
        raise ValidationFailed(fields={"amount": wrong}) from None
    if not low <= cents <= high:
        raise ValidationFailed(fields={"amount": wrong})
    return cents


def start_top_up(consumer: Consumer, brand: Organization, amount_cents: int) -> WalletTopUp:
    """A top-up of the consumer's member's wallet, and the payment the provider is to collect
    for it (its amount is ours: the one asked for here). Raises ValidationFailed naming
    `amount` outside the limits, or when the consumer has not joined."""
    low, high = top_up_limits()
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int):
        raise ValidationFailed(fields={"amount": say(_l("A whole number of fen."))})
    if not low <= amount_cents <= high:
        raise ValidationFailed(fields={"amount": _outside_limits(low, high)})
    member = membership.member_in(brand, consumer)
    if member is None:
        raise ValidationFailed(fields={"amount": say(_l("Join the membership to use a wallet."))})
    top_up = WalletTopUp(
        number=f"W{utcnow():%y%m%d}{secrets.token_hex(5).upper()}",
        brand_id=brand.id,
        program_id=member.program_id,
        member_id=member.id,
        consumer_id=consumer.id,
        amount_cents=amount_cents,
        currency=CURRENCY,
        status=TopUpStatus.PENDING,
    )
    db.session.add(top_up)
    db.session.flush()
    minutes = int(current_app.config["CONSUMER_ORDER_PAY_MINUTES"])
    payment = payments.create_payment(
        brand_id=brand.id,
        payable_kind=PayableKind.WALLET_TOP_UP,
        payable_id=top_up.id,
        amount_cents=amount_cents,
        currency=CURRENCY,
        provider=provider_name_for(brand.code),
        expires_at=utcnow() + timedelta(minutes=minutes),
    )
    top_up.payment_id = payment.id
    db.session.flush()
    return top_up


def get_own_top_up(consumer: Consumer, number: str) -> WalletTopUp:
    """One of the consumer's own top-ups; anyone else's is a 404."""
    found = db.session.execute(
        select(WalletTopUp).where(
            WalletTopUp.number == number,
            WalletTopUp.consumer_id == consumer.id,
            WalletTopUp.brand_id == consumer.brand_id,
        )
    ).scalar_one_or_none()
    if found is None:
        raise NotFound()
    return found


def payment_of(top_up: WalletTopUp) -> Payment | None:
    if top_up.payment_id is None:
        return None
    return db.session.execute(
        select(Payment).where(Payment.id == top_up.payment_id, Payment.brand_id == top_up.brand_id)
    ).scalar_one_or_none()


def top_up_paid(payment: Payment) -> None:
    """A provider's notice found a top-up's payment paid (`hooks.payment_paid`): the wallet is
    credited, once however many notices say so."""
    if payment.payable_kind != PayableKind.WALLET_TOP_UP or payment.status != PaymentStatus.PAID:
        return
    top_up = db.session.execute(
        select(WalletTopUp).where(
            WalletTopUp.id == payment.payable_id,
            WalletTopUp.brand_id == payment.brand_id,
            WalletTopUp.payment_id == payment.id,
        )
    ).scalar_one_or_none()
    if top_up is None:
        return
    member = membership.lock_member(top_up.member_id)
    if _written(member.id, K.TOP_UP, top_up.number) is None:
        _write(
            member,
            K.TOP_UP,
            top_up.number,
            top_up.amount_cents,
            currency=top_up.currency,
            top_up_id=top_up.id,
        )
        top_up.status, top_up.paid_at = TopUpStatus.PAID, utcnow()
        db.session.flush()


def credit_seed_top_up(member: Member, brand: Organization, amount_cents: int, number: str) -> None:
    """Demo data: a top-up paid outside any provider (portal/seed/members_wallet.py)."""
    locked = membership.lock_member(member.id)
    if _written(locked.id, K.TOP_UP, number) is not None:
        return
    top_up = WalletTopUp(
        number=number,
        brand_id=brand.id,
        program_id=locked.program_id,
        member_id=locked.id,
        amount_cents=amount_cents,
        currency=CURRENCY,
        status=TopUpStatus.PAID,
        paid_at=utcnow(),
    )
    db.session.add(top_up)
    db.session.flush()
    _write(locked, K.TOP_UP, number, amount_cents, currency=CURRENCY, top_up_id=top_up.id)
