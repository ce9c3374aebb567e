"""Invite codes (portal/members/invites.py) as services on both backends: an employee's yearly
quota, a code's expiry and use count, a friend joining through one (and staying linked to the
inviter), what is refused and that a refusal changes nothing, and what the inviter sees of
their friends' purchases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.core.db import utcnow
from portal.extensions import db
from portal.members import employee_admin, entitlement, invites
from portal.members.employee_models import Entitlement, InviteCode
from portal.members.models import Member
from portal.policy import services as policy
from portal.policy.models import PolicyVersion
from portal.storefront.entry import may_enter
from portal.storefront.models import ConsumerOrderStatus, Tier
from tests.members.test_entitlement import an_employee, retail_shop
from tests.support.consumer_orders import place
from tests.support.retail import RetailShop


@pytest.fixture
def shop(app) -> RetailShop:
    return retail_shop("IV")


def set_invite_terms(shop: RetailShop, **invite_terms: int) -> None:
    """HQ revises its retail policy with these invite settings (policy/consumer_terms.py)."""
    live = db.session.execute(
        select(PolicyVersion).where(PolicyVersion.brand_id == shop.brand.id)
    ).scalar_one()
    draft = policy.revise_policy(shop.net.hq, live)
    draft.member_terms = {"invites": invite_terms}
    draft.effective_from = utcnow() - timedelta(seconds=1)
    policy.publish_policy(shop.net.hq, draft)


def friends_of(member_id: int) -> int:
    return db.session.execute(
        select(func.count(Entitlement.id)).where(Entitlement.invited_by_member_id == member_id)
    ).scalar_one()


def test_an_employee_makes_codes_within_the_yearly_quota(shop):
    employee = an_employee(shop)
    codes = [invites.make_code(shop.brand, employee) for _ in range(5)]  # the default quota
    assert len({c.code for c in codes}) == 5
    assert all(c.uses_allowed == 1 and len(c.code) == 8 for c in codes)
    assert codes[0].expires_at - utcnow() > timedelta(days=29)
    with pytest.raises(Exception) as refused:
        invites.make_code(shop.brand, employee)
    assert refused.value.fields == {"quota": "No invitations left this year."}
    assert "quota of 5 friends" in refused.value.message
    # Taking a code back frees its place.
    invites.withdraw_code(shop.brand, employee, codes[0].id)
    assert invites.make_code(shop.brand, employee).uses_allowed == 1


def test_a_code_lets_in_no_more_than_the_quota_leaves(shop):
    set_invite_terms(shop, quota_per_year=4, code_uses=3)
    employee = an_employee(shop)
    assert invites.make_code(shop.brand, employee).uses_allowed == 3
    assert invites.make_code(shop.brand, employee).uses_allowed == 1
    member = entitlement.brand_member(shop.brand, employee)
    assert invites.quota_of(shop.brand.id, member).left == 0


def test_a_friend_joins_with_a_code_and_stays_linked_to_the_inviter(shop):
    employee = an_employee(shop)
    code = invites.make_code(shop.brand, employee)
    friend = shop.consumer(member=False)
    assert not may_enter(shop.brand, Tier.EMPLOYEE, friend)
    record = invites.redeem(shop.brand, friend, f" {code.code.lower()[:4]}-{code.code[4:]} ")
    assert record.kind == "friend" and record.invited_by_member_id == employee.member_id
    assert may_enter(shop.brand, Tier.EMPLOYEE, friend)
    member = db.session.get(Member, friend.member_id)
    assert member.joined_channel == "invite"
    assert (member.invited_by_member_id, member.invite_code_id) == (employee.member_id, code.id)
    assert code.uses_count == 1
    # A friend invites no one.
    with pytest.raises(invites.NotAnEmployee):
        invites.make_code(shop.brand, friend)


def test_a_member_already_in_may_not_spend_a_code(shop):
    employee = an_employee(shop)
    code = invites.make_code(shop.brand, employee)
    colleague = an_employee(shop, number="E2002")
    with pytest.raises(invites.AlreadyEntitled):
        invites.redeem(shop.brand, colleague, code.code)
    with pytest.raises(invites.AlreadyEntitled):
        invites.redeem(shop.brand, employee, code.code)
    assert code.uses_count == 0


@pytest.mark.parametrize(
    ("spoil", "says"),
    [
        (lambda code: setattr(code, "uses_count", code.uses_allowed), "used as many times"),
        (lambda code: setattr(code, "expires_at", utcnow() - timedelta(minutes=1)), "expired"),
        (lambda code: setattr(code, "revoked_at", utcnow()), "withdrawn"),
        (lambda code: setattr(code, "code", "GONE2345"), "not known"),
    ],
)
def test_a_code_that_lets_no_one_in_says_why_and_changes_nothing(shop, spoil, says):
    employee = an_employee(shop)
    code = invites.make_code(shop.brand, employee)
    text = code.code
    spoil(code)
    db.session.flush()
    friend = shop.consumer(member=False)
    # In a savepoint, as the page's transaction.discard() would undo it.
    with pytest.raises(invites.InviteRefused) as refused, db.session.begin_nested():
        invites.redeem(shop.brand, friend, text)
    assert says in refused.value.fields["code"]
    assert friend.member_id is None
    assert friends_of(employee.member_id) == 0


def test_a_code_from_another_brand_is_unknown_here(shop):
    other = retail_shop("IX")
    code = invites.make_code(other.brand, an_employee(other))
    with pytest.raises(invites.InviteRefused) as refused:
        invites.redeem(shop.brand, shop.consumer(member=False), code.code)
    assert "not known" in refused.value.fields["code"]


def test_the_code_of_an_employee_who_left_lets_no_one_in(shop):
    employee = an_employee(shop)
    code = invites.make_code(shop.brand, employee)
    [record] = entitlement.entitlements_of(shop.brand, employee)
    employee_admin.revoke_entitlement(shop.net.hq, shop.brand, record)
    with pytest.raises(invites.InviteRefused) as refused:
        invites.redeem(shop.brand, shop.consumer(member=False), code.code)
    assert "no longer valid" in refused.value.fields["code"]


def test_friends_who_joined_this_year_count_against_the_quota(shop):
    set_invite_terms(shop, quota_per_year=2, code_uses=2)
    employee = an_employee(shop)
    code = invites.make_code(shop.brand, employee)
    invites.redeem(shop.brand, shop.consumer(member=False), code.code)
    member = entitlement.brand_member(shop.brand, employee)
    quota = invites.quota_of(shop.brand.id, member)
    assert (quota.joined_this_year, quota.open_uses, quota.left) == (1, 1, 0)
    # Last year's friends do not count this year.
    db.session.execute(
        Entitlement.__table__.update()
        .where(Entitlement.invited_by_member_id == member.id)
        .values(granted_at=invites.year_start() - timedelta(days=1))
    )
    assert invites.quota_of(shop.brand.id, member).left == 1


def test_the_inviter_sees_what_each_friend_bought_in_every_tier(shop):
    employee = an_employee(shop)
    code = invites.make_code(shop.brand, employee)
    friend = shop.consumer(member=False, name="Li Lei")
    invites.redeem(shop.brand, friend, code.code)
    tee = shop.variant_id("TEE-BLK-M")
    paid = []
    for tier, qty in ((Tier.OFFICIAL, 1), (Tier.OUTLET, 2), (Tier.OFFICIAL, 1)):
        order = place(shop.brand, shop.locations["LJ"], {tee: qty}, consumer=friend, paid=False)
        order.tier, order.member_id = tier, friend.member_id
        order.status, order.paid_at = ConsumerOrderStatus.PAID, utcnow()
        paid.append(order)
    unpaid = place(shop.brand, shop.locations["LJ"], {tee: 1}, consumer=friend, paid=False)
    unpaid.member_id = friend.member_id
    paid[2].status = ConsumerOrderStatus.REFUNDED  # refunded whole: not bought
    db.session.flush()
    [row] = invites.list_friends(shop.brand.id, employee.member_id)
    assert row.member.name == "Li Lei" and row.code == code.code
    assert row.orders == 2 and row.total_cents == paid[0].total_cents + paid[1].total_cents
    assert row.by_tier[Tier.OUTLET].orders == 1
    assert row.by_tier[Tier.OUTLET].total_cents == paid[1].total_cents


def test_codes_are_unique_and_listed_newest_first(shop):
    employee = an_employee(shop)
    first = invites.make_code(shop.brand, employee)
    second = invites.make_code(shop.brand, employee)
    listed = invites.list_codes(shop.brand.id, employee.member_id)
    assert [c.id for c in listed] == [second.id, first.id]
    assert db.session.execute(select(func.count(InviteCode.id))).scalar_one() >= 2
