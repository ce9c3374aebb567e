"""The built-in test gateway: a payment provider for the demo and the tests, with no money.

Starting a payment sends the consumer to the gateway's page (served by the storefront) with the
payment's particulars in the address, signed so that the page can trust them. The page pays or
declines and posts a notice to our callback server to server, signed with HMAC-SHA256 under
PAYMENT_TEST_SECRET exactly as a real provider signs with its key; `parse_notice` checks that
signature like any other provider's. Refunds succeed at once.

Profit sharing is simulated: a well-formed request (receivers with positive amounts) is done at
once; it is kept in `SHARED` (this process's record, for the demo and the tests to read) and
answered with a share id signed like its notices, which `share_id_for` recomputes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

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
from portal.storefront.payments.errors import MalformedNotice, NoticeSignatureInvalid

SIGNATURE_HEADER = "X-Test-Gateway-Signature"
# Where the storefront serves the gateway's pay-or-decline page (PUBLIC_BASE_URL + this).
PAGE_PATH = "/pay/test-gateway"
# Every profit-sharing request the gateway answered in this process, oldest first.
SHARED: list[ShareRequest] = []
_CHECKOUT_FIELDS = ("reference", "amount_cents", "currency", "description", "notify_url")


@dataclass(frozen=True)
class SignedNotice:
    """A notice as the gateway posts it: send `body` with `headers`."""

    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Checkout:
    """What the gateway's page shows and acts on, read back from its signed address."""

    reference: str
    amount_cents: int
    currency: str
    description: str
    notify_url: str
    return_url: str


class TestGateway:
    __test__ = False  # a provider, not a pytest class

    name = ProviderName.TEST.value

    def __init__(self, secret: str, page_url: str) -> None:
        if not secret:
            raise ValueError("the test gateway needs a secret")
        self._secret = secret.encode()
        self._page_url = page_url

    def _sign(self, purpose: str, payload: bytes) -> str:
        # The purpose keeps a page address's signature from passing as a notice's.
        return hmac.new(
            self._secret, purpose.encode() + b"\n" + payload, hashlib.sha256
        ).hexdigest()

    # -- starting a payment ----------------------------------------------------------------

    def start(self, request: StartRequest) -> StartedPayment:
        fields = {
            "reference": request.reference,
            "amount_cents": str(request.amount_cents),
            "currency": request.currency,
            "description": request.description,
            "notify_url": request.notify_url,
            "return_url": request.return_url,
        }
        fields["signature"] = self._sign("checkout", _canonical(fields))
        return StartedPayment(
            provider=self.name,
            reference=request.reference,
            redirect_url=f"{self._page_url}?{urlencode(fields)}",
        )

    def read_checkout(self, query: Mapping[str, str]) -> Checkout:
        """The page's address, checked: a consumer who edits the amount gets a refusal."""
        fields = {key: query.get(key, "") for key in (*_CHECKOUT_FIELDS, "return_url")}
        expected = self._sign("checkout", _canonical(fields))
        if not hmac.compare_digest(expected, query.get("signature", "")):
            raise NoticeSignatureInvalid("The payment page's address has been altered.")
        try:
            amount = int(fields["amount_cents"])
        except ValueError as exc:
            raise MalformedNotice() from exc
        return Checkout(
            reference=fields["reference"],
            amount_cents=amount,
            currency=fields["currency"],
            description=fields["description"],
            notify_url=fields["notify_url"],
            return_url=fields["return_url"],
        )

    # -- notices ---------------------------------------------------------------------------

    def build_notice(
        self,
        reference: str,
        amount_cents: int,
        currency: str = "CNY",
        *,
        paid: bool = True,
        notice_id: str | None = None,
        transaction_id: str | None = None,
    ) -> SignedNotice:
        """The notice the gateway's page posts when the consumer pays (or declines)."""
        body = json.dumps(
            {
                "notice_id": notice_id or secrets.token_hex(16),
                "reference": reference,
                "transaction_id": transaction_id or "T" + secrets.token_hex(12).upper(),
                "amount_cents": amount_cents,
                "currency": currency,
                "status": NoticeStatus.PAID if paid else NoticeStatus.DECLINED,
            },
            sort_keys=True,
        ).encode()
        signature = "sha256=" + self._sign("notice", body)
        return SignedNotice(
            headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature}, body=body
        )

    def parse_notice(self, headers: Mapping[str, str], body: bytes) -> Notice:
        expected = "sha256=" + self._sign("notice", body)
        if not hmac.compare_digest(expected, header(headers, SIGNATURE_HEADER)):
            raise NoticeSignatureInvalid()
        try:
            data: dict[str, Any] = json.loads(body)
            notice = Notice(
                provider=self.name,
                notice_id=_text(data["notice_id"]),
                reference=_text(data["reference"]),
                transaction_id=_text(data["transaction_id"]),
                amount_cents=_whole(data["amount_cents"]),
                currency=_text(data["currency"]),
                status=NoticeStatus(data["status"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise MalformedNotice() from exc
        return notice

    # -- refunds ---------------------------------------------------------------------------

    def refund(self, request: RefundRequest) -> RefundOutcome:
        return RefundOutcome(
            state=RefundState.SUCCEEDED, provider_refund_id="TR" + request.refund_reference
        )

    # -- profit sharing --------------------------------------------------------------------

    def share_id_for(self, request: ShareRequest) -> str:
        """The share id the gateway gives this request: its signature over the request."""
        body = json.dumps(
            {
                "reference": request.reference,
                "transaction_id": request.transaction_id,
                "receivers": [[r.account, r.amount_cents] for r in request.receivers],
            },
            sort_keys=True,
        ).encode()
        return "TS" + self._sign("share", body)[:30]

    def share_profit(self, request: ShareRequest) -> ShareResult:
        if not request.receivers or any(
            r.amount_cents <= 0 or not r.account for r in request.receivers
        ):
            return ShareResult(
                ShareState.FAILED, message="every receiver needs an account and an amount"
            )
        if not any(earlier.reference == request.reference for earlier in SHARED):
            SHARED.append(request)
        return ShareResult(ShareState.DONE, provider_share_id=self.share_id_for(request))


def _canonical(fields: Mapping[str, str]) -> bytes:
    return urlencode(sorted(fields.items())).encode()


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected text, got {value!r}")
    return value


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number, got {value!r}")
    return value
