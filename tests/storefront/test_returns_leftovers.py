"""Returns where people look for them: each request, receipt, refund and rejection on the order's
timeline (the consumer's, the store's and HQ's order pages), with the return's number and
amounts; in the consumer's data export; HQ's list of the brand's returns by status; and the
"Return items" button only while the order may be returned."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.catalog.models import Variant
from portal.core.access import Actor
from portal.extensions import db
from portal.inventory.ledger import MoveLine, apply_moves
from portal.inventory.models import MoveReason
from portal.storefront import consumer_data, orders, returns
from portal.storefront.models import ConsumerOrder
from portal.storefront.return_models import ConsumerReturn
from portal.storefront.returns import ReturnLineInput
from tests.storefront.test_cart_views import page, sign_in
from tests.support.consumer_orders import Shop, build_shop, consumer_of, default_location, place
from tests.support.services import org


@pytest.fixture
def shop(app) -> Shop:
    return build_shop()


def completed(brand, location, variant_id: int, consumer=None, qty: int = 2) -> ConsumerOrder:
    """A pickup paid at 99.00 a unit and handed over."""
    order = place(brand, location, {variant_id: qty}, consumer=consumer)
    system = Actor.system()
    orders.accept(system, order)
    orders.mark_ready(system, order)
    orders.hand_over(system, order, order.pickup_code)
    return order


def ask(order: ConsumerOrder, qty: int = 1, reason: str = "") -> ConsumerReturn:
    line = order.lines[0]
    return returns.request_return(
        order.consumer, order, [ReturnLineInput(line.id, qty)], reason=reason
    )


def refunded_and_rejected(shop: Shop) -> tuple[ConsumerOrder, ConsumerReturn, ConsumerReturn]:
    """An order of two units: one asked back, received as grade A and refunded (99.00); the
    other asked back and rejected."""
    order = completed(shop.brand, shop.s1, shop.variant.id, consumer_of(shop.brand))
    system = Actor.system()
    first = ask(order, reason="too small")
    returns.receive(system, first, {first.lines[0].id: "A"})
    returns.refund(system, first)
    second = ask(order)
    returns.reject(system, second, reason="Nothing came back")
    db.session.commit()
    return order, first, second


def timeline_of(html: str) -> str:
    return html.split('data-testid="timeline"', 1)[1].split("</ol>", 1)[0]


def test_each_step_of_a_return_is_on_the_timeline_of_every_order_page(shop, client, login):
    order, first, second = refunded_and_rejected(shop)
    sign_in(client, shop, order.consumer)
    pages = {
        "consumer": page(client.get(f"/shop/ACME/orders/{order.number}")),
        "store": page(login("staff1@demo.test").get(f"/shop-orders/{order.number}")),
        "hq": page(login("hq@demo.test").get(f"/hq/shop-orders/{order.number}")),
    }
    for who, html in pages.items():
        shown = timeline_of(html)
        expected = [
            "Collected",
            "Return requested",
            f"{first.number}: 1 item(s) worth CN¥99.00 · too small",
            "Return received",
            f"{first.number}: 1 item(s) back at the store",
            "Return refunded",
            f"{first.number}: CN¥99.00 refunded",
            "Return requested",
            f"{second.number}: 1 item(s) worth CN¥99.00",
            "Return rejected",
            f"{second.number}: Nothing came back",
        ]
        at = 0
        for text in expected:
            found = shown.find(text, at)
            assert found >= 0, f"{who}: {text!r} not after position {at} in {shown}"
            at = found + len(text)


def test_the_return_items_button_shows_only_while_the_order_may_be_returned(app, shop, client):
    consumer = consumer_of(shop.brand)
    done = completed(shop.brand, shop.s1, shop.variant.id, consumer)
    waiting = place(shop.brand, shop.s1, {shop.variant.id: 1}, consumer=consumer)
    db.session.commit()
    sign_in(client, shop, consumer)

    def shown(order: ConsumerOrder) -> tuple[bool, bool]:
        html = page(client.get(f"/shop/ACME/orders/{order.number}"))
        return 'data-testid="order-returns"' in html, 'data-testid="order-returns-list"' in html

    assert returns.may_return(done) and shown(done) == (True, False)
    assert not returns.may_return(waiting) and shown(waiting) == (False, False)

    ask(done)
    days = app.config["CONSUMER_RETURN_DAYS"]
    done.completed_at = done.completed_at - timedelta(days=days, minutes=1)
    db.session.commit()
    assert not returns.may_return(done)
    # Past the window: no button, but the return already asked for is one link away.
    assert shown(done) == (False, True)
    asked = page(client.get(f"/shop/ACME/orders/{done.number}/returns"))
    assert 'data-testid="return-form"' not in asked and 'data-testid="return"' in asked


def test_the_data_export_holds_the_consumers_returns(shop, client):
    order, first, second = refunded_and_rejected(shop)
    sku = order.lines[0].variant.sku
    data = consumer_data.export_consumer(order.consumer)
    assert [(r["number"], r["order"], r["status"]) for r in data["returns"]] == [
        (first.number, order.number, "refunded"),
        (second.number, order.number, "rejected"),
    ]
    refunded, rejected = data["returns"]
    assert refunded["refund_cents"] == 9900 and refunded["reason"] == "too small"
    assert refunded["lines"] == [{"sku": sku, "qty": 1, "unit_price_cents": 9900, "grade": "A"}]
    assert rejected["reject_reason"] == "Nothing came back" and rejected["refund_cents"] == 0
    assert rejected["rejected_at"] is not None and rejected["lines"][0]["grade"] is None

    sign_in(client, shop, order.consumer)
    downloaded = client.get("/shop/ACME/account/export.json").get_json()
    assert [r["number"] for r in downloaded["returns"]] == [first.number, second.number]


def lumi_return() -> ConsumerReturn:
    """A return of another brand (LUMI, whose HQ is hq2)."""
    lumi = org("LUMI")
    variant = db.session.execute(
        select(Variant).where(Variant.brand_id == lumi.id).order_by(Variant.id).limit(1)
    ).scalar_one()
    l2 = default_location("L2")
    apply_moves(
        Actor.system(), [MoveLine(l2.id, variant.id, 5)], reason=MoveReason.RECEIPT, reference="x"
    )
    found = ask(completed(lumi, l2, variant.id))
    db.session.commit()
    return found


HQ_RETURNS = "/hq/shop-returns"


def test_hq_lists_its_brands_returns_and_filters_them_by_status(shop, login):
    order, first, second = refunded_and_rejected(shop)
    waiting = ask(completed(shop.brand, shop.s2, shop.variant.id))
    theirs = lumi_return()
    hq = login("hq@demo.test")

    def listed(**args) -> set[str]:
        html = page(hq.get(HQ_RETURNS, query_string=args))
        return {
            r.number
            for r in (first, second, waiting, theirs)
            if f'data-return="{r.number}"' in html
        }

    assert listed() == {first.number, second.number, waiting.number}
    assert listed(status="refunded") == {first.number}
    assert listed(status="requested") == {waiting.number}
    assert listed(status="rejected") == {second.number}
    assert listed(status="nonsense") == {first.number, second.number, waiting.number}
    html = page(hq.get(HQ_RETURNS, query_string={"status": "refunded"}))
    row = html.split(f'data-return="{first.number}"', 1)[1].split("</tr>", 1)[0]
    assert order.number in row and "CN¥99.00" in row and "Refunded" in row
    assert 'data-testid="consumer-returns-link"' in page(hq.get("/hq/shop-orders"))

    other = page(login("hq2@demo.test").get(HQ_RETURNS))
    assert f'data-return="{theirs.number}"' in other
    assert f'data-return="{first.number}"' not in other


def test_stores_and_distributors_may_not_see_hqs_list_of_returns(shop, login):
    for email in ("store1@demo.test", "staff1@demo.test", "dist1@demo.test"):
        assert login(email).get(HQ_RETURNS).status_code == 403
