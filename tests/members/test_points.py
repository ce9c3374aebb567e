"""Points as a ledger, on both backends (portal/members/points.py): earned pending when an order
completes, usable once its return window closes, redeemed within the cap at checkout, given back
when an unpaid order is called off, expired oldest first at the end of their last year.

The helpers here (a shop, buying with points and wallet, completing an order, points from a
till) serve the other tests of tests/members/ too."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.core.access import Actor
from portal.core.db import utcnow
from portal.core.errors import ValidationFailed
from portal.extensions import db
from portal.members import membership, points, wallet
from portal.members.ledger_models import PointsEntry, PointsKind
from portal.members.models import Member, ProgramBrand
from portal.policy import services as policy_services
from portal.policy.models import PolicyVersion, VersionStatus
from portal.storefront import orders
from portal.storefront.checkout import CheckoutLine, checkout
from portal.storefront.hooks import CheckoutExtras
from portal.storefront.models import Consumer, ConsumerOrder, Fulfilment, Tier
from tests.support.consumer_orders import pay_by_notice
from tests.support.retail import RetailShop, build_retail_shop

TEE = "TEE-BLK-M"  # 199.00 in the official shop; Lujiazui (LJ) holds 5 for pickup
SHANGHAI_NEW_YEAR_2026 = datetime(2025, 12, 31, 16, 30, tzinfo=UTC)  # 00:30 on 1 January


# -- helpers -------------------------------------------------------------------------------------


@pytest.fixture
def shop(app) -> RetailShop:
    return build_retail_shop("PT")


def member_of(consumer: Consumer) -> Member:
    found = membership.member_of(consumer)
    assert found is not None
    return found


def held(consumer: Consumer) -> tuple[int, int]:
    """(pending, available) points of the consumer's member."""
    db.session.expire_all()
    balance = points.balance(member_of(consumer))
    return balance.pending, balance.available


def wallet_of(consumer: Consumer) -> int:
    db.session.expire_all()
    return wallet.balance_cents(member_of(consumer))


def buy(
    shop: RetailShop,
    consumer: Consumer,
    *,
    qty: int = 1,
    sku: str = TEE,
    points_: int = 0,
    wallet_cents: int = 0,
    store: str = "LJ",
    tier: str = Tier.OFFICIAL,
) -> ConsumerOrder:
    """A pickup order at `store`, spending points and wallet money as asked."""
    return checkout(
        consumer,
        shop.brand,
        tier,
        [CheckoutLine(shop.variant_id(sku), qty)],
        fulfilment=Fulfilment.PICKUP,
        checkout_token=secrets.token_hex(8),
        pickup_location_id=shop.locations[store].id,
        extras=CheckoutExtras(points=points_, wallet_cents=wallet_cents),
    )


def complete(order: ConsumerOrder) -> ConsumerOrder:
    """Paid (through the test gateway's notice, unless nothing was left to pay), taken on,
    ready and collected against its pickup code."""
    system = Actor.system()
    if order.status == "awaiting_payment":
        pay_by_notice(order)
    orders.accept(system, order)
    orders.mark_ready(system, order)
    orders.hand_over(system, order, order.pickup_code or "")
    return order


def till_points(
    shop: RetailShop,
    consumer: Consumer,
    yuan: int,
    *,
    occurred_at: datetime | None = None,
    store: str = "JA",
) -> None:
    """Points the member earned at a store's till (`yuan` points at the default terms), matured:
    the sale is back-dated past its return window unless `occurred_at` says when."""
    points.record_pos_sale(
        Actor.system(),
        shop.brand,
        shop.locations[store],
        phone=consumer.phone or "",
        amount_cents=yuan * 100,
        reference=f"T-{secrets.token_hex(6)}",
        occurred_at=occurred_at or utcnow() - timedelta(days=10),
    )
    points.mature_due(now=utcnow())


def fund(shop: RetailShop, consumer: Consumer, cents: int) -> None:
    """Wallet money for the member, as a paid top-up."""
    wallet.credit_seed_top_up(member_of(consumer), shop.brand, cents, f"WT{secrets.token_hex(6)}")


def set_terms(shop: RetailShop, member_terms: dict) -> None:
    """Publish the programme's terms on a new version of the shop's retail policy."""
    live = db.session.execute(
        select(PolicyVersion).where(
            PolicyVersion.brand_id == shop.brand.id, PolicyVersion.status == VersionStatus.ACTIVE
        )
    ).scalar_one()
    draft = policy_services.revise_policy(shop.net.hq, live)
    draft.member_terms = member_terms
    draft.effective_from = utcnow() - timedelta(seconds=1)
    policy_services.publish_policy(shop.net.hq, draft)


