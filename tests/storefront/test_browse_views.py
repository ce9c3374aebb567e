"""Browsing the shops: pages answer with the brand's products and prices, the outlet and
employee shops stay closed until entry says otherwise, the theme is a stylesheet, images and the
logo are served to anyone, and HQ moves SKUs between tiers on its own page."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.catalog.models import Product
from portal.core.access import Actor
from portal.extensions import db
from portal.storefront import browse_views, look, tiers
from portal.storefront.models import SkuTier, Tier, TierMove
from tests.support.policy import Net, build_network
from tests.support.retail import publish_retail
from tests.support.services import org

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def net(app) -> Net:
    built = build_network("BV")
    publish_retail(built, official="all 100%", outlet="all 60%", employee="all 40%")
    db.session.commit()
    return built


@pytest.fixture
def open_doors(monkeypatch):
    """Entry as the consumer-accounts helper will decide it: here, everyone enters."""
    monkeypatch.setattr(browse_views, "may_enter", lambda brand, tier: True)


def test_home_lists_the_official_products_with_prices(client, net):
    response = client.get("/shop/bv/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert page.count('data-testid="shop-product"') == 4
    assert "199.00" in page
    assert "/shop/BV/theme.css" in page
    assert 'data-testid="shop-category"' in page


def test_filters_and_search_narrow_the_list(client, net):
    page = client.get("/shop/BV/?category=TOPS").get_data(as_text=True)
    assert page.count('data-testid="shop-product"') == 2
    page = client.get("/shop/BV/?q=tot").get_data(as_text=True)
    assert page.count('data-testid="shop-product"') == 1 and "/shop/BV/p/TOTE" in page
    page = client.get("/shop/BV/?min=300&max=abc").get_data(as_text=True)
    assert page.count('data-testid="shop-product"') == 1  # RUN only; a bad bound is ignored
    page = client.get("/shop/BV/?color=PINK").get_data(as_text=True)
    assert 'data-testid="shop-empty"' in page


def test_unknown_brand_is_not_found(client, net):
    assert client.get("/shop/NOPE/").status_code == 404
    assert client.get("/shop/BVA1/").status_code == 404  # an org that is not a brand


def test_outlet_and_employee_are_closed_until_entry_allows(client, net):
    for url in ("/shop/BV/outlet/", "/shop/BV/employee/", "/shop/BV/outlet/p/TEE"):
        response = client.get(url)
        assert response.status_code == 403
        assert 'data-testid="shop-closed"' in response.get_data(as_text=True)


def test_outlet_lists_what_hq_moved_there(client, net, open_doors):
    tiers.move_tier(net.hq, [net.variants["POLO-WHT-M"]], Tier.OUTLET, pinned=False, note="")
    db.session.commit()
    page = client.get("/shop/BV/outlet/").get_data(as_text=True)
    assert page.count('data-testid="shop-product"') == 1
    assert "/shop/BV/outlet/p/POLO" in page
    assert "179.40" in page  # 60% of 299.00
    offer = client.get("/shop/BV/outlet/p/POLO")
    assert offer.status_code == 200
    assert client.get("/shop/BV/p/POLO").status_code == 404  # no longer official
    assert client.get("/shop/BV/employee/p/POLO").status_code == 200


def test_product_page_shows_the_colour_size_grid_with_prices(client, net):
    response = client.get("/shop/BV/p/tee")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert page.count('data-testid="shop-sku"') == 2
    assert 'data-sku="TEE-BLK-M"' in page and 'data-sku="TEE-BLK-L"' in page
    assert client.get("/shop/BV/p/NOPE").status_code == 404


def test_images_and_logo_are_served_to_anyone(client, app, net, tmp_path, monkeypatch):
    monkeypatch.setattr(app, "instance_path", str(tmp_path))
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "tee.png").write_bytes(PNG)
    (tmp_path / "img" / "logo.png").write_bytes(PNG)
    product = db.session.execute(
        select(Product).where(Product.brand_id == net.brand.id, Product.code == "TEE")
    ).scalar_one()
    product.image_path = "img/tee.png"
    look.set_look(Actor.system(), net.brand.id, title="BV Shop", logo_path="img/logo.png")
    db.session.commit()
    image = client.get("/shop/BV/p/TEE/image")
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert client.get("/shop/BV/p/POLO/image").status_code == 404
    assert client.get("/shop/BV/logo").data == PNG
    home = client.get("/shop/BV/").get_data(as_text=True)
    assert "BV Shop" in home and "/shop/BV/logo" in home and "/shop/BV/p/TEE/image" in home


def test_theme_is_a_stylesheet_of_the_brands_colours(client, net):
    default = client.get("/shop/BV/theme.css")
    assert default.status_code == 200 and default.mimetype == "text/css"
    assert look.DEFAULT_PRIMARY in default.get_data(as_text=True)
    look.set_look(Actor.system(), net.brand.id, primary_color="#0A7F3F", accent_color="#ffcc00")
    db.session.commit()
    css = client.get("/shop/BV/theme.css").get_data(as_text=True)
    assert "#0a7f3f" in css and "#ffcc00" in css


def test_a_colour_that_is_not_rrggbb_is_refused(net):
    from portal.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as refused:
        look.set_look(Actor.system(), net.brand.id, primary_color="red;}body{x:y")
    assert "primary_color" in refused.value.fields


def test_hq_moves_and_pins_skus_on_its_tier_page(client, login):
    login("hq@demo.test")
    page = client.get("/shop/ACME/hq/tiers/ACME-TEE-001")
    assert page.status_code == 200
    assert 'data-testid="tier-row"' in page.get_data(as_text=True)
    product = db.session.execute(
        select(Product).where(Product.brand_id == org("ACME").id, Product.code == "ACME-TEE-001")
    ).scalar_one()
    chosen = product.variants[0]
    data = {"variants": [str(chosen.id)], "tier": "outlet", "pinned": "y", "note": "last season"}
    response = client.post("/shop/ACME/hq/tiers/ACME-TEE-001", data=data)
    assert response.status_code == 302
    current = db.session.get(SkuTier, chosen.id)
    assert (current.tier, current.pinned) == ("outlet", True)
    history = client.get("/shop/ACME/hq/tiers/ACME-TEE-001").get_data(as_text=True)
    assert 'data-testid="tier-history"' in history and "last season" in history
    moves = db.session.execute(select(TierMove).where(TierMove.variant_id == chosen.id))
    assert len(list(moves.scalars())) == 1


def test_tier_page_refuses_a_move_without_skus(client, login):
    login("hq@demo.test")
    response = client.post("/shop/ACME/hq/tiers/ACME-TEE-001", data={"tier": "outlet"})
    assert response.status_code == 422


def test_tier_page_is_hq_only(client, login):
    login("buyer1@demo.test")
    assert client.get("/shop/ACME/hq/tiers/ACME-TEE-001").status_code == 403
    client.post("/logout")
    login("hq2@demo.test")
    assert client.get("/shop/ACME/hq/tiers/ACME-TEE-001").status_code == 404
    assert client.get("/shop/ACME/hq/tiers?product=ACME-TEE-001").status_code == 404


def test_product_page_shows_units_online_per_sku(client, net):
    from portal.inventory.models import Grade, Location, StockLevel
    from portal.storefront.models import OnlineLocation

    location = Location(org_id=net.brand.id, code="BV-WH-ONLINE", name="Online warehouse")
    db.session.add(location)
    db.session.flush()
    db.session.add(OnlineLocation(brand_id=net.brand.id, location_id=location.id, delivery=True))
    db.session.add(
        StockLevel(
            brand_id=net.brand.id,
            location_id=location.id,
            variant_id=net.variants["TEE-BLK-M"].id,
            grade=Grade.A,
            on_hand=7,
            reserved=0,
        )
    )
    db.session.commit()
    with client.session_transaction() as session:
        session["lang"] = "en"  # the shop is Chinese until one chooses
    page = client.get("/shop/BV/p/TEE").get_data(as_text=True)
    assert "7 online" in page
    assert "Sold out online" in page  # TEE-BLK-L has none
