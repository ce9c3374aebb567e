"""Proving a work address by a code sent by e-mail: how a portal user of the brand's HQ or
stores, a person on the HR list by e-mail, or an employee of a partner company with an e-mail
domain shows the address is theirs, and so holds an entitlement (entitlement.py).

Codes work like the SMS sign-in codes (portal/storefront/consumers.py), under the same settings:
they expire after SIGN_IN_CODE_TTL_SECONDS, allow SIGN_IN_CODE_MAX_TRIES tries, and are
throttled to one per address per SIGN_IN_CODE_RESEND_SECONDS, SIGN_IN_CODES_PER_PHONE_HOUR per
address (and per consumer) and SIGN_IN_CODES_PER_ADDRESS_HOUR per client address an hour. The
code is never stored: it is derived from the row's nonce with the app's secret, by the request
that shows it in demo mode and by the job that mails it (portal/core/mail.py).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from flask import current_app, has_request_context
from flask_babel import force_locale, get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import CursorResult, or_, select, update

from portal.core import jobs
from portal.core.db import utcnow
from portal.core.errors import DomainError, wants_json
from portal.core.mail import deliver_mail
from portal.extensions import db
from portal.members import entitlement, membership
from portal.members.employee_models import (
    EmailProof,
    Entitlement,
    EntitlementKind,
    EntitlementSource,
    HrListEntry,
    PartnerCompany,
)
from portal.network.fields import EMAIL_RE, normalize_email
from portal.network.models import Organization
from portal.storefront.consumers import invalid
from portal.storefront.models import Consumer
from portal.storefront.words import say

CODE_DIGITS = 6


class EmailCodeThrottled(DomainError):
    code = "rate_limited"
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            say(
                _l("Too many codes asked for. Try again in %(seconds)d seconds."),
                seconds=retry_after,
            ),
            fields={"email": say(_l("Wait before asking for another code."))},
            retry_after=retry_after,
        )
        self.retry_after = retry_after


class WrongEmailCode(DomainError):
    """A wrong code: the try is counted, so the caller keeps the request's writes."""

    code = "invalid_code"
    status = 422


def work_address(raw: str) -> str:
    """A typed work address, normalized. Checked as portal users' addresses are (the network's
    rule), not as a consumer's sign-up: an address proves something only if it matches one we
    know, and some known ones sit under reserved domains (a test network's)."""
    email = normalize_email(raw)
    if not EMAIL_RE.match(email) or len(email) > 254:
        raise invalid({"email": say(_l("Enter a valid e-mail address."))})
    return email


@dataclass(frozen=True)
class Match:
    """What an address proves for a brand."""

    kind: str
    source: str
    source_key: str
    details: dict[str, Any]


def match_address(brand: Organization, email: str) -> Match | None:
    """What the address would prove: a portal user of the brand's people, then an HR-list row,
    then a live partner company's domain; None when it proves nothing."""
    user = entitlement.find_brand_person(brand.id, email)
    if user is not None:
        return Match(
            EntitlementKind.EMPLOYEE,
            EntitlementSource.PORTAL_USER,
            f"user:{user.id}",
            {"user_id": user.id, "email": email},
        )
    entry_id = db.session.execute(
        select(HrListEntry.id)
        .where(
            HrListEntry.brand_id == brand.id,
            HrListEntry.email == email,
            HrListEntry.removed_at.is_(None),
        )
        .order_by(HrListEntry.id)
        .limit(1)
    ).scalar_one_or_none()
    if entry_id is not None:
        return Match(
            EntitlementKind.EMPLOYEE,
            EntitlementSource.HR_LIST,
            f"hr:{entry_id}",
            {"hr_entry_id": entry_id, "email": email},
        )
    domain = email.rsplit("@", 1)[-1]
    partner_id = db.session.execute(
        select(PartnerCompany.id)
        .where(
            PartnerCompany.brand_id == brand.id,
            PartnerCompany.email_domain == domain,
            PartnerCompany.ended_at.is_(None),
        )
        .order_by(PartnerCompany.id)
        .limit(1)
    ).scalar_one_or_none()
    if partner_id is not None:
        return Match(
            EntitlementKind.PARTNER,
            EntitlementSource.PARTNER_DOMAIN,
            f"partner:{partner_id}:email",
            {"partner_id": partner_id, "email": email},
        )
    return None


@dataclass(frozen=True)
class ProofSent:
    email: str
    expires_at: datetime
    resend_after: int  # seconds
    code: str  # shown only in demo mode (SMS_SHOW_CODE)


def proof_code(proof: EmailProof) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    message = f"employee-email:{proof.id}:{proof.brand_id}:{proof.email}:{proof.nonce}"
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10**CODE_DIGITS:0{CODE_DIGITS}d}"


def _wait_for(times: list[datetime], cap: int, window: timedelta, now: datetime) -> int:
    """Seconds until fewer than `cap` of `times` lie inside `window` (0: now)."""
    if cap <= 0 or len(times) < cap:
        return 0
    remaining = (sorted(times)[-cap] + window - now).total_seconds()
    return math.ceil(remaining) if remaining > 0 else 0


def _mail_locale(consumer: Consumer) -> str:
    if has_request_context() and not wants_json():
        return str(get_locale() or consumer.locale)
    return consumer.locale or "zh_Hans_CN"


