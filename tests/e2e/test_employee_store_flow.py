"""The employee store on two phones: an ACME employee (on the brand's HR list, so her mobile
number lets her in) signs in, makes an invite code and passes its link to a friend; the friend
signs up by mobile number through the link, joins with the code and is let into the employee
store; in an open private sale (内购会) she buys a grade-B T-shirt for pickup and pays on the test
gateway; asking for more than the sale's per-person limit is refused, naming the limit and what
is left, and reserves nothing; the employee's invites page then shows her friend and what she
bought. Every shop page is in Chinese and fits a 375 px screen without scrolling sideways.

The module serves a database of its own (the other flows share the session's): the employee,
the grade-B units and the sale are written through the services before the phones arrive."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from babel.numbers import format_currency
from babel.support import Translations
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func, select

from portal import create_app
from portal.catalog.models import Variant
from portal.core.access import Actor
from portal.core.db import utcnow
from portal.core.jobs import commit
from portal.extensions import db
from portal.inventory.ledger import MoveLine, apply_moves
from portal.inventory.models import Grade, MoveReason, StockLevel, StockMove
from portal.inventory.services import check_ledger, default_location
from portal.members import membership, private_sales
from portal.members.employee_models import HrListEntry
from portal.members.sale_models import PrivateSaleItem, SaleAudience
from portal.policy.consumer_terms import terms_for
from portal.storefront.models import Consumer, ConsumerOrder
from tests.e2e.conftest import ARTIFACTS, TIMEOUT_MS, serve_portal
from tests.e2e.test_storefront_flow import PHONE_WIDTH, fits_the_phone, zh
from tests.support.services import actor_for, org

pytestmark = pytest.mark.browser

SHOP = "/shop/ACME"
EMPLOYEE_PHONE = "+8613500135011"  # not one of the demo's numbers
EMPLOYEE_NO = "E2E-0001"
FRIEND_PHONE = "+8613500135022"
SKU = "ACME-TEE-001-BLK-M"
STORE = "S1"  # Wangfujing, selling online for pickup (safety stock 1)
RECEIVED_B = 5  # grade-B units of SKU received at the store for the sale
SALE_CODE = "E2E-NEIGOU"
SALE_NAME = "亲友内购会"
SALE_PRICE_CENTS = 2_900
SET_ASIDE = 3
LIMIT = 2  # per person


@dataclass(frozen=True)
class World:
    base_url: str
    app: Flask  # on the served database, for setting up and for reading what the pages did
    sale_item_id: int
    variant_id: int
    location_id: int
    line_text: str  # how the order page writes the bought line ("<colour> · <size> × 1")
    quota: int  # invites a year
    code_uses: int  # friends one code lets in


def _set_up(app: Flask, base_url: str) -> World:
    """The employee (a member on the HR list), grade-B units at the store, the open sale."""
    with app.app_context():
        brand = org("ACME")
        hq = actor_for("hq@demo.test")
        employee = Consumer(brand_id=brand.id, phone=EMPLOYEE_PHONE, name="周婷")
        db.session.add(employee)
        db.session.flush()
        membership.join(employee)
        db.session.add(
            HrListEntry(
                brand_id=brand.id, employee_no=EMPLOYEE_NO, name="周婷", phone=EMPLOYEE_PHONE
            )
        )
        location = default_location(org(STORE))
        variant = db.session.execute(select(Variant).where(Variant.sku == SKU)).scalar_one()
        apply_moves(
            Actor.system(),
            [MoveLine(location.id, variant.id, RECEIVED_B, grade=Grade.B)],
            reason=MoveReason.RECEIPT,
            reference="e2e-employee-store",
        )
        now = utcnow()
        sale = private_sales.create_sale(
            hq,
            brand,
            private_sales.SaleInput(
                code=SALE_CODE,
                name=SALE_NAME,
                starts_at=now - timedelta(hours=1),
                ends_at=now + timedelta(days=7),
                audience=SaleAudience.FRIENDS,
                location_id=location.id,
            ),
        )
        item = private_sales.add_item(
            hq,
            sale,
            private_sales.ItemInput(SKU, Grade.B, SALE_PRICE_CENTS, SET_ASIDE, LIMIT),
        )
        private_sales.publish_sale(hq, sale)
        invites = terms_for(brand.id).invites
        world = World(
            base_url=base_url,
            app=app,
            sale_item_id=item.id,
            variant_id=variant.id,
            location_id=location.id,
            line_text=f"{variant.color} · {variant.size} × 1",
            quota=invites.quota_per_year,
            code_uses=invites.code_uses,
        )
        assert world.code_uses < world.quota, "the demo's invite terms changed: adjust the test"
        commit()
        db.session.remove()
        return world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    db_path = tmp_path_factory.mktemp("e2e-employee-store") / "portal.db"
    with serve_portal(db_path) as base_url:
        app = create_app("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{db_path}", REDIS_URL=None)
        try:
            yield _set_up(app, base_url)
        finally:
            with app.app_context():
                db.engine.dispose()


@pytest.fixture
def phones(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Callable[[str], Page]]:
    """phones("employee") is a new phone (its own cookies) whose browser asks for English; each
    one's screen is kept when the test fails."""
    opened: dict[str, Page] = {}

    def open_phone(name: str) -> Page:
        context = browser.new_context(
            locale="en-US",
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


_ZH = Translations.load(
    str(Path(__file__).resolve().parents[2] / "portal" / "translations"), ["zh_Hans_CN"]
)


def ngettext(singular: str, plural: str, num: int) -> str:
    """A plural as the shop writes it in Chinese (what zh() is for one form)."""
    return _ZH.ngettext(singular, plural, num) % {"num": num}


def money(cents: int) -> str:
    """An amount as the shop (in zh_Hans_CN) writes it."""
    return format_currency(Decimal(cents) / 100, "CNY", locale="zh_Hans_CN")


def masked(phone: str) -> str:
    digits = phone.removeprefix("+86")
    return f"{digits[:3]}****{digits[-4:]}"


def sign_in_by_phone(page: Page, phone: str) -> None:
    """On the shop's sign-in page: the number, then the code the demo shows as "sent"."""
    page.fill('input[name="phone"]', phone)
    page.locator("main form button[type=submit]").first.click()
    code_line = page.locator(".shop-demo-code")
    expect(code_line).to_be_visible()
    fits_the_phone(page)
    code = re.search(r"\d{6}", code_line.inner_text())
    assert code, code_line.inner_text()
    page.fill('input[name="code"]', code.group())
    page.locator("main form button[type=submit]").first.click()


def quota_text(world: World, *, joined: int, open_uses: int) -> str:
    return zh(
        "You may invite %(quota)d friends a year. This year: %(joined)d joined, %(open)d places"
        " open on your codes, %(left)d left."
    ) % {
        "quota": world.quota,
        "joined": joined,
        "open": open_uses,
        "left": world.quota - joined - open_uses,
    }


@dataclass(frozen=True)
class Held:
    """What the friend's buying holds in the database."""

    orders: int
    sale_left: int
    reserved: int  # grade-B units of the SKU reserved at the store (the sale's hold included)
    moves: int  # stock ledger rows of those units


def held(world: World) -> Held:
    with world.app.app_context():
        friend_id = db.session.execute(
            select(Consumer.id).where(Consumer.phone == FRIEND_PHONE)
        ).scalar_one()
        orders = db.session.execute(
            select(func.count(ConsumerOrder.id)).where(ConsumerOrder.consumer_id == friend_id)
        ).scalar_one()
        item = db.session.execute(
            select(PrivateSaleItem).where(PrivateSaleItem.id == world.sale_item_id)
        ).scalar_one()
        here = (
            StockLevel.location_id == world.location_id,
            StockLevel.variant_id == world.variant_id,
            StockLevel.grade == Grade.B,
        )
        reserved = db.session.execute(select(StockLevel.reserved).where(*here)).scalar_one()
        moves = db.session.execute(
            select(func.count(StockMove.id)).where(
                StockMove.location_id == world.location_id,
                StockMove.variant_id == world.variant_id,
                StockMove.grade == Grade.B,
            )
        ).scalar_one()
        assert check_ledger() == [], "the stock levels disagree with their ledger"
        found = Held(orders, item.left, reserved, moves)
        db.session.remove()
        return found


def test_an_employee_invites_a_friend_who_buys_in_a_private_sale_within_its_limit(
    world: World, phones: Callable[[str], Page]
) -> None:
    shop = world.base_url + SHOP
    sale_url = f"{shop}/employee/sales/{SALE_CODE}"

    # 1. The employee signs in with her mobile number: the HR list lets her in.
    employee = phones("employee")
    employee.goto(shop + "/")
    employee.get_by_test_id("nav-sign-in").click()
    sign_in_by_phone(employee, EMPLOYEE_PHONE)
    expect(employee.get_by_test_id("nav-orders")).to_be_visible()
    employee.goto(shop + "/employee/join")
    granted = employee.get_by_test_id("entry-granted")
    expect(granted).to_contain_text(zh("You may enter the employee store."))
    expect(granted).to_contain_text(f"{zh('HR list')} · {EMPLOYEE_NO}")
    fits_the_phone(employee)

    # Her invites page: her yearly quota, no codes yet; she makes one.
    granted.get_by_role("link", name=zh("Invite friends")).click()
    expect(employee).to_have_url(f"{shop}/employee/invites")
    quota = employee.get_by_test_id("quota")
    expect(quota).to_contain_text(quota_text(world, joined=0, open_uses=0))
    expect(employee.get_by_test_id("friends")).to_contain_text(
        zh("No friend has joined through your codes yet.")
    )
    fits_the_phone(employee)
    quota.get_by_role("button", name=zh("Make an invite code")).click()
    expect(employee).to_have_url(f"{shop}/employee/invites")
    made = employee.locator("article.shop-invite")
    expect(made).to_have_count(1)
    code = made.get_attribute("data-code") or ""
    assert re.fullmatch(r"[A-Z2-9]{8}", code), code
    expect(employee.locator(".flash-success")).to_have_text(
        zh("Your new invite code is %(code)s.") % {"code": code}
    )
    expect(quota).to_contain_text(quota_text(world, joined=0, open_uses=world.code_uses))
    link = made.get_by_test_id("invite-link").input_value()
    assert link == f"{shop}/employee/join?code={code}", link
    fits_the_phone(employee)

    # 2. The friend opens the link on her own phone: the shop asks her to sign in first, and she
    # signs up with her mobile number; back on the join page, the code is filled in.
    friend = phones("friend")
    friend.goto(link)
    expect(friend).to_have_url(re.compile(r"/shop/ACME/account/sign-in\?next="))
    fits_the_phone(friend)
    sign_in_by_phone(friend, FRIEND_PHONE)
    expect(friend).to_have_url(link)
    expect(friend.get_by_test_id("entry-refused")).to_be_visible()
    join_form = friend.get_by_test_id("join-form")
    expect(join_form.locator("input[name=code]")).to_have_value(code)
    fits_the_phone(friend)
    join_form.locator("button[type=submit]").click()

    # Let into the employee store.
    expect(friend).to_have_url(f"{shop}/employee/")
    expect(friend.locator(".flash-success")).to_have_text(zh("Welcome to the employee store."))
    expect(friend.get_by_test_id("shop-closed")).to_have_count(0)
    fits_the_phone(friend)
    friend.goto(shop + "/employee/join")
    expect(friend.get_by_test_id("entry-granted")).to_contain_text(zh("Invited friend"))
    expect(friend.get_by_test_id("entry-granted")).to_contain_text(code)

    # 3. The private sales open to employees and their friends: the sale, and its grade-B tee at
    # the event price, with what is left and what she may buy.
    friend.goto(shop + "/employee/sales/")
    listed = friend.get_by_test_id("open-sales").locator(f"[data-code='{SALE_CODE}']")
    expect(listed).to_contain_text(SALE_NAME)
    fits_the_phone(friend)
    listed.get_by_role("link", name=SALE_NAME).click()
    expect(friend).to_have_url(sale_url)
    item = friend.locator(f"[data-testid=sale-item][data-sku='{SKU}']")
    expect(item).to_contain_text(zh("grade B"))
    expect(item).to_contain_text(money(SALE_PRICE_CENTS))
    expect(item).to_contain_text(zh("limit %(count)d per person") % {"count": LIMIT})
    expect(item.get_by_test_id("item-left")).to_have_text(
        zh("%(count)d left") % {"count": SET_ASIDE}
    )
    expect(item.get_by_test_id("item-mine")).to_have_text(
        zh("you may buy %(count)d") % {"count": LIMIT}
    )
    fits_the_phone(friend)

    # She buys one for pickup at the store and pays on the test gateway.
    expect(friend.locator("input[name=fulfilment][value=pickup]")).to_be_checked()
    item.locator("input[type=number]").fill("1")
    friend.get_by_test_id("buy-now").click()
    expect(friend).to_have_url(re.compile(r"/shop/ACME/orders/[^/]+/pay$"))
    number = friend.url.rsplit("/", 2)[1]
    expect(friend.get_by_test_id("pay-total")).to_have_text(money(SALE_PRICE_CENTS))
    fits_the_phone(friend)
    friend.get_by_test_id("pay-start").click()
    expect(friend.get_by_test_id("gateway")).to_be_visible()
    fits_the_phone(friend)
    friend.get_by_test_id("gateway-pay").click()
    expect(friend).to_have_url(f"{shop}/orders/{number}")
    expect(friend.get_by_test_id("order-status")).to_have_text(zh("Paid"))
    expect(friend.get_by_test_id("pickup-code")).to_have_text(re.compile(r"^\s*\d{4,}\s*$"))
    expect(friend.get_by_test_id("order-lines")).to_contain_text(world.line_text)
    expect(friend.get_by_test_id("order-total")).to_have_text(money(SALE_PRICE_CENTS))
    fits_the_phone(friend)

    # 4. Back in the sale, one is left for her under the limit; she asks for two.
    friend.goto(sale_url)
    expect(item.get_by_test_id("item-left")).to_have_text(
        zh("%(count)d left") % {"count": SET_ASIDE - 1}
    )
    expect(item.get_by_test_id("item-mine")).to_have_text(
        zh("you may buy %(count)d") % {"count": LIMIT - 1}
    )
    before = held(world)
    assert (before.orders, before.sale_left) == (1, SET_ASIDE - 1), before
    item.locator("input[type=number]").fill("2")
    friend.get_by_test_id("buy-now").click()
    expect(item.get_by_test_id("item-error")).to_have_text(
        zh("Limit %(limit)d per person for %(sku)s in %(sale)s: %(left)d left.")
        % {"limit": LIMIT, "sku": SKU, "sale": SALE_NAME, "left": LIMIT - 1}
    )
    expect(friend.locator(".flash-error[role=alert]")).to_have_text(zh("Nothing was ordered."))
    expect(item.get_by_test_id("item-left")).to_have_text(
        zh("%(count)d left") % {"count": SET_ASIDE - 1}
    )
    fits_the_phone(friend)
    assert held(world) == before, "a refused order held something"

    # The one she may still have: placed (waiting for payment, which counts), the sale then
    # offers her nothing more.
    item.locator("input[type=number]").fill("1")
    friend.get_by_test_id("buy-now").click()
    expect(friend).to_have_url(re.compile(r"/shop/ACME/orders/[^/]+/pay$"))
    friend.goto(sale_url)
    expect(item.get_by_test_id("item-mine")).to_have_text(
        zh("you may buy %(count)d") % {"count": 0}
    )
    expect(item.locator("input[type=number]")).to_have_count(0)
    fits_the_phone(friend)
    after = held(world)
    assert (after.orders, after.sale_left) == (2, SET_ASIDE - LIMIT), after

    # 5. The employee's invites page: her friend joined with the code, and bought one paid order
    # in the employee store (the one waiting for payment does not count yet).
    employee.reload()
    friend_row = employee.get_by_test_id("friends").locator("article[data-friend]")
    expect(friend_row).to_have_count(1)
    expect(friend_row).to_contain_text(masked(FRIEND_PHONE))
    expect(friend_row).to_contain_text(code)
    bought = f"{ngettext('%(num)d order', '%(num)d orders', 1)} · {money(SALE_PRICE_CENTS)}"
    expect(friend_row.get_by_test_id("friend-bought")).to_have_text(bought)
    expect(friend_row.locator("li")).to_have_text(f"{zh('Employee store')}: {bought}")
    expect(employee.get_by_test_id("quota")).to_contain_text(
        quota_text(world, joined=1, open_uses=world.code_uses - 1)
    )
    if world.code_uses == 1:
        expect(employee.locator(f"article.shop-invite[data-code='{code}'] mark")).to_have_text(
            zh("used")
        )
    fits_the_phone(employee)
