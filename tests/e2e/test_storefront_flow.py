"""A consumer buys on a phone and picks up in a store: a demo consumer of ACME signs in with the
code the demo shows, puts a size of a T-shirt in the cart, checks out for pickup at the Wangfujing
store, pays on the test gateway and gets a pickup code; that store's staff accept the order, mark
it ready and hand it over against the code, and the consumer's order page says it is complete.
Every shop page is in Chinese and fits a 375 px screen without scrolling sideways."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest
from babel.support import Translations
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.conftest import ARTIFACTS, TIMEOUT_MS

pytestmark = pytest.mark.browser

SHOP = "/shop/ACME"
PHONE = "+8613800138001"  # 李娜, whose default address is on Wangfujing Street (portal/seed)
PRODUCT = "ACME-TEE-001"
SKU = f"{PRODUCT}-WHT-S"  # the demo's S1 shelf holds 11 of these, beyond its safety stock of 1
STORE = "Wangfujing Store"  # S1, selling online for pickup in the demo
STAFF = "staff1@demo.test"
PHONE_WIDTH = 375

# The shop's words in the consumer's language, from the catalog the server reads: the test follows
# the translations as they change instead of restating them.
_ZH = Translations.load(
    str(Path(__file__).resolve().parents[2] / "portal" / "translations"), ["zh_Hans_CN"]
)


def zh(text: str) -> str:
    return _ZH.gettext(text)


@pytest.fixture
def phone(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A phone whose browser asks for English: the shop still answers in Chinese. A screenshot
    of where it stopped when the test fails."""
    context = browser.new_context(
        locale="en-US",
        viewport={"width": PHONE_WIDTH, "height": 812},
        is_mobile=True,
        has_touch=True,
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            ARTIFACTS.mkdir(exist_ok=True)
            with suppress(Exception):  # must not hide the test's own failure
                page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-phone.png"))
        context.close()


def fits_the_phone(page: Page) -> None:
    """The page is in Chinese and nothing sticks out sideways at 375 px."""
    page.wait_for_load_state("load")  # images and stylesheets decide the width
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    # A phone browser widens its layout viewport to a page that overflows (innerWidth follows,
    # so scrollWidth <= innerWidth alone would pass): the viewport must still be the screen's.
    assert widths[1] == PHONE_WIDTH, f"{page.url} is {widths[1]} px wide on the phone"
    assert widths[0] <= widths[1], f"{page.url} scrolls sideways: {widths[0]} px wide"
    if "/shop/" in page.url:
        assert page.locator("html").get_attribute("lang") == "zh-CN", page.url


def staff_signs_in(browser: Browser, base: str) -> tuple[BrowserContext, Page]:
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    staff = context.new_page()
    staff.goto(base + "/login")
    staff.fill('input[name="email"]', STAFF)
    staff.fill('input[name="password"]', "demo1234")
    staff.click('main form button[type="submit"]')
    staff.wait_for_url(base + "/")
    if staff.get_by_test_id("lang-en").count():  # the language is remembered per user
        staff.get_by_test_id("lang-en").click()
    return context, staff


def test_consumer_buys_for_pickup_pays_and_the_store_hands_over(
    phone: Page, browser: Browser, live_server: str
) -> None:
    base = live_server
    shop = base + SHOP

    # The shop's home, in Chinese although the browser asks for English.
    phone.goto(shop + "/")
    fits_the_phone(phone)
    expect(phone.get_by_test_id("nav-sign-in")).to_have_text("登录")

    # Sign in by mobile number: in demo mode the page shows the code it "sent".
    phone.get_by_test_id("nav-sign-in").click()
    fits_the_phone(phone)
    phone.fill('input[name="phone"]', PHONE)
    phone.locator("main form button[type=submit]").first.click()
    code_line = phone.locator(".shop-demo-code")
    expect(code_line).to_be_visible()
    fits_the_phone(phone)
    code = re.search(r"\d{6}", code_line.inner_text())
    assert code, code_line.inner_text()
    phone.fill('input[name="code"]', code.group())
    phone.locator("main form button[type=submit]").first.click()
    expect(phone.get_by_test_id("nav-orders")).to_be_visible()
    expect(phone.get_by_test_id("nav-sign-in")).to_have_count(0)
    fits_the_phone(phone)

    # Find the T-shirt from the home page's search and open it.
    phone.goto(shop + "/")
    phone.fill('input[name="q"]', PRODUCT)
    phone.get_by_test_id("shop-search").locator("button[type=submit]").click()
    product = phone.get_by_test_id("shop-product").filter(has_text=PRODUCT)
    expect(product).to_have_count(1)
    fits_the_phone(phone)
    product.locator("a").first.click()
    expect(phone.get_by_test_id("shop-offer")).to_contain_text(PRODUCT)
    fits_the_phone(phone)

    # One white S into the cart, and on to the checkout.
    size = phone.locator(f"[data-testid=shop-sku][data-sku={SKU}]")
    expect(size.locator("strong")).to_have_text("S")
    size.get_by_test_id("add-to-cart").click()
    expect(phone).to_have_url(re.compile(r"/shop/ACME/cart$"))
    line = phone.locator(f"[data-testid=cart-line][data-sku={SKU}]")
    expect(line).to_have_count(1)
    expect(line.locator("input[name=qty]")).to_have_value("1")
    fits_the_phone(phone)
    phone.get_by_test_id("cart-checkout").click()
    expect(phone.locator(f"[data-testid=checkout-line][data-sku={SKU}]")).to_have_count(1)
    fits_the_phone(phone)

    # Pickup at the Wangfujing store, the nearest to her address, which has the shirt.
    expect(phone.locator("input[name=fulfilment][value=pickup]")).to_be_checked()
    store = phone.get_by_test_id("pickup-store").filter(has_text=STORE)
    expect(store).to_contain_text(zh("Has everything in your cart"))
    store.locator("input[name=pickup_location_id]").check()
    total = phone.get_by_test_id("checkout-total").inner_text()
    phone.get_by_test_id("checkout-place").click()

    # The pay page asks for the cart's total and sends her to the test gateway.
    expect(phone).to_have_url(re.compile(r"/shop/ACME/orders/[^/]+/pay$"))
    number = phone.url.rsplit("/", 2)[1]
    expect(phone.get_by_test_id("pay-total")).to_have_text(total)
    fits_the_phone(phone)
    phone.get_by_test_id("pay-start").click()
    expect(phone.get_by_test_id("gateway")).to_be_visible()
    fits_the_phone(phone)
    phone.get_by_test_id("gateway-pay").click()

    # Back on her order: paid, with a pickup code to show at the store.
    expect(phone).to_have_url(f"{shop}/orders/{number}")
    expect(phone.get_by_test_id("order-status")).to_have_text(zh("Paid"))
    pickup_code = phone.get_by_test_id("pickup-code")
    expect(pickup_code).to_have_text(re.compile(r"^\s*\d{4,}\s*$"))
    expect(phone.get_by_test_id("pickup")).to_contain_text(STORE)
    qr = phone.get_by_test_id("pickup").locator("img")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0"), "the QR code did not load"
    expect(phone.get_by_test_id("order-lines")).to_contain_text("S × 1")
    fits_the_phone(phone)
    code_to_show = pickup_code.inner_text().strip()

    context, staff = staff_signs_in(browser, base)
    try:
        # The store's online orders: her paid order is waiting.
        staff.get_by_test_id("shop-orders-link").click()
        expect(staff).to_have_url(base + "/shop-orders/pickups")
        row = staff.locator(f"table[data-testid=queue] tr[data-order='{number}']")
        expect(row).to_contain_text("Paid")
        expect(row).to_contain_text(SKU)

        row.get_by_role("button", name="Accept").click()
        expect(staff.locator("main")).to_contain_text(f"Order {number} accepted")
        expect(row).to_contain_text("Being prepared")

        row.get_by_role("button", name="Ready for pickup").click()
        expect(staff.locator("main")).to_contain_text(f"Order {number} is ready for pickup.")
        expect(row).to_contain_text("Waiting for the consumer's code")

        # She shows her code at the counter; the staff type it in.
        staff.get_by_test_id("code-form").locator("input[name=code]").fill(code_to_show)
        staff.get_by_test_id("code-form").get_by_role("button", name="Hand over").click()
        expect(staff.locator("main")).to_contain_text(f"Order {number} handed over.")
        expect(row).to_have_count(0)
    finally:
        context.close()

    # Her orders say it is complete; so does its page, where the code is gone.
    phone.get_by_test_id("nav-orders").click()
    mine = phone.get_by_test_id("order-row").filter(has_text=number)
    expect(mine.get_by_test_id("order-status")).to_have_text(zh("Completed"))
    fits_the_phone(phone)
    mine.get_by_role("link", name=number).click()
    expect(phone).to_have_url(f"{shop}/orders/{number}")
    expect(phone.get_by_test_id("order-status")).to_have_text(zh("Completed"))
    expect(phone.get_by_test_id("pickup-code")).to_have_count(0)
    fits_the_phone(phone)
