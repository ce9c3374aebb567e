"""Coupons as services, on both backends (portal/members/coupons.py): templates HQ writes, giving
them out (issued, claimed), what a coupon takes off at checkout and what it refuses, and what
calling an order off or refunding it does to the coupons it used.

The shop is the retail test brand (tests/support/retail.py) with more units at Lujiazui, where
every order here is picked up. Official prices: TEE-BLK-M 199.00 and TEE-BLK-L 150.00 (TOPS),
POLO-WHT-M 299.00 (TOPS), RUN-BLK-42 599.00 (SHOES), TOTE-RED-OS 123.45 (BAGS).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.core import jobs
from portal.core.db import utcnow
from portal.core.errors import NotFound, ValidationFailed
from portal.extensions import db
from portal.members import coupons, membership, segments
from portal.members.coupon_models import Coupon, CouponIssue, CouponTemplate
from portal.members.models import Member
from portal.storefront import hooks, orders
from portal.storefront.checkout import CheckoutLine, checkout
from portal.storefront.hooks import CheckoutExtras, RefundRequest
from portal.storefront.models import (
    Consumer,
    ConsumerOrder,
    ConsumerOrderStatus,
    Fulfilment,
)
from tests.support.consumer_orders import pay_by_notice
from tests.support.policy import hq_actor
from tests.support.retail import RetailShop, build_retail_shop
from tests.support.services import org

EXTRA_UNITS = {"TEE-BLK-M": 20, "POLO-WHT-M": 20, "RUN-BLK-42": 10, "TOTE-RED-OS": 20}


@dataclass
class CouponShop:
    shop: RetailShop

    @property
    def brand(self):
        return self.shop.brand

    @property
    def hq(self):
        return self.shop.net.hq

    def template(self, **terms) -> CouponTemplate:
        """A template written by HQ: ¥20.00 off everything in the official store, for 30 days
        after receiving it, claimed on the coupon page; `terms` change any of that."""
        values = {
            "name": "Twenty off",
            "kind": "amount",
            "amount": "20",
            "validity": "days",
            "valid_days": "30",
            "distribution": "claim",
        }
        values.update(terms)
        return coupons.create_template(self.hq, self.brand, coupons.TemplateInput(**values))

    def consumer(self, **kwargs) -> Consumer:
        return self.shop.consumer(**kwargs)

    def member_of(self, consumer: Consumer) -> Member:
        member = membership.member_of(consumer)
        assert member is not None
        return member

    def give(self, template: CouponTemplate, consumer: Consumer) -> Coupon:
        """A coupon of the template for the consumer's member: issued, or claimed once the
        member already had one issued."""
        member = self.member_of(consumer)
        made = coupons.issue(self.hq, template, [member.id])
        if made.issued_count == 0:
            return coupons.claim(consumer, self.brand, template.code)
        return db.session.execute(
            select(Coupon)
            .where(Coupon.template_id == template.id, Coupon.member_id == member.id)
            .order_by(Coupon.id.desc())
            .limit(1)
        ).scalar_one()

    def buy(
        self,
        consumer: Consumer,
        lines: dict[str, int] | None = None,
        coupon_ids: tuple[int, ...] = (),
        tier: str = "official",
    ) -> ConsumerOrder:
        lines = lines or {"TEE-BLK-M": 1}
        return checkout(
            consumer,
            self.brand,
            tier,
            [CheckoutLine(self.shop.variant_id(sku), qty) for sku, qty in lines.items()],
            fulfilment=Fulfilment.PICKUP,
            pickup_location_id=self.shop.locations["LJ"].id,
            checkout_token=secrets.token_hex(8),
            extras=CheckoutExtras(coupon_ids=coupon_ids),
        )

    def line_discounts(self, order: ConsumerOrder) -> dict[str, int]:
        return {line.variant.sku: line.discount_cents for line in order.lines}


def build_coupon_shop(prefix: str = "CP") -> CouponShop:
    shop = build_retail_shop(prefix)
    for sku, qty in EXTRA_UNITS.items():
        shop.receive("LJ", sku, qty)
    db.session.flush()
    return CouponShop(shop)


def fresh(coupon: Coupon) -> Coupon:
    db.session.refresh(coupon)
    return coupon


def order_count() -> int:
    return db.session.execute(select(func.count()).select_from(ConsumerOrder)).scalar_one()


def refused(error: pytest.ExceptionInfo) -> dict[str, str]:
    return error.value.fields


@pytest.fixture
def cs(app) -> CouponShop:
    return build_coupon_shop()


# -- templates -----------------------------------------------------------------------------------


def test_a_template_names_every_field_that_is_wrong_and_writes_nothing(cs):
    before = db.session.execute(select(func.count()).select_from(CouponTemplate)).scalar_one()
    with pytest.raises(ValidationFailed) as error:
        coupons.create_template(
            cs.hq,
            cs.brand,
            coupons.TemplateInput(
                name="",
                kind="threshold",
                amount="50",
                min_spend="30",
                tiers=("official", "vip"),
                scope="categories",
                scope_codes="TOPS NOPE",
                validity="dates",
                valid_from="2030-02-01",
                valid_until="2030-01-01",
                per_member_limit="0",
                total_limit="-5",
                distribution="mail",
            ),
        )
    fields = refused(error)
    assert fields["name"] == "Required."
    assert fields["min_spend"] == "The minimum spend must be more than the amount off."
    assert fields["tiers"] == "Choose the storefronts it counts in."
    assert fields["scope_codes"] == "No such category: NOPE."
    assert fields["valid_until"] == "The last day comes before the first."
    assert fields["per_member_limit"] == "A whole number from 1 to 100."
    assert fields["total_limit"].startswith("A whole number from 1")
    assert fields["distribution"] == "Choose how it is given out."
    after = db.session.execute(select(func.count()).select_from(CouponTemplate)).scalar_one()
    assert after == before


def test_a_template_needs_its_amount_or_percentage_and_a_day_that_has_not_passed(cs):
    with pytest.raises(ValidationFailed) as error:
        cs.template(kind="amount", amount="")
    assert refused(error) == {"amount": "Say how much the coupon takes off."}
    with pytest.raises(ValidationFailed) as error:
        cs.template(kind="percent", percent_off="100")
    assert refused(error) == {"percent_off": "A whole number from 1 to 99."}
    with pytest.raises(ValidationFailed) as error:
        cs.template(validity="dates", valid_from="2020-01-01", valid_until="2020-01-31")
    assert refused(error) == {"valid_until": "That day has passed."}
    with pytest.raises(ValidationFailed) as error:
        cs.template(scope="products", scope_codes="")
    assert refused(error) == {"scope_codes": "Name at least one code."}


def test_codes_are_matched_whatever_their_case_and_kept_as_the_catalog_spells_them(cs):
    template = cs.template(scope="products", scope_codes="tee, polo")
    assert template.scope_codes == ["TEE", "POLO"]
    assert coupons.label(template) == "CN¥20.00 off"
    assert coupons.where_it_counts(template) == "Official store; products TEE, POLO"


def test_another_brands_hq_cannot_write_or_give_out_a_brands_coupons(cs):
    template = cs.template()
    acme_hq = hq_actor(org("ACME"))
    with pytest.raises(NotFound):
        coupons.create_template(acme_hq, cs.brand, coupons.TemplateInput(name="x"))
    with pytest.raises(NotFound):
        coupons.issue(acme_hq, template, [cs.member_of(cs.consumer()).id])
    with pytest.raises(NotFound):
        coupons.get_template(acme_hq, cs.brand, template.id)


# -- giving out ----------------------------------------------------------------------------------


def test_issuing_twice_gives_each_member_one_coupon_and_the_total_limit_holds(cs):
    template = cs.template(distribution="issue", per_member_limit="2", total_limit="3")
    members = [cs.member_of(cs.consumer()).id for _ in range(4)]
    first = coupons.issue(cs.hq, template, members[:2])
    assert (first.issued_count, first.skipped) == (2, {})
    again = coupons.issue(cs.hq, template, members)
    assert again.issued_count == 1  # one left of the 3 in all
    assert again.skipped == {"already": 2, "total": 1}
    held = db.session.execute(
        select(Coupon.member_id).where(Coupon.template_id == template.id)
    ).scalars()
    assert sorted(held) == sorted(members[:3])
    assert fresh(template).given_count == 3


def test_the_same_issue_form_sent_twice_is_one_issue(cs):
    template = cs.template(distribution="issue")
    member = cs.member_of(cs.consumer()).id
    first = coupons.issue(cs.hq, template, [member], token="form-1")
    second = coupons.issue(cs.hq, template, [member], token="form-1")
    assert second.id == first.id
    assert (
        db.session.execute(
            select(func.count())
            .select_from(CouponIssue)
            .where(CouponIssue.template_id == template.id)
        ).scalar_one()
        == 1
    )


def test_issuing_refuses_someone_who_is_no_member_of_the_programme_and_gives_nobody_anything(cs):
    template = cs.template(distribution="issue")
    member = cs.member_of(cs.consumer()).id
    with pytest.raises(ValidationFailed) as error:
        coupons.issue(cs.hq, template, [member, 987654321])
    assert refused(error) == {"member_ids.1": "Not a member of this brand's programme."}
    assert fresh(template).given_count == 0


def test_issuing_passes_over_a_member_who_claimed_as_many_as_one_may(cs):
    template = cs.template(per_member_limit="1")
    consumer = cs.consumer()
    coupons.claim(consumer, cs.brand, template.code)
    made = coupons.issue(cs.hq, template, [cs.member_of(consumer).id])
    assert (made.issued_count, made.skipped) == (0, {"limit": 1})


def test_a_member_finds_members_by_number_or_mobile_and_hq_hears_which_lines_are_not(cs):
    one, two = cs.consumer(), cs.consumer()
    number = cs.member_of(one).number
    ids, errors = coupons.find_members(cs.brand.id, f"{number}\n{two.phone[3:]}\n")
    assert (ids, errors) == ([cs.member_of(one).id, cs.member_of(two).id], {})
    _ids, errors = coupons.find_members(cs.brand.id, f"{number}\n+8613000000000\n")
    assert errors == {"members": "No member on line(s) 2."}


def test_claiming_holds_to_the_members_limit_and_the_total(cs):
    template = cs.template(per_member_limit="2", total_limit="3")
    first, second = cs.consumer(), cs.consumer()
    coupons.claim(first, cs.brand, template.code)
    coupons.claim(first, cs.brand, template.code)
    with pytest.raises(coupons.CouponRefused) as error:
        coupons.claim(first, cs.brand, template.code)
    assert error.value.message == (
        "You already hold 2 of these coupons, as many as one member may."
    )
    coupons.claim(second, cs.brand, template.code)
    with pytest.raises(coupons.CouponRefused) as error:
        coupons.claim(second, cs.brand, template.code)
    assert error.value.message == "All of these coupons have been claimed."
    assert fresh(template).given_count == 3


def test_claiming_is_for_members_of_a_template_that_is_still_given_out(cs):
    template = cs.template()
    outsider = cs.consumer(member=False)
    with pytest.raises(coupons.CouponRefused) as error:
        coupons.claim(outsider, cs.brand, template.code)
    assert error.value.message == "Only members can claim coupons: join the membership first."
    coupons.stop_template(cs.hq, template)
    with pytest.raises(coupons.CouponRefused) as error:
        coupons.claim(cs.consumer(), cs.brand, template.code)
    assert error.value.message == "This coupon is no longer given out."
    issued_only = cs.template(distribution="issue")
    with pytest.raises(NotFound):
        coupons.claim(cs.consumer(), cs.brand, issued_only.code)
    with pytest.raises(NotFound):
        coupons.claim(cs.consumer(), org("ACME"), template.code)  # another brand's shop


def test_a_claimed_coupon_lasts_its_days_and_a_dated_one_its_dates(cs):
    consumer = cs.consumer()
    by_days = coupons.claim(consumer, cs.brand, cs.template(valid_days="7").code)
    assert timedelta(days=7) - (by_days.valid_until - by_days.valid_from) < timedelta(seconds=1)
    dated = cs.template(validity="dates", valid_from="2099-01-01", valid_until="2099-01-31")
    coupon = coupons.claim(consumer, cs.brand, dated.code)
    assert (coupon.valid_from, coupon.valid_until) == (dated.valid_from, dated.valid_until)
    states = {c.id: c.state for c in coupons.member_coupons(cs.member_of(consumer), cs.brand.id)}
    assert states == {by_days.id: "usable", coupon.id: "upcoming"}


def test_segment_issue_runs_as_a_job_in_batches_and_a_second_run_adds_nothing(cs, monkeypatch):
    template = cs.template(distribution="issue")
    members = [cs.member_of(cs.consumer()).id for _ in range(5)]
    monkeypatch.setattr(coupons, "ISSUE_BATCH", 2)
    monkeypatch.setattr(
        segments, "list_segments", lambda brand_id: [segments.SegmentSummary(7, "VIP", 6)]
    )
    monkeypatch.setattr(
        segments, "segment_member_ids", lambda brand_id, segment_id: [*members, 987654321]
    )
    with pytest.raises(ValidationFailed) as error:
        coupons.issue_to_segment(cs.hq, template, 8)
    assert refused(error) == {"segment_id": "Choose one of the brand's segments."}
    made = coupons.issue_to_segment(cs.hq, template, 7, token="t-1")
    assert made.status == "queued" and made.issued_count == 0  # the job runs after the commit
    issue_id = made.id
    jobs.commit()
    made = db.session.execute(select(CouponIssue).where(CouponIssue.id == issue_id)).scalar_one()
    assert (made.status, made.member_count, made.issued_count) == ("done", 6, 5)
    assert made.skipped == {"not_member": 1}
    assert made.last_member_id == 987654321
    coupons.issue_coupons_to_segment(issue_id)  # run again: done already
    made.status, made.last_member_id = "running", 0  # as if a retry started over
    db.session.flush()
    coupons.issue_coupons_to_segment(issue_id)
    db.session.refresh(made)
    assert made.issued_count == 5 and made.skipped["already"] == 5
    assert fresh(template).given_count == 5


# -- checkout ------------------------------------------------------------------------------------


def test_an_amount_coupon_takes_its_amount_off_and_is_used_by_the_order(cs):
    consumer = cs.consumer()
    coupon = cs.give(cs.template(), consumer)
    order = cs.buy(consumer, coupon_ids=(coupon.id,))
    assert (order.goods_cents, order.discount_cents, order.total_cents) == (19900, 2000, 17900)
    assert order.pay_cents == 17900
    assert cs.line_discounts(order) == {"TEE-BLK-M": 2000}
    coupon = fresh(coupon)
    assert (coupon.status, coupon.order_id, coupon.discount_cents) == ("used", order.id, 2000)


def test_a_threshold_counts_only_the_items_it_applies_to_and_spreads_over_them(cs):
    consumer = cs.consumer()
    coupon = cs.give(
        cs.template(
            kind="threshold",
            amount="50",
            min_spend="300",
            scope="categories",
            scope_codes="TOPS",
        ),
        consumer,
    )
    before = cs.shop.level("LJ", "TEE-BLK-M")
    orders_before = order_count()
    with pytest.raises(ValidationFailed) as error:
        cs.buy(consumer, {"TEE-BLK-M": 1, "TOTE-RED-OS": 2}, coupon_ids=(coupon.id,))
    assert refused(error) == {
        "coupon_ids.0": "Spend CN¥300.00 on the items it applies to (CN¥199.00 so far)."
    }
    assert fresh(coupon).status == "held"
    assert cs.shop.level("LJ", "TEE-BLK-M") == before and order_count() == orders_before
    order = cs.buy(
        consumer, {"TEE-BLK-M": 1, "POLO-WHT-M": 1, "TOTE-RED-OS": 1}, coupon_ids=(coupon.id,)
    )
    # 5000 over 19900 and 29900: 1997 and 3001 rounded down, the 2 left to the larger line
    assert cs.line_discounts(order) == {"TEE-BLK-M": 1997, "POLO-WHT-M": 3003, "TOTE-RED-OS": 0}
    assert order.discount_cents == 5000
    assert order.total_cents == 19900 + 29900 + 12345 - 5000


def test_a_percentage_coupon_takes_its_share_of_its_items_up_to_its_cap(cs):
    consumer = cs.consumer()
    plain = cs.give(cs.template(kind="percent", percent_off="15", amount=""), consumer)
    order = cs.buy(consumer, {"POLO-WHT-M": 1}, coupon_ids=(plain.id,))
    assert order.discount_cents == 4485  # 15% of 299.00
    capped = cs.give(
        cs.template(
            kind="percent", percent_off="15", cap="50", scope="products", scope_codes="RUN"
        ),
        consumer,
    )
    order = cs.buy(consumer, {"RUN-BLK-42": 1, "TOTE-RED-OS": 1}, coupon_ids=(capped.id,))
    assert order.discount_cents == 5000  # 15% of 599.00 is 89.85: capped at 50.00
    assert cs.line_discounts(order) == {"RUN-BLK-42": 5000, "TOTE-RED-OS": 0}


def test_a_coupon_never_takes_more_than_its_items_are_worth_and_a_free_order_is_paid(cs):
    consumer = cs.consumer()
    coupon = cs.give(cs.template(amount="500"), consumer)
    order = cs.buy(consumer, coupon_ids=(coupon.id,))
    assert (order.discount_cents, order.total_cents, order.pay_cents) == (19900, 0, 0)
    assert order.status == ConsumerOrderStatus.PAID and order.payment_id is None


def test_stackable_coupons_combine_amounts_first_then_percentages(cs):
    consumer = cs.consumer()
    percent = cs.give(cs.template(name="Ten percent", kind="percent", percent_off="10"), consumer)
    amount = cs.give(cs.template(name="Fifty off", amount="50"), consumer)
    order = cs.buy(consumer, {"POLO-WHT-M": 1}, coupon_ids=(percent.id, amount.id))
    # 50.00 off 299.00 first, then 10% of the 249.00 left
    assert order.discount_cents == 5000 + 2490
    assert (fresh(percent).discount_cents, fresh(amount).discount_cents) == (2490, 5000)


def test_stacking_rules_name_the_coupon_that_breaks_them_and_spend_nothing(cs):
    consumer = cs.consumer()
    alone = cs.give(cs.template(name="Alone", stackable=False), consumer)
    other = cs.give(cs.template(name="Other"), consumer)
    twice = cs.template(name="Twice", per_member_limit="2")
    first, second = cs.give(twice, consumer), cs.give(twice, consumer)
    with pytest.raises(ValidationFailed) as error:
        cs.buy(consumer, coupon_ids=(other.id, alone.id))
    assert refused(error) == {"coupon_ids.1": "This coupon cannot be combined with other coupons."}
    with pytest.raises(ValidationFailed) as error:
        cs.buy(consumer, coupon_ids=(first.id, second.id, first.id))
    assert refused(error) == {
        "coupon_ids.1": "One order takes one coupon of this kind.",
        "coupon_ids.2": "This coupon is listed twice.",
    }
    assert {fresh(c).status for c in (alone, other, first, second)} == {"held"}
    assert cs.buy(consumer, coupon_ids=(alone.id,)).discount_cents == 2000


def test_a_coupon_that_is_not_the_members_used_or_out_of_date_is_refused_by_name(cs):
    consumer, stranger = cs.consumer(), cs.consumer()
    theirs = cs.give(cs.template(name="Theirs"), stranger)
    used = cs.give(cs.template(name="Used"), consumer)
    cs.buy(consumer, coupon_ids=(used.id,))
    expired = cs.give(cs.template(name="Expired"), consumer)
    expired.valid_until = utcnow() - timedelta(days=1)
    upcoming = cs.give(
        cs.template(
            name="Upcoming", validity="dates", valid_from="2099-01-01", valid_until="2099-01-31"
        ),
        consumer,
    )
    outlet = cs.give(cs.template(name="Outlet", tiers=("outlet",)), consumer)
    shoes = cs.give(cs.template(name="Shoes", scope="categories", scope_codes="SHOES"), consumer)
    db.session.flush()
    with pytest.raises(ValidationFailed) as error:
        cs.buy(
            consumer,
            coupon_ids=(theirs.id, used.id, expired.id, upcoming.id, outlet.id, shoes.id, -3),
        )
    fields = refused(error)
    assert fields["coupon_ids.0"] == "This is not one of your coupons."
    assert fields["coupon_ids.1"] == "This coupon has already been used."
    assert fields["coupon_ids.2"].startswith("This coupon expired on ")
    assert fields["coupon_ids.3"] == "This coupon counts from 2099-01-01."
    assert fields["coupon_ids.4"] == "This coupon does not count in this storefront."
    assert fields["coupon_ids.5"] == "This coupon does not apply to any item in this order."
    assert fields["coupon_ids.6"] == "This is not one of your coupons."
    assert fresh(theirs).status == "held"


def test_a_consumer_who_is_no_member_uses_no_coupon(cs):
    outsider = cs.consumer(member=False)
    with pytest.raises(ValidationFailed) as error:
        cs.buy(outsider, coupon_ids=(1,))
    assert refused(error) == {"coupon_ids.0": "Only members use coupons."}


def test_usable_lists_the_members_coupons_of_the_storefront_and_preview_prices_a_basket(cs):
    consumer = cs.consumer()
    member = cs.member_of(consumer)
    official = cs.give(cs.template(name="Official"), consumer)
    cs.give(cs.template(name="Outlet", tiers=("outlet",)), consumer)
    used = cs.give(cs.template(name="Used"), consumer)
    cs.buy(consumer, coupon_ids=(used.id,))
    offered = coupons.usable(member, cs.brand.id, "official")
    assert [(c.id, c.label) for c in offered] == [(official.id, "CN¥20.00 off")]
    assert [c.name for c in coupons.usable(member, cs.brand.id, "outlet")] == ["Outlet"]
    tee = cs.shop.variant_id("TEE-BLK-M")
    preview = coupons.preview(member, cs.brand.id, "official", {tee: 19900}, [official.id])
    assert (preview.discount_cents, preview.errors) == (2000, {})
    preview = coupons.preview(member, cs.brand.id, "official", {tee: 19900}, [used.id])
    assert preview.errors == {"coupon_ids.0": "This coupon has already been used."}
    assert fresh(official).status == "held"


# -- calling off and refunds ---------------------------------------------------------------------


def test_an_order_cancelled_or_expired_before_payment_gives_its_coupon_back(cs):
    consumer = cs.consumer()
    coupon = cs.give(cs.template(), consumer)
    order = cs.buy(consumer, coupon_ids=(coupon.id,))
    orders.cancel(consumer, order)
    coupon = fresh(coupon)
    assert (coupon.status, coupon.order_id) == ("held", None)
    order = cs.buy(consumer, coupon_ids=(coupon.id,))
    orders.expire_unpaid(now=utcnow() + timedelta(hours=1))
    assert fresh(coupon).status == "held"
    assert cs.buy(consumer, coupon_ids=(coupon.id,)).discount_cents == 2000


def test_a_coupon_given_back_after_its_validity_ended_comes_back_expired(cs):
    consumer = cs.consumer()
    coupon = cs.give(cs.template(), consumer)
    order = cs.buy(consumer, coupon_ids=(coupon.id,))
    coupon.valid_until = utcnow() - timedelta(minutes=1)
    orders.cancel(consumer, order)
    states = [c.state for c in coupons.member_coupons(cs.member_of(consumer), cs.brand.id)]
    assert states == ["expired"]
    assert coupons.usable(cs.member_of(consumer), cs.brand.id, "official") == []


def test_a_full_refund_gives_the_coupon_back_and_a_partial_one_keeps_it_used(cs, monkeypatch):
    monkeypatch.setattr(hooks, "refund_rest", [coupons.on_refund])
    consumer = cs.consumer()
    coupon = cs.give(cs.template(), consumer)
    order = cs.buy(consumer, coupon_ids=(coupon.id,))
    pay_by_notice(order)
    partial = RefundRequest(order, 5000, 4000, 1000, f"{order.number}-R1", full=False)
    coupons.on_refund(partial)
    assert fresh(coupon).status == "used"
    orders.cancel(consumer, order)  # paid, not yet taken on: refunded in full
    assert order.status == ConsumerOrderStatus.REFUNDED
    assert fresh(coupon).status == "held"
    full = RefundRequest(order, order.total_cents, order.total_cents, 0, f"{order.number}-C", True)
    coupons.on_refund(full)  # the same refund again: nothing more
    again = cs.buy(consumer, coupon_ids=(coupon.id,))
    assert fresh(coupon).order_id == again.id


# -- HQ's figures --------------------------------------------------------------------------------


def test_hq_counts_issued_claimed_used_and_the_revenue_of_paid_orders_not_refunded(cs):
    template = cs.template(per_member_limit="3")
    buyers = [cs.consumer() for _ in range(3)]
    held = [cs.give(template, consumer) for consumer in buyers]  # issued
    claimed = coupons.claim(buyers[0], cs.brand, template.code)
    paid = cs.buy(buyers[0], coupon_ids=(held[0].id,))
    pay_by_notice(paid)
    cs.buy(buyers[1], coupon_ids=(held[1].id,))  # not paid yet
    refunded = cs.buy(buyers[2], {"POLO-WHT-M": 1}, coupon_ids=(held[2].id,))
    pay_by_notice(refunded)
    refunded.status = ConsumerOrderStatus.REFUNDED  # as a store's refund of it leaves it
    claimed.valid_until = utcnow() - timedelta(days=1)
    db.session.flush()
    stats = coupons.template_stats([template.id])[template.id]
    assert stats == coupons.TemplateStats(
        issued=3, claimed=1, used=3, expired=1, orders=1, revenue_cents=17900
    )
