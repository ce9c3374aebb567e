"""Payments: made from our own record of what is owed, paid by verified notices, paid back by
refunds. Nothing here commits; the request or job that calls it does.

A notice is applied under the payment's row lock and stored once per (provider, notice id), so
the same notice delivered any number of times, even at once, pays the payment once. A notice
whose amount or currency is not the payment's is refused and the payment left as it was. Money
that arrives for a payment that can no longer be paid (expired, cancelled), or a second time
for one already paid, is recorded and a refund is written for the caller to send (`send_refund`
job).
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Exists, exists, func, select
from sqlalchemy.exc import IntegrityError

from portal.core.db import utcnow
from portal.extensions import db
from portal.storefront.payments.base import (
    Notice,
    NoticeStatus,
    PaymentProvider,
    ProviderName,
    RefundRequest,
    RefundState,
    StartedPayment,
    StartRequest,
)
from portal.storefront.payments.errors import (
    MalformedNotice,
    NoticeAmountMismatch,
    PaymentNotFound,
    PaymentNotPayable,
    RefundExceedsPayment,
)
from portal.storefront.payments.models import (
    NoticeOutcome,
    PayableKind,
    Payment,
    PaymentNotice,
    PaymentRefund,
    PaymentRefundAttempt,
    PaymentStatus,
    RefundReason,
)

log = logging.getLogger(__name__)

MAX_AMOUNT_CENTS = 10**11  # a billion yuan: anything above is a mistake
# What both WeChat Pay and Alipay accept as a merchant's refund number.
REFUND_REFERENCE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SETTLED = (RefundState.SUCCEEDED, RefundState.PROCESSING)


@dataclass(frozen=True)
class NoticeResult:
    """A notice as recorded: `repeated` when it had been recorded before (nothing changed now);
    `refund` when its money has to go back."""

    notice: PaymentNotice
    payment: Payment
    refund: PaymentRefund | None
    repeated: bool


# -- payments ------------------------------------------------------------------------------------


def new_reference() -> str:
    """Our payment number: short enough for every provider (WeChat allows 32), unguessable."""
    return f"P{utcnow():%y%m%d}{secrets.token_hex(8).upper()}"


def create_payment(
    *,
    brand_id: int,
    payable_kind: PayableKind,
    payable_id: int,
    amount_cents: int,
    currency: str,
    provider: str,
    expires_at: datetime | None = None,
) -> Payment:
    """A payment waiting to be paid. The amount is the caller's own record of what is owed (the
    order's total, the top-up asked for), never a number from the client."""
    if not 0 < amount_cents <= MAX_AMOUNT_CENTS:
        raise ValueError(f"a payment's amount must be positive, not {amount_cents}")
    payment = Payment(
        brand_id=brand_id,
        reference=new_reference(),
        payable_kind=PayableKind(payable_kind),
        payable_id=payable_id,
        amount_cents=amount_cents,
        currency=currency,
        provider=ProviderName(provider),
        status=PaymentStatus.PENDING,
        expires_at=expires_at,
    )
    db.session.add(payment)
    db.session.flush()
    return payment


def start_payment(
    payment: Payment,
    provider: PaymentProvider,
    *,
    description: str,
    notify_url: str,
    return_url: str = "",
    payer_id: str = "",
    client_ip: str = "",
) -> StartedPayment:
    """Ask the provider to take the payment's own amount. May be asked again (a consumer who
    closed the wallet and came back). Raises PaymentNotPayable when it is paid, expired or
    cancelled, or past its expiry time; ProviderUnavailable from the provider."""
    if provider.name != payment.provider:
        raise ValueError(f"payment {payment.reference} is for {payment.provider}")
    if not payment.is_payable or (payment.expires_at and payment.expires_at <= utcnow()):
        raise PaymentNotPayable()
    return provider.start(
        StartRequest(
            reference=payment.reference,
            amount_cents=payment.amount_cents,
            currency=payment.currency,
            description=description,
            notify_url=notify_url,
            return_url=return_url,
            expires_at=payment.expires_at,
            payer_id=payer_id,
            client_ip=client_ip,
        )
    )