def request_email_code(
    brand: Organization, consumer: Consumer, raw_email: str, *, address: str
) -> ProofSent:
    """Mail a code to an address the consumer says is theirs at work. The address must prove
    something for the brand (`match_address`), else ValidationFailed names the field; throttled
    like SMS codes (EmailCodeThrottled, 429). A new code ends the consumer's earlier ones."""
    email = work_address(raw_email)
    if match_address(brand, email) is None:
        raise invalid(
            {
                "email": say(
                    _l(
                        "This address is not one of %(brand)s's staff or partner companies."
                        " Use your work address, or ask an employee for an invite code."
                    ),
                    brand=brand.name,
                )
            }
        )
    config = current_app.config
    now = utcnow()
    hour = timedelta(hours=1)
    recent = db.session.execute(
        select(EmailProof.created_at, EmailProof.email, EmailProof.consumer_id).where(
            EmailProof.brand_id == brand.id,
            or_(EmailProof.email == email, EmailProof.consumer_id == consumer.id),
            EmailProof.created_at > now - hour,
        )
    ).all()
    by_address = list(
        db.session.execute(
            select(EmailProof.created_at).where(
                EmailProof.requested_from == address[:64], EmailProof.created_at > now - hour
            )
        ).scalars()
    )
    to_email = [at for at, mail, _who in recent if mail == email]
    by_consumer = [at for at, _mail, who in recent if who == consumer.id]
    resend = timedelta(seconds=config["SIGN_IN_CODE_RESEND_SECONDS"])
    per_hour = config["SIGN_IN_CODES_PER_PHONE_HOUR"]
    wait = max(
        _wait_for(to_email, 1, resend, now),
        _wait_for(to_email, per_hour, hour, now),
        _wait_for(by_consumer, per_hour, hour, now),
        _wait_for(by_address, config["SIGN_IN_CODES_PER_ADDRESS_HOUR"], hour, now),
    )
    if wait:
        raise EmailCodeThrottled(wait)
    db.session.execute(
        update(EmailProof)
        .where(EmailProof.consumer_id == consumer.id, EmailProof.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    proof = EmailProof(
        brand_id=brand.id,
        consumer_id=consumer.id,
        email=email,
        nonce=secrets.token_hex(16),
        locale=_mail_locale(consumer)[:10],
        requested_from=address[:64],
        created_at=now,
        expires_at=now + timedelta(seconds=config["SIGN_IN_CODE_TTL_SECONDS"]),
    )
    db.session.add(proof)
    db.session.flush()
    jobs.enqueue(send_email_code, proof.id, brand_id=brand.id, title="Send e-mail code")
    return ProofSent(
        email, proof.expires_at, config["SIGN_IN_CODE_RESEND_SECONDS"], proof_code(proof)
    )


def _changed(statement: Any) -> int:
    return cast(CursorResult[Any], db.session.execute(statement)).rowcount or 0


def verify_email_code(
    brand: Organization, consumer: Consumer, raw_email: str, code: str
) -> Entitlement:
    """Check the code of the consumer's newest request for this address; right, the consumer
    joins the membership if they had not and holds the entitlement the address proves. Every
    try counts: a wrong one raises WrongEmailCode after writing the count."""
    email = work_address(raw_email)
    now = utcnow()
    proof = db.session.execute(
        select(EmailProof)
        .where(
            EmailProof.consumer_id == consumer.id,
            EmailProof.brand_id == brand.id,
            EmailProof.email == email,
            EmailProof.used_at.is_(None),
        )
        .order_by(EmailProof.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if proof is None or proof.expires_at <= now:
        raise invalid({"code": say(_l("This code has expired. Ask for a new one."))})
    counted = _changed(
        update(EmailProof)
        .where(
            EmailProof.id == proof.id,
            EmailProof.used_at.is_(None),
            EmailProof.attempts < current_app.config["SIGN_IN_CODE_MAX_TRIES"],
        )
        .values(attempts=EmailProof.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    if not counted:
        raise invalid({"code": say(_l("Too many wrong tries. Ask for a new code."))})
    if not hmac.compare_digest(proof_code(proof), (code or "").strip()):
        raise WrongEmailCode(
            say(_l("Some fields are not valid.")),
            fields={"code": say(_l("This code is not correct. Check the e-mail and try again."))},
        )
    used = _changed(
        update(EmailProof)
        .where(EmailProof.id == proof.id, EmailProof.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if not used:  # the same code used at the same moment by another request
        raise invalid({"code": say(_l("This code has expired. Ask for a new one."))})
    match = match_address(brand, email)
    if match is None:
        raise invalid({"email": say(_l("This address no longer lets you in. Ask HQ why."))})
    member = membership.join(consumer)
    granted = entitlement.grant(
        brand.id,
        member,
        kind=match.kind,
        source=match.source,
        source_key=match.source_key,
        consumer_id=consumer.id,
        **match.details,
    )
    if granted is None:
        raise invalid(
            {"email": say(_l("The brand withdrew the access this address gave. Ask HQ why."))}
        )
    return granted


@jobs.job(queue=jobs.QUEUE_DEFAULT, title="Send e-mail code")
def send_email_code(proof_id: int) -> dict[str, str]:
    proof = db.session.execute(
        select(EmailProof).where(EmailProof.id == proof_id)
    ).scalar_one_or_none()
    if proof is None or proof.used_at is not None or proof.expires_at <= utcnow():
        return {"skipped": "code used, replaced or expired"}
    brand = db.session.execute(
        select(Organization).where(Organization.id == proof.brand_id)
    ).scalar_one()
    minutes = max(1, current_app.config["SIGN_IN_CODE_TTL_SECONDS"] // 60)
    with force_locale(proof.locale or "zh_Hans_CN"):
        subject = str(_l("%(brand)s employee store: your code")) % {"brand": brand.name}
        body = str(
            _l(
                "Your code to prove this address for the %(brand)s employee store: %(code)s\n\n"
                "It expires in %(minutes)d minutes. If you did not ask for it, ignore this"
                " e-mail."
            )
        ) % {"brand": brand.name, "code": proof_code(proof), "minutes": minutes}
    return deliver_mail(proof.email, subject, body + "\n")
