"""A guide's task on phones (issue 22): an S1 shop assistant of ACME (staff1) opens her tasks on her
phone and finds the demo's task T-LIVE (bring people to the winter live sale, ¥1 each) at 0 / 30,
with her own link to the live sale. Two new consumers, each on a phone of her own, sign in to the
shop and open the guide's link: it lands on the live sale's page, whose group-buy tee leads to
the group buy; the first starts a group of two (a colour and size, pickup at S1, paid on the test
gateway) and her order waits for one more; the second opens the first one's group from its share
link, joins and pays, and the group is complete: neither order waits any longer. The tasks' job
then counts the two signed-in visitors: the guide's page says 2 / 30 and ¥2.00 pending; HQ closes
the task on its page and the guide's page shows the ¥2.00 written to her commission.

The module serves a database of its own (the other flows share the session's): the task is
closed here, and its counts must hold this test's visitors only. The guide's phone asks for
Chinese; the consumers' ask for English and the shop answers in Chinese all the same. Every phone
page fits a 375 px screen."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from portal import create_app
from portal.catalog.models import Variant
from portal.core.jobs import JobRun
from portal.extensions import db
from portal.guides.models import Attribution, Guide
from portal.network.models import User
from portal.schedule import enqueue_periodic
from portal.seed.campaigns import EVENT, GROUP_BUY, GROUP_PRICE_CENTS, GROUP_PRODUCT, TASK
from portal.storefront.models import ConsumerOrder
from tests.e2e.conftest import ARTIFACTS, TIMEOUT_MS, serve_portal
from tests.e2e.test_employee_store_flow import money, sign_in_by_phone
from tests.e2e.test_guide_flow import portal_sign_in
from tests.e2e.test_storefront_flow import PHONE_WIDTH, fits_the_phone, zh

pytestmark = pytest.mark.browser

SHOP = "/shop/ACME"
SKU = f"{GROUP_PRODUCT}-WHT-S"  # the demo's S1 shelf holds 11 of these, beyond its safety stock
STORE = "Wangfujing Store"  # S1, selling online for pickup in the demo
GUIDE = "staff1@demo.test"  # a shop assistant at S1, whom T-LIVE reaches
HQ = "hq@demo.test"
PHONE_A = "+8613500135044"  # not among the demo's numbers: new customers
PHONE_B = "+8613500135055"
TARGET = 30  # T-LIVE's target per guide
REWARD_CENTS = 100  # ¥1 per person brought in


@dataclass(frozen=True)
class World:
    base_url: str
    app: Flask  # on the served database, for the job and for reading what the pages did
    option: str  # how the group buy's form names the white S ("<colour> · <size> · ")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    db_path = tmp_path_factory.mktemp("e2e-campaign") / "portal.db"
    with serve_portal(db_path) as base_url:
        app = create_app("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{db_path}", REDIS_URL=None)
        try:
            with app.app_context():
                variant = db.session.execute(select(Variant).where(Variant.sku == SKU)).scalar_one()
                option = f"{variant.color} · {variant.size} · "
                db.session.remove()
            yield World(base_url=base_url, app=app, option=option)
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


def zh_pattern(message: str, **known: object) -> re.Pattern[str]:
    """A message of the shop's catalogue in Chinese, its placeholders filled from `known`, the
    others (a time left, which moves) matching anything."""
    parts = re.split(r"(%\(\w+\)[sd])", zh(message))
    out = []
    for part in parts:
        name = re.fullmatch(r"%\((\w+)\)[sd]", part)
        if name is None:
            out.append(re.escape(part))
        elif name.group(1) in known:
            out.append(re.escape(str(known[name.group(1)])))
        else:
            out.append(".+?")
    return re.compile("".join(out))


WAITING = (
    "Waiting for %(count)d more to join and pay: your group has %(time)s left. "
    "If it does not fill in time, you are refunded in full."
)


def the_task(guide: Page):
    return guide.locator(f"[data-testid=my-task][data-code={TASK}]")


def consumer_signs_in(page: Page, base: str, phone: str) -> None:
    """On the shop's home page: "sign in", the number, the code the demo shows."""
    page.goto(base + SHOP + "/")
    fits_the_phone(page)
    page.get_by_test_id("nav-sign-in").click()
    sign_in_by_phone(page, phone)
    expect(page.get_by_test_id("nav-orders")).to_be_visible()


def opens_the_guides_link(page: Page, base: str, link: str) -> None:
    """The guide's link lands on the live sale's page, the group-buy tee among its items."""
    page.goto(link)
    expect(page).to_have_url(f"{base}{SHOP}/live/{EVENT}")
    expect(page.get_by_test_id("event-state")).to_have_attribute("data-state", "coming")
    expect(page.locator(f"[data-testid=event-item][data-product={GROUP_PRODUCT}]")).to_be_visible()
    fits_the_phone(page)


