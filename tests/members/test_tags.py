"""Member tags (portal/members/tags.py) on both backends: the automatic ones computed from the data
by the nightly refresh (store of registration, channel, level, first order's storefront and
month, recency, favourite category), kept in step as the data changes; HQ's own tags added and
removed by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.core.db import utcnow
from portal.core.errors import Conflict, NotFound, ValidationFailed
from portal.extensions import db
from portal.members import level_jobs, levels, membership, tags
from portal.members.models import JoinChannel
from portal.members.tag_models import MemberTag, Tag, TagKind
from portal.storefront.models import Consumer, Tier
from tests.members.test_levels import member_shop, spend
from tests.support.consumer_orders import place
from tests.support.retail import RetailShop


@pytest.fixture
def shop(app) -> RetailShop:
    return member_shop("TG")


def held(consumer: Consumer) -> set[str]:
    """The member's tags as HQ reads them."""
    member = membership.member_of(consumer)
    assert member is not None
    brand_id = consumer.brand_id
    return {tags.label(t) for t in tags.tags_of(member, brand_id)}


def program(shop: RetailShop):
    return membership.program_of(shop.brand)


def buy(shop: RetailShop, consumer: Consumer, sku: str, qty: int, *, days_ago: int, tier=None):
    order = place(
        shop.brand,
        shop.locations["warehouse"],
        {shop.variant_id(sku): qty},
        consumer=consumer,
        unit_cents=10_000,
        paid_at=utcnow() - timedelta(days=days_ago),
    )
    order.member_id = consumer.member_id
    if tier:
        order.tier = tier
    db.session.flush()
    return order


def test_the_refresh_tags_members_from_their_data(shop):
    online = shop.consumer(member=False)
    membership.join(online, location_id=shop.locations["JA"].id)
    at_store = shop.consumer(member=False)
    membership.join(at_store, channel=JoinChannel.STORE, location_id=shop.locations["LJ"].id)
    idle = shop.consumer()
    first = buy(shop, online, "TEE-BLK-M", 1, days_ago=40, tier=Tier.OUTLET)
    buy(shop, online, "RUN-BLK-42", 2, days_ago=10)
    buy(shop, at_store, "TEE-BLK-L", 1, days_ago=200)
    spend(shop, at_store, 60_000, days_ago=300)
    levels.recount(membership.member_of(at_store))

    result = tags.refresh_auto_tags(program(shop))

    month = first.paid_at.strftime("%Y-%m")
    assert held(online) == {
        "Registered at Jing'an",
        "Joined online",
        "Level: Basic",
        "First order in the outlet",
        f"First order in {month}",
        "Bought in the last 30 days",
        "Bought in the last 90 days",
        "Bought in the last 365 days",
        "Favourite category: Shoes",  # two running shoes against one tee
    }
    assert held(at_store) >= {
        "Registered at Lujiazui",
        "Joined at a store",
        "Level: Silver",
        "First order in the official store",
        "Bought in the last 365 days",
        "Favourite category: Tops",
    }
    assert "Bought in the last 90 days" not in held(at_store)
    assert held(idle) == {"Joined online", "Level: Basic"}
    assert result["added"] == len(held(online)) + len(held(at_store)) + 2 + result["removed"]
    # Nothing changed: nothing to do.
    assert tags.refresh_auto_tags(program(shop)) == {"added": 0, "removed": 0}


def test_tags_follow_the_data_as_it_changes(shop):
    consumer = shop.consumer()
    buy(shop, consumer, "TEE-BLK-M", 1, days_ago=20)
    tags.refresh_auto_tags(program(shop))
    assert "Bought in the last 30 days" in held(consumer)
    later = utcnow() + timedelta(days=20)  # the purchase is now 40 days old
    spend(shop, consumer, 100_000, days_ago=45)  # and a big one before it: Gold
    levels.recount(membership.member_of(consumer))
    result = tags.refresh_auto_tags(program(shop), now=later)
    now_held = held(consumer)
    assert "Bought in the last 30 days" not in now_held
    assert {"Bought in the last 90 days", "Level: Gold"} <= now_held
    assert "Level: Basic" not in now_held
    assert result["removed"] == 2  # the 30 days and Basic went


