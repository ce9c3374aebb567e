"""Bulk import: every format read, every bad row named by row and column, and a file applied
whole or not at all; the same file twice changes nothing."""

from __future__ import annotations

import io
from datetime import date, datetime

import openpyxl
import pytest
from sqlalchemy import func, select

from portal.catalog import importer, services
from portal.catalog.errors import ImportFileRejected, ImportNotReady
from portal.catalog.models import Category, ImportStatus, Product, Variant
from portal.core.jobs import JobRun, JobStatus
from portal.extensions import db
from tests.catalog.support import confirm, csv_bytes, make_product, upload
from tests.support.services import actor_for, org

GOOD = [
    "ZT-100,Zephyr tee,TOPS,2031SS,2031-03-01,199.00,ZT-100-BLK-S,Black,S,6900000000011,3",
    "ZT-100,Zephyr tee,TOPS,2031SS,2031-03-01,199.00,ZT-100-BLK-M,Black,M,6900000000012,3",
    "ZP-200,Zephyr pants,ZNEWCAT,2031SS,,299.50,ZP-200-IND-30,Indigo,30,,",
]


@pytest.fixture(autouse=True)
def tops(app):
    """The rows use category TOPS: it exists, whatever the demo seed holds."""
    return services.get_or_create_category(actor_for("hq@demo.test"), org("ACME").id, "TOPS")


def product(code: str) -> Product | None:
    return db.session.execute(
        select(Product).where(Product.brand_id == org("ACME").id, Product.code == code)
    ).scalar_one_or_none()


def errors_of(imp) -> list[tuple[int, str]]:
    return [(e["row"], e["column"]) for e in imp.errors]


def test_utf8_csv_with_bom_is_checked_previewed_and_applied(app):
    imp = upload(csv_bytes(GOOD, bom=True))
    assert imp.status == ImportStatus.READY, imp.errors
    assert imp.total_rows == 3 and imp.error_count == 0
    assert imp.summary["products_new"] == 2 and imp.summary["variants_new"] == 3
    assert imp.summary["new_categories"] == ["ZNEWCAT"], imp.summary
    assert imp.summary["categories_new"] == 1
    assert product("ZT-100") is None  # nothing before confirmation
    imp = confirm(imp)
    assert imp.status == ImportStatus.APPLIED and imp.applied_at is not None
    tee = product("ZT-100")
    assert (tee.name, tee.msrp_cents, tee.launch_date, tee.season) == (
        "Zephyr tee",
        19900,
        date(2031, 3, 1),
        "2031SS",
    )
    assert tee.category.code == "TOPS" and tee.currency == "CNY" and tee.is_active
    assert sorted((v.sku, v.barcode, v.case_pack) for v in tee.variants) == [
        ("ZT-100-BLK-M", "6900000000012", 3),
        ("ZT-100-BLK-S", "6900000000011", 3),
    ]
    pants = product("ZP-200")
    assert pants.category.code == "ZNEWCAT" and pants.launch_date is None
    assert pants.msrp_cents == 29950 and pants.variants[0].case_pack == 1


def test_gbk_tab_separated_csv_from_chinese_excel(app):
    rows = [
        "ZG-1,经典圆领T恤,TOPS,2031SS,2031-04-01,129,ZG-1-黑-M,黑色,M,,2",
        "ZG-1,经典圆领T恤,TOPS,2031SS,2031-04-01,129,ZG-1-白-M,白色,M,,2",
    ]
    data = csv_bytes(rows, encoding="gbk", sep="\t")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    imp = confirm(upload(data, "目录.csv"))
    assert imp.status == ImportStatus.APPLIED, imp.errors
    shirt = product("ZG-1")
    assert shirt.name == "经典圆领T恤"
    assert sorted(v.color for v in shirt.variants) == ["白色", "黑色"]


