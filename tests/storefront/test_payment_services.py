"""Payments are paid by verified notices, once, for exactly our amount; money that comes too late
or twice is written down to go back; refunds never exceed what was paid; the ledgers are never
edited."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from portal.core.db import utcnow
from portal.extensions import db
from portal.storefront.payments import jobs, services
from portal.storefront.payments.base import Notice, NoticeStatus
from portal.storefront.payments.errors import (
    MalformedNotice,
    NoticeAmountMismatch,
    PaymentNotFound,
    PaymentNotPayable,
    RefundExceedsPayment,
)
from portal.storefront.payments.models import (
    NoticeOutcome,
    PaymentNotice,
    PaymentRefund,
    PaymentRefundAttempt,
    PaymentStatus,
    RefundReason,
)


def _notice(payment, *, notice_id="N-1", transaction="T-1", amount=None, status="paid", **kw):
    return Notice(
        provider=kw.get("provider", "test"),
        notice_id=notice_id,
        reference=kw.get("reference", payment.reference),
        transaction_id=transaction,
        amount_cents=payment.amount_cents if amount is None else amount,
        currency=kw.get("currency", "CNY"),
        status=NoticeStatus(status),
    )


def _count(model, **where) -> int:
    query = select(func.count()).select_from(model)
    for name, value in where.items():
        query = query.where(getattr(model, name) == value)
    return db.session.execute(query).scalar_one()


def _refunds(payment) -> list[PaymentRefund]:
    return list(
        db.session.execute(
            select(PaymentRefund).where(PaymentRefund.payment_id == payment.id)
        ).scalars()
    )


# -- paying --------------------------------------------------------------------------------------


def test_a_paid_notice_pays_the_payment_with_the_providers_transaction(payments):
    payment = payments.create(12_900)
    result = services.record_notice(_notice(payment, transaction="T-42"))
    assert (result.repeated, result.refund, result.notice.outcome) == (False, None, "applied")
    assert payment.status == PaymentStatus.PAID
    assert payment.provider_transaction_id == "T-42"
    assert payment.paid_at is not None


def test_the_same_notice_a_hundred_times_is_one_payment_and_one_notice(payments):
    payment = payments.create()
    first = services.record_notice(_notice(payment))
    paid_at = payment.paid_at
    repeats = [services.record_notice(_notice(payment)) for _ in range(99)]
    assert all(r.repeated and r.notice.id == first.notice.id for r in repeats)
    assert _count(PaymentNotice, payment_id=payment.id) == 1
    assert (payment.status, payment.paid_at) == (PaymentStatus.PAID, paid_at)
    assert _refunds(payment) == []


def test_the_paying_transaction_told_again_in_a_new_notice_changes_nothing(payments):
    payment = payments.create()
    services.record_notice(_notice(payment, notice_id="N-1", transaction="T-1"))
    again = services.record_notice(_notice(payment, notice_id="N-2", transaction="T-1"))
    assert (again.repeated, again.notice.outcome, again.refund) == (False, "ignored", None)
    assert _refunds(payment) == []


def test_a_notice_for_another_amount_is_refused_and_the_payment_stays_unpaid(payments, caplog):
    payment = payments.create(12_900)
    with caplog.at_level(logging.WARNING), pytest.raises(NoticeAmountMismatch):
        services.record_notice(_notice(payment, amount=1))
    assert "refused" in caplog.text and payment.reference in caplog.text
    db.session.refresh(payment)
    assert (payment.status, payment.provider_transaction_id) == (PaymentStatus.PENDING, None)
    # Kept as evidence, and refused again however often it comes.
    row = db.session.execute(select(PaymentNotice)).scalars().one()
    assert (row.outcome, row.amount_cents) == (NoticeOutcome.AMOUNT_MISMATCH, 1)
    with pytest.raises(NoticeAmountMismatch):
        services.record_notice(_notice(payment, amount=1))
    assert payment.status == PaymentStatus.PENDING
    # The right amount under a new notice still pays it.
    services.record_notice(_notice(payment, notice_id="N-2"))
    assert payment.status == PaymentStatus.PAID


def test_a_notice_in_another_currency_is_refused(payments):
    payment = payments.create()
    with pytest.raises(NoticeAmountMismatch):
        services.record_notice(_notice(payment, currency="USD"))
    assert payment.status == PaymentStatus.PENDING


def test_a_notice_for_an_unknown_reference_or_through_another_provider_is_not_found(payments):
    payment = payments.create()
    with pytest.raises(PaymentNotFound):
        services.record_notice(_notice(payment, reference="P000000NOSUCHTHING"))
    with pytest.raises(PaymentNotFound):
        services.record_notice(_notice(payment, provider="wechat"))
    assert _count(PaymentNotice) == 0


def test_a_paid_notice_without_a_transaction_is_malformed(payments):
    payment = payments.create()
    with pytest.raises(MalformedNotice):
        services.record_notice(_notice(payment, transaction=""))
    assert payment.status == PaymentStatus.PENDING


def test_a_decline_leaves_the_payment_payable(payments):
    payment = payments.create()
    declined = services.record_notice(_notice(payment, status="declined", transaction=""))
    assert declined.notice.outcome == NoticeOutcome.DECLINED
    assert payment.status == PaymentStatus.PENDING
    services.record_notice(_notice(payment, notice_id="N-2"))
    assert payment.status == PaymentStatus.PAID
    late_decline = services.record_notice(_notice(payment, notice_id="N-3", status="declined"))
    assert late_decline.notice.outcome == NoticeOutcome.IGNORED
    assert payment.status == PaymentStatus.PAID


# -- money that must go back ---------------------------------------------------------------------


def test_a_notice_after_expiry_is_recorded_and_refunded_automatically(payments):
    payment = payments.create(12_900)
    assert services.expire_payment(payment)
    result = services.record_notice(_notice(payment, transaction="T-LATE"))
    assert result.notice.outcome == NoticeOutcome.LATE
    assert payment.status == PaymentStatus.EXPIRED  # the order stays expired
    refund = result.refund
    assert refund is not None
    assert (refund.reason, refund.amount_cents, refund.provider_transaction_id) == (
        RefundReason.LATE_PAYMENT,
        12_900,
        "T-LATE",
    )
    assert refund.notice_id == result.notice.id
    assert services.open_refunds() == [refund]
    # Told again (same notice, or the same transaction in a new notice): still one refund.
    assert services.record_notice(_notice(payment, transaction="T-LATE")).refund == refund
    again = services.record_notice(_notice(payment, notice_id="N-2", transaction="T-LATE"))
    assert (again.notice.outcome, again.refund) == (NoticeOutcome.IGNORED, None)
    assert _refunds(payment) == [refund]


def test_a_notice_after_cancellation_is_refunded(payments):
    payment = payments.create()
    assert services.cancel_payment(payment)
    result = services.record_notice(_notice(payment))
    assert result.notice.outcome == NoticeOutcome.LATE
    assert result.refund is not None and result.refund.reason == RefundReason.LATE_PAYMENT
    assert payment.status == PaymentStatus.CANCELLED


def test_a_second_transaction_for_a_paid_payment_is_refunded(payments):
    payment = payments.create()
    services.record_notice(_notice(payment, notice_id="N-1", transaction="T-1"))
    result = services.record_notice(_notice(payment, notice_id="N-2", transaction="T-2"))
    assert result.notice.outcome == NoticeOutcome.DOUBLE
    assert result.refund is not None
    assert (result.refund.reason, result.refund.provider_transaction_id) == (
        "double_payment",
        "T-2",
    )
    assert payment.provider_transaction_id == "T-1"


def test_expiry_and_cancellation_only_close_a_waiting_payment(payments):
    payment = payments.create()
    services.record_notice(_notice(payment))
    assert not services.expire_payment(payment)
    assert not services.cancel_payment(payment)
    assert payment.status == PaymentStatus.PAID


def test_a_closed_or_overdue_payment_cannot_be_started(payments, gateway):
    expired = payments.create()
    services.expire_payment(expired)
    with pytest.raises(PaymentNotPayable):
        services.start_payment(expired, gateway, description="Tee", notify_url="http://x/n")
    overdue = payments.create(minutes=-1)
    with pytest.raises(PaymentNotPayable):
        services.start_payment(overdue, gateway, description="Tee", notify_url="http://x/n")


# -- refunds -------------------------------------------------------------------------------------


def test_refunds_never_exceed_what_was_paid(payments):
    payment = payments.create(10_000)
    with pytest.raises(RefundExceedsPayment):  # not paid yet
        services.request_refund(payment, amount_cents=100, reason=RefundReason.CANCELLED)
    services.record_notice(_notice(payment))
    first = services.request_refund(payment, amount_cents=6_000, reason=RefundReason.RETURNED)
    assert first.reference == f"{payment.reference}-R1"
    with pytest.raises(RefundExceedsPayment) as refused:
        services.request_refund(payment, amount_cents=4_001, reason=RefundReason.RETURNED)
    assert refused.value.extra == {"left_cents": 4_000, "asked_cents": 4_001}
    second = services.request_refund(payment, amount_cents=4_000, reason=RefundReason.RETURNED)
    assert second.reference == f"{payment.reference}-R2"
    with pytest.raises(RefundExceedsPayment):
        services.request_refund(payment, amount_cents=1, reason=RefundReason.RETURNED)


def test_a_refund_asked_again_under_its_reference_is_the_same_refund(payments):
    payment = payments.create(10_000)
    services.record_notice(_notice(payment))
    first = services.request_refund(
        payment, amount_cents=2_500, reason=RefundReason.RETURNED, reference="RET-7"
    )
    again = services.request_refund(
        payment, amount_cents=2_500, reason=RefundReason.RETURNED, reference="RET-7"
    )
    assert again.id == first.id
    with pytest.raises(RefundExceedsPayment):
        services.request_refund(
            payment, amount_cents=2_600, reason=RefundReason.RETURNED, reference="RET-7"
        )


def test_the_test_gateway_pays_a_refund_at_once_and_it_is_sent_only_once(payments, gateway):
    payment = payments.create()
    services.expire_payment(payment)
    refund = services.record_notice(_notice(payment)).refund
    assert refund is not None
    attempt = services.send_refund(refund, gateway)
    assert attempt is not None
    assert (attempt.state, attempt.provider_refund_id) == ("succeeded", "TR" + refund.reference)
    assert services.is_settled(refund)
    assert services.open_refunds() == []
    assert services.send_refund(refund, gateway) is None
    assert _count(PaymentRefundAttempt, refund_id=refund.id) == 1


def test_the_refund_job_sends_through_the_payments_provider(payments):
    payment = payments.create()
    services.cancel_payment(payment)
    refund = services.record_notice(_notice(payment)).refund
    assert refund is not None
    assert jobs.send_refund(refund.id) == {"refund_id": refund.id, "state": "succeeded"}
    assert jobs.send_refund(refund.id)["state"] == "settled already"
    jobs._refund_gave_up(refund.id, reason="network down")  # a failure adds, never edits
    assert _count(PaymentRefundAttempt, refund_id=refund.id) == 2
    assert services.is_settled(refund)


# -- the ledgers ---------------------------------------------------------------------------------


def test_notices_refunds_and_attempts_are_append_only(payments, gateway):
    payment = payments.create()
    services.cancel_payment(payment)
    result = services.record_notice(_notice(payment))
    assert result.refund is not None
    services.send_refund(result.refund, gateway)
    for table in ("payment_notices", "payment_refunds", "payment_refund_attempts"):
        with pytest.raises(DBAPIError), db.session.begin_nested():
            db.session.execute(text(f"UPDATE {table} SET created_at = created_at"))
        with pytest.raises(DBAPIError), db.session.begin_nested():
            db.session.execute(text(f"DELETE FROM {table}"))
    result.notice.outcome = NoticeOutcome.APPLIED
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.flush()


def test_a_payment_keeps_its_expiry_and_reference_format(payments):
    payment = payments.create(minutes=15)
    assert payment.reference.startswith("P") and len(payment.reference) <= 32
    assert payment.expires_at is not None
    assert timedelta(minutes=14) < payment.expires_at - utcnow() <= timedelta(minutes=15)
