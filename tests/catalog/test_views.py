"""HQ catalog pages: status codes, redirects and what the pages show."""

from __future__ import annotations

import io

import openpyxl
import pytest
from sqlalchemy import select

from portal.catalog.models import CatalogImport, ImportStatus, Product
from portal.extensions import db
from tests.catalog.support import csv_bytes, make_product
from tests.catalog.test_services import PNG
from tests.support.services import org

NEW_PRODUCT = {
    "code": "zv-1",
    "name": "Zephyr view tee",
    "category_code": "TOPS",
    "season": "2031SS",
    "launch_date": "2031-03-01",
    "msrp": "199.00",
    "colors": "Black, White",
    "sizes": "M, S, L",
    "case_pack": "3",
    "description": "",
}


def test_hq_creates_a_product_and_sees_its_grid(app, login):
    client = login("hq@demo.test")
    assert client.get("/catalog/products/new").status_code == 200
    response = client.post("/catalog/products/new", data=NEW_PRODUCT)
    assert response.status_code == 302
    product = db.session.execute(select(Product).where(Product.code == "ZV-1")).scalar_one()
    assert response.headers["Location"].endswith(f"/catalog/products/{product.id}")
    page = client.get(f"/catalog/products/{product.id}").get_data(as_text=True)
    assert "ZV-1-WHITE-L" in page and "Zephyr view tee" in page
    # Sizes in wearing order, not as typed.
    assert page.index(">S</th>") < page.index(">M</th>") < page.index(">L</th>")
    listing = client.get("/catalog/products?q=zephyr+view").get_data(as_text=True)
    assert "ZV-1" in listing and 'class="table-scroll"' in listing


def test_create_form_shows_field_errors(app, login):
    client = login("hq@demo.test")
    make_product("ZV-2")
    response = client.post("/catalog/products/new", data={**NEW_PRODUCT, "code": "ZV-2"})
    assert response.status_code == 422
    assert "already a product" in response.get_data(as_text=True)


def test_product_list_filters_and_paginates(app, login):
    for i in range(3):
        make_product(f"ZP-{i}", name=f"Zephyr page {i}", season="2031FW")
    client = login("merch@demo.test")
    page = client.get("/catalog/products?q=zephyr+page&per_page=2&season=2031FW")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "ZP-0" in body and "ZP-2" not in body
    assert "Page 1 of 2" in body
    assert client.get("/catalog/products?category=nope").status_code == 200


def test_edit_add_skus_and_barcodes(app, login):
    product = make_product("ZV-3", colors=["Black"], sizes=["M"])
    client = login("hq@demo.test")
    assert client.get(f"/catalog/products/{product.id}/edit").status_code == 200
    response = client.post(
        f"/catalog/products/{product.id}/edit",
        data={"name": "Renamed", "category_code": "TOPS", "season": "", "msrp": "10.50"},
    )
    assert response.status_code == 302
    response = client.post(
        f"/catalog/products/{product.id}/variants",
        data={"colors": "Red", "sizes": "", "case_pack": "1"},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert (product.name, product.msrp_cents, len(product.variants)) == ("Renamed", 1050, 2)
    variant = product.variants[0]
    response = client.post(
        f"/catalog/products/{product.id}/skus",
        data={f"barcode-{variant.id}": "690123", f"case_pack-{variant.id}": "6"},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert (variant.barcode, variant.case_pack) == ("690123", 6)
    response = client.post(
        f"/catalog/products/{product.id}/skus", data={f"case_pack-{variant.id}": "0"}
    )
    assert response.status_code == 422


def test_image_upload_is_served_back_and_bad_files_refused(app, login):
    product = make_product("ZV-4")
    client = login("hq@demo.test")
    url = f"/catalog/products/{product.id}/image"
    assert client.get(url).status_code == 404
    response = client.post(
        url, data={"image": (io.BytesIO(PNG), "p.png")}, content_type="multipart/form-data"
    )
    assert response.status_code == 302
    image = client.get(url)
    assert image.status_code == 200 and image.mimetype == "image/png" and image.data == PNG
    response = client.post(
        url, data={"image": (io.BytesIO(b"<svg/>"), "x.png")}, content_type="multipart/form-data"
    )
    assert response.status_code == 422 and "PNG, JPEG or WebP" in response.get_data(as_text=True)


def test_retire_and_reactivate_buttons(app, login):
    product = make_product("ZV-5")
    client = login("hq@demo.test")
    assert client.post(f"/catalog/products/{product.id}/retire").status_code == 302
    db.session.expire_all()
    assert not product.is_active
    assert "Reactivate" in client.get(f"/catalog/products/{product.id}").get_data(as_text=True)
    client.post(f"/catalog/products/{product.id}/reactivate")
    db.session.expire_all()
    assert product.is_active


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("GET", "/edit"), ("GET", "/image"), ("POST", "/retire"), ("POST", "/skus")],
)
def test_another_brands_hq_gets_not_found_on_a_product(app, login, method, suffix):
    product = make_product("ZV-6")
    client = login("hq2@demo.test")
    response = client.open(f"/catalog/products/{product.id}{suffix}", method=method)
    assert response.status_code == 404
    db.session.expire_all()
    assert product.is_active


