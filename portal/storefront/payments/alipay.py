"""Alipay through the `python-alipay-sdk` package (imported as `alipay`).

The client is built from our app's private key and Alipay's public key, both as PEM text, so it
signs and verifies locally: its constructor makes no network call. Notices are form posts whose
`sign` covers every other field but `sign_type`; the SDK rebuilds that string and checks it.

Profit sharing is Alipay's trade settle (`alipay.trade.order.settle`, the SDK's
`api_alipay_trade_order_settle`): each receiver must first be bound to our app as a royalty
receiver (alipay.trade.royalty.relation.bind, done once in Alipay's console or by its API), and
the trade must be one Alipay lets us settle (paid, within the settle period). A receiver account
of 16 digits starting 2088 is an Alipay user id; any other is a login name (phone or e-mail).
"""

from __future__ import annotations

import binascii
import logging
from collections.abc import Mapping
from typing import Any
from urllib.error import URLError
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from alipay import AliPay
from alipay.exceptions import AliPayException, AliPayValidationError
from alipay.utils import AliPayConfig

from portal.storefront.payments.base import (
    Notice,
    NoticeStatus,
    ProviderName,
    RefundOutcome,
    RefundRequest,
    RefundState,
    ShareRequest,
    ShareResult,
    ShareState,
    StartedPayment,
    StartRequest,
    fen_to_yuan,
    yuan_to_fen,
)
from portal.storefront.payments.errors import (
    MalformedNotice,
    NoticeSignatureInvalid,
    ProviderUnavailable,
)

log = logging.getLogger(__name__)

GATEWAY = "https://openapi.alipay.com/gateway.do"
SANDBOX_GATEWAY = "https://openapi-sandbox.dl.alipaydev.com/gateway.do"
PAY_METHODS = ("wap", "page", "app")  # phone browser, desktop browser, Alipay app SDK
TRADE_STATES = {
    "TRADE_SUCCESS": NoticeStatus.PAID,
    "TRADE_FINISHED": NoticeStatus.PAID,
    "TRADE_CLOSED": NoticeStatus.DECLINED,
    "WAIT_BUYER_PAY": NoticeStatus.PENDING,
}
# Alipay reads times as Beijing time.
SHANGHAI = ZoneInfo("Asia/Shanghai")


