"""Joining the membership (portal/members/membership.py, member_views.py, member_api.py) on both
backends: from the shop (the member card, the outlet's door), through the shop API, at a store by
its staff (page and API key), and across a brand group sharing one programme (one member, found
by phone); `flask members share-program` and its refusal; erasure."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.auth.services import create_api_key
from portal.core.errors import Conflict
from portal.extensions import db
from portal.inventory.services import default_location
from portal.members import membership
from portal.members.models import JoinChannel, Member, MemberStatus
from portal.storefront.auth import SESSION_KEY, start_session
from portal.storefront.consumers import find_consumer_by_phone
from portal.storefront.models import Consumer
from tests.support.retail import RetailShop, build_retail_shop
from tests.support.services import actor_for, org


@pytest.fixture
def shop(app) -> RetailShop:
    built = build_retail_shop("JN")
    db.session.commit()
    return built


def browser(client, shop: RetailShop, consumer: Consumer) -> Consumer:
    secret, _expires = start_session(consumer)
    db.session.commit()
    with client.session_transaction() as cookie:
        cookie[SESSION_KEY] = {str(shop.brand.id): secret}
        cookie["lang"] = "en"
    return consumer


def bearer(consumer: Consumer) -> dict[str, str]:
    token, _expires = start_session(consumer, kind="api")
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def text(response) -> str:
    return response.get_data(as_text=True)


# -- from the shop ---------------------------------------------------------------------------------


def test_a_consumer_joins_from_the_shop_and_sees_the_member_card(client, shop):
    consumer = browser(client, shop, shop.consumer(member=False))
    shop.address(consumer)  # near Jing'an: the nearest stores are offered as store of registration
    db.session.commit()
    assert client.get("/shop/JN/member/").headers["Location"] == "/shop/JN/member/join"
    page = text(client.get("/shop/JN/member/join"))
    assert 'data-testid="member-levels"' in page and "Silver" in page
    assert "Jing&#39;an" in page or "Jing'an" in page
    response = client.post("/shop/JN/member/join", data={"location_id": shop.locations["JA"].id})
    assert response.status_code == 302 and response.headers["Location"] == "/shop/JN/member/"
    member = membership.member_of(consumer)
    assert member is not None and member.joined_channel == JoinChannel.ONLINE
    assert member.joined_location_id == shop.locations["JA"].id
    card = text(client.get("/shop/JN/member/"))
    assert member.number in card
    assert 'data-testid="member-level">Member<' in card
    assert "2,000.00 more to Silver" in card
    for path in ("points", "wallet", "coupons"):
        assert f'href="/shop/JN/member/{path}"' in card
    assert "Store of registration: Jing" in card
    assert "Points: 0" in card and "Wallet: CN¥0.00" in card


def test_joining_from_the_outlets_door_leads_back_to_the_outlet(client, shop):
    signed_out = client.get("/shop/JN/member/join?next=/shop/JN/outlet/")
    assert signed_out.headers["Location"].startswith("/shop/JN/account/sign-in")
    browser(client, shop, shop.consumer(member=False))
    assert client.get("/shop/JN/outlet/").status_code == 403
    home = text(client.get("/shop/JN/"))
    assert 'data-testid="shop-member-join"' in home and 'href="/shop/JN/member/join"' in home
    response = client.post("/shop/JN/member/join", data={"next": "/shop/JN/outlet/"})
    assert response.headers["Location"] == "/shop/JN/outlet/"
    assert client.get("/shop/JN/outlet/").status_code == 200
    assert 'data-testid="shop-member-card"' in text(client.get("/shop/JN/"))


def test_joining_refuses_a_store_the_shop_does_not_hand_over_at(client, shop):
    consumer = browser(client, shop, shop.consumer(member=False))
    response = client.post("/shop/JN/member/join", data={"location_id": shop.locations["XJ"].id})
    assert response.status_code == 422
    assert "Choose one of the shop" in text(response)
    assert membership.member_of(consumer) is None
    assert client.post("/shop/JN/member/join", data={"location_id": "x1"}).status_code == 422


def test_an_account_without_phone_or_email_cannot_join(client, shop):
    consumer = Consumer(brand_id=shop.brand.id, name="Nobody")
    db.session.add(consumer)
    db.session.flush()
    browser(client, shop, consumer)
    response = client.post("/shop/JN/member/join", data={})
    assert response.status_code == 422 and "Add a mobile number to join." in text(response)


def test_joining_through_the_shop_api(client, shop):
    consumer = shop.consumer(member=False)
    headers = bearer(consumer)
    missing = client.get("/api/v1/shop/JN/member", headers=headers)
    assert missing.status_code == 404
    joined = client.post("/api/v1/shop/JN/member", json={}, headers=headers)
    assert joined.status_code == 201
    card = joined.get_json()
    assert card["level"]["code"] == "member" and card["next_level"]["code"] == "silver"
    assert card["next_level"]["remaining_cents"] == 200_000 and card["brands"] == ["JN"]
    again = client.post("/api/v1/shop/JN/member", json={}, headers=headers)
    assert again.status_code == 200 and again.get_json()["number"] == card["number"]
    assert client.get("/api/v1/shop/JN/member", headers=headers).get_json() == card
    other = bearer(shop.consumer(member=False))
    bad = client.post(
        "/api/v1/shop/JN/member", json={"location_id": shop.locations["XJ"].id}, headers=other
    )
    assert bad.status_code == 422 and "location_id" in bad.get_json()["error"]["fields"]


# -- at a store ------------------------------------------------------------------------------------


def test_store_staff_join_a_walk_in_customer(app, login):
    client = login("staff1@demo.test")
    with client.session_transaction() as cookie:
        cookie["lang"] = "en"
    assert client.get("/members/enrol").status_code == 200
    response = client.post("/members/enrol", data={"phone": "137 0013 7000", "name": "Zhang Wei"})
    assert response.status_code == 302
    acme = org("ACME")
    consumer = find_consumer_by_phone(acme, "+8613700137000")
    member = membership.member_of(consumer)
    assert consumer.name == "Zhang Wei" and member is not None
    assert member.joined_channel == JoinChannel.STORE
    assert member.joined_location_id == default_location(org("S1")).id
    assert member.joined_by_user_id == actor_for("staff1@demo.test").user_id
    assert f"member number {member.number}" in text(client.get("/members/enrol"))
    client.post("/members/enrol", data={"phone": "13700137000", "name": "Zhang Wei"})
    assert "is a member already" in text(client.get("/members/enrol"))
    bad = client.post("/members/enrol", data={"phone": "12345", "name": ""})
    assert bad.status_code == 422
    assert "Enter a valid mobile number" in text(bad) and "the customer&#39;s name" in text(bad)
    # The customer signs in to the shop later: the account and its membership are there.
    shop_client = app.test_client()
    secret, _ = start_session(consumer)
    db.session.commit()
    with shop_client.session_transaction() as cookie:
        cookie[SESSION_KEY] = {str(acme.id): secret}
    assert member.number in text(shop_client.get("/shop/ACME/member/"))


def test_a_distributor_may_not_join_customers(app, login):
    assert login("dist1@demo.test").get("/members/enrol").status_code == 403


def test_a_stores_till_joins_customers_with_its_key(app, client):
    _key, token = create_api_key(
        actor_for("store1@demo.test"), name="till", scopes=["members.enrol"]
    )
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    body = {"brand": "acme", "phone": "+8613700137001", "name": "Li Lei"}
    first = client.post("/api/v1/members", json=body, headers=headers)
    assert first.status_code == 201, first.get_json()
    again = client.post("/api/v1/members", json=body, headers=headers)
    assert again.status_code == 200 and again.get_json() == {**first.get_json(), "already": True}
    assert (
        client.post("/api/v1/members", json={**body, "brand": "NOPE"}, headers=headers).status_code
        == 404
    )
    bad = client.post("/api/v1/members", json={**body, "phone": "1"}, headers=headers)
    assert bad.status_code == 422 and "phone" in bad.get_json()["error"]["fields"]
    _key, other = create_api_key(actor_for("store1@demo.test"), name="x", scopes=["stock.view"])
    db.session.commit()
    refused = client.post(
        "/api/v1/members", json=body, headers={"Authorization": f"Bearer {other}"}
    )
    assert refused.status_code == 403


# -- a brand group ---------------------------------------------------------------------------------


def test_a_group_knows_a_member_by_phone_in_each_of_its_brands(app):
    first, second = build_retail_shop("GA"), build_retail_shop("GB")
    program = membership.share_program(first.brand, [second.brand])
    at_first = first.consumer("+8613600136000")
    at_second = second.consumer("+8613600136000", name="Han at B")
    assert at_first.member_id == at_second.member_id
    member = membership.member_of(at_second)
    assert member.program_id == program.id and member.joined_brand_id == first.brand.id
    assert membership.is_member(second.brand, at_second)
    assert membership.terms_of(member).levels[0].code == "member"
    assert membership.program_brand_ids(program.id) == sorted([first.brand.id, second.brand.id])
    # Sharing again changes nothing.
    assert membership.share_program(first.brand, [second.brand]).id == program.id


def test_sharing_refuses_a_brand_with_members_of_its_own(app):
    first, second = build_retail_shop("GC"), build_retail_shop("GD")
    second.consumer()
    with pytest.raises(Conflict, match="merging programmes is not supported"):
        membership.share_program(first.brand, [second.brand])
    assert membership.find_program(second.brand.id).lead_brand_id == second.brand.id


def test_share_program_on_the_command_line(app):
    first, second = build_retail_shop("GE"), build_retail_shop("GF")
    third = build_retail_shop("GG")
    third.consumer()
    db.session.commit()
    runner = app.test_cli_runner()
    done = runner.invoke(args=["members", "share-program", "GE", "GF"])
    assert done.exit_code == 0, done.output
    assert "led by GE: GE, GF" in done.output
    refused = runner.invoke(args=["members", "share-program", "GE", "GG"])
    assert refused.exit_code != 0
    assert "GG already has 1 members of its own programme" in refused.output
    assert "merging programmes is not supported" in refused.output
    unknown = runner.invoke(args=["members", "share-program", "GE", "NOPE"])
    assert unknown.exit_code != 0 and "No active brand 'NOPE'" in unknown.output
    db.session.expire_all()
    assert membership.find_program(second.brand.id).lead_brand_id == first.brand.id


# -- erasure ---------------------------------------------------------------------------------------


def test_erasing_a_consumer_erases_their_member_unless_another_brand_still_has_them(app):
    first, second = build_retail_shop("EA"), build_retail_shop("EB")
    membership.share_program(first.brand, [second.brand])
    at_first = first.consumer("+8613500135000")
    at_second = second.consumer("+8613500135000")
    member = membership.member_of(at_first)
    membership.consumer_erased(at_first)
    assert member.status == MemberStatus.ACTIVE  # still the person's at the second brand
    at_first.status = "deleted"
    db.session.flush()
    membership.consumer_erased(at_second)
    assert (member.status, member.phone, member.name) == (MemberStatus.DELETED, None, "")
    again = second.consumer("+8613500135001")
    assert again.member_id != member.id
    count = db.session.execute(
        select(func.count(Member.id)).where(Member.program_id == member.program_id)
    ).scalar_one()
    assert count == 2
