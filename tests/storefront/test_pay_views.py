"""Paying in the browser (portal/storefront/pay_views.py): the pay page sends the consumer to the
test gateway, whose Pay and Decline buttons hand a signed notice to the same code as the
providers' callback; the callback believes only a good signature and our own amount, once."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from portal.core.db import utcnow
from portal.extensions import db
from portal.storefront import orders
from portal.storefront.models import ConsumerOrder
from portal.storefront.payments import services
from portal.storefront.payments.gateway import SIGNATURE_HEADER
from portal.storefront.payments.models import (
    NoticeOutcome,
    Payment,
    PaymentNotice,
    PaymentRefund,
    RefundReason,
)
from portal.storefront.payments.providers import provider_named
from tests.storefront.test_cart_views import add, page, sign_in
from tests.storefront.test_checkout_views import form_of
from tests.support.retail import RetailShop, build_retail_shop


@pytest.fixture
def shop(app) -> RetailShop:
    built = build_retail_shop("PY")
    db.session.commit()
    return built


def bought(client, shop: RetailShop, store: str = "LJ") -> ConsumerOrder:
    """A signed-in consumer's pickup order, placed through the pages and waiting for payment."""
    add(client, shop, "TEE-BLK-M", 1)
    form = form_of(page(client.get("/shop/PY/checkout")))
    form.update(fulfilment="pickup", pickup_location_id=str(shop.locations[store].id))
    response = client.post("/shop/PY/checkout", data=form)
    assert response.status_code == 302, page(response)[:2000]
    number = re.search(r"/orders/(C\w+)/pay$", response.headers["Location"]).group(1)
    return db.session.execute(select(ConsumerOrder).filter_by(number=number)).scalar_one()


def gateway_address(client, order: ConsumerOrder) -> str:
    """The pay page's button: the gateway's page with the signed particulars (our host dropped)."""
    response = client.get(f"/shop/PY/orders/{order.number}/pay")
    assert response.status_code == 200
    href = re.search(r'href="([^"]+)" data-testid="pay-start"', page(response)).group(1)
    parts = urlsplit(href.replace("&amp;", "&"))
    assert parts.path == "/pay/test-gateway"
    return f"{parts.path}?{parts.query}"


def press(client, address: str, action: str):
    gateway = client.get(address)
    assert gateway.status_code == 200 and 'data-testid="gateway"' in page(gateway)
    fields = dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', page(gateway)))
    fields = {k: v.replace("&amp;", "&") for k, v in fields.items()}
    fields.pop("csrf_token", None)
    return client.post("/pay/test-gateway", data={**fields, "action": action})


def reload(order: ConsumerOrder) -> ConsumerOrder:
    db.session.expire_all()
    return db.session.get(ConsumerOrder, order.id)


def payment_of(order: ConsumerOrder) -> Payment:
    return db.session.get(Payment, order.payment_id)


def notices() -> int:
    return db.session.execute(select(func.count()).select_from(PaymentNotice)).scalar_one()


def post_notice(client, signed, brand: str = "PY"):
    return client.post(f"/shop/{brand}/pay/notify/test", data=signed.body, headers=signed.headers)


def test_a_consumer_buys_for_pickup_pays_and_sees_the_pickup_code(client, shop):
    sign_in(client, shop)
    order = bought(client, shop)
    response = press(client, gateway_address(client, order), "pay")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/shop/PY/orders/{order.number}"
    order = reload(order)
    assert order.status == "paid" and re.fullmatch(r"\d{8}", order.pickup_code)
    html = page(client.get(response.headers["Location"]))
    assert f'data-testid="pickup-code">{order.pickup_code}<' in html
    assert f"/shop/PY/orders/{order.number}/pickup-code.svg" in html
    qr = client.get(f"/shop/PY/orders/{order.number}/pickup-code.svg")
    assert qr.status_code == 200 and qr.mimetype == "image/svg+xml"
    assert b"<svg" in qr.data
    assert 'data-testid="order-status">Paid<' in html
    # Paid: the pay page sends the consumer back to the order.
    again = client.get(f"/shop/PY/orders/{order.number}/pay")
    assert again.status_code == 302


