"""Split settlement: each paid consumer order's money divides between the payment fee, the guide's
store, the fulfilling store and the brand, summing to the order exactly; refunds take each share
back in proportion; the stores' shares post to their channel-link accounts. Both backends."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.core.db import utcnow
from portal.extensions import db
from portal.finance.models import Account, AccountEntry
from portal.guides import split
from portal.guides.models import Attribution, Guide, OrderSplit
from portal.network.models import User
from portal.storefront import orders
from portal.storefront.checkout import CheckoutLine, checkout
from portal.storefront.hooks import RefundRequest
from portal.storefront.models import ConsumerOrder, Fulfilment, Tier
from portal.storefront.payments import services as payments
from portal.storefront.payments.base import Notice, NoticeStatus
from portal.storefront.payments.models import Payment, RefundReason
from tests.support.retail import RetailShop, build_retail_shop

FEE, BRAND, STORE, GUIDE = "payment_fee", "brand", "fulfilling_store", "guide_store"


@pytest.fixture
def shop(app) -> RetailShop:
    return build_retail_shop("SP")


def place(
    shop: RetailShop,
    *,
    sku: str = "TEE-BLK-M",
    qty: int = 2,
    store: str | None = "LJ",
    shop_of: str | None = None,
) -> ConsumerOrder:
    """A pickup at `store`, or (store None) a delivery the routing sends where the units are;
    sold through the store `shop_of`'s own shop when named (the order's `shop_org_id`, as the
    store shop's checkout records it: set here, so the split is tested apart from that shop)."""
    consumer = shop.consumer()
    common = dict(checkout_token=f"t-{consumer.id}")
    lines = [CheckoutLine(shop.variant_id(sku), qty)]
    if store is None:
        address = shop.address(consumer)
        order = checkout(
            consumer,
            shop.brand,
            Tier.OFFICIAL,
            lines,
            fulfilment=Fulfilment.DELIVERY,
            address_id=address.id,
            **common,
        )
    else:
        order = checkout(
            consumer,
            shop.brand,
            Tier.OFFICIAL,
            lines,
            fulfilment=Fulfilment.PICKUP,
            pickup_location_id=shop.locations[store].id,
            **common,
        )
    if shop_of is not None:
        order.shop_org_id = shop.net.org_id(shop_of)
    return order


def pay(order: ConsumerOrder, name: str = "N-1") -> None:
    payment = db.session.execute(select(Payment).where(Payment.id == order.payment_id)).scalar_one()
    result = payments.record_notice(
        Notice(
            "test",
            f"{name}-{order.number}",
            payment.reference,
            f"T-{order.number}",
            payment.amount_cents,
            payment.currency,
            NoticeStatus.PAID,
        )
    )
    orders.order_paid(result.payment)


def attribute(
    shop: RetailShop, order: ConsumerOrder, store: str, cents: int, *, earns: bool = True
) -> Attribution:
    """What the attribution helper writes at checkout: the guide of `store` sold it."""
    user = User(email=f"{secrets.token_hex(4)}@guide.test", name="Guide", password_hash="x")
    db.session.add(user)
    db.session.flush()
    guide = Guide(
        brand_id=shop.brand.id,
        org_id=shop.net.org_id(store),
        user_id=user.id,
        code=secrets.token_hex(4).upper(),
    )
    db.session.add(guide)
    db.session.flush()
    row = Attribution(
        brand_id=shop.brand.id,
        guide_id=guide.id,
        guide_org_id=guide.org_id,
        consumer_order_id=order.id,
        rule="code",
        earns=earns,
        basis_cents=order.goods_cents,
        commission_cents=cents if earns else 0,
    )
    db.session.add(row)
    db.session.flush()
    return row


def rows(order: ConsumerOrder) -> list[tuple[str, int | None, str, int]]:
    db.session.flush()
    return [
        (r.party, r.org_id, r.kind, r.amount_cents)
        for r in db.session.execute(
            select(OrderSplit)
            .where(OrderSplit.consumer_order_id == order.id)
            .order_by(OrderSplit.id)
        ).scalars()
    ]


def entries(shop: RetailShop, store: str) -> list[tuple[str, int, str]]:
    """(kind, amount, reference) on the store's channel-link account, oldest first."""
    link = shop.net.links[store]
    return [
        (e.kind, e.amount_cents, e.reference)
        for e in db.session.execute(
            select(AccountEntry)
            .join(Account, Account.id == AccountEntry.account_id)
            .where(Account.link_id == link.id)
            .order_by(AccountEntry.id)
        ).scalars()
    ]


