"""A paid delivery order its location has not accepted within ROUTE_ACCEPT_HOURS moves to the next
location by the routing rule (stores at known points, tests/storefront/test_routing.py), its
units with it; with no location left it is refunded in full. Pickups never move."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.core.access import Actor
from portal.core.db import utcnow
from portal.extensions import db
from portal.inventory.ledger import MoveLine, apply_moves
from portal.inventory.models import MoveReason, StockLevel, StockMove
from portal.storefront import orders, rerouting, stock
from portal.storefront.models import ConsumerOrderRoute, Fulfilment
from portal.storefront.payments.models import PaymentRefund
from tests.storefront.test_routing import NANJING_WEST_RD, build_geo_brand
from tests.support.consumer_orders import place

HOURS = 4


@pytest.fixture
def geo(app):
    app.config["ROUTE_ACCEPT_HOURS"] = HOURS
    return build_geo_brand()


def delivery(geo, store: str, qty: int = 1, *, hours_ago: float = HOURS + 1, keep: int = 0):
    return place(
        geo.brand,
        geo.locations[store],
        {geo.v1.id: qty},
        fulfilment=Fulfilment.DELIVERY,
        point=NANJING_WEST_RD,
        keep=keep,
        paid_at=utcnow() - timedelta(hours=hours_ago),
    )


def reserved(geo, store: str) -> int:
    return db.session.execute(
        select(StockLevel.reserved).where(
            StockLevel.location_id == geo.locations[store].id,
            StockLevel.variant_id == geo.v1.id,
            StockLevel.grade == "A",
        )
    ).scalar_one()


def routes(geo, order) -> list[tuple[str, str]]:
    rows = db.session.execute(
        select(ConsumerOrderRoute)
        .where(ConsumerOrderRoute.order_id == order.id)
        .order_by(ConsumerOrderRoute.id)
    ).scalars()
    return [(geo.name_of(r.location_id), r.outcome) for r in rows]


def test_checkout_offers_a_delivery_order_to_its_location_with_the_distance(geo):
    order = delivery(geo, "Jing'an Temple", keep=2, hours_ago=0)
    (route,) = db.session.execute(
        select(ConsumerOrderRoute).where(ConsumerOrderRoute.order_id == order.id)
    ).scalars()
    assert (geo.name_of(route.location_id), route.outcome) == ("Jing'an Temple", "offered")
    assert route.distance_km == pytest.approx(1.2, abs=0.1)


def test_an_order_not_accepted_in_time_moves_to_the_next_nearest_store_with_its_units(geo):
    order = delivery(geo, "Jing'an Temple", keep=2)
    assert reserved(geo, "Jing'an Temple") == 1

    (outcome,) = rerouting.reroute_unaccepted()

    assert outcome.moved_to == geo.locations["Lujiazui"].id
    assert geo.name_of(order.location_id) == "Lujiazui"
    assert order.status == "paid"
    assert (reserved(geo, "Jing'an Temple"), reserved(geo, "Lujiazui")) == (0, 1)
    assert routes(geo, order) == [("Jing'an Temple", "timed_out"), ("Lujiazui", "offered")]
    moves = db.session.execute(
        select(StockMove.reason, StockMove.location_id)
        .where(StockMove.reference == order.number)
        .order_by(StockMove.id)
    ).all()
    assert [(r, geo.name_of(loc)) for r, loc in moves] == [
        ("reserve", "Jing'an Temple"),
        ("reserve", "Lujiazui"),
        ("release", "Jing'an Temple"),
    ]
    event = order.events[-1]
    assert (event.kind, event.from_status, event.to_status) == ("reroute", "paid", "paid")
    assert event.details["to_location"] == geo.locations["Lujiazui"].id


def test_an_order_still_within_its_hours_stays(geo):
    order = delivery(geo, "Jing'an Temple", keep=2, hours_ago=HOURS - 0.5)
    assert rerouting.reroute_unaccepted() == []
    assert geo.name_of(order.location_id) == "Jing'an Temple"


def test_the_clock_restarts_at_each_offer_and_tried_locations_are_skipped(geo):
    order = delivery(geo, "Jing'an Temple", keep=2)
    rerouting.reroute_unaccepted()
    assert rerouting.reroute_unaccepted(now=utcnow() + timedelta(hours=HOURS - 1)) == []

    (outcome,) = rerouting.reroute_unaccepted(now=utcnow() + timedelta(hours=HOURS + 0.1))

    assert geo.name_of(outcome.moved_to) not in ("Jing'an Temple", "Lujiazui")
    assert [name for name, _ in routes(geo, order)][:2] == ["Jing'an Temple", "Lujiazui"]
    assert [outcome for _, outcome in routes(geo, order)] == ["timed_out", "timed_out", "offered"]
    assert reserved(geo, "Lujiazui") == 0


def test_the_next_store_keeps_its_safety_stock(geo):
    # From Lujiazui the nearest other store is Jing'an, which holds 3 but keeps 2 back.
    order = delivery(geo, "Lujiazui", qty=2)
    (outcome,) = rerouting.reroute_unaccepted()
    assert geo.name_of(outcome.moved_to) != "Jing'an Temple"
    assert reserved(geo, "Jing'an Temple") == 0
    assert reserved(geo, geo.name_of(order.location_id)) == 2


def test_a_store_that_loses_the_units_meanwhile_is_skipped(geo, monkeypatch):
    order = delivery(geo, "Jing'an Temple", keep=2)
    real = rerouting.routing.route_delivery

    def route_then_sell_out(*args, **kwargs):
        plan = real(*args, **kwargs)
        if geo.name_of(plan.location_id) == "Lujiazui":
            # A walk-in sale takes Lujiazui's units between the read and the reservation.
            apply_moves(
                Actor.system(),
                [MoveLine(plan.location_id, geo.v1.id, on_hand_delta=-5)],
                reason=MoveReason.SALE,
            )
        return plan

    monkeypatch.setattr(rerouting.routing, "route_delivery", route_then_sell_out)
    (outcome,) = rerouting.reroute_unaccepted()
    assert geo.name_of(outcome.moved_to) not in ("Jing'an Temple", "Lujiazui")
    assert reserved(geo, geo.name_of(order.location_id)) == 1
    assert reserved(geo, "Lujiazui") == 0


def test_with_no_location_left_the_order_is_refunded_in_full_and_its_units_go_back(geo):
    stock.set_online_location(Actor.system(), geo.brand, geo.locations["warehouse"], enabled=False)
    order = delivery(geo, "Lujiazui", qty=5)

    (outcome,) = rerouting.reroute_unaccepted()

    assert outcome.moved_to is None
    assert order.status == "refunded"
    assert order.cancel_reason == rerouting.NO_LOCATION_LEFT
    assert reserved(geo, "Lujiazui") == 0
    assert routes(geo, order) == [("Lujiazui", "timed_out")]
    refund = db.session.execute(
        select(PaymentRefund).where(PaymentRefund.payment_id == order.payment_id)
    ).scalar_one()
    assert refund.amount_cents == order.total_cents


def test_a_pickup_order_is_never_moved(geo):
    order = place(
        geo.brand,
        geo.locations["Jing'an Temple"],
        {geo.v1.id: 1},
        keep=2,
        paid_at=utcnow() - timedelta(hours=HOURS * 10),
    )
    assert rerouting.reroute_unaccepted() == []
    assert (geo.name_of(order.location_id), order.status) == ("Jing'an Temple", "paid")


def test_an_accepted_order_stays_and_its_offer_is_marked_accepted(geo):
    order = delivery(geo, "Jing'an Temple", keep=2)
    orders.accept(Actor.system(), order)
    assert routes(geo, order) == [("Jing'an Temple", "accepted")]
    assert rerouting.reroute_unaccepted(now=utcnow() + timedelta(hours=HOURS * 10)) == []
    assert order.status == "preparing"


def test_an_unpaid_order_is_not_rerouted(geo):
    order = place(
        geo.brand,
        geo.locations["Jing'an Temple"],
        {geo.v1.id: 1},
        fulfilment=Fulfilment.DELIVERY,
        point=NANJING_WEST_RD,
        keep=2,
        paid=False,
    )
    assert rerouting.reroute_unaccepted(now=utcnow() + timedelta(hours=HOURS * 10)) == []
    assert order.status == "awaiting_payment"