class AlipayProvider:
    name = ProviderName.ALIPAY.value

    def __init__(
        self,
        *,
        appid: str,
        app_private_key: str,
        alipay_public_key: str,
        sandbox: bool = False,
        pay_method: str = "wap",
        timeout: int = 10,
    ) -> None:
        if pay_method not in PAY_METHODS:
            raise ValueError(f"ALIPAY_PAY_METHOD must be one of {', '.join(PAY_METHODS)}")
        self._appid = appid
        self._pay_method = pay_method
        self._gateway = SANDBOX_GATEWAY if sandbox else GATEWAY
        self._client = AliPay(
            appid=appid,
            app_notify_url=None,
            app_private_key_string=app_private_key,
            alipay_public_key_string=alipay_public_key,
            sign_type="RSA2",
            debug=sandbox,
            config=AliPayConfig(timeout=timeout),
        )

    def start(self, request: StartRequest) -> StartedPayment:
        if request.currency != "CNY":
            raise ValueError("Alipay takes CNY only")
        options: dict[str, Any] = {}
        if request.expires_at is not None:
            # Alipay closes the trade itself then, so few payments arrive after our expiry.
            options["time_expire"] = request.expires_at.astimezone(SHANGHAI).strftime(
                "%Y-%m-%d %H:%M:%S"
            )
        common = {
            "subject": request.description[:256],
            "out_trade_no": request.reference,
            "total_amount": fen_to_yuan(request.amount_cents),
            "notify_url": request.notify_url,
            **options,
        }
        # Building the signed order string is local; the consumer's browser or app takes it on.
        if self._pay_method == "app":
            order = self._client.api_alipay_trade_app_pay(**common)
            return StartedPayment(
                self.name, request.reference, client_params={"order_string": order}
            )
        if self._pay_method == "page":
            order = self._client.api_alipay_trade_page_pay(return_url=request.return_url, **common)
        else:
            order = self._client.api_alipay_trade_wap_pay(return_url=request.return_url, **common)
        return StartedPayment(self.name, request.reference, redirect_url=f"{self._gateway}?{order}")

    def parse_notice(self, headers: Mapping[str, str], body: bytes) -> Notice:
        try:
            fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError as exc:
            raise MalformedNotice() from exc
        signature = fields.pop("sign", "")
        if not signature:
            raise NoticeSignatureInvalid()
        try:
            # The SDK takes `sign_type` out of the dict it is given: give it a copy.
            valid = self._client.verify(dict(fields), signature)
        except (AliPayException, ValueError, TypeError, binascii.Error) as exc:
            raise NoticeSignatureInvalid() from exc
        if not valid:
            raise NoticeSignatureInvalid()
        if fields.get("app_id") != self._appid:  # signed by Alipay, but for another app of ours
            raise NoticeSignatureInvalid()
        try:
            return Notice(
                provider=self.name,
                notice_id=_required(fields, "notify_id"),
                reference=_required(fields, "out_trade_no"),
                transaction_id=_required(fields, "trade_no"),
                amount_cents=yuan_to_fen(_required(fields, "total_amount")),
                currency="CNY",
                status=TRADE_STATES[fields.get("trade_status", "")],
            )
        except (KeyError, ValueError) as exc:
            raise MalformedNotice() from exc

    def refund(self, request: RefundRequest) -> RefundOutcome:
        try:
            answer = self._client.api_alipay_trade_refund(
                refund_amount=fen_to_yuan(request.amount_cents),
                trade_no=request.transaction_id,
                # Alipay's idempotency key: the same request number never refunds twice.
                out_request_no=request.refund_reference,
                refund_reason=request.reason[:256],
            )
        except (URLError, OSError, AliPayException, AliPayValidationError, ValueError) as exc:
            log.warning("alipay refund %s failed: %s", request.refund_reference, exc)
            raise ProviderUnavailable() from exc
        if answer.get("code") == "10000":
            return RefundOutcome(
                RefundState.SUCCEEDED, provider_refund_id=answer.get("trade_no", "")
            )
        if answer.get("sub_code") in ("ACQ.SYSTEM_ERROR", "aop.ACQ.SYSTEM_ERROR"):
            raise ProviderUnavailable()
        detail = answer.get("sub_msg") or answer.get("msg") or "refused"
        return RefundOutcome(RefundState.FAILED, message=str(detail)[:500])

    def share_profit(self, request: ShareRequest) -> ShareResult:
        royalties = [
            {
                "royalty_type": "transfer",
                "trans_in_type": "userId" if _is_user_id(r.account) else "loginName",
                "trans_in": r.account,
                "amount": fen_to_yuan(r.amount_cents),
                "desc": r.description[:100],
            }
            for r in request.receivers
        ]
        try:
            answer = self._client.api_alipay_trade_order_settle(
                out_request_no=request.reference,  # Alipay's idempotency key for the settle
                trade_no=request.transaction_id,
                royalty_parameters=royalties,
            )
        except (URLError, OSError, AliPayException, AliPayValidationError, ValueError) as exc:
            log.warning("alipay settle %s failed: %s", request.reference, exc)
            raise ProviderUnavailable() from exc
        if answer.get("code") == "10000":
            return ShareResult(ShareState.DONE, provider_share_id=answer.get("settle_no", ""))
        if answer.get("sub_code") in ("ACQ.SYSTEM_ERROR", "aop.ACQ.SYSTEM_ERROR"):
            raise ProviderUnavailable()
        detail = answer.get("sub_msg") or answer.get("msg") or "refused"
        return ShareResult(ShareState.FAILED, message=str(detail)[:500])


def _is_user_id(account: str) -> bool:
    return len(account) == 16 and account.isdigit() and account.startswith("2088")


def _required(fields: Mapping[str, str], name: str) -> str:
    value = fields.get(name, "")
    if not value:
        raise ValueError(f"{name} is missing")
    return value