def fee(cents: int) -> int:
    return cents * 60 // 10_000


# -- at payment ---------------------------------------------------------------------------------


def test_a_store_stock_order_goes_to_the_store_less_the_fee(shop):
    order = place(shop)
    assert rows(order) == []  # nothing before payment
    pay(order)
    total = order.total_cents
    assert total == 2 * 19_900
    lj = shop.net.org_id("LJ")
    assert fee(total) == 238  # 238.8 fen, rounded down
    assert rows(order) == [(STORE, lj, "sale", total - 238), (FEE, None, "sale", 238)]
    assert split.split_of(order) == {STORE: total - 238, FEE: 238}
    assert sum(split.split_of(order).values()) == total
    assert entries(shop, "LJ") == [
        ("settlement", -(total - 238), f"split:{order.number}:{STORE}:paid")
    ]


def test_a_warehouse_order_through_a_store_shop_pays_the_brand_its_price_to_the_store(shop):
    order = place(shop, sku="RUN-BLK-42", qty=1, store=None, shop_of="JA")
    assert order.location_id == shop.locations["warehouse"].id
    pay(order)
    total = order.total_cents
    brand_price = 29_950  # JA's wholesale price: half of 599.00
    ja = shop.net.org_id("JA")
    assert rows(order) == [
        (BRAND, shop.brand.id, "sale", brand_price),
        (STORE, ja, "sale", total - fee(total) - brand_price),
        (FEE, None, "sale", fee(total)),
    ]
    assert sum(split.split_of(order).values()) == total
    assert [(k, a) for k, a, _ in entries(shop, "JA")] == [
        ("settlement", -(total - fee(total) - brand_price))
    ]


def test_a_warehouse_order_of_the_brand_own_shop_is_the_brands(shop):
    order = place(shop, sku="RUN-BLK-42", qty=1, store=None)
    pay(order)
    total = order.total_cents
    assert rows(order) == [
        (BRAND, shop.brand.id, "sale", total - fee(total)),
        (FEE, None, "sale", fee(total)),
    ]
    assert all(entries(shop, s) == [] for s in ("JA", "LJ", "HQS", "XJ"))


def test_a_guides_store_gets_the_commission_from_the_fulfilling_stores_share(shop):
    order = place(shop)
    attribute(shop, order, "JA", 1_194)
    pay(order)
    total = order.total_cents
    ja, lj = shop.net.org_id("JA"), shop.net.org_id("LJ")
    assert rows(order) == [
        (STORE, lj, "sale", total - 238 - 1_194),
        (GUIDE, ja, "sale", 1_194),
        (FEE, None, "sale", 238),
    ]
    # The commission is paid through the guides' statements, so it posts to no account.
    assert entries(shop, "JA") == []
    assert [(k, a) for k, a, _ in entries(shop, "LJ")] == [("settlement", -(total - 238 - 1_194))]


def test_a_guide_of_the_fulfilling_store_gives_it_two_rows_and_one_entry(shop):
    order = place(shop)
    attribute(shop, order, "LJ", 500)
    pay(order)
    lj = shop.net.org_id("LJ")
    assert [(p, o, a) for p, o, _, a in rows(order)] == [
        (STORE, lj, order.total_cents - 238 - 500),
        (GUIDE, lj, 500),
        (FEE, None, 238),
    ]
    assert [r for _, _, r in entries(shop, "LJ")] == [f"split:{order.number}:{STORE}:paid"]


def test_an_own_purchase_that_does_not_earn_gives_the_guides_store_nothing(shop):
    order = place(shop)
    attribute(shop, order, "JA", 0, earns=False)
    pay(order)
    assert GUIDE not in split.split_of(order)
    assert entries(shop, "JA") == []


def test_a_commission_above_what_is_left_is_cut_first(shop):
    order = place(shop)
    attribute(shop, order, "JA", 10**9)
    pay(order)
    total = order.total_cents
    assert split.split_of(order) == {GUIDE: total - 238, FEE: 238}  # the store gets nothing
    assert all(amount > 0 for *_, amount in rows(order))


@pytest.mark.parametrize(
    "total, expected", [(0, 0), (166, 0), (167, 1), (9_999, 59), (10_000, 60), (39_800, 238)]
)
def test_the_fee_is_rounded_down_to_the_fen(app, total, expected):
    assert split.fee_of(total) == expected


