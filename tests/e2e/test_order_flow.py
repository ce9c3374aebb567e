"""Ordering in a real browser: a store fills its supplier's product grid and submits its cart;
the distributor approves it from its queue and ships part of it; the store receives the shipment.
Both see the stock move and the invoice in the account's ledger."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.browser

PRODUCT = "ACME-TEE-001"  # MOQ 6, multiples of 3; D1 (store1's supplier) stocks these two
BLK_M, BLK_XL = f"{PRODUCT}-BLK-M", f"{PRODUCT}-BLK-XL"


def in_english(page: Page) -> None:
    if page.get_by_test_id("lang-en").count():  # the language is remembered per user
        page.get_by_test_id("lang-en").click()


def on_hand(page: Page, base: str, location: str, sku: str) -> int:
    """Grade-A units on hand of one SKU at a location, read from its stock page (0: no row)."""
    page.goto(f"{base}/stock/{location}?q={sku}&grade=A")
    expect(page.get_by_test_id("levels")).to_be_visible()
    row = page.locator("table[data-testid=levels] tbody tr", has_text=sku)
    if row.count() == 0:
        return 0
    return int(row.first.locator("td").nth(3).inner_text())


def open_ledger(page: Page, base: str, buyer: str) -> None:
    """The account page of a buyer's channel link, from the accounts list."""
    page.goto(f"{base}/accounts?q={buyer}")
    page.locator(f"table[data-testid=accounts] tr[data-buyer={buyer}] a").first.click()
    expect(page.get_by_test_id("entries")).to_be_visible()


def invoice_row(page: Page, number: str):
    return page.locator("table[data-testid=entries] tr[data-kind=invoice]", has_text=number)


def sign_in_elsewhere(browser: Browser, base: str, email: str) -> Page:
    """Another person, in a browser context of their own."""
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    other = context.new_page()
    other.goto(base + "/login")
    other.fill('input[name="email"]', email)
    other.fill('input[name="password"]', "demo1234")
    other.click('main form button[type="submit"]')
    other.wait_for_url(base + "/")
    in_english(other)
    return other


def test_store_orders_distributor_ships_part_and_store_receives(
    page: Page, browser: Browser, live_server: str, sign_in: Callable[[str], Page]
) -> None:
    base = live_server
    sign_in("store1@demo.test")
    in_english(page)
    shelf_before = on_hand(page, base, "S1-SHELF", BLK_M)

    # The product page leads to the order grid: 12 + 6 units, saved to the cart.
    page.goto(f"{base}/catalog/ACME/{PRODUCT}")
    page.get_by_test_id("order-product").click()
    expect(page.get_by_test_id("order-grid")).to_be_visible()
    page.get_by_test_id(f"qty-{BLK_M}").fill("12")
    page.get_by_test_id(f"qty-{BLK_XL}").fill("6")
    page.get_by_test_id("save-grid").click()
    expect(page).to_have_url(re.compile(r"/cart/ACME$"))
    expect(page.get_by_test_id("total-qty")).to_have_text("18")

    # Submit: the cart becomes an order waiting for the supplier.
    page.fill('input[name="po_number"]', "E2E-PO-1")
    page.get_by_test_id("submit-order").click()
    expect(page).to_have_url(re.compile(r"/orders/ACME-\d+$"))
    number = page.url.rsplit("/", 1)[1]
    expect(page.get_by_test_id("order-status")).to_have_text("Submitted")
    expect(page.get_by_test_id("po-number")).to_have_text("E2E-PO-1")
    expect(page.get_by_test_id("timeline")).to_contain_text("Submitted")

    dist = sign_in_elsewhere(browser, base, "dist1@demo.test")
    try:
        warehouse_before = on_hand(dist, base, "D1-WH", BLK_M)

        # The distributor's queue: tick the order, approve it.
        dist.get_by_test_id("orders-link").click()
        dist.get_by_test_id("tab-selling").click()
        dist.get_by_test_id(f"pick-{number}").check()
        dist.get_by_test_id("approve-selected").click()
        expect(dist.locator("main")).to_contain_text("1 order approved.")

        # Ship half of the black M and none of the XL, with a tracking number.
        dist.get_by_role("link", name=number).click()
        expect(dist.get_by_test_id("order-status")).to_have_text("Confirmed")
        dist.get_by_test_id(f"ship-{BLK_M}").fill("6")
        dist.get_by_test_id(f"ship-{BLK_XL}").fill("0")
        dist.get_by_test_id("tracking-number").fill("SF-E2E-0001")
        dist.get_by_test_id("ship").click()
        expect(dist.get_by_test_id("order-status")).to_have_text("Partially shipped")
        expect(dist.get_by_test_id("shipment-1")).to_contain_text("SF-E2E-0001")
        expect(dist.get_by_test_id("timeline")).to_contain_text("invoiced")

        # The units left the distributor's warehouse, and the store owes it the shipped part.
        assert on_hand(dist, base, "D1-WH", BLK_M) == warehouse_before - 6
        open_ledger(dist, base, "S1")
        expect(invoice_row(dist, number)).to_contain_text(f"shipment:{number}/1")
    finally:
        dist.context.close()

    # The store receives the shipment: the units land on its shelf.
    page.goto(f"{base}/orders/{number}")
    page.get_by_test_id("receive-1").click()
    expect(page.get_by_test_id(f"received-{BLK_M}")).to_have_text("6")
    expect(page.get_by_test_id("timeline")).to_contain_text("Received")
    assert on_hand(page, base, "S1-SHELF", BLK_M) == shelf_before + 6

    # The store sees the same invoice in its own account ledger: 6 × 139.00.
    open_ledger(page, base, "S1")
    invoice = invoice_row(page, number)
    expect(invoice).to_have_count(1)
    expect(invoice).to_contain_text("834.00")
