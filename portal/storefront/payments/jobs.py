"""Sending refunds. `record_notice` and `request_refund` write the refund; whoever called them
enqueues `send_refund` with its id, which runs after that commit and is safe to run twice (a
settled refund is not sent again, and the provider pays one refund number once)."""

from __future__ import annotations

from typing import Any

from portal.core import jobs
from portal.storefront.payments import services
from portal.storefront.payments.providers import provider_named


def _refund_gave_up(refund_id: int, *, reason: str) -> None:
    refund = services.find_refund(refund_id)
    if refund is not None:
        services.record_refund_failure(refund, f"gave up: {reason}")


@jobs.job(title="Send a refund", on_give_up=_refund_gave_up)
def send_refund(refund_id: int) -> dict[str, Any]:
    refund = services.find_refund(refund_id)
    if refund is None:
        return {"refund_id": refund_id, "state": "missing"}
    attempt = services.send_refund(refund, provider_named(refund.provider))
    return {"refund_id": refund_id, "state": attempt.state if attempt else "settled already"}
