"""Private sales (内购会) as services, on both backends: HQ writes and publishes a sale (its
stock set aside in the ledger), buyers of its audience buy its items at event prices while it is
open, within its limits and what is left; call-offs give the units back while it is open; its
end releases what is left, once. Bad input is refused naming the field, leaving nothing held.

The employee store's door is entitlement.py's: here a consumer is let in by replacing the
storefront's employee entry rule (`hooks.entry["employee"]`), and what kind of entitled person
they are by `private_sales.entitlement_kinds`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.catalog.models import Variant
from portal.core.access import Actor
from portal.core.db import utcnow
from portal.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.inventory.errors import InsufficientStock
from portal.inventory.ledger import MoveLine, apply_moves
from portal.inventory.models import Grade, MoveReason, StockLevel, StockMove
from portal.inventory.services import check_ledger
from portal.members import private_sales
from portal.members.sale_models import PrivateSale, PrivateSaleItem, SaleAudience, SaleStatus
from portal.policy import services as policy_services
from portal.policy.models import PolicyVersion, VersionStatus
from portal.seed.members_sales import NEXT_CODE, NOW_CODE, seed_private_sale
from portal.storefront import hooks, orders, tiers
from portal.storefront.checkout import CheckoutLine, checkout
from portal.storefront.hooks import CheckoutExtras
from portal.storefront.models import Consumer, ConsumerOrder, ConsumerOrderStatus, Fulfilment, Tier
from tests.support.consumer_orders import pay_by_notice
from tests.support.retail import RetailShop, build_retail_shop, retail_rules
from tests.support.services import org

# -- what the sale tests share (tests/members/test_private_sale_*.py import it) ------------------

SALE = "SS26"
GRADE_B_AT_LJ = 6  # TEE-BLK-M grade B at Lujiazui
POLO_AT_LJ = 10  # POLO-WHT-M (official, so sold only in the sale) at Lujiazui


@dataclass
class SaleShop:
    """A retail shop (tests/support/retail.py) whose employee store sells at 40% of MSRP, with
    grade-B tees and polos at Lujiazui, and the people let into its employee store."""

    shop: RetailShop
    people: dict[int, frozenset[str]] = field(default_factory=dict)  # consumer id -> kinds

    @property
    def brand(self):
        return self.shop.brand

    @property
    def hq(self) -> Actor:
        return self.shop.net.hq

    def variant_id(self, sku: str) -> int:
        return self.shop.variant_id(sku)

    def person(self, *kinds: str, phone: str | None = None) -> Consumer:
        """A member let into the employee store as these kinds (default: an employee)."""
        consumer = self.shop.consumer(phone)
        self.people[consumer.id] = frozenset(kinds or ("employee",))
        return consumer

    def level(self, sku: str, grade: str = Grade.A, short: str = "LJ") -> tuple[int, int]:
        row = db.session.execute(
            select(StockLevel.on_hand, StockLevel.reserved).where(
                StockLevel.location_id == self.shop.locations[short].id,
                StockLevel.variant_id == self.variant_id(sku),
                StockLevel.grade == grade,
            )
        ).one_or_none()
        return (0, 0) if row is None else (row[0], row[1])

    def sale(
        self,
        code: str = SALE,
        *,
        starts_in: timedelta = timedelta(hours=-1),
        lasts: timedelta = timedelta(days=2),
        audience: str = SaleAudience.EMPLOYEES,
        where: str = "LJ",
        items: tuple = (("TEE-BLK-M", Grade.B, 2900, 4, None), ("POLO-WHT-M", Grade.A, 9900, 5, 2)),
        publish: bool = True,
        **limits,
    ) -> PrivateSale:
        """A sale open now (unless told), its items (sku, grade, price, set aside, per person)
        set aside at Lujiazui. The window is written after publishing, so a sale may start in
        the past or have ended."""
        now = utcnow()
        sale = private_sales.create_sale(
            self.hq,
            self.brand,
            private_sales.SaleInput(
                code=code,
                name=f"Sale {code}",
                starts_at=now + timedelta(hours=1),
                ends_at=now + timedelta(days=30),
                audience=audience,
                location_id=self.shop.locations[where].id,
                **limits,
            ),
        )
        for sku, grade, price, qty, limit in items:
            private_sales.add_item(
                self.hq, sale, private_sales.ItemInput(sku, grade, price, qty, limit)
            )
        if publish:
            private_sales.publish_sale(self.hq, sale)
        sale.starts_at = now + starts_in
        sale.ends_at = sale.starts_at + lasts
        db.session.flush()
        return sale


def build_sale_shop(prefix: str = "PS", monkeypatch=None, **terms) -> SaleShop:
    """The shop, with employee prices (and the programme's `limits` terms, if given) published,
    grade-B tees and polos received at Lujiazui, and the employee store's door replaced."""
    shop = build_retail_shop(prefix)
    live = db.session.execute(
        select(PolicyVersion).where(
            PolicyVersion.brand_id == shop.brand.id, PolicyVersion.status == VersionStatus.ACTIVE
        )
    ).scalar_one()
    draft = policy_services.revise_policy(shop.net.hq, live)
    policy_services.add_rules(
        shop.net.hq, draft, retail_rules(outlet="all 60%", employee="all 40%")
    )
    if terms:
        draft.member_terms = {"limits": terms}
    draft.effective_from = utcnow() - timedelta(seconds=1)
    policy_services.publish_policy(shop.net.hq, draft)
    lujiazui = shop.locations["LJ"].id
    apply_moves(
        Actor.system(),
        [
            MoveLine(lujiazui, shop.variant_id("TEE-BLK-M"), GRADE_B_AT_LJ, grade=Grade.B),
            MoveLine(lujiazui, shop.variant_id("POLO-WHT-M"), POLO_AT_LJ),
        ],
        reason=MoveReason.RECEIPT,
        reference="sale-tests",
    )
    built = SaleShop(shop)
    if monkeypatch is not None:
        let_in(monkeypatch, built)
    db.session.flush()
    return built


def let_in(monkeypatch, built: SaleShop) -> None:
    """The employee store's door and the kinds of its people, as the test says."""

    def door(brand, consumer):
        return consumer is not None and consumer.id in built.people

    def kinds(brand, consumer):
        if consumer is None or consumer.brand_id != brand.id:
            return frozenset()
        return built.people.get(consumer.id, frozenset())

    monkeypatch.setitem(hooks.entry, "employee", door)
    monkeypatch.setattr(private_sales, "entitlement_kinds", kinds)


def buy(
    built: SaleShop,
    consumer: Consumer,
    wanted: dict[str, int],
    *,
    code: str | None = SALE,
    token: str = "tok-1",
    grade: str | None = None,
    fulfilment: str = Fulfilment.PICKUP,
) -> ConsumerOrder:
    """A checkout in the employee store (in the sale `code`): {sku: qty}, each SKU at the grade
    the default sale sells it (TEE-BLK-M grade B) unless `grade` says."""
    lines = [
        CheckoutLine(
            built.variant_id(sku),
            qty,
            grade or (Grade.B if sku == "TEE-BLK-M" and code else Grade.A),
        )
        for sku, qty in wanted.items()
    ]
    return checkout(
        consumer,
        built.brand,
        Tier.EMPLOYEE,
        lines,
        fulfilment=fulfilment,
        checkout_token=token,
        pickup_location_id=built.shop.locations["LJ"].id,
        address_id=built.shop.address(consumer).id if fulfilment == Fulfilment.DELIVERY else None,
        extras=CheckoutExtras(event_code=code),
    )


def item(sale: PrivateSale, sku: str) -> PrivateSaleItem:
    """The sale's item of that SKU, as the database has it now."""
    found = db.session.execute(
        select(PrivateSaleItem)
        .join(Variant, Variant.id == PrivateSaleItem.variant_id)
        .where(PrivateSaleItem.sale_id == sale.id, Variant.sku == sku)
    ).scalar_one()
    db.session.refresh(found)
    return found


# -- tests -------------------------------------------------------------------------------------


@pytest.fixture
def built(app, monkeypatch) -> SaleShop:
    return build_sale_shop(monkeypatch=monkeypatch)


def count(model, *conditions) -> int:
    return db.session.execute(
        select(func.count()).select_from(model).where(*conditions)
    ).scalar_one()


def test_publishing_sets_the_stock_aside_and_a_buyer_takes_it_over_at_event_prices(built):
    tee_b, polo = built.level("TEE-BLK-M", Grade.B), built.level("POLO-WHT-M")
    sale = built.sale()
    assert sale.status == SaleStatus.PUBLISHED
    assert built.level("TEE-BLK-M", Grade.B) == (tee_b[0], tee_b[1] + 4)
    assert built.level("POLO-WHT-M") == (polo[0], polo[1] + 5)
    held = db.session.execute(
        select(func.sum(StockMove.reserved_delta)).where(StockMove.reference == "sale:SS26")
    ).scalar_one()
    assert held == 9

    order = buy(built, built.person(), {"TEE-BLK-M": 1, "POLO-WHT-M": 2})

    assert order.event_id == sale.id and order.tier == Tier.EMPLOYEE
    assert order.location_id == built.shop.locations["LJ"].id
    prices = {line.variant_id: line.unit_price_cents for line in order.lines}
    assert prices == {built.variant_id("TEE-BLK-M"): 2900, built.variant_id("POLO-WHT-M"): 9900}
    assert order.goods_cents == 2900 + 2 * 9900
    assert order.events[0].details["event"] == "SS26"
    # The units moved from the sale's hold to the order: the levels did not move.
    assert built.level("TEE-BLK-M", Grade.B) == (tee_b[0], tee_b[1] + 4)
    assert built.level("POLO-WHT-M") == (polo[0], polo[1] + 5)
    assert (item(sale, "TEE-BLK-M").left, item(sale, "POLO-WHT-M").left) == (3, 3)
    assert check_ledger() == []


def test_the_hold_is_safe_from_other_orders_of_the_employee_store(built):
    tee = built.shop.net.variants["TEE-BLK-M"]
    tiers.move_tier(built.hq, [tee], Tier.OUTLET)  # listed in the employee store in any grade
    built.sale(items=(("TEE-BLK-M", Grade.B, 2900, GRADE_B_AT_LJ, None),))
    with pytest.raises(InsufficientStock):
        buy(built, built.person(), {"TEE-BLK-M": 1}, code=None, grade=Grade.B)


def test_an_event_only_item_is_sold_only_inside_the_sale(built):
    sale = built.sale()
    # The tee's grade-B units beyond the hold are in the employee store; the polo is not.
    assert private_sales.event_only(built.brand, sale.items) == {built.variant_id("POLO-WHT-M")}
    consumer = built.person()
    with pytest.raises(ValidationFailed) as refused:
        buy(built, consumer, {"POLO-WHT-M": 1}, code=None)
    assert refused.value.fields == {"lines.0": "Not sold in this storefront now."}
    order = buy(built, consumer, {"POLO-WHT-M": 1}, token="in-sale")
    assert order.lines[0].unit_price_cents == 9900


@pytest.mark.parametrize(
    ("starts_in", "message"),
    [
        (timedelta(hours=3), "Sale SS26 opens at"),
        (timedelta(days=-5), "Sale SS26 has ended."),
    ],
)
def test_a_sale_outside_its_window_sells_nothing(built, starts_in, message):
    sale = built.sale(starts_in=starts_in)
    before = built.level("POLO-WHT-M")
    with pytest.raises(ValidationFailed) as refused:
        buy(built, built.person(), {"POLO-WHT-M": 1})
    assert refused.value.message.startswith(message)
    assert "event_code" in refused.value.fields
    assert built.level("POLO-WHT-M") == before and item(sale, "POLO-WHT-M").left == 5
    assert count(ConsumerOrder, ConsumerOrder.event_id == sale.id) == 0


def test_a_draft_or_unknown_sale_is_no_sale(built):
    built.sale(publish=False)
    for code in (SALE, "NOPE"):
        with pytest.raises(ValidationFailed) as refused:
            buy(built, built.person(), {"POLO-WHT-M": 1}, code=code, token=code)
        assert refused.value.message == "There is no such private sale."


def test_only_the_sales_audience_may_buy(built):
    built.sale()
    built.sale("FRIENDS", audience=SaleAudience.FRIENDS, items=(("TEE-BLK-L", "A", 5000, 1, 1),))
    friend = built.person("friend")
    with pytest.raises(PermissionDenied) as refused:
        buy(built, friend, {"POLO-WHT-M": 1})
    assert str(refused.value) == "Sale SS26 is open to: employees only."
    order = buy(built, friend, {"TEE-BLK-L": 1}, code="FRIENDS", token="friends")
    assert order.event_id is not None
    partner = built.person("partner")
    with pytest.raises(PermissionDenied):
        buy(built, partner, {"TEE-BLK-L": 1}, code="FRIENDS", token="partner")
    outsider = built.shop.consumer()  # a member, but not let into the employee store
    with pytest.raises(PermissionDenied):
        buy(built, outsider, {"POLO-WHT-M": 1}, token="outsider")


def test_lines_not_in_the_sale_are_refused_naming_them(built):
    built.sale()
    consumer = built.person()
    before = (built.level("TEE-BLK-L"), built.level("POLO-WHT-M"))
    with pytest.raises(ValidationFailed) as refused:
        buy(built, consumer, {"POLO-WHT-M": 1, "TEE-BLK-L": 1})
    assert refused.value.fields == {"lines.1": "Not sold in this private sale."}
    with pytest.raises(ValidationFailed) as refused:
        buy(built, consumer, {"TEE-BLK-M": 1}, grade=Grade.A)
    assert refused.value.fields == {"lines.0": "Sold in this sale as grade B."}
    assert (built.level("TEE-BLK-L"), built.level("POLO-WHT-M")) == before


def test_more_than_is_left_of_the_hold_is_refused_saying_what_is_left(built):
    sale = built.sale(items=(("POLO-WHT-M", Grade.A, 9900, 3, None),))
    buy(built, built.person(), {"POLO-WHT-M": 2})
    with pytest.raises(ValidationFailed) as refused:
        buy(built, built.person(), {"POLO-WHT-M": 2}, token="second")
    assert refused.value.fields == {"lines.0": "Only 1 left in this sale."}
    assert item(sale, "POLO-WHT-M").left == 1


def test_the_items_limit_per_person_names_what_is_left(built):
    sale = built.sale()  # POLO-WHT-M: 2 per person
    consumer = built.person()
    buy(built, consumer, {"POLO-WHT-M": 1})
    with pytest.raises(ValidationFailed) as refused:
        buy(built, consumer, {"TEE-BLK-M": 1, "POLO-WHT-M": 2}, token="again")
    assert refused.value.fields == {
        "lines.1": "Limit 2 per person for POLO-WHT-M in Sale SS26: 1 left."
    }
    assert refused.value.message == "Limit 2 per person for POLO-WHT-M in Sale SS26: 1 left."
    assert (item(sale, "TEE-BLK-M").left, item(sale, "POLO-WHT-M").left) == (4, 4)
    buy(built, consumer, {"TEE-BLK-M": 1, "POLO-WHT-M": 1}, token="within")
    # Someone else has their own allowance.
    buy(built, built.person(), {"POLO-WHT-M": 2}, token="other")


def test_the_sales_own_limits_on_units_and_money_name_what_is_left(built):
    built.sale(units_per_person=3, amount_per_person_cents=15_000)
    consumer = built.person()
    buy(built, consumer, {"TEE-BLK-M": 2})  # 2 units, 58.00
    with pytest.raises(ValidationFailed) as refused:
        buy(built, consumer, {"TEE-BLK-M": 2}, token="over-units")
    assert refused.value.fields == {"lines": "Limit 3 items per person in Sale SS26: 1 left."}
    with pytest.raises(ValidationFailed) as refused:
        buy(built, consumer, {"POLO-WHT-M": 1}, token="over-money")
    assert refused.value.fields == {
        "lines": "Limit CN¥150.00 per person in Sale SS26: CN¥92.00 left."
    }


def test_a_called_off_order_gives_its_units_back_while_the_sale_is_open(built):
    sale = built.sale()
    consumer = built.person()
    before = built.level("POLO-WHT-M")
    unpaid = buy(built, consumer, {"POLO-WHT-M": 2})
    paid = buy(built, built.person(), {"POLO-WHT-M": 2}, token="paid")
    pay_by_notice(paid)
    db.session.commit()
    assert item(sale, "POLO-WHT-M").left == 1

    orders.cancel(consumer, unpaid)
    orders.cancel(paid.consumer, paid)  # refunded: paid but not yet taken on
    db.session.commit()

    assert (unpaid.status, paid.status) == ("cancelled", "refunded")
    assert item(sale, "POLO-WHT-M").left == 5
    assert built.level("POLO-WHT-M") == before  # still held, now for the sale
    back = db.session.execute(
        select(func.sum(StockMove.reserved_delta)).where(
            StockMove.reference == "sale:SS26",
            StockMove.variant_id == built.variant_id("POLO-WHT-M"),
        )
    ).scalar_one()
    assert back == 5 + 4
    assert check_ledger() == []
    # The units are the sale's again: bought by the next person.
    buy(built, built.person(), {"POLO-WHT-M": 2}, token="next")


def test_an_order_expired_after_the_sale_ended_gives_its_units_to_the_stock(built):
    sale = built.sale()
    order = buy(built, built.person(), {"POLO-WHT-M": 2})
    sale.ends_at = utcnow() - timedelta(minutes=1)
    assert private_sales.close_ended() == 1
    order.expires_at = utcnow() - timedelta(minutes=1)
    assert orders.expire_unpaid() == 1
    db.session.commit()
    assert order.status == ConsumerOrderStatus.CANCELLED
    assert built.level("POLO-WHT-M") == (POLO_AT_LJ, 0)
    assert item(sale, "POLO-WHT-M").taken_qty == 2
    assert check_ledger() == []


def test_an_ended_sale_releases_what_is_left_once(built):
    sale = built.sale()
    buy(built, built.person(), {"TEE-BLK-M": 1, "POLO-WHT-M": 2})
    assert private_sales.close_ended() == 0  # still open
    sale.ends_at = utcnow() - timedelta(seconds=1)
    assert private_sales.close_ended() == 1
    assert private_sales.close_ended() == 0
    db.session.refresh(sale)
    assert sale.status == SaleStatus.CLOSED and sale.closed_at is not None
    # What the order holds stays held; the rest is sold again.
    assert built.level("TEE-BLK-M", Grade.B) == (GRADE_B_AT_LJ, 1)
    assert built.level("POLO-WHT-M") == (POLO_AT_LJ, 2)
    with pytest.raises(ValidationFailed):
        buy(built, built.person(), {"POLO-WHT-M": 1}, token="late")
    assert check_ledger() == []


def test_hq_ends_a_sale_early(built):
    sale = built.sale()
    private_sales.end_sale(built.hq, sale)
    assert sale.status == SaleStatus.CLOSED
    assert built.level("POLO-WHT-M") == (POLO_AT_LJ, 0)
    with pytest.raises(Conflict):
        private_sales.end_sale(built.hq, sale)


# -- HQ's bad input ----------------------------------------------------------------------------


def _input(built: SaleShop, **changes) -> private_sales.SaleInput:
    now = utcnow()
    values = {
        "code": "NEW",
        "name": "New sale",
        "starts_at": now + timedelta(days=1),
        "ends_at": now + timedelta(days=2),
        "audience": SaleAudience.FRIENDS,
        "location_id": built.shop.locations["LJ"].id,
    }
    return private_sales.SaleInput(**{**values, **changes})


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"code": "no spaces"}, {"code"}),
        ({"name": " "}, {"name"}),
        ({"ends_at": utcnow() - timedelta(hours=1)}, {"ends_at"}),
        ({"starts_at": utcnow() + timedelta(days=3)}, {"ends_at"}),
        ({"starts_at": None, "ends_at": None}, {"starts_at", "ends_at"}),
        ({"audience": "everyone"}, {"audience"}),
        ({"location_id": None}, {"location_id"}),
        ({"units_per_person": 0, "amount_per_person_cents": -5}, {"units_per_person",
                                                                   "amount_per_person"}),
    ],
)  # fmt: skip
def test_a_sale_with_mistakes_is_refused_naming_each_field(built, changes, fields):
    with pytest.raises(ValidationFailed) as refused:
        private_sales.create_sale(built.hq, built.brand, _input(built, **changes))
    assert set(refused.value.fields) == fields
    assert count(PrivateSale, PrivateSale.brand_id == built.brand.id) == 0


