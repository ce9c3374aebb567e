"""Event prices (portal/campaigns/events.py, a storefront price adjuster): while a published
event runs, its featured products cost the event price on the official shop's listing, product
page, cart and checkout alike; before, after, for a draft, a cancelled event or with live
events switched off, the usual price; never below the floor."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event as sa_event

from portal.campaigns import events
from portal.extensions import db
from portal.storefront import catalog
from portal.storefront.models import Tier
from tests.campaigns.events.conftest import EventShop, unit_prices
from tests.storefront.test_cart_views import add, page, sign_in

TEE_AT_129 = (events.ItemInput("TEE", event_price_cents=12_900),)


def official(es: EventShop, *skus: str) -> list[int]:
    ids = [es.gs.shop.variant_id(sku) for sku in skus]
    prices = catalog.price_variants(es.brand.id, Tier.OFFICIAL, ids)
    return [prices[i].cents for i in ids]


def test_the_event_price_shows_on_the_listing_product_page_and_cart_while_it_runs(client, es):
    es.event(items=TEE_AT_129)
    db.session.commit()
    listing = page(client.get("/shop/EV/"))
    assert "129.00" in listing and "199.00" not in listing  # TEE's lowest price
    product = page(client.get("/shop/EV/p/TEE"))
    assert product.count("129.00") == 3  # the headline and both sizes (M 199.00, L 150.00)
    assert "199.00" not in product and "150.00" not in product
    sign_in(client, es.gs.shop, es.gs.consumer())
    add(client, es.gs.shop, "TEE-BLK-M", 2)
    assert "258.00" in page(client.get("/shop/EV/cart"))
    # The outlet and POLO keep their prices.
    assert "299.00" in page(client.get("/shop/EV/p/POLO"))


def test_checkout_charges_the_event_price_only_while_the_event_runs(es):
    event = es.event(starts_in=timedelta(hours=1), items=TEE_AT_129)
    consumer = es.gs.consumer()
    assert unit_prices(es.place(consumer)) == [19_900]  # not started yet
    es.move(event, starts_in=timedelta(minutes=-5), lasts=timedelta(hours=1))
    order = es.place(consumer)
    assert unit_prices(order) == [12_900] and order.goods_cents == 12_900
    es.move(event, starts_in=timedelta(hours=-2), lasts=timedelta(hours=1))
    assert unit_prices(es.place(consumer)) == [19_900]  # over


def test_drafts_cancelled_events_and_a_brand_that_turned_events_off_change_no_price(es):
    draft = es.event("DRAFT", items=TEE_AT_129, publish=False)
    assert official(es, "TEE-BLK-M") == [19_900]
    events.publish_event(es.hq, draft)
    assert official(es, "TEE-BLK-M") == [12_900]
    es.set_campaigns(live_events=False)
    assert official(es, "TEE-BLK-M") == [19_900]
    es.set_campaigns(live_events=True)
    events.cancel_event(es.hq, draft)
    assert official(es, "TEE-BLK-M") == [19_900]


def test_an_event_price_is_never_below_the_floor(es):
    es.event(items=(events.ItemInput("TEE", event_price_cents=14_000),))
    # M 199.00 -> 140.00; L already 150.00 -> 140.00.
    assert official(es, "TEE-BLK-M", "TEE-BLK-L") == [14_000, 14_000]
    es.set_campaigns(floor="product TEE 145")  # HQ raises the floor during the event
    assert official(es, "TEE-BLK-M", "TEE-BLK-L") == [14_500, 14_500]
    assert unit_prices(es.place(es.gs.consumer(), "TEE-BLK-L")) == [14_500]


def test_an_event_price_above_a_skus_own_price_leaves_that_sku_alone(es):
    es.event(items=(events.ItemInput("TEE", event_price_cents=15_500),))
    assert official(es, "TEE-BLK-M", "TEE-BLK-L") == [15_500, 15_000]


def test_of_two_running_events_the_lower_price_counts(es):
    es.event("ONE", items=TEE_AT_129)
    es.event("TWO", items=(events.ItemInput("TEE", event_price_cents=12_500),))
    assert official(es, "TEE-BLK-M") == [12_500]


@contextmanager
def statements() -> Iterator[list[str]]:
    """The SQL statements run inside the block."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(statement)

    sa_event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", record)


@pytest.mark.parametrize("running", [True, False])
def test_a_priced_page_reads_the_running_events_once(client, es, running):
    es.event(items=TEE_AT_129, publish=running)
    db.session.commit()
    for path in ("/shop/EV/", "/shop/EV/p/TEE"):
        with statements() as seen:
            assert client.get(path).status_code == 200
        assert sum("live_event_items" in s for s in seen) == 1, path
