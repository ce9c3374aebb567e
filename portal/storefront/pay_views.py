"""Paying for an order: the pay page that sends the consumer to the provider, the providers'
server-to-server notices (`POST /shop/<brand>/pay/notify/<provider>`), and the built-in test
gateway's own page (at `gateway.PAGE_PATH`, outside any shop: it stands in for the provider's
site).

A notice is believed only once its provider's signature checks out (else 401, nothing stored).
The test gateway's page hands its notice to the same `receive_notice` the callback route uses,
in-process: the demo needs no server able to call itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from portal.core import jobs, transaction
from portal.core.access import public
from portal.core.errors import DomainError, NotFound, error_body
from portal.extensions import csrf
from portal.network.models import Organization
from portal.storefront import hooks, orders, queries
from portal.storefront.auth import consumer_required, signed_in_consumer
from portal.storefront.models import ConsumerOrderStatus
from portal.storefront.payments import services as payments
from portal.storefront.payments.base import ProviderName
from portal.storefront.payments.errors import (
    NoticeAmountMismatch,
    PaymentNotPayable,
    ProviderNotConfigured,
)
from portal.storefront.payments.gateway import PAGE_PATH, TestGateway
from portal.storefront.payments.jobs import send_refund
from portal.storefront.payments.models import PayableKind
from portal.storefront.payments.providers import provider_named
from portal.storefront.shared_views import bp, shop_brand


def receive_notice(
    provider_name: str, headers: Mapping[str, str], body: bytes, *, brand: Organization | None
) -> payments.NoticeResult:
    """Verify a provider's notice, record it once, move its order to paid, and send back money
    that came when it could no longer be taken. Raises NoticeSignatureInvalid (401) before
    anything is stored, and NoticeAmountMismatch after storing the notice (the caller keeps
    it)."""
    if provider_name not in tuple(ProviderName):
        raise NotFound()
    try:
        provider = provider_named(provider_name)
    except ProviderNotConfigured as exc:
        raise NotFound() from exc
    notice = provider.parse_notice(headers, body)
    result = payments.record_notice(notice)
    if brand is not None and result.payment.brand_id != brand.id:
        raise NotFound()
    orders.order_paid(result.payment)
    if result.payment.payable_kind != PayableKind.CONSUMER_ORDER and not result.repeated:
        hooks.payment_recorded(result.payment)
    if result.refund is not None and not result.repeated:
        jobs.enqueue(
            send_refund,
            result.refund.id,
            brand_id=result.payment.brand_id,
            title=f"Refund {result.refund.reference}",
        )
    return result


@bp.post("/pay/notify/<provider>")
@public
def pay_notify(brand_code: str, provider: str):
    """The providers' callback: public (the signature is the credential), no CSRF token."""
    brand = shop_brand(brand_code)
    try:
        receive_notice(provider, dict(request.headers), request.get_data(), brand=brand)
    except NoticeAmountMismatch as error:
        # Refused, but the notice stays on record as evidence (the error handler would roll
        # it back with the rest).
        transaction.keep()
        return jsonify(error_body(error.code, error.message, error.fields)), error.status
    if provider == ProviderName.ALIPAY:
        return Response("success", mimetype="text/plain")  # what Alipay waits to read
    return Response(status=204)


csrf.exempt(pay_notify)


# -- the consumer's pay page -------------------------------------------------------------------


def _absolute(path: str) -> str:
    return str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/") + path


@bp.get("/orders/<number>/pay")
@consumer_required
def pay(brand_code: str, number: str):
    brand = shop_brand(brand_code)
    order = queries.get_own_order(signed_in_consumer(), number)
    order_url = url_for("storefront.consumer_order", brand_code=brand.code, number=number)
    payment = queries.payment_of(order)
    if order.status != ConsumerOrderStatus.AWAITING_PAYMENT or payment is None:
        return redirect(order_url)
    started = None
    alert = None
    try:
        started = payments.start_payment(
            payment,
            provider_named(payment.provider),
            description=f"{brand.name} {order.number}",
            notify_url=_absolute(
                url_for("storefront.pay_notify", brand_code=brand.code, provider=payment.provider)
            ),
            return_url=_absolute(order_url),
            client_ip=request.remote_addr or "",
        )
    except PaymentNotPayable:
        flash(_("This order can no longer be paid."), "error")
        return redirect(order_url)
    except DomainError as error:  # the provider could not be reached: try again later
        alert = error.message
    return render_template(
        "storefront/pay.html",
        brand=brand,
        order=order,
        started=started,
        alert=alert,
        order_url=order_url,
    )


# -- the test gateway's page -------------------------------------------------------------------


def _gateway() -> TestGateway:
    provider = provider_named(ProviderName.TEST)
    assert isinstance(provider, TestGateway)
    return provider


def _local(url: str) -> str:
    """Only the path of the return address: the gateway never sends anyone off-site."""
    parts = urlsplit(url)
    return parts.path if parts.path.startswith("/shop/") else "/"


@public
def gateway_page():
    """Pay or decline, as a real provider's page would; the answer goes to `receive_notice`."""
    gateway = _gateway()
    source: Mapping[str, Any] = request.form if request.method == "POST" else request.args
    checkout = gateway.read_checkout({key: str(value) for key, value in source.items()})
    if request.method == "GET":
        fields = {key: str(value) for key, value in request.args.items() if key != "csrf_token"}
        return render_template("storefront/gateway.html", checkout=checkout, fields=fields)
    paid = request.form.get("action") == "pay"
    signed = gateway.build_notice(
        checkout.reference, checkout.amount_cents, checkout.currency, paid=paid
    )
    receive_notice(ProviderName.TEST, signed.headers, signed.body, brand=None)
    return redirect(_local(checkout.return_url))


@bp.record_once
def _register_gateway_page(state: Any) -> None:
    # The gateway's page stands in for the provider's site: at its own path, outside any shop.
    state.app.add_url_rule(
        PAGE_PATH, "storefront.test_gateway", gateway_page, methods=["GET", "POST"]
    )
