"""What every payment provider offers the portal, and the plain values that cross the boundary.

A provider turns our payment (reference, amount in fen) into what the consumer's front end needs
to pay, turns a callback it sent us into a verified `Notice`, and pays money back. Amounts are
always integer minor units (fen); each adapter converts to its own wire format.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Protocol


class ProviderName(enum.StrEnum):
    TEST = "test"
    WECHAT = "wechat"
    ALIPAY = "alipay"


class NoticeStatus(enum.StrEnum):
    """What a notice says happened to the payment on the provider's side."""

    PAID = "paid"
    DECLINED = "declined"  # closed, failed or refused: no money moved
    PENDING = "pending"  # informational (still waiting for the payer): nothing to apply


@dataclass(frozen=True)
class StartRequest:
    """Ask the provider to take `amount_cents` for our payment `reference`. `payer_id` is the
    payer's id at the provider where it needs one (a WeChat openid inside WeChat)."""

    reference: str
    amount_cents: int
    currency: str
    description: str
    notify_url: str
    return_url: str = ""
    expires_at: datetime | None = None
    payer_id: str = ""
    client_ip: str = ""


@dataclass(frozen=True)
class StartedPayment:
    """What the front end does next: follow `redirect_url` (test gateway, Alipay WAP, WeChat
    H5), or hand `client_params` to the wallet's own pay call (WeChat JSAPI / mini-program /
    native QR code, Alipay app). One of the two is always set."""

    provider: str
    reference: str
    redirect_url: str = ""
    client_params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Notice:
    """A callback whose signature checked out, in our terms. `notice_id` is the provider's id
    of this message: the same id twice is the same notice."""

    provider: str
    notice_id: str
    reference: str
    transaction_id: str
    amount_cents: int
    currency: str
    status: NoticeStatus


@dataclass(frozen=True)
class RefundRequest:
    """Pay back `amount_cents` of the provider transaction `transaction_id` (our payment
    `reference`, whose whole amount was `total_cents`); `refund_reference` is ours, and asking
    again with the same one never pays twice."""

    reference: str
    transaction_id: str
    refund_reference: str
    amount_cents: int
    total_cents: int
    currency: str
    reason: str = ""


class RefundState(enum.StrEnum):
    SUCCEEDED = "succeeded"
    PROCESSING = "processing"  # accepted; the provider finishes it later
    FAILED = "failed"


@dataclass(frozen=True)
class RefundOutcome:
    state: RefundState
    provider_refund_id: str = ""
    message: str = ""


@dataclass(frozen=True)
class ShareReceiver:
    """One party that gets part of a paid transaction: its account at the provider (a WeChat
    Pay merchant id, an Alipay account or user id), how much, and why (the provider shows it)."""

    account: str
    amount_cents: int
    description: str


@dataclass(frozen=True)
class ShareRequest:
    """Profit sharing (分账): send parts of the provider transaction `transaction_id` (our
    payment `reference`) to `receivers`. `reference` is ours and unique per share: asking again
    with it never pays twice. The rest of the transaction stays with the merchant."""

    reference: str
    payment_reference: str
    transaction_id: str
    receivers: tuple[ShareReceiver, ...]
    currency: str = "CNY"


class ShareState(enum.StrEnum):
    DONE = "done"
    PROCESSING = "processing"  # accepted; the provider finishes it later
    FAILED = "failed"  # refused: retrying the same request will not change it


@dataclass(frozen=True)
class ShareResult:
    state: ShareState
    provider_share_id: str = ""
    message: str = ""


class PaymentProvider(Protocol):
    """The interface checkout and wallet top-ups use; one implementation per provider."""

    name: str

    def start(self, request: StartRequest) -> StartedPayment:
        """What the front end needs to pay. Raises ProviderUnavailable when the provider cannot
        be reached or refuses to open the payment."""
        ...

    def parse_notice(self, headers: Mapping[str, str], body: bytes) -> Notice:
        """Verify a callback's signature and read it. Raises NoticeSignatureInvalid when the
        signature does not check out, MalformedNotice when a signed body makes no sense."""
        ...

    def refund(self, request: RefundRequest) -> RefundOutcome:
        """Pay money back. Raises ProviderUnavailable for a failure worth retrying; a refusal
        that retrying will not change comes back as RefundState.FAILED."""
        ...

    def share_profit(self, request: ShareRequest) -> ShareResult:
        """Send parts of a paid transaction to other accounts (profit sharing). Raises
        ProviderUnavailable for a failure worth retrying; a refusal comes back as
        ShareState.FAILED. The payment must have been made with profit sharing allowed."""
        ...


def yuan_to_fen(text: str) -> int:
    """Yuan as text to fen, exactly ("88.80" -> 8880): more than two decimals, or anything not a
    number, is refused (ValueError) rather than rounded, since it comes from outside."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError) as exc:
        raise ValueError(f"not an amount: {text!r}") from exc
    fen = value * 100
    if not value.is_finite() or fen != fen.to_integral_value():
        raise ValueError(f"not an amount in fen: {text!r}")
    return int(fen)


def fen_to_yuan(cents: int) -> str:
    """8880 -> "88.80", the form Alipay's amounts take."""
    return f"{Decimal(cents) / 100:.2f}"


def header(headers: Mapping[str, str], name: str) -> str:
    """A header by name whatever its case (Flask's headers, a plain dict in tests)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return ""
