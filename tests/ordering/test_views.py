"""Ordering pages: the grid fills the cart, quick order and files add lines (all or nothing), the
cart submits once, and an order travels through the supplier's and the buyer's pages."""

from __future__ import annotations

import io
import re
import uuid

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from portal.core.access import Actor
from portal.core.idempotency import IdempotencyKey
from portal.extensions import db
from portal.network import services as network
from portal.ordering import queries, services
from portal.ordering.models import Order, OrderStatus, OrderTemplate
from tests.support import spreadsheets as hostile
from tests.support.shop import Shop

PASSWORD = "order-pages-1"

# short org code -> (e-mail, role)
PEOPLE = {
    "HQ": ("hq@po.test", "hq_admin"),
    "A1": ("a1@po.test", "distributor_admin"),
    "A1-buyer": ("a1buyer@po.test", "distributor_buyer"),
    "S1": ("s1@po.test", "store_owner"),
    "A2": ("a2@po.test", "distributor_admin"),
}


@pytest.fixture
def people(shop: Shop):
    """Sign-in users for the shop's orgs: HQ supplies A1 and A2; A1 supplies S1."""
    system = Actor.system()
    for key, (email, role) in PEOPLE.items():
        user = network.create_user(email=email, name=f"{key} person", password=PASSWORD)
        network.add_member(system, shop.org(key.split("-")[0]), user, role)
    db.session.commit()
    return shop