def test_a_sale_must_sell_from_an_online_location_of_its_brand(built):
    hongqiao = built.shop.locations["HQS"].id  # switched off
    with pytest.raises(ValidationFailed) as refused:
        private_sales.create_sale(built.hq, built.brand, _input(built, location_id=hongqiao))
    assert set(refused.value.fields) == {"location_id"}


def test_a_code_is_used_once_per_brand(built):
    private_sales.create_sale(built.hq, built.brand, _input(built))
    with pytest.raises(ValidationFailed) as refused:
        private_sales.create_sale(built.hq, built.brand, _input(built, code="new"))
    assert refused.value.fields == {"code": "Another sale of the brand has this code."}


@pytest.mark.parametrize(
    ("item_input", "fields"),
    [
        (("NOPE-1", "A", 100, 1, None), {"sku"}),
        (("TEE-BLK-M", "C", 100, 1, None), {"grade"}),
        (("TEE-BLK-M", "A", 0, 1, None), {"price"}),
        (("TEE-BLK-M", "A", 100, 0, None), {"set_aside_qty"}),
        (("TEE-BLK-M", "A", 100, 1, 0), {"limit_per_person"}),
        (("POLO-WHT-M", "A", 100, 1, None), {"sku"}),  # in the sale already
    ],
)
def test_an_item_with_mistakes_is_refused_naming_each_field(built, item_input, fields):
    sale = private_sales.create_sale(built.hq, built.brand, _input(built))
    private_sales.add_item(
        built.hq, sale, private_sales.ItemInput("POLO-WHT-M", "A", 9900, 1, None)
    )
    with pytest.raises(ValidationFailed) as refused:
        private_sales.add_item(built.hq, sale, private_sales.ItemInput(*item_input))
    assert set(refused.value.fields) == fields
    assert len(sale.items) == 1


