"""Ordering errors. Each submit check has its own code; an order that fails several checks is
refused with the first problem's code and every problem listed (by line) in `problems`."""

from __future__ import annotations

from portal.core.errors import Conflict, DomainError


class OrderRefused(DomainError):
    """Submit checks failed. `fields` maps "lines.<index>" (or "order") to a message; the
    `problems` extra lists {"line", "sku", "code", "message"} for each."""

    code = "order_refused"
    message = "The order cannot be placed."


class OrderStateConflict(Conflict):
    """The order is not in a state that allows this (shipped already, cancelled, ...)."""

    code = "invalid_transition"
    message = "The order cannot do this in its current state."