@pytest.fixture
def as_(client):
    """as_("A1") signs the test client in as that org's person."""

    def sign_in(key: str):
        client.post("/logout")
        response = client.post("/login", data={"email": PEOPLE[key][0], "password": PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)[:300]
        return client

    return sign_in


def _html(response) -> str:
    return response.get_data(as_text=True)


def _cart(shop: Shop, short: str = "A1") -> dict[str, int]:
    cart = queries.find_cart(shop.buyer(short), shop.net.links[short])
    if cart is None:
        return {}
    db.session.refresh(cart)
    return {line.variant.sku: line.qty for line in cart.lines}


def _fill_cart(shop: Shop, lines: list[tuple[str, int]], short: str = "A1") -> None:
    actor = shop.buyer(short)
    cart = services.get_cart(actor, shop.net.links[short])
    services.add_to_cart(actor, cart, services.parse_lines(lines))
    db.session.commit()


def _orders(shop: Shop) -> int:
    return db.session.execute(
        select(func.count(Order.id)).where(Order.brand_id == shop.net.brand.id)
    ).scalar_one()


def _submit(client, token: str | None = None, **data):
    return client.post("/cart/PO/submit", data={"submit_token": token or str(uuid.uuid4()), **data})


# -- the grid ------------------------------------------------------------------------------------


def test_grid_shows_prices_and_availability_and_sets_the_cart(people, as_):
    client = as_("A1")
    tee_m = people.net.variants["TEE-BLK-M"]
    tee_l = people.net.variants["TEE-BLK-L"]
    page = client.get("/order/po/tee")
    assert page.status_code == 200
    html = _html(page)
    assert 'data-testid="price-TEE-BLK-M">CN¥99.50' in html
    assert "100 available" in html

    response = client.post("/order/PO/TEE", data={f"qty_{tee_m.id}": "6", f"qty_{tee_l.id}": ""})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/cart/PO")
    assert _cart(people) == {"TEE-BLK-M": 6}
    assert 'value="6"' in _html(client.get("/order/PO/TEE"))  # prefilled from the cart

    client.post("/order/PO/TEE", data={f"qty_{tee_m.id}": "0", f"qty_{tee_l.id}": "3"})
    assert _cart(people) == {"TEE-BLK-L": 3}


def test_grid_refuses_a_bad_cell_and_changes_nothing(people, as_):
    client = as_("A1")
    tee_m = people.net.variants["TEE-BLK-M"]
    response = client.post("/order/PO/TEE", data={f"qty_{tee_m.id}": "two"})
    assert response.status_code == 422
    assert 'aria-invalid="true"' in _html(response)
    assert _cart(people) == {}


def test_grid_disables_skus_not_authorized(people, as_):
    people.net.publish(
        "PO-A1-TEE", kind="orgs", values=("A1",), price="sku TEE-BLK-M 80", exclude="product TEE"
    )
    db.session.commit()
    html = _html(as_("A1").get("/order/PO/TEE"))
    assert 'data-testid="price-TEE-BLK-M">CN¥80.00' in html
    assert re.search(r'<input type="number" disabled aria-label="TEE-BLK-L"', html)
    assert f'name="qty_{people.net.variants["TEE-BLK-M"].id}"' in html


def test_grid_is_not_found_for_a_brand_one_does_not_buy(people, as_):
    assert as_("HQ").get("/order/PO/TEE").status_code == 404  # HQ sells its brand
    assert as_("A1").get("/order/PO/NOPE").status_code == 404
    assert as_("A1").get("/order/ACME/TEE").status_code == 404


def test_offer_page_links_to_the_grid_for_buyers(people, as_):
    html = _html(as_("A1").get("/catalog/PO/TEE"))
    assert 'href="/order/PO/TEE"' in html
    assert 'data-testid="order-product"' not in _html(as_("HQ").get("/catalog/PO/TEE"))


# -- the cart ------------------------------------------------------------------------------------


def test_cart_previews_the_submit_checks_next_to_each_line(people, as_):
    people.net.publish("PO-RUN", kind="level", values=("A",), order="product RUN 6 6")
    _fill_cart(people, [("TEE-BLK-M", 2), ("RUN-BLK-42", 4)])
    html = _html(as_("A1").get("/cart/PO"))
    assert 'data-testid="line-total-TEE-BLK-M">CN¥199.00' in html
    assert "RUN-BLK-42: order at least 6 units." in html
    assert 'data-testid="problem-TEE-BLK-M"' not in html
    assert "Credit limit CN¥5,000.00" in html
    assert 'name="submit_token"' in html


def test_cart_lists_one_cart_per_brand_bought(people, as_):
    _fill_cart(people, [("TEE-BLK-M", 2), ("POLO-WHT-M", 1)])
    html = _html(as_("A1").get("/cart"))
    assert 'data-testid="units-PO">3<' in html


def test_cart_quantities_are_edited_in_place(people, as_):
    _fill_cart(people, [("TEE-BLK-M", 2), ("POLO-WHT-M", 1)])
    tee, polo = people.net.variants["TEE-BLK-M"], people.net.variants["POLO-WHT-M"]
    response = as_("A1").post(
        "/cart/PO/quantities", data={f"qty_{tee.id}": "5", f"qty_{polo.id}": "0"}
    )
    assert response.status_code == 302
    assert _cart(people) == {"TEE-BLK-M": 5}


def test_quick_order_adds_pasted_lines(people, as_):
    text = "sku\tqty\nTEE-BLK-M\t3\n\npolo-wht-m, 2\nTEE-BLK-L;1\nTEE-BLK-M 1\n"
    response = as_("A1").post("/cart/PO/quick", data={"lines": text})
    assert response.status_code == 302
    assert _cart(people) == {"TEE-BLK-M": 4, "POLO-WHT-M": 2, "TEE-BLK-L": 1}


def test_quick_order_with_a_bad_line_adds_nothing_and_names_every_bad_line(people, as_):
    text = "TEE-BLK-M 2\nNOPE-1 1\nPOLO-WHT-M x\nTEE-BLK-L 1 2"
    response = as_("A1").post("/cart/PO/quick", data={"lines": text})
    assert response.status_code == 422
    html = _html(response)
    assert "Line 2: NOPE-1: no such SKU." in html
    assert "Line 3: POLO-WHT-M: the quantity must be a whole number" in html
    assert "Line 4: TEE-BLK-L" in html
    assert "Line 1" not in html
    assert "NOPE-1 1" in html  # the paste is kept for correcting
    assert _cart(people) == {}


def _csv(text: str, encoding: str = "utf-8") -> tuple[io.BytesIO, str]:
    return io.BytesIO(text.encode(encoding)), "order.csv"


def _xlsx(rows: list[list[object]]) -> tuple[io.BytesIO, str]:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    out.seek(0)
    return out, "order.xlsx"


@pytest.mark.parametrize(
    "upload",
    [
        pytest.param(lambda: _csv("\ufeffSKU,Qty\nTEE-BLK-M,3\n\nPOLO-WHT-M,2\n"), id="csv-bom"),
        pytest.param(
            lambda: _csv("备注,sku,QTY\n急,TEE-BLK-M,3\n,POLO-WHT-M,2\n", "gbk"), id="gbk"
        ),
        pytest.param(
            lambda: _xlsx([["sku", "qty"], ["TEE-BLK-M", 3], [None, None], ["POLO-WHT-M", 2.0]]),
            id="xlsx",
        ),
    ],
)
def test_upload_adds_the_files_lines(people, as_, upload):
    response = as_("A1").post(
        "/cart/PO/upload", data={"file": upload()}, content_type="multipart/form-data"
    )
    assert response.status_code == 302, _html(response)[:2000]
    assert _cart(people) == {"TEE-BLK-M": 3, "POLO-WHT-M": 2}


def test_upload_with_a_bad_row_adds_nothing_and_names_the_row(people, as_):
    data = _xlsx([["sku", "qty"], ["TEE-BLK-M", 3], ["TEE-BLK-M", -1], ["GONE", 1]])
    response = as_("A1").post(
        "/cart/PO/upload", data={"file": data}, content_type="multipart/form-data"
    )
    assert response.status_code == 422
    html = _html(response)
    assert "Row 3: TEE-BLK-M: the quantity must be a whole number" in html
    assert "Row 4: GONE: no such SKU." in html
    assert _cart(people) == {}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (lambda: _csv("TEE-BLK-M,3\n"), "Row 1 must be a header naming the columns sku and qty"),
        (lambda: (io.BytesIO(b"sku,qty\n\x80\xff,1\n"), "order.csv"), "The file cannot be read"),
        (lambda: (io.BytesIO(b"PK\x03\x04 not a book"), "order.xlsx"), "The file cannot be read"),
        (lambda: (io.BytesIO(b"sku,qty"), "order.pdf"), "Upload a .csv or .xlsx file."),
    ],
)
def test_an_unusable_file_is_refused_with_a_clear_reason(people, as_, data, message):
    response = as_("A1").post(
        "/cart/PO/upload", data={"file": data()}, content_type="multipart/form-data"
    )
    assert response.status_code == 422
    assert message in _html(response)
    assert _cart(people) == {}