def buys_white_s(page: Page, form: str, world: World) -> None:
    """In a group-buy form (`form`: its test id), the white S at the group price, one unit."""
    variant = page.get_by_test_id(f"{form}-variant")
    option = variant.locator("option").filter(has_text=world.option)
    expect(option).to_have_count(1)
    expect(option).to_contain_text(money(GROUP_PRICE_CENTS))
    variant.select_option(option.get_attribute("value"))
    page.get_by_test_id(f"{form}-submit").click()


def checks_out_for_pickup_and_pays(page: Page, base: str) -> str:
    """The group's checkout: pickup at S1, placed, paid on the test gateway; the order's number."""
    expect(page.locator(f"[data-testid=checkout-line][data-sku={SKU}]")).to_have_count(1)
    expect(page.get_by_test_id("checkout-group-buy")).to_be_visible()
    fits_the_phone(page)
    page.locator("input[name=fulfilment][value=pickup]").check()
    store = page.get_by_test_id("pickup-store").filter(has_text=STORE)
    expect(store).to_contain_text(zh("Has everything in your cart"))
    store.locator("input[name=pickup_location_id]").check()
    total = page.get_by_test_id("checkout-total").inner_text()
    assert money(GROUP_PRICE_CENTS).replace(",", "") in total.replace(",", ""), total
    page.get_by_test_id("checkout-place").click()
    expect(page).to_have_url(re.compile(r"/shop/ACME/orders/[^/]+/pay$"))
    number = page.url.rsplit("/", 2)[1]
    expect(page.get_by_test_id("pay-total")).to_have_text(total)
    page.get_by_test_id("pay-start").click()
    expect(page.get_by_test_id("gateway")).to_be_visible()
    page.get_by_test_id("gateway-pay").click()
    expect(page).to_have_url(f"{base}{SHOP}/orders/{number}")
    expect(page.get_by_test_id("order-status")).to_have_text(zh("Paid"))
    fits_the_phone(page)
    return number


def guides_of(world: World, numbers: list[str]) -> set[tuple[str, str]]:
    """(guide's e-mail, rule) of each order's attribution."""
    with world.app.app_context():
        rows = db.session.execute(
            select(User.email, Attribution.rule)
            .join(Guide, Guide.user_id == User.id)
            .join(Attribution, Attribution.guide_id == Guide.id)
            .join(ConsumerOrder, ConsumerOrder.id == Attribution.consumer_order_id)
            .where(ConsumerOrder.number.in_(numbers))
        ).all()
        db.session.remove()
        return {(email, str(rule)) for email, rule in rows}


def count_task_results(world: World) -> dict[str, int]:
    """The tasks' periodic job, asked for as the scheduler does; inline (no Redis) it runs on
    the commit that asks for it."""
    with world.app.app_context():
        run = db.session.get(JobRun, enqueue_periodic("count-task-results"))
        assert run is not None and run.status == "finished", run and run.error
        result = dict(run.result or {})
        db.session.remove()
        return result


