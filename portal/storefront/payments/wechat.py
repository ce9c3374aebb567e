"""WeChat Pay (API v3) through the `wechatpayv3` package.

Notices are verified with WeChat Pay's platform public key (WECHATPAY_PUBLIC_KEY and its id,
WECHATPAY_PUBLIC_KEY_ID), then their resource is decrypted with the API v3 key. Handing the
client the public key is also what keeps it off the network: without one, the library downloads
platform certificates in its constructor and again whenever a notice names a serial it does not
know, so `parse_notice` refuses any serial other than the configured key id before the library
sees the notice.

Profit sharing (分账) goes through the library's `profitsharing_order` (POST
/v3/profitsharing/orders). WeChat shares only a payment made with `settle_info.profit_sharing`
(the provider's `profit_sharing=True`: its funds stay frozen until shared or unfrozen), to
receivers added beforehand to the merchant's receiver list, and at most the share ratio the
merchant agreed with WeChat (30% by default). Each request unfreezes what it does not share.
A receiver account given as "openid:<id>" is a person; any other is a merchant id.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from wechatpayv3 import WeChatPay, WeChatPayType

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
    header,
)
from portal.storefront.payments.errors import (
    MalformedNotice,
    NoticeSignatureInvalid,
    ProviderUnavailable,
)

log = logging.getLogger(__name__)

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
NOTICE_HEADERS = (
    "Wechatpay-Signature",
    "Wechatpay-Timestamp",
    "Wechatpay-Nonce",
    "Wechatpay-Serial",
    "Wechatpay-Signature-Type",
)
PAY_TYPES = {
    "jsapi": WeChatPayType.JSAPI,  # inside WeChat's browser: needs the payer's openid
    "miniprog": WeChatPayType.MINIPROG,  # a mini-program: needs the payer's openid
    "h5": WeChatPayType.H5,  # a phone browser outside WeChat
    "native": WeChatPayType.NATIVE,  # a QR code shown on a desktop
    "app": WeChatPayType.APP,
}
TRADE_STATES = {
    "SUCCESS": NoticeStatus.PAID,
    "CLOSED": NoticeStatus.DECLINED,
    "PAYERROR": NoticeStatus.DECLINED,
    "REVOKED": NoticeStatus.DECLINED,
    "NOTPAY": NoticeStatus.PENDING,
    "USERPAYING": NoticeStatus.PENDING,
}
SHANGHAI = ZoneInfo("Asia/Shanghai")


class WeChatPayProvider:
    name = ProviderName.WECHAT.value

    def __init__(
        self,
        *,
        mchid: str,
        appid: str,
        cert_serial_no: str,
        private_key: str,
        apiv3_key: str,
        public_key: str,
        public_key_id: str,
        pay_type: str = "jsapi",
        timeout: int = 10,
        profit_sharing: bool = False,
    ) -> None:
        if pay_type not in PAY_TYPES:
            raise ValueError(f"WECHATPAY_PAY_TYPE must be one of {', '.join(PAY_TYPES)}")
        self._appid = appid
        self._mchid = mchid
        self._pay_type = pay_type
        self._public_key_id = public_key_id
        self._profit_sharing = profit_sharing
        self._client = WeChatPay(
            wechatpay_type=PAY_TYPES[pay_type],
            mchid=mchid,
            private_key=private_key,
            cert_serial_no=cert_serial_no,
            appid=appid,
            apiv3_key=apiv3_key,
            public_key=public_key,
            public_key_id=public_key_id,
            timeout=(timeout, timeout),
        )

    # -- starting a payment ----------------------------------------------------------------

    def start(self, request: StartRequest) -> StartedPayment:
        options: dict[str, Any] = {}
        if request.expires_at is not None:
            # WeChat closes the payment itself at this moment, so few late payments happen.
            options["time_expire"] = request.expires_at.astimezone(SHANGHAI).isoformat(
                timespec="seconds"
            )
        if self._profit_sharing:  # the funds wait for share_profit (or unfreezing)
            options["settle_info"] = {"profit_sharing": True}
        if self._pay_type in ("jsapi", "miniprog"):
            if not request.payer_id:
                raise ValueError("WeChat Pay inside WeChat needs the payer's openid")
            options["payer"] = {"openid": request.payer_id}
        if self._pay_type == "h5":
            options["scene_info"] = {
                "payer_client_ip": request.client_ip or "127.0.0.1",
                "h5_info": {"type": "Wap"},
            }
        data = self._call(
            "pay",
            description=request.description[:127],
            out_trade_no=request.reference,
            amount={"total": request.amount_cents, "currency": request.currency},
            notify_url=request.notify_url,
            **options,
        )
        if self._pay_type == "h5":
            return StartedPayment(self.name, request.reference, redirect_url=_field(data, "h5_url"))
        if self._pay_type == "native":
            return StartedPayment(
                self.name, request.reference, client_params={"code_url": _field(data, "code_url")}
            )
        prepay_id = _field(data, "prepay_id")
        stamp, nonce = str(int(time.time())), secrets.token_hex(16)
        if self._pay_type == "app":
            sign = self._client.sign([self._appid, stamp, nonce, prepay_id])
            params = {
                "appid": self._appid,
                "partnerid": self._mchid,
                "prepayid": prepay_id,
                "package": "Sign=WXPay",
                "noncestr": nonce,
                "timestamp": stamp,
                "sign": sign,
            }
            return StartedPayment(self.name, request.reference, client_params=params)
        package = f"prepay_id={prepay_id}"
        params = {
            "appId": self._appid,
            "timeStamp": stamp,
            "nonceStr": nonce,
            "package": package,
            "signType": "RSA",
            "paySign": self._client.sign([self._appid, stamp, nonce, package]),
        }
        return StartedPayment(self.name, request.reference, client_params=params)

    # -- notices ---------------------------------------------------------------------------

    def parse_notice(self, headers: Mapping[str, str], body: bytes) -> Notice:
        given = {name: header(headers, name) for name in NOTICE_HEADERS}
        if given["Wechatpay-Signature-Type"] != SIGNATURE_TYPE:
            raise NoticeSignatureInvalid()
        if not self._public_key_id or given["Wechatpay-Serial"] != self._public_key_id:
            raise NoticeSignatureInvalid()
        try:
            text = body.decode("utf-8")
            data = self._client.callback(given, text)
        except Exception as exc:  # noqa: BLE001 - the library raises bare Exception
            raise MalformedNotice() from exc
        if not data:  # the signature, or the resource's encryption, did not check out
            raise NoticeSignatureInvalid()
        try:
            if not str(data["event_type"]).startswith("TRANSACTION."):
                raise ValueError(f"not a payment notice: {data['event_type']}")
            resource = data["resource"]
            amount = resource["amount"]
            status = TRADE_STATES[resource["trade_state"]]
            return Notice(
                provider=self.name,
                notice_id=str(data["id"]),
                reference=str(resource["out_trade_no"]),
                transaction_id=str(resource.get("transaction_id") or ""),
                amount_cents=_whole(amount["total"]),
                currency=str(amount.get("currency") or "CNY"),
                status=status,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedNotice() from exc

    # -- refunds ---------------------------------------------------------------------------

    def refund(self, request: RefundRequest) -> RefundOutcome:
        try:
            code, message = self._client.refund(
                out_refund_no=request.refund_reference,
                amount={
                    "refund": request.amount_cents,
                    "total": request.total_cents,
                    "currency": request.currency,
                },
                transaction_id=request.transaction_id,
                reason=request.reason[:80] or None,
            )
        except Exception as exc:  # noqa: BLE001 - network errors and the library's bare Exception
            raise ProviderUnavailable() from exc
        if code == 429 or code >= 500:
            raise ProviderUnavailable()
        data = _json(message)
        if not 200 <= code < 300:
            return RefundOutcome(RefundState.FAILED, message=str(data.get("message", code))[:500])
        state = {"SUCCESS": RefundState.SUCCEEDED, "PROCESSING": RefundState.PROCESSING}.get(
            str(data.get("status")), RefundState.FAILED
        )
        return RefundOutcome(state, provider_refund_id=str(data.get("refund_id", "")))

    # -- profit sharing --------------------------------------------------------------------

    def share_profit(self, request: ShareRequest) -> ShareResult:
        receivers = []
        for receiver in request.receivers:
            person = receiver.account.startswith("openid:")
            receivers.append(
                {
                    "type": "PERSONAL_OPENID" if person else "MERCHANT_ID",
                    "account": receiver.account.removeprefix("openid:"),
                    "amount": receiver.amount_cents,
                    "description": receiver.description[:80],
                }
            )
        try:
            code, message = self._client.profitsharing_order(
                transaction_id=request.transaction_id,
                out_order_no=request.reference,
                receivers=receivers,
                unfreeze_unsplit=True,
            )
        except Exception as exc:  # noqa: BLE001 - network errors and the library's bare Exception
            log.warning("wechat pay profit sharing %s failed: %s", request.reference, exc)
            raise ProviderUnavailable() from exc
        if code == 429 or code >= 500:
            raise ProviderUnavailable()
        data = _json(message)
        if not 200 <= code < 300:
            return ShareResult(ShareState.FAILED, message=str(data.get("message", code))[:500])
        state = ShareState.DONE if data.get("state") == "FINISHED" else ShareState.PROCESSING
        return ShareResult(state, provider_share_id=str(data.get("order_id", "")))

    def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        try:
            code, message = getattr(self._client, method)(**kwargs)
        except Exception as exc:  # noqa: BLE001 - network errors and the library's bare Exception
            log.warning("wechat pay %s failed: %s", method, exc)
            raise ProviderUnavailable() from exc
        if not 200 <= code < 300:
            log.warning("wechat pay %s answered %s: %s", method, code, message)
            raise ProviderUnavailable()
        return _json(message)


def _json(message: Any) -> dict[str, Any]:
    try:
        data = json.loads(message)
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _field(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not value:
        raise ProviderUnavailable()
    return str(value)


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number, got {value!r}")
    return value
