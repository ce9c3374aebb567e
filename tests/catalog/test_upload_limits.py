"""Hostile catalog files uploaded through HQ's import page: each import fails its check with the
limit the file breaks, the page says so, and nothing reaches the catalog."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.catalog.models import CatalogImport, ImportStatus, Product, Variant
from portal.extensions import db
from tests.catalog.support import HEADER
from tests.support import spreadsheets as hostile

COLUMNS = HEADER.split(",")
ROW = "ZH-1,Hostile tee,TOPS,2031SS,,99,ZH-1-A-M,A,M,,1"
ROWS: list[list[str | int]] = [COLUMNS, ROW.split(",")]


def catalog_size() -> tuple[int, int]:
    return (
        db.session.execute(select(func.count(Product.id))).scalar_one(),
        db.session.execute(select(func.count(Variant.id))).scalar_one(),
    )


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        pytest.param(
            lambda: hostile.dimension_bomb(ROWS),
            "catalog.xlsx",
            "The sheet declares 1,048,576 rows; at most 100,000 rows below the header are "
            "accepted (UPLOAD_MAX_ROWS).",
            id="dimension-bomb",
        ),
        pytest.param(
            lambda: hostile.zip_bomb(300),
            "catalog.xlsx",
            "to 1 is accepted (UPLOAD_MAX_COMPRESSION_RATIO).",
            id="zip-bomb",
        ),
        pytest.param(
            lambda: hostile.empty_lines_csv(HEADER, 3_000_000),
            "catalog.csv",
            "The file has more than 100,000 rows below its header, the most accepted "
            "(UPLOAD_MAX_ROWS).",
            id="millions-of-empty-lines",
        ),
        pytest.param(
            lambda: hostile.long_cell_csv(HEADER, ROW),
            "catalog.csv",
            "Row 3, column B: the cell holds 500,000 characters; at most 32,767 are accepted "
            "(UPLOAD_MAX_CELL_CHARS).",
            id="500000-character-cell",
        ),
        pytest.param(
            lambda: hostile.GARBAGE, "catalog.xlsx", "not a valid XLSX file", id="garbage"
        ),
    ],
)
def test_a_hostile_catalog_file_fails_its_import_naming_the_limit(
    app, login, monkeypatch, data, name, message
):
    monkeypatch.setitem(app.config, "UPLOAD_MAX_ROWS", 100_000)  # millions of rows stay quick
    before = catalog_size()
    client = login("hq@demo.test")
    response = client.post("/catalog/imports", **hostile.multipart(name, data()))
    assert response.status_code == 302
    imp = db.session.execute(
        select(CatalogImport).order_by(CatalogImport.id.desc()).limit(1)
    ).scalar_one()
    assert imp.status == ImportStatus.FAILED  # checked in its job, inline after the commit
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "failed" in page and message in page
    assert "Confirm and apply" not in page
    assert client.post(f"/catalog/imports/{imp.id}/confirm").status_code == 302
    db.session.expire_all()
    assert imp.status == ImportStatus.FAILED
    assert catalog_size() == before


def test_a_file_past_the_byte_limit_is_refused_on_the_form(app, login, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_MAX_BYTES", 1024)
    client = login("hq@demo.test")
    response = client.post(
        "/catalog/imports",
        **hostile.multipart("catalog.csv", hostile.empty_lines_csv(HEADER, 2000)),
    )
    assert response.status_code in (200, 422)
    assert "The file is larger than 1 KB, the most accepted (UPLOAD_MAX_BYTES)." in (
        response.get_data(as_text=True)
    )
