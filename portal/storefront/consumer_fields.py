"""What a consumer's typed fields must look like: a mobile number (E.164, read as Chinese without a
country code) and an e-mail address; shared by sign-in and the address book."""

from __future__ import annotations

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l

from portal.core.errors import ValidationFailed
from portal.network.fields import normalize_email
from portal.storefront.words import say

DEFAULT_REGION = "CN"


def invalid(fields: dict[str, str]) -> ValidationFailed:
    return ValidationFailed(say(_l("Some fields are not valid.")), fields=fields)


# -- fields ------------------------------------------------------------------------------------


def normalize_phone(raw: str, *, field: str = "phone") -> str:
    """A mobile number as E.164 (`+8613800138000`); numbers without a country code are read as
    Chinese. Raises ValidationFailed naming `field`."""
    text = (raw or "").strip()
    try:
        number = phonenumbers.parse(text, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise invalid({field: say(_l("Enter a valid mobile number, such as 138 0013 8000."))})
    if phonenumbers.number_type(number) not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise invalid({field: say(_l("This is not a mobile number: a code is sent by SMS."))})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_email(raw: str) -> str:
    email = normalize_email(raw)
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        raise invalid({"email": say(_l("Enter a valid e-mail address."))}) from None
    return email