def xlsx_bytes(rows: list[list]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(importer.COLUMNS))
    for row in rows:
        sheet.append(row)
    book.create_sheet("notes").append(["ignored"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_with_numbers_and_dates_as_excel_stores_them(app):
    data = xlsx_bytes(
        [
            ["ZX-1", "Zephyr sock", "ACCESSORIES", "2031SS", datetime(2031, 5, 2), 39.9]
            + ["ZX-1-GRY-40", "Grey", 40, 6900000000099, 12],
            ["ZX-1", "Zephyr sock", "ACCESSORIES", "2031SS", datetime(2031, 5, 2), 39.9]
            + ["ZX-1-GRY-42", "Grey", 42, None, None],
        ]
    )
    imp = confirm(upload(data, "catalog.xlsx"))
    assert imp.status == ImportStatus.APPLIED, imp.errors
    sock = product("ZX-1")
    assert (sock.msrp_cents, sock.launch_date) == (3990, date(2031, 5, 2))
    by_sku = {v.sku: v for v in sock.variants}
    assert by_sku["ZX-1-GRY-40"].size == "40"
    assert by_sku["ZX-1-GRY-40"].barcode == "6900000000099"
    assert by_sku["ZX-1-GRY-42"].case_pack == 1


def test_each_bad_row_is_named_by_spreadsheet_row_and_column(app):
    make_product("ZE-9", colors=["Black"], sizes=["M"])
    rows = [
        "ZE-1,,TOPS,2031SS,,100,ZE-1-A,A,M,,1",  # row 2: no name
        "ZE-2,Two,TOPS,2031SS,,abc,ZE-2-A,A,M,,1",  # row 3: msrp not a number
        "ZE-3,Three,TOPS,2031SS,,-5,ZE-3-A,A,M,,1",  # row 4: negative msrp
        "ZE-4,Four,TOPS,2031SS,03/01/2031,100,ZE-4-A,A,M,,1",  # row 5: date format
        "ZE-5,Five,TOPS,2031SS,,100,ZE-5-A,A,M,,0",  # row 6: case pack < 1
        "ZE-6,Six,TOPS,2031SS,,100,ZE-6-A,A,M,,1",  # row 7: fine
        "ZE-6,Six,TOPS,2031SS,,100,ZE-6-A,A,L,,1",  # row 8: same SKU as row 7
        "ZE-6,Sixx,TOPS,2031SS,,100,ZE-6-B,B,M,,1",  # row 9: conflicting name
        "ZE-7,Seven,TOPS,2031SS,,100,ZE-9-BLACK-M,A,M,,1",  # row 10: SKU of ZE-9
        "",  # row 11: blank, skipped
        "ZE-8,Eight,TOPS,2031SS,,100,ZE-8-A,A,M,,1.5",  # row 12: case pack not whole
    ]
    imp = upload(csv_bytes(rows))
    assert imp.status == ImportStatus.INVALID
    assert errors_of(imp) == [
        (2, "product_name"),
        (3, "msrp"),
        (4, "msrp"),
        (5, "launch_date"),
        (6, "case_pack"),
        (8, "sku"),
        (9, "product_name"),
        (10, "sku"),
        (12, "case_pack"),
    ]
    assert imp.error_count == 9 and imp.total_rows == 10
    assert "row 7" in imp.errors[5]["reason"] and "ZE-9" in imp.errors[7]["reason"]
    with pytest.raises(ImportNotReady):
        services.confirm_import(actor_for("hq@demo.test"), imp)


def test_header_problems_are_row_one(app):
    data = b"product_code,name,category,msrp,sku,color,size,weight\r\nA,B,C,1,D,E,F,G\r\n"
    imp = upload(data)
    assert imp.status == ImportStatus.INVALID
    assert sorted(errors_of(imp)) == [(1, "name"), (1, "product_name"), (1, "weight")]
    assert {e["reason"] for e in imp.errors} == {"Unknown column.", "Required column is missing."}


def test_chinese_headers_are_understood(app):
    header = "款号,商品名称,品类,季节,上市日期,吊牌价,sku,颜色,尺码,条码,箱规"
    data = (header + "\r\nZC-1,外套,OUTERWEAR,2031AW,,899,ZC-1-B-L,黑,L,,1\r\n").encode("gbk")
    imp = upload(data)
    assert imp.status == ImportStatus.READY, imp.errors


def test_unreadable_and_empty_files_are_refused_not_stuck(app):
    imp = upload(b"\x00\x01\x02 not a workbook", "catalog.xlsx")
    assert imp.status == ImportStatus.FAILED
    assert "not a valid XLSX file" in imp.summary["failure"]
    imp = upload(csv_bytes([]))
    assert imp.status == ImportStatus.INVALID and errors_of(imp) == [(2, "")]
    with pytest.raises(ImportFileRejected):
        upload(b"a,b", "catalog.pdf")


def test_a_file_with_one_bad_row_applies_nothing(app):
    rows = [*GOOD, "ZT-101,Zephyr tee 2,TOPS,2031SS,2031-13-45,199,ZT-101-BLK-S,Black,S,,1"]
    imp = upload(csv_bytes(rows))
    assert imp.status == ImportStatus.INVALID and errors_of(imp) == [(5, "launch_date")]
    with pytest.raises(ImportNotReady):
        services.confirm_import(actor_for("hq@demo.test"), imp)
    assert product("ZT-100") is None and product("ZP-200") is None
    assert not db.session.execute(select(Category).where(Category.code == "ZNEWCAT")).first()


def test_a_failure_while_writing_rolls_back_everything(app, monkeypatch):
    original = importer.apply_plan

    def fails_after_writing(*args, **kwargs):
        original(*args, **kwargs)
        raise RuntimeError("disk full")

    monkeypatch.setattr(importer, "apply_plan", fails_after_writing)
    imp = confirm(upload(csv_bytes(GOOD)))
    assert imp.status == ImportStatus.FAILED
    assert "disk full" in imp.summary["failure"]
    assert product("ZT-100") is None
    assert not db.session.execute(select(Category).where(Category.code == "ZNEWCAT")).first()


def test_reimporting_the_same_file_changes_nothing(app):
    data = csv_bytes(GOOD)
    confirm(upload(data))
    stamps = db.session.execute(
        select(Variant.sku, Variant.updated_at, Product.updated_at)
        .join(Product, Product.id == Variant.product_id)
        .where(Product.code.in_(["ZT-100", "ZP-200"]))
    ).all()
    imp = upload(data)
    assert imp.status == ImportStatus.READY, imp.errors
    assert imp.summary == {
        "products_new": 0,
        "products_changed": 0,
        "products_unchanged": 2,
        "variants_new": 0,
        "variants_changed": 0,
        "unchanged": 3,
        "categories_new": 0,
        "new_categories": [],
    }
    imp = confirm(imp)
    assert imp.status == ImportStatus.APPLIED
    db.session.expire_all()
    again = db.session.execute(
        select(Variant.sku, Variant.updated_at, Product.updated_at)
        .join(Product, Product.id == Variant.product_id)
        .where(Product.code.in_(["ZT-100", "ZP-200"]))
    ).all()
    assert sorted(again) == sorted(stamps)


def test_changed_rows_update_only_what_changed(app):
    confirm(upload(csv_bytes(GOOD)))
    changed = [
        GOOD[0].replace("199.00", "209.00").replace("6900000000011", "6900000000077"),
        GOOD[1].replace("199.00", "209.00"),
        "ZP-200,Zephyr pants,ZNEWCAT,2031SS,,299.50,ZP-200-IND-32,Indigo,32,,",  # a new SKU
    ]
    imp = upload(csv_bytes(changed))
    summary = imp.summary
    assert (summary["products_changed"], summary["products_unchanged"]) == (1, 1)
    assert (summary["variants_changed"], summary["variants_new"], summary["unchanged"]) == (1, 1, 1)
    confirm(imp)
    tee = product("ZT-100")
    assert tee.msrp_cents == 20900
    assert {v.sku: v.barcode for v in tee.variants}["ZT-100-BLK-S"] == "6900000000077"
    assert len(product("ZP-200").variants) == 2


def test_leaving_out_optional_columns_keeps_those_fields(app):
    confirm(upload(csv_bytes(GOOD)))
    header = "product_code,product_name,category,msrp,sku,color,size"
    data = (header + "\r\nZT-100,Zephyr tee,TOPS,199,ZT-100-BLK-S,Black,S\r\n").encode()
    imp = upload(data)
    assert imp.summary["unchanged"] == 1 and imp.summary["products_changed"] == 0


def test_a_sku_cannot_move_to_another_color_or_size(app):
    confirm(upload(csv_bytes(GOOD)))
    imp = upload(csv_bytes([GOOD[0].replace(",Black,S,", ",Black,XL,")]))
    assert errors_of(imp) == [(2, "color")]


def test_validation_runs_as_a_job_that_reports_progress(app, monkeypatch):
    monkeypatch.setattr(importer, "PROGRESS_EVERY", 1)
    imp = upload(csv_bytes(GOOD))
    run = db.session.get(JobRun, imp.job_id)
    assert run.status == JobStatus.FINISHED and run.progress == 100
    assert run.result == {"status": "ready", "rows": 3, "errors": 0}
    assert run.brand_id == org("ACME").id


def test_stored_error_list_is_capped_but_counted_in_full(app, monkeypatch):
    monkeypatch.setattr(importer, "MAX_STORED_ERRORS", 5)
    rows = [f"ZB-{i},Name,TOPS,,,-1,ZB-{i}-A,A,M,,1" for i in range(12)]
    imp = upload(csv_bytes(rows))
    assert imp.error_count == 12 and len(imp.errors) == 5


def test_many_rows_are_written_in_batches(app, monkeypatch):
    monkeypatch.setattr(importer, "BATCH", 7)
    rows = [
        f"ZM-{p},Bulk {p},TOPS,2031SS,,100,ZM-{p}-{c}-{s},C{c},{s},,1"
        for p in range(10)
        for c in range(3)
        for s in ("S", "M", "L")
    ]
    imp = confirm(upload(csv_bytes(rows)))
    assert imp.status == ImportStatus.APPLIED
    count = db.session.execute(
        select(func.count()).select_from(Variant).where(Variant.sku.like("ZM-%"))
    ).scalar_one()
    assert count == 90


def test_templates_are_themselves_valid_files(app):
    assert importer.template_csv().startswith(b"\xef\xbb\xbf")
    assert upload(importer.template_csv()).status == ImportStatus.READY
    assert upload(importer.template_xlsx(), "template.xlsx").status == ImportStatus.READY


def test_errors_download_as_xlsx(app):
    errors = [{"row": 3, "column": "msrp", "reason": "Cannot be negative."}]
    book = openpyxl.load_workbook(io.BytesIO(importer.errors_xlsx(errors)), read_only=True)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    book.close()
    assert rows == [("row", "column", "reason"), (3, "msrp", "Cannot be negative.")]