def test_decline_leaves_the_order_awaiting_payment(client, shop):
    sign_in(client, shop)
    order = bought(client, shop)
    response = press(client, gateway_address(client, order), "decline")
    assert response.status_code == 302
    order = reload(order)
    assert order.status == "awaiting_payment" and order.pickup_code is None
    assert payment_of(order).status == "pending"
    html = page(client.get(f"/shop/PY/orders/{order.number}"))
    assert 'data-testid="order-pay"' in html and 'data-testid="pickup"' not in html


def test_an_altered_gateway_address_is_refused(client, shop):
    sign_in(client, shop)
    order = bought(client, shop)
    address = gateway_address(client, order)
    altered = re.sub(r"amount_cents=\d+", "amount_cents=1", address)
    assert client.get(altered).status_code == 401
    assert reload(order).status == "awaiting_payment"


def test_a_notice_with_a_bad_signature_is_401_and_changes_nothing(client, shop):
    sign_in(client, shop)
    order = bought(client, shop)
    payment = payment_of(order)
    signed = provider_named("test").build_notice(payment.reference, payment.amount_cents)
    forged = {**signed.headers, SIGNATURE_HEADER: "sha256=" + "0" * 64}
    before = notices()
    response = client.post("/shop/PY/pay/notify/test", data=signed.body, headers=forged)
    assert response.status_code == 401
    assert notices() == before
    assert reload(order).status == "awaiting_payment"
    assert payment_of(order).status == "pending"


def test_a_notice_whose_amount_differs_is_refused_logged_and_kept(client, shop, caplog):
    sign_in(client, shop)
    order = bought(client, shop)
    payment = payment_of(order)
    signed = provider_named("test").build_notice(payment.reference, payment.amount_cents - 100)
    with caplog.at_level(logging.WARNING):
        response = post_notice(client, signed)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "notice_amount_mismatch"
    assert any("refused" in r.getMessage() for r in caplog.records)
    db.session.expire_all()
    stored = db.session.execute(
        select(PaymentNotice).where(PaymentNotice.payment_id == payment.id)
    ).scalar_one()
    assert stored.outcome == NoticeOutcome.AMOUNT_MISMATCH  # kept as evidence
    assert reload(order).status == "awaiting_payment"
    assert payment_of(order).status == "pending"


def test_the_same_notice_twice_is_one_payment(client, shop):
    sign_in(client, shop)
    order = bought(client, shop)
    payment = payment_of(order)
    signed = provider_named("test").build_notice(payment.reference, payment.amount_cents)
    before = notices()
    assert post_notice(client, signed).status_code == 204
    code = reload(order).pickup_code
    assert post_notice(client, signed).status_code == 204
    assert notices() == before + 1
    order = reload(order)
    assert order.status == "paid" and order.pickup_code == code
    assert [e.kind for e in order.events].count("pay") == 1


def test_a_notice_sent_to_another_brands_shop_is_not_found(client, shop):
    other = build_retail_shop("PZ")
    db.session.commit()
    sign_in(client, shop)
    order = bought(client, shop)
    payment = payment_of(order)
    signed = provider_named("test").build_notice(payment.reference, payment.amount_cents)
    assert post_notice(client, signed, brand=other.brand.code).status_code == 404
    assert reload(order).status == "awaiting_payment"
    assert client.post("/shop/PY/pay/notify/nope", data=b"{}").status_code == 404


def test_another_consumers_pay_page_is_not_found(client, shop):
    sign_in(client, shop)
    order = bought(client, shop)
    sign_in(client, shop)  # someone else now
    assert client.get(f"/shop/PY/orders/{order.number}/pay").status_code == 404


def test_money_arriving_after_the_order_expired_is_sent_back(client, shop):
    sign_in(client, shop)
    order = bought(client, shop)
    address = gateway_address(client, order)
    assert orders.expire_unpaid(now=utcnow() + timedelta(hours=1)) >= 1
    db.session.commit()
    response = press(client, address, "pay")  # the consumer paid on a page left open
    assert response.status_code == 302
    order = reload(order)
    assert order.status == "cancelled" and order.pickup_code is None
    refund = db.session.execute(
        select(PaymentRefund).where(PaymentRefund.payment_id == order.payment_id)
    ).scalar_one()
    assert refund.reason == RefundReason.LATE_PAYMENT
    assert services.is_settled(refund)  # the send_refund job ran after the commit (inline)
