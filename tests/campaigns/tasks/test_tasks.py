"""Tasks and rewards for guides (portal/campaigns/tasks.py, task_counting.py): what a manager
may not type, who a task reaches, results counted from real orders, visits and sign-ups, the
reward capped and written once to the commission ledger, which the month-end settlement pays."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.campaigns import task_counting, tasks
from portal.campaigns.models import LiveEvent, TaskAssignment, TaskResult
from portal.core.access import Role
from portal.core.db import utcnow
from portal.core.errors import ValidationFailed
from portal.extensions import db
from portal.guides import attribution, settlement
from portal.guides.models import CommissionStatement, GuideKind, GuideVisit
from portal.members import membership
from portal.members.models import JoinChannel
from portal.storefront import orders
from portal.storefront.models import ConsumerOrderStatus
from tests.campaigns.tasks.conftest import TaskShop, rewards, task_count
from tests.support.consumer_orders import pay_by_notice

# -- what a manager may not type ------------------------------------------------------------------


def refused(ts: TaskShop, actor=None, **values) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as error:
        ts.task(actor, **values)
    return error.value.fields


def test_a_task_with_mistakes_names_each_field_and_writes_nothing(ts):
    now = utcnow()
    fields = refused(
        ts,
        reward_cents=-100,
        target=0,
        starts_at=now + timedelta(days=2),
        ends_at=now + timedelta(days=1),
        ref="product:TEE",  # an orders task names nothing
    )
    assert set(fields) == {"reward", "target", "ends_at", "ref"}
    assert "zero or more" in fields["reward"]
    assert "end after it starts" in fields["ends_at"]
    assert task_count() == 0


def test_a_cap_below_one_reward_is_refused(ts):
    fields = refused(ts, reward_cents=500, cap_cents=300)
    assert fields == {"cap": "The cap per guide cannot be below one result's reward."}
    assert task_count() == 0


def test_a_rewarded_task_needs_a_cap_per_guide(ts):
    fields = refused(ts, reward_cents=100, cap_cents=None)
    assert fields == {"cap": "A rewarded task needs a cap per guide."}
    assert task_count() == 0
    unpaid = ts.task(reward_cents=0, cap_cents=None)  # a task for nothing needs none
    assert unpaid.cap_cents is None and task_count() == 1


def test_what_a_task_is_about_must_exist_in_the_brand_and_suit_its_kind(ts):
    assert "share" in tasks.KIND_TARGETS
    assert set(refused(ts, kind="share")) == {"ref"}  # a share names what is shared
    assert refused(ts, kind="share", ref="product:NOPE") == {
        "ref": "The brand has no product of code NOPE."
    }
    assert set(refused(ts, kind="event_visitors", ref="product:TEE")) == {"ref"}
    assert set(refused(ts, kind="coupon_claims", ref="coupon:NOSUCH")) == {"ref"}
    task = ts.task(kind="share", ref="product:tee")
    assert task.ref == "product:TEE"  # stored as the brand writes it


def test_a_distributor_names_only_stores_regions_and_levels_below_it(ts):
    a1 = ts.distributor("A1")
    fields = refused(ts, a1, stores=("TKJA",), regions=("shanghai",), levels=("Z",))
    assert fields == {
        "stores": "Not a store below you: TKJA.",
        "regions": "No store below you has: shanghai.",
        "levels": "No store below you has: Z.",
    }
    assert task_count() == 0
    task = ts.task(a1, stores=("tks1",), regions=("north",), levels=("A",))
    assert task.audience == {
        "regions": ["north"],
        "levels": ["A"],
        "store_ids": [ts.gs.org("S1").id],
    }
    assert task.owner_org_id == ts.net.org_id("A1")


# -- who a task reaches ----------------------------------------------------------------------------


def reached(task) -> set[int]:
    return set(
        db.session.execute(
            select(TaskAssignment.guide_id).where(TaskAssignment.task_id == task.id)
        ).scalars()
    )


def test_publishing_reaches_the_guides_the_audience_names(ts):
    everyone = ts.published()
    assert reached(everyone) == {ts.guide(s).id for s in ("JA", "LJ", "S1", "HQ")}
    shanghai = ts.published(regions=("shanghai",))
    assert reached(shanghai) == {ts.guide("JA").id, ts.guide("LJ").id}
    one_store = ts.published(stores=("TKLJ",))
    assert reached(one_store) == {ts.guide("LJ").id}
    ts.guide("HQ").kind = GuideKind.COMMUNITY_OPERATOR  # a sharer
    sharers = ts.published(kinds=(GuideKind.COMMUNITY_OPERATOR,))
    assert reached(sharers) == {ts.guide("HQ").id}
    a1 = ts.published(ts.distributor("A1"))
    assert reached(a1) == {ts.guide("S1").id}  # only the stores below the distributor


def test_the_count_reaches_a_guide_who_joined_a_matching_store_later(ts):
    task = ts.published(regions=("shanghai",))
    newcomer = ts.gs.add_guide("JA")
    assert newcomer.id not in reached(task)
    tasks.run_task(task.id)
    assert newcomer.id in reached(task)


# -- counting from real orders, and the reward -------------------------------------------------


def test_a_task_counts_paid_orders_of_its_guides_caps_the_reward_and_pays_it_once(ts):
    gs = ts.gs
    task = ts.published(target=2, reward_cents=100, cap_cents=250)
    ja, lj = gs.guides["JA"].code, gs.guides["LJ"].code
    sold = [gs.place(gs.consumer(), guide_code=ja) for _ in range(3)]
    for order in sold:
        pay_by_notice(order)
    gs.place(gs.consumer(), guide_code=lj)  # never paid
    refunded = gs.place(gs.consumer(), guide_code=lj)
    pay_by_notice(refunded)
    orders.refund_by_store(gs.shop.staff("LJ", Role.STORE_OWNER), refunded, reason="no stock")
    pay_by_notice(gs.place(gs.consumer()))  # nobody's

    tasks.run_task(task.id)
    assert task_counting.results_by_guide(task) == {gs.guides["JA"].id: 3}
    tasks.run_task(task.id)  # a second count adds nothing
    sources = db.session.execute(
        select(TaskResult.source).where(TaskResult.task_id == task.id)
    ).scalars()
    assert sorted(sources) == sorted(f"O{order.id}" for order in sold)
    assert task_counting.completion(task).total.done == 1

    closing = tasks.close_task(ts.hq, task)
    assert closing.closed and closing.rewards == 1
    assert rewards(task) == {gs.guides["JA"].id: 250}  # 3 x ¥1.00, capped at ¥2.50
    again = tasks.close_task(ts.hq, task)
    tasks.run_task(task.id)
    assert not again.closed and rewards(task) == {gs.guides["JA"].id: 250}


def test_an_order_wholly_refunded_after_it_was_counted_no_longer_counts(ts):
    gs = ts.gs
    task = ts.published()
    order = gs.place(gs.consumer(), guide_code=gs.guides["JA"].code)
    pay_by_notice(order)
    tasks.run_task(task.id)
    assert task_counting.results_by_guide(task) == {gs.guides["JA"].id: 1}
    orders.refund_by_store(gs.shop.staff("LJ", Role.STORE_OWNER), order, reason="no stock")
    assert task_counting.results_by_guide(task) == {}
    tasks.close_task(ts.hq, task)
    assert rewards(task) == {}  # nothing earned, no entry


def test_a_paid_order_held_for_its_group_counts_until_it_is_refunded(ts):
    gs = ts.gs
    task = ts.published()
    buyer = gs.consumer()
    order = gs.place(buyer, guide_code=gs.guides["JA"].code)
    pay_by_notice(order)
    order.on_hold = True  # as a group buy's order is until its group fills
    db.session.flush()
    tasks.run_task(task.id)
    assert task_counting.results_by_guide(task) == {gs.guides["JA"].id: 1}
    orders.cancel(buyer, order)  # the buyer leaves the group: paid and held, it is refunded
    assert order.status == ConsumerOrderStatus.REFUNDED
    assert task_counting.results_by_guide(task) == {}


def test_orders_paid_outside_the_window_do_not_count(ts):
    gs = ts.gs
    task = ts.published(starts_at=utcnow() - timedelta(hours=2))
    early = gs.place(gs.consumer(), guide_code=gs.guides["JA"].code)
    pay_by_notice(early)
    early.paid_at = task.starts_at - timedelta(minutes=1)
    db.session.flush()
    tasks.run_task(task.id)
    assert task_counting.results_by_guide(task) == {}


def test_a_closed_tasks_reward_is_settled_with_the_commission_of_its_month(ts):
    gs = ts.gs
    task = ts.published(reward_cents=100, cap_cents=300)
    pay_by_notice(gs.place(gs.consumer(), guide_code=gs.guides["JA"].code))
    tasks.close_task(ts.hq, task)
    closed = task.closed_at
    period = f"{closed:%Y-%m}"
    run = settlement.settle_month(gs.brand.id, period, now=closed + timedelta(days=40))
    assert run.made and run.amount_cents == 100
    statement = db.session.execute(
        select(CommissionStatement).where(
            CommissionStatement.brand_id == gs.brand.id,
            CommissionStatement.guide_id == gs.guides["JA"].id,
        )
    ).scalar_one()
    assert statement.amount_cents == 100


# -- counting from visits and sign-ups -------------------------------------------------------------


def visit(
    ts: TaskShop,
    short: str,
    *,
    consumer=None,
    visitor="",
    target="product",
    ref="TEE",
    minutes_ago: int = 5,
):
    row = GuideVisit(
        brand_id=ts.brand.id,
        guide_id=ts.guide(short).id,
        consumer_id=consumer.id if consumer is not None else None,
        visitor=visitor,
        target=target,
        ref=ref,
        opened_at=utcnow() - timedelta(minutes=minutes_ago),
    )
    db.session.add(row)
    db.session.flush()
    return row


def test_a_share_task_counts_each_person_once_for_the_guide_who_reached_them_first(ts):
    task = ts.published(kind="share", ref="product:TEE", target=2)
    one, two = ts.gs.consumer(), ts.gs.consumer()
    visit(ts, "JA", consumer=one, minutes_ago=30)
    visit(ts, "JA", consumer=one, minutes_ago=20)  # the same person again
    visit(ts, "LJ", consumer=one, minutes_ago=10)  # and through another guide later
    visit(ts, "JA", visitor="b" * 24)  # a browser nobody signed in on: not counted
    visit(ts, "JA", visitor="c" * 24)  # nor another (a request without cookies is a new one)
    visit(ts, "LJ", consumer=two)
    visit(ts, "LJ", consumer=two, ref="POLO")  # another product
    visit(ts, "JA", consumer=two, minutes_ago=90)  # through JA before the task began: not JA's
    tasks.run_task(task.id)
    assert task_counting.results_by_guide(task) == {ts.guide("JA").id: 1, ts.guide("LJ").id: 1}
    sources = db.session.execute(
        select(TaskResult.source).where(TaskResult.task_id == task.id)
    ).scalars()
    assert sorted(sources) == sorted(f"PC{person.id}" for person in (one, two))
    tasks.run_task(task.id)  # a second count adds nothing
    assert task_counting.results_by_guide(task) == {ts.guide("JA").id: 1, ts.guide("LJ").id: 1}


def test_a_new_members_task_counts_the_members_a_guide_enrolled_at_the_store(ts):
    gs = ts.gs
    task = ts.published(kind="new_members", target=1)
    consumer = gs.consumer(member=False)
    membership.join(
        consumer,
        channel=JoinChannel.STORE,
        location_id=gs.shop.locations["JA"].id,
        by_user_id=gs.users["JA"].id,
    )
    gs.consumer()  # joined online, through nobody
    tasks.run_task(task.id)
    assert task_counting.results_by_guide(task) == {ts.guide("JA").id: 1}


@pytest.mark.parametrize("bonus", [0, 500])
def test_a_new_members_task_counts_members_who_signed_up_with_a_guides_code(ts, bonus):
    """With a new-member bonus, the guides' ledger says whose member it is; without one, the
    binding their code made at registration does."""
    gs = ts.gs
    gs.set_terms(guides={"binding": "registration"}, commission={"new_member_bonus_cents": bonus})
    task = ts.published(kind="new_members", target=1)
    consumer = gs.consumer(member=False)
    attribution.consumer_signed_up(consumer, gs.guides["LJ"].code)
    membership.join(consumer)
    tasks.run_task(task.id)
    assert task_counting.results_by_guide(task) == {ts.guide("LJ").id: 1}


def test_an_event_task_counts_people_brought_to_the_live_event_by_its_end(ts):
    """A visit counts inside the task's own window and before the event ended: one while the
    event ran but before the task began does not, nor one after the event was over."""
    now = utcnow()
    db.session.add(
        LiveEvent(
            brand_id=ts.brand.id,
            code="SPRING",
            name="Spring live",
            starts_at=now - timedelta(hours=1),
            ends_at=now - timedelta(minutes=10),
        )
    )
    db.session.flush()
    task = ts.published(
        kind="event_visitors", ref="live:spring", starts_at=now - timedelta(minutes=30)
    )
    assert task.ref == "live:SPRING"
    during, before, late, elsewhere = (ts.gs.consumer() for _ in range(4))
    # While the event ran and within the task's window: counts.
    visit(ts, "JA", consumer=during, target="live", ref="SPRING", minutes_ago=20)
    # While the event ran but before the task began: does not.
    visit(ts, "LJ", consumer=before, target="live", ref="SPRING", minutes_ago=40)
    # Within the task's window but after the event ended: does not.
    visit(ts, "LJ", consumer=late, target="live", ref="SPRING", minutes_ago=5)
    visit(ts, "LJ", visitor="b" * 24, target="live", ref="SPRING", minutes_ago=20)  # nobody
    visit(ts, "JA", consumer=elsewhere, target="product", ref="TEE")
    tasks.run_task(task.id)
    assert task_counting.results_by_guide(task) == {ts.guide("JA").id: 1}