CART_ROWS: list[list[str | int]] = [["sku", "qty"], ["TEE-BLK-M", 3]]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(
            lambda: hostile.dimension_bomb(CART_ROWS),
            "The sheet declares 1,048,576 rows; at most 2,000 rows below the header are accepted "
            "(UPLOAD_IN_REQUEST_MAX_ROWS).",
            id="dimension-bomb",
        ),
        pytest.param(
            lambda: hostile.zip_bomb(100),
            "is compressed 1,0",  # about 1,000 to 1
            id="zip-bomb",
        ),
        pytest.param(
            lambda: hostile.empty_lines_csv("sku,qty", 100_000),
            "The file has more than 2,000 rows below its header, the most accepted "
            "(UPLOAD_IN_REQUEST_MAX_ROWS).",
            id="empty-lines",
        ),
        pytest.param(
            lambda: hostile.empty_lines_csv("sku,qty", 3_000_000),
            "The file is larger than 256 KB, the most accepted (UPLOAD_IN_REQUEST_MAX_BYTES).",
            id="millions-of-empty-lines",
        ),
        pytest.param(
            lambda: hostile.long_cell_csv("sku,qty", "TEE-BLK-M,3", chars=100_000),
            "Row 3, column B: the cell holds 100,000 characters; at most 32,767 are accepted "
            "(UPLOAD_MAX_CELL_CHARS).",
            id="long-cell",
        ),
        pytest.param(
            lambda: hostile.long_cell_csv("sku,qty", "TEE-BLK-M,3", chars=500_000),
            "The file is larger than 256 KB",
            id="500000-character-cell",
        ),
        pytest.param(lambda: hostile.GARBAGE, "not a valid XLSX file", id="garbage"),
    ],
)
def test_a_hostile_file_is_refused_in_the_request_naming_the_limit(people, as_, data, message):
    """The cart file is parsed in the web request: held to the small in-request caps, and an
    XLSX inspected before calamine sees it; the page says why and the cart stays empty."""
    body = data()
    name = "order.csv" if body.startswith(b"sku") else "order.xlsx"
    response = as_("A1").post("/cart/PO/upload", **hostile.multipart(name, body))
    assert response.status_code == 422
    assert message in _html(response)
    assert _cart(people) == {}