def test_a_guide_brings_two_consumers_to_the_live_sale_they_fill_a_group_and_her_reward_shows(
    world: World, phones: Callable[..., Page], browser: Browser
) -> None:
    base = world.base_url

    # 1. The guide signs in on her phone and opens her tasks: the live-sale task, nothing yet,
    # and her own link to the live sale.
    guide = phones("guide", locale="zh-CN")
    portal_sign_in(guide, base, GUIDE)
    guide.goto(base + "/guides/me/tasks")
    task = the_task(guide)
    expect(task).to_have_count(1)
    expect(task.get_by_test_id("task-progress")).to_have_text(f"0 / {TARGET}")
    expect(task.get_by_test_id("task-reward")).to_have_text(
        f"{money(0)} · {zh('pending until the task closes')}"
    )
    expect(task.get_by_test_id("task-qr")).to_be_visible()
    link = task.get_by_test_id("task-link").input_value()
    assert re.fullmatch(rf"{re.escape(base + SHOP)}/g/[^/?#]+", link), link
    fits_the_phone(guide)

    # 2. Consumer A signs in to the shop, then opens the guide's link: the live sale's page.
    a = phones("consumer-a")
    consumer_signs_in(a, base, PHONE_A)
    opens_the_guides_link(a, base, link)

    # The group-buy tee leads to the group buy: nobody is waiting, so she starts a group.
    tee = a.locator(f"[data-testid=event-item][data-product={GROUP_PRODUCT}]")
    tee.get_by_test_id("join-group").click()
    expect(a).to_have_url(f"{base}{SHOP}/group-buys/{GROUP_BUY}")
    expect(a.get_by_test_id("group-offer")).to_contain_text(GROUP_PRODUCT)
    expect(a.get_by_test_id("group-price")).to_contain_text("349")
    expect(a.get_by_test_id("no-open-groups")).to_be_visible()
    fits_the_phone(a)
    buys_white_s(a, "start-group", world)
    number_a = checks_out_for_pickup_and_pays(a, base)

    # Paid, and held for the group: it waits for one more.
    held = a.get_by_test_id("order-held")
    expect(held).to_have_text(zh_pattern(WAITING, count=1))
    held.get_by_test_id("order-held-link").click()
    expect(a).to_have_url(re.compile(r"/shop/ACME/groups/[^/?#]+$"))
    group_url = a.url
    expect(a.get_by_test_id("group-status")).to_have_attribute("data-status", "open")
    expect(a.get_by_test_id("seats-left")).to_have_text(zh_pattern("%(num)s place left", num=1))
    expect(a.get_by_test_id("you-are-in")).to_be_visible()
    share = a.get_by_test_id("share-url").input_value()
    assert share == group_url, (share, group_url)
    fits_the_phone(a)

    # 3. Consumer B signs in, opens the guide's link too, then A's group from its share link.
    b = phones("consumer-b")
    consumer_signs_in(b, base, PHONE_B)
    opens_the_guides_link(b, base, link)
    b.goto(share)
    expect(b.get_by_test_id("group-status")).to_have_attribute("data-status", "open")
    expect(b.get_by_test_id("member")).to_have_count(1)
    expect(b.get_by_test_id("empty-place")).to_have_count(1)
    fits_the_phone(b)
    buys_white_s(b, "join-group", world)
    number_b = checks_out_for_pickup_and_pays(b, base)

    # The group is complete: neither order waits, and the group's page says so.
    expect(b.get_by_test_id("order-held")).to_have_count(0)
    expect(b.get_by_test_id("pickup")).to_contain_text(STORE)
    a.goto(f"{base}{SHOP}/orders/{number_a}")
    expect(a.get_by_test_id("order-status")).to_have_text(zh("Paid"))
    expect(a.get_by_test_id("order-held")).to_have_count(0)
    fits_the_phone(a)
    b.goto(share)
    expect(b.get_by_test_id("group-status")).to_have_attribute("data-status", "filled")
    expect(b.get_by_test_id("group-complete")).to_have_text(
        zh("The group is complete: its orders are on their way to the stores.")
    )
    expect(b.get_by_test_id("member")).to_have_count(2)
    fits_the_phone(b)
    # Both bought through the guide's link, so the orders are hers as well.
    assert guides_of(world, [number_a, number_b]) == {(GUIDE, "link")}

    # 4. The tasks' job counts the two signed-in consumers who opened her link.
    counted = count_task_results(world)
    assert counted["counted"] == 2, counted
    guide.reload()
    task = the_task(guide)
    expect(task.get_by_test_id("task-progress")).to_have_text(f"2 / {TARGET}")
    expect(task.get_by_test_id("task-reward")).to_have_text(
        f"{money(2 * REWARD_CENTS)} · {zh('pending until the task closes')}"
    )
    fits_the_phone(guide)

    # HQ closes the task on its page: the rewards go to the commission ledger.
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        hq = context.new_page()
        portal_sign_in(hq, base, HQ)
        if hq.get_by_test_id("lang-en").count():  # the language is remembered per user
            hq.get_by_test_id("lang-en").click()
        hq.goto(base + "/campaigns/tasks/")
        hq.locator(f"tr[data-testid=task-row][data-code={TASK}] a").first.click()
        expect(hq).to_have_url(re.compile(r"/campaigns/tasks/\d+$"))
        expect(hq.get_by_test_id("total-results")).to_have_text("2")
        hq.get_by_test_id("close-form").get_by_role("button", name="Close the task now").click()
        expect(hq.locator("main")).to_contain_text(
            "Closed: 1 reward written to the commission ledger."
        )
        expect(hq.get_by_test_id("task-status")).to_have_text("Closed")
        expect(hq.get_by_test_id("total-results")).to_have_text("2")
    finally:
        context.close()

    # The guide's page: the task closed, its ¥2.00 in her commission; no link to share any more.
    guide.reload()
    task = the_task(guide)
    expect(task.get_by_test_id("task-progress")).to_have_text(f"2 / {TARGET}")
    expect(task.get_by_test_id("task-reward")).to_have_text(
        f"{money(2 * REWARD_CENTS)} · {zh('in your commission')}"
    )
    expect(task.get_by_test_id("task-link")).to_have_count(0)
    fits_the_phone(guide)
