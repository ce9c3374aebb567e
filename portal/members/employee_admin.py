"""HQ's hand on its employee store: the HR list (uploaded, checked, confirmed), partner
companies (their e-mail domain and list of mobile numbers) and revoking an entitlement.

Every service takes the acting HQ and its brand; anyone else's brand is a 404. What a change
takes away is revoked at once: a person gone from a list, a partner company ended or given
another domain. Nothing is half-applied: a bad field raises ValidationFailed naming it before
anything is written.
"""

from __future__ import annotations

import os
import re
from typing import BinaryIO

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select

from portal.core import audit, jobs, staged
from portal.core.access import Actor
from portal.core.db import bulk_insert, utcnow
from portal.core.errors import DomainError, NotFound, ValidationFailed
from portal.extensions import db
from portal.members import employee_jobs, entitlement
from portal.members.employee_models import (
    Entitlement,
    EntitlementSource,
    HrListUpload,
    PartnerCompany,
    PartnerPhone,
    RevokeReason,
)
from portal.network.models import Organization
from portal.storefront.consumers import normalize_phone
from portal.storefront.words import say

DOMAIN_RE = re.compile(
    r"^(?=.{3,120}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62}$"
)
# Anyone can have an address there: such a domain would let everyone in.
FREE_MAIL = frozenset(
    {
        "qq.com",
        "foxmail.com",
        "163.com",
        "126.com",
        "yeah.net",
        "sina.com",
        "sina.cn",
        "sohu.com",
        "139.com",
        "189.cn",
        "aliyun.com",
        "gmail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "yahoo.com",
        "icloud.com",
        "me.com",
    }
)
PHONE_SEPARATORS = re.compile(r"[\n\r,;，；、]+")
MAX_PARTNER_PHONES = 20_000
MAX_PHONES_TEXT = 400_000
SHOWN_BAD_PHONES = 5


class HrFileRejected(ValidationFailed):
    code = "hr_file_refused"


class UploadNotReady(DomainError):
    code = "upload_not_ready"
    status = 409


def _ensure_hq(actor: Actor, brand: Organization) -> None:
    if not (actor.is_system or (actor.is_hq and actor.org_id == brand.id)):
        raise NotFound()


# -- the HR list -------------------------------------------------------------------------------


def start_hr_upload(
    actor: Actor, brand: Organization, *, filename: str, stream: BinaryIO | bytes
) -> HrListUpload:
    """Store an uploaded HR list and check it in a job (after commit). Raises HrFileRejected
    (field "file") for an unknown type, an empty file or one past UPLOAD_MAX_BYTES."""
    _ensure_hq(actor, brand)
    name = os.path.basename(filename or "").strip()[:255]
    relative, sha256, size = staged.store(
        f"hr-lists/{brand.id}", name, stream, rejected=HrFileRejected
    )
    upload = HrListUpload(
        brand_id=brand.id,
        user_id=actor.user_id,
        filename=name,
        stored_path=relative,
        sha256=sha256,
        status=staged.StagedStatus.VALIDATING,
        errors=[],
        summary={},
    )
    db.session.add(upload)
    db.session.flush()
    run = jobs.enqueue(
        employee_jobs.validate_hr_list,
        upload.id,
        org_id=brand.id,
        brand_id=brand.id,
        user_id=actor.user_id,
        title=f"Check HR list {name}",
    )
    upload.job_id = run.id
    audit.record(actor, "members.hr_list_uploaded", brand_id=brand.id, file=name, bytes=size)
    return upload


def confirm_hr_upload(actor: Actor, brand: Organization, upload: HrListUpload) -> HrListUpload:
    """Apply a checked list, whole, in a job. Only a `ready` upload can be confirmed (of two
    confirmations at once, one)."""
    _ensure_hq(actor, brand)
    if upload.brand_id != brand.id:
        raise NotFound()
    if not staged.claim(HrListUpload, upload):
        raise UploadNotReady(say(_l("This file is not waiting for confirmation.")))
    run = jobs.enqueue(
        employee_jobs.apply_hr_list,
        upload.id,
        org_id=brand.id,
        brand_id=brand.id,
        user_id=actor.user_id,
        title=f"Apply HR list {upload.filename}",
    )
    upload.job_id = run.id
    audit.record(actor, "members.hr_list_confirmed", brand_id=brand.id, file=upload.filename)
    return upload


