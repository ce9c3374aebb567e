"""Placing orders: every submit check, stock reservation, credit, buyer-side rules."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.core.access import Role
from portal.core.db import utcnow
from portal.core.errors import PermissionDenied, ValidationFailed
from portal.inventory import services as stock
from portal.ordering import services
from portal.ordering.errors import OrderRefused, OrderStateConflict
from portal.ordering.models import OrderStatus


def refused(excinfo) -> tuple[str, dict]:
    return excinfo.value.code, excinfo.value.fields


def test_submit_reserves_stock_and_snapshots_prices(shop):
    order = shop.order("A1", [("tee-blk-m", 10), ("POLO-WHT-M", 2)], po_number="PO-77")
    assert order.status == OrderStatus.SUBMITTED
    assert order.number.startswith("PO-")
    assert [(ln.sku, ln.qty, ln.unit_price_cents) for ln in order.lines] == [
        ("TEE-BLK-M", 10, 9950),
        ("POLO-WHT-M", 2, 14950),
    ]
    assert order.total_cents == 10 * 9950 + 2 * 14950
    assert all(ln.policy_version_id == order.policy_version_id for ln in order.lines)
    assert shop.level("HQ", "TEE-BLK-M") == (100, 10)
    assert shop.committed("A1") == order.total_cents
    assert stock.check_ledger() == []


@pytest.mark.parametrize(
    ("lines", "code", "field"),
    [
        ([("NOPE-1", 1)], "unknown_sku", "lines.0"),
        ([("TEE-BLK-M", 0)], "invalid_quantity", "lines.0"),
        ([("TEE-BLK-M", -3)], "invalid_quantity", "lines.0"),
        ([("TEE-BLK-M", 1.5)], "invalid_quantity", "lines.0"),
        ([("TEE-BLK-M", "2x")], "invalid_quantity", "lines.0"),
        ([("TEE-BLK-M", "²")], "invalid_quantity", "lines.0"),
        ([("TEE-BLK-M", "9" * 5000)], "invalid_quantity", "lines.0"),
        ([("TEE-BLK-M", 10**9)], "invalid_quantity", "lines.0"),
        ([("TEE-BLK-M", 1), ("RUN-BLK-42", 8)], "not_multiple", "lines.1"),
        ([("POLO-WHT-M", 11)], "insufficient_stock", "lines.0"),
        ([], "empty_order", "order"),
    ],
)
def test_each_bad_line_is_refused_by_code_naming_the_line(shop, lines, code, field):
    if code == "not_multiple":
        shop.net.publish("PO-RUN", kind="level", values=("A",), order="product RUN 6 6")
    before = shop.level("HQ", "TEE-BLK-M")
    with pytest.raises(OrderRefused) as excinfo:
        shop.order("A1", lines)
    assert excinfo.value.code == code
    assert field in excinfo.value.fields
    assert shop.level("HQ", "TEE-BLK-M") == before


def test_all_problems_are_reported_at_once(shop):
    with pytest.raises(OrderRefused) as excinfo:
        shop.order("A1", [("TEE-BLK-M", 1), ("NOPE", 2), ("POLO-WHT-M", 0)])
    codes = {p["line"]: p["code"] for p in excinfo.value.extra["problems"]}
    assert codes == {1: "unknown_sku", 2: "invalid_quantity"}


def test_insufficient_stock_says_how_many_are_available(shop):
    with pytest.raises(OrderRefused) as excinfo:
        shop.order("A1", [("TEE-BLK-M", 5), ("POLO-WHT-M", 11)])
    assert excinfo.value.code == "insufficient_stock"
    assert excinfo.value.extra["available"] == 10
    assert "only 10 available" in excinfo.value.fields["lines.1"]
    assert shop.level("HQ", "TEE-BLK-M") == (100, 0)


def test_duplicate_lines_are_merged_not_double_counted(shop):
    order = shop.order("A1", [("TEE-BLK-M", 3), ("tee-blk-m", 4)])
    assert [(ln.sku, ln.qty) for ln in order.lines] == [("TEE-BLK-M", 7)]
    assert shop.level("HQ", "TEE-BLK-M") == (100, 7)


def test_excluded_sku_is_not_authorized(shop):
    shop.net.publish("PO-NOBAGS", kind="level", values=("A",), exclude="category BAGS")
    shop.receive("HQ", "TOTE-RED-OS", 5)
    with pytest.raises(OrderRefused) as excinfo:
        shop.order("A1", [("TOTE-RED-OS", 1)])
    assert excinfo.value.code == "sku_not_authorized"


def test_moq_and_minimum_amount(shop):
    shop.net.publish("PO-MOQ", kind="level", values=("A",), order="sku TEE-BLK-L 6")
    with pytest.raises(OrderRefused) as excinfo:
        shop.order("A1", [("TEE-BLK-L", 2)])
    assert excinfo.value.code == "below_moq"
    shop.net.publish("PO-MIN", kind="region", values=("north",), min_order_cents=100_000)
    with pytest.raises(OrderRefused) as excinfo:
        shop.order("A1", [("TEE-BLK-M", 1)])
    assert excinfo.value.code == "below_min_amount"
    assert "order" in excinfo.value.fields


def test_ordering_window(shop):
    shop.net.publish(
        "PO-WIN",
        kind="level",
        values=("A",),
        order_window_start=utcnow() + timedelta(days=2),
        order_window_end=utcnow() + timedelta(days=9),
    )
    with pytest.raises(OrderRefused) as excinfo:
        shop.order("A1", [("TEE-BLK-M", 1)])
    assert excinfo.value.code == "outside_order_window"


def test_over_credit_waits_for_supplier_approval(shop):
    # A1 may owe 5,000.00: 60 tees at 99.50 = 5,970.00
    order = shop.order("A1", [("TEE-BLK-M", 60)])
    assert order.status == OrderStatus.AWAITING_APPROVAL
    assert order.hold_reason == "credit"
    with pytest.raises(PermissionDenied):
        services.approve_order(shop.admin("A1"), order)  # the buyer cannot approve itself
    services.approve_order(shop.hq, order)
    assert order.status == OrderStatus.CONFIRMED


def test_credit_counts_open_orders(shop):
    first = shop.order("A1", [("TEE-BLK-M", 40)])  # 3,980.00
    assert first.status == OrderStatus.SUBMITTED
    second = shop.order("A1", [("TEE-BLK-L", 20)])  # 1,990.00 more: over 5,000.00
    assert second.status == OrderStatus.AWAITING_APPROVAL


def test_buyer_org_approval_above_amount(shop):
    org = shop.org("A1")
    services.set_purchasing_rule(
        shop.admin("A1"), org, approval_above_cents=50_000, monthly_limit_cents=None
    )
    small = shop.order("A1", [("TEE-BLK-M", 5)])
    assert small.status == OrderStatus.SUBMITTED
    big = shop.order("A1", [("TEE-BLK-M", 6)])
    assert big.status == OrderStatus.PENDING_BUYER_APPROVAL
    assert shop.level("HQ", "TEE-BLK-M")[1] == 11  # held while it waits
    with pytest.raises(OrderStateConflict):
        services.approve_order(shop.hq, big)  # not the supplier's call yet
    services.buyer_approve_order(shop.admin("A1"), big)
    assert big.status == OrderStatus.SUBMITTED
    # the admin's own orders are not held
    assert shop.order("A1", [("TEE-BLK-M", 7)], actor=shop.admin("A1")).status == "submitted"


def test_monthly_spending_limit_per_buyer(shop):
    services.set_purchasing_rule(
        shop.admin("A1"), shop.org("A1"), approval_above_cents=None, monthly_limit_cents=100_000
    )
    ann = shop.person("A1", "ann@po.test")
    bob = shop.person("A1", "bob@po.test")
    assert shop.order("A1", [("TEE-BLK-M", 10)], actor=ann).status == "submitted"  # 995.00
    assert shop.order("A1", [("TEE-BLK-L", 1)], actor=ann).status == "pending_buyer_approval"
    assert shop.order("A1", [("TEE-BLK-L", 1)], actor=bob).status == "submitted"


def test_cancel_releases_reservation_and_credit(shop):
    order = shop.order("A1", [("TEE-BLK-M", 10)])
    services.cancel_order(shop.buyer("A1"), order, reason="changed my mind")
    assert order.status == OrderStatus.CANCELLED
    assert shop.level("HQ", "TEE-BLK-M") == (100, 0)
    assert shop.committed("A1") == 0
    with pytest.raises(Exception) as excinfo:
        services.cancel_order(shop.buyer("A1"), order)
    assert excinfo.value.code == "invalid_transition"


def test_ship_partially_then_receive(shop):
    order = shop.order("A1", [("TEE-BLK-M", 10), ("POLO-WHT-M", 4)])
    services.approve_order(shop.hq, order)
    first = services.ship_order(shop.hq, order, {"TEE-BLK-M": 6}, tracking_number="SF123")
    assert order.status == OrderStatus.PARTIALLY_SHIPPED
    assert shop.level("HQ", "TEE-BLK-M") == (94, 4)
    assert shop.balance("A1") == 6 * 9950  # invoiced on shipment
    assert shop.committed("A1") == 4 * 9950 + 4 * 14950
    with pytest.raises(ValidationFailed) as excinfo:
        services.ship_order(shop.hq, order, {"TEE-BLK-M": 5})
    assert "only 4 left" in excinfo.value.fields["lines.TEE-BLK-M"]
    services.receive_shipment(shop.buyer("A1"), order, first)
    assert shop.level("A1", "TEE-BLK-M") == (26, 0)
    with pytest.raises(Exception) as excinfo:
        services.receive_shipment(shop.buyer("A1"), order, first)
    assert excinfo.value.code == "invalid_transition"
    second = services.ship_order(shop.hq, order, {"TEE-BLK-M": 4, "POLO-WHT-M": 4})
    assert order.status == OrderStatus.SHIPPED
    with pytest.raises(ValidationFailed):  # short without a note
        services.receive_shipment(shop.buyer("A1"), order, second, received={"POLO-WHT-M": 3})
    services.receive_shipment(
        shop.buyer("A1"), order, second, received={"POLO-WHT-M": 3}, note="one torn"
    )
    assert order.status == OrderStatus.COMPLETED
    assert shop.level("A1", "POLO-WHT-M") == (3, 0)
    assert shop.committed("A1") == 0
    assert stock.check_ledger() == []


def test_return_request_approve_receive_credits(shop):
    order = shop.order("A1", [("TEE-BLK-M", 10)])
    services.approve_order(shop.hq, order)
    shipment = services.ship_order(shop.hq, order, {"TEE-BLK-M": 10})
    services.receive_shipment(shop.buyer("A1"), order, shipment)
    with pytest.raises(ValidationFailed):
        services.request_return(shop.buyer("A1"), order, {"TEE-BLK-M": 11}, reason="too many")
    ret = services.request_return(shop.buyer("A1"), order, {"TEE-BLK-M": 2}, reason="faulty")
    services.decide_return(shop.hq, ret, approve=True)
    services.receive_return(shop.hq, ret)
    assert shop.balance("A1") == 8 * 9950
    assert shop.level("A1", "TEE-BLK-M") == (28, 0)
    assert shop.level("HQ", "TEE-BLK-M") == (92, 0)
    assert order.lines[0].returned_qty == 2


def test_reject_by_supplier_needs_a_reason_and_releases(shop):
    order = shop.order("A1", [("TEE-BLK-M", 10)])
    with pytest.raises(ValidationFailed):
        services.reject_order(shop.hq, order, reason="")
    services.reject_order(shop.hq, order, reason="season closed")
    assert order.status == OrderStatus.REJECTED
    assert shop.level("HQ", "TEE-BLK-M") == (100, 0)


def test_store_orders_from_its_distributor(shop):
    order = shop.order("S1", [("TEE-BLK-M", 5)])
    assert order.supplier_org_id == shop.net.org_id("A1")
    assert shop.level("A1", "TEE-BLK-M") == (20, 5)
    with pytest.raises(PermissionDenied):
        services.approve_order(shop.hq, order)  # HQ only watches this one
    services.approve_order(shop.admin("A1"), order)


def test_staff_role_without_place_permission(shop):
    with pytest.raises(PermissionDenied):
        shop.order("S1", [("TEE-BLK-M", 1)], actor=shop.buyer("A1", Role.DISTRIBUTOR_ADMIN))


def test_preview_reports_stock_and_quota_problems_before_submit(shop):
    requests = services.parse_lines([("POLO-WHT-M", 11), ("TEE-BLK-M", 2)])
    problems = services.preview(shop.net.links["A1"], requests).problems
    assert [(p.line, p.code, p.available) for p in problems] == [(0, "insufficient_stock", 10)]
    assert shop.level("HQ", "POLO-WHT-M") == (10, 0)  # a preview holds nothing
