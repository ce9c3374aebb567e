"""A guide's shared link on two phones: an S1 shop assistant of ACME (staff1) signs in to the
portal on her phone, opens her guide page, finds the T-shirt and copies its share link; a
consumer opens the link on her own phone, lands on the T-shirt, signs in by mobile number and
code, buys a size for pickup at S1 (the guide's store) and pays on the test gateway; the store's
owner hands the order over at the counter; the guide's sales page then shows the order, counted
for her through the shared link, with its commission pending while the return window is open.

The module serves a database of its own (the other flows share the session's), so the guide's
month holds this sale only. The guide's phone asks for Chinese; the consumer's asks for English
and the shop answers in Chinese all the same. Every phone page fits a 375 px screen."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from portal import create_app
from portal.core.db import utcnow
from portal.extensions import db
from portal.guides.models import Attribution, CommissionEntry, CommissionKind, Guide
from portal.guides.reports import current_period_label
from portal.network.models import User
from portal.policy.consumer_terms import terms_for
from portal.storefront.models import ConsumerOrder
from tests.e2e.conftest import ARTIFACTS, TIMEOUT_MS, serve_portal
from tests.e2e.test_employee_store_flow import money, sign_in_by_phone
from tests.e2e.test_storefront_flow import PHONE_WIDTH, fits_the_phone, zh

pytestmark = pytest.mark.browser

SHOP = "/shop/ACME"
PRODUCT = "ACME-TEE-001"
SKU = f"{PRODUCT}-WHT-S"  # the demo's S1 shelf holds 11 of these, beyond its safety stock of 1
STORE = "Wangfujing Store"  # S1, selling online for pickup in the demo
GUIDE = "staff1@demo.test"  # a shop assistant at S1
OWNER = "store1@demo.test"  # S1's owner, at the counter when the consumer comes
PASSWORD = "demo1234"  # portal/seed/demo.py DEMO_PASSWORD
CONSUMER_PHONE = "+8613500135033"  # not one of the demo's numbers: a new customer
BP = 10_000  # basis points in a whole


@dataclass(frozen=True)
class World:
    base_url: str
    app: Flask  # on the served database, for reading what the pages did


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    db_path = tmp_path_factory.mktemp("e2e-guides") / "portal.db"
    with serve_portal(db_path) as base_url:
        app = create_app("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{db_path}", REDIS_URL=None)
        try:
            yield World(base_url=base_url, app=app)
        finally:
            with app.app_context():
                db.engine.dispose()


@pytest.fixture
def phones(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Callable[..., Page]]:
    """phones("guide", locale="zh-CN") is a new phone (its own cookies) whose browser asks for
    `locale`; each one's screen is kept when the test fails."""
    opened: dict[str, Page] = {}

    def open_phone(name: str, locale: str = "en-US") -> Page:
        context = browser.new_context(
            locale=locale,
            viewport={"width": PHONE_WIDTH, "height": 812},
            is_mobile=True,
            has_touch=True,
        )
        context.set_default_timeout(TIMEOUT_MS)
        opened[name] = context.new_page()
        return opened[name]

    try:
        yield open_phone
    finally:
        report = getattr(request.node, "report_call", None)
        for name, page in opened.items():
            if report is not None and report.failed:
                ARTIFACTS.mkdir(exist_ok=True)
                with suppress(Exception):  # must not hide the test's own failure
                    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{name}.png"))
            page.context.close()


def portal_sign_in(page: Page, base: str, email: str) -> None:
    page.goto(base + "/login")
    page.fill('input[name="email"]', email)
    page.fill('input[name="password"]', PASSWORD)
    page.click('main form button[type="submit"]')
    page.wait_for_url(base + "/")


def open_sales_month(guide: Page, base: str, period: str) -> None:
    """From her guide pages' tabs to *My sales*, on the month the sale counts in (the page opens
    on this month, which is the next one if midnight has passed in between)."""
    guide.goto(base + "/guides/me")
    guide.get_by_test_id("guide-tabs").get_by_role("link", name=zh("My sales")).click()
    expect(guide).to_have_url(re.compile(r"/guides/me/sales(\?|$)"))
    if guide.get_by_test_id("period").inner_text().strip() != period:
        guide.goto(f"{base}/guides/me/sales?period={period}")
    expect(guide.get_by_test_id("period")).to_have_text(period)


