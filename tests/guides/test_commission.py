"""The commission ledger (portal/guides/commission.py): a completed order earns its guide's
commission, pending until the return window closes; returns take it back in proportion; a till
sale earns at once and its refunds reverse; each entry is written once."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.core.access import Actor, Role
from portal.core.db import utcnow
from portal.core.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.guides import commission
from portal.guides.models import CommissionKind
from portal.members import membership, points, pos_sales
from portal.policy import services as policy_services
from portal.policy.models import PolicyVersion, VersionStatus
from portal.storefront import orders
from portal.storefront.hooks import RefundRequest
from portal.storefront.payments.models import RefundReason
from tests.guides.commission_support import (
    attribute,
    entries_of,
    make_guide,
)
from tests.support.consumer_orders import place
from tests.support.retail import RetailShop, build_retail_shop

TEE = "TEE-BLK-M"
SYSTEM = Actor.system()


@pytest.fixture
def shop(app) -> RetailShop:
    return build_retail_shop("CM")


def guide_of(shop: RetailShop, short: str = "JA"):
    org = shop.net.links[short].buyer
    return make_guide(shop.brand.id, org)


def order_for(shop: RetailShop, guide, *, qty: int = 2, commission_cents: int = 1194):
    """A paid pickup order at Lujiazui of `qty` tees at 199.00, attributed to `guide`."""
    order = place(shop.brand, shop.locations["LJ"], {shop.variant_id(TEE): qty}, unit_cents=19_900)
    attribute(
        guide, order_id=order.id, commission_cents=commission_cents, basis_cents=order.total_cents
    )
    return order


def complete(order):
    orders.accept(SYSTEM, order)
    orders.mark_ready(SYSTEM, order)
    orders.hand_over(SYSTEM, order, order.pickup_code or "")
    return order


def held(guide, days: float = 0) -> tuple[int, int]:
    db.session.expire_all()
    found = commission.balance(guide, now=utcnow() + timedelta(days=days))
    return found.pending_cents, found.available_cents


def test_completed_order_earns_commission_pending_until_the_return_window_closes(
    shop,
):
    guide = guide_of(shop)
    order = complete(order_for(shop, guide))
    [earned] = entries_of(guide)
    assert (earned.kind, earned.amount_cents, earned.reference) == ("earn", 1194, f"O{order.id}")
    assert earned.matures_at == order.completed_at + timedelta(days=7)
    assert held(guide) == (1194, 0)
    assert held(guide, days=6) == (1194, 0)  # returns still open
    assert held(guide, days=8) == (0, 1194)


def test_paid_but_not_completed_order_earns_nothing_yet(shop):
    guide = guide_of(shop)
    order = order_for(shop, guide)
    orders.accept(SYSTEM, order)
    assert entries_of(guide) == []
    assert held(guide, days=30) == (0, 0)


def test_partial_return_reverses_in_proportion_and_the_last_one_takes_the_rest(
    shop,
):
    guide = guide_of(shop, "LJ")
    order = complete(order_for(shop, guide, qty=3, commission_cents=1000))  # 597.00 paid
    orders.refund_money(
        order, amount_cents=19_900, reason=RefundReason.RETURNED, suffix="RT1", full=False
    )
    kinds = [(e.kind, e.amount_cents) for e in entries_of(guide)]
    assert kinds == [("earn", 1000), ("reverse", -334)]  # a third back: keeps 1000*2/3 = 666
    assert held(guide) == (666, 0)
    orders.refund_money(
        order, amount_cents=39_800, reason=RefundReason.RETURNED, suffix="RT2", full=False
    )
    assert [e.amount_cents for e in entries_of(guide)] == [1000, -334, -666]
    assert held(guide, days=30) == (0, 0)  # all came back: nothing left to pay


def test_refund_before_completion_writes_nothing(shop):
    guide = guide_of(shop)
    order = order_for(shop, guide)
    orders.refund_by_store(shop.staff("LJ", Role.STORE_OWNER), order, reason="out of stock")
    assert order.status == "refunded"
    assert entries_of(guide) == []


def test_repeated_listener_calls_write_each_entry_once(shop):
    guide = guide_of(shop)
    order = complete(order_for(shop, guide))
    commission.order_moved(order, "hand_over")
    commission.order_moved(order, "deliver")
    order.refunded_cents += 19_900
    request = RefundRequest(order, 19_900, 19_900, 0, f"{order.number}-RTX", full=False)
    commission.order_refunded(request)
    commission.order_refunded(request)
    assert [(e.kind, e.amount_cents) for e in entries_of(guide)] == [
        ("earn", 1194),
        ("reverse", -597),
    ]


def test_an_attribution_that_does_not_earn_writes_nothing(shop):
    guide = guide_of(shop)
    order = place(shop.brand, shop.locations["LJ"], {shop.variant_id(TEE): 1})
    attribute(guide, order_id=order.id, commission_cents=597, earns=False)  # own purchase
    complete(order)
    assert entries_of(guide) == []


def test_till_sale_earns_at_once_pending_and_its_refund_reverses_in_proportion(shop):
    guide = guide_of(shop)
    consumer = shop.consumer()
    occurred = utcnow() - timedelta(days=2)
    result = points.record_pos_sale(
        SYSTEM,
        shop.brand,
        shop.locations["JA"],
        phone=consumer.phone,
        amount_cents=40_000,
        reference="JA-1001",
        occurred_at=occurred,
    )
    sale = result.sale
    attribution = attribute(guide, sale_id=sale.id, commission_cents=1200)
    earned = commission.pos_sale_attributed(attribution, sale)
    assert earned is not None and earned.reference == f"P{sale.id}"
    assert earned.matures_at == sale.occurred_at + timedelta(days=7)
    assert commission.pos_sale_attributed(attribution, sale).id == earned.id  # once
    assert held(guide) == (1200, 0)
    assert held(guide, days=6) == (0, 1200)  # two days have passed already

    sale, _replayed = pos_sales.refund_pos_sale(
        SYSTEM, "JA-1001", amount_cents=10_000, refund_reference="R1"
    )
    reversal = commission.pos_sale_refunded(sale, 10_000, "R1")
    assert reversal is not None and reversal.amount_cents == -300
    assert commission.pos_sale_refunded(sale, 10_000, "R1").id == reversal.id
    assert held(guide, days=6) == (0, 900)


def publish_bonus(shop: RetailShop, cents: int) -> None:
    live = db.session.execute(
        select(PolicyVersion).where(
            PolicyVersion.brand_id == shop.brand.id, PolicyVersion.status == VersionStatus.ACTIVE
        )
    ).scalar_one()
    draft = policy_services.revise_policy(shop.net.hq, live)
    draft.member_terms = {"commission": {"new_member_bonus_cents": cents}}
    draft.effective_from = utcnow() - timedelta(seconds=1)
    policy_services.publish_policy(shop.net.hq, draft)


def test_new_member_bonus_is_usable_at_once_and_paid_once(shop):
    guide = guide_of(shop)
    consumer = shop.consumer()

    class Joined:
        id = consumer.id

    assert commission.member_joined(Joined, guide) is None  # the brand pays no bonus
    publish_bonus(shop, 500)
    bonus = commission.member_joined(Joined, guide)
    assert bonus is not None and (bonus.kind, bonus.amount_cents) == ("new_member", 500)
    commission.member_joined(Joined, guide)
    assert held(guide, days=0.001) == (0, 500)


def test_hq_adjusts_a_guide_but_a_store_owner_may_not(shop):
    guide = guide_of(shop)
    hq = shop.staff("HQ", user_id=None)
    row = commission.adjust(hq, guide, -250, "double-counted sale")
    assert (row.kind, row.amount_cents, row.note) == (
        CommissionKind.ADJUST,
        -250,
        "double-counted sale",
    )
    with pytest.raises(ValidationFailed) as refused:
        commission.adjust(hq, guide, 0, "")
    assert set(refused.value.fields) == {"amount", "note"}
    with pytest.raises(PermissionDenied):
        commission.adjust(shop.staff("JA", Role.STORE_OWNER), guide, 100, "bonus")
    assert held(guide, days=0.001) == (0, -250)


def test_store_staff_who_enrol_a_walk_in_earn_the_new_member_bonus(shop):
    """Joining at the store (members' enrolment) pays the bonus to the staff member's guide code,
    once; a customer who was a member already earns nobody anything."""
    guide = guide_of(shop)
    publish_bonus(shop, 800)
    staff = dataclasses.replace(shop.staff("JA"), user_id=guide.user_id)
    membership.enrol_at_store(staff, shop.brand, "+8613700137001", "Wang Fang")
    bonuses = [e for e in entries_of(guide) if e.kind == CommissionKind.NEW_MEMBER]
    assert [e.amount_cents for e in bonuses] == [800]
    membership.enrol_at_store(staff, shop.brand, "+8613700137001", "Wang Fang")
    assert len([e for e in entries_of(guide) if e.kind == CommissionKind.NEW_MEMBER]) == 1