def test_templates_are_saved_applied_and_deleted(people, as_):
    _fill_cart(people, [("TEE-BLK-M", 2), ("POLO-WHT-M", 1)])
    client = as_("A1")
    assert client.post("/cart/PO/templates", data={"name": "Weekly"}).status_code == 302
    template = db.session.execute(
        select(OrderTemplate).where(OrderTemplate.name == "Weekly")
    ).scalar_one()
    assert 'data-template="Weekly"' in _html(client.get("/cart/PO"))
    client.post("/cart/PO/clear")
    assert _cart(people) == {}
    assert client.post(f"/order-templates/{template.id}/apply").status_code == 302
    client.post(f"/order-templates/{template.id}/apply")
    assert _cart(people) == {"TEE-BLK-M": 4, "POLO-WHT-M": 2}
    assert client.post(f"/order-templates/{template.id}/delete").status_code == 302
    assert db.session.get(OrderTemplate, template.id) is None


def test_another_orgs_template_is_not_found(people, as_):
    _fill_cart(people, [("TEE-BLK-M", 2)])
    actor = people.buyer("A1")
    template = services.save_template(
        actor, queries.find_cart(actor, people.net.links["A1"]), name="Mine"
    )
    db.session.commit()
    client = as_("A2")
    assert client.post(f"/order-templates/{template.id}/apply").status_code == 404
    assert client.post(f"/order-templates/{template.id}/delete").status_code == 404


# -- submitting ----------------------------------------------------------------------------------


def test_submit_creates_the_order_and_empties_the_cart(people, as_):
    _fill_cart(people, [("TEE-BLK-M", 10), ("POLO-WHT-M", 2)])
    response = _submit(as_("A1"), po_number="PO-9", note="Before the 5th")
    assert response.status_code == 302
    order = db.session.execute(
        select(Order).where(Order.brand_id == people.net.brand.id)
    ).scalar_one()
    assert response.headers["Location"].endswith(f"/orders/{order.number}")
    assert (order.status, order.po_number, order.total_cents) == (
        OrderStatus.SUBMITTED,
        "PO-9",
        10 * 9950 + 2 * 14950,
    )
    assert _cart(people) == {}
    assert people.level("HQ", "TEE-BLK-M") == (100, 10)


def test_submitting_twice_with_one_token_makes_one_order(people, as_):
    _fill_cart(people, [("TEE-BLK-M", 10)])
    client = as_("A1")
    token = str(uuid.uuid4())
    first = _submit(client, token)
    _fill_cart(people, [("TEE-BLK-M", 1)])  # even if the cart changed meanwhile
    second = _submit(client, token)
    assert first.headers["Location"] == second.headers["Location"]
    assert _orders(people) == 1
    assert "was already placed" in _html(client.get(second.headers["Location"]))