# -- partner companies -------------------------------------------------------------------------


def _domain(raw: str, errors: dict[str, str]) -> str | None:
    text = (raw or "").strip().lower().lstrip("@")
    if not text:
        return None
    if not DOMAIN_RE.match(text):
        errors["email_domain"] = say(_l("Enter a domain such as partner.example.com."))
    elif text in FREE_MAIL:
        errors["email_domain"] = say(
            _l("Anyone can have an address at %(domain)s: use the company's own domain."),
            domain=text,
        )
    return text


def parse_phones(raw: str, errors: dict[str, str]) -> list[str]:
    """Mobile numbers, one per line (or separated by commas), as E.164, each once; spaces
    inside a number ("139 1111 2222") are ignored."""
    text = raw or ""
    if len(text) > MAX_PHONES_TEXT:
        errors["phones"] = say(_l("At most %(count)d characters."), count=MAX_PHONES_TEXT)
        return []
    phones: dict[str, None] = {}
    bad: list[str] = []
    tokens = ("".join(t.split()) for t in PHONE_SEPARATORS.split(text))
    for number, token in enumerate((t for t in tokens if t), start=1):
        try:
            phones[normalize_phone(token)] = None
        except ValidationFailed:
            bad.append(f"{number} ({token[:20]})")
    if bad:
        errors["phones"] = say(
            _l("Not mobile numbers: %(numbers)s."),
            numbers=", ".join(bad[:SHOWN_BAD_PHONES])
            + (" …" if len(bad) > SHOWN_BAD_PHONES else ""),
        )
    elif len(phones) > MAX_PARTNER_PHONES:
        errors["phones"] = say(
            _l("At most %(count)d numbers per company."), count=MAX_PARTNER_PHONES
        )
    return list(phones)


def _live_with_domain(brand_id: int, domain: str, but: int | None = None) -> PartnerCompany | None:
    stmt = select(PartnerCompany).where(
        PartnerCompany.brand_id == brand_id,
        PartnerCompany.email_domain == domain,
        PartnerCompany.ended_at.is_(None),
    )
    if but is not None:
        stmt = stmt.where(PartnerCompany.id != but)
    return db.session.execute(stmt.limit(1)).scalar_one_or_none()


def add_partner(
    actor: Actor, brand: Organization, *, name: str, email_domain: str = "", phones: str = ""
) -> PartnerCompany:
    """A partner company whose people may enter: by its domain, its list of numbers, or both.
    The name of an ended partner starts it again."""
    _ensure_hq(actor, brand)
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = say(_l("Name the company."))
    elif len(name) > 120:
        errors["name"] = say(_l("At most %(count)d characters."), count=120)
    domain = _domain(email_domain, errors)
    numbers = parse_phones(phones, errors)
    existing = None
    if name and "name" not in errors:
        existing = db.session.execute(
            select(PartnerCompany).where(
                PartnerCompany.brand_id == brand.id, PartnerCompany.name == name
            )
        ).scalar_one_or_none()
        if existing is not None and existing.ended_at is None:
            errors["name"] = say(_l("This company is a partner already."))
    if domain and "email_domain" not in errors:
        other = _live_with_domain(brand.id, domain, existing.id if existing else None)
        if other is not None:
            errors["email_domain"] = say(_l("%(name)s has this domain already."), name=other.name)
    if not errors and not domain and not numbers:
        errors["email_domain"] = say(
            _l("Give the company's e-mail domain, its list of mobile numbers, or both.")
        )
    if errors:
        raise ValidationFailed(say(_l("Some fields are not valid.")), fields=errors)
    if existing is None:
        partner = PartnerCompany(brand_id=brand.id, name=name, created_by_user_id=actor.user_id)
        db.session.add(partner)
    else:
        partner = existing
        partner.ended_at = None
    partner.email_domain = domain
    db.session.flush()
    _replace_phones(partner, numbers)
    audit.record(
        actor,
        "members.partner_added",
        brand_id=brand.id,
        partner=name,
        domain=domain,
        phones=len(numbers),
    )
    return partner


