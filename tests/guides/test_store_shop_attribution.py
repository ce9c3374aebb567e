"""A store's own shop credits its guides like the official store does: a guide's link to the shop
opened before signing in, or a guide's code typed at the shop's checkout (the shop's own cart and
checkout pass both to the storefront's hooks)."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.guides import links, roster
from portal.guides.models import Attribution, LinkTarget
from portal.network.models import User
from portal.storefront.models import ConsumerOrder
from tests.storefront.test_cart_views import sign_in
from tests.storefront.test_store_shop_views import SETTINGS, shop, text  # noqa: F401

PASSWORD_USERS = {"JA": "ja-staff@sv.test"}


def _guide(shop):  # noqa: F811 - the fixture above
    user = db.session.execute(select(User).where(User.email == PASSWORD_USERS["JA"])).scalar_one()
    return roster.guide_for(user.id, shop.net.org_id("JA"), shop.brand.id)


def _buy_in_the_shop(client, shop, **extra) -> ConsumerOrder:  # noqa: F811
    client.post(
        "/shop/SV/s/SVJA/cart/add", data={"variant_id": shop.variant_id("POLO-WHT-M"), "qty": 1}
    )
    cart = text(client.get("/shop/SV/s/SVJA/cart"))
    token = cart.split('name="checkout_token" value="')[1].split('"')[0]
    response = client.post(
        "/shop/SV/s/SVJA/checkout",
        data={"fulfilment": "pickup", "checkout_token": token, **extra},
    )
    assert response.status_code == 302, text(response)
    return db.session.execute(
        select(ConsumerOrder).where(ConsumerOrder.shop_org_id == shop.net.org_id("JA"))
    ).scalar_one()


def _rule_of(order: ConsumerOrder) -> tuple[str, int] | None:
    row = db.session.execute(
        select(Attribution.rule, Attribution.guide_id).where(
            Attribution.consumer_order_id == order.id
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def test_a_guides_shop_link_opened_before_signing_in_credits_the_guide(shop, login, app):  # noqa: F811
    login("ja-owner@sv.test").post("/my-shop/settings", data=SETTINGS)
    guide = _guide(shop)
    db.session.commit()
    browser = app.test_client()
    opened = browser.get(f"/shop/SV/g/{links.make_token(guide, LinkTarget.SHOP, 'SVJA')}")
    assert opened.status_code == 302 and "/s/SVJA/" in opened.headers["Location"]
    sign_in(browser, shop)
    order = _buy_in_the_shop(browser, shop)
    assert _rule_of(order) == ("link", guide.id)


def test_a_guide_code_typed_at_the_shops_checkout_credits_that_guide(shop, login, app):  # noqa: F811
    login("ja-owner@sv.test").post("/my-shop/settings", data=SETTINGS)
    guide = _guide(shop)
    db.session.commit()
    browser = app.test_client()
    sign_in(browser, shop)
    order = _buy_in_the_shop(browser, shop, guide_code=guide.code.lower())
    assert _rule_of(order) == ("code", guide.id)


def test_a_wrong_code_at_the_shops_checkout_is_named_and_places_nothing(shop, login, app):  # noqa: F811
    login("ja-owner@sv.test").post("/my-shop/settings", data=SETTINGS)
    browser = app.test_client()
    sign_in(browser, shop)
    browser.post(
        "/shop/SV/s/SVJA/cart/add", data={"variant_id": shop.variant_id("POLO-WHT-M"), "qty": 1}
    )
    cart = text(browser.get("/shop/SV/s/SVJA/cart"))
    token = cart.split('name="checkout_token" value="')[1].split('"')[0]
    response = browser.post(
        "/shop/SV/s/SVJA/checkout",
        data={"fulfilment": "pickup", "checkout_token": token, "guide_code": "NOPE99"},
    )
    assert response.status_code == 422
    assert 'data-field="guide_code"' in text(response)
    assert (
        db.session.execute(
            select(ConsumerOrder).where(ConsumerOrder.shop_org_id == shop.net.org_id("JA"))
        ).first()
        is None
    )
