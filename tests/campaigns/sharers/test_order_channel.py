"""The order's campaign channel (portal/campaigns/sharers.py, `order_channel`): one row per
placed order, the first channel that applies (group buy, red packet, live link, sharer's link,
guide's link to a campaign thing, an event's coupon, a sharer's touch), naming the sharer who
touched it in every channel; none when nothing applies; and never a change to the guides'
attribution."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import event

from portal.campaigns import sharers
from portal.core.db import utcnow
from portal.extensions import db
from portal.guides.models import GuideVisit
from portal.storefront import checkout, hooks
from tests.campaigns.sharers.conftest import SharerShop, channel_of
from tests.guides.conftest import attribution_of

VISITOR = "browser-channel-0123456789"


@pytest.fixture
def seated(ss: SharerShop) -> Iterator[dict]:
    """A checkout step before the channel's that seats every order in a group of `offer` (as
    the group buys' own step does), while `offer` is set."""
    wanted: dict = {"offer": None}

    def take_seat(context, order):
        if wanted["offer"] is not None:
            ss.seat(wanted["offer"], order)

    at = hooks.checkout_after_place.index(sharers.order_channel)
    hooks.checkout_after_place.insert(at, take_seat)
    try:
        yield wanted
    finally:
        hooks.checkout_after_place.remove(take_seat)


def visit(ss: SharerShop, guide, consumer=None, *, target="home", ref="", days_ago=0.0, visitor=""):
    """A visit of the guide's link to target/ref, as if opened `days_ago`."""
    row = GuideVisit(
        brand_id=ss.brand.id,
        guide_id=guide.id,
        consumer_id=consumer.id if consumer is not None else None,
        visitor=visitor,
        target=target,
        ref=ref,
        opened_at=utcnow() - timedelta(days=days_ago),
    )
    db.session.add(row)
    db.session.flush()
    return row


# -- nothing applies ---------------------------------------------------------------------------


def test_an_order_no_campaign_touched_has_no_row(ss: SharerShop):
    consumer = ss.consumer()
    visit(ss, ss.guides["JA"], consumer)  # a guide's link to the shop is no campaign's
    order = ss.buy(consumer)
    assert channel_of(order) is None
    assert attribution_of(order).guide_id == ss.guides["JA"].id


def test_links_outside_the_window_count_for_no_channel(ss: SharerShop):
    consumer = ss.consumer()
    live = ss.live_event()
    visit(ss, ss.op, consumer, target="live", ref=live.code, days_ago=8)
    assert channel_of(ss.buy(consumer)) is None


# -- group buys and red packets ------------------------------------------------------------------


def test_a_seat_in_a_group_is_the_group_buy_channel_with_its_campaign(ss: SharerShop, seated):
    campaign = ss.campaign()
    seated["offer"] = ss.group_buy(campaign=campaign)
    consumer = ss.consumer()
    live = ss.live_event()
    visit(ss, ss.guides["JA"], consumer, target="live", ref=live.code)
    row = channel_of(ss.buy(consumer))
    assert (row.channel, row.campaign_id, row.sharer_id) == ("group_buy", campaign.id, None)


def test_a_sharer_who_shared_a_group_buy_is_named_on_its_order(ss: SharerShop, seated):
    offer = ss.group_buy(campaign=ss.campaign())
    seated["offer"] = offer
    consumer = ss.consumer()
    shared = visit(ss, ss.op, None, target="group_buy", ref=offer.code, visitor=VISITOR)
    row = channel_of(ss.buy(consumer, visitor=VISITOR))
    assert (row.channel, row.sharer_id, row.visit_id) == ("group_buy", ss.op.id, shared.id)


def test_a_coupon_claimed_from_a_red_packet_is_the_red_packet_channel(ss: SharerShop):
    campaign = ss.campaign()
    consumer = ss.consumer()
    coupon = ss.coupon(ss.template(), consumer)
    ss.red_packet(coupon, ss.guides["LJ"], campaign)
    live = ss.live_event()
    visit(ss, ss.op, consumer, target="live", ref=live.code)
    order = ss.buy(consumer, coupon_ids=(coupon.id,))
    assert order.discount_cents == 1_000  # the coupon was taken
    row = channel_of(order)
    assert (row.channel, row.campaign_id, row.sharer_id) == ("red_packet", campaign.id, ss.op.id)


# -- links ---------------------------------------------------------------------------------------


def test_a_guides_live_link_is_the_live_channel_of_the_events_campaign(ss: SharerShop):
    campaign = ss.campaign()
    live = ss.live_event(campaign=campaign)
    consumer = ss.consumer()
    shared = visit(ss, ss.guides["JA"], consumer, target="live", ref=live.code)
    order = ss.buy(consumer)
    row = channel_of(order)
    assert (row.channel, row.campaign_id, row.sharer_id, row.visit_id) == (
        "live",
        campaign.id,
        None,
        shared.id,
    )
    assert attribution_of(order).guide_id == ss.guides["JA"].id  # the guide's sale as usual


def test_a_sharers_live_link_is_the_live_channel_and_names_the_sharer(ss: SharerShop):
    campaign = ss.campaign()
    live = ss.live_event(campaign=campaign)
    consumer = ss.consumer()
    shared = visit(ss, ss.op, None, target="live", ref=live.code, visitor=VISITOR)
    order = ss.buy(consumer, visitor=VISITOR)  # opened before signing in, on this browser
    row = channel_of(order)
    assert (row.channel, row.campaign_id, row.sharer_id, row.visit_id) == (
        "live",
        campaign.id,
        ss.op.id,
        shared.id,
    )
    assert attribution_of(order) is None


