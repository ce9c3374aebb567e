"""The order's transition table: every move it has succeeds for the sides it names, every move it
does not have is refused as the API refuses it (409 `invalid_transition`), and every event kind
and problem code reads in English and in Chinese, on the timeline too."""

from __future__ import annotations

import itertools

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from portal.core.access import Actor, Role
from portal.core.errors import PermissionDenied
from portal.extensions import db
from portal.network import services as network
from portal.ordering import services
from portal.ordering.errors import OrderStateConflict
from portal.ordering.models import Order, OrderEvent, OrderStatus
from portal.ordering.transitions import (
    EVENT_LABELS,
    NEW,
    PROBLEM_LABELS,
    TABLE,
    Action,
    EventKind,
    ProblemCode,
    Side,
    create,
    expect,
    transition,
)

FROMS = (NEW, *OrderStatus)


@pytest.fixture
def order(shop) -> Order:
    """A submitted order of A1 (buyer) from HQ (supplier)."""
    placed = shop.order("A1", [("TEE-BLK-M", 2)])
    db.session.flush()
    return placed


def _actors(shop) -> dict[Side, Actor]:
    return {Side.BUYER: shop.buyer("A1"), Side.SUPPLIER: shop.hq, Side.SYSTEM: Actor.system()}


def test_the_table_is_the_only_way_an_order_moves(shop, order):
    """Walk every (from, action, to) for every side: a row of the table moves the order and
    writes its event for the sides it names; any other side is forbidden; anything else is an
    invalid transition, as the API says it today."""
    rows = {(m.from_status, m.action, m.to_status): m for m in TABLE}
    actors = _actors(shop)
    moved = refused = forbidden = 0
    for before, action, to, side in itertools.product(FROMS, Action, OrderStatus, Side):
        # a new order is built in some status before its first move (`create`) sets its own
        order.status = OrderStatus.SUBMITTED if before == NEW else before
        move_of = create if before == NEW else transition
        move = rows.get((before, action, to))
        if move is None:
            with pytest.raises(OrderStateConflict) as refusal:
                move_of(actors[side], order, action, to)
            assert (refusal.value.status, refusal.value.code) == (409, "invalid_transition")
            refused += 1
        elif side not in move.sides:
            with pytest.raises(PermissionDenied):
                move_of(actors[side], order, action, to)
            forbidden += 1
        else:
            event = move_of(actors[side], order, action, to, note="walk")
            assert order.status == to
            assert (event.kind, event.from_status, event.to_status) == (move.event, before, to)
            db.session.expunge(event)
            moved += 1
    assert moved and refused and forbidden
    db.session.rollback()


def test_every_move_not_in_the_table_is_refused_before_anything_else(order):
    actions = {(m.from_status, m.action) for m in TABLE}
    for status, action in itertools.product(OrderStatus, Action):
        order.status = status
        if (status, action) in actions:
            expect(order, action)
        else:
            with pytest.raises(OrderStateConflict, match=f"Order {order.number} is "):
                expect(order, action)
    db.session.rollback()


def test_the_table_says_who_decides_what():
    def sides(before, action):
        return {
            side for m in TABLE if (m.from_status, m.action) == (before, action) for side in m.sides
        }

    assert sides(OrderStatus.PENDING_BUYER_APPROVAL, Action.REJECT) == {Side.BUYER, Side.SYSTEM}
    assert sides(OrderStatus.CONFIRMED, Action.REJECT) == {Side.SUPPLIER, Side.SYSTEM}
    assert sides(OrderStatus.AWAITING_APPROVAL, Action.APPROVE) == {Side.SUPPLIER, Side.SYSTEM}
    assert sides(OrderStatus.SHIPPED, Action.CANCEL) == set()
    assert {m.event for m in TABLE} == set(EventKind)


def test_services_refuse_with_the_same_error_as_before(shop, order):
    services.approve_order(shop.hq, order)
    with pytest.raises(OrderStateConflict) as refusal:
        services.approve_order(shop.hq, order)
    assert refusal.value.message == f"Order {order.number} is confirmed: it cannot be approved."
    assert refusal.value.extra == {"status": "confirmed"}
    services.ship_order(shop.hq, order, {"TEE-BLK-M": 2})
    with pytest.raises(OrderStateConflict, match="is shipped: it cannot be cancelled"):
        services.cancel_order(shop.buyer("A1"), order)
    kinds = db.session.execute(
        select(OrderEvent.kind).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id)
    ).scalars()
    assert list(kinds) == ["submitted", "approved", "shipped"]


@pytest.mark.parametrize("locale", ["en", "zh_Hans_CN"])
def test_every_event_kind_and_problem_code_has_a_label(app, locale):
    assert set(EVENT_LABELS) == set(EventKind)
    assert set(PROBLEM_LABELS) == set(ProblemCode)
    with app.test_request_context(), force_locale(locale):
        labels = [str(label) for label in (*EVENT_LABELS.values(), *PROBLEM_LABELS.values())]
    assert all(label.strip() for label in labels)
    if locale == "zh_Hans_CN":
        with app.test_request_context(), force_locale("en"):
            english = [str(label) for label in (*EVENT_LABELS.values(), *PROBLEM_LABELS.values())]
        assert not set(labels) & set(english), "a label reads the same in Chinese as in English"


@pytest.mark.parametrize(("language", "label"), [("en", "Pushed by HQ"), ("zh-CN", "总部铺货")])
def test_the_timeline_labels_the_push_event(shop, client, language, label):
    user = network.create_user(email="hq@po.test", name="HQ person", password="push-pages-1")
    network.add_member(Actor.system(), shop.org("HQ"), user, Role.HQ_ADMIN)
    pushed = services.push_stock(
        shop.hq, shop.net.brand, services.parse_push_rows("POA1 TEE-BLK-M 3"), as_quotas=False
    ).orders[0]
    db.session.commit()
    response = client.post("/login", data={"email": "hq@po.test", "password": "push-pages-1"})
    assert response.status_code == 302
    page = client.get(f"/orders/{pushed.number}", headers={"Accept-Language": language})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    timeline = html[html.index('data-kind="pushed"') :]
    assert f"<strong>{label}</strong>" in timeline[:300]
