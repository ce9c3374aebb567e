"""The demo membership (portal/seed/members.py), on both backends: ACME and LUMI share one
programme whichever brand is seeded first, ACME's demo consumers join (the first at Wangfujing),
a VIP tag and two segments; seeding again changes nothing."""

from __future__ import annotations

from sqlalchemy import select

from portal.inventory.services import default_location
from portal.members import membership, segments
from portal.members.models import JoinChannel
from portal.seed.members import seed_members
from portal.storefront.models import Consumer
from tests.support.services import org


def test_the_demo_membership_is_seeded_once(app):
    from portal.extensions import db

    acme, lumi = org("ACME"), org("LUMI")
    seed_members(lumi)  # LUMI first: the group is made all the same (the demo may have it)
    seed_members(acme)
    program = membership.find_program(acme.id)
    assert program is not None and program.lead_brand_id == acme.id
    assert membership.find_program(lumi.id).id == program.id
    consumers = list(
        db.session.execute(
            select(Consumer).where(Consumer.brand_id == acme.id).order_by(Consumer.id)
        ).scalars()
    )
    members = [membership.member_of(c) for c in consumers]
    assert all(m is not None for m in members)
    assert members[0].joined_channel == JoinChannel.STORE
    assert members[0].joined_location_id == default_location(org("S1")).id
    found = {s.name: s.members for s in segments.list_segments(acme.id)}
    assert found["VIP members"] == 1
    assert found["Joined online, not VIP"] == len(consumers) - 1
    assert seed_members(acme) == 0 and seed_members(lumi) == 0
