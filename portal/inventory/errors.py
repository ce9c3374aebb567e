"""Stock errors, each with a stable code."""

from __future__ import annotations

from portal.core.errors import Conflict, DomainError, ValidationFailed


class InsufficientStock(DomainError):
    code = "insufficient_stock"
    message = "Not enough stock available."


class StockUploadRejected(ValidationFailed):
    code = "stock_upload_rejected"
    message = "The file was refused."


class StockUploadNotReady(Conflict):
    code = "stock_upload_not_ready"
    message = "Only a checked stock file without errors can be applied."
