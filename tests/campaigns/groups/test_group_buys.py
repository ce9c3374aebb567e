"""Group buys as HQ, consumers and stores meet them, through the services: offers HQ writes and
starts only while the brand turns group buys on; checkouts that open and join groups at the
group price, within the per-person limits; a group that fills releases its orders to the store;
one that does not is refused, refunded and its units released by the settling job."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.campaigns import group_buys, group_jobs
from portal.campaigns.models import (
    BuyGroup,
    GroupBuyStatus,
    GroupSeat,
    GroupStatus,
    SeatStatus,
)
from portal.core import jobs
from portal.core.db import utcnow
from portal.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.storefront import orders, rerouting
from portal.storefront.models import ConsumerOrder, ConsumerOrderEvent, ConsumerOrderRoute
from portal.storefront.models import ConsumerOrderStatus as S
from portal.storefront.payments.models import PaymentRefund, PaymentRefundAttempt, PaymentStatus
from portal.storefront.transitions import ConsumerOrderConflict
from tests.campaigns.groups.conftest import GROUP_PRICE, GroupShop, count
from tests.support.policy import hq_actor

# -- HQ's offers -----------------------------------------------------------------------------------


def test_hq_drafts_starts_and_stops_a_group_buy(gb: GroupShop):
    offer = gb.offer(start=False)
    assert offer.status == GroupBuyStatus.DRAFT
    assert [o.code for o in group_buys.list_group_buys(gb.hq, gb.brand)] == ["TEE3"]
    group_buys.start_group_buy(gb.hq, offer)
    assert offer.status == GroupBuyStatus.LIVE
    group_buys.stop_group_buy(gb.hq, offer)
    assert offer.status == GroupBuyStatus.STOPPED
    with pytest.raises(Conflict):
        group_buys.stop_group_buy(gb.hq, offer)


def test_with_group_buys_off_hq_cannot_create_or_start_one_and_is_told_the_setting(gb: GroupShop):
    draft = gb.offer("LATER", start=False)
    gb.switch(False)
    with pytest.raises(group_buys.GroupBuysOff, match="campaigns.group_buys"):
        group_buys.create_group_buy(gb.hq, gb.brand, gb.offer_input("NEW"))
    with pytest.raises(group_buys.GroupBuysOff, match="campaigns.group_buys"):
        group_buys.start_group_buy(gb.hq, draft)
    assert draft.status == GroupBuyStatus.DRAFT
    assert [o.code for o in group_buys.list_group_buys(gb.hq, gb.brand)] == ["LATER"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"price_cents": 0}, "price"),
        ({"price_cents": 19_900}, "price"),  # not below the shop's price
        ({"group_size": 1}, "group_size"),
        ({"group_size": 6}, "group_size"),  # the terms allow 5
        ({"hours_to_fill": 0}, "hours_to_fill"),
        ({"units_per_person": 0}, "units_per_person"),
        ({"groups_per_person": 0}, "groups_per_person"),
        ({"product_code": "NOPE"}, "product_code"),
        ({"code": "bad code!"}, "code"),
    ],
)
def test_a_wrong_offer_is_refused_naming_the_field(gb: GroupShop, changes, field):
    with pytest.raises(ValidationFailed) as refused:
        group_buys.create_group_buy(gb.hq, gb.brand, gb.offer_input(**changes))
    assert field in refused.value.fields
    assert group_buys.list_group_buys(gb.hq, gb.brand) == []


def test_a_group_price_below_the_retail_floor_is_refused_naming_the_floor(gb: GroupShop):
    gb.switch(True, floor="product TEE 120")
    with pytest.raises(ValidationFailed) as refused:
        group_buys.create_group_buy(gb.hq, gb.brand, gb.offer_input(price_cents=11_000))
    assert "120" in refused.value.fields["price"]
    offer = group_buys.create_group_buy(gb.hq, gb.brand, gb.offer_input(price_cents=12_000))
    assert offer.price_cents == 12_000


def test_a_code_the_brand_uses_is_refused(gb: GroupShop):
    gb.offer()
    with pytest.raises(ValidationFailed) as refused:
        group_buys.create_group_buy(gb.hq, gb.brand, gb.offer_input())
    assert "code" in refused.value.fields


def test_another_brands_hq_finds_no_offer_and_a_store_may_not_manage_them(gb: GroupShop):
    gb.offer()
    from tests.support.policy import build_network

    other = build_network("OB")
    with pytest.raises(NotFound):
        group_buys.get_group_buy(hq_actor(other.brand), gb.brand, "TEE3")
    with pytest.raises(NotFound):
        group_buys.get_group_buy(gb.shop.staff("LJ"), gb.brand, "TEE3")
    with pytest.raises((NotFound, PermissionDenied)):
        group_buys.create_group_buy(gb.shop.staff("LJ"), gb.brand, gb.offer_input("X"))


# -- joining ---------------------------------------------------------------------------------------


def test_opening_a_group_charges_the_group_price_and_holds_the_order(gb: GroupShop):
    offer = gb.offer()
    leader = gb.consumer()
    order = gb.buy(leader, offer)
    assert order.on_hold is True
    assert order.lines[0].unit_price_cents == GROUP_PRICE
    assert order.total_cents == GROUP_PRICE
    group = gb.group_of(order)
    assert (group.status, group.seats_taken, group.seats_paid) == (GroupStatus.OPEN, 1, 0)
    assert group.leader_consumer_id == leader.id
    assert group.expires_at - group.opened_at == timedelta(hours=24)
    # The units are held at the store like any order's.
    assert gb.shop.level("LJ", "TEE-BLK-M") == (5, 1)
    gb.pay(order)
    assert (order.status, order.on_hold) == (S.PAID, True)
    assert gb.group_of(order).seats_paid == 1


def test_a_group_that_fills_releases_every_order_and_the_store_can_accept_them(gb: GroupShop):
    offer = gb.offer()
    first = gb.pay(gb.buy(gb.consumer("Li Lei"), offer))
    group = gb.group_of(first)
    second = gb.pay(gb.buy(gb.consumer("Wang Fang"), offer, group=group))
    third = gb.buy(gb.consumer("Zhao Min"), offer, group=group)
    staff = gb.shop.staff("LJ")
    with pytest.raises(ConsumerOrderConflict, match="waiting for its group"):
        orders.accept(staff, first)
    assert first.status == S.PAID
    gb.pay(third)
    group = gb.group_of(first)
    assert (group.status, group.seats_paid, group.settled_at is not None) == (
        GroupStatus.FILLED,
        3,
        True,
    )
    for order in (first, second, third):
        db.session.refresh(order)
        assert order.on_hold is False and order.released_at is not None
        kinds = [event.kind for event in order.events]
        assert kinds[-1] == "release", kinds
    orders.accept(staff, first)
    assert first.status == S.PREPARING


def test_joining_a_full_group_is_refused_and_nothing_is_written(gb: GroupShop):
    offer = gb.offer()
    first = gb.buy(gb.consumer(), offer)
    group = gb.group_of(first)
    gb.buy(gb.consumer(), offer, group=group)
    gb.buy(gb.consumer(), offer, group=group)  # the last place, not paid yet: still taken
    late = gb.consumer()
    db.session.commit()
    before = (count(ConsumerOrder), count(GroupSeat), gb.shop.level("LJ", "TEE-BLK-M"))
    with pytest.raises(group_buys.GroupFull, match="The group is full"):
        gb.buy(late, offer, group=group)
    db.session.rollback()
    assert (count(ConsumerOrder), count(GroupSeat), gb.shop.level("LJ", "TEE-BLK-M")) == before
    assert gb.group_of(first).seats_taken == 3


def test_a_group_whose_time_ran_out_or_that_failed_cannot_be_joined(gb: GroupShop):
    offer = gb.offer()
    group = gb.group_of(gb.buy(gb.consumer(), offer))
    group.expires_at = utcnow() - timedelta(minutes=1)
    db.session.flush()
    with pytest.raises(ValidationFailed, match="time to fill ran out") as refused:
        gb.buy(gb.consumer(), offer, group=group)
    assert "group" in refused.value.fields
    group.status = GroupStatus.FAILED
    group.expires_at = utcnow() + timedelta(hours=1)
    db.session.flush()
    with pytest.raises(ValidationFailed, match="closed"):
        gb.buy(gb.consumer(), offer, group=group)


def test_no_group_opens_once_the_offer_is_stopped_or_ended_but_open_groups_still_fill(
    gb: GroupShop,
):
    offer = gb.offer()
    group = gb.group_of(gb.buy(gb.consumer(), offer))
    group_buys.stop_group_buy(gb.hq, offer)
    with pytest.raises(ValidationFailed, match="closed") as refused:
        gb.buy(gb.consumer(), offer)
    assert "group_buy" in refused.value.fields
    joined = gb.buy(gb.consumer(), offer, group=group)  # a stopped offer's groups run on
    assert joined.on_hold is True


def test_a_consumer_cannot_join_a_group_twice_nor_more_groups_than_allowed(gb: GroupShop):
    offer = gb.offer()
    leader = gb.consumer()
    group = gb.group_of(gb.buy(leader, offer))
    with pytest.raises(ValidationFailed, match="in this group already"):
        gb.buy(leader, offer, group=group)
    with pytest.raises(ValidationFailed, match="at most 1 per person") as refused:
        gb.buy(leader, offer)  # a second group of the same offer
    assert "group_buy" in refused.value.fields


def test_more_units_than_allowed_per_person_are_refused_naming_the_line(gb: GroupShop):
    offer = gb.offer(units_per_person=2)
    with pytest.raises(ValidationFailed, match="At most 2 per person") as refused:
        gb.buy(gb.consumer(), offer, qty=3)
    assert "lines.0" in refused.value.fields
    assert gb.buy(gb.consumer(), offer, qty=2).total_qty == 2


def test_only_the_offers_product_is_bought_in_a_group_and_without_coupons(gb: GroupShop):
    offer = gb.offer()
    with pytest.raises(ValidationFailed) as refused:
        gb.buy(gb.consumer(), offer, sku="POLO-WHT-M")
    assert "Only" in refused.value.fields["lines.0"]
    with pytest.raises(ValidationFailed) as refused:
        gb.buy(gb.consumer(), offer, coupon_ids=(1,))
    assert "coupon_ids" in refused.value.fields


def test_with_group_buys_turned_off_no_one_opens_or_joins_a_group(gb: GroupShop):
    offer = gb.offer()
    group = gb.group_of(gb.buy(gb.consumer(), offer))
    gb.switch(False)
    for kwargs in ({}, {"group": group}):
        with pytest.raises(group_buys.GroupBuysOff, match="campaigns.group_buys"):
            gb.buy(gb.consumer(), offer, **kwargs)


def test_a_member_leaving_an_open_group_gives_the_place_back(gb: GroupShop):
    offer = gb.offer()
    leader = gb.consumer()
    first = gb.pay(gb.buy(leader, offer))
    group = gb.group_of(first)
    other = gb.consumer()
    second = gb.buy(other, offer, group=group)
    orders.cancel(other, second)  # unpaid: cancelled
    group = gb.group_of(first)
    assert (group.seats_taken, group.seats_paid) == (1, 1)
    orders.cancel(leader, first)  # paid and held: refunded
    group = gb.group_of(first)
    assert (group.seats_taken, group.seats_paid, group.status) == (0, 0, GroupStatus.OPEN)
    assert first.status == S.REFUNDED
    seats = db.session.execute(select(GroupSeat.status).where(GroupSeat.group_id == group.id))
    assert set(seats.scalars()) == {SeatStatus.RELEASED}
    assert gb.shop.level("LJ", "TEE-BLK-M") == (5, 0)


# -- the store's clocks ----------------------------------------------------------------------------


def test_a_held_pickup_is_never_refunded_for_not_being_accepted_and_its_clock_starts_at_release(
    gb: GroupShop, app
):
    offer = gb.offer(group_size=2)
    first = gb.pay(gb.buy(gb.consumer(), offer))
    hours = app.config["PICKUP_ACCEPT_HOURS"]
    first.paid_at = utcnow() - timedelta(hours=hours + 5)
    db.session.flush()
    rerouting.refund_unaccepted_pickups()
    assert first.status == S.PAID  # held: no clock runs
    second = gb.pay(gb.buy(gb.consumer(), offer, group=gb.group_of(first)))
    db.session.refresh(first)
    assert first.on_hold is False
    rerouting.refund_unaccepted_pickups()
    db.session.refresh(first)
    assert first.status == S.PAID  # released just now: its clock starts now
    first.released_at = utcnow() - timedelta(hours=hours + 1)
    db.session.flush()
    rerouting.refund_unaccepted_pickups()
    db.session.refresh(first)
    db.session.refresh(second)
    assert (first.status, second.status) == (S.REFUNDED, S.PAID)


def test_a_held_delivery_is_not_passed_on_to_another_store(gb: GroupShop, app):
    offer = gb.offer()
    order = gb.pay(gb.buy(gb.consumer(), offer, deliver=True))
    hours = app.config["ROUTE_ACCEPT_HOURS"]
    order.paid_at = utcnow() - timedelta(hours=hours + 1)
    for route in db.session.execute(
        select(ConsumerOrderRoute).where(ConsumerOrderRoute.order_id == order.id)
    ).scalars():
        route.offered_at = order.paid_at
    db.session.flush()
    location = order.location_id
    assert order.id not in rerouting.due()
    assert order.number not in [outcome.order_number for outcome in rerouting.reroute_unaccepted()]
    db.session.refresh(order)
    assert (order.status, order.location_id, order.on_hold) == (S.PAID, location, True)


def test_an_unpaid_place_that_expires_is_given_back(gb: GroupShop):
    offer = gb.offer()
    first = gb.pay(gb.buy(gb.consumer(), offer))
    group = gb.group_of(first)
    late = gb.buy(gb.consumer(), offer, group=group)
    assert gb.group_of(first).seats_taken == 2
    late.expires_at = utcnow() - timedelta(seconds=1)
    db.session.flush()
    assert orders.expire_unpaid() == 1
    group = gb.group_of(first)
    assert (group.seats_taken, group.seats_paid) == (1, 1)
    assert group_buys.is_joinable(group)


def test_orders_of_a_complete_group_left_held_are_released_by_the_job(gb: GroupShop):
    offer = gb.offer(group_size=2)
    first = gb.pay(gb.buy(gb.consumer(), offer))
    second = gb.pay(gb.buy(gb.consumer(), offer, group=gb.group_of(first)))
    assert gb.group_of(first).status == GroupStatus.FILLED
    # As if the fill had found the first order locked by someone else at that moment.
    first.on_hold, first.released_at = True, None
    db.session.flush()
    outcome = group_jobs.settle_buy_groups()
    assert outcome["orders_released"] == 1
    db.session.refresh(first)
    assert first.on_hold is False and first.released_at is not None
    assert second.on_hold is False


# -- a group that does not fill --------------------------------------------------------------------


def test_the_job_fails_a_group_past_its_time_refunding_the_paid_and_cancelling_the_unpaid(
    gb: GroupShop,
):
    offer = gb.offer()
    paid = gb.pay(gb.buy(gb.consumer(), offer))
    group = gb.group_of(paid)
    unpaid = gb.buy(gb.consumer(), offer, group=group)
    assert gb.shop.level("LJ", "TEE-BLK-M") == (5, 2)
    group.expires_at = utcnow() - timedelta(seconds=1)
    jobs.commit()
    outcome = group_jobs.settle_buy_groups()
    jobs.commit()  # and send the refund, as the worker would after the job's commit
    assert outcome["orders_called_off"] == 2
    group = gb.group_of(paid)
    assert group.status == GroupStatus.FAILED
    for order in (paid, unpaid):
        db.session.refresh(order)
    assert (paid.status, unpaid.status) == (S.REFUNDED, S.CANCELLED)
    assert paid.refunded_cents == GROUP_PRICE
    refund = db.session.execute(
        select(PaymentRefund).where(PaymentRefund.payment_id == paid.payment_id)
    ).scalar_one()
    assert refund.amount_cents == GROUP_PRICE
    attempt = db.session.execute(
        select(PaymentRefundAttempt).where(PaymentRefundAttempt.refund_id == refund.id)
    ).scalar_one()
    assert attempt.state == "succeeded"
    assert gb.payment_of(unpaid).status == PaymentStatus.CANCELLED
    assert gb.shop.level("LJ", "TEE-BLK-M") == (5, 0)  # every unit back
    assert [e.details.get("reason") for e in paid.events if e.kind == "refund"] == [
        group_buys.NOT_FILLED
    ]
    # Run again: nothing more is refunded.
    again = group_jobs.settle_buy_groups()
    jobs.commit()
    assert again["orders_called_off"] == 0
    assert count(PaymentRefund, PaymentRefund.payment_id == paid.payment_id) == 1


def test_a_payment_after_the_groups_time_ran_out_does_not_complete_it(gb: GroupShop):
    offer = gb.offer(group_size=2)
    first = gb.pay(gb.buy(gb.consumer(), offer))
    group = gb.group_of(first)
    last = gb.buy(gb.consumer(), offer, group=group)
    group.expires_at = utcnow() - timedelta(seconds=1)
    db.session.flush()
    gb.pay(last)
    assert gb.group_of(first).status == GroupStatus.OPEN
    assert last.on_hold is True
    group_jobs.settle_buy_groups()
    for order in (first, last):
        db.session.refresh(order)
        assert order.status == S.REFUNDED


def test_the_order_page_data_says_how_many_more_are_needed(gb: GroupShop):
    offer = gb.offer()
    order = gb.pay(gb.buy(gb.consumer(), offer))
    waiting = group_buys.waiting_for(order)
    assert waiting is not None and waiting.more == 2
    assert count(ConsumerOrderEvent, ConsumerOrderEvent.order_id == order.id) == 2


def test_members_show_initials_only():
    assert group_buys.short_name("Han Meimei") == "H. M."
    assert group_buys.short_name("韩梅梅") == "韩**"
    assert group_buys.short_name("") == ""


def test_a_group_code_of_another_brand_is_not_found(gb: GroupShop):
    offer = gb.offer()
    group = gb.group_of(gb.buy(gb.consumer(), offer))
    from tests.support.policy import build_network

    other = build_network("OG")
    with pytest.raises(NotFound):
        group_buys.find_group(other.brand, group.code)
    assert group_buys.find_group(gb.brand, group.code.lower()).id == group.id
    assert isinstance(group, BuyGroup)
