"""Proving a work address by a code sent by e-mail: how a portal user of the brand's HQ or
stores, a person on the HR list by e-mail, or an employee of a partner company with an e-mail
domain shows the address is theirs, and so holds an entitlement (entitlement.py).

Codes work like the SMS sign-in codes, through the same helpers (portal/storefront/consumers.py
`code_wait`, `use_code`) and under the same settings: they expire after
SIGN_IN_CODE_TTL_SECONDS, allow SIGN_IN_CODE_MAX_TRIES tries, and are throttled to one per
address per SIGN_IN_CODE_RESEND_SECONDS, SIGN_IN_CODES_PER_PHONE_HOUR per address (and per
consumer) and SIGN_IN_CODES_PER_ADDRESS_HOUR per client address an hour. The code is never
stored: it is derived from the row's nonce with the app's secret, by the request that shows it
in demo mode and by the job that mails it (portal/core/mail.py).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, has_request_context
from flask_babel import force_locale, get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, select, update

from portal.core import jobs
from portal.core.db import utcnow
from portal.core.errors import wants_json
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
from portal.storefront import consumers
from portal.storefront.consumers import invalid
from portal.storefront.models import Consumer
from portal.storefront.words import say

CODE_DIGITS = 6


class EmailCodeThrottled(consumers.CodeThrottled):
    field = "email"


class WrongEmailCode(consumers.InvalidCode):
    """A wrong code: the try is counted, so the caller keeps the request's writes."""


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
    to_email = and_(EmailProof.brand_id == brand.id, EmailProof.email == email)
    by_consumer = and_(EmailProof.brand_id == brand.id, EmailProof.consumer_id == consumer.id)
    wait = consumers.code_wait(EmailProof, [to_email, by_consumer], address=address, now=now)
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
    wrong = WrongEmailCode(
        say(_l("Some fields are not valid.")),
        fields={"code": say(_l("This code is not correct. Check the e-mail and try again."))},
    )
    typed = (code or "").strip()
    consumers.use_code(
        EmailProof, proof, lambda row: hmac.compare_digest(proof_code(row), typed), wrong, now=now
    )
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