def test_a_sharers_link_to_anything_else_is_the_sharer_channel(ss: SharerShop):
    consumer = ss.consumer()
    shared = visit(ss, ss.op, consumer, target="product", ref="TEE")
    row = channel_of(ss.buy(consumer))
    assert (row.channel, row.campaign_id, row.sharer_id, row.visit_id) == (
        "sharer",
        None,
        ss.op.id,
        shared.id,
    )


def test_a_sharers_link_to_a_group_buy_carries_its_campaign(ss: SharerShop):
    campaign = ss.campaign()
    offer = ss.group_buy(campaign=campaign)
    consumer = ss.consumer()
    visit(ss, ss.op, consumer, target="group_buy", ref=offer.code)
    row = channel_of(ss.buy(consumer))  # bought at the usual price: no seat
    assert (row.channel, row.campaign_id, row.sharer_id) == ("sharer", campaign.id, ss.op.id)


def test_a_guides_link_to_a_group_buy_is_the_guide_channel(ss: SharerShop):
    campaign = ss.campaign()
    offer = ss.group_buy(campaign=campaign)
    consumer = ss.consumer()
    shared = visit(ss, ss.guides["LJ"], consumer, target="group_buy", ref=offer.code)
    row = channel_of(ss.buy(consumer))
    assert (row.channel, row.campaign_id, row.sharer_id, row.visit_id) == (
        "guide",
        campaign.id,
        None,
        shared.id,
    )


def test_the_newest_link_decides_and_an_older_sharers_still_names_the_sharer(ss: SharerShop):
    campaign = ss.campaign()
    live = ss.live_event(campaign=campaign)
    consumer = ss.consumer()
    shared = visit(ss, ss.op, consumer, target="product", ref="TEE", days_ago=2)
    visit(ss, ss.guides["JA"], consumer, target="live", ref=live.code, days_ago=1)
    row = channel_of(ss.buy(consumer))
    assert (row.channel, row.campaign_id, row.sharer_id, row.visit_id) == (
        "live",
        campaign.id,
        ss.op.id,
        shared.id,
    )


def test_a_sharers_share_followed_by_a_guides_plain_link_still_counts_for_the_sharer(ss):
    consumer = ss.consumer()
    shared = visit(ss, ss.op, consumer, target="product", ref="TEE", days_ago=2)
    visit(ss, ss.guides["JA"], consumer, days_ago=1)
    order = ss.buy(consumer)
    row = channel_of(order)
    assert (row.channel, row.sharer_id, row.visit_id) == ("sharer", ss.op.id, shared.id)
    assert attribution_of(order).guide_id == ss.guides["JA"].id


# -- coupons and codes ---------------------------------------------------------------------------


def test_an_events_coupon_is_the_coupon_channel_of_the_events_campaign(ss: SharerShop):
    campaign = ss.campaign()
    template = ss.template()
    ss.event_coupon(ss.live_event(campaign=campaign), template)
    consumer = ss.consumer()
    coupon = ss.coupon(template, consumer)
    row = channel_of(ss.buy(consumer, coupon_ids=(coupon.id,)))
    assert (row.channel, row.campaign_id, row.sharer_id, row.visit_id) == (
        "coupon",
        campaign.id,
        None,
        None,
    )


def test_a_coupon_of_no_event_is_no_channel(ss: SharerShop):
    consumer = ss.consumer()
    coupon = ss.coupon(ss.template(), consumer)
    assert channel_of(ss.buy(consumer, coupon_ids=(coupon.id,))) is None


def test_a_sharers_typed_code_names_them_beside_another_sharers_link(ss: SharerShop):
    stylist, _user = ss.add_sharer("stylist")
    consumer = ss.consumer()
    visit(ss, stylist, consumer, target="product", ref="TEE")
    row = channel_of(ss.buy(consumer, guide_code=ss.op.code))
    # The code is the sharer's touch; the visit is left out, being another sharer's.
    assert (row.channel, row.sharer_id, row.visit_id) == ("sharer", ss.op.id, None)


def test_the_channel_takes_a_few_queries_whatever_the_order(ss: SharerShop):
    """No query per line: an order of three lines asks what an order of one asks."""
    consumer = ss.consumer()
    visit(ss, ss.op, consumer, target="product", ref="TEE")
    for sku in ("TEE-BLK-L", "POLO-WHT-M"):
        ss.shop.receive("LJ", sku, 5)
    at = hooks.checkout_after_place.index(sharers.order_channel)
    hooks.checkout_after_place.remove(sharers.order_channel)
    try:
        placed = [
            checkout.checkout(
                consumer,
                ss.brand,
                "official",
                [checkout.CheckoutLine(ss.shop.variant_id(sku), 1) for sku in skus],
                fulfilment="pickup",
                checkout_token=secrets.token_hex(8),
                pickup_location_id=ss.shop.locations["LJ"].id,
            )
            for skus in (("TEE-BLK-M",), ("TEE-BLK-M", "TEE-BLK-L", "POLO-WHT-M"))
        ]
    finally:
        hooks.checkout_after_place.insert(at, sharers.order_channel)
    counts = []
    for order in placed:
        context = hooks.CheckoutContext(
            consumer=consumer,
            brand=ss.brand,
            tier="official",
            extras=hooks.CheckoutExtras(),
            wanted={},
            where={},
            prices={},
        )
        statements: list[str] = []
        connection = db.session.connection()

        def seen(_conn, _cursor, statement, *_args, into=statements) -> None:
            into.append(statement)

        event.listen(connection, "before_cursor_execute", seen)
        try:
            row = sharers.order_channel(context, order)
        finally:
            event.remove(connection, "before_cursor_execute", seen)
        assert row is not None and row.sharer_id == ss.op.id
        counts.append(len(statements))
    assert counts[0] == counts[1] <= 8
