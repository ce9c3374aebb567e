"""Private sales' pages, on both backends: HQ writes, publishes and ends a sale of the demo brand
ACME (another brand's HQ gets a 404, a role without the permission a 403); the employee store's
people see the sales open and coming, count down to one, and buy in an open one at once, on to
the pay page; a refusal shows beside the item, naming the limit and what is left."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.catalog.models import Variant
from portal.core.db import utcnow
from portal.extensions import db
from portal.inventory.models import Grade, Location, StockLevel
from portal.members.sale_models import PrivateSale, SaleAudience, SaleStatus
from portal.storefront.auth import SESSION_KEY, start_session
from portal.storefront.models import ConsumerOrder
from tests.members.test_private_sales import SALE, SaleShop, build_sale_shop, item

SKU = "ACME-TEE-001-BLK-M"


def page(response) -> str:
    return response.get_data(as_text=True)


# -- HQ --------------------------------------------------------------------------------------------


def _warehouse() -> Location:
    return db.session.execute(select(Location).where(Location.code == "ACME-WH")).scalar_one()


def _acme_level() -> tuple[int, int]:
    row = db.session.execute(
        select(StockLevel.on_hand, StockLevel.reserved)
        .join(Variant, Variant.id == StockLevel.variant_id)
        .where(
            StockLevel.location_id == _warehouse().id,
            StockLevel.grade == Grade.A,
            Variant.sku == SKU,
        )
    ).one()
    return row[0], row[1]


def _form(**changes) -> dict[str, str]:
    starts = (utcnow() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    ends = (utcnow() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    values = {
        "code": "VIP1",
        "name": "Spring friends sale",
        "starts_at": starts,
        "ends_at": ends,
        "audience": SaleAudience.FRIENDS.value,
        "location_id": str(_warehouse().id),
        "units_per_person": "6",
        "amount_per_person": "",
        "description": "",
    }
    return {**values, **changes}


def _hq(login, email: str = "hq@demo.test"):
    """A portal user signed in, reading English (HQ's shop pages are Chinese by default)."""
    client = login(email)
    with client.session_transaction() as cookie:
        cookie["lang"] = "en"
    return client


def test_hq_drafts_fills_publishes_and_ends_a_sale(app, login):
    client = _hq(login)
    assert "Private sales" in page(client.get("/shop/ACME/hq/private-sales"))
    created = client.post("/shop/ACME/hq/private-sales", data=_form())
    assert created.status_code == 302
    assert created.headers["Location"].endswith("/shop/ACME/hq/private-sales/VIP1")
    added = client.post(
        "/shop/ACME/hq/private-sales/VIP1/items",
        data={
            "item-sku": SKU,
            "item-grade": "A",
            "item-price": "59.90",
            "item-set_aside_qty": "3",
            "item-limit_per_person": "1",
        },
    )
    assert added.status_code == 302
    before = _acme_level()
    assert client.post("/shop/ACME/hq/private-sales/VIP1/publish").status_code == 302
    assert _acme_level() == (before[0], before[1] + 3)
    detail = page(client.get("/shop/ACME/hq/private-sales/VIP1"))
    assert SKU in detail and 'data-testid="end-form"' in detail
    assert client.post("/shop/ACME/hq/private-sales/VIP1/end").status_code == 302
    assert _acme_level() == before
    sale = db.session.execute(select(PrivateSale).where(PrivateSale.code == "VIP1")).scalar_one()
    assert sale.status == SaleStatus.CLOSED


def test_hq_sees_its_mistakes_beside_the_fields(app, login):
    client = _hq(login)
    response = client.post(
        "/shop/ACME/hq/private-sales",
        data=_form(ends_at=(utcnow() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")),
    )
    assert response.status_code == 422
    assert "The end must be in the future." in page(response)
    client.post("/shop/ACME/hq/private-sales", data=_form())
    response = client.post(
        "/shop/ACME/hq/private-sales/VIP1/items",
        data={"item-sku": "NO-SUCH-SKU", "item-grade": "A", "item-price": "10",
              "item-set_aside_qty": "1"},
    )  # fmt: skip
    assert response.status_code == 422
    assert "No SKU of the brand has this code." in page(response)
    response = client.post("/shop/ACME/hq/private-sales/VIP1/publish")
    assert response.status_code == 422
    assert "The sale has no items." in page(response)


def test_only_the_brands_own_hq_with_the_permission_sees_its_sales(app, login, client):
    login("hq@demo.test").post("/shop/ACME/hq/private-sales", data=_form())
    client.post("/logout")
    other = login("hq2@demo.test")
    assert other.get("/shop/ACME/hq/private-sales").status_code == 404
    assert other.get("/shop/ACME/hq/private-sales/VIP1").status_code == 404
    assert other.post("/shop/ACME/hq/private-sales/VIP1/publish").status_code == 404
    client.post("/logout")
    merchandiser = login("merch@demo.test")
    assert merchandiser.get("/shop/ACME/hq/private-sales").status_code == 403


# -- the employee store's people ---------------------------------------------------------------


@pytest.fixture
def built(app, monkeypatch) -> SaleShop:
    built = build_sale_shop("PV", monkeypatch)
    db.session.commit()
    return built


def sign_in(client, built: SaleShop, *kinds: str):
    consumer = built.person(*kinds)
    secret, _expires = start_session(consumer)
    db.session.commit()
    with client.session_transaction() as cookie:
        cookie[SESSION_KEY] = {str(built.brand.id): secret}
        cookie["lang"] = "en"
    return consumer


def test_the_list_shows_the_sales_open_and_coming_for_the_audience(app, client, built):
    built.sale()
    built.sale("LATER", starts_in=timedelta(days=1), items=(("TEE-BLK-L", "A", 5000, 1, None),))
    built.sale("OTHERS", audience=SaleAudience.EMPLOYEES, items=(("TEE-BLK-L", "A", 5000, 1, 1),))
    built.sale("DRAFT", publish=False)
    db.session.commit()
    sign_in(client, built, "friend")
    listing = page(client.get("/shop/PV/employee/sales/"))
    assert 'data-code="SS26"' not in listing  # employees only
    assert 'data-code="LATER"' not in listing and 'data-code="DRAFT"' not in listing
    employee = app.test_client()
    sign_in(employee, built)
    listing = page(employee.get("/shop/PV/employee/sales/"))
    open_now = listing.split('data-testid="coming-sales"')[0]
    assert 'data-code="SS26"' in open_now and 'data-code="OTHERS"' in open_now
    assert 'data-code="LATER"' in listing.split('data-testid="coming-sales"')[1]
    assert 'data-code="DRAFT"' not in listing


def test_a_coming_sale_counts_down_to_its_opening(client, built):
    sale = built.sale(starts_in=timedelta(hours=5))
    db.session.commit()
    sign_in(client, built)
    html = page(client.get(f"/shop/PV/employee/sales/{SALE}"))
    assert 'data-testid="sale-countdown"' in html and "Opens at" in html
    assert f'data-countdown="{sale.starts_at.isoformat()}"' in html
    assert "js/countdown.js" in html
    assert 'data-testid="buy-now"' not in html


def test_an_open_sale_shows_prices_stock_and_the_persons_limits_and_buys_at_once(client, built):
    sale = built.sale()
    db.session.commit()
    consumer = sign_in(client, built)
    html = page(client.get(f"/shop/PV/employee/sales/{SALE}"))
    polo = html.split('data-sku="POLO-WHT-M"')[1].split("</li>")[0]
    assert "99.00" in polo and "Only in this sale" in polo
    assert "5 left" in polo and "limit 2 per person" in polo and "you may buy 2" in polo
    token = re.search(r'name="checkout_token" value="([^"]+)"', html).group(1)
    polo_item = item(sale, "POLO-WHT-M")
    tee_item = item(sale, "TEE-BLK-M")
    response = client.post(
        f"/shop/PV/employee/sales/{SALE}/buy",
        data={
            f"qty-{polo_item.id}": "2",
            f"qty-{tee_item.id}": "1",
            "fulfilment": "pickup",
            "checkout_token": token,
        },
    )
    assert response.status_code == 302
    order = db.session.execute(
        select(ConsumerOrder).where(ConsumerOrder.consumer_id == consumer.id)
    ).scalar_one()
    assert response.headers["Location"] == f"/shop/PV/orders/{order.number}/pay"
    assert order.event_id == sale.id and order.goods_cents == 2 * 9900 + 2900
    # The same form again is the same order.
    again = client.post(
        f"/shop/PV/employee/sales/{SALE}/buy",
        data={f"qty-{polo_item.id}": "2", "fulfilment": "pickup", "checkout_token": token},
    )
    assert again.headers["Location"] == response.headers["Location"]
    html = page(client.get(f"/shop/PV/employee/sales/{SALE}"))
    polo = html.split('data-sku="POLO-WHT-M"')[1].split("</li>")[0]
    assert "3 left" in polo and "you may buy 0" in polo


def test_a_refusal_names_the_limit_beside_the_item_and_orders_nothing(client, built):
    sale = built.sale()
    db.session.commit()
    consumer = sign_in(client, built)
    polo = item(sale, "POLO-WHT-M")
    response = client.post(
        f"/shop/PV/employee/sales/{SALE}/buy",
        data={f"qty-{polo.id}": "3", "fulfilment": "pickup", "checkout_token": "t-1"},
    )
    assert response.status_code == 422
    html = page(response)
    line = html.split('data-sku="POLO-WHT-M"')[1].split("</li>")[0]
    assert "Limit 2 per person for POLO-WHT-M in Sale SS26: 2 left." in line
    assert "Nothing was ordered." in html
    nothing = client.post(
        f"/shop/PV/employee/sales/{SALE}/buy",
        data={"fulfilment": "pickup", "checkout_token": "t-2"},
    )
    assert nothing.status_code == 422
    assert "Choose how many you want of at least one item." in page(nothing)
    orders = db.session.execute(
        select(ConsumerOrder.id).where(ConsumerOrder.consumer_id == consumer.id)
    ).all()
    assert orders == [] and item(sale, "POLO-WHT-M").left == 5


def test_people_outside_the_store_or_the_audience_are_told_who_it_is_for(app, client, built):
    built.sale()
    built.sale("DRAFT", publish=False, items=(("TEE-BLK-L", "A", 5000, 1, None),))
    db.session.commit()
    outsider = built.shop.consumer()
    secret, _expires = start_session(outsider)
    db.session.commit()
    with client.session_transaction() as cookie:
        cookie[SESSION_KEY] = {str(built.brand.id): secret}
        cookie["lang"] = "en"
    response = client.get("/shop/PV/employee/sales/")
    assert response.status_code == 403 and 'data-testid="sale-closed"' in page(response)
    assert client.get(f"/shop/PV/employee/sales/{SALE}").status_code == 403
    client = app.test_client()
    sign_in(client, built, "partner")
    response = client.get(f"/shop/PV/employee/sales/{SALE}")
    assert response.status_code == 403
    assert "Sale SS26 is open to: employees only." in page(response)
    bought = client.post(
        f"/shop/PV/employee/sales/{SALE}/buy", data={"fulfilment": "pickup", "checkout_token": "x"}
    )
    assert bought.status_code == 403
    assert client.get("/shop/PV/employee/sales/DRAFT").status_code == 404
    assert client.get("/shop/PV/employee/sales/NOPE").status_code == 404


def test_another_brands_shop_does_not_know_the_consumer(client, built):
    built.sale()
    db.session.commit()
    sign_in(client, built)
    response = client.get(f"/shop/ACME/employee/sales/{SALE}")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/shop/ACME/account/sign-in")
