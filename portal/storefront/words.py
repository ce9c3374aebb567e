"""Messages the storefront's services raise, as text a consumer or a store's staff reads, and
the amounts written into them."""

from __future__ import annotations

from typing import Any

from flask import has_request_context
from flask_babel import force_locale

from portal.core.inputs import say as say_in_request
from portal.core.money import format_money


def say(message: Any, **values: Any) -> str:
    """A lazy message as text: the page's language in a request (English for the API), English
    elsewhere (jobs, tests of services), as the locale selector needs a request."""
    if has_request_context():
        return say_in_request(message, **values)
    with force_locale("en"):
        text = str(message)
    return text % values if values else text


def say_money(cents: int, currency: str = "CNY") -> str:
    """An amount for a message, in the same language as `say` writes the message around it."""
    if has_request_context():
        return format_money(cents, currency)
    with force_locale("en"):
        return format_money(cents, currency)