def entries(consumer: Consumer, kind: str) -> list[PointsEntry]:
    return list(
        db.session.execute(
            select(PointsEntry)
            .where(PointsEntry.member_id == member_of(consumer).id, PointsEntry.kind == kind)
            .order_by(PointsEntry.id)
        ).scalars()
    )


# -- earning and maturing ------------------------------------------------------------------------


def test_a_completed_order_earns_pending_points_usable_once_the_return_window_closes(shop):
    consumer = shop.consumer()
    order = complete(buy(shop, consumer))
    assert held(consumer) == (199, 0)  # 199.00 paid: one point per yuan
    assert points.mature_due(now=utcnow() + timedelta(days=6)) == 0  # returns still open
    assert held(consumer) == (199, 0)
    points.mature_due(now=utcnow() + timedelta(days=8))  # CONSUMER_RETURN_DAYS is 7
    assert held(consumer) == (0, 199)
    points.mature_due(now=utcnow() + timedelta(days=9))  # again: nothing twice
    assert held(consumer) == (0, 199)
    assert [e.reference for e in entries(consumer, PointsKind.EARN)] == [order.number]
    assert len(entries(consumer, PointsKind.MATURE)) == 1


def test_an_order_of_someone_who_never_joined_earns_nothing(shop):
    consumer = shop.consumer(member=False)
    order = complete(buy(shop, consumer))
    assert order.member_id is None
    in_this_shop = select(func.count(PointsEntry.id)).where(
        (PointsEntry.order_id == order.id)
        | PointsEntry.program_id.in_(
            select(ProgramBrand.program_id).where(ProgramBrand.brand_id == shop.brand.id)
        )
    )
    assert db.session.execute(in_this_shop).scalar_one() == 0


def test_points_follow_what_was_paid_after_points_the_level_and_the_category(shop):
    set_terms(shop, {"points": {"category_multiplier_bp": {"TOPS": 15000}}})
    consumer = shop.consumer()
    till_points(shop, consumer, 1000)  # 1000 usable points
    member = member_of(consumer)
    member.level = "gold"  # the default terms' gold level earns 1.5x
    db.session.flush()
    order = complete(buy(shop, consumer, qty=2, points_=500))
    # 398.00 of goods less 5.00 paid with points: 393 yuan; x1.5 for TOPS = 589 whole yuan;
    # x1 per yuan x1.5 for gold = 883.
    assert order.points_cents == 500
    assert held(consumer) == (883, 500)


def test_the_rate_per_yuan_comes_from_the_published_terms(shop):
    consumer = shop.consumer()
    complete(buy(shop, consumer))
    set_terms(shop, {"points": {"per_yuan": {"official": 3, "outlet": 1, "employee": 0}}})
    complete(buy(shop, consumer))
    assert held(consumer) == (199 + 597, 0)


# -- redeeming -----------------------------------------------------------------------------------


def test_points_pay_part_of_an_order_up_to_the_cap(shop):
    consumer = shop.consumer()
    till_points(shop, consumer, 5000)
    member = member_of(consumer)
    terms = membership.terms_of(member)
    assert points.max_redeemable(member, 19_900, terms) == 3980  # 20% of 199.00, 1 fen each
    order = buy(shop, consumer, points_=3980)
    assert (order.points_used, order.points_cents) == (3980, 3980)
    assert (order.total_cents, order.pay_cents) == (19_900, 15_920)
    assert held(consumer) == (0, 1020)
    assert points.max_redeemable(member, 19_900, terms) == 1020  # what is held


@pytest.mark.parametrize(
    ("wanted", "message"),
    [
        (3981, "at most 20% of the goods: 3980 points"),
        (1.5, "A whole number"),
        (-1, "A whole number"),
        (True, "A whole number"),
    ],
)
def test_points_beyond_the_cap_or_not_whole_are_refused_and_nothing_is_spent(shop, wanted, message):
    consumer = shop.consumer()
    till_points(shop, consumer, 5000)
    before = shop.levels()
    with pytest.raises(ValidationFailed) as refused:
        buy(shop, consumer, points_=wanted)
    assert message in refused.value.fields["points"]
    assert held(consumer) == (0, 5000)
    assert shop.levels() == before  # no unit held either
    assert db.session.execute(select(func.count(ConsumerOrder.id))).scalar_one() == 0


