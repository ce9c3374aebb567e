"""The demo employee store: a brand's HR list with the demo consumer 王芳 (+8613900139002) on it
(a member, so she walks in), a partner company with an e-mail domain and a list of numbers, and
an invite code of hers for trying a friend's way in.

Every step is get-or-create, like the rest of the demo, so seeding twice changes nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal.core.db import utcnow
from portal.extensions import db
from portal.members import entitlement, membership
from portal.members.employee_models import HrListEntry, InviteCode, PartnerCompany, PartnerPhone
from portal.network.models import Organization
from portal.storefront import consumers

EMPLOYEE_PHONE = "+8613900139002"
# employee number, name, mobile, e-mail
HR_LIST = (
    ("E0001", "王芳", EMPLOYEE_PHONE, None),
    ("E0002", "赵敏", "+8613700137002", None),
    ("E0003", "Chen Jie", None, "chen.jie@acme-demo.cn"),
)
PARTNER = ("明亮物流 Bright Logistics", "bright-logistics.cn", ("+8613700137101",))
INVITE_USES = 3  # of the default yearly quota of 5: two left to try making codes
INVITE_DAYS = 365


def demo_invite_code(brand: Organization) -> str:
    return f"{brand.code}FRIEND"[:16]


def seed_employees(brand: Organization) -> int:
    """Create whatever of the brand's demo employee store is missing; return how many things
    were created."""
    created = 0
    known = set(
        db.session.execute(
            select(HrListEntry.employee_no).where(HrListEntry.brand_id == brand.id)
        ).scalars()
    )
    for number, name, phone, email in HR_LIST:
        if number not in known:
            db.session.add(
                HrListEntry(
                    brand_id=brand.id, employee_no=number, name=name, phone=phone, email=email
                )
            )
            created += 1
    name, domain, phones = PARTNER
    partner = db.session.execute(
        select(PartnerCompany).where(
            PartnerCompany.brand_id == brand.id, PartnerCompany.name == name
        )
    ).scalar_one_or_none()
    if partner is None:
        partner = PartnerCompany(brand_id=brand.id, name=name, email_domain=domain)
        db.session.add(partner)
        db.session.flush()
        for phone in phones:
            db.session.add(PartnerPhone(brand_id=brand.id, partner_id=partner.id, phone=phone))
        created += 1
    db.session.flush()
    consumer = consumers.find_consumer_by_phone(brand, EMPLOYEE_PHONE)
    if consumer is None:
        return created
    if membership.member_of(consumer) is None:
        membership.join(consumer)
        created += 1
    entitlement.entitlements_of(brand, consumer)  # records why she may enter
    code = demo_invite_code(brand)
    exists = db.session.execute(select(InviteCode.id).where(InviteCode.code == code)).first()
    if exists is None and consumer.member_id is not None:
        now = utcnow()
        db.session.add(
            InviteCode(
                brand_id=brand.id,
                code=code,
                member_id=consumer.member_id,
                uses_allowed=INVITE_USES,
                uses_count=0,
                created_at=now,
                expires_at=now + timedelta(days=INVITE_DAYS),
            )
        )
        created += 1
    db.session.flush()
    return created


def employee_store_lines(brand: Organization, base_url: str) -> list[str]:
    """What `flask seed demo` prints about the employee store."""
    base = base_url.rstrip("/")
    return [
        f"  {base}/shop/{brand.code}/employee/   (employees: {EMPLOYEE_PHONE} is on the HR list)",
        f"  a friend joins at {base}/shop/{brand.code}/employee/join?code="
        f"{demo_invite_code(brand)}",
        f"  partner company {PARTNER[0]}: any address @{PARTNER[1]} (code by e-mail, in the log)",
        f"  HQ: {base}/shop/{brand.code}/hq/employee-store",
    ]
