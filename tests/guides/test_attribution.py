"""Which guide an online order counts for (portal/guides/attribution.py): a code beats a link
beats a binding; the link window's edges; a browser's links before signing in; the four binding
modes and a binding's lifetime; own purchases; guides of another brand; and a bad code leaving
nothing written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from portal.core.db import utcnow
from portal.core.errors import ValidationFailed
from portal.extensions import db
from portal.guides import attribution, bindings, roster, visits
from portal.guides.links import make_token
from portal.guides.models import GuideBinding, GuideStatus
from portal.members import membership
from portal.members.employee_models import (
    Entitlement,
    EntitlementKind,
    EntitlementSource,
)
from portal.storefront.models import ConsumerOrder
from tests.guides.conftest import (
    TEE,
    TEE_COMMISSION,
    GuideShop,
    attribution_of,
    binding_of,
    count,
)
from tests.support.retail import build_retail_shop

VISITOR = "browser-0123456789abcdef"


# -- precedence -------------------------------------------------------------------------------


def test_a_code_at_checkout_beats_a_recent_link_and_the_bound_guide(gs: GuideShop):
    consumer = gs.consumer()
    gs.set_terms(guides={"binding": "registration"})
    attribution.consumer_signed_up(consumer, gs.guides["HQ"].code)
    gs.visit(gs.guides["JA"], consumer=consumer, days_ago=1)
    order = gs.place(consumer, guide_code=gs.guides["LJ"].code.lower())
    found = attribution_of(order)
    assert (found.guide_id, found.rule) == (gs.guides["LJ"].id, "code")
    assert found.guide_org_id == gs.org("LJ").id
    assert (found.basis_cents, found.commission_cents, found.earns) == (TEE, TEE_COMMISSION, True)


def test_a_recent_link_beats_the_bound_guide(gs: GuideShop):
    consumer = gs.consumer()
    gs.set_terms(guides={"binding": "registration"})
    attribution.consumer_signed_up(consumer, gs.guides["HQ"].code)
    visit = gs.visit(gs.guides["JA"], consumer=consumer, days_ago=2)
    found = attribution_of(gs.place(consumer))
    assert (found.guide_id, found.rule, found.visit_id) == (gs.guides["JA"].id, "link", visit.id)


def test_the_newest_link_counts_when_several_were_opened(gs: GuideShop):
    consumer = gs.consumer()
    gs.visit(gs.guides["JA"], consumer=consumer, days_ago=3)
    gs.visit(gs.guides["LJ"], consumer=consumer, days_ago=1)
    assert attribution_of(gs.place(consumer)).guide_id == gs.guides["LJ"].id


def test_the_bound_guide_counts_without_a_code_or_a_link(gs: GuideShop):
    consumer = gs.consumer()
    gs.set_terms(guides={"binding": "registration"})
    attribution.consumer_signed_up(consumer, gs.guides["HQ"].code)
    found = attribution_of(gs.place(consumer))
    assert (found.guide_id, found.rule) == (gs.guides["HQ"].id, "binding")
    assert found.binding_id == binding_of(consumer).id


def test_an_order_no_rule_finds_has_no_attribution(gs: GuideShop):
    assert attribution_of(gs.place(gs.consumer())) is None


def test_staff_ordering_for_a_walk_in_customer_are_credited(gs: GuideShop):
    consumer = gs.consumer()
    gs.visit(gs.guides["JA"], consumer=consumer, days_ago=1)
    found = attribution_of(gs.place(consumer, placed_by_user_id=gs.users["LJ"].id))
    assert (found.guide_id, found.rule) == (gs.guides["LJ"].id, "staff")


# -- the link window --------------------------------------------------------------------------


def test_a_link_just_inside_the_window_counts_and_just_outside_does_not(gs: GuideShop):
    inside, outside = gs.consumer(), gs.consumer()
    gs.visit(gs.guides["JA"], consumer=inside, days_ago=7 - 1 / 1440)  # a minute inside
    gs.visit(gs.guides["JA"], consumer=outside, days_ago=7 + 1 / 1440)  # a minute outside
    assert attribution_of(gs.place(inside)).rule == "link"
    assert attribution_of(gs.place(outside)) is None


def test_a_link_exactly_window_days_old_counts_and_a_second_more_does_not(gs: GuideShop):
    consumer = gs.consumer()
    visit = gs.visit(gs.guides["JA"], consumer=consumer)
    edge = visit.opened_at + timedelta(days=7)
    found = attribution.find_link_visit(
        gs.brand.id, 7, consumer_id=consumer.id, visitor=None, at=edge
    )
    assert found is not None and found.id == visit.id
    later = edge + timedelta(seconds=1)
    assert (
        attribution.find_link_visit(gs.brand.id, 7, consumer_id=consumer.id, visitor=None, at=later)
        is None
    )


def test_the_brands_window_setting_is_used(gs: GuideShop):
    gs.set_terms(guides={"window_days": 30})
    consumer = gs.consumer()
    gs.visit(gs.guides["JA"], consumer=consumer, days_ago=20)
    assert attribution_of(gs.place(consumer)).rule == "link"
    gs.set_terms(guides={"window_days": 2})
    other = gs.consumer()
    gs.visit(gs.guides["JA"], consumer=other, days_ago=3)
    assert attribution_of(gs.place(other)) is None


def test_a_link_opened_before_signing_in_counts_for_the_same_browser(gs: GuideShop):
    gs.visit(gs.guides["JA"], visitor=VISITOR, days_ago=1)
    consumer = gs.consumer()
    found = attribution_of(gs.place(consumer, visitor=VISITOR))
    assert (found.guide_id, found.rule) == (gs.guides["JA"].id, "link")
    # Another browser, or no browser id (the app), finds nothing.
    assert attribution_of(gs.place(gs.consumer(), visitor="another-browser-0000000")) is None
    assert attribution_of(gs.place(gs.consumer())) is None


def test_a_link_another_consumer_opened_signed_in_on_the_same_browser_does_not_count(gs):
    someone = gs.consumer()
    gs.visit(gs.guides["JA"], consumer=someone, visitor=VISITOR, days_ago=1)
    assert attribution_of(gs.place(gs.consumer(), visitor=VISITOR)) is None


def test_a_stopped_guides_links_and_bindings_count_no_more(gs: GuideShop):
    consumer = gs.consumer()
    gs.set_terms(guides={"binding": "registration"})
    attribution.consumer_signed_up(consumer, gs.guides["LJ"].code)
    gs.visit(gs.guides["JA"], consumer=consumer, days_ago=1)
    roster.stop_guide(gs.shop.staff("JA", role=roster.Role.STORE_OWNER), gs.guides["JA"])
    found = attribution_of(gs.place(consumer))
    assert (found.guide_id, found.rule) == (gs.guides["LJ"].id, "binding")
    roster.stop_guide(gs.shop.net.hq, gs.guides["LJ"])
    assert binding_of(consumer) is None  # ended with the guide
    assert attribution_of(gs.place(consumer)) is None
    with pytest.raises(ValidationFailed) as refused:
        gs.place(consumer, guide_code=gs.guides["LJ"].code)
    assert "no longer in use" in refused.value.fields["guide_code"]


# -- binding modes ----------------------------------------------------------------------------


def test_binding_none_binds_no_one(gs: GuideShop):
    gs.set_terms(guides={"binding": "none"})
    consumer = gs.consumer()
    gs.place(consumer, guide_code=gs.guides["JA"].code)
    attribution.consumer_signed_up(consumer, gs.guides["JA"].code)
    assert binding_of(consumer) is None


def test_first_purchase_through_a_link_binds_and_later_links_do_not_move_it(gs: GuideShop):
    consumer = gs.consumer()  # the default mode: first_purchase, for 365 days
    gs.visit(gs.guides["JA"], consumer=consumer, days_ago=1)
    gs.place(consumer)
    binding = binding_of(consumer)
    assert (binding.guide_id, binding.mode) == (gs.guides["JA"].id, "first_purchase")
    assert abs(binding.expires_at - (binding.bound_at + timedelta(days=365))) < timedelta(seconds=1)
    gs.visit(gs.guides["LJ"], consumer=consumer)
    assert attribution_of(gs.place(consumer)).guide_id == gs.guides["LJ"].id  # the link wins
    assert binding_of(consumer).guide_id == gs.guides["JA"].id  # the binding stays


def test_first_purchase_with_a_code_binds_too_and_a_staff_order_does_not(gs: GuideShop):
    coded, walk_in = gs.consumer(), gs.consumer()
    gs.place(coded, guide_code=gs.guides["LJ"].code)
    assert binding_of(coded).guide_id == gs.guides["LJ"].id
    gs.place(walk_in, placed_by_user_id=gs.users["LJ"].id)
    assert binding_of(walk_in) is None


def test_first_visit_binds_when_a_signed_in_consumer_opens_a_link(gs: GuideShop):
    gs.set_terms(guides={"binding": "first_visit", "binding_days": None})
    consumer = gs.consumer()
    token = make_token(gs.guides["JA"], "home")
    assert visits.record_visit(gs.brand, token, consumer=consumer) is not None
    binding = binding_of(consumer)
    assert (binding.guide_id, binding.mode, binding.expires_at) == (
        gs.guides["JA"].id,
        "first_visit",
        None,
    )
    visits.record_visit(gs.brand, make_token(gs.guides["LJ"], "home"), consumer=consumer)
    assert binding_of(consumer).guide_id == gs.guides["JA"].id


def test_first_visit_before_signing_in_binds_at_the_first_order_from_that_browser(gs):
    gs.set_terms(guides={"binding": "first_visit"})
    visits.record_visit(
        gs.brand, make_token(gs.guides["LJ"], "home"), consumer=None, visitor=VISITOR
    )
    consumer = gs.consumer()
    assert binding_of(consumer) is None
    gs.place(consumer, visitor=VISITOR)
    assert binding_of(consumer).guide_id == gs.guides["LJ"].id


def test_registration_binds_with_a_valid_code_and_refuses_a_wrong_one(gs: GuideShop):
    gs.set_terms(guides={"binding": "registration", "binding_days": 30})
    consumer = gs.consumer()
    with pytest.raises(ValidationFailed) as refused:
        attribution.consumer_signed_up(consumer, "NOSUCH")
    assert "guide_code" in refused.value.fields
    assert binding_of(consumer) is None
    attribution.consumer_signed_up(consumer, f" {gs.guides['JA'].code.lower()} ")
    assert binding_of(consumer).mode == "registration"
    # A first purchase through a link does not bind in this mode.
    other = gs.consumer()
    gs.visit(gs.guides["LJ"], consumer=other)
    gs.place(other)
    assert binding_of(other) is None


def test_a_binding_past_its_lifetime_no_longer_counts_and_the_next_link_order_rebinds(gs):
    gs.set_terms(guides={"binding_days": 30})
    consumer = gs.consumer()
    gs.visit(gs.guides["JA"], consumer=consumer, days_ago=1)
    gs.place(consumer)
    old = binding_of(consumer)
    assert old.guide_id == gs.guides["JA"].id
    # As if made 31 days ago: the binding ran out yesterday.
    db.session.execute(
        update(GuideBinding)
        .where(GuideBinding.id == old.id)
        .values(bound_at=utcnow() - timedelta(days=31), expires_at=utcnow() - timedelta(days=1))
    )
    db.session.expire_all()
    assert bindings.open_binding(gs.brand.id, consumer.id) is None
    gs.visit(gs.guides["LJ"], consumer=consumer)
    gs.place(consumer)
    db.session.expire_all()
    assert binding_of(consumer).guide_id == gs.guides["LJ"].id
    assert db.session.get(GuideBinding, old.id).ended_at is not None  # closed, kept


# -- own purchases ----------------------------------------------------------------------------


def test_a_guides_own_purchase_is_attributed_but_earns_nothing(gs: GuideShop):
    me = gs.consumer(email=gs.users["JA"].email.upper())
    found = attribution_of(gs.place(me, guide_code=gs.guides["JA"].code))
    assert (found.own_purchase, found.earns, found.commission_cents) == (True, False, 0)
    assert found.basis_cents == TEE
    assert binding_of(me) is None  # nor does it make them their own customer


def test_a_guide_who_proved_to_be_an_employee_buys_by_phone_as_their_own(gs: GuideShop):
    """Signed in by mobile number (no e-mail to compare), the buyer's membership was let into
    the employee store as the guide's own portal user: the purchase is theirs."""
    me = gs.consumer()
    db.session.add(
        Entitlement(
            brand_id=gs.brand.id,
            member_id=me.member_id,
            consumer_id=me.id,
            kind=EntitlementKind.EMPLOYEE,
            source=EntitlementSource.PORTAL_USER,
            source_key=f"user:{gs.users['JA'].id}",
            user_id=gs.users["JA"].id,
        )
    )
    db.session.flush()
    found = attribution_of(gs.place(me, guide_code=gs.guides["JA"].code))
    assert (found.own_purchase, found.earns) == (True, False)
    stranger = attribution_of(gs.place(gs.consumer(), guide_code=gs.guides["JA"].code))
    assert (stranger.own_purchase, stranger.earns) == (False, True)


