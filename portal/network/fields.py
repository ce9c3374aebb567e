"""What the network's typed fields must look like: org codes, e-mail addresses, passwords and
free text, shared by the org services and the people services."""

from __future__ import annotations

import re

CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,31}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8


def normalize_code(code: str) -> str:
    return (code or "").strip().upper()


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def check_text(
    fields: dict[str, str], name: str, value: str, *, limit: int, required: bool
) -> None:
    """Note in `fields` what is wrong with a text field, if anything."""
    if required and not value.strip():
        fields[name] = "This field is required."
    elif len(value) > limit:
        fields[name] = f"At most {limit} characters."
