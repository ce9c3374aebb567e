"""The built-in test gateway: the consumer is sent to its page with signed particulars, the page
posts an HMAC-signed notice, and a notice signed with anything but our secret is refused."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

import pytest

from portal.storefront.payments import services
from portal.storefront.payments.base import NoticeStatus
from portal.storefront.payments.errors import MalformedNotice, NoticeSignatureInvalid
from portal.storefront.payments.gateway import SIGNATURE_HEADER, TestGateway
from portal.storefront.payments.models import PaymentStatus


def _start(payment, gateway):
    started = services.start_payment(
        payment,
        gateway,
        description="Tee black M",
        notify_url="http://shop.test/pay/notify/test",
        return_url="http://shop.test/shop/acme/orders/1",
    )
    url = urlsplit(started.redirect_url)
    return started, url, dict(parse_qsl(url.query))


def test_pay_on_the_gateway_and_the_notice_pays_the_payment(payments, gateway):
    payment = payments.create(25_900)
    started, url, query = _start(payment, gateway)
    assert (started.provider, started.reference) == ("test", payment.reference)
    assert f"{url.scheme}://{url.netloc}{url.path}" == "http://shop.test/pay/test-gateway"

    checkout = gateway.read_checkout(query)  # what the page shows: our amount
    assert (checkout.reference, checkout.amount_cents, checkout.currency) == (
        payment.reference,
        25_900,
        "CNY",
    )
    posted = gateway.build_notice(checkout.reference, checkout.amount_cents, checkout.currency)
    notice = gateway.parse_notice(posted.headers, posted.body)
    assert (notice.status, notice.amount_cents, notice.reference) == (
        NoticeStatus.PAID,
        25_900,
        payment.reference,
    )
    services.record_notice(notice)
    assert payment.status == PaymentStatus.PAID
    assert payment.provider_transaction_id == notice.transaction_id


def test_decline_on_the_gateway_leaves_the_payment_waiting(payments, gateway):
    payment = payments.create()
    posted = gateway.build_notice(payment.reference, payment.amount_cents, paid=False)
    result = services.record_notice(gateway.parse_notice(posted.headers, posted.body))
    assert result.notice.outcome == "declined"
    assert payment.status == PaymentStatus.PENDING


def test_a_page_address_with_another_amount_is_refused(payments, gateway):
    payment = payments.create(25_900)
    _, _, query = _start(payment, gateway)
    with pytest.raises(NoticeSignatureInvalid):
        gateway.read_checkout({**query, "amount_cents": "1"})


def test_a_tampered_notice_is_refused(gateway):
    posted = gateway.build_notice("P1", 25_900)
    body = json.loads(posted.body)
    body["amount_cents"] = 1
    with pytest.raises(NoticeSignatureInvalid):
        gateway.parse_notice(posted.headers, json.dumps(body, sort_keys=True).encode())


def test_a_notice_signed_with_another_secret_is_refused(gateway):
    forged = TestGateway("not-our-secret", "http://elsewhere").build_notice("P1", 25_900)
    with pytest.raises(NoticeSignatureInvalid):
        gateway.parse_notice(forged.headers, forged.body)


def test_an_unsigned_notice_is_refused(gateway):
    posted = gateway.build_notice("P1", 25_900)
    with pytest.raises(NoticeSignatureInvalid):
        gateway.parse_notice({}, posted.body)


def test_the_signature_header_is_found_whatever_its_case(gateway):
    posted = gateway.build_notice("P1", 25_900)
    lower = {SIGNATURE_HEADER.lower(): posted.headers[SIGNATURE_HEADER]}
    assert gateway.parse_notice(lower, posted.body).amount_cents == 25_900


def test_a_signed_body_that_is_not_a_notice_is_malformed(gateway):
    body = b'{"notice_id": "N", "amount_cents": "lots"}'
    signature = "sha256=" + gateway._sign("notice", body)
    with pytest.raises(MalformedNotice):
        gateway.parse_notice({SIGNATURE_HEADER: signature}, body)


def test_a_payment_page_signature_does_not_pass_as_a_notice_signature(gateway):
    body = b"reference=P1"
    signature = "sha256=" + gateway._sign("checkout", body)
    with pytest.raises(NoticeSignatureInvalid):
        gateway.parse_notice({SIGNATURE_HEADER: signature}, body)