def test_publishing_more_than_the_location_holds_sets_nothing_aside(built):
    before = (built.level("POLO-WHT-M"), built.level("TEE-BLK-M", Grade.B))
    sale = built.sale(
        publish=False,
        items=(("POLO-WHT-M", Grade.A, 9900, 2, None), ("TEE-BLK-M", Grade.B, 2900, 7, None)),
    )
    with pytest.raises(InsufficientStock) as refused:
        private_sales.publish_sale(built.hq, sale)
    assert refused.value.fields == {"items.1": "Only 6 available."}
    assert "TEE-BLK-M" in refused.value.message
    db.session.refresh(sale)
    assert sale.status == SaleStatus.DRAFT
    assert (built.level("POLO-WHT-M"), built.level("TEE-BLK-M", Grade.B)) == before


def test_a_published_sale_is_no_longer_changed_and_an_empty_one_is_not_published(built):
    sale = built.sale()
    with pytest.raises(Conflict):
        private_sales.add_item(
            built.hq, sale, private_sales.ItemInput("TEE-BLK-L", "A", 100, 1, None)
        )
    with pytest.raises(Conflict):
        private_sales.publish_sale(built.hq, sale)
    empty = built.sale("EMPTY", items=(), publish=False)
    with pytest.raises(ValidationFailed) as refused:
        private_sales.publish_sale(built.hq, empty)
    assert set(refused.value.fields) == {"items"}


