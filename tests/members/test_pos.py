"""Sales a store's till reports for a member's phone (POST /api/v1/members/pos-sales): they earn
points on the member's one balance, pending like an online order's; a retry is the first answer,
another sale under the same reference a 409; refunds take the points back in proportion. On the
demo brand ACME (its published terms: 1 point per yuan), with the demo store S1's staff."""

from __future__ import annotations

import warnings

import pytest
from sqlalchemy import select

from portal.core.access import Actor
from portal.extensions import db
from portal.members import membership, points
from portal.members.models import Member
from portal.network.models import Organization
from portal.storefront.models import Consumer
from tests.support.consumer_orders import default_location

PHONE = "+8613912340000"


@pytest.fixture
def till(client):
    """A client holding S1 staff's bearer token."""
    issued = client.post(
        "/api/v1/auth/token", json={"email": "staff1@demo.test", "password": "demo1234"}
    )
    headers = {"Authorization": f"Bearer {issued.get_json()['token']}"}

    def post(path: str, body: dict, *, as_headers: dict | None = None):
        return client.post(f"/api/v1/members/{path}", json=body, headers=as_headers or headers)

    return post


def sale(**changes) -> dict:
    return {"brand": "ACME", "phone": "139 1234 0000", "amount_cents": 29_900,
            "reference": "S1-0001", **changes}  # fmt: skip


def member_with(phone: str) -> Member:
    brand = db.session.execute(select(Organization).where(Organization.code == "ACME")).scalar_one()
    program = membership.program_of(brand)
    found = membership.find_member(program.id, phone=phone)
    assert found is not None
    return found


def test_a_till_sale_for_a_new_phone_joins_it_and_earns_pending_points(till):
    response = till("pos-sales", sale())
    assert response.status_code == 201, response.get_json()
    got = response.get_json()
    assert (got["joined"], got["points"], got["replayed"]) == (True, 299, False)
    assert (got["location"], got["amount_cents"], got["refunded_cents"]) == ("S1-SHELF", 29_900, 0)
    member = member_with(PHONE)
    assert (member.joined_channel, member.number) == ("pos", got["member_number"])
    assert member.joined_location_id == default_location("S1").id
    balance = points.balance(member)
    assert (balance.pending, balance.available) == (299, 0)
    # The phone has an account in ACME's shop now: signing in there finds the same member.
    consumer = db.session.execute(select(Consumer).where(Consumer.phone == PHONE)).scalar_one()
    assert consumer.member_id == member.id


def test_a_retry_is_the_first_answer_and_another_sale_under_its_reference_a_409(till):
    first = till("pos-sales", sale()).get_json()
    again = till("pos-sales", sale())
    assert again.status_code == 200
    assert again.get_json() == {**first, "replayed": True, "joined": False}
    other = till("pos-sales", sale(amount_cents=30_000))
    assert other.status_code == 409
    assert other.get_json()["error"]["code"] == "duplicate_sale"
    balance = points.balance(member_with(PHONE))
    assert balance.pending == 299  # earned once


def test_a_sale_of_a_member_who_joined_online_earns_on_their_one_balance(till):
    brand = db.session.execute(select(Organization).where(Organization.code == "ACME")).scalar_one()
    consumer = Consumer(brand_id=brand.id, phone=PHONE, name="Wang Fang")
    db.session.add(consumer)
    db.session.flush()
    joined = membership.join(consumer)
    db.session.commit()
    got = till("pos-sales", sale(amount_cents=10_050)).get_json()
    assert (got["joined"], got["member_number"], got["points"]) == (False, joined.number, 100)
    assert points.balance(member_with(PHONE)).pending == 100


def test_refunds_take_the_points_back_in_proportion(till):
    till("pos-sales", sale())
    part = till("pos-sales/S1-0001/refund", {"amount_cents": 10_000, "reference": "RF-1"})
    assert part.status_code == 200, part.get_json()
    assert (part.get_json()["refunded_cents"], part.get_json()["points_reversed"]) == (10_000, 100)
    assert points.balance(member_with(PHONE)).pending == 199
    repeat = till("pos-sales/S1-0001/refund", {"amount_cents": 10_000, "reference": "RF-1"})
    assert (repeat.status_code, repeat.get_json()["replayed"]) == (200, True)
    too_much = till("pos-sales/S1-0001/refund", {"amount_cents": 19_901})
    assert too_much.status_code == 422
    assert "19900 fen" in too_much.get_json()["error"]["fields"]["amount_cents"]
    rest = till("pos-sales/S1-0001/refund", {"amount_cents": 19_900})
    assert (rest.get_json()["refunded_cents"], rest.get_json()["points_reversed"]) == (29_900, 299)
    assert points.balance(member_with(PHONE)).pending == 0
    other_amount = till("pos-sales/S1-0001/refund", {"amount_cents": 5, "reference": "RF-1"})
    assert other_amount.status_code == 409


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount_cents": 12.5}, "amount_cents"),
        ({"amount_cents": 0}, "amount_cents"),
        ({"amount_cents": "100"}, "amount_cents"),
        ({"phone": "12345"}, "phone"),
        ({"reference": "no spaces please"}, "reference"),
        ({"occurred_at": "2099-01-01T00:00:00+08:00"}, "occurred_at"),
    ],
)
def test_bad_input_names_the_field_and_keeps_nothing(till, changes, field):
    response = till("pos-sales", sale(**changes))
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert field in error["fields"] or field in str(error["fields"]), error
    assert db.session.execute(select(Consumer).where(Consumer.phone == PHONE)).first() is None


def test_another_stores_sale_is_not_found_and_a_role_without_enrol_is_refused(client, till):
    till("pos-sales", sale())
    other = client.post(
        "/api/v1/auth/token", json={"email": "store2@demo.test", "password": "demo1234"}
    ).get_json()["token"]
    response = till(
        "pos-sales/S1-0001/refund",
        {"amount_cents": 100},
        as_headers={"Authorization": f"Bearer {other}"},
    )
    assert response.status_code == 404
    buyer = client.post(
        "/api/v1/auth/token", json={"email": "buyer1@demo.test", "password": "demo1234"}
    ).get_json()["token"]
    refused = till("pos-sales", sale(), as_headers={"Authorization": f"Bearer {buyer}"})
    assert refused.status_code == 403


def test_a_location_of_another_org_is_refused(till):
    response = till("pos-sales", sale(location="S2-SHELF"))
    assert response.status_code in (403, 404)


def test_the_routes_are_documented_with_their_scope(client):
    with warnings.catch_warnings():
        # What other modules' schemas may warn about while the document is built is theirs.
        warnings.simplefilter("ignore", UserWarning)
        paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert paths["/api/v1/members/pos-sales"]["post"]["x-scope"] == "members.enrol"
    refund = paths["/api/v1/members/pos-sales/{reference}/refund"]["post"]
    assert refund["x-scope"] == "members.enrol"


def test_the_service_refuses_another_orgs_location(app):
    from portal.core.access import ROLE_PERMISSIONS, OrgKind, Role
    from portal.core.errors import PermissionDenied

    s1 = default_location("S1")
    s2 = default_location("S2")
    actor = Actor(org_id=s1.org_id, org_kind=OrgKind.STORE,
                  permissions=ROLE_PERMISSIONS[Role.STORE_STAFF])  # fmt: skip
    brand = db.session.execute(select(Organization).where(Organization.code == "ACME")).scalar_one()
    with pytest.raises(PermissionDenied):
        points.record_pos_sale(actor, brand, s2, phone=PHONE, amount_cents=100, reference="X")
