"""Guide links as a browser and the mini-program see them (portal/guides/link_views.py): the
redirect, the browser's id cookie, nothing recorded for a bad link; checkout taking a guide code
and the browser's earlier links (storefront checkout page and API)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.guides.links import make_token
from portal.guides.models import GuideVisit
from portal.storefront.auth import start_session
from portal.storefront.models import ConsumerOrder
from tests.guides.conftest import attribution_of, count
from tests.storefront.test_cart_views import add, page, sign_in
from tests.storefront.test_checkout_views import form_of, pickup_at


def visits_of(guide_id: int) -> list[GuideVisit]:
    return list(
        db.session.execute(
            select(GuideVisit).where(GuideVisit.guide_id == guide_id).order_by(GuideVisit.id)
        ).scalars()
    )


def cookie_header(response) -> str:
    return next((v for v in response.headers.getlist("Set-Cookie") if v.startswith("gv=")), "")


def test_opening_a_link_gives_the_browser_an_id_records_the_visit_and_redirects(client, gs):
    token = make_token(gs.guides["JA"], "product", "TEE")
    response = client.get(f"/shop/GD/g/{token}")
    assert response.status_code == 302
    assert response.headers["Location"] == "/shop/GD/p/TEE"
    set_cookie = cookie_header(response)
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    assert "Max-Age=63072000" in set_cookie  # two years
    visitor = set_cookie.split(";")[0].removeprefix("gv=")
    [visit] = visits_of(gs.guides["JA"].id)
    assert (visit.visitor, visit.consumer_id, visit.target) == (visitor, None, "product")
    # The same browser again: the same id, no new cookie, and (a reload) no second visit.
    again = client.get(f"/shop/GD/g/{token}")
    assert again.status_code == 302 and cookie_header(again) == ""
    assert [v.visitor for v in visits_of(gs.guides["JA"].id)] == [visitor]
    # Another link of the guide is another visit.
    client.get(f"/shop/GD/g/{make_token(gs.guides['JA'], 'home')}")
    assert [v.target for v in visits_of(gs.guides["JA"].id)] == ["product", "home"]


@pytest.mark.parametrize("kind", ["forged", "altered", "other_brand", "stopped"])
def test_a_link_that_does_not_count_lands_on_the_home_page_recording_nothing(client, gs, kind):
    from itsdangerous import URLSafeTimedSerializer

    from portal.guides import roster

    guide = gs.guides["JA"]
    token = make_token(guide, "product", "TEE")
    if kind == "forged":
        token = URLSafeTimedSerializer("x", salt="guide-link").dumps(
            {"g": guide.code, "t": "product", "r": "TEE"}
        )
    elif kind == "altered":
        token = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    elif kind == "other_brand":  # GD's guide's link opened in the demo brand's shop
        response = client.get(f"/shop/ACME/g/{token}")
        assert (response.status_code, response.headers["Location"]) == (302, "/shop/ACME/")
        assert count(GuideVisit) == 0
        return
    else:
        roster.stop_guide(gs.shop.net.hq, guide)
        db.session.commit()
    response = client.get(f"/shop/GD/g/{token}")
    assert (response.status_code, response.headers["Location"]) == (302, "/shop/GD/")
    assert count(GuideVisit) == 0


def test_a_signed_in_consumers_visit_is_theirs(client, gs):
    consumer = sign_in(client, gs.shop, gs.consumer())
    client.get(f"/shop/GD/g/{make_token(gs.guides['LJ'], 'shop', 'GDLJ')}")
    [visit] = visits_of(gs.guides["LJ"].id)
    assert visit.consumer_id == consumer.id


def test_checkout_in_the_browser_credits_the_link_opened_before_signing_in(client, gs):
    client.get(f"/shop/GD/g/{make_token(gs.guides['JA'], 'home')}")  # not signed in yet
    sign_in(client, gs.shop, gs.consumer())
    add(client, gs.shop, "TEE-BLK-M")
    form = {**form_of(page(client.get("/shop/GD/checkout"))), **pickup_at(gs.shop, "LJ")}
    assert 'data-testid="checkout-guide-code"' in page(client.get("/shop/GD/checkout"))
    response = client.post("/shop/GD/checkout", data=form)
    assert response.status_code == 302, page(response)[:2000]
    order = db.session.execute(select(ConsumerOrder)).scalars().all()[-1]
    found = attribution_of(order)
    assert (found.guide_id, found.rule) == (gs.guides["JA"].id, "link")


def test_the_checkout_page_takes_a_guide_code_and_shows_a_wrong_one_on_its_field(client, gs):
    sign_in(client, gs.shop, gs.consumer())
    add(client, gs.shop, "TEE-BLK-M")
    form = {**form_of(page(client.get("/shop/GD/checkout"))), **pickup_at(gs.shop, "LJ")}
    orders = count(ConsumerOrder)
    wrong = client.post("/shop/GD/checkout", data={**form, "guide_code": "NOSUCH"})
    assert wrong.status_code == 422
    html = page(wrong)
    assert 'data-field="guide_code"' in html and "No guide has this code" in html
    assert 'value="NOSUCH"' in html  # kept for correcting
    assert count(ConsumerOrder) == orders
    right = client.post("/shop/GD/checkout", data={**form, "guide_code": gs.guides["LJ"].code})
    assert right.status_code == 302
    order = db.session.execute(select(ConsumerOrder)).scalars().all()[-1]
    assert attribution_of(order).rule == "code"


# -- the mini-program -------------------------------------------------------------------------


def bearer(consumer) -> dict[str, str]:
    secret, _expires = start_session(consumer, kind="api")
    db.session.commit()
    return {"Authorization": f"Bearer {secret}"}


def test_the_app_records_a_scanned_link_for_the_signed_in_consumer(client, gs):
    consumer = gs.consumer()
    headers = bearer(consumer)
    token = make_token(gs.guides["LJ"], "product", "POLO")
    link = f"https://shop.example.com/shop/GD/g/{token}?from=qr"
    response = client.post("/api/v1/shop/GD/guide-visits", json={"link": link}, headers=headers)
    assert response.status_code == 201, response.get_json()
    assert response.get_json() == {
        "guide_code": gs.guides["LJ"].code,
        "target": "product",
        "ref": "POLO",
        "path": "/shop/GD/p/POLO",
    }
    [visit] = visits_of(gs.guides["LJ"].id)
    assert (visit.consumer_id, visit.visitor) == (consumer.id, "")
    bad = client.post(
        "/api/v1/shop/GD/guide-visits", json={"link": token[:-3] + "xyz"}, headers=headers
    )
    assert bad.status_code == 422
    assert "link" in bad.get_json()["error"]["fields"]
    anonymous = client.post("/api/v1/shop/GD/guide-visits", json={"link": token})
    assert anonymous.status_code == 401
    assert len(visits_of(gs.guides["LJ"].id)) == 1


def test_the_checkout_api_takes_a_guide_code(client, gs):
    consumer = gs.consumer()
    headers = bearer(consumer)
    body = {
        "tier": "official",
        "checkout_token": "tok-guide-1",
        "fulfilment": "pickup",
        "pickup_location_id": gs.shop.locations["LJ"].id,
        "lines": [{"variant_id": gs.shop.variant_id("TEE-BLK-M"), "qty": 1}],
    }
    wrong = client.post(
        "/api/v1/shop/GD/checkout", json={**body, "guide_code": "NOSUCH"}, headers=headers
    )
    assert wrong.status_code == 422
    assert list(wrong.get_json()["error"]["fields"]) == ["guide_code"]
    right = client.post(
        "/api/v1/shop/GD/checkout",
        json={**body, "guide_code": gs.guides["JA"].code},
        headers=headers,
    )
    assert right.status_code == 201, right.get_json()
    order = db.session.execute(
        select(ConsumerOrder).where(ConsumerOrder.number == right.get_json()["number"])
    ).scalar_one()
    assert attribution_of(order).guide_id == gs.guides["JA"].id
