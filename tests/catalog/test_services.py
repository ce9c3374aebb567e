"""Catalog services: only a brand's HQ changes its catalog; codes are unique per brand."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from portal.catalog import queries, services
from portal.catalog.errors import ImageRejected, ProductCodeTaken
from portal.catalog.models import Category, ProductStatus
from portal.core.audit import AuditEvent
from portal.core.errors import NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db
from tests.catalog.support import make_product
from tests.support.services import actor_for, org

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 64


def test_create_product_makes_one_sku_per_color_and_size(app):
    product = make_product(" zt-1 ", category_code="tops", colors="Black, White", sizes="S，M, L")
    assert product.code == "ZT-1" and product.category.code == "TOPS"
    assert product.currency == org("ACME").currency
    skus = sorted(v.sku for v in product.variants)
    assert len(skus) == 6 and "ZT-1-BLACK-M" in skus
    assert {(v.color, v.size) for v in product.variants} >= {("Black", "S"), ("White", "L")}
    assert db.session.execute(
        select(AuditEvent).where(AuditEvent.action == "catalog.product_created")
    ).first()


def test_duplicate_product_code_in_one_brand_names_the_code_field(app):
    make_product("ZT-1")
    with pytest.raises(ProductCodeTaken) as caught:
        make_product("zt-1")
    assert "code" in caught.value.fields


def test_same_code_in_another_brand_is_fine(app):
    make_product("ZT-1")
    lumi = services.create_product(
        actor_for("hq2@demo.test"),
        org("LUMI").id,
        code="ZT-1",
        name="Lumi tee",
        category_code="TOPS",
        msrp_cents=100,
        colors=["Red"],
        sizes=["M"],
    )
    assert lumi.brand_id == org("LUMI").id


def test_bad_fields_are_refused_by_name(app):
    with pytest.raises(ValidationFailed) as caught:
        make_product("bad code!", name=" ", msrp_cents=-1)
    assert {"code", "name", "msrp"} <= set(caught.value.fields)
    with pytest.raises(ValidationFailed) as caught:
        make_product("ZT-2", colors=[], sizes=" ")
    assert {"colors", "sizes"} <= set(caught.value.fields)


def test_another_brands_hq_gets_not_found_and_a_distributor_is_forbidden(app):
    acme = org("ACME").id
    with pytest.raises(NotFound):
        services.create_product(
            actor_for("hq2@demo.test"),
            acme,
            code="X1",
            name="X",
            category_code="TOPS",
            msrp_cents=1,
            colors=["A"],
            sizes=["M"],
        )
    with pytest.raises(PermissionDenied):
        services.create_product(
            actor_for("dist1@demo.test"),
            acme,
            code="X1",
            name="X",
            category_code="TOPS",
            msrp_cents=1,
            colors=["A"],
            sizes=["M"],
        )
    product = make_product()
    with pytest.raises(NotFound):
        services.retire_product(actor_for("hq2@demo.test"), product)
    with pytest.raises(NotFound):
        queries.get_product(actor_for("hq2@demo.test"), product.id)
    with pytest.raises(NotFound):
        queries.get_product(actor_for("dist1@demo.test"), product.id)


def test_merchandiser_manages_the_catalog(app):
    product = make_product()
    services.retire_product(actor_for("merch@demo.test"), product)
    assert product.status == ProductStatus.RETIRED


def test_add_variants_adds_only_missing_combinations(app):
    product = make_product(colors=["Black"], sizes=["S", "M"])
    hq = actor_for("hq@demo.test")
    added = services.add_variants(hq, product, ["Black", "Red"], ["M", "L"], case_pack=6)
    assert sorted((v.color, v.size) for v in added) == [
        ("Black", "L"),
        ("Red", "L"),
        ("Red", "M"),
    ]
    assert all(v.case_pack == 6 for v in added)
    # Only a size: added to every current color.
    added = services.add_variants(hq, product, "", "XL")
    assert sorted(v.color for v in added) == ["Black", "Red"]
    assert services.add_variants(hq, product, "Black", "S") == []
    assert len(product.variants) == 7


def test_update_variant_checks_case_pack_and_barcode(app):
    product = make_product()
    hq = actor_for("hq@demo.test")
    variant = product.variants[0]
    services.update_variant(hq, variant, barcode=" 6901234567890 ", case_pack=12)
    assert (variant.barcode, variant.case_pack) == ("6901234567890", 12)
    with pytest.raises(ValidationFailed) as caught:
        services.update_variant(hq, variant, barcode="", case_pack=0)
    assert "case_pack" in caught.value.fields
    with pytest.raises(ValidationFailed) as caught:
        services.update_variant(hq, variant, barcode="1" * 33, case_pack=1)
    assert "barcode" in caught.value.fields


def test_retire_and_reactivate(app):
    product = make_product()
    hq = actor_for("hq@demo.test")
    services.retire_product(hq, product)
    assert not product.is_active
    services.reactivate_product(hq, product)
    assert product.is_active


def test_update_product_creates_a_new_category_when_needed(app):
    product = make_product()
    services.update_product(
        actor_for("hq@demo.test"),
        product,
        name="Better tee",
        category_code="basics",
        season="2025FW",
        msrp_cents=24900,
    )
    assert (product.name, product.category.code, product.msrp_cents) == (
        "Better tee",
        "BASICS",
        24900,
    )
    codes = [c.code for c in queries.list_categories(org("ACME").id)]
    assert {"BASICS", "TOPS"} <= set(codes) and codes == sorted(codes)


@pytest.mark.parametrize(("data", "ext"), [(PNG, "png"), (JPEG, "jpg"), (WEBP, "webp")])
def test_image_is_stored_under_instance_by_its_sniffed_type(app, instance_dir, data, ext):
    product = make_product()
    services.set_product_image(actor_for("hq@demo.test"), product, "photo.bin", data)
    expected = Path(instance_dir) / "catalog-images" / str(product.brand_id) / f"{product.id}.{ext}"
    assert expected.read_bytes() == data
    assert product.image_path == f"catalog-images/{product.brand_id}/{product.id}.{ext}"


def test_replacing_an_image_of_another_type_removes_the_old_file(app, instance_dir):
    product = make_product()
    hq = actor_for("hq@demo.test")
    services.set_product_image(hq, product, "a.png", PNG)
    old = services.image_file(product)
    services.set_product_image(hq, product, "b.jpg", JPEG)
    assert not old.exists() and services.image_file(product).suffix == ".jpg"


@pytest.mark.parametrize(
    "data",
    [
        b"GIF89a" + b"\x00" * 20,
        b"<svg xmlns='http://www.w3.org/2000/svg'></svg>",
        b"",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * (5 * 1024 * 1024),
    ],
)
def test_anything_but_a_small_png_jpeg_or_webp_is_refused(app, data):
    product = make_product()
    with pytest.raises(ImageRejected) as caught:
        services.set_product_image(actor_for("hq@demo.test"), product, "x.png", data)
    assert "image" in caught.value.fields
    assert product.image_path is None


def test_variant_grid_orders_letter_and_numeric_sizes(app):
    product = make_product(colors=["Navy", "Sand"], sizes="XL, S, XXL, M, XS, L")
    grid = queries.variant_grid(product)
    assert grid.colors == ["Navy", "Sand"]
    assert grid.sizes == ["XS", "S", "M", "L", "XL", "XXL"]
    assert grid.rows[0][1][0].sku == "ZT-1-NAVY-XS"
    shoes = make_product("ZS-1", sizes=["42", "38.5", "40", "39"], colors=["Black"])
    assert queries.variant_grid(shoes).sizes == ["38.5", "39", "40", "42"]
    odd = make_product("ZH-1", sizes=["One", "Kids"], colors=["Red"])
    assert queries.variant_grid(odd).sizes == ["One", "Kids"]


def test_list_products_searches_and_filters(app):
    make_product("ZT-1", name="Zephyr tee", season="2031SS")
    make_product("ZJ-1", name="Zephyr jacket", category_code="ZOUTER", season="2031FW")
    retired = make_product(
        "ZJ-2", name="Zephyr old jacket", category_code="ZOUTER", season="2030FW"
    )
    hq = actor_for("hq@demo.test")
    services.retire_product(hq, retired)
    acme = org("ACME").id

    def codes(**filters):
        return [p.code for p in queries.list_products(hq, acme, **filters).items]

    assert codes(q="zephyr") == ["ZJ-1", "ZJ-2", "ZT-1"]
    assert codes(q="zephyr jacket") == ["ZJ-1"]
    assert codes(q="zt-") == ["ZT-1"]
    assert codes(category="zouter") == ["ZJ-1", "ZJ-2"]
    assert codes(season="2031FW") == ["ZJ-1"]
    assert codes(q="zephyr", status="retired") == ["ZJ-2"]
    assert queries.list_seasons(acme)[:3] == ["2031SS", "2031FW", "2030FW"]
    page = queries.list_products(hq, acme, q="zephyr", page=2, per_page=2)
    assert (page.total, [p.code for p in page.items]) == (3, ["ZT-1"])
    with pytest.raises(NotFound):
        queries.list_products(actor_for("hq2@demo.test"), acme)
    assert db.session.execute(select(Category).where(Category.code == "ZOUTER")).first()
