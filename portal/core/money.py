"""Money is integer minor units plus a currency code; rounding and formatting happen here only."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from flask_babel import format_currency

from portal.core.errors import ValidationFailed

MAX_AMOUNT = Decimal(10) ** 15
MINOR_UNITS = {"CNY": 2, "USD": 2, "EUR": 2, "JPY": 0}


def to_cents(amount: str | int | float | Decimal, currency: str = "CNY") -> int:
    """Parse a human amount ("1,299.50") into minor units, rounding half up."""
    try:
        value = Decimal(str(amount).replace(",", "").strip())
    except InvalidOperation as exc:
        raise ValidationFailed(fields={"amount": f"Not an amount: {amount!r}."}) from exc
    if not value.is_finite() or abs(value) > MAX_AMOUNT:
        raise ValidationFailed(fields={"amount": "Not a usable amount."})
    digits = MINOR_UNITS.get(currency, 2)
    return int((value * (10**digits)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_cents(cents: int, currency: str = "CNY") -> Decimal:
    digits = MINOR_UNITS.get(currency, 2)
    return Decimal(cents) / (10**digits)


def format_money(cents: int | None, currency: str = "CNY") -> str:
    """Locale-aware display, e.g. "¥1,299.50" (en) or "¥1,299.50" / "CN¥" per locale rules."""
    if cents is None:
        return ""
    return format_currency(from_cents(cents, currency), currency)


def percent_of(cents: int, basis_points: int) -> int:
    """`basis_points` / 10,000 of an amount, rounded half up to the minor unit."""
    value = Decimal(cents) * Decimal(basis_points) / Decimal(10_000)
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def format_percent(basis_points: int | None) -> str:
    if basis_points is None:
        return ""
    value = Decimal(basis_points) / 100
    return f"{value.normalize():f}%"