def test_the_fee_follows_the_configured_rate(shop, monkeypatch, app):
    monkeypatch.setitem(app.config, "PAYMENT_FEE_BP", 100)
    order = place(shop)
    pay(order)
    assert split.split_of(order)[FEE] == 398


def test_a_repeated_notice_writes_nothing_twice(shop):
    order = place(shop)
    pay(order)
    pay(order)  # the provider tells it again
    split.record_sale(order)  # and a listener asked again
    assert len(rows(order)) == 2
    assert len(entries(shop, "LJ")) == 1


def test_an_order_paid_without_the_provider_is_split_too(shop):
    order = place(shop)
    orders.paid_without_provider(order)
    assert sum(split.split_of(order).values()) == order.total_cents


# -- refunds ------------------------------------------------------------------------------------


def test_a_partial_refund_takes_each_share_back_in_proportion_and_the_last_takes_the_rest(shop):
    order = place(shop, qty=3, store="LJ")
    attribute(shop, order, "JA", 1_791)
    pay(order)
    total = order.total_cents  # 597.00
    before = split.split_of(order)
    orders.refund_money(
        order, amount_cents=19_900, reason=RefundReason.RETURNED, suffix="R1", full=False
    )
    refund = [(p, a) for p, _, kind, a in rows(order) if kind == "refund"]
    assert sum(a for _, a in refund) == -19_900
    for party, amount in refund:  # a third of each, to the fen
        assert abs(amount + before[party] / 3) < 1
    after_first = split.split_of(order)
    assert sum(after_first.values()) == total - 19_900
    orders.refund_by_store(shop.staff("LJ"), order, reason="torn")  # the rest, in full
    assert split.split_of(order) == {STORE: 0, GUIDE: 0, FEE: 0}
    lj = [a for _, a, _ in entries(shop, "LJ")]
    assert lj[0] < 0 and lj[1] > 0 and lj[2] > 0 and sum(lj) == 0
    assert entries(shop, "JA") == []  # the commission's reversal is the ledger's, not the account's


def test_a_refund_heard_twice_takes_back_once(shop):
    order = place(shop)
    pay(order)
    request = RefundRequest(
        order=order,
        amount_cents=1_000,
        provider_cents=1_000,
        rest_cents=0,
        reference=f"{order.number}-X",
        full=False,
    )
    split.order_refunded(request)
    split.order_refunded(request)
    assert sum(split.split_of(order).values()) == order.total_cents - 1_000
    assert len([r for r in rows(order) if r[2] == "refund"]) == 2  # fee and store, once each


def test_a_refund_of_an_order_never_split_writes_nothing(shop):
    order = place(shop)
    request = RefundRequest(order, 100, 100, 0, "R-none", True)
    assert split.record_refund(request) == []


def test_shares_taken_back_sum_to_the_refund_and_never_exceed_a_share(app):
    left = {(STORE, 1): 33_333, (GUIDE, 2): 1_001, (FEE, None): 199}
    for amount in (1, 2, 3, 100, 17_777, 34_532, 34_533):
        taken = split.take_back(left, amount)
        assert sum(taken.values()) == amount
        assert all(0 < taken[k] <= left[k] for k in taken)


# -- per period ---------------------------------------------------------------------------------


def test_period_totals_sum_per_party_and_store(shop):
    first, second = place(shop), place(shop, store="JA", qty=1)
    attribute(shop, second, "LJ", 300)
    pay(first)
    pay(second)
    orders.refund_money(
        first, amount_cents=19_900, reason=RefundReason.RETURNED, suffix="R1", full=False
    )
    now = utcnow()
    found = split.period_totals(shop.brand.id, now - timedelta(hours=1), now + timedelta(hours=1))
    by_key = {(r.party, r.org_code): r for r in found}
    lj = by_key[(STORE, "SPLJ")]
    assert lj.orders == 1 and lj.sale_cents == 39_800 - 238 and lj.refund_cents < 0
    assert by_key[(GUIDE, "SPLJ")].net_cents == 300
    assert by_key[(STORE, "SPJA")].net_cents == 19_900 - 119 - 300
    assert sum(r.net_cents for r in found) == first.total_cents + second.total_cents - 19_900
    only_lj = split.period_totals(
        None, now - timedelta(hours=1), now + timedelta(hours=1), org_id=shop.net.org_id("LJ")
    )
    assert {r.party for r in only_lj} == {STORE, GUIDE}
    later = split.period_totals(shop.brand.id, now + timedelta(hours=1), now + timedelta(days=1))
    assert later == []
