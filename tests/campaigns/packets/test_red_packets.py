"""Red packets as services, on both backends (portal/campaigns/red_packets.py): HQ's plan and
the coupon template it makes, what a plan refuses, sending within the plan's limits, claiming
under the packet's and the coupon's rules, and a claimed coupon at checkout like any other."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.campaigns import red_packets
from portal.campaigns.models import (
    ClaimSource,
    PlanStatus,
    RedPacket,
    RedPacketClaim,
    RedPacketPlan,
)
from portal.core.db import utcnow
from portal.core.errors import NotFound, ValidationFailed
from portal.extensions import db
from portal.guides import reports
from portal.guides.models import GuideVisit
from portal.members import coupons
from portal.members.coupon_models import Coupon, CouponTemplate
from portal.storefront.models import ConsumerOrder
from tests.campaigns.packets.conftest import PLAN, count
from tests.support.policy import hq_actor
from tests.support.services import org


def plan_count() -> int:
    return count(RedPacketPlan)


def template_of(plan: RedPacketPlan) -> CouponTemplate:
    return db.session.execute(
        select(CouponTemplate).where(CouponTemplate.id == plan.template_id)
    ).scalar_one()


# -- plans ---------------------------------------------------------------------------------------


def test_a_plan_makes_its_coupon_template_with_the_plans_amount_validity_and_limits(ps):
    plan = ps.plan(packets_total="10", per_member_limit="2", min_spend="100")
    template = template_of(plan)
    assert (plan.packet_cents, plan.coupons_per_packet, plan.status) == (3000, 3, "active")
    assert template.brand_id == ps.brand.id
    assert (template.kind, template.amount_cents, template.min_spend_cents) == (
        "threshold",
        1000,
        10000,
    )
    assert (template.validity, template.valid_days) == ("days", 7)
    assert (template.total_limit, template.per_member_limit) == (30, 2)
    assert coupons.label(template) == "CN¥10.00 off orders of CN¥100.00"


def test_a_plans_coupon_is_given_out_through_its_packets_only(ps):
    template = template_of(ps.plan())
    assert coupons.find_claimable(ps.brand.id, template.code) is None  # no claim page of its own
    with pytest.raises(NotFound):
        coupons.claim(ps.consumer(), ps.brand, template.code)
    assert template.code not in [c.code for c in reports.shareable_coupons(ps.brand.id)]
    assert coupons.claimable_templates(ps.brand, ps.consumer()) == []


def test_a_plan_without_a_minimum_spend_is_an_amount_coupon_and_one_per_member(ps):
    template = template_of(ps.plan())
    assert (template.kind, template.amount_cents, template.min_spend_cents) == ("amount", 1000, 0)
    assert template.per_member_limit == 1


def test_an_hq_merchandiser_writes_a_plan_though_the_members_coupons_are_not_theirs(ps):
    plan = red_packets.create_plan(
        ps.merchandiser, ps.brand, red_packets.PlanInput(**{**PLAN, "code": "MERCH"})
    )
    assert template_of(plan).name == "Spring packet"


def test_fewer_coupons_than_the_minimum_or_more_than_the_maximum_is_refused(ps):
    templates = count(CouponTemplate)
    with pytest.raises(ValidationFailed) as error:
        ps.plan(packet="10", coupons="1")
    assert error.value.fields == {"coupons": "At least 2 coupons in a packet."}
    with pytest.raises(ValidationFailed) as error:
        ps.plan(packet="110", coupons="11")
    assert error.value.fields == {"coupons": "At most 10 coupons in a packet."}
    assert (plan_count(), count(CouponTemplate)) == (0, templates)


def test_a_sum_that_does_not_split_into_equal_coupons_is_refused_by_name(ps):
    with pytest.raises(ValidationFailed) as error:
        ps.plan(packet="10", coupons="3")
    assert error.value.fields == {"packet": "CN¥10.00 does not split into 3 equal coupons."}
    with pytest.raises(ValidationFailed) as error:
        ps.plan(packet="0.05", coupons="10")  # half a fen each
    assert error.value.fields == {"packet": "CN¥0.05 does not split into 10 equal coupons."}
    assert plan_count() == 0


def test_zero_negative_and_garbled_amounts_are_refused_naming_each_field(ps):
    with pytest.raises(ValidationFailed) as error:
        ps.plan(
            name="",
            code="no spaces",
            packet="0",
            coupons="-3",
            min_spend="-1",
            valid_days="0",
            senders="friends",
            packets_total="0",
            packets_per_sender="x",
        )
    assert error.value.fields == {
        "name": "Required.",
        "code": "1 to 32 letters, digits, hyphens or underscores, starting with a letter or digit.",
        "packet": "More than zero.",
        "coupons": "A whole number from 2 to 10.",
        "min_spend": "More than zero.",
        "valid_days": "A whole number from 1 to 3650.",
        "senders": "Choose guides, members or both.",
        "packets_total": "A whole number from 1 to 1000000.",
        "packets_per_sender": "A whole number from 1 to 1000000.",
    }
    with pytest.raises(ValidationFailed) as error:
        ps.plan(packet="-30")
    assert error.value.fields == {"packet": "More than zero."}
    with pytest.raises(ValidationFailed) as error:
        ps.plan(packet="10.001", coupons="2")
    assert error.value.fields == {"packet": "At most two decimals."}
    assert plan_count() == 0


def test_a_minimum_spend_at_or_below_one_coupon_and_a_taken_code_are_refused(ps):
    with pytest.raises(ValidationFailed) as error:
        ps.plan(min_spend="10")
    assert error.value.fields == {
        "min_spend": "The minimum spend must be more than one coupon's CN¥10.00."
    }
    ps.plan()
    with pytest.raises(ValidationFailed) as error:
        ps.plan(code="spring")  # codes are upper case: the same code
    assert error.value.fields == {"code": "Another red-packet plan has this code."}
    with pytest.raises(ValidationFailed) as error:
        ps.plan(code="MORE", packets_total="2", packets_per_sender="3")
    assert error.value.fields == {"packets_per_sender": "At most the packets in all."}


def test_a_brand_with_red_packets_off_writes_no_plan(ps):
    ps.set_campaigns(red_packets=False)
    templates = count(CouponTemplate)
    with pytest.raises(red_packets.RedPacketsOff) as error:
        ps.plan()
    assert error.value.message == "This brand does not offer red packets."
    assert (plan_count(), count(CouponTemplate)) == (0, templates)


def test_another_brands_hq_and_a_store_cannot_write_or_stop_a_brands_plan(ps):
    with pytest.raises(NotFound):
        red_packets.create_plan(hq_actor(org("ACME")), ps.brand, red_packets.PlanInput(**PLAN))
    with pytest.raises(NotFound):
        red_packets.create_plan(ps.gs.shop.net.actor("JA"), ps.brand, red_packets.PlanInput(**PLAN))
    plan = ps.plan()
    with pytest.raises(NotFound):
        red_packets.stop_plan(hq_actor(org("ACME")), plan)
    with pytest.raises(NotFound):
        red_packets.get_plan(hq_actor(org("ACME")), plan.id)
    assert plan.status == PlanStatus.ACTIVE


# -- sending -------------------------------------------------------------------------------------


def test_a_guide_sends_up_to_the_per_sender_limit_and_the_plan_up_to_its_total(ps):
    plan = ps.plan(packets_total="3", packets_per_sender="2")
    first, second = ps.send(plan, "JA"), ps.send(plan, "JA")
    assert first.code != second.code and len(first.code) == 16
    assert (first.coupons, first.claimed, first.guide_id) == (3, 0, ps.guide("JA").id)
    with pytest.raises(red_packets.PacketRefused) as error:
        ps.send(plan, "JA")
    assert error.value.message == (
        "You have sent 2 of these red packets, as many as one sender may."
    )
    ps.send(plan, "LJ")
    with pytest.raises(red_packets.PacketRefused) as error:
        ps.send(plan, "LJ")
    assert error.value.message == "All of this offer's red packets have been sent."
    db.session.refresh(plan)
    assert (plan.packets_sent, count(RedPacket)) == (3, 3)


def test_a_member_sends_only_plans_members_may_send_and_only_as_a_member(ps):
    guides_only = ps.plan(code="GUIDES", senders="guides")
    members_only = ps.plan(code="MEMBERS", senders="members")
    member = ps.consumer()
    with pytest.raises(red_packets.PacketRefused) as error:
        red_packets.send_as_member(member, ps.brand, guides_only)
    assert error.value.message == "Only guides send this red packet."
    with pytest.raises(red_packets.PacketRefused) as error:
        ps.send(members_only)
    assert error.value.message == "Only members send this red packet."
    packet = red_packets.send_as_member(member, ps.brand, members_only)
    assert packet.member_id == ps.member_of(member).id and packet.guide_id is None
    with pytest.raises(red_packets.PacketRefused) as error:
        red_packets.send_as_member(ps.consumer(member=False), ps.brand, members_only)
    assert error.value.message == "Only members send red packets: join the membership first."
    with pytest.raises(NotFound):
        red_packets.send_as_member(member, org("ACME"), members_only)
    assert [p.code for p in red_packets.sendable_plans(ps.brand.id, "members")] == ["MEMBERS"]


def test_a_stopped_plan_sends_no_more_but_its_sent_packets_stay_claimable(ps):
    plan = ps.plan()
    packet = ps.send(plan)
    red_packets.stop_plan(ps.hq, plan)
    with pytest.raises(red_packets.PacketRefused) as error:
        ps.send(plan, "LJ")
    assert error.value.message == "This red-packet offer has stopped."
    coupon = red_packets.claim_packet(ps.consumer(), ps.brand, packet.code)
    assert coupon.template_id == plan.template_id
    assert red_packets.sendable_plans(ps.brand.id, "guides") == []


def test_a_stopped_guide_and_another_persons_guide_send_nothing(ps):
    plan = ps.plan()
    with pytest.raises(NotFound):
        red_packets.send_as_guide(ps.guide_actor("JA"), ps.guide("LJ"), plan)
    ps.guide("JA").status = "stopped"
    with pytest.raises(red_packets.PacketRefused) as error:
        ps.send(plan, "JA")
    assert error.value.message == "Your guide code is stopped: you cannot send red packets."
    assert count(RedPacket) == 0


# -- claiming ------------------------------------------------------------------------------------


def test_members_claim_one_coupon_each_until_the_packet_is_empty(ps):
    plan = ps.plan()
    packet = ps.send(plan)
    consumers = [ps.consumer() for _ in range(4)]
    claimed = [red_packets.claim_packet(c, ps.brand, packet.code) for c in consumers[:3]]
    assert {c.source for c in claimed} == {"claimed"}
    assert all(c.valid_until - c.valid_from == timedelta(days=7) for c in claimed)
    with pytest.raises(red_packets.PacketRefused) as error:
        red_packets.claim_packet(consumers[3], ps.brand, packet.code)
    assert error.value.message == "No coupons left in this red packet."
    db.session.refresh(packet)
    assert packet.claimed == 3
    assert count(RedPacketClaim, RedPacketClaim.packet_id == packet.id) == 3
    assert template_of(plan).given_count == 3


def test_a_member_claims_once_per_packet_and_within_the_coupons_per_member_limit(ps):
    plan = ps.plan()
    first, second = ps.send(plan, "JA"), ps.send(plan, "LJ")
    consumer = ps.consumer()
    red_packets.claim_packet(consumer, ps.brand, first.code)
    with pytest.raises(red_packets.PacketRefused) as error:
        red_packets.claim_packet(consumer, ps.brand, first.code)
    assert error.value.message == "You have already claimed a coupon from this red packet."
    with pytest.raises(red_packets.PacketRefused) as error:  # one coupon of the plan per member
        red_packets.claim_packet(consumer, ps.brand, second.code)
    assert error.value.message == "You already hold 1 of these coupons, as many as one member may."
    db.session.refresh(second)
    assert second.claimed == 0 and template_of(plan).given_count == 1
    assert count(Coupon, Coupon.member_id == ps.member_of(consumer).id) == 1


def test_a_non_member_the_sender_and_a_shop_with_red_packets_off_claim_nothing(ps):
    plan = ps.plan()
    sender = ps.consumer()
    packet = red_packets.send_as_member(sender, ps.brand, plan)
    with pytest.raises(red_packets.PacketRefused) as error:
        red_packets.claim_packet(ps.consumer(member=False), ps.brand, packet.code)
    assert error.value.message == "Only members can claim red packets: join the membership first."
    with pytest.raises(red_packets.PacketRefused) as error:
        red_packets.claim_packet(sender, ps.brand, packet.code)
    assert error.value.message == "This is your own red packet: share it with friends."
    ps.set_campaigns(red_packets=False)
    with pytest.raises(red_packets.RedPacketsOff):
        red_packets.claim_packet(ps.consumer(), ps.brand, packet.code)
    assert count(RedPacketClaim) == 0 and template_of(plan).given_count == 0


def test_a_stopped_coupon_ends_every_claim_of_the_plans_packets(ps):
    plan = ps.plan()
    packet = ps.send(plan)
    coupons.stop_template(ps.hq, template_of(plan))
    with pytest.raises(red_packets.PacketRefused) as error:
        red_packets.claim_packet(ps.consumer(), ps.brand, packet.code)
    assert error.value.message == "This coupon is no longer given out."
    assert count(RedPacketClaim) == 0


def test_another_brands_packet_is_not_found(ps):
    packet = ps.send(ps.plan())
    with pytest.raises(NotFound):
        red_packets.claim_packet(ps.consumer(), org("ACME"), packet.code)
    assert red_packets.find_packet(org("ACME").id, packet.code) is None
    with pytest.raises(NotFound):
        red_packets.claim_packet(ps.consumer(), ps.brand, "x" * 16)


def test_a_guides_packet_records_the_guide_and_their_link_visit_for_the_tasks(ps):
    packet = ps.send(ps.plan(), "LJ")
    consumer = ps.consumer()
    visit = GuideVisit(
        brand_id=ps.brand.id,
        guide_id=ps.guide("LJ").id,
        consumer_id=consumer.id,
        visitor="",
        target="red_packet",
        ref=packet.code,
        opened_at=utcnow() - timedelta(days=1),
    )
    db.session.add(visit)
    db.session.flush()
    coupon = red_packets.claim_packet(consumer, ps.brand, packet.code)
    source = db.session.execute(
        select(ClaimSource).where(ClaimSource.coupon_id == coupon.id)
    ).scalar_one()
    assert (source.guide_id, source.visit_id) == (ps.guide("LJ").id, visit.id)
    member_packet = red_packets.send_as_member(ps.consumer(), ps.brand, ps.plan(code="M2"))
    other = red_packets.claim_packet(ps.consumer(), ps.brand, member_packet.code)
    assert count(ClaimSource, ClaimSource.coupon_id == other.id) == 0  # a member's: no guide


def test_a_claimed_coupon_takes_its_amount_off_at_checkout_and_shows_in_the_figures(ps):
    plan = ps.plan()
    packet = ps.send(plan, "JA")
    consumer = ps.consumer()
    coupon = red_packets.claim_packet(consumer, ps.brand, packet.code)
    usable = coupons.usable(ps.member_of(consumer), ps.brand.id, "official")
    assert [u.id for u in usable] == [coupon.id]
    order = ps.buy(consumer, (coupon.id,))
    assert (order.discount_cents, order.total_cents) == (1000, 18900)
    db.session.refresh(coupon)
    assert (coupon.status, coupon.order_id, coupon.discount_cents) == ("used", order.id, 1000)
    figures = red_packets.plan_figures([plan])[plan.id]
    assert (figures.packets, figures.claimed, figures.used, figures.discount_cents) == (
        1,
        1,
        1,
        1000,
    )
    lines = red_packets.sender_lines(plan)
    assert [(line.kind, line.code, line.figures.claimed, line.figures.used) for line in lines] == [
        ("guide", ps.guide("JA").code, 1, 1)
    ]
    assert count(ConsumerOrder, ConsumerOrder.id == order.id) == 1


def test_the_sender_is_shown_by_first_name_and_initial_only():
    assert red_packets.short_name("Han Meimei") == "Han M."
    assert red_packets.short_name("Guide JA") == "Guide J."
    assert red_packets.short_name("王小明") == "王**"
    assert red_packets.short_name("Lei") == "Lei"
    assert red_packets.short_name("  ") == ""


def test_sent_packets_list_a_senders_own_newest_first_with_what_was_claimed(ps):
    plan = ps.plan()
    first, second = ps.send(plan), ps.send(plan)
    red_packets.claim_packet(ps.consumer(), ps.brand, first.code)
    listed = red_packets.sent_packets(guide_id=ps.guide("JA").id, brand_id=ps.brand.id)
    assert [(p.code, p.claimed, p.coupon_cents) for p in listed] == [
        (second.code, 0, 1000),
        (first.code, 1, 1000),
    ]
    assert red_packets.sent_packets(guide_id=ps.guide("LJ").id, brand_id=ps.brand.id) == []
    assert utcnow() - listed[0].sent_at < timedelta(minutes=1)
