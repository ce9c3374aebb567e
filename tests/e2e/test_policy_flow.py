"""Catalog and policy in a real browser: HQ imports products, gives level A a price for them and
publishes; a level-A distributor reads, acknowledges and sees its new price explained."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import Workbook
from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.browser

HEADER = [
    "product_code",
    "product_name",
    "category",
    "season",
    "launch_date",
    "msrp",
    "sku",
    "color",
    "size",
    "barcode",
    "case_pack",
]


def small_catalog(path: Path) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for color in ("BLK", "WHT"):
        for size in ("S", "M", "L", "XL"):
            sku = f"E2E-TEE-001-{color}-{size}"
            sheet.append(
                ["E2E-TEE-001", "Browser test tee", "TOPS", "2027SS", "2027-03-01", "200.00", sku,
                 color, size, "", 1]
            )  # fmt: skip
    book.save(path)
    return path


def accept_next_confirm(page: Page) -> None:
    page.once("dialog", lambda dialog: dialog.accept())


def test_hq_imports_publishes_and_a_distributor_acknowledges_and_sees_its_price(
    page: Page,
    browser: Browser,
    live_server: str,
    sign_in: Callable[[str], Page],
    tmp_path: Path,
) -> None:
    sign_in("hq@demo.test")
    if page.get_by_test_id("lang-en").count():  # the language is remembered per user
        page.get_by_test_id("lang-en").click()

    # Import a small XLSX: checked first, then applied on confirmation.
    page.goto(live_server + "/catalog/imports")
    page.set_input_files('input[name="file"]', str(small_catalog(tmp_path / "tees.xlsx")))
    page.get_by_role("button", name="Upload and check").click()
    expect(page.get_by_test_id("import-status")).to_have_text("ready")
    expect(page.locator("table.summary")).to_contain_text("8")
    page.get_by_role("button", name="Confirm and apply").click()
    expect(page.get_by_test_id("import-status")).to_have_text("applied")

    # Level A's policy gets a price for the new product: a new version, then publish.
    page.get_by_role("link", name="Policies", exact=True).click()
    page.get_by_role("link", name="ACME-LEVEL-A").click()
    page.get_by_role("button", name="Edit (starts a new version)").click()
    expect(page.locator("main h1")).to_contain_text("ACME-LEVEL-A v2")
    prices = page.locator('textarea[name="prices"]')
    prices.fill(prices.input_value() + "\nproduct E2E-TEE-001 66")
    page.get_by_test_id("save-policy").click()
    expect(page.get_by_test_id("policy-status")).to_have_text("draft")
    publish = page.get_by_test_id("publish")
    expect(publish).to_contain_text(re.compile(r"Publish to \d+ organizations"))
    accept_next_confirm(page)
    publish.click()

    # The reach page follows the delivery job to the end.
    expect(page).to_have_url(re.compile(r"/policies/\d+/reach$"))
    expect(page.locator("#job-status")).to_have_attribute("data-status", "finished")
    expect(page.locator("#job-status progress")).to_have_attribute("value", "100")
    targeted = page.get_by_test_id("targeted").inner_text()
    expect(page.get_by_test_id("delivered")).to_have_text(targeted)
    expect(page.get_by_test_id("acknowledged")).to_have_text("0")

    # The distributor finds it in its inbox, acknowledges it, and sees its new price.
    context = browser.new_context(locale="en-US")
    dist = context.new_page()
    try:
        dist.goto(live_server + "/login")
        dist.fill('input[name="email"]', "dist1@demo.test")
        dist.fill('input[name="password"]', "demo1234")
        dist.click('main form button[type="submit"]')
        expect(dist.get_by_test_id("unread-count")).to_be_visible()
        dist.get_by_test_id("inbox-link").click()
        dist.locator("table[data-testid=inbox] a", has_text="Level A").first.click()
        expect(dist.locator("main hgroup")).to_contain_text("ACME-LEVEL-A v2")
        expect(dist.get_by_test_id("changes")).to_contain_text("E2E-TEE-001")
        dist.get_by_test_id("acknowledge").click()
        expect(dist.get_by_test_id("acknowledged")).to_be_visible()

        dist.goto(live_server + "/catalog?brand=ACME&q=E2E-TEE-001")
        expect(dist.get_by_test_id("price-E2E-TEE-001")).to_contain_text("66.00")
        dist.get_by_role("link", name="E2E-TEE-001").click()
        dist.get_by_test_id("price-E2E-TEE-001-BLK-M").click()
        expect(dist.locator("main h1")).to_have_text("Why this price?")
        expect(dist.get_by_test_id("why-rule")).to_contain_text("ACME-LEVEL-A v2")
        expect(dist.get_by_test_id("why-rule")).to_contain_text("product E2E-TEE-001")
        expect(dist.get_by_test_id("why-price")).to_contain_text("66.00")
    finally:
        context.close()

    # HQ sees the acknowledgement in the policy's reach.
    page.reload()
    expect(page.get_by_test_id("acknowledged")).to_have_text("1")
