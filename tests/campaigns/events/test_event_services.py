"""Writing live events (portal/campaigns/events.py): HQ's checks, each a field error with
nothing written; the brand's switch; at most one offer per item; another brand's HQ and a store
find nothing."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from portal.campaigns import events
from portal.campaigns.models import EventStatus, LiveEvent, LiveEventItem
from portal.core.db import utcnow
from portal.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from tests.campaigns.events.conftest import ROOM, EventShop
from tests.support.campaigns import count  # noqa: F401 - the tests use it
from tests.support.services import actor_for


def event_input(**changes) -> events.EventInput:
    starts = utcnow() + timedelta(hours=1)
    values = {
        "code": "SPRING",
        "name": "Spring live",
        "starts_at": starts,
        "ends_at": starts + timedelta(hours=2),
        "room_url": ROOM,
        "schedule": [
            events.ScheduleLine(starts + timedelta(minutes=30), "New coats"),
            events.ScheduleLine(starts, "Opening"),
        ],
    }
    values.update(changes)
    return events.EventInput(**values)


def test_an_event_is_drafted_with_its_schedule_in_time_order(es: EventShop):
    event = events.create_event(es.hq, es.brand, event_input(code="spring"))
    assert (event.code, event.status, event.room_url) == ("SPRING", EventStatus.DRAFT, ROOM)
    assert [line.title for line in events.schedule_of(event)] == ["Opening", "New coats"]


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "ftp://live.example.com/room",
        "live.example.com/room",
        "https://",
        "https://live.example.com/a room",
    ],
)
def test_a_room_address_that_is_not_http_is_a_field_error_and_nothing_is_written(
    es: EventShop, url: str
):
    with pytest.raises(ValidationFailed) as refused:
        events.create_event(es.hq, es.brand, event_input(room_url=url))
    assert list(refused.value.fields) == ["room_url"]
    assert count(LiveEvent) == 0


def test_a_schedule_line_outside_the_window_is_a_field_error_naming_the_line(es: EventShop):
    starts = utcnow() + timedelta(hours=1)
    late = [
        events.ScheduleLine(starts, "Opening"),
        events.ScheduleLine(starts + timedelta(hours=3), "After the end"),
    ]
    with pytest.raises(ValidationFailed) as refused:
        window = {"starts_at": starts, "ends_at": starts + timedelta(hours=2)}
        events.create_event(es.hq, es.brand, event_input(schedule=late, **window))
    assert set(refused.value.fields) == {"schedule"}
    assert "Line 2" in refused.value.fields["schedule"]
    assert count(LiveEvent) == 0


def test_a_window_that_ends_before_it_starts_and_a_taken_code_are_refused(es: EventShop):
    starts = utcnow() + timedelta(hours=1)
    with pytest.raises(ValidationFailed) as refused:
        events.create_event(
            es.hq, es.brand, event_input(starts_at=starts, ends_at=starts, schedule=[])
        )
    assert "ends_at" in refused.value.fields
    events.create_event(es.hq, es.brand, event_input())
    with pytest.raises(ValidationFailed) as again:
        events.create_event(es.hq, es.brand, event_input())
    assert list(again.value.fields) == ["code"]
    assert count(LiveEvent) == 1


def test_nothing_is_written_while_the_brands_terms_keep_live_events_off(es: EventShop):
    event = es.event(publish=False)
    es.set_campaigns(live_events=False)
    with pytest.raises(events.LiveEventsOff) as refused:
        events.create_event(es.hq, es.brand, event_input(code="OTHER"))
    assert "campaigns.live_events" in refused.value.message
    with pytest.raises(events.LiveEventsOff):
        events.add_item(es.hq, event, events.ItemInput("TEE", event_price_cents=12_900))
    with pytest.raises(events.LiveEventsOff):
        events.publish_event(es.hq, event)
    assert count(LiveEvent) == 1 and count(LiveEventItem) == 0
    assert event.status == EventStatus.DRAFT


def test_an_event_price_below_the_floor_is_refused_naming_the_floor(es: EventShop):
    event = es.event(publish=False)
    with pytest.raises(ValidationFailed) as refused:
        events.add_item(es.hq, event, events.ItemInput("TEE", event_price_cents=11_900))
    assert list(refused.value.fields) == ["event_price"]
    assert "120.00" in refused.value.fields["event_price"]
    with pytest.raises(ValidationFailed) as zero:
        events.add_item(es.hq, event, events.ItemInput("TEE", event_price_cents=0))
    assert list(zero.value.fields) == ["event_price"]
    with pytest.raises(ValidationFailed) as useless:  # not below the shop's own price
        events.add_item(es.hq, event, events.ItemInput("TEE", event_price_cents=19_900))
    assert "event_price" in useless.value.fields
    assert count(LiveEventItem) == 0
    item = events.add_item(es.hq, event, events.ItemInput("TEE", event_price_cents=12_000))
    assert item.event_price_cents == 12_000  # the floor itself is allowed


def test_an_item_takes_at_most_one_offer(es: EventShop):
    event = es.event(publish=False)
    coupon = es.coupon()
    es.group_buy("TEE")
    with pytest.raises(ValidationFailed) as refused:
        events.add_item(
            es.hq,
            event,
            events.ItemInput("TEE", event_price_cents=12_900, coupon_code=coupon.code),
        )
    assert set(refused.value.fields) == {"event_price", "coupon_code"}
    with pytest.raises(ValidationFailed) as three:
        events.add_item(
            es.hq,
            event,
            events.ItemInput(
                "TEE", event_price_cents=12_900, coupon_code=coupon.code, group_buy_code="GB1"
            ),
        )
    assert set(three.value.fields) == {"event_price", "coupon_code", "group_buy_code"}
    assert count(LiveEventItem) == 0


def test_coupons_and_group_buys_must_be_the_brands_own_and_fit_the_item(es: EventShop):
    event = es.event(publish=False)
    issued_only = es.coupon(distribution="issue")
    es.group_buy("POLO")
    with pytest.raises(ValidationFailed) as coupon:
        events.add_item(es.hq, event, events.ItemInput("TEE", coupon_code=issued_only.code))
    assert list(coupon.value.fields) == ["coupon_code"]
    with pytest.raises(ValidationFailed) as group:
        events.add_item(es.hq, event, events.ItemInput("TEE", group_buy_code="GB1"))
    assert list(group.value.fields) == ["group_buy_code"]
    with pytest.raises(ValidationFailed) as product:
        events.add_item(es.hq, event, events.ItemInput("NOPE", event_price_cents=100))
    assert "product_code" in product.value.fields
    claimable = es.coupon(name="Ten off", amount="10")
    events.add_item(es.hq, event, events.ItemInput("TEE", coupon_code=claimable.code))
    events.add_item(es.hq, event, events.ItemInput("POLO", group_buy_code="gb1"))
    events.add_item(es.hq, event, events.ItemInput("RUN"))  # shown, no offer
    with pytest.raises(ValidationFailed) as twice:
        events.add_item(es.hq, event, events.ItemInput("TEE", event_price_cents=12_900))
    assert list(twice.value.fields) == ["product_code"]
    assert [i.product.code for i in event.items] == ["TEE", "POLO", "RUN"]


def test_publishing_needs_the_room_and_cancelling_takes_the_event_down(es: EventShop):
    event = es.event(room_url="", publish=False)
    with pytest.raises(ValidationFailed) as refused:
        events.publish_event(es.hq, event)
    assert list(refused.value.fields) == ["room_url"]
    assert event.status == EventStatus.DRAFT
    window = {"starts_at": event.starts_at, "ends_at": event.ends_at}
    events.update_event(
        es.hq, event, event_input(code="ignored", name="Renamed", schedule=[], **window)
    )
    assert (event.code, event.name, event.room_url) == ("LIVE1", "Renamed", ROOM)
    events.publish_event(es.hq, event)
    assert event.status == EventStatus.PUBLISHED and event.published_at is not None
    with pytest.raises(Conflict):
        events.publish_event(es.hq, event)
    events.cancel_event(es.hq, event)
    assert event.status == EventStatus.CANCELLED
    with pytest.raises(Conflict):
        events.update_event(es.hq, event, event_input(schedule=[]))


def test_another_brands_hq_and_a_store_find_no_event(app, es: EventShop):
    event = es.event(publish=False)
    other_hq = actor_for("hq@demo.test")  # ACME's HQ
    with pytest.raises(NotFound):
        events.get_event(other_hq, event.code)
    with pytest.raises(NotFound):
        events.create_event(other_hq, es.brand, event_input(code="THEIRS"))
    with pytest.raises(NotFound):
        events.publish_event(other_hq, event)
    store = es.gs.shop.net.actor("S1")
    with pytest.raises(NotFound):
        events.get_event(store, event.code)
    with pytest.raises(NotFound):
        events.cancel_event(store, event)
    without = dataclasses.replace(es.hq, permissions=frozenset())  # HQ without the permission
    with pytest.raises(PermissionDenied):
        events.create_event(without, es.brand, event_input())
    assert event.status == EventStatus.DRAFT and count(LiveEvent) == 1
