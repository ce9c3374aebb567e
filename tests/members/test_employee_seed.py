"""The demo employee store (portal/seed/members_employees.py): the demo consumer on ACME's HR
list walks in, her printed invite code lets a friend in, and seeding twice changes nothing."""

from __future__ import annotations

from portal.extensions import db
from portal.members import invites
from portal.seed.members_employees import (
    EMPLOYEE_PHONE,
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
    assert seed_employees(acme) > 0
    assert seed_employees(acme) == 0
    employee = consumers.find_consumer_by_phone(acme, EMPLOYEE_PHONE)
    assert may_enter(acme, Tier.EMPLOYEE, employee)
    friend = Consumer(brand_id=acme.id, phone="+8613700137555", name="Friend")
    db.session.add(friend)
    db.session.flush()
    assert not may_enter(acme, Tier.EMPLOYEE, friend)
    invites.redeem(acme, friend, demo_invite_code(acme))
    assert may_enter(acme, Tier.EMPLOYEE, friend)
    lines = employee_store_lines(acme, "http://127.0.0.1:5000/")
    assert "http://127.0.0.1:5000/shop/ACME/employee/join?code=ACMEFRIEND" in lines[1]
