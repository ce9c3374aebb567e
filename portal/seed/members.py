"""The demo membership: ACME and LUMI share one programme (ACME leads: its policy sets the levels),
the demo consumers of a brand join it (the first at a store, Wangfujing for ACME, the others
online), HQ's "VIP" tag on the first of them, the automatic tags computed, and two segments.

Get-or-create like the rest of the demo: seeding twice changes nothing. `seed_members(brand)` is
called per brand; whichever brand comes first, the group is made before anyone joins."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.core.access import Actor
from portal.extensions import db
from portal.inventory.services import default_location
from portal.members import membership, segments, tags
from portal.members.models import JoinChannel, Member
from portal.members.tag_models import Segment, Tag, TagKind
from portal.network.models import Organization
from portal.storefront.models import Consumer, ConsumerStatus

GROUP = ("ACME", "LUMI")  # the lead first
JOIN_AT_STORE = {"ACME": "S1"}  # the store of registration of each brand's first demo consumer
VIP = "VIP"


def _org(code: str) -> Organization | None:
    return db.session.execute(
        select(Organization).where(Organization.code == code)
    ).scalar_one_or_none()


def _group() -> int:
    """ACME and LUMI in one programme, while LUMI has no members of its own."""
    lead, other = (_org(code) for code in GROUP)
    if lead is None or other is None:
        return 0
    program = membership.program_of(lead)
    current = membership.find_program(other.id)
    if current is not None and current.id == program.id:
        return 0
    if current is not None:
        members = db.session.execute(
            select(func.count(Member.id)).where(Member.program_id == current.id)
        ).scalar_one()
        if members:
            return 0  # joined on its own before the group: merging is not supported
    membership.share_program(lead, [other])
    return 1


def seed_members(brand: Organization) -> int:
    """Create whatever of the brand's demo membership is missing; return how many things."""
    system = Actor.system()
    created = _group()
    consumers = list(
        db.session.execute(
            select(Consumer)
            .where(Consumer.brand_id == brand.id, Consumer.status == ConsumerStatus.ACTIVE)
            .order_by(Consumer.id)
        ).scalars()
    )
    store = _org(JOIN_AT_STORE.get(brand.code, ""))
    for i, consumer in enumerate(consumers):
        if membership.member_of(consumer) is not None:
            continue
        if i == 0 and store is not None:
            membership.join(
                consumer, channel=JoinChannel.STORE, location_id=default_location(store).id
            )
        else:
            membership.join(consumer)
        created += 1
    if not consumers:
        db.session.flush()
        return created
    program = membership.program_of(brand)
    vip = db.session.execute(
        select(Tag).where(Tag.program_id == program.id, Tag.key == f"manual:{brand.id}:vip")
    ).scalar_one_or_none()
    if vip is None:
        vip = tags.create_tag(system, brand, program, VIP)
        created += 1
    first = membership.member_of(consumers[0])
    if first is not None and tags.add_to_member(system, brand, first, vip):
        created += 1
    tags.refresh_auto_tags(program)
    online = db.session.execute(
        select(Tag.id).where(
            Tag.program_id == program.id, Tag.kind == TagKind.CHANNEL, Tag.value == "online"
        )
    ).scalar_one_or_none()
    wanted = {"VIP members": {"all_of": [vip.id]}}
    if online is not None:
        wanted["Joined online, not VIP"] = {"all_of": [online], "none_of": [vip.id]}
    for name, rule in wanted.items():
        known = db.session.execute(
            select(Segment.id).where(Segment.brand_id == brand.id, Segment.name == name)
        ).first()
        if known is None:
            segments.save_segment(
                system,
                brand,
                program,
                name=name,
                all_of=rule.get("all_of", []),
                none_of=rule.get("none_of", []),
            )
            created += 1
    db.session.flush()
    return created