def test_more_points_than_held_are_refused_naming_what_is_held(shop):
    consumer = shop.consumer()
    till_points(shop, consumer, 100)
    with pytest.raises(ValidationFailed) as refused:
        buy(shop, consumer, points_=101)
    assert refused.value.fields["points"] == "You have 100 points to use."
    assert held(consumer) == (0, 100)


def test_someone_who_never_joined_cannot_pay_with_points(shop):
    consumer = shop.consumer(member=False)
    with pytest.raises(ValidationFailed) as refused:
        buy(shop, consumer, points_=10)
    assert "Join the membership" in refused.value.fields["points"]


def test_an_order_paid_entirely_with_points_and_wallet_is_paid_at_once(shop):
    consumer = shop.consumer()
    till_points(shop, consumer, 4000)
    fund(shop, consumer, 20_000)
    order = buy(shop, consumer, points_=3980, wallet_cents=15_920)
    assert (order.status, order.pay_cents, order.payment_id) == ("paid", 0, None)
    assert order.pickup_code
    assert held(consumer) == (0, 20)
    assert wallet_of(consumer) == 20_000 - 15_920


def test_points_of_an_unpaid_order_come_back_when_it_is_cancelled_or_expires(shop):
    consumer = shop.consumer()
    till_points(shop, consumer, 1000)
    cancelled = buy(shop, consumer, points_=500)
    assert held(consumer) == (0, 500)
    orders.cancel(consumer, cancelled)
    assert held(consumer) == (0, 1000)
    buy(shop, consumer, points_=300)
    assert held(consumer) == (0, 700)
    orders.expire_unpaid(now=utcnow() + timedelta(hours=1))
    assert held(consumer) == (0, 1000)
    assert len(entries(consumer, PointsKind.RELEASE)) == 2


# -- expiry --------------------------------------------------------------------------------------


def test_points_expire_at_the_end_of_their_last_year_oldest_first(shop):
    consumer = shop.consumer()
    till_points(shop, consumer, 300, occurred_at=datetime(2024, 6, 1, 4, tzinfo=UTC))
    till_points(shop, consumer, 200, occurred_at=datetime(2025, 3, 1, 4, tzinfo=UTC))
    buy(shop, consumer, points_=100)  # spent from the oldest: 200 of 2024's are left
    assert held(consumer) == (0, 400)
    # 1 January 2026 in Shanghai: 2024's points (expire_after_years 1) are due; 2025's are not.
    run = points.ExpiryRun(now=SHANGHAI_NEW_YEAR_2026)
    points.expire_due(run)
    assert (run.members, run.expired_points) == (1, 200)
    assert held(consumer) == (0, 200)
    again = points.ExpiryRun(now=SHANGHAI_NEW_YEAR_2026 + timedelta(hours=2))
    points.expire_due(again)
    assert again.expired_points == 0
    assert held(consumer) == (0, 200)
    assert [e.points for e in entries(consumer, PointsKind.EXPIRE)] == [200]


def test_a_year_whose_points_were_all_spent_expires_nothing(shop):
    consumer = shop.consumer()
    till_points(shop, consumer, 300, occurred_at=datetime(2024, 6, 1, 4, tzinfo=UTC))
    till_points(shop, consumer, 200, occurred_at=datetime(2025, 3, 1, 4, tzinfo=UTC))
    buy(shop, consumer, points_=350)  # more than 2024 earned
    run = points.ExpiryRun(now=SHANGHAI_NEW_YEAR_2026)
    points.expire_due(run)
    assert run.expired_points == 0
    assert held(consumer) == (0, 150)


def test_what_expires_this_year_is_shown_before_it_goes(shop):
    consumer = shop.consumer()
    this_year = points.local_year(utcnow())
    till_points(shop, consumer, 120, occurred_at=datetime(this_year - 1, 3, 1, 4, tzinfo=UTC))
    member = member_of(consumer)
    soon, last_day = points.expiring(member, membership.terms_of(member))
    assert (soon, last_day.isoformat()) == (120, f"{this_year}-12-31")


def test_history_lists_what_moved_newest_first(shop):
    consumer = shop.consumer()
    till_points(shop, consumer, 50)
    buy(shop, consumer, points_=20)
    kinds = [e.kind for e in points.history(member_of(consumer))]
    assert kinds == ["redeem", "mature", "pos_earn"]