def expire_payment(payment: Payment) -> bool:
    """Not paid in time: stop taking money for it. False when it was no longer waiting (paid
    meanwhile: the caller keeps the order)."""
    return _close(payment, PaymentStatus.EXPIRED)


def cancel_payment(payment: Payment) -> bool:
    """Called off before it was paid. False when it was no longer waiting (a paid payment is
    refunded instead: `request_refund`)."""
    return _close(payment, PaymentStatus.CANCELLED)


def _close(payment: Payment, status: PaymentStatus) -> bool:
    locked = _lock(payment.reference)
    if locked is None or not locked.is_payable:
        return False
    locked.status = status
    db.session.flush()
    return True


def _lock(reference: str) -> Payment | None:
    """The payment under a row lock (PostgreSQL) until the transaction ends: notices, expiry and
    refunds of one payment take turns."""
    return db.session.execute(
        select(Payment)
        .where(Payment.reference == reference)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


# -- notices -------------------------------------------------------------------------------------


def record_notice(notice: Notice) -> NoticeResult:
    """Apply a verified notice once. Raises PaymentNotFound for a reference we never gave that
    provider, MalformedNotice for a payment notice without a transaction, and
    NoticeAmountMismatch (after storing the notice as evidence, and logging it) when its amount
    or currency is not the payment's: the payment is left unchanged. A route that wants the
    evidence kept past its error answer calls `transaction.keep()`."""
    payment = _lock(notice.reference)
    if payment is None or payment.provider != notice.provider:
        raise PaymentNotFound()
    if notice.status == NoticeStatus.PAID and not notice.transaction_id:
        raise MalformedNotice("A payment notice must name the provider's transaction.")
    existing = _find_notice(notice.provider, notice.notice_id)
    if existing is not None:
        return _repeat(existing, payment)
    if (notice.amount_cents, notice.currency) != (payment.amount_cents, payment.currency):
        log.warning(
            "payment %s: %s notice %s says %s %s where the payment is %s %s; refused",
            payment.reference,
            notice.provider,
            notice.notice_id,
            notice.amount_cents,
            notice.currency,
            payment.amount_cents,
            payment.currency,
        )
        stored, new = _store_notice(payment, notice, NoticeOutcome.AMOUNT_MISMATCH)
        if not new:
            return _repeat(stored, payment)
        raise NoticeAmountMismatch()

    outcome, reason = _decide(payment, notice)
    stored, new = _store_notice(payment, notice, outcome)
    if not new:
        return _repeat(stored, payment)
    refund = None
    if outcome == NoticeOutcome.APPLIED:
        payment.status = PaymentStatus.PAID
        payment.provider_transaction_id = notice.transaction_id
        payment.paid_at = utcnow()
    elif reason is not None:
        refund = _add_refund(
            payment,
            reference=_automatic_refund_reference(notice),
            transaction_id=notice.transaction_id,
            amount_cents=notice.amount_cents,
            reason=reason,
            notice_row=stored,
        )
        log.info(
            "payment %s: %s money from %s %s goes back (refund %s)",
            payment.reference,
            reason,
            notice.provider,
            notice.transaction_id,
            refund.reference,
        )
    db.session.flush()
    return NoticeResult(stored, payment, refund, repeated=False)


def _decide(payment: Payment, notice: Notice) -> tuple[NoticeOutcome, RefundReason | None]:
    if notice.status == NoticeStatus.DECLINED:
        return (NoticeOutcome.DECLINED if payment.is_payable else NoticeOutcome.IGNORED), None
    if notice.status != NoticeStatus.PAID:
        return NoticeOutcome.IGNORED, None
    if payment.is_payable:
        return NoticeOutcome.APPLIED, None
    if payment.provider_transaction_id == notice.transaction_id:
        return NoticeOutcome.IGNORED, None  # the paying transaction, told again in a new notice
    if _find_refund(_automatic_refund_reference(notice)) is not None:
        return NoticeOutcome.IGNORED, None  # this stray transaction is being refunded already
    if payment.status == PaymentStatus.PAID:
        return NoticeOutcome.DOUBLE, RefundReason.DOUBLE_PAYMENT
    return NoticeOutcome.LATE, RefundReason.LATE_PAYMENT


def _store_notice(
    payment: Payment, notice: Notice, outcome: NoticeOutcome
) -> tuple[PaymentNotice, bool]:
    """The notice's new row (True), or the one another delivery of it stored first (False)."""
    row = PaymentNotice(
        brand_id=payment.brand_id,
        payment_id=payment.id,
        provider=notice.provider,
        notice_id=notice.notice_id,
        provider_transaction_id=notice.transaction_id,
        amount_cents=notice.amount_cents,
        currency=notice.currency,
        status=notice.status,
        outcome=outcome,
        created_at=utcnow(),
    )
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        # The payment's lock makes this rare (SQLite has no row locks; PostgreSQL can still see
        # two first deliveries at once): the one stored first is the notice.
        existing = _find_notice(notice.provider, notice.notice_id)
        if existing is None:
            raise
        return existing, False
    return row, True


def _repeat(existing: PaymentNotice, payment: Payment) -> NoticeResult:
    if existing.outcome == NoticeOutcome.AMOUNT_MISMATCH:
        raise NoticeAmountMismatch()
    refund = db.session.execute(
        select(PaymentRefund).where(PaymentRefund.notice_id == existing.id)
    ).scalar_one_or_none()
    return NoticeResult(existing, payment, refund, repeated=True)


def _find_notice(provider: str, notice_id: str) -> PaymentNotice | None:
    return db.session.execute(
        select(PaymentNotice).where(
            PaymentNotice.provider == provider, PaymentNotice.notice_id == notice_id
        )
    ).scalar_one_or_none()


# -- refunds -------------------------------------------------------------------------------------


def _automatic_refund_reference(notice: Notice) -> str:
    """One refund per stray transaction, however many notices tell of it."""
    digest = hashlib.sha256(f"{notice.provider}:{notice.transaction_id}".encode()).hexdigest()
    return "RA" + digest[:30].upper()


def request_refund(
    payment: Payment,
    *,
    amount_cents: int,
    reason: RefundReason,
    reference: str | None = None,
) -> PaymentRefund:
    """Pay back part or all of a paid payment (a return, an order cancelled after payment).
    Asking again with the same `reference` and amount returns the first refund. Raises
    RefundExceedsPayment beyond what is left of the payment (or when it was never paid)."""
    locked = _lock(payment.reference)
    if locked is None:
        raise PaymentNotFound()
    if reference is not None:
        if not REFUND_REFERENCE.match(reference):
            raise ValueError(f"not a usable refund reference: {reference!r}")
        earlier = _find_refund(reference)
        if earlier is not None:
            if (earlier.payment_id, earlier.amount_cents) != (locked.id, amount_cents):
                raise RefundExceedsPayment("That refund reference was used for another refund.")
            return earlier
    if locked.status != PaymentStatus.PAID or locked.provider_transaction_id is None:
        raise RefundExceedsPayment("This payment was not paid: there is nothing to refund.")
    refunded = db.session.execute(
        select(func.coalesce(func.sum(PaymentRefund.amount_cents), 0)).where(
            PaymentRefund.payment_id == locked.id,
            PaymentRefund.provider_transaction_id == locked.provider_transaction_id,
        )
    ).scalar_one()
    if not 0 < amount_cents <= locked.amount_cents - refunded:
        raise RefundExceedsPayment(
            left_cents=locked.amount_cents - refunded, asked_cents=amount_cents
        )
    if reference is None:
        count = db.session.execute(
            select(func.count()).where(PaymentRefund.payment_id == locked.id)
        ).scalar_one()
        reference = f"{locked.reference}-R{count + 1}"
    return _add_refund(
        locked,
        reference=reference,
        transaction_id=locked.provider_transaction_id,
        amount_cents=amount_cents,
        reason=reason,
    )


def _add_refund(
    payment: Payment,
    *,
    reference: str,
    transaction_id: str,
    amount_cents: int,
    reason: RefundReason,
    notice_row: PaymentNotice | None = None,
) -> PaymentRefund:
    refund = PaymentRefund(
        brand_id=payment.brand_id,
        payment_id=payment.id,
        reference=reference,
        provider=payment.provider,
        provider_transaction_id=transaction_id,
        amount_cents=amount_cents,
        currency=payment.currency,
        reason=reason,
        notice_id=notice_row.id if notice_row is not None else None,
        created_at=utcnow(),
    )
    db.session.add(refund)
    db.session.flush()
    return refund


def _find_refund(reference: str) -> PaymentRefund | None:
    return db.session.execute(
        select(PaymentRefund).where(PaymentRefund.reference == reference)
    ).scalar_one_or_none()


def find_refund(refund_id: int) -> PaymentRefund | None:
    return db.session.execute(
        select(PaymentRefund).where(PaymentRefund.id == refund_id)
    ).scalar_one_or_none()


def _settled_clause() -> Exists:
    return exists().where(
        PaymentRefundAttempt.refund_id == PaymentRefund.id,
        PaymentRefundAttempt.state.in_(SETTLED),
    )


def is_settled(refund: PaymentRefund) -> bool:
    """The provider paid it back or took it on."""
    return bool(
        db.session.execute(
            select(
                exists().where(
                    PaymentRefundAttempt.refund_id == refund.id,
                    PaymentRefundAttempt.state.in_(SETTLED),
                )
            )
        ).scalar_one()
    )


def open_refunds(limit: int = 500) -> list[PaymentRefund]:
    """Refunds no provider has taken on yet, oldest first (for a job that sends them again)."""
    return list(
        db.session.execute(
            select(PaymentRefund).where(~_settled_clause()).order_by(PaymentRefund.id).limit(limit)
        ).scalars()
    )


def send_refund(refund: PaymentRefund, provider: PaymentProvider) -> PaymentRefundAttempt | None:
    """Ask the provider to pay the refund and record its answer; None when an earlier attempt
    settled it already. ProviderUnavailable passes through, so the job retries; its give-up hook
    records the failure (`record_refund_failure`)."""
    if provider.name != refund.provider:
        raise ValueError(f"refund {refund.reference} is for {refund.provider}")
    payment = _lock(refund.payment.reference)  # two sends of one refund take turns
    assert payment is not None
    if is_settled(refund):
        return None
    outcome = provider.refund(
        RefundRequest(
            reference=payment.reference,
            transaction_id=refund.provider_transaction_id,
            refund_reference=refund.reference,
            amount_cents=refund.amount_cents,
            # Every transaction we accept a notice for is for the payment's whole amount.
            total_cents=payment.amount_cents,
            currency=refund.currency,
            reason=refund.reason,
        )
    )
    return _add_attempt(refund, outcome.state, outcome.provider_refund_id, outcome.message)


def record_refund_failure(refund: PaymentRefund, message: str) -> PaymentRefundAttempt:
    return _add_attempt(refund, RefundState.FAILED, "", message)


def _add_attempt(
    refund: PaymentRefund, state: RefundState, provider_refund_id: str, message: str
) -> PaymentRefundAttempt:
    attempt = PaymentRefundAttempt(
        refund_id=refund.id,
        state=state,
        provider_refund_id=provider_refund_id[:64],
        message=message[:500],
        created_at=utcnow(),
    )
    db.session.add(attempt)
    db.session.flush()
    if state == RefundState.FAILED:
        log.warning("refund %s failed: %s", refund.reference, message)
    return attempt
