"""Guides and sharers together (portal/guides/attribution.py, "Sharers"): a sharer's link never
moves a bound customer nor takes a guide's sale within the window, a sharer's code typed at
checkout attributes nothing and is no error, a sharer binds no one and earns no commission, and
a forged or expired sharer's link records nothing."""

from __future__ import annotations

import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select

from portal.core.access import Actor
from portal.core.errors import ValidationFailed
from portal.extensions import db
from portal.guides import attribution, visits
from portal.guides.links import make_token
from portal.guides.models import CommissionEntry, GuideVisit
from portal.members import membership
from portal.storefront import orders
from tests.campaigns.sharers.conftest import SharerShop, channel_of
from tests.guides.conftest import TEE, attribution_of, binding_of, count
from tests.support.consumer_orders import pay_by_notice

VISITOR = "browser-sharer-0123456789"
SYSTEM = Actor.system()


def entries_of(guide) -> list[CommissionEntry]:
    return list(
        db.session.execute(
            select(CommissionEntry).where(CommissionEntry.guide_id == guide.id)
        ).scalars()
    )


def test_a_sharer_is_an_hq_person_with_a_code_of_a_sharers_kind(ss: SharerShop):
    assert (ss.op.org_id, ss.op.brand_id, ss.op.kind) == (
        ss.brand.id,
        ss.brand.id,
        "community_operator",
    )
    assert ss.op.is_sharer and ss.op.is_active and len(ss.op.code) == 6


# -- the link window ---------------------------------------------------------------------------


def test_a_sharers_link_opened_after_a_guides_does_not_take_the_sale(ss: SharerShop):
    consumer = ss.consumer()
    guide_visit = ss.visit(ss.guides["JA"], consumer=consumer, days_ago=2)
    ss.visit(ss.op, consumer=consumer, days_ago=0.5)
    order = ss.buy(consumer)
    found = attribution_of(order)
    assert (found.guide_id, found.rule, found.visit_id) == (
        ss.guides["JA"].id,
        "link",
        guide_visit.id,
    )
    assert found.commission_cents > 0  # the guide earns on it as usual
    # The sharer's share is recorded for the sharer's own figures, beside the guide's sale.
    assert channel_of(order).sharer_id == ss.op.id


def test_a_sharers_link_alone_attributes_nothing(ss: SharerShop):
    consumer = ss.consumer()
    ss.visit(ss.op, consumer=consumer)
    order = ss.buy(consumer)
    assert attribution_of(order) is None
    assert binding_of(consumer) is None  # nor binds on first purchase (the default mode)


def test_a_guides_link_after_a_sharers_takes_the_sale(ss: SharerShop):
    consumer = ss.consumer()
    ss.visit(ss.op, consumer=consumer, days_ago=1)
    ss.visit(ss.guides["LJ"], consumer=consumer, days_ago=0.1)
    assert attribution_of(ss.buy(consumer)).guide_id == ss.guides["LJ"].id


# -- bound customers ---------------------------------------------------------------------------


def test_a_sharers_link_never_moves_a_bound_customer(ss: SharerShop):
    ss.set_terms(guides={"binding": "first_visit"})
    consumer = ss.consumer()
    visits.record_visit(ss.brand, make_token(ss.guides["JA"], "home"), consumer=consumer)
    assert binding_of(consumer).guide_id == ss.guides["JA"].id
    opened = visits.record_visit(ss.brand, make_token(ss.op, "product", "TEE"), consumer=consumer)
    assert opened is not None and opened.guide_id == ss.op.id  # recorded: the sharer's view
    assert binding_of(consumer).guide_id == ss.guides["JA"].id
    order = ss.buy(consumer)
    # The guide's own link is still the newest guide link: it takes the sale, the sharer's not.
    assert attribution_of(order).guide_id == ss.guides["JA"].id
    assert binding_of(consumer).guide_id == ss.guides["JA"].id


def test_a_bound_customer_buying_after_only_a_sharers_link_stays_the_guides(ss: SharerShop):
    ss.set_terms(guides={"binding": "registration"})
    consumer = ss.consumer()
    attribution.consumer_signed_up(consumer, ss.guides["LJ"].code)
    ss.visit(ss.op, consumer=consumer)
    found = attribution_of(ss.buy(consumer))
    assert (found.guide_id, found.rule) == (ss.guides["LJ"].id, "binding")
    assert binding_of(consumer).guide_id == ss.guides["LJ"].id


@pytest.mark.parametrize("mode", ["first_visit", "first_purchase"])
def test_a_sharers_link_binds_no_one_in_any_mode(ss: SharerShop, mode: str):
    ss.set_terms(guides={"binding": mode})
    signed_in, browser = ss.consumer(), ss.consumer()
    visits.record_visit(ss.brand, make_token(ss.op, "home"), consumer=signed_in)
    visits.record_visit(ss.brand, make_token(ss.op, "home"), consumer=None, visitor=VISITOR)
    ss.buy(signed_in)
    ss.buy(browser, visitor=VISITOR)
    assert binding_of(signed_in) is None and binding_of(browser) is None


