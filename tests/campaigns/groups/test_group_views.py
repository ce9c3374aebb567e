"""Group buys in the browser and the API: the offer's and the group's pages (phone first, what a
shopper sees), the checkout that opens or joins a group, the order page of a held order, the
store's queue that says it waits for its group and refuses to accept it, HQ's pages, and the
JSON of an offer, a group and a group-buy checkout."""

from __future__ import annotations

import re
import secrets

import pytest
from sqlalchemy import select

from portal.campaigns.models import GroupBuy, GroupBuyStatus
from portal.core.access import Actor, Role
from portal.extensions import db
from portal.network import people
from portal.network.models import Organization
from portal.storefront.auth import start_session
from portal.storefront.models import ConsumerOrder
from tests.campaigns.groups.conftest import GROUP_PRICE, GroupShop
from tests.storefront.test_cart_views import page, sign_in
from tests.storefront.test_checkout_views import form_of

PASSWORD = "x" * 12


def staff_of(gb: GroupShop, short: str, role: Role) -> str:
    """A person of the store (or "HQ") with a password; their e-mail."""
    org_id = gb.brand.id if short == "HQ" else gb.shop.net.org_id(short)
    org = db.session.execute(select(Organization).where(Organization.id == org_id)).scalar_one()
    email = f"{short.lower()}-{secrets.token_hex(3)}@groups.test"
    user = people.create_user(email=email, name=f"Person {short}", password=PASSWORD)
    people.add_member(Actor.system(), org, user, role)
    db.session.commit()
    return email


