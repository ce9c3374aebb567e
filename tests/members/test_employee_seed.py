"""The demo employee store (portal/seed/members_employees.py): the demo consumer on ACME's HR
list walks in, her printed invite code lets a friend in, and seeding twice changes nothing (the
test database is the demo: the seed already ran once)."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.members import invites
from portal.members.employee_models import HrListEntry, InviteCode, PartnerCompany, PartnerPhone
from portal.seed.members_employees import (
    EMPLOYEE_PHONE,
    HR_LIST,
    INVITE_USES,
    PARTNER,
    demo_invite_code,
    employee_store_lines,
    seed_employees,
)
from portal.storefront import consumers
from portal.storefront.entry import may_enter
from portal.storefront.models import Consumer, Tier
from tests.support.services import org


def test_the_demo_employee_enters_and_her_code_lets_a_friend_in(app):
    acme = org("ACME")
    # `flask seed demo` (the test database) made the employee store; a second run adds nothing.
    listed = db.session.execute(
        select(HrListEntry.employee_no, HrListEntry.phone, HrListEntry.email)
        .where(HrListEntry.brand_id == acme.id, HrListEntry.removed_at.is_(None))
        .order_by(HrListEntry.employee_no)
    ).all()
    assert [tuple(row) for row in listed] == [(n, p, e) for n, _, p, e in HR_LIST]
    name, domain, phones = PARTNER
    partner = db.session.execute(
        select(PartnerCompany).where(
            PartnerCompany.brand_id == acme.id, PartnerCompany.name == name
        )
    ).scalar_one()
    assert partner.email_domain == domain
    assert list(
        db.session.execute(
            select(PartnerPhone.phone).where(PartnerPhone.partner_id == partner.id)
        ).scalars()
    ) == list(phones)
    employee = consumers.find_consumer_by_phone(acme, EMPLOYEE_PHONE)
    assert employee is not None and employee.member_id is not None
    code = db.session.execute(
        select(InviteCode).where(InviteCode.code == demo_invite_code(acme))
    ).scalar_one()
    assert (code.brand_id, code.member_id) == (acme.id, employee.member_id)
    assert (code.uses_allowed, code.uses_count, code.revoked_at) == (INVITE_USES, 0, None)
    assert seed_employees(acme) == 0
    assert may_enter(acme, Tier.EMPLOYEE, employee)
    friend = Consumer(brand_id=acme.id, phone="+8613700137555", name="Friend")
    db.session.add(friend)
    db.session.flush()
    assert not may_enter(acme, Tier.EMPLOYEE, friend)
    invites.redeem(acme, friend, demo_invite_code(acme))
    assert may_enter(acme, Tier.EMPLOYEE, friend)
    lines = employee_store_lines(acme, "http://127.0.0.1:5000/")
    assert "http://127.0.0.1:5000/shop/ACME/employee/join?code=ACMEFRIEND" in lines[1]
