"""Stock errors, each with a stable code."""

from __future__ import annotations

from portal.core.errors import DomainError


class InsufficientStock(DomainError):
    code = "insufficient_stock"
    message = "Not enough stock available."