def log_in(client, email: str):
    response = client.post("/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 302
    with client.session_transaction() as cookie:
        cookie["lang"] = "en"
    return client


def english(client):
    """A shopper who chose English (the shop starts in Chinese)."""
    with client.session_transaction() as cookie:
        cookie["lang"] = "en"
    return client


def money(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}"[^>]*>(?:<span[^>]*>)?([^<]+)<', html)
    assert found, testid
    return found.group(1)


# -- the shop's pages ------------------------------------------------------------------------------


def test_the_offer_page_shows_the_group_price_beside_the_shops_and_the_open_groups(client, gb):
    offer = gb.offer()
    group = gb.group_of(gb.buy(gb.consumer(), offer))
    db.session.commit()
    html = page(english(client).get("/shop/GB/group-buys/TEE3"))
    assert "99.00" in money(html, "group-price")
    assert "150.00" in money(html, "list-price")  # the cheapest SKU's shop price
    assert "Groups of 3 people" in html and "24 hours to fill" in html
    assert f'data-group="{group.code}"' in html and "2 places left" in html
    assert 'name="group_buy" value="TEE3"' in html  # "start a group" goes to checkout
    assert 'name="variant"' in html


def test_a_draft_offer_or_one_of_a_brand_with_group_buys_off_is_not_found(client, gb):
    gb.offer("DRAFT", start=False)
    gb.offer("LIVE")
    db.session.commit()
    assert client.get("/shop/GB/group-buys/DRAFT").status_code == 404
    assert client.get("/shop/GB/group-buys/LIVE").status_code == 200
    gb.switch(False)
    db.session.commit()
    assert client.get("/shop/GB/group-buys/LIVE").status_code == 404


def test_the_group_page_shows_initials_places_left_time_and_the_share_link(client, gb):
    offer = gb.offer()
    group = gb.group_of(gb.pay(gb.buy(gb.consumer("Han Meimei"), offer)))
    db.session.commit()
    html = page(english(client).get(f"/shop/GB/groups/{group.code}"))
    members = html.split("<h2>Who is in the group</h2>")[1].split("</ul>")[0]
    assert "H. M." in members and "Han Meimei" not in html
    assert "2 places left" in html
    assert re.search(r'data-testid="time-left"[^>]*>23 h', html)
    assert (
        f"/shop/GB/groups/{group.code}"
        in re.search(r'<input[^>]*data-testid="share-url"[^>]*>', html)[0]
    )
    assert f'name="group" value="{group.code}"' in html  # join: the checkout with the group


def test_checkout_of_a_group_buy_shows_the_group_price_and_places_a_held_order(client, gb):
    offer = gb.offer()
    consumer = sign_in(client, gb.shop, gb.consumer())
    variant = gb.shop.variant_id("TEE-BLK-L")
    html = page(client.get(f"/shop/GB/checkout?group_buy=TEE3&variant={variant}&qty=1"))
    assert "99.00" in re.search(r'data-testid="checkout-total">(.*?)</span>\s*</p>', html, re.S)[1]
    form = {**form_of(html), "fulfilment": "pickup"}
    form["pickup_location_id"] = str(gb.shop.locations["LJ"].id)
    assert form["group_buy"] == "TEE3" and form["variant"] == str(variant)
    response = client.post("/shop/GB/checkout", data=form)
    assert response.status_code == 302, page(response)[:2000]
    order = db.session.execute(
        select(ConsumerOrder).where(ConsumerOrder.consumer_id == consumer.id)
    ).scalar_one()
    assert (order.on_hold, order.total_cents) == (True, GROUP_PRICE)
    # The order's page says what it waits for.
    gb.pay(order)
    db.session.commit()
    html = page(client.get(f"/shop/GB/orders/{order.number}"))
    assert "Waiting for 2 more" in html
    assert f"/shop/GB/groups/{gb.group_of(order).code}" in html
    assert offer.status == GroupBuyStatus.LIVE


def test_checkout_of_a_full_group_says_so_and_orders_nothing(client, gb):
    offer = gb.offer(group_size=2)
    group = gb.group_of(gb.buy(gb.consumer(), offer))
    gb.buy(gb.consumer(), offer, group=group)
    db.session.commit()
    sign_in(client, gb.shop, gb.consumer())
    variant = gb.shop.variant_id("TEE-BLK-M")
    response = client.get(f"/shop/GB/checkout?group_buy=TEE3&group={group.code}&variant={variant}")
    assert response.status_code == 409
    assert "The group is full." in page(response)
    assert 'data-testid="checkout-place"' not in page(response)


def test_a_too_large_quantity_is_refused_on_the_checkout_page(client, gb):
    gb.offer()
    db.session.commit()
    sign_in(client, gb.shop, gb.consumer())
    variant = gb.shop.variant_id("TEE-BLK-M")
    response = client.get(f"/shop/GB/checkout?group_buy=TEE3&variant={variant}&qty=2")
    assert response.status_code == 422
    assert "At most 1 per person" in page(response)


# -- the store -------------------------------------------------------------------------------------


def test_a_held_order_waits_for_its_group_in_the_queue_and_cannot_be_accepted(client, gb):
    offer = gb.offer(group_size=2)
    order = gb.pay(gb.buy(gb.consumer(), offer))
    email = staff_of(gb, "LJ", Role.STORE_STAFF)
    log_in(client, email)
    html = page(client.get("/shop-orders/pickups"))
    row = html.split(f'data-order="{order.number}"')[1].split("</tr>")[0]
    assert "Waiting for its group" in row
    assert "/accept" not in row
    response = client.post(f"/shop-orders/{order.number}/accept")
    assert response.status_code == 409
    assert "waiting for its group to fill" in page(response)
    db.session.refresh(order)
    assert order.status == "paid"
    # The group fills: the store accepts.
    gb.pay(gb.buy(gb.consumer(), offer, group=gb.group_of(order)))
    db.session.commit()
    assert client.post(f"/shop-orders/{order.number}/accept").status_code == 302
    db.session.refresh(order)
    assert order.status == "preparing"
    html = page(client.get(f"/shop-orders/{order.number}"))
    assert "Group complete" in html


# -- HQ --------------------------------------------------------------------------------------------


def test_hq_writes_starts_and_stops_an_offer_on_its_pages(client, gb):
    log_in(client, staff_of(gb, "HQ", Role.HQ_ADMIN))
    assert client.get("/campaigns/group-buys/").status_code == 200
    form = {
        "code": "DUO",
        "name": "Tee for two",
        "product_code": "TEE",
        "price": "120.00",
        "group_size": "2",
        "hours_to_fill": "12",
        "units_per_person": "1",
        "groups_per_person": "2",
        "starts_at": "2026-01-01T10:00",
        "ends_at": "2099-01-01T10:00",
        "campaign_id": "0",
    }
    response = client.post("/campaigns/group-buys/", data=form)
    assert response.status_code == 302, page(response)[:3000]
    offer = db.session.execute(select(GroupBuy).where(GroupBuy.code == "DUO")).scalar_one()
    assert (offer.price_cents, offer.group_size, offer.status) == (12_000, 2, "draft")
    assert client.post("/campaigns/group-buys/DUO/start").status_code == 302
    db.session.refresh(offer)
    assert offer.status == "live"
    html = page(client.get("/campaigns/group-buys/"))
    assert 'data-code="DUO"' in html and "Live" in html
    assert client.post("/campaigns/group-buys/DUO/stop").status_code == 302
    db.session.refresh(offer)
    assert offer.status == "stopped"
    # A group size beyond the terms is refused on its field.
    response = client.post(
        "/campaigns/group-buys/", data={**form, "code": "BIG", "group_size": "9"}
    )
    assert response.status_code == 422
    assert "From 2 to 5 people" in page(response)


def test_hq_is_told_when_group_buys_are_off(client, gb):
    gb.switch(False)
    db.session.commit()
    log_in(client, staff_of(gb, "HQ", Role.HQ_MERCHANDISER))
    html = page(client.get("/campaigns/group-buys/"))
    assert "campaigns.group_buys" in html


def test_a_store_person_may_not_open_hqs_group_buy_pages(client, gb):
    offer = gb.offer()
    db.session.commit()
    log_in(client, staff_of(gb, "LJ", Role.STORE_OWNER))
    assert client.get("/campaigns/group-buys/").status_code in (403, 404)
    # An offer's pages load it through a scoped loader first: nobody but its brand's HQ finds it.
    assert client.get(f"/campaigns/group-buys/{offer.code}").status_code == 404
    assert client.post(f"/campaigns/group-buys/{offer.code}/stop").status_code == 404
    db.session.refresh(offer)
    assert offer.status == GroupBuyStatus.LIVE


def test_another_brands_hq_finds_no_group_buy(client, login, gb):
    offer = gb.offer()
    acme = db.session.execute(select(Organization).where(Organization.code == "ACME")).scalar_one()
    theirs = db.session.execute(  # the demo seed's live group buy
        select(GroupBuy).where(GroupBuy.brand_id == acme.id, GroupBuy.code == "GB-TEE")
    ).scalar_one()
    log_in(client, staff_of(gb, "HQ", Role.HQ_MERCHANDISER))
    assert client.get(f"/campaigns/group-buys/{theirs.code}").status_code == 404
    assert client.post(f"/campaigns/group-buys/{theirs.code}/stop").status_code == 404
    assert theirs.code not in page(client.get("/campaigns/group-buys/"))
    client.post("/logout")
    login("hq@demo.test")  # ACME's HQ
    assert client.get(f"/campaigns/group-buys/{offer.code}").status_code == 404
    assert client.post(f"/campaigns/group-buys/{offer.code}/stop").status_code == 404
    assert client.get(f"/campaigns/group-buys/{theirs.code}").status_code == 200  # its own
    db.session.refresh(offer)
    db.session.refresh(theirs)
    assert offer.status == theirs.status == GroupBuyStatus.LIVE


# -- JSON ------------------------------------------------------------------------------------------


def test_the_api_gives_an_offer_and_a_group_and_places_a_group_buy_order(client, gb):
    offer = gb.offer()
    group = gb.group_of(gb.buy(gb.consumer("Li Lei"), offer))
    consumer = gb.consumer()
    token, _expires = start_session(consumer, kind="api")
    db.session.commit()
    body = client.get("/api/v1/shop/GB/group-buys/TEE3").get_json()
    assert body["price_cents"] == GROUP_PRICE and body["group_size"] == 3
    assert {sku["sku"]: sku["group_cents"] for sku in body["skus"]} == {
        "TEE-BLK-M": GROUP_PRICE,
        "TEE-BLK-L": GROUP_PRICE,
    }
    assert [g["code"] for g in body["open_groups"]] == [group.code]
    body = client.get(f"/api/v1/shop/GB/groups/{group.code}").get_json()
    assert body["seats_left"] == 2 and body["members"] == [
        {"name": "L. L.", "leader": True, "paid": False}
    ]
    headers = {"Authorization": f"Bearer {token}"}
    placed = client.post(
        "/api/v1/shop/GB/checkout",
        json={
            "tier": "official",
            "checkout_token": "group-api-1",
            "fulfilment": "pickup",
            "pickup_location_id": gb.shop.locations["LJ"].id,
            "lines": [{"variant_id": gb.shop.variant_id("TEE-BLK-M"), "qty": 1}],
            "group_buy": "TEE3",
            "group": group.code,
        },
        headers=headers,
    )
    assert placed.status_code == 201, placed.get_json()
    assert placed.get_json()["on_hold"] is True
    assert placed.get_json()["total_cents"] == GROUP_PRICE
    assert client.get("/api/v1/shop/GB/groups/NOSUCHGROUP").status_code == 404


@pytest.mark.parametrize("path", ["/shop/GB/groups/ZZZZZZZZZZ", "/shop/GB/group-buys/NONE"])
def test_unknown_codes_are_not_found(client, gb, path):
    assert client.get(path).status_code == 404