def test_own_purchases_earn_when_hq_allows_it(gs: GuideShop):
    gs.set_terms(guides={"own_purchase_earns": True}, commission={"rate_bp": 500})
    me = gs.consumer(email=gs.users["JA"].email)
    found = attribution_of(gs.place(me, guide_code=gs.guides["JA"].code, qty=2))
    assert (found.own_purchase, found.earns) == (True, True)
    assert (found.basis_cents, found.commission_cents) == (2 * TEE, 2 * TEE * 500 // 10_000)


# -- another brand's guides -------------------------------------------------------------------


@pytest.fixture
def other(gs: GuideShop) -> GuideShop:
    """A second brand (GE) with a guide at its Jing'an store."""
    built = GuideShop(build_retail_shop("GE"))
    built.add_guide("JA")
    db.session.commit()
    return built


def test_another_brands_code_is_refused_with_nothing_written(gs: GuideShop, other: GuideShop):
    consumer = gs.consumer()
    orders = count(ConsumerOrder)
    levels = gs.shop.levels()
    with pytest.raises(ValidationFailed) as refused:
        gs.place(consumer, guide_code=other.guides["JA"].code)
    assert "another brand" in refused.value.fields["guide_code"]
    assert (count(ConsumerOrder), gs.shop.levels()) == (orders, levels)


def test_cross_brand_needs_the_setting_and_a_shared_programme(gs: GuideShop, other: GuideShop):
    code = other.guides["JA"].code
    gs.set_terms(guides={"cross_brand": True})
    with pytest.raises(ValidationFailed):  # the setting alone: two programmes
        gs.place(gs.consumer(), guide_code=code)
    membership.share_program(gs.brand, [other.brand])
    gs.set_terms(guides={"cross_brand": False})
    with pytest.raises(ValidationFailed):  # one programme, the setting off
        gs.place(gs.consumer(), guide_code=code)
    gs.set_terms(guides={"cross_brand": True}, commission={"rate_bp": 1000})
    found = attribution_of(gs.place(gs.consumer(), guide_code=code))
    assert (found.brand_id, found.guide_id) == (gs.brand.id, other.guides["JA"].id)
    assert found.guide_org_id == other.org("JA").id
    assert found.commission_cents == TEE // 10  # the selling brand's rate


# -- a bad code ---------------------------------------------------------------------------------


def test_an_unknown_code_refuses_the_order_and_writes_nothing(gs: GuideShop):
    consumer = gs.consumer()
    before = (count(ConsumerOrder), count(attribution.Attribution), gs.shop.levels())
    with pytest.raises(ValidationFailed) as refused:
        gs.place(consumer, guide_code="ZZZZ99")
    assert list(refused.value.fields) == ["guide_code"]
    assert (count(ConsumerOrder), count(attribution.Attribution), gs.shop.levels()) == before
    assert binding_of(consumer) is None


def test_a_stopped_guide_code_is_refused(gs: GuideShop):
    roster.stop_guide(gs.shop.net.hq, gs.guides["JA"])
    assert gs.guides["JA"].status == GuideStatus.STOPPED
    with pytest.raises(ValidationFailed):
        gs.place(gs.consumer(), guide_code=gs.guides["JA"].code)


def test_an_erased_consumer_is_nobodys_customer_any_more(gs: GuideShop):
    from portal.storefront.consumer_data import erase_consumer

    consumer = gs.consumer()
    gs.place(consumer, guide_code=gs.guides["JA"].code)
    assert binding_of(consumer) is not None
    erase_consumer(consumer)
    assert binding_of(consumer) is None
