"""Payment errors. A callback that fails its signature check is an access error (401): nobody
may tell us a payment happened without the provider's key."""

from __future__ import annotations

from portal.core.errors import AccessError, Conflict, DomainError, NotFound


class NoticeSignatureInvalid(AccessError):
    code = "notice_signature_invalid"
    status = 401
    message = "The payment notice's signature does not check out."


class MalformedNotice(DomainError):
    """Signed (or not even that far) but not a notice we can read."""

    code = "notice_malformed"
    status = 400
    message = "The payment notice cannot be read."


class NoticeAmountMismatch(DomainError):
    """The notice's amount or currency differs from our payment's: refused, the payment stays
    as it was."""

    code = "notice_amount_mismatch"
    message = "The notice's amount differs from the payment's."


class PaymentNotFound(NotFound):
    code = "payment_not_found"
    message = "No such payment."


class PaymentNotPayable(Conflict):
    code = "payment_not_payable"
    message = "This payment can no longer be paid."


class RefundExceedsPayment(Conflict):
    code = "refund_exceeds_payment"
    message = "The refund is more than what is left of the payment."


class ProviderUnavailable(DomainError):
    """The provider could not be reached or would not open the payment; trying again later may
    work."""

    code = "payment_provider_unavailable"
    status = 502
    message = "The payment service is not available right now. Try again in a moment."


class ProviderNotConfigured(RuntimeError):
    """A provider was chosen whose settings are missing: a deployment mistake, not a request's."""
