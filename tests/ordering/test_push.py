"""Stock push: HQ allocates new-season units as push orders or as quotas with an expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.core.db import utcnow
from portal.core.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.inventory import services as stock
from portal.inventory.errors import InsufficientStock
from portal.inventory.models import Allocation, AllocationStatus
from portal.ordering import jobs, services
from portal.ordering.errors import OrderRefused, OrderStateConflict
from portal.ordering.models import OrderKind, OrderStatus


def push(shop, text: str, **kwargs):
    return services.push_stock(shop.hq, shop.net.brand, services.parse_push_rows(text), **kwargs)


def test_parse_accepts_tabs_commas_and_spaces():
    rows = services.parse_push_rows("D1 TEE 3\n\nS1\tPOLO\t2\nS2,RUN;6\n")
    assert [(r.recipient, r.sku, r.qty, r.row) for r in rows] == [
        ("D1", "TEE", "3", 1),
        ("S1", "POLO", "2", 3),
        ("S2", "RUN", "6", 4),
    ]


def test_push_orders_one_per_recipient_confirmed_at_recipient_prices(shop):
    result = push(shop, "POA1 TEE-BLK-M 10\nPOA2 TEE-BLK-L 4\nPOA1 POLO-WHT-M 2", as_quotas=False)
    assert len(result.orders) == 2
    a1 = next(o for o in result.orders if o.buyer_org_id == shop.net.org_id("A1"))
    assert (a1.kind, a1.status, a1.supplier_org_id) == (
        OrderKind.PUSH,
        OrderStatus.CONFIRMED,
        shop.net.brand.id,
    )
    assert {ln.sku: ln.unit_price_cents for ln in a1.lines} == {
        "TEE-BLK-M": 9950,
        "POLO-WHT-M": 14950,
    }
    assert shop.level("HQ", "TEE-BLK-M") == (100, 10)
    assert shop.committed("A1") == a1.total_cents
    a2 = next(o for o in result.orders if o.buyer_org_id == shop.net.org_id("A2"))
    with pytest.raises(OrderStateConflict):  # HQ's order: the recipient cannot cancel it
        services.cancel_order(shop.buyer("A2"), a2)
    shipment = services.ship_order(shop.hq, a2, {"TEE-BLK-L": 4})
    services.receive_shipment(shop.buyer("A2"), a2, shipment)
    assert shop.level("A2", "TEE-BLK-L") == (4, 0)
    assert shop.balance("A2") == 4 * 9950
    assert stock.check_ledger() == []


def test_push_to_a_distributors_store_goes_to_its_distributor(shop):
    for as_quotas in (False, True):
        with pytest.raises(ValidationFailed) as excinfo:
            push(
                shop,
                "POS1 TEE-BLK-L 4",
                as_quotas=as_quotas,
                expires_at=utcnow() + timedelta(days=3),
            )
        assert "POA1" in excinfo.value.fields["rows.1"]
    assert shop.level("HQ", "TEE-BLK-L") == (100, 0)


def test_push_refuses_every_bad_line_and_changes_nothing(shop):
    with pytest.raises(ValidationFailed) as excinfo:
        push(
            shop,
            "NOBODY TEE-BLK-M 1\nPOA1 NOPE 1\nPOA1 TEE-BLK-M 0\nPOA1 TEE-BLK-M 1.5",
            as_quotas=False,
        )
    assert set(excinfo.value.fields) == {"rows.1", "rows.2", "rows.3", "rows.4"}
    with pytest.raises(InsufficientStock) as excinfo:
        push(shop, "POA1 POLO-WHT-M 6\nPOA2 POLO-WHT-M 6", as_quotas=False)
    assert shop.level("HQ", "POLO-WHT-M") == (10, 0)


def test_only_hq_pushes(shop):
    with pytest.raises(PermissionDenied):
        services.push_stock(
            shop.admin("A1"),
            shop.net.brand,
            services.parse_push_rows("POS1 TEE-BLK-M 1"),
            as_quotas=False,
        )


def test_quota_reserves_and_only_the_holder_orders_against_it(shop):
    push(shop, "POA1 POLO-WHT-M 6", as_quotas=True, expires_at=utcnow() + timedelta(days=7))
    assert shop.level("HQ", "POLO-WHT-M") == (10, 6)
    with pytest.raises(OrderRefused) as excinfo:
        shop.order("A2", [("POLO-WHT-M", 1)])  # allocated SKU, no quota for A2
    assert excinfo.value.code == "quota_exceeded"
    with pytest.raises(OrderRefused) as excinfo:
        shop.order("A1", [("POLO-WHT-M", 7)])
    assert (excinfo.value.code, excinfo.value.extra["available"]) == ("quota_exceeded", 6)
    order = shop.order("A1", [("POLO-WHT-M", 4)])
    assert shop.level("HQ", "POLO-WHT-M") == (10, 6)  # the order took the quota's hold over
    quota = db.session.execute(select(Allocation)).scalars().all()[-1]
    db.session.refresh(quota)
    assert (quota.used_qty, quota.remaining) == (4, 2)
    services.cancel_order(shop.buyer("A1"), order)
    db.session.refresh(quota)
    assert quota.used_qty == 0  # back to the open quota
    assert shop.level("HQ", "POLO-WHT-M") == (10, 6)
    assert stock.check_ledger() == []


def test_quota_left_at_expiry_returns_to_the_pool(shop):
    push(shop, "POA1 POLO-WHT-M 6", as_quotas=True, expires_at=utcnow() + timedelta(days=1))
    shop.order("A1", [("POLO-WHT-M", 4)])
    db.session.commit()
    quota = db.session.execute(
        select(Allocation).where(Allocation.recipient_org_id == shop.net.org_id("A1"))
    ).scalar_one()
    quota.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert jobs.expire_quotas()["closed"] >= 1
    assert jobs.expire_quotas()["closed"] == 0  # twice: nothing more
    db.session.refresh(quota)
    assert quota.status == AllocationStatus.EXPIRED
    assert shop.level("HQ", "POLO-WHT-M") == (10, 4)  # the order keeps its 4, 2 went back
    assert shop.order("A2", [("POLO-WHT-M", 2)]).lines[0].qty == 2  # free stock again
    assert stock.check_ledger() == []


def test_quota_needs_a_future_expiry(shop):
    with pytest.raises(ValidationFailed):
        push(shop, "POA1 POLO-WHT-M 1", as_quotas=True, expires_at=None)
    with pytest.raises(ValidationFailed):
        push(shop, "POA1 POLO-WHT-M 1", as_quotas=True, expires_at=utcnow() - timedelta(days=1))


def test_push_page(client, login):
    login("hq@demo.test")
    page = client.get("/stock/push")
    assert page.status_code == 200
    response = client.post(
        "/stock/push",
        data={"mode": "orders", "rows": "D1 NOPE-SKU 1"},
    )
    assert response.status_code == 422
    assert "NOPE-SKU" in response.get_data(as_text=True)
    assert client.get("/stock/quotas").status_code == 200


def test_push_page_is_hq_only(client, login):
    login("dist1@demo.test")
    assert client.get("/stock/push").status_code == 403
    assert client.get("/stock/quotas").status_code == 200