def test_a_refused_submit_shows_each_problem_and_keeps_the_cart(people, as_):
    _fill_cart(people, [("TEE-BLK-M", 1), ("POLO-WHT-M", 11)])
    client = as_("A1")
    response = _submit(client, po_number="PO-1")
    assert response.status_code == 422
    html = _html(response)
    assert 'data-testid="problem-POLO-WHT-M"' in html
    assert "POLO-WHT-M: only 10 available." in html
    assert 'value="PO-1"' in html  # what was typed stays
    assert _orders(people) == 0
    assert _cart(people) == {"TEE-BLK-M": 1, "POLO-WHT-M": 11}
    key = db.session.execute(select(IdempotencyKey).where(IdempotencyKey.key.like("web:%")))
    assert key.scalar_one().response_status == 422


def test_submit_without_a_token_is_refused(people, as_):
    _fill_cart(people, [("TEE-BLK-M", 1)])
    response = as_("A1").post("/cart/PO/submit", data={"po_number": "x"})
    assert response.status_code == 422
    assert _orders(people) == 0


# -- orders --------------------------------------------------------------------------------------


def test_the_order_page_shows_the_timeline_and_only_permitted_actions(people, as_):
    order = people.order("A1", [("TEE-BLK-M", 10)], po_number="PO-5")
    db.session.commit()
    buyer = _html(as_("A1").get(f"/orders/{order.number}"))
    assert 'data-kind="submitted"' in buyer
    assert "total CN¥995.00" in buyer
    assert 'data-testid="cancel"' in buyer
    assert 'data-testid="reorder"' in buyer
    assert 'data-testid="approve"' not in buyer
    assert 'data-testid="ship"' not in buyer
    supplier = _html(as_("HQ").get(f"/orders/{order.number}"))
    assert 'data-testid="approve"' in supplier
    assert 'data-testid="reject"' in supplier
    assert 'data-testid="cancel"' not in supplier
    assert 'data-testid="reorder"' not in supplier


def test_supplier_approves_ships_part_and_buyer_receives_through_the_pages(people, as_):
    order = people.order("A1", [("TEE-BLK-M", 10), ("POLO-WHT-M", 2)])
    db.session.commit()
    number = order.number
    hq = as_("HQ")
    assert hq.post(f"/orders/{number}/approve").status_code == 302
    ship = hq.post(
        f"/orders/{number}/ship",
        data={
            "qty_TEE-BLK-M": "4",
            "qty_POLO-WHT-M": "0",
            "carrier": "SF",
            "tracking_number": "SF123",
        },
    )
    assert ship.status_code == 302
    db.session.refresh(order)
    assert order.status == OrderStatus.PARTIALLY_SHIPPED
    assert people.level("HQ", "TEE-BLK-M") == (96, 6)
    page = _html(hq.get(f"/orders/{number}"))
    assert "tracking SF123" in page
    assert "invoiced CN¥398.00" in page
    assert 'data-testid="close"' in page

    buyer = as_("A1")
    assert 'data-testid="receive-1"' in _html(buyer.get(f"/orders/{number}"))
    assert buyer.post(f"/orders/{number}/shipments/1/receive", data={}).status_code == 302
    assert people.level("A1", "TEE-BLK-M") == (24, 0)
    page = _html(buyer.get(f"/orders/{number}"))
    assert 'data-kind="received"' in page
    assert 'data-testid="receive-1"' not in page
    assert 'data-testid="received-TEE-BLK-M">4<' in page


def test_receiving_fewer_units_needs_a_note(people, as_):
    order = people.order("A1", [("TEE-BLK-M", 4)])
    services.approve_order(people.hq, order)
    services.ship_order(people.hq, order, {"TEE-BLK-M": 4})
    db.session.commit()
    client = as_("A1")
    response = client.post(
        f"/orders/{order.number}/shipments/1/receive", data={"qty_TEE-BLK-M": "3"}
    )
    assert response.status_code == 302
    assert "Say what was missing or damaged." in _html(client.get(f"/orders/{order.number}"))
    client.post(
        f"/orders/{order.number}/shipments/1/receive",
        data={"qty_TEE-BLK-M": "3", "note": "one torn"},
    )
    assert people.level("A1", "TEE-BLK-M") == (23, 0)