def test_a_sharers_code_at_sign_up_binds_no_one_and_is_no_error(ss: SharerShop):
    ss.set_terms(guides={"binding": "registration"})
    consumer = ss.consumer()
    attribution.consumer_signed_up(consumer, ss.op.code.lower())
    assert binding_of(consumer) is None


# -- a sharer's code at checkout ---------------------------------------------------------------


def test_a_sharers_code_at_checkout_attributes_nothing_and_is_no_error(ss: SharerShop):
    consumer = ss.consumer()
    order = ss.buy(consumer, guide_code=f" {ss.op.code.lower()} ")
    assert order.id is not None and order.goods_cents == TEE
    assert attribution_of(order) is None
    assert binding_of(consumer) is None
    touched = channel_of(order)
    assert (touched.channel, touched.sharer_id, touched.visit_id) == ("sharer", ss.op.id, None)


def test_the_order_follows_the_other_rules_when_a_sharers_code_is_typed(ss: SharerShop):
    consumer = ss.consumer()
    visit = ss.visit(ss.guides["JA"], consumer=consumer, days_ago=1)
    found = attribution_of(ss.buy(consumer, guide_code=ss.op.code))
    assert (found.guide_id, found.rule, found.visit_id) == (ss.guides["JA"].id, "link", visit.id)


def test_a_stopped_sharers_code_is_refused_like_a_stopped_guides(ss: SharerShop):
    from portal.campaigns import sharers

    sharers.stop_sharer(ss.shop.net.hq, ss.op)
    before = count(GuideVisit)
    with pytest.raises(ValidationFailed) as refused:
        ss.buy(ss.consumer(), guide_code=ss.op.code)
    assert "guide_code" in refused.value.fields
    assert visits.record_visit(ss.brand, make_token(ss.op, "home"), consumer=None) is None
    assert count(GuideVisit) == before


# -- commission --------------------------------------------------------------------------------


def test_a_sharer_earns_no_commission_on_a_completed_order(ss: SharerShop):
    consumer = ss.consumer()
    ss.visit(ss.op, consumer=consumer)
    order = ss.buy(consumer, guide_code=ss.op.code)
    pay_by_notice(order)
    orders.accept(SYSTEM, order)
    orders.mark_ready(SYSTEM, order)
    orders.hand_over(SYSTEM, order, order.pickup_code or "")
    assert order.status == "completed"
    assert attribution_of(order) is None
    assert entries_of(ss.op) == []


def test_a_sharer_earns_no_new_member_bonus(ss: SharerShop):
    ss.set_terms(guides={"binding": "registration"}, commission={"new_member_bonus_cents": 500})
    by_sharer = ss.consumer(member=False)
    attribution.consumer_signed_up(by_sharer, ss.op.code)
    membership.join(by_sharer)
    assert entries_of(ss.op) == []
    # The same steps with a guide's code pay the guide's bonus.
    by_guide = ss.consumer(member=False)
    attribution.consumer_signed_up(by_guide, ss.guides["JA"].code)
    membership.join(by_guide)
    assert [e.amount_cents for e in entries_of(ss.guides["JA"])] == [500]


def test_a_sharer_placing_an_order_for_someone_is_nobodys_staff_guide(ss: SharerShop):
    consumer = ss.consumer()
    order = ss.place(consumer, placed_by_user_id=ss.sharer_user.id)
    assert attribution_of(order) is None


# -- forged and expired links ------------------------------------------------------------------


def test_a_forged_sharers_link_records_nothing(ss: SharerShop, client):
    forged = URLSafeTimedSerializer("guessed-secret", salt="guide-link").dumps(
        {"g": ss.op.code, "t": "home", "r": ""}
    )
    before = count(GuideVisit)
    assert visits.record_visit(ss.brand, forged, consumer=None, visitor=VISITOR) is None
    opened = client.get(f"/shop/SH/g/{forged}")
    assert opened.status_code == 302 and opened.headers["Location"].endswith("/shop/SH/")
    assert count(GuideVisit) == before


def test_an_expired_sharers_link_records_nothing(ss: SharerShop, client, monkeypatch):
    made = time.time() - 31 * 86400
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(made))
    token = make_token(ss.op, "product", "TEE")
    monkeypatch.undo()
    before = count(GuideVisit)
    assert visits.record_visit(ss.brand, token, consumer=None, visitor=VISITOR) is None
    opened = client.get(f"/shop/SH/g/{token}")
    assert opened.status_code == 302 and opened.headers["Location"].endswith("/shop/SH/")
    assert count(GuideVisit) == before
