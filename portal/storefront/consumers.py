"""Consumer accounts: sign-in by mobile number and a one-time code, or by e-mail and password;
the address book and the person's rights over their data (PIPL: a copy of it, and erasure) live
in `consumer_data`, the field checks in `consumer_fields`; this module is the door to all three.

Consumers belong to one brand: the same number in two brands is two consumers. Services take
the brand, never a consumer of another brand, and raise `DomainError`s whose `fields` name the
field that was wrong; nothing they raise leaves a write behind, except a wrong code, whose try is
counted, and a wrong password, counted by the sign-in throttle (the caller keeps either with
`transaction.keep()`).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from flask import current_app, has_request_context
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import CursorResult, and_, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from portal.core import throttle
from portal.core.db import utcnow
from portal.core.errors import DomainError, ValidationFailed, wants_json
from portal.extensions import db
from portal.network.fields import normalize_email
from portal.network.models import Organization
from portal.storefront import hooks, sms
from portal.storefront.consumer_data import (  # noqa: F401 - the door to consumer accounts
    ADDRESS_TEXT,
    add_address,
    address_dict,
    delete_address,
    erase_consumer,
    export_consumer,
    get_address,
    list_addresses,
    update_address,
)
from portal.storefront.consumer_fields import (  # noqa: F401 - passed on, like consumer_data
    DEFAULT_REGION,
    check_email,
    invalid,
    normalize_phone,
)
from portal.storefront.models import Consumer, SignInCode
from portal.storefront.words import say

CODE_DIGITS = 6
MIN_PASSWORD = 8


def _sms_text(message: Any, **values: Any) -> str:
    """An SMS in the page's language; asked through the API (no page to go by) or outside a
    request, in Chinese, the consumers' default."""
    if has_request_context() and not wants_json():
        return str(message) % values
    with force_locale("zh_Hans_CN"):
        return str(message) % values


class CodeThrottled(DomainError):
    code = "rate_limited"
    status = 429
    message = "Too many codes asked for. Wait before asking again."
    field = "phone"  # the field the code went to

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            say(
                _l("Too many codes asked for. Try again in %(seconds)d seconds."),
                seconds=retry_after,
            ),
            fields={self.field: say(_l("Wait before asking for another code."))},
            retry_after=retry_after,
        )
        self.retry_after = retry_after


class InvalidCode(DomainError):
    """A wrong code: the try is counted, so the caller keeps the request's writes."""

    code = "invalid_code"
    status = 422


class InvalidCredentials(DomainError):
    """A wrong e-mail or password: counted by the throttle, so the caller keeps the writes."""

    code = "invalid_credentials"
    status = 401


class SignInThrottled(DomainError):
    code = "rate_limited"
    status = 429
    message = "Too many failed sign-ins. Wait a moment before trying again."

    def __init__(self, retry_after: int) -> None:
        message = say(
            _l("Too many failed sign-ins. Try again in %(seconds)s seconds."),
            seconds=retry_after,
        )
        super().__init__(message, fields={"password": message}, retry_after=retry_after)
        self.retry_after = retry_after


# -- sign-in by code ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeSent:
    phone: str  # E.164
    code: str  # shown on the page only in demo mode (SMS_SHOW_CODE)
    expires_at: datetime
    resend_after: int  # seconds