def test_a_wrong_action_is_explained_not_applied(people, as_):
    order = people.order("A1", [("TEE-BLK-M", 4)])
    db.session.commit()
    client = as_("HQ")
    client.post(f"/orders/{order.number}/reject", data={"reason": ""})
    assert "Say why." in _html(client.get(f"/orders/{order.number}"))
    db.session.refresh(order)
    assert order.status == OrderStatus.SUBMITTED
    # The buyer's own role may not ship what it bought, whatever it types.
    assert as_("A1").post(f"/orders/{order.number}/ship", data={}).status_code == 403


def test_buyer_cancels_and_the_stock_is_released(people, as_):
    order = people.order("A1", [("TEE-BLK-M", 4)])
    db.session.commit()
    response = as_("A1").post(f"/orders/{order.number}/cancel", data={"reason": ""})
    assert response.status_code == 302
    db.session.refresh(order)
    assert order.status == OrderStatus.CANCELLED
    assert people.level("HQ", "TEE-BLK-M") == (100, 0)


def test_returns_are_requested_decided_and_received(people, as_):
    order = people.order("A1", [("TEE-BLK-M", 4)])
    services.approve_order(people.hq, order)
    shipment = services.ship_order(people.hq, order, {"TEE-BLK-M": 4})
    services.receive_shipment(people.buyer("A1"), order, shipment)
    db.session.commit()
    number = order.number
    buyer = as_("A1")
    response = buyer.post(
        f"/orders/{number}/return", data={"qty_TEE-BLK-M": "1", "reason": "stained"}
    )
    assert response.status_code == 302
    supplier = as_("HQ")
    assert 'data-testid="return-approve-1"' in _html(supplier.get(f"/orders/{number}"))
    supplier.post(f"/orders/{number}/returns/1/approve")
    supplier.post(f"/orders/{number}/returns/1/receive")
    page = _html(supplier.get(f"/orders/{number}"))
    assert "credit note CN¥99.50" in page
    assert people.level("A1", "TEE-BLK-M") == (23, 0)


def test_another_orgs_order_is_not_found(people, as_):
    order = people.order("A1", [("TEE-BLK-M", 1)])
    db.session.commit()
    client = as_("A2")
    assert client.get(f"/orders/{order.number}").status_code == 404
    assert client.post(f"/orders/{order.number}/cancel").status_code == 404
    assert client.post(f"/orders/{order.number}/shipments/1/receive").status_code == 404
    assert as_("S1").get(f"/orders/{order.number}").status_code == 404  # below A1, not above


def test_orders_list_has_the_tabs_of_each_side(people, as_):
    mine = people.order("A1", [("TEE-BLK-M", 1)])
    other = people.order("A2", [("TEE-BLK-L", 1)])
    db.session.commit()
    a1 = as_("A1")
    html = _html(a1.get("/orders"))
    assert 'data-testid="tab-buying"' in html and 'data-testid="tab-selling"' in html
    assert f'data-order="{mine.number}"' in html
    assert f'data-order="{other.number}"' not in html
    selling = _html(as_("HQ").get("/orders?tab=selling"))
    assert 'data-testid="tab-buying"' not in selling
    assert f'data-order="{mine.number}"' in selling and f'data-order="{other.number}"' in selling
    filtered = _html(as_("HQ").get(f"/orders?tab=selling&buyer={people.net.code('A2')}"))
    assert f'data-order="{mine.number}"' not in filtered
    assert f'data-order="{other.number}"' in filtered
    by_status = _html(as_("HQ").get("/orders?tab=selling&status=confirmed"))
    assert "No orders match." in by_status
    store = _html(as_("S1").get("/orders"))
    assert 'data-testid="tab-selling"' not in store and 'data-testid="tab-below"' not in store


