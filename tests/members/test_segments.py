"""Segments (portal/members/segments.py) on both backends: members chosen by their tags (all of,
any of, none of), counted live in one query, listed for coupon issuing and read by id; bad rules
refused naming the field; another brand's segment is not found."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from portal.core.errors import NotFound, ValidationFailed
from portal.extensions import db
from portal.members import membership, segments, tags
from portal.members.models import JoinChannel
from portal.members.tag_models import Tag, TagKind
from portal.storefront.models import Consumer
from tests.members.test_levels import member_shop
from tests.members.test_tags import buy
from tests.support.retail import RetailShop


@pytest.fixture
def shop(app) -> RetailShop:
    return member_shop("SG")


def tag(shop: RetailShop, kind: TagKind, value: str) -> Tag:
    program = membership.program_of(shop.brand)
    found = next(
        (
            t
            for t in tags.visible_tags(program.id, shop.brand.id)
            if (t.kind, t.value) == (kind, value)
        ),
        None,
    )
    assert found is not None, (kind, value)
    return found


def members(consumers: list[Consumer]) -> list[int]:
    return sorted(c.member_id for c in consumers if c.member_id)


@pytest.fixture
def people(shop):
    """Five members: two bought lately (one joined at Jing'an), one long ago, two never (one
    joined at Lujiazui); tags refreshed."""
    recent_ja = shop.consumer(member=False)
    membership.join(recent_ja, location_id=shop.locations["JA"].id)
    recent = shop.consumer()
    old = shop.consumer()
    never = shop.consumer()
    never_lj = shop.consumer(member=False)
    membership.join(never_lj, channel=JoinChannel.STORE, location_id=shop.locations["LJ"].id)
    buy(shop, recent_ja, "TEE-BLK-M", 1, days_ago=3)
    buy(shop, recent, "RUN-BLK-42", 1, days_ago=50)
    buy(shop, old, "TEE-BLK-M", 1, days_ago=300)
    tags.refresh_auto_tags(membership.program_of(shop.brand))
    return {"recent_ja": recent_ja, "recent": recent, "old": old, "never": never, "lj": never_lj}


def test_all_any_and_none_of_choose_members(shop, people):
    program = membership.program_of(shop.brand)
    d90 = tag(shop, TagKind.RECENCY, "90").id
    d365 = tag(shop, TagKind.RECENCY, "365").id
    ja = tag(shop, TagKind.STORE, str(shop.locations["JA"].id)).id
    lj = tag(shop, TagKind.STORE, str(shop.locations["LJ"].id)).id
    shoes = next(t for t in tags.visible_tags(program.id, shop.brand.id) if t.name == "Shoes").id
    rule = segments.SegmentRule
    assert segments.count(program.id, rule(all_of=[d90])) == 2
    assert segments.count(program.id, rule(all_of=[d365], none_of=[d90])) == 1  # lapsed
    assert segments.count(program.id, rule(any_of=[ja, lj])) == 2
    assert segments.count(program.id, rule(all_of=[d90], none_of=[shoes])) == 1
    assert segments.count(program.id, rule(none_of=[d365])) == 2  # never bought
    lapsed = segments.save_segment(
        shop.net.hq, shop.brand, program, name="Lapsed", all_of=[d365], none_of=[d90]
    )
    assert segments.segment_member_ids(shop.brand.id, lapsed.id) == members([people["old"]])
    assert [(s.name, s.members) for s in segments.list_segments(shop.brand.id)] == [("Lapsed", 1)]


def test_a_segments_count_is_one_query(shop, people):
    program = membership.program_of(shop.brand)
    rule = segments.SegmentRule(
        all_of=[tag(shop, TagKind.RECENCY, "365").id, tag(shop, TagKind.LEVEL, "basic").id],
        any_of=[tag(shop, TagKind.CHANNEL, "online").id],
        none_of=[tag(shop, TagKind.RECENCY, "30").id],
    )
    statements: list[str] = []

    def count_statements(conn, cursor, statement, *args):
        statements.append(statement)

    engine = db.session.get_bind().engine
    event.listen(engine, "before_cursor_execute", count_statements)
    try:
        found = segments.count(program.id, rule)
    finally:
        event.remove(engine, "before_cursor_execute", count_statements)
    assert found == 2 and len(statements) == 1


def test_hq_s_own_tags_choose_members_too(shop, people):
    program = membership.program_of(shop.brand)
    vip = tags.create_tag(shop.net.hq, shop.brand, program, "VIP")
    for key in ("never", "old"):
        tags.add_to_member(shop.net.hq, shop.brand, membership.member_of(people[key]), vip)
    segment = segments.save_segment(
        shop.net.hq,
        shop.brand,
        program,
        name="VIPs never bought",
        all_of=[vip.id],
        none_of=[tag(shop, TagKind.RECENCY, "365").id],
    )
    assert segments.segment_member_ids(shop.brand.id, segment.id) == members([people["never"]])
    # Changed: any VIP.
    segments.save_segment(
        shop.net.hq, shop.brand, program, name="VIPs", all_of=[vip.id], segment=segment
    )
    assert [(s.name, s.members) for s in segments.list_segments(shop.brand.id)] == [("VIPs", 2)]


@pytest.mark.parametrize(
    ("name", "rule", "field", "says"),
    [
        ("", {"all_of": ["T"]}, "name", "A name of 1 to 80 characters."),
        ("x", {}, "all_of", "Choose at least one tag."),
        ("x", {"all_of": ["abc"]}, "all_of", "Choose tags from the list."),
        ("x", {"any_of": ["999999"]}, "any_of", "Choose tags from the list."),
        ("x", {"all_of": ["T"], "none_of": ["T"]}, "none_of", "A tag may be in one list only."),
    ],
)
def test_bad_segments_are_refused_naming_the_field(shop, people, name, rule, field, says):
    program = membership.program_of(shop.brand)
    d30 = str(tag(shop, TagKind.RECENCY, "30").id)
    rule = {k: [d30 if v == "T" else v for v in values] for k, values in rule.items()}
    with pytest.raises(ValidationFailed) as refused:
        segments.save_segment(shop.net.hq, shop.brand, program, name=name, **rule)
    assert refused.value.fields[field] == says
    assert segments.list_segments(shop.brand.id) == []


def test_names_are_unique_in_the_brand(shop, people):
    program = membership.program_of(shop.brand)
    d30 = tag(shop, TagKind.RECENCY, "30").id
    segments.save_segment(shop.net.hq, shop.brand, program, name="Recent", all_of=[d30])
    with pytest.raises(ValidationFailed) as refused:
        segments.save_segment(shop.net.hq, shop.brand, program, name="Recent", any_of=[d30])
    assert "name" in refused.value.fields


def test_another_brands_segment_and_tags_are_not_theirs(app, shop, people):
    other = member_shop("SH")
    other.consumer()
    theirs_program = membership.program_of(other.brand)
    theirs_tag = tags.create_tag(other.net.hq, other.brand, theirs_program, "Theirs")
    theirs = segments.save_segment(
        other.net.hq, other.brand, theirs_program, name="Theirs", all_of=[theirs_tag.id]
    )
    with pytest.raises(NotFound):
        segments.segment_member_ids(shop.brand.id, theirs.id)
    with pytest.raises(ValidationFailed):  # a tag of another programme is not on the list
        segments.save_segment(
            shop.net.hq,
            shop.brand,
            membership.program_of(shop.brand),
            name="x",
            all_of=[theirs_tag.id],
        )
    with pytest.raises(NotFound):  # nor may another brand's HQ write here
        segments.save_segment(
            other.net.hq,
            shop.brand,
            membership.program_of(shop.brand),
            name="x",
            all_of=[tag(shop, TagKind.RECENCY, "30").id],
        )
    segments.delete_segment(other.net.hq, other.brand, theirs)
    assert segments.list_segments(other.brand.id) == []