def _code_hash(brand_id: int, phone: str, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{brand_id}:{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def _wait_for(rows_since: list[datetime], cap: int, window: timedelta, now: datetime) -> int:
    """Seconds until fewer than `cap` of the times lie inside `window`, or 0 (no cap: 0)."""
    if cap <= 0 or len(rows_since) < cap:
        return 0
    oldest_counted = sorted(rows_since)[-cap]
    remaining = (oldest_counted + window - now).total_seconds()
    return math.ceil(remaining) if remaining > 0 else 0


# One-time codes: the two helpers below also serve the employee store's e-mail codes
# (portal/members/employee_proofs.py). Their `model` is a code table with `id`, `created_at`,
# `requested_from`, `expires_at`, `attempts` and `used_at`.


def code_wait(model: Any, targets: Sequence[Any], *, address: str, now: datetime) -> int:
    """Seconds before another code may go out (0: now). `targets` are conditions on `model`,
    each picking the codes sent to one place or on one person's behalf, the place it goes to
    first: one code per SIGN_IN_CODE_RESEND_SECONDS to that, SIGN_IN_CODES_PER_PHONE_HOUR an
    hour for each target, and SIGN_IN_CODES_PER_ADDRESS_HOUR an hour from a client address."""
    config = current_app.config
    hour = timedelta(hours=1)

    def sent(where: Any) -> list[datetime]:
        recent = select(model.created_at).where(where, model.created_at > now - hour)
        return list(db.session.execute(recent).scalars())

    per_target = [sent(target) for target in targets]
    by_address = sent(model.requested_from == address[:64])
    resend = timedelta(seconds=config["SIGN_IN_CODE_RESEND_SECONDS"])
    per_hour = config["SIGN_IN_CODES_PER_PHONE_HOUR"]
    return max(
        _wait_for(per_target[0], 1, resend, now),
        *(_wait_for(times, per_hour, hour, now) for times in per_target),
        _wait_for(by_address, config["SIGN_IN_CODES_PER_ADDRESS_HOUR"], hour, now),
    )


def use_code(
    model: Any, row: Any, matches: Callable[[Any], bool], wrong: DomainError, *, now: datetime
) -> None:
    """Spend a try at `row`, the asker's newest unused code (None: there is none). Expired,
    tried SIGN_IN_CODE_MAX_TRIES times, or used at this moment by another request: a
    ValidationFailed naming `code`. Every try is counted in the database, so tries made at the
    same moment cannot share one count; then `wrong` is raised unless `matches(row)` (the
    count stays: the caller keeps the writes), and a right code is used up."""
    if row is None or row.expires_at <= now:
        raise invalid({"code": say(_l("This code has expired. Ask for a new one."))})
    counted = _changed(
        update(model)
        .where(
            model.id == row.id,
            model.used_at.is_(None),
            model.attempts < current_app.config["SIGN_IN_CODE_MAX_TRIES"],
        )
        .values(attempts=model.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    if not counted:
        raise invalid({"code": say(_l("Too many wrong tries. Ask for a new code."))})
    if not matches(row):
        raise wrong
    used = _changed(
        update(model)
        .where(model.id == row.id, model.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if not used:  # the same code used at the same moment by another request
        raise invalid({"code": say(_l("This code has expired. Ask for a new one."))})


def _changed(statement: Any) -> int:
    return cast(CursorResult[Any], db.session.execute(statement)).rowcount or 0


def request_sign_in_code(brand: Organization, raw_phone: str, *, address: str) -> CodeSent:
    """Send a one-time code to a mobile number. Throttled: one per SIGN_IN_CODE_RESEND_SECONDS,
    and hourly caps per number and per client address (CodeThrottled, 429). The code is kept
    only as an HMAC; a new code replaces the ones before it."""
    config = current_app.config
    phone = normalize_phone(raw_phone)
    now = utcnow()
    sent_to = and_(SignInCode.brand_id == brand.id, SignInCode.phone == phone)
    wait = code_wait(SignInCode, [sent_to], address=address, now=now)
    if wait:
        raise CodeThrottled(wait)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    expires_at = now + timedelta(seconds=config["SIGN_IN_CODE_TTL_SECONDS"])
    # Only the newest code counts: the ones before it end here.
    db.session.execute(
        update(SignInCode)
        .where(
            SignInCode.brand_id == brand.id,
            SignInCode.phone == phone,
            SignInCode.used_at.is_(None),
        )
        .values(used_at=now)
    )
    db.session.add(
        SignInCode(
            brand_id=brand.id,
            phone=phone,
            code_hash=_code_hash(brand.id, phone, code),
            created_at=now,
            expires_at=expires_at,
            requested_from=address[:64],
        )
    )
    db.session.flush()
    minutes = max(1, config["SIGN_IN_CODE_TTL_SECONDS"] // 60)
    sms.send(
        phone,
        _sms_text(
            _l("%(brand)s sign-in code: %(code)s. It expires in %(minutes)d minutes."),
            brand=brand.name,
            code=code,
            minutes=minutes,
        ),
    )
    return CodeSent(phone, code, expires_at, config["SIGN_IN_CODE_RESEND_SECONDS"])


def sign_in_with_code(
    brand: Organization, raw_phone: str, code: str, *, guide_code: str | None = None
) -> Consumer:
    """The consumer with this number (made on first sign-in), if `code` is the number's newest
    code, unexpired, unused and within SIGN_IN_CODE_MAX_TRIES tries. Every try counts, so a
    wrong one raises InvalidCode after writing the count. A consumer made now is announced to
    the hooks with the shopping guide's code they gave (`guide_code`), which may refuse it."""
    phone = normalize_phone(raw_phone)
    now = utcnow()
    row = db.session.execute(
        select(SignInCode)
        .where(
            SignInCode.brand_id == brand.id,
            SignInCode.phone == phone,
            SignInCode.used_at.is_(None),
        )
        .order_by(SignInCode.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    wrong = InvalidCode(
        say(_l("Some fields are not valid.")),
        fields={"code": say(_l("This code is not correct. Check the SMS and try again."))},
    )
    typed = _code_hash(brand.id, phone, (code or "").strip())
    use_code(SignInCode, row, lambda row: hmac.compare_digest(row.code_hash, typed), wrong, now=now)
    consumer = find_consumer_by_phone(brand, phone)
    made = consumer is None
    if consumer is None:
        consumer = Consumer(brand_id=brand.id, phone=phone)
        db.session.add(consumer)
    consumer.last_sign_in_at = now
    db.session.flush()
    if made:
        _signed_up(consumer, guide_code)
    return consumer


def _signed_up(consumer: Consumer, guide_code: str | None) -> None:
    for listener in hooks.consumer_signed_up:
        listener(consumer, (guide_code or "").strip() or None)


def find_consumer_by_phone(brand: Organization, phone: str) -> Consumer | None:
    return db.session.execute(
        select(Consumer).where(Consumer.brand_id == brand.id, Consumer.phone == phone)
    ).scalar_one_or_none()


# -- e-mail and password -----------------------------------------------------------------------


def sign_up_with_password(
    brand: Organization,
    email: str,
    password: str,
    *,
    name: str = "",
    guide_code: str | None = None,
) -> Consumer:
    """A new consumer of `brand` signing in by e-mail: the address must be valid and unused in
    the brand, the password at least MIN_PASSWORD characters; `guide_code` as in
    `sign_in_with_code`."""
    fields: dict[str, str] = {}
    try:
        email = check_email(email)
    except ValidationFailed as error:
        fields.update(error.fields)
    if len(password or "") < MIN_PASSWORD:
        fields["password"] = say(
            _l("Use at least %(count)d characters for the password."), count=MIN_PASSWORD
        )
    elif len(password) > 200:
        fields["password"] = say(_l("Use at most 200 characters for the password."))
    name = (name or "").strip()
    if len(name) > 120:
        fields["name"] = say(_l("At most %(count)d characters."), count=120)
    if not fields and _find_by_email(brand, email) is not None:
        fields["email"] = say(_l("This e-mail address already has an account: sign in."))
    if fields:
        raise invalid(fields)
    consumer = Consumer(
        brand_id=brand.id,
        email=email,
        name=name,
        password_hash=generate_password_hash(password, method="scrypt"),
        last_sign_in_at=utcnow(),
    )
    db.session.add(consumer)
    db.session.flush()
    _signed_up(consumer, guide_code)
    return consumer


def _find_by_email(brand: Organization, email: str) -> Consumer | None:
    return db.session.execute(
        select(Consumer).where(Consumer.brand_id == brand.id, Consumer.email == email)
    ).scalar_one_or_none()


_DUMMY_HASH: str | None = None


def sign_in_with_password(
    brand: Organization, email: str, password: str, *, address: str | None = None
) -> Consumer:
    """The consumer of `brand` with this e-mail and password, else InvalidCredentials (401),
    which does not say which of the two was wrong, with the failure counted.

    Under the shared sign-in throttle (portal/core/throttle.py), scoped to the brand: counted per
    e-mail from the client's address, per e-mail, and per address. While a delay applies it
    raises SignInThrottled (429) without looking at the password or counting anything.
    """
    global _DUMMY_HASH
    account = normalize_email(email)
    client = throttle.Client(throttle.address_key(address))
    scope = f"shop{brand.id}"
    wait = throttle.wait_seconds(account, client, scope=scope)
    if wait:
        raise SignInThrottled(wait)
    consumer = _find_by_email(brand, account)
    if consumer is None or not consumer.password_hash:
        # The same time as a real check, so the answer's delay does not reveal accounts.
        if _DUMMY_HASH is None:
            _DUMMY_HASH = generate_password_hash(secrets.token_hex(8), method="scrypt")
        check_password_hash(_DUMMY_HASH, password or "")
        consumer = None
    elif not check_password_hash(consumer.password_hash, password or ""):
        consumer = None
    if consumer is None:
        throttle.record_failure(account, client, scope=scope)
        message = say(_l("E-mail or password is not correct."))
        raise InvalidCredentials(message, fields={"password": message})
    throttle.record_success(account, client, scope=scope)
    consumer.last_sign_in_at = utcnow()
    return consumer
