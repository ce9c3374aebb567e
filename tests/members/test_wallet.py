"""The wallet as a ledger, on both backends (portal/members/wallet.py): it pays what is left of an
order after coupons and points, never more than it holds; an unpaid order called off gives the
money back; a top-up is credited once by the provider's signed notice, however often it comes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.core.errors import ValidationFailed
from portal.extensions import db
from portal.members import membership, points, wallet
from portal.members.ledger_models import TopUpStatus, WalletEntry, WalletTopUp
from portal.seed.members_wallet import seed_wallets
from portal.storefront import orders
from portal.storefront.models import Consumer
from portal.storefront.payments import services
from portal.storefront.payments.base import Notice, NoticeStatus
from portal.storefront.payments.models import PayableKind, Payment
from portal.storefront.payments.providers import provider_named
from tests.members.test_points import (
    buy,
    fund,
    held,
    member_of,
    till_points,
    wallet_of,
)
from tests.support.retail import RetailShop, build_retail_shop
from tests.support.services import org


@pytest.fixture
def shop(app) -> RetailShop:
    return build_retail_shop("PT")


def test_the_wallet_pays_what_is_left_after_points(shop):
    consumer = shop.consumer()
    till_points(shop, consumer, 1000)
    fund(shop, consumer, 50_000)
    order = buy(shop, consumer, points_=1000, wallet_cents=10_000)
    assert (order.wallet_cents, order.pay_cents) == (10_000, 19_900 - 1000 - 10_000)
    assert wallet_of(consumer) == 40_000
    history = wallet.history(member_of(consumer))
    assert [(e.kind, e.amount_cents, e.balance_after_cents) for e in history] == [
        ("pay", -10_000, 40_000),
        ("top_up", 50_000, 50_000),
    ]


@pytest.mark.parametrize(
    ("funded", "wanted", "message"),
    [
        (5000, 5001, "Your wallet holds CN¥50.00."),
        (50_000, 19_901, "At most CN¥199.00 is left to pay on this order."),
        (5000, 10.5, "A whole number of fen"),
        (5000, -1, "A whole number of fen"),
    ],
)
def test_more_than_held_or_left_to_pay_is_refused_and_nothing_is_spent(
    shop, funded, wanted, message
):
    consumer = shop.consumer()
    fund(shop, consumer, funded)
    with pytest.raises(ValidationFailed) as refused:
        buy(shop, consumer, wallet_cents=wanted)
    assert message in refused.value.fields["wallet_cents"]
    assert wallet_of(consumer) == funded


def test_points_leave_less_for_the_wallet_to_pay(shop):
    consumer = shop.consumer()
    till_points(shop, consumer, 3980)
    fund(shop, consumer, 50_000)
    with pytest.raises(ValidationFailed) as refused:
        buy(shop, consumer, points_=3980, wallet_cents=15_921)
    assert refused.value.fields["wallet_cents"] == "At most CN¥159.20 is left to pay on this order."
    assert (held(consumer), wallet_of(consumer)) == ((0, 3980), 50_000)


def test_someone_who_never_joined_has_no_wallet_to_pay_with(shop):
    consumer = shop.consumer(member=False)
    with pytest.raises(ValidationFailed) as refused:
        buy(shop, consumer, wallet_cents=100)
    assert "Join the membership" in refused.value.fields["wallet_cents"]


def test_the_money_of_an_unpaid_order_comes_back_when_it_is_called_off(shop):
    consumer = shop.consumer()
    fund(shop, consumer, 5000)
    order = buy(shop, consumer, wallet_cents=3000)
    assert wallet_of(consumer) == 2000
    orders.cancel(consumer, order)
    assert wallet_of(consumer) == 5000
    assert [e.kind for e in wallet.history(member_of(consumer))] == ["release", "pay", "top_up"]


# -- top-ups -------------------------------------------------------------------------------------


def test_a_top_up_asks_the_provider_for_exactly_its_amount(shop):
    consumer = shop.consumer()
    made = wallet.start_top_up(consumer, shop.brand, 8850)
    payment = wallet.payment_of(made)
    assert payment is not None
    assert (payment.payable_kind, payment.payable_id) == (PayableKind.WALLET_TOP_UP, made.id)
    assert (payment.amount_cents, payment.status, made.status) == (8850, "pending", "pending")
    assert wallet_of(consumer) == 0  # nothing until the provider says paid


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("0.99", "An amount from CN¥1.00 to CN¥5,000.00."),
        ("5000.01", "An amount from CN¥1.00 to CN¥5,000.00."),
        ("-5", "An amount from CN¥1.00 to CN¥5,000.00."),
        ("ten", "An amount from CN¥1.00 to CN¥5,000.00."),
        ("", "An amount from CN¥1.00 to CN¥5,000.00."),
    ],
)
def test_a_top_up_out_of_range_is_refused(shop, typed, message):
    with pytest.raises(ValidationFailed) as refused:
        wallet.parse_top_up_amount(typed)
    assert refused.value.fields["amount"] == message


def test_the_largest_top_up_comes_from_configuration(shop, app, monkeypatch):
    monkeypatch.setitem(app.config, "WALLET_TOP_UP_MAX_CENTS", 10_000)
    assert wallet.parse_top_up_amount("100") == 10_000
    with pytest.raises(ValidationFailed):
        wallet.parse_top_up_amount("100.01")
    with pytest.raises(ValidationFailed):
        wallet.start_top_up(shop.consumer(), shop.brand, 10_001)


def test_someone_who_never_joined_cannot_top_up(shop):
    with pytest.raises(ValidationFailed) as refused:
        wallet.start_top_up(shop.consumer(member=False), shop.brand, 1000)
    assert "Join the membership" in refused.value.fields["amount"]
    made = select(func.count(WalletTopUp.id)).where(WalletTopUp.brand_id == shop.brand.id)
    assert db.session.execute(made).scalar_one() == 0


def _post(client, brand_code: str, signed):
    return client.post(f"/shop/{brand_code}/pay/notify/test", data=signed.body,
                       headers=signed.headers)  # fmt: skip


def test_the_signed_notice_credits_a_top_up_once_however_often_it_comes(shop, client):
    consumer = shop.consumer()
    made = wallet.start_top_up(consumer, shop.brand, 20_000)
    payment = wallet.payment_of(made)
    db.session.commit()
    signed = provider_named("test").build_notice(payment.reference, payment.amount_cents)
    for _ in range(100):
        assert _post(client, shop.brand.code, signed).status_code == 204
    assert wallet_of(consumer) == 20_000
    db.session.refresh(made)
    assert made.status == TopUpStatus.PAID
    # Other notices of the same transaction (the provider telling again in new words).
    for index in range(3):
        services.record_notice(
            Notice(
                "test",
                f"again-{index}",
                payment.reference,
                "T-again",
                20_000,
                "CNY",
                NoticeStatus.PAID,
            )  # fmt: skip
        )
        wallet.top_up_paid(payment)
    assert wallet_of(consumer) == 20_000
    credits = select(func.count(WalletEntry.id)).where(
        WalletEntry.member_id == member_of(consumer).id, WalletEntry.kind == "top_up"
    )
    assert db.session.execute(credits).scalar_one() == 1


def test_a_declined_or_forged_notice_credits_nothing(shop, client):
    consumer = shop.consumer()
    made = wallet.start_top_up(consumer, shop.brand, 20_000)
    payment = wallet.payment_of(made)
    db.session.commit()
    gateway = provider_named("test")
    declined = gateway.build_notice(payment.reference, payment.amount_cents, paid=False)
    assert _post(client, shop.brand.code, declined).status_code == 204
    wrong_amount = gateway.build_notice(payment.reference, 2_000_000)
    assert _post(client, shop.brand.code, wrong_amount).status_code == 422
    forged = gateway.build_notice(payment.reference, payment.amount_cents)
    headers = {**forged.headers, "X-Test-Gateway-Signature": "sha256=" + "0" * 64}
    response = client.post(f"/shop/{shop.brand.code}/pay/notify/test", data=forged.body,
                           headers=headers)  # fmt: skip
    assert response.status_code == 401
    assert wallet_of(consumer) == 0
    assert db.session.get(Payment, payment.id).status == "pending"


def test_the_demo_members_get_wallet_money_and_usable_points_once(app):
    """The test database is the demo: `flask seed demo` already gave ACME's demo members (ACME
    and LUMI share the programme) their money and points; seeding again, for either brand,
    adds nothing."""
    acme, lumi = org("ACME"), org("LUMI")
    demo = db.session.execute(
        select(Consumer).where(Consumer.brand_id == acme.id, Consumer.phone.is_not(None))
    ).scalars()
    joined = [membership.member_of(consumer) for consumer in demo]
    assert joined and None not in joined
    assert seed_wallets(acme) == 0
    assert seed_wallets(lumi) == 0  # the shared programme's members: not a second time
    for member in joined:
        assert wallet.balance_cents(member) == 20_000
        assert [e.kind for e in wallet.history(member)] == ["top_up"]
        assert points.balance(member) == points.PointsBalance(0, 380)  # one ¥380 sale, matured