@pytest.mark.parametrize("url", ["/catalog/products", "/catalog/products/new", "/catalog/imports"])
def test_a_distributor_is_forbidden_the_hq_catalog(app, login, url):
    assert login("dist1@demo.test").get(url).status_code == 403


def test_upload_check_confirm_and_apply_through_the_pages(app, login):
    client = login("hq@demo.test")
    rows = ["ZW-1,Zephyr web,TOPS,2031SS,,99,ZW-1-A-M,A,M,,1"]
    response = client.post(
        "/catalog/imports",
        data={"file": (io.BytesIO(csv_bytes(rows)), "web.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    imp = (
        db.session.execute(select(CatalogImport).order_by(CatalogImport.id.desc()))
        .scalars()
        .first()
    )
    page = client.get(f"/catalog/imports/{imp.id}").get_data(as_text=True)
    assert "ready" in page and "Confirm and apply" in page
    assert client.post(f"/catalog/imports/{imp.id}/confirm").status_code == 302
    db.session.expire_all()
    assert imp.status == ImportStatus.APPLIED
    assert "web.csv" in client.get("/catalog/imports").get_data(as_text=True)
    # Confirming twice does nothing more.
    client.post(f"/catalog/imports/{imp.id}/confirm")
    db.session.expire_all()
    assert imp.status == ImportStatus.APPLIED


def test_invalid_upload_lists_errors_and_offers_them_as_xlsx(app, login):
    client = login("merch@demo.test")
    rows = ["ZW-2,,TOPS,2031SS,,99,ZW-2-A-M,A,M,,1"]
    client.post(
        "/catalog/imports",
        data={"file": (io.BytesIO(csv_bytes(rows)), "bad.csv")},
        content_type="multipart/form-data",
    )
    imp = (
        db.session.execute(select(CatalogImport).order_by(CatalogImport.id.desc()))
        .scalars()
        .first()
    )
    page = client.get(f"/catalog/imports/{imp.id}").get_data(as_text=True)
    assert "product_name" in page and "Confirm" not in page
    download = client.get(f"/catalog/imports/{imp.id}/errors.xlsx")
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(download.data), read_only=True)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    book.close()
    assert rows[1][:2] == (2, "product_name")
    assert client.post(f"/catalog/imports/{imp.id}/confirm").status_code == 302
    client.post("/logout")
    assert login("hq2@demo.test").get(f"/catalog/imports/{imp.id}").status_code == 404


def test_import_page_polls_while_the_job_runs(app, login):
    imp = CatalogImport(
        brand_id=org("ACME").id,
        filename="slow.csv",
        stored_path="imports/x.csv",
        sha256="0" * 64,
        status=ImportStatus.VALIDATING,
    )
    db.session.add(imp)
    db.session.flush()
    page = login("hq@demo.test").get(f"/catalog/imports/{imp.id}").get_data(as_text=True)
    assert 'hx-trigger="every 2s"' in page and "<progress" in page


def test_templates_download(app, login):
    client = login("hq@demo.test")
    csv_response = client.get("/catalog/imports/template.csv")
    assert csv_response.status_code == 200 and b"product_code" in csv_response.data
    xlsx = client.get("/catalog/imports/template.xlsx")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
