"""Pages: the catalog each org sees at its own prices, HQ writing and publishing a policy, the
network's inboxes and HQ's view of the policy's reach."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from portal.catalog.models import Category, Product, Variant
from portal.core.jobs import commit
from portal.extensions import db
from portal.policy.models import Notification, Policy, PolicyVersion
from tests.support.services import org


def _product_in(category: str) -> Product:
    return db.session.execute(
        select(Product)
        .join(Category, Category.id == Product.category_id)
        .where(Category.code == category, Product.brand_id == org("ACME").id)
        .order_by(Product.code)
        .limit(1)
    ).scalar_one()


def _sku(product: Product) -> str:
    return product.variants[0].sku


def test_distributor_sees_its_level_price_and_never_an_excluded_category(app, login):
    coat = _product_in("OUTERWEAR")
    level_a = login("dist1@demo.test").get("/catalog?brand=ACME&category=OUTERWEAR")
    assert level_a.status_code == 200
    assert coat.code in level_a.get_data(as_text=True)
    login("dist2@demo.test")  # level B: outerwear is not authorized
    page = app.test_client()
    page.post("/login", data={"email": "dist2@demo.test", "password": "demo1234"})
    level_b = page.get("/catalog?brand=ACME&category=OUTERWEAR")
    assert level_b.status_code == 200
    assert coat.code not in level_b.get_data(as_text=True)
    assert "0 products" in level_b.get_data(as_text=True)


def test_unauthorized_product_is_not_found(app, client):
    coat = _product_in("OUTERWEAR")
    client.post("/login", data={"email": "dist2@demo.test", "password": "demo1234"})
    assert client.get(f"/catalog/ACME/{coat.code}").status_code == 404
    assert client.get(f"/catalog/ACME/{coat.code}/image").status_code == 404
    # Another brand's catalog does not exist for LUMI's HQ.
    other = app.test_client()
    other.post("/login", data={"email": "hq2@demo.test", "password": "demo1234"})
    tee = _product_in("TOPS")
    assert other.get("/catalog?brand=ACME").status_code == 404
    assert other.get(f"/catalog/ACME/{tee.code}").status_code == 404


def test_price_explanation_of_unauthorized_sku_is_not_found(app, client):
    coat = _product_in("OUTERWEAR")
    client.post("/login", data={"email": "dist2@demo.test", "password": "demo1234"})
    assert client.get(f"/catalog/ACME/sku/{_sku(coat)}/why").status_code == 404
    assert client.get(f"/api/v1/prices/{_sku(coat)}?brand=ACME").status_code == 404
    # Nor may a store look at the catalog as another store sees it.
    store = app.test_client()
    store.post("/login", data={"email": "store2@demo.test", "password": "demo1234"})
    assert store.get("/catalog?brand=ACME&as=S1").status_code == 404
    assert store.get(f"/api/v1/prices/{_sku(coat)}?brand=ACME&as=S1").status_code == 404


def test_why_this_price_names_policy_version_rule_base_and_result(login):
    shoe = _product_in("SHOES")
    sku = _sku(shoe)
    page = login("dist1@demo.test").get(f"/catalog/ACME/sku/{sku}/why")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "ACME-LEVEL-A v1" in text  # level A's category rule beats the base policy
    assert "48% of MSRP" in text
    assert "ACME-BASE v1" in text  # shown as overridden
    assert "MOQ 6" in text  # the base policy's order rule for shoes


def test_hq_sees_the_catalog_as_a_chosen_store_sees_it(login):
    client = login("hq@demo.test")
    everything = client.get("/catalog?brand=ACME").get_data(as_text=True)
    assert "Your price" not in everything
    as_s1 = client.get("/catalog?brand=ACME&as=S1").get_data(as_text=True)
    assert "Prices for S1" in as_s1
    assert "Your price" in as_s1


def _policy_form(**overrides) -> dict[str, str]:
    data = {
        "code": "ACME-WINTER",
        "name": "Winter push for level A",
        "audience_kind": "level",
        "audience_values": "A",
        "effective_from": "2026-01-01T00:00",
        "prices": "category TOPS 40%",
        "order_rules": "",
        "floors": "",
        "exclusions": "",
        "rebates": "",
    }
    data.update(overrides)
    return data


def test_policy_form_names_the_bad_line_and_saves_nothing(login):
    client = login("hq@demo.test")
    before = db.session.execute(select(func.count(Policy.id))).scalar_one()
    response = client.post(
        "/policies/new", data=_policy_form(prices="category TOPS 40%\nsku NOPE-1 10")
    )
    assert response.status_code == 422
    assert "prices line 2" in response.get_data(as_text=True)
    assert "Unknown sku: NOPE-1" in response.get_data(as_text=True)
    response = client.post("/policies/new", data=_policy_form(order_rules="sku X 0"))
    assert "MOQ must be at least 1" in response.get_data(as_text=True)
    response = client.post(
        "/policies/new", data=_policy_form(audience_kind="region", audience_values="mars")
    )
    assert "No distributor or store has region mars" in response.get_data(as_text=True)
    assert db.session.execute(select(func.count(Policy.id))).scalar_one() == before


@pytest.mark.parametrize("email", ["merch@demo.test"])
def test_merchandiser_writes_drafts_but_cannot_publish(login, email):
    client = login(email)
    response = client.post("/policies/new", data=_policy_form())
    assert response.status_code == 302
    version_id = int(re.search(r"/policies/(\d+)", response.headers["Location"]).group(1))
    assert client.post(f"/policies/{version_id}/publish").status_code == 403
    assert db.session.get(PolicyVersion, version_id).status == "draft"


def test_publish_reaches_every_targeted_org_which_reads_and_acknowledges(app, login):
    hq = login("hq@demo.test")
    # Level A's own policy already covers the level: end it so this one may start.
    response = hq.post(
        "/policies/new",
        data=_policy_form(audience_kind="orgs", audience_values="D1, S3", code="ACME-PILOT"),
    )
    version_id = int(re.search(r"/policies/(\d+)", response.headers["Location"]).group(1))
    detail = hq.get(f"/policies/{version_id}").get_data(as_text=True)
    assert "Publish to 2 organizations" in detail
    published = hq.post(f"/policies/{version_id}/publish")
    assert published.status_code == 302
    assert published.headers["Location"].endswith(f"/policies/{version_id}/reach")
    notes = db.session.execute(
        select(Notification).where(Notification.version_id == version_id)
    ).scalars()
    assert sorted(n.org.code for n in notes) == ["D1", "S3"]
    reach = hq.get(f"/policies/{version_id}/reach").get_data(as_text=True)
    assert 'data-testid="delivered">2<' in reach

    dist = app.test_client()
    dist.post("/login", data={"email": "dist1@demo.test", "password": "demo1234"})
    inbox = dist.get("/inbox").get_data(as_text=True)
    item = re.search(r'href="(/inbox/\d+)">(?:<strong>)?Winter push', inbox)
    assert item, inbox
    opened = dist.get(item.group(1)).get_data(as_text=True)
    changes = opened.split('data-testid="changes"')[1].split("</table>")[0]
    assert "ACME-" in changes and "¥" in changes  # its own prices for the SKUs it touches
    assert dist.post(item.group(1) + "/ack").status_code == 302
    reach = hq.get(f"/policies/{version_id}/reach").get_data(as_text=True)
    assert 'data-testid="read">1<' in reach
    assert 'data-testid="acknowledged">1<' in reach
    assert "S3" in reach.split('data-testid="pending"')[1]  # still waiting for S3
    reminded = hq.post(f"/policies/{version_id}/remind")
    assert reminded.status_code == 302
    pending = db.session.execute(
        select(Notification).where(
            Notification.version_id == version_id, Notification.acknowledged_at.is_(None)
        )
    ).scalar_one()
    assert pending.remind_count == 1


def test_editing_a_published_policy_starts_a_new_version(login):
    client = login("hq@demo.test")
    base = db.session.execute(
        select(PolicyVersion).join(Policy).where(Policy.code == "ACME-BASE")
    ).scalar_one()
    assert client.get(f"/policies/{base.id}/edit").status_code == 302  # never edited in place
    response = client.post(f"/policies/{base.id}/revise")
    assert response.status_code == 302
    draft = db.session.execute(
        select(PolicyVersion)
        .join(Policy)
        .where(Policy.code == "ACME-BASE", PolicyVersion.number == 2)
    ).scalar_one()
    assert draft.status == "draft"
    form = client.get(f"/policies/{draft.id}/edit").get_data(as_text=True)
    assert "all 55%" in form  # the rules come back as editable lines
    assert base.status == "active"


def test_catalog_search_finds_a_product_by_sku(login):
    tee = _product_in("TOPS")
    sku = db.session.execute(
        select(Variant.sku).where(Variant.product_id == tee.id).limit(1)
    ).scalar_one()
    page = login("store1@demo.test").get(f"/catalog?brand=ACME&q={sku}")
    assert tee.code in page.get_data(as_text=True)
    assert "1 product" in page.get_data(as_text=True)


def test_inbox_shows_only_the_buyers_own_prices_never_another_orgs_deal(app, actor_for):
    from portal.policy import services
    from portal.policy.models import Section

    hq = actor_for("hq@demo.test")
    tee = "ACME-TEE-002-WHT-M"
    coat = _sku(_product_in("OUTERWEAR"))

    def deal(audience: str, lines: str) -> services.PolicyInput:
        return services.PolicyInput(
            code="ACME-DEAL",
            name="A private deal",
            audience_kind="orgs",
            audience_values=[audience],
            effective_from=datetime(2026, 1, 1, tzinfo=UTC),
            rules=services.parse_rule_lines(Section.PRICE, lines, label="prices"),
        )

    v1 = services.create_policy(
        hq, org("ACME").id, deal("D1", f"sku {tee} 11.11\nsku {coat} 22.22")
    )
    services.publish_policy(hq, v1)
    v2 = services.revise_policy(hq, v1)
    services.update_draft(hq, v2, deal("D2", f"sku {tee} 33.33"))
    services.publish_policy(hq, v2)
    commit()

    client = app.test_client()
    client.post("/login", data={"email": "dist2@demo.test", "password": "demo1234"})
    item = db.session.execute(
        select(Notification).where(
            Notification.version_id == v2.id, Notification.org_id == org("D2").id
        )
    ).scalar_one()
    page = client.get(f"/inbox/{item.id}").get_data(as_text=True)
    assert "33.33" in page  # its own new price
    assert "11.11" not in page  # D1's deal in the previous version
    assert coat not in page and "22.22" not in page  # outerwear is not authorized for D2
    why = client.get(f"/catalog/ACME/sku/{tee}/why").get_data(as_text=True)
    assert "D1" not in why.split("<main")[1]  # nor who else a named-org policy names