def test_supplier_approves_from_the_queue_and_skipped_ones_are_named(people, as_):
    first = people.order("A1", [("TEE-BLK-M", 1)])
    second = people.order("A2", [("TEE-BLK-L", 1)])
    services.approve_order(people.hq, second)
    db.session.commit()
    client = as_("HQ")
    response = client.post(
        "/orders/approve", data={"numbers": [first.number, second.number, "PO-9999999"]}
    )
    assert response.status_code == 302
    db.session.refresh(first)
    assert first.status == OrderStatus.CONFIRMED
    html = _html(client.get("/orders?tab=selling"))
    assert "1 order approved." in html
    assert f"{second.number}, PO-9999999" in html


def test_pick_list_sums_open_units_per_sku(people, as_):
    first = people.order("A1", [("TEE-BLK-M", 3), ("POLO-WHT-M", 1)])
    second = people.order("A2", [("TEE-BLK-M", 2)])
    db.session.commit()
    client = as_("HQ")
    url = f"/orders/pick-list?numbers={first.number}&numbers={second.number}"
    html = _html(client.get(url))
    row = re.search(r'<tr data-sku="TEE-BLK-M">(.*?)</tr>', html).group(1)
    assert "<td>5</td>" in row and first.number in row and second.number in row
    csv_text = _html(client.get(url.replace("pick-list", "pick-list.csv")))
    assert "sku,product,color,size,qty,orders" in csv_text
    assert f"TEE-BLK-M,Tee,BLK,M,5,{first.number} {second.number}" in csv_text
    # Orders the actor does not supply are left out.
    other = _html(as_("A2").get(url))
    assert 'data-testid="pick-orders"></p>' in other
    assert 'data-sku="TEE-BLK-M"' not in other


def test_reorder_fills_the_cart_at_todays_prices_and_says_what_changed(people, as_):
    order = people.order("A1", [("TEE-BLK-M", 2), ("POLO-WHT-M", 1)])
    db.session.commit()
    people.net.publish(
        "PO-A1-UP", kind="orgs", values=("A1",), price="product TEE 60%", exclude="product POLO"
    )
    db.session.commit()
    client = as_("A1")
    response = client.post(f"/orders/{order.number}/reorder")
    assert response.headers["Location"].endswith("/cart/PO")
    html = _html(client.get("/cart/PO"))
    assert "TEE-BLK-M: was CN¥99.50, now CN¥119.40." in html
    assert "POLO-WHT-M: no longer orderable, left out." in html
    assert _cart(people) == {"TEE-BLK-M": 2}


def test_purchasing_rules_hold_a_buyers_order_for_the_admin(people, as_):
    admin = as_("A1")
    page = _html(admin.get("/orders/rules"))
    assert "No approval amount." in page
    response = admin.post("/orders/rules", data={"approval_above": "100", "monthly_limit": ""})
    assert response.status_code == 302
    rule = services.find_purchasing_rule(people.net.org_id("A1"))
    assert (rule.approval_above_cents, rule.monthly_limit_cents) == (10000, None)
    assert 'value="100.00"' in _html(admin.get("/orders/rules"))
    assert admin.post("/orders/rules", data={"approval_above": "ten"}).status_code == 422

    _fill_cart(people, [("TEE-BLK-M", 2)])
    buyer = as_("A1-buyer")
    response = _submit(buyer)
    number = response.headers["Location"].rsplit("/", 1)[1]
    page = _html(buyer.get(f"/orders/{number}"))
    assert "waiting for your admin's approval" in page
    assert 'data-testid="buyer-approve"' not in page  # a buyer does not approve its own
    admin = as_("A1")
    assert 'data-testid="buyer-approve"' in _html(admin.get(f"/orders/{number}"))
    admin.post(f"/orders/{number}/buyer-approve")
    order = queries.get_order(people.buyer("A1"), number)
    db.session.refresh(order)
    assert order.status == OrderStatus.SUBMITTED


def test_purchasing_rules_are_for_admins_only(people, as_):
    assert as_("A1-buyer").get("/orders/rules").status_code == 403
