"""The shop's product list as every anonymous visitor sees it is kept a few seconds
(`SHOP_LIST_CACHE_SECONDS`; off in tests unless a test turns it on): a published price shows on
the next request, a product change once the seconds are over, and a signed-in consumer is never
served the kept page."""

from __future__ import annotations

import pytest

from portal.catalog.models import Category, Product, ProductStatus
from portal.extensions import db
from portal.policy import services
from portal.policy.models import PolicyVersion
from portal.storefront import catalog
from tests.support.policy import Net, build_network
from tests.support.retail import publish_retail

API = "/api/v1/shop/KC/catalog?tier=official"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(app, monkeypatch) -> Clock:
    moved = Clock()
    monkeypatch.setitem(app.config, "SHOP_LIST_CACHE_SECONDS", 10)
    monkeypatch.setattr(catalog, "_clock", moved)
    catalog.forget_kept()
    yield moved
    catalog.forget_kept()


@pytest.fixture
def net(app) -> Net:
    built = build_network("KC")
    publish_retail(built, official="all 100%")
    db.session.commit()
    return built


def listed(client, path: str = API, **kwargs) -> dict[str, int]:
    response = client.get(path, **kwargs)
    assert response.status_code == 200, response.get_json()
    return {item["code"]: item["min_cents"] for item in response.get_json()["items"]}


def sign_in(client, phone: str = "13800138000") -> str:
    sent = client.post("/api/v1/shop/KC/sign-in/code", json={"phone": phone})
    assert sent.status_code == 202, sent.get_json()
    issued = client.post(
        "/api/v1/shop/KC/token/code", json={"phone": phone, "code": sent.get_json()["demo_code"]}
    )
    assert issued.status_code == 201, issued.get_json()
    return str(issued.get_json()["token"])


def retire(code: str, net: Net) -> None:
    product = db.session.execute(
        db.select(Product).where(Product.brand_id == net.brand.id, Product.code == code)
    ).scalar_one()
    product.status = ProductStatus.RETIRED
    db.session.commit()


def test_a_product_change_shows_once_the_seconds_are_over(client, net, clock):
    assert "TEE" in listed(client)
    retire("TEE", net)
    assert "TEE" in listed(client)  # the page every visitor sees, kept
    clock.now += 11
    assert "TEE" not in listed(client)


def test_the_kept_page_is_off_when_the_setting_is_zero(app, client, net, monkeypatch):
    monkeypatch.setitem(app.config, "SHOP_LIST_CACHE_SECONDS", 0)
    catalog.forget_kept()
    assert "TEE" in listed(client)
    retire("TEE", net)
    assert "TEE" not in listed(client)


def test_a_published_price_shows_on_the_next_request(client, net, clock):
    assert listed(client)["TEE"] == 19900
    live = db.session.execute(
        db.select(PolicyVersion).where(PolicyVersion.brand_id == net.brand.id)
    ).scalar_one()
    draft = services.revise_policy(net.hq, live)
    for rule in draft.rules:
        rule.percent_bp = 5000  # half price, the next version
    services.publish_policy(net.hq, draft)
    db.session.commit()
    assert listed(client)["TEE"] == 9950  # another set of live versions: another page


def test_each_filter_and_cursor_is_a_page_of_its_own(client, net, clock):
    everything = listed(client)
    tops = listed(client, API + "&category=tops")
    assert set(tops) < set(everything)
    assert listed(client, API + "&category=TOPS") == tops
    assert listed(client, API + "&q=tee") == {"TEE": 19900}
    assert listed(client) == everything


def test_a_signed_in_consumer_is_never_served_the_kept_page(client, net, clock):
    assert "TEE" in listed(client)
    token = sign_in(client)
    retire("TEE", net)
    assert "TEE" in listed(client)
    assert "TEE" not in listed(client, headers={"Authorization": f"Bearer {token}"})


def test_the_home_page_keeps_its_categories_and_filters_for_the_seconds(client, net, clock):
    page = client.get("/shop/KC/").get_data(as_text=True)
    shown = page.count('data-testid="shop-category"')
    db.session.add(Category(brand_id=net.brand.id, code="BAGS2", name="Bags too"))
    db.session.flush()
    product = db.session.execute(
        db.select(Product).where(Product.brand_id == net.brand.id, Product.code == "TEE")
    ).scalar_one()
    product.category_id = db.session.execute(
        db.select(Category.id).where(Category.code == "BAGS2")
    ).scalar_one()
    db.session.commit()
    page = client.get("/shop/KC/").get_data(as_text=True)
    assert "Bags too" not in page
    clock.now += 11
    page = client.get("/shop/KC/").get_data(as_text=True)
    assert "Bags too" in page
    assert page.count('data-testid="shop-category"') in (shown, shown + 1)


def test_the_kept_home_page_shows_each_cursor_and_language_as_its_own(client, net, clock):
    first = client.get("/shop/KC/").get_data(as_text=True)
    assert first.count('data-testid="shop-product"') == 4
    with client.session_transaction() as cookie:
        cookie["lang"] = "en"
    english = client.get("/shop/KC/").get_data(as_text=True)
    assert english.count('data-testid="shop-product"') == 4
    assert "¥199.00" in first and "More" not in first and "from" not in first
    assert 'lang="en"' in english
    newest = client.get("/api/v1/shop/KC/catalog?tier=official").get_json()["items"]
    after = client.get(f"/shop/KC/?after={newest[1]['id']}").get_data(as_text=True)
    assert after.count('data-testid="shop-product"') == 2
    retire("TEE", net)
    assert client.get("/shop/KC/").get_data(as_text=True).count('data-testid="shop-product"') == 4
    clock.now += 11
    assert client.get("/shop/KC/").get_data(as_text=True).count('data-testid="shop-product"') == 3