def test_the_nightly_job_refreshes_every_programme(shop):
    consumer = shop.consumer()
    buy(shop, consumer, "TEE-BLK-M", 1, days_ago=5)
    assert level_jobs.refresh_member_tags()["added"] >= 5
    assert "Bought in the last 30 days" in held(consumer)


def test_an_erased_member_holds_no_tags(shop):
    consumer = shop.consumer()
    tags.refresh_auto_tags(program(shop))
    member = membership.member_of(consumer)
    membership.erase_member(member)
    tags.refresh_auto_tags(program(shop))
    left = db.session.execute(
        select(MemberTag.tag_id).where(MemberTag.member_id == member.id)
    ).all()
    assert left == []


# -- HQ's own tags ---------------------------------------------------------------------------------


def test_hq_makes_tags_and_adds_them_to_members_by_hand(shop):
    hq = shop.net.hq
    consumer = shop.consumer()
    member = membership.member_of(consumer)
    vip = tags.create_tag(hq, shop.brand, program(shop), "  VIP   guests ")
    assert vip.name == "VIP guests" and vip.kind == TagKind.MANUAL
    with pytest.raises(ValidationFailed) as twice:
        tags.create_tag(hq, shop.brand, program(shop), "vip GUESTS")
    assert "name" in twice.value.fields
    with pytest.raises(ValidationFailed):
        tags.create_tag(hq, shop.brand, program(shop), "x" * 61)
    assert tags.add_to_member(hq, shop.brand, member, vip) is True
    assert tags.add_to_member(hq, shop.brand, member, vip) is False
    assert "VIP guests" in held(consumer)
    tags.refresh_auto_tags(program(shop))  # the refresh leaves HQ's own tags alone
    assert "VIP guests" in held(consumer)
    assert tags.tag_counts([vip.id]) == {vip.id: 1}
    assert tags.remove_from_member(hq, shop.brand, member, vip) is True
    assert "VIP guests" not in held(consumer)
    tags.delete_tag(hq, shop.brand, vip)
    assert db.session.execute(select(Tag).where(Tag.id == vip.id)).first() is None


def test_automatic_tags_are_not_added_or_removed_by_hand(shop):
    consumer = shop.consumer()
    tags.refresh_auto_tags(program(shop))
    member = membership.member_of(consumer)
    auto = tags.tags_of(member, shop.brand.id)[0]
    with pytest.raises(ValidationFailed):
        tags.add_to_member(shop.net.hq, shop.brand, member, auto)
    with pytest.raises(ValidationFailed):
        tags.remove_from_member(shop.net.hq, shop.brand, member, auto)


def test_a_tag_a_segment_chooses_by_is_not_deleted(shop):
    from portal.members import segments

    vip = tags.create_tag(shop.net.hq, shop.brand, program(shop), "VIP")
    segments.save_segment(shop.net.hq, shop.brand, program(shop), name="VIPs", all_of=[vip.id])
    with pytest.raises(Conflict, match="VIPs"):
        tags.delete_tag(shop.net.hq, shop.brand, vip)


def test_another_brands_tags_are_not_found(app, shop):
    other = member_shop("TH")
    theirs = tags.create_tag(other.net.hq, other.brand, program(other), "Theirs")
    with pytest.raises(NotFound):
        tags.get_visible_tag(program(shop).id, shop.brand.id, theirs.id)
    with pytest.raises(NotFound):
        tags.create_tag(other.net.hq, shop.brand, program(shop), "Not mine")
    assert all(
        t.brand_id in (None, shop.brand.id)
        for t in tags.visible_tags(program(shop).id, shop.brand.id)
    )