def test_another_brands_hq_cannot_touch_the_sale(built):
    sale = built.sale(publish=False)
    other = build_retail_shop("OB").net.hq
    with pytest.raises(NotFound):
        private_sales.publish_sale(other, sale)
    with pytest.raises(NotFound):
        private_sales.create_sale(other, built.brand, _input(built))
    assert sale.status == SaleStatus.DRAFT


def test_the_demo_seed_opens_one_sale_and_announces_another(app):
    acme = org("ACME")
    # The test database is the demo: `flask seed demo` made both sales; a second run adds none.
    assert seed_private_sale(acme) == 0
    now_open = private_sales.get_sale(acme, NOW_CODE)
    coming = private_sales.get_sale(acme, NEXT_CODE)
    assert (now_open.audience, coming.audience) == (SaleAudience.FRIENDS, SaleAudience.EMPLOYEES)
    assert len(coming.items) == 1
    assert private_sales.is_open(now_open) and private_sales.is_coming(coming)
    assert {i.grade for i in now_open.items} == {"A", "B"}
    grade_a = next(i for i in now_open.items if i.grade == "A")
    assert private_sales.event_only(acme, now_open.items) >= {grade_a.variant_id}
    assert now_open.status == coming.status == SaleStatus.PUBLISHED
    assert check_ledger() == []