@dataclass(frozen=True)
class Sold:
    """What the order left in the database, as the guide and HQ would come to see it."""

    rule: str
    guide_email: str
    commission_cents: int  # counted at checkout on the attribution
    expected_cents: int  # the brand's commission terms applied to what was paid for the goods
    earned: list[tuple[int, bool]]  # the order's earning entries: (amount, still pending)
    period: str  # the month ("2026-11", the portal's time zone) the sale counts in


def sold(world: World, number: str) -> Sold:
    with world.app.app_context():
        order = db.session.execute(
            select(ConsumerOrder).where(ConsumerOrder.number == number)
        ).scalar_one()
        terms = terms_for(order.brand_id).commission
        expected = 0
        for line in order.lines:
            paid = line.line_cents - line.discount_cents
            rate = terms.rate_for(order.tier, line.variant.product.category.code)
            expected += paid * rate // BP + terms.per_unit_cents * line.qty
        attribution = db.session.execute(
            select(Attribution).where(Attribution.consumer_order_id == order.id)
        ).scalar_one()
        email = db.session.execute(
            select(User.email)
            .join(Guide, Guide.user_id == User.id)
            .where(Guide.id == attribution.guide_id)
        ).scalar_one()
        now = utcnow()
        entries = db.session.execute(
            select(CommissionEntry).where(
                CommissionEntry.guide_id == attribution.guide_id,
                CommissionEntry.kind == CommissionKind.EARN,
                CommissionEntry.reference == f"O{order.id}",
            )
        ).scalars()
        found = Sold(
            rule=str(attribution.rule),
            guide_email=email,
            commission_cents=attribution.commission_cents,
            expected_cents=expected,
            earned=[(e.amount_cents, _aware(e.matures_at) > now) for e in entries],
            period=current_period_label(_aware(attribution.created_at)),
        )
        db.session.remove()
        return found


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive UTC datetimes."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def test_a_guide_shares_a_product_a_consumer_buys_through_it_and_the_commission_is_pending(
    world: World, phones: Callable[..., Page], browser: Browser
) -> None:
    base = world.base_url
    shop = base + SHOP

    # 1. The guide signs in to the portal on her phone and opens her guide page: her code, and a
    # product search that gives each product's share link.
    guide = phones("guide", locale="zh-CN")
    portal_sign_in(guide, base, GUIDE)
    guide.goto(base + "/guides/me")
    code = guide.get_by_test_id("guide-code").inner_text().strip()
    assert code, "the guide page shows no guide code"
    fits_the_phone(guide)
    search = guide.get_by_test_id("product-search")
    search.locator("input[name=q]").fill(PRODUCT)
    search.locator("button[type=submit]").click()
    card = guide.get_by_test_id(f"share-product-{PRODUCT}")
    expect(card).to_have_count(1)
    fits_the_phone(guide)
    link = card.get_by_test_id("share-url").input_value()
    assert re.fullmatch(rf"{re.escape(shop)}/g/[^/?#]+", link), link

    # 2. The consumer opens the link on her own phone: the T-shirt's page, in Chinese.
    consumer = phones("consumer")
    consumer.goto(link)
    expect(consumer.get_by_test_id("shop-offer")).to_contain_text(PRODUCT)
    product_url = consumer.url
    assert product_url.startswith(shop + "/"), product_url
    fits_the_phone(consumer)

    # She signs up with her mobile number and the code the demo shows, then goes back to it.
    consumer.get_by_test_id("nav-sign-in").click()
    sign_in_by_phone(consumer, CONSUMER_PHONE)
    expect(consumer.get_by_test_id("nav-orders")).to_be_visible()
    consumer.goto(product_url)
    expect(consumer.get_by_test_id("shop-offer")).to_contain_text(PRODUCT)

    # A white S into the cart; checkout for pickup at the guide's store; paid on the gateway.
    size = consumer.locator(f"[data-testid=shop-sku][data-sku={SKU}]")
    size.get_by_test_id("add-to-cart").click()
    expect(consumer).to_have_url(re.compile(r"/shop/ACME/cart$"))
    expect(consumer.locator(f"[data-testid=cart-line][data-sku={SKU}]")).to_have_count(1)
    consumer.get_by_test_id("cart-checkout").click()
    expect(consumer.locator(f"[data-testid=checkout-line][data-sku={SKU}]")).to_have_count(1)
    fits_the_phone(consumer)
    consumer.locator("input[name=fulfilment][value=pickup]").check()
    store = consumer.get_by_test_id("pickup-store").filter(has_text=STORE)
    expect(store).to_contain_text(zh("Has everything in your cart"))
    store.locator("input[name=pickup_location_id]").check()
    total = consumer.get_by_test_id("checkout-total").inner_text()
    consumer.get_by_test_id("checkout-place").click()
    expect(consumer).to_have_url(re.compile(r"/shop/ACME/orders/[^/]+/pay$"))
    number = consumer.url.rsplit("/", 2)[1]
    expect(consumer.get_by_test_id("pay-total")).to_have_text(total)
    consumer.get_by_test_id("pay-start").click()
    expect(consumer.get_by_test_id("gateway")).to_be_visible()
    consumer.get_by_test_id("gateway-pay").click()
    expect(consumer).to_have_url(f"{shop}/orders/{number}")
    expect(consumer.get_by_test_id("order-status")).to_have_text(zh("Paid"))
    expect(consumer.get_by_test_id("pickup")).to_contain_text(STORE)
    pickup_code = consumer.get_by_test_id("pickup-code")
    expect(pickup_code).to_have_text(re.compile(r"^\s*\d{4,}\s*$"))
    code_to_show = pickup_code.inner_text().strip()
    fits_the_phone(consumer)

    # The order counts for the guide through her link, with the brand's commission on the goods;
    # nothing is earned before the consumer has the goods.
    placed = sold(world, number)
    assert (placed.rule, placed.guide_email) == ("link", GUIDE), placed
    assert placed.expected_cents > 0, placed
    assert placed.commission_cents == placed.expected_cents, placed
    assert placed.earned == [], placed

    # Her month so far: the sale, under "shared link", with its commission; none pending yet.
    open_sales_month(guide, base, placed.period)
    sale = guide.get_by_test_id("sale").filter(has_text=number)
    expect(sale).to_contain_text(zh("Shared link"))
    expect(sale).to_contain_text(money(placed.expected_cents))
    expect(guide.get_by_test_id("commission-pending").locator("strong")).to_have_text(money(0))
    fits_the_phone(guide)

    # 3. At S1's counter the owner accepts the order, readies it and hands it over on her code.
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        staff = context.new_page()
        portal_sign_in(staff, base, OWNER)
        staff.get_by_test_id("shop-orders-link").click()
        expect(staff).to_have_url(base + "/shop-orders/pickups")
        row = staff.locator(f"table[data-testid=queue] tr[data-order='{number}']")
        expect(row).to_contain_text(SKU)
        row.get_by_role("button", name="Accept").click()
        expect(row).to_contain_text("Being prepared")
        row.get_by_role("button", name="Ready for pickup").click()
        expect(row).to_contain_text("Waiting for the consumer's code")
        staff.get_by_test_id("code-form").locator("input[name=code]").fill(code_to_show)
        staff.get_by_test_id("code-form").get_by_role("button", name="Hand over").click()
        expect(staff.locator("main")).to_contain_text(f"Order {number} handed over.")
    finally:
        context.close()
    consumer.reload()
    expect(consumer.get_by_test_id("order-status")).to_have_text(zh("Completed"))

    # 4. The guide's sales page: the order, through her shared link, and its commission pending
    # while the return window is open.
    open_sales_month(guide, base, placed.period)
    expect(guide.locator("h1")).to_have_text(zh("My sales and commission"))
    sale = guide.get_by_test_id("sale").filter(has_text=number)
    expect(sale).to_have_count(1)
    expect(sale).to_contain_text(zh("Shared link"))
    expect(sale).to_contain_text(money(placed.expected_cents))
    link_rule = guide.get_by_test_id("rule-link")
    expect(link_rule.get_by_test_id("rule-orders")).to_have_text("1")
    pending = guide.get_by_test_id("commission-pending").locator("strong")
    expect(pending).to_have_text(money(placed.expected_cents))
    expect(guide.get_by_test_id("commission-available").locator("strong")).to_have_text(money(0))
    fits_the_phone(guide)

    handed = sold(world, number)
    assert handed.earned == [(placed.expected_cents, True)], handed
