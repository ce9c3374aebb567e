"""Sales a till reports (POST /api/v1/members/pos-sales) follow the same rules as online orders:
the guide code it sends, else the member's bound guide (a till has no links); a code that does not
count refuses the whole report."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.core.errors import ValidationFailed
from portal.extensions import db
from portal.guides import attribution, roster
from portal.guides.models import Attribution
from portal.members import points
from portal.members.ledger_models import PosSale
from portal.network.models import User
from tests.guides.conftest import GuideShop, binding_of, count
from tests.support.services import org

PHONE = "+8613912340077"


def sell(gs: GuideShop, *, at: str = "JA", guide_code: str | None = None, reference: str = "T-1",
         amount_cents: int = 50_000, phone: str = PHONE):  # fmt: skip
    return points.record_pos_sale(
        gs.shop.staff(at),
        gs.brand,
        gs.shop.locations[at],
        phone=phone,
        amount_cents=amount_cents,
        reference=reference,
        guide_code=guide_code,
    )


def attribution_of_sale(sale: PosSale) -> Attribution | None:
    return db.session.execute(
        select(Attribution).where(Attribution.pos_sale_id == sale.id)
    ).scalar_one_or_none()


def test_a_till_sale_with_a_code_counts_for_that_guide_at_the_brands_rate(gs: GuideShop):
    gs.set_terms(commission={"rate_bp": 200})
    # Lujiazui's guide, sold at Jing'an's till: any store's guide of the brand counts.
    result = sell(gs, guide_code=gs.guides["LJ"].code)
    found = attribution_of_sale(result.sale)
    assert (found.guide_id, found.rule, found.guide_org_id) == (
        gs.guides["LJ"].id,
        "code",
        gs.org("LJ").id,
    )
    assert (found.basis_cents, found.commission_cents, found.earns) == (50_000, 1_000, True)


def test_a_repeated_report_is_not_attributed_twice(gs: GuideShop):
    first = sell(gs, guide_code=gs.guides["JA"].code)
    again = sell(gs, guide_code=gs.guides["JA"].code)
    assert (again.created, again.sale.id) == (False, first.sale.id)
    assert count(Attribution) == 1


def test_without_a_code_the_members_bound_guide_counts(gs: GuideShop):
    gs.set_terms(guides={"binding": "registration"})
    consumer = gs.consumer(phone=PHONE)
    attribution.consumer_signed_up(consumer, gs.guides["LJ"].code)
    found = attribution_of_sale(sell(gs).sale)
    assert (found.guide_id, found.rule) == (gs.guides["LJ"].id, "binding")


def test_without_a_code_or_a_binding_the_sale_counts_for_no_one_links_aside(gs: GuideShop):
    consumer = gs.consumer(phone=PHONE)
    gs.visit(gs.guides["JA"], consumer=consumer)  # a till sale has no link
    assert attribution_of_sale(sell(gs).sale) is None


def test_a_first_purchase_with_a_code_at_the_till_binds_the_member(gs: GuideShop):
    consumer = gs.consumer(phone=PHONE)
    sell(gs, guide_code=gs.guides["JA"].code)
    assert binding_of(consumer).guide_id == gs.guides["JA"].id
    found = attribution_of_sale(sell(gs, reference="T-2").sale)
    assert found.rule == "binding"


def test_a_guides_own_till_purchase_earns_nothing(gs: GuideShop):
    consumer = gs.consumer(phone=PHONE)
    consumer.email = gs.users["JA"].email
    db.session.flush()
    found = attribution_of_sale(sell(gs, guide_code=gs.guides["JA"].code).sale)
    assert (found.own_purchase, found.earns, found.commission_cents) == (True, False, 0)


def test_a_stopped_guides_code_is_refused(gs: GuideShop):
    roster.stop_guide(gs.shop.net.hq, gs.guides["JA"])
    with pytest.raises(ValidationFailed) as refused:
        sell(gs, guide_code=gs.guides["JA"].code)
    assert "guide_code" in refused.value.fields


# -- through the API, on the demo brand ACME (its store S1's staff) ---------------------------


@pytest.fixture
def till(client):
    issued = client.post(
        "/api/v1/auth/token", json={"email": "staff1@demo.test", "password": "demo1234"}
    )
    headers = {"Authorization": f"Bearer {issued.get_json()['token']}"}

    def post(body: dict):
        return client.post("/api/v1/members/pos-sales", json=body, headers=headers)

    return post


def sale(**changes) -> dict:
    return {"brand": "ACME", "phone": "139 1234 0077", "amount_cents": 29_900,
            "reference": "S1-G001", **changes}  # fmt: skip


def test_the_till_api_takes_a_guide_code_and_refuses_a_wrong_one_keeping_nothing(till):
    user = db.session.execute(select(User).where(User.email == "staff1@demo.test")).scalar_one()
    guide = roster.guide_for(user.id, org("S1").id, org("ACME").id)
    db.session.commit()
    sales = count(PosSale)
    wrong = till(sale(guide_code="NOSUCH"))
    assert wrong.status_code == 422
    assert "guide_code" in wrong.get_json()["error"]["fields"]
    assert count(PosSale) == sales
    right = till(sale(guide_code=guide.code.lower()))
    assert right.status_code == 201, right.get_json()
    found = db.session.execute(select(Attribution)).scalars().all()
    assert [(a.guide_id, a.rule, a.basis_cents) for a in found] == [(guide.id, "code", 29_900)]
    plain = till(sale(reference="S1-G002"))  # no code: still fine
    assert plain.status_code == 201