def update_partner(
    actor: Actor,
    brand: Organization,
    partner: PartnerCompany,
    *,
    email_domain: str = "",
    phones: str = "",
) -> dict[str, int]:
    """Set a live partner's domain and replace its list of numbers. Those who entered by a
    number no longer on it, or by an address at a domain it no longer has, lose the entry."""
    _ensure_hq(actor, brand)
    if partner.brand_id != brand.id:
        raise NotFound()
    errors: dict[str, str] = {}
    if partner.ended_at is not None:
        errors["name"] = say(_l("This partnership has ended: add the company again to resume."))
    domain = _domain(email_domain, errors)
    numbers = parse_phones(phones, errors)
    if domain and "email_domain" not in errors:
        other = _live_with_domain(brand.id, domain, partner.id)
        if other is not None:
            errors["email_domain"] = say(_l("%(name)s has this domain already."), name=other.name)
    if not errors and not domain and not numbers:
        errors["email_domain"] = say(
            _l("Give the company's e-mail domain, its list of mobile numbers, or both.")
        )
    if errors:
        raise ValidationFailed(say(_l("Some fields are not valid.")), fields=errors)
    revoked = 0
    if domain != partner.email_domain:
        revoked += entitlement.revoke_where(
            brand.id,
            Entitlement.partner_id == partner.id,
            Entitlement.source == EntitlementSource.PARTNER_DOMAIN,
            reason=RevokeReason.PARTNER_ENDED,
        )
        partner.email_domain = domain
    added, removed, by_number = _replace_phones(partner, numbers)
    revoked += by_number
    db.session.flush()
    audit.record(
        actor,
        "members.partner_changed",
        brand_id=brand.id,
        partner=partner.name,
        domain=domain,
        phones_added=added,
        phones_removed=removed,
        revoked=revoked,
    )
    return {"added": added, "removed": removed, "revoked": revoked}


def _replace_phones(partner: PartnerCompany, numbers: list[str]) -> tuple[int, int, int]:
    """(numbers added, numbers removed, entitlements revoked with the removed ones)."""
    current = set(
        db.session.execute(
            select(PartnerPhone.phone).where(PartnerPhone.partner_id == partner.id)
        ).scalars()
    )
    wanted = set(numbers)
    gone = sorted(current - wanted)
    new = sorted(wanted - current)
    revoked = 0
    for start in range(0, len(gone), 1000):
        batch = gone[start : start + 1000]
        db.session.execute(
            delete(PartnerPhone).where(
                PartnerPhone.partner_id == partner.id, PartnerPhone.phone.in_(batch)
            )
        )
        revoked += entitlement.revoke_where(
            partner.brand_id,
            Entitlement.partner_id == partner.id,
            Entitlement.source == EntitlementSource.PARTNER_LIST,
            Entitlement.phone.in_(batch),
            reason=RevokeReason.LEFT_LIST,
        )
    now = utcnow()
    for start in range(0, len(new), 1000):
        bulk_insert(
            PartnerPhone,
            [
                {
                    "brand_id": partner.brand_id,
                    "partner_id": partner.id,
                    "phone": p,
                    "created_at": now,
                }
                for p in new[start : start + 1000]
            ],
        )
    return len(new), len(gone), revoked


def end_partner(actor: Actor, brand: Organization, partner: PartnerCompany) -> int:
    """End a partnership: everyone who entered through it loses the entry. Returns how many."""
    _ensure_hq(actor, brand)
    if partner.brand_id != brand.id:
        raise NotFound()
    if partner.ended_at is not None:
        return 0
    partner.ended_at = utcnow()
    revoked = entitlement.revoke_where(
        brand.id, Entitlement.partner_id == partner.id, reason=RevokeReason.PARTNER_ENDED
    )
    db.session.flush()
    audit.record(
        actor, "members.partner_ended", brand_id=brand.id, partner=partner.name, revoked=revoked
    )
    return revoked


def revoke_entitlement(actor: Actor, brand: Organization, record: Entitlement) -> bool:
    """HQ takes one entitlement back; the same source does not grant it again by itself."""
    _ensure_hq(actor, brand)
    if record.brand_id != brand.id:
        raise NotFound()
    done = entitlement.revoke(record, RevokeReason.HQ, by_user_id=actor.user_id)
    if done:
        audit.record(
            actor,
            "members.entitlement_revoked",
            brand_id=brand.id,
            entitlement_id=record.id,
            member_id=record.member_id,
            kind=record.kind,
            source=record.source,
        )
    return done
