"""Stock upload: a store's or distributor's levels set from another system's file. Every format
read, every bad row named by row and column, a file applied whole or not at all (also when orders
take stock between the check and the apply), the same file twice changes nothing, and only the
org holding a location uploads to it."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import openpyxl
import pytest
from sqlalchemy import func, select

from portal.catalog.models import Variant
from portal.core import jobs
from portal.core.access import Actor, Role
from portal.core.audit import AuditEvent
from portal.core.db import writing
from portal.core.errors import NotFound, PermissionDenied
from portal.core.jobs import JobRun, JobStatus
from portal.extensions import db
from portal.inventory import jobs as inventory_jobs
from portal.inventory import queries, services, upload
from portal.inventory.errors import StockUploadNotReady, StockUploadRejected
from portal.inventory.models import (
    Grade,
    Location,
    LocationKind,
    MoveReason,
    StockLevel,
    StockUpload,
    UploadStatus,
)
from portal.inventory.services import MAX_QUANTITY, MoveLine, apply_moves, check_ledger
from portal.network.models import Organization
from tests.conftest import need
from tests.inventory.conftest import Stock
from tests.inventory.test_concurrency import Race, build_race
from tests.support.policy import hq_actor
from tests.support.services import fresh_postgres_database

TEE = "TEE-BLK-M"
TEE_L = "TEE-BLK-L"
POLO = "POLO-WHT-M"
RUN = "RUN-BLK-42"
TOTE = "TOTE-RED-OS"


@pytest.fixture(autouse=True)
def instance_dir(request, tmp_path, monkeypatch):
    """Uploaded files go to a per-test directory, never the real instance/."""
    if "app" in request.fixturenames:
        monkeypatch.setattr(request.getfixturevalue("app"), "instance_path", str(tmp_path))
    return tmp_path


def csv_bytes(
    rows: list[str],
    *,
    header: str = "sku,grade,on_hand",
    encoding: str = "utf-8",
    bom: bool = False,
    sep: str = ",",
) -> bytes:
    text = "\r\n".join([header.replace(",", sep), *(r.replace(",", sep) for r in rows)]) + "\r\n"
    data = text.encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def xlsx_bytes(rows: list[list], header: tuple[str, ...] = ("SKU", "Grade", "On Hand")) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(header))
    for row in rows:
        sheet.append(row)
    book.create_sheet("notes").append(["ignored"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def send(actor: Actor, location: Location, data: bytes, filename: str = "stock.csv") -> StockUpload:
    """Upload and run the validation job inline; returns the checked upload."""
    upload_id = services.start_stock_upload(actor, location, filename, data).id
    jobs.commit()
    db.session.expire_all()
    return queries.get_stock_upload(actor, upload_id)


def confirm(actor: Actor, stock_upload: StockUpload) -> StockUpload:
    upload_id = stock_upload.id
    services.confirm_stock_upload(actor, stock_upload)
    jobs.commit()
    db.session.expire_all()
    return queries.get_stock_upload(actor, upload_id)


def errors_of(stock_upload: StockUpload) -> list[tuple[int, str]]:
    return [(e["row"], e["column"]) for e in stock_upload.errors]


def reserve(stock: Stock, location: Location, sku: str, qty: int, grade: str = Grade.A) -> None:
    apply_moves(
        Actor.system(),
        [MoveLine(location.id, stock.variant(sku).id, reserved_delta=qty, grade=grade)],
        reason=MoveReason.RESERVE,
        reference="PO-1",
    )


@pytest.fixture
def a1(stock: Stock) -> Actor:
    """The distributor admin of PXA1, whose warehouse has some stock already."""
    stock.receive(stock.a1_wh, TEE, 10)
    stock.receive(stock.a1_wh, POLO, 5)
    stock.receive(stock.a1_wh, TEE, 2, grade=Grade.B)
    db.session.commit()
    return stock.admin("A1")


# -- formats -------------------------------------------------------------------------------------


def test_a_csv_sets_levels_as_a_count_would_once_confirmed(stock, a1):
    data = csv_bytes([f"{TEE},A,7", f"{POLO},A,5", f"{TEE_L},,3", f"{TEE},B,0"])
    checked = send(a1, stock.a1_wh, data)
    assert checked.status == UploadStatus.READY, checked.errors
    assert (checked.total_rows, checked.error_count) == (4, 0)
    assert checked.summary == {
        "rows_changed": 3,
        "rows_unchanged": 1,
        "units_added": 3,
        "units_removed": 5,
    }
    assert stock.level(stock.a1_wh, TEE) == (10, 0)  # nothing before confirmation
    assert stock.level(stock.a1_wh, TEE_L) is None

    applied = confirm(a1, checked)
    assert applied.status == UploadStatus.APPLIED and applied.applied_at is not None
    assert applied.summary == checked.summary
    assert stock.level(stock.a1_wh, TEE) == (7, 0)
    assert stock.level(stock.a1_wh, POLO) == (5, 0)
    assert stock.level(stock.a1_wh, TEE_L) == (3, 0)
    assert stock.level(stock.a1_wh, TEE, Grade.B) == (0, 0)
    moves = [m for m in stock.moves(stock.a1_wh) if m.reason == MoveReason.UPLOAD]
    assert sorted((m.variant.sku, m.grade, m.on_hand_delta) for m in moves) == [
        (TEE_L, "A", 3),
        (TEE, "A", -3),
        (TEE, "B", -2),
    ]
    assert {m.reference for m in moves} == {f"upload:{applied.id}"}
    assert {m.actor_org_id for m in moves} == {stock.net.org_id("A1")}
    event = db.session.execute(
        select(AuditEvent).where(AuditEvent.action == "stock.uploaded")
    ).scalar_one()
    assert event.org_id == stock.net.org_id("A1")
    assert event.details["upload_id"] == applied.id and event.details["rows_changed"] == 3
    assert check_ledger() == []


def test_xlsx_with_numbers_as_excel_stores_them_and_headers_in_any_case(stock, a1):
    data = xlsx_bytes(
        [[TEE, "a", 12.0, "ignored"], [RUN, None, 6, None], [None, None, None, None]],
        header=("SKU", "Grade", "On Hand", "Colour"),
    )
    applied = confirm(a1, send(a1, stock.a1_wh, data, "stock.xlsx"))
    assert applied.status == UploadStatus.APPLIED, applied.errors
    assert applied.total_rows == 2  # the blank row is not a row
    assert stock.level(stock.a1_wh, TEE) == (12, 0)
    assert stock.level(stock.a1_wh, RUN) == (6, 0)


def test_gbk_tab_separated_csv_from_chinese_excel(stock, a1):
    data = csv_bytes(
        [f"{TEE},A,4,黑色T恤", f"{TOTE},A,9,红色托特包"],
        header="sku,grade,on_hand,备注",
        encoding="gbk",
        sep="\t",
    )
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    applied = confirm(a1, send(a1, stock.a1_wh, data, "库存.csv"))
    assert applied.status == UploadStatus.APPLIED, applied.errors
    assert applied.filename == "库存.csv"
    assert stock.level(stock.a1_wh, TEE) == (4, 0)
    assert stock.level(stock.a1_wh, TOTE) == (9, 0)


def test_utf8_with_bom_and_a_location_column(stock, a1):
    back = Location(
        org_id=stock.net.org_id("A1"),
        code="PXA1-BACK",
        name="Back room",
        kind=LocationKind.WAREHOUSE,
        is_default=False,
    )
    db.session.add(back)
    db.session.commit()
    data = csv_bytes(
        [f"{TEE},A,8,pxa1-back", f"{TEE},A,9,", f"{POLO},A,1,PXA1-WH"],
        header="SKU,Grade,on_hand,Location",
        bom=True,
    )
    applied = confirm(a1, send(a1, stock.a1_wh, data))
    assert applied.status == UploadStatus.APPLIED, applied.errors
    assert stock.level(back, TEE) == (8, 0)
    assert stock.level(stock.a1_wh, TEE) == (9, 0)
    assert stock.level(stock.a1_wh, POLO) == (1, 0)


# -- errors --------------------------------------------------------------------------------------


def test_each_bad_row_is_named_by_spreadsheet_row_and_column(stock, a1):
    reserve(stock, stock.a1_wh, POLO, 4)
    db.session.commit()
    rows = [
        f"{TEE},A,5,",  # row 2: fine
        "NOPE-1,A,5,",  # row 3: unknown SKU
        "ACME-HOD-001-BLK-M,A,5,",  # row 4: a SKU of a brand PXA1 does not carry
        f"{TEE_L},A,-3,",  # row 5: negative
        f"{TEE_L},A,1.5,",  # row 6: not whole
        f"{TEE_L},A,,",  # row 7: missing
        f"{TEE_L},A,{MAX_QUANTITY + 1},",  # row 8: too large
        f"{TEE_L},C,1,",  # row 9: bad grade
        f"{TEE_L},A,1,PXS1-ST",  # row 10: the store's shelf below, not PXA1's own
        f"{TEE_L},A,1,NOWHERE",  # row 11: no such location
        f"{TEE},a,6,",  # row 12: same SKU and grade as row 2
        f"{POLO},A,3,",  # row 13: orders hold 4
        ",A,3,",  # row 14: no SKU
        "",  # row 15: blank, skipped
        f"{POLO},B,abc,",  # row 16: not a number
    ]
    checked = send(a1, stock.a1_wh, csv_bytes(rows, header="sku,grade,on_hand,location"))
    assert checked.status == UploadStatus.INVALID
    assert errors_of(checked) == [
        (3, "sku"),
        (4, "sku"),
        (5, "on_hand"),
        (6, "on_hand"),
        (7, "on_hand"),
        (8, "on_hand"),
        (9, "grade"),
        (10, "location"),
        (11, "location"),
        (12, "sku"),
        (13, "on_hand"),
        (14, "sku"),
        (16, "on_hand"),
    ]
    assert checked.error_count == 13 and checked.total_rows == 14
    reasons = {e["row"]: e["reason"] for e in checked.errors}
    assert "row 2" in reasons[12] and "4 units" in reasons[13]
    assert reasons[3] == reasons[4].replace("ACME-HOD-001-BLK-M", "NOPE-1")  # the same words
    with pytest.raises(StockUploadNotReady):
        services.confirm_stock_upload(a1, checked)
    assert stock.level(stock.a1_wh, TEE) == (10, 0)


def test_header_problems_are_row_one_and_unknown_columns_are_ignored(stock, a1):
    checked = send(a1, stock.a1_wh, b"SKU,qty,colour\r\nTEE-BLK-M,4,red\r\n")
    assert checked.status == UploadStatus.INVALID
    assert errors_of(checked) == [(1, "on_hand")]
    assert checked.errors[0]["reason"] == "Required column is missing."
    twice = send(a1, stock.a1_wh, b"sku,on_hand,ON_HAND\r\nTEE-BLK-M,4,5\r\n")
    assert errors_of(twice) == [(1, "ON_HAND")]


def test_unreadable_and_empty_files_are_refused_not_stuck(stock, a1):
    broken = send(a1, stock.a1_wh, b"\x00\x01\x02 not a workbook", "stock.xlsx")
    assert broken.status == UploadStatus.FAILED
    assert "not a valid XLSX file" in broken.summary["failure"]
    empty = send(a1, stock.a1_wh, csv_bytes([]))
    assert empty.status == UploadStatus.INVALID and errors_of(empty) == [(2, "")]
    with pytest.raises(StockUploadRejected) as refused:
        services.start_stock_upload(a1, stock.a1_wh, "stock.pdf", b"a,b")
    assert set(refused.value.fields) == {"file"}
    with pytest.raises(StockUploadRejected):
        services.start_stock_upload(a1, stock.a1_wh, "stock.csv", b"")


def test_a_file_too_large_is_refused(app, stock, a1, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_MAX_BYTES", 10)
    with pytest.raises(StockUploadRejected) as refused:
        services.start_stock_upload(a1, stock.a1_wh, "stock.csv", csv_bytes([f"{TEE},A,1"]))
    assert "(UPLOAD_MAX_BYTES)" in refused.value.fields["file"]


def test_stored_error_list_is_capped_but_counted_in_full(stock, a1, monkeypatch):
    monkeypatch.setattr(upload, "MAX_STORED_ERRORS", 5)
    checked = send(a1, stock.a1_wh, csv_bytes([f"NOPE-{i},A,1" for i in range(12)]))
    assert checked.error_count == 12 and len(checked.errors) == 5


# -- all or nothing ------------------------------------------------------------------------------


def test_a_file_with_one_bad_row_applies_nothing(stock, a1):
    checked = send(a1, stock.a1_wh, csv_bytes([f"{TEE},A,1", f"{POLO},A,1", f"{TEE_L},A,x"]))
    assert checked.status == UploadStatus.INVALID and errors_of(checked) == [(4, "on_hand")]
    with pytest.raises(StockUploadNotReady):
        services.confirm_stock_upload(a1, checked)
    assert stock.level(stock.a1_wh, TEE) == (10, 0)
    assert stock.level(stock.a1_wh, POLO) == (5, 0)
    assert not [m for m in stock.moves() if m.reason == MoveReason.UPLOAD]


def test_orders_taking_stock_between_check_and_apply_fail_it_and_nothing_changes(stock, a1):
    checked = send(a1, stock.a1_wh, csv_bytes([f"{TEE},A,2", f"{POLO},A,9"]))
    assert checked.status == UploadStatus.READY
    reserve(stock, stock.a1_wh, TEE, 3)  # an order placed after the check
    db.session.commit()
    failed = confirm(a1, checked)
    assert failed.status == UploadStatus.FAILED
    assert errors_of(failed) == [(2, "on_hand")] and "3 units" in failed.errors[0]["reason"]
    assert "nothing was applied" in failed.summary["failure"]
    assert stock.level(stock.a1_wh, TEE) == (10, 3)
    assert stock.level(stock.a1_wh, POLO) == (5, 0)  # the good row was not applied either
    assert not [m for m in stock.moves() if m.reason == MoveReason.UPLOAD]
    assert check_ledger() == []


def test_a_conflict_seen_only_under_the_lock_also_fails_it_whole(stock, a1, monkeypatch):
    """The re-check before the lock passes; an order commits before the level is locked."""
    checked = send(a1, stock.a1_wh, csv_bytes([f"{POLO},A,9", f"{TEE},A,2"]))
    original = upload._lock_levels

    def order_arrives_first(rows):
        reserve(stock, stock.a1_wh, TEE, 3)
        return original(rows)

    monkeypatch.setattr(upload, "_lock_levels", order_arrives_first)
    failed = confirm(a1, checked)
    assert failed.status == UploadStatus.FAILED and errors_of(failed) == [(3, "on_hand")]
    assert stock.level(stock.a1_wh, POLO) == (5, 0)
    assert not [m for m in stock.moves() if m.reason == MoveReason.UPLOAD]


def test_a_failure_while_writing_rolls_back_every_batch(stock, a1, monkeypatch):
    monkeypatch.setattr(upload, "BATCH", 1)
    calls = []

    def fails_on_the_second_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return apply_moves(*args, **kwargs)

    monkeypatch.setattr(upload, "apply_moves", fails_on_the_second_batch)
    failed = confirm(a1, send(a1, stock.a1_wh, csv_bytes([f"{TEE},A,1", f"{POLO},A,1"])))
    assert failed.status == UploadStatus.FAILED and "disk full" in failed.summary["failure"]
    assert stock.level(stock.a1_wh, TEE) == (10, 0)
    assert stock.level(stock.a1_wh, POLO) == (5, 0)
    assert check_ledger() == []


def test_a_file_changed_on_disk_since_the_check_fails_it(stock, a1):
    checked = send(a1, stock.a1_wh, csv_bytes([f"{TEE},A,1"]))
    stored = upload.stored_file(checked)
    stored.write_bytes(stored.read_bytes() + b"NOPE-9,A,1\r\n")  # the file changed on disk
    failed = confirm(a1, checked)
    assert failed.status == UploadStatus.FAILED and "changed" in failed.summary["failure"]
    assert stock.level(stock.a1_wh, TEE) == (10, 0)


def test_many_rows_are_written_in_batches_in_one_transaction(stock, a1, monkeypatch):
    monkeypatch.setattr(upload, "BATCH", 2)
    levels = [(TEE, "A"), (TEE, "B"), (TEE_L, "A"), (POLO, "A"), (RUN, "A"), (TOTE, "B")]
    rows = [f"{sku},{grade},{20 + n}" for n, (sku, grade) in enumerate(levels)]
    applied = confirm(a1, send(a1, stock.a1_wh, csv_bytes(rows)))
    assert applied.status == UploadStatus.APPLIED, applied.errors
    assert applied.summary["rows_changed"] == 6
    assert stock.level(stock.a1_wh, TOTE, Grade.B) == (25, 0)
    assert len([m for m in stock.moves() if m.reason == MoveReason.UPLOAD]) == 6
    assert check_ledger() == []


# -- twice ---------------------------------------------------------------------------------------


def test_uploading_the_same_file_again_changes_nothing(stock, a1):
    data = csv_bytes([f"{TEE},A,7", f"{TEE_L},A,3", f"{POLO},A,0"])
    confirm(a1, send(a1, stock.a1_wh, data))
    moves = stock.move_count()
    again = send(a1, stock.a1_wh, data)
    assert again.status == UploadStatus.READY
    assert again.summary == {
        "rows_changed": 0,
        "rows_unchanged": 3,
        "units_added": 0,
        "units_removed": 0,
    }
    assert confirm(a1, again).status == UploadStatus.APPLIED
    assert stock.move_count() == moves
    assert stock.level(stock.a1_wh, TEE) == (7, 0)


def test_confirming_twice_applies_once_and_the_job_is_safe_to_run_again(stock, a1):
    checked = send(a1, stock.a1_wh, csv_bytes([f"{TEE},A,1"]))
    services.confirm_stock_upload(a1, checked)
    with pytest.raises(StockUploadNotReady):
        services.confirm_stock_upload(a1, checked)  # the double click
    jobs.commit()
    assert inventory_jobs.apply_stock_upload(checked.id) == {"skipped": "not waiting to be applied"}
    assert inventory_jobs.validate_stock_upload(checked.id) == {
        "skipped": "not waiting for validation"
    }
    assert stock.level(stock.a1_wh, TEE) == (1, 0)
    assert len([m for m in stock.moves() if m.reason == MoveReason.UPLOAD]) == 1


def test_a_set_to_zero_of_a_level_never_stocked_creates_nothing(stock, a1):
    applied = confirm(a1, send(a1, stock.a1_wh, csv_bytes([f"{RUN},A,0"])))
    assert applied.status == UploadStatus.APPLIED
    assert applied.summary["rows_unchanged"] == 1
    assert stock.level(stock.a1_wh, RUN) is None


def test_validation_runs_as_a_job_that_reports_progress(stock, a1, monkeypatch):
    monkeypatch.setattr(upload, "PROGRESS_EVERY", 1)
    checked = send(a1, stock.a1_wh, csv_bytes([f"{TEE},A,1", f"{POLO},A,2"]))
    run = db.session.get(JobRun, checked.job_id)
    assert run.status == JobStatus.FINISHED and run.progress == 100
    assert run.result == {"status": "ready", "rows": 2, "errors": 0}
    assert run.org_id == stock.net.org_id("A1")


# -- who may upload ------------------------------------------------------------------------------


def test_only_the_org_holding_the_location_uploads_to_it(stock, a1):
    data = csv_bytes([f"{TEE},A,1"])
    for actor, location in [
        (stock.net.hq, stock.a1_wh),  # HQ above its distributor
        (a1, stock.s1_shelf),  # a distributor above its store
        (stock.admin("A2"), stock.a1_wh),  # a sibling
        (stock.net.actor("A1", Role.DISTRIBUTOR_BUYER), stock.a1_wh),  # own, role lacks it
        (stock.net.actor("S1", Role.STORE_STAFF), stock.s1_shelf),
    ]:
        with pytest.raises(PermissionDenied):
            services.start_stock_upload(actor, location, "stock.csv", data)
    store = send(stock.admin("S1"), stock.s1_shelf, csv_bytes([f"{TEE},A,2"]))
    assert store.status == UploadStatus.READY, store.errors
    confirm(stock.admin("S1"), store)
    assert stock.level(stock.s1_shelf, TEE) == (2, 0)


def test_another_orgs_upload_is_not_found_and_cannot_be_confirmed(stock, a1):
    checked = send(a1, stock.a1_wh, csv_bytes([f"{TEE},A,1"]))
    for other in (stock.net.hq, stock.admin("A2"), stock.admin("S1")):
        with pytest.raises(NotFound):
            queries.get_stock_upload(other, checked.id)
        assert queries.list_stock_uploads(other, stock.a1_wh) == []
    with pytest.raises(PermissionDenied):
        services.confirm_stock_upload(hq_actor(stock.net.brand), checked)
    assert queries.get_stock_upload(a1, checked.id).status == UploadStatus.READY
    assert [u.id for u in queries.list_stock_uploads(a1, stock.a1_wh)] == [checked.id]


# -- downloads -----------------------------------------------------------------------------------


def test_templates_are_valid_files(app, actor_for):
    # A store's shelf: the orders it places hold stock at its supplier's location, not here.
    owner = actor_for("store1@demo.test")
    location = queries.get_location(owner, "S1-SHELF")
    assert upload.template_csv().startswith(b"\xef\xbb\xbf")
    for data, name in [(upload.template_csv(), "t.csv"), (upload.template_xlsx(), "t.xlsx")]:
        checked = send(owner, location, data, name)
        assert checked.status == UploadStatus.READY, checked.errors
        assert checked.total_rows == len(upload.EXAMPLE_ROWS)


def test_errors_download_as_xlsx(app):
    errors = [{"row": 3, "column": "on_hand", "reason": "Required."}]
    book = openpyxl.load_workbook(io.BytesIO(upload.errors_xlsx(errors)), read_only=True)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    book.close()
    assert rows == [("row", "column", "reason"), (3, "on_hand", "Required.")]


def test_levels_the_upload_sets_are_locked_in_key_order(stock, a1):
    """The rows come back as locked, whatever order the file had them in."""
    rows = [
        upload.Row(9, stock.a1_wh.id, stock.variant(sku).id, stock.net.brand.id, sku, grade, 1)
        for sku, grade in [(POLO, "A"), (TEE, "B"), (TEE, "A"), (TEE_L, "A")]
    ]
    levels = upload._lock_levels(sorted(rows, key=lambda r: r.key))
    assert levels[(stock.a1_wh.id, stock.variant(TEE).id, "A")] == (10, 0)
    assert levels[(stock.a1_wh.id, stock.variant(TEE_L).id, "A")] == (0, 0)  # created at zero
    count = db.session.execute(
        select(func.count(StockLevel.id)).where(StockLevel.location_id == stock.a1_wh.id)
    ).scalar_one()
    assert count == 4


# -- pages ---------------------------------------------------------------------------------------


def _demo_level(code: str) -> tuple[str, int]:
    """A grade-A SKU stocked at a demo location that no order holds, and its units on hand."""
    sku, on_hand = db.session.execute(
        select(Variant.sku, StockLevel.on_hand)
        .join(StockLevel, StockLevel.variant_id == Variant.id)
        .join(Location, Location.id == StockLevel.location_id)
        .where(
            Location.code == code,
            StockLevel.grade == Grade.A,
            StockLevel.reserved == 0,
            StockLevel.on_hand > 0,
        )
        .order_by(Variant.sku)
        .limit(1)
    ).one()
    return sku, on_hand


def _demo_on_hand(code: str, sku: str) -> int:
    return db.session.execute(
        select(StockLevel.on_hand)
        .join(Variant, Variant.id == StockLevel.variant_id)
        .join(Location, Location.id == StockLevel.location_id)
        .where(Location.code == code, Variant.sku == sku, StockLevel.grade == Grade.A)
        .execution_options(populate_existing=True)
    ).scalar_one()


def _latest() -> StockUpload:
    return db.session.execute(
        select(StockUpload)
        .order_by(StockUpload.id.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    ).scalar_one()


def _post_file(client, code: str, data: bytes, filename: str = "stock.csv"):
    return client.post(
        f"/stock/{code}/uploads/new",
        data={"file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


def test_the_location_page_offers_the_upload_to_the_holding_org_only(app, login):
    own = login("dist1@demo.test").get("/stock/D1-WH").get_data(as_text=True)
    assert 'data-testid="upload-link"' in own and "/stock/D1-WH/uploads/new" in own
    client = login("hq@demo.test")
    assert 'data-testid="upload-link"' not in client.get("/stock/D1-WH").get_data(as_text=True)
    assert client.get("/stock/D1-WH/uploads/new").status_code == 403  # below HQ: read-only
    assert login("staff1@demo.test").get("/stock/S1-SHELF/uploads/new").status_code == 403


def test_upload_check_confirm_and_apply_through_the_pages(app, login):
    sku, on_hand = _demo_level("D1-WH")
    client = login("dist1@demo.test")
    assert client.get("/stock/D1-WH/uploads/new").status_code == 200
    response = _post_file(client, "D1-WH", csv_bytes([f"{sku},A,{on_hand + 5}"]), "web.csv")
    assert response.status_code == 302
    stock_upload = _latest()
    assert response.headers["Location"].endswith(f"/stock/uploads/{stock_upload.id}")
    page = client.get(f"/stock/uploads/{stock_upload.id}").get_data(as_text=True)
    assert (
        "ready" in page and "Confirm and apply" in page and 'data-testid="upload-summary"' in page
    )
    assert client.post(f"/stock/uploads/{stock_upload.id}/confirm").status_code == 302
    assert _latest().status == UploadStatus.APPLIED
    assert _demo_on_hand("D1-WH", sku) == on_hand + 5
    assert "web.csv" in client.get("/stock/D1-WH/uploads/new").get_data(as_text=True)
    # Confirming twice does nothing more.
    client.post(f"/stock/uploads/{stock_upload.id}/confirm")
    assert _demo_on_hand("D1-WH", sku) == on_hand + 5
    assert check_ledger() == []


def test_invalid_upload_lists_errors_and_offers_them_as_xlsx(app, login):
    client = login("store1@demo.test")
    _post_file(client, "S1-SHELF", csv_bytes(["NOPE-1,A,1", "NOPE-2,A,-1"]))
    stock_upload = _latest()
    assert stock_upload.status == UploadStatus.INVALID
    page = client.get(f"/stock/uploads/{stock_upload.id}").get_data(as_text=True)
    assert 'data-testid="upload-errors"' in page and "NOPE-2" in page
    assert "Confirm and apply" not in page
    download = client.get(f"/stock/uploads/{stock_upload.id}/errors.xlsx")
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(download.data), read_only=True)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    book.close()
    assert [row[:2] for row in rows[1:]] == [(2, "sku"), (3, "sku"), (3, "on_hand")]
    refused = client.post(f"/stock/uploads/{stock_upload.id}/confirm", follow_redirects=True)
    assert "Only a checked stock file without errors can be applied." in refused.get_data(
        as_text=True
    )
    assert _latest().status == UploadStatus.INVALID
    client.post("/logout")
    assert login("dist1@demo.test").get(f"/stock/uploads/{stock_upload.id}").status_code == 404


def test_a_file_of_another_type_is_refused_on_the_form(app, login):
    response = _post_file(login("dist1@demo.test"), "D1-WH", b"%PDF-1.4", "stock.pdf")
    assert response.status_code == 422
    assert "Upload a .csv or .xlsx file." in response.get_data(as_text=True)


def test_the_upload_page_polls_while_the_job_runs(app, login, actor_for):
    location = queries.get_location(actor_for("dist1@demo.test"), "D1-WH")
    stock_upload = StockUpload(
        org_id=location.org_id,
        location_id=location.id,
        filename="slow.csv",
        stored_path="stock-uploads/x.csv",
        sha256="0" * 64,
        status=UploadStatus.VALIDATING,
    )
    db.session.add(stock_upload)
    db.session.commit()
    page = login("dist1@demo.test").get(f"/stock/uploads/{stock_upload.id}").get_data(as_text=True)
    assert 'hx-trigger="every 2s"' in page and "<progress" in page


def test_templates_download(app, login):
    client = login("store1@demo.test")
    csv_response = client.get("/stock/uploads/template.csv")
    assert csv_response.status_code == 200 and b"sku,grade,on_hand" in csv_response.data
    xlsx = client.get("/stock/uploads/template.xlsx")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"


# -- API -----------------------------------------------------------------------------------------


def _bearer(client, email: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", json={"email": email, "password": "demo1234"})
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def _api_upload(client, headers, location: str, data: bytes, filename: str = "erp.csv"):
    return client.post(
        "/api/v1/stock/uploads",
        data={"location": location, "file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
        headers=headers,
    )


def test_an_erp_uploads_checks_and_confirms_through_the_api(app, client):
    sku, on_hand = _demo_level("D1-WH")
    headers = _bearer(client, "dist1@demo.test")
    created = _api_upload(client, headers, "d1-wh", csv_bytes([f"{sku},A,{on_hand + 1}"]))
    assert created.status_code == 202, created.get_json()
    body = created.get_json()
    assert body["location"] == "D1-WH" and body["filename"] == "erp.csv"
    assert body["job_id"] and body["job_url"].startswith("/api/v1/jobs/")
    checked = client.get(f"/api/v1/stock/uploads/{body['id']}", headers=headers).get_json()
    assert checked["status"] == "ready" and checked["errors"] == []
    assert checked["summary"]["rows_changed"] == 1 and checked["summary"]["units_added"] == 1
    confirmed = client.post(f"/api/v1/stock/uploads/{body['id']}/confirm", headers=headers)
    assert confirmed.status_code == 202
    again = client.post(f"/api/v1/stock/uploads/{body['id']}/confirm", headers=headers)
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "stock_upload_not_ready"
    applied = client.get(f"/api/v1/stock/uploads/{body['id']}", headers=headers).get_json()
    assert applied["status"] == "applied" and applied["applied_at"]
    assert _demo_on_hand("D1-WH", sku) == on_hand + 1


def test_the_api_names_row_errors_and_refuses_other_orgs_locations(app, client):
    headers = _bearer(client, "dist1@demo.test")
    created = _api_upload(client, headers, "D1-WH", csv_bytes(["NOPE-1,A,1"])).get_json()
    checked = client.get(f"/api/v1/stock/uploads/{created['id']}", headers=headers).get_json()
    assert checked["status"] == "invalid" and checked["error_count"] == 1
    assert checked["errors"][0]["row"] == 2 and checked["errors"][0]["column"] == "sku"
    assert _api_upload(client, headers, "S2-SHELF", csv_bytes(["X,A,1"])).status_code == 404
    assert _api_upload(client, headers, "S1-SHELF", csv_bytes(["X,A,1"])).status_code == 403
    other = _bearer(client, "dist4@demo.test")
    assert client.get(f"/api/v1/stock/uploads/{created['id']}", headers=other).status_code == 404
    rejected = _api_upload(client, headers, "D1-WH", b"x", "stock.pdf")
    assert rejected.status_code == 422
    assert rejected.get_json()["error"]["fields"] == {"file": "Upload a .csv or .xlsx file."}


# -- concurrency (PostgreSQL) --------------------------------------------------------------------


@pytest.fixture
def race(tmp_path) -> Iterator[Race]:
    """A committed PostgreSQL database (outside the rollback harness) with 10 x TEE at RC-WH."""
    need("postgresql")
    built = build_race(fresh_postgres_database("inv_upload_race"), {TEE: 10})
    built.app.instance_path = str(tmp_path)
    yield built
    with built.app.app_context():
        db.engine.dispose()


@pytest.mark.postgres
def test_a_receipt_committing_during_the_apply_is_waited_for_not_overwritten(race):
    """The apply locks each level before reading it: a receipt holding the level's lock is waited
    for, and the level ends at the file's count (computed from the level before the receipt,
    it would end 5 units above it)."""
    with race.app.app_context():
        brand = db.session.execute(select(Organization).where(Organization.code == "RC")).one()[0]
        hq = hq_actor(brand)
        location = queries.get_location(hq, "RC-WH")
        upload_id = services.start_stock_upload(hq, location, "s.csv", csv_bytes([f"{TEE},A,2"])).id
        jobs.commit()
        ready = queries.get_stock_upload(hq, upload_id)
        assert ready.status == UploadStatus.READY, ready.errors
        services.confirm_stock_upload(hq, ready)
        job_id = ready.job_id
        db.session.commit()  # not run inline: the job runs below, beside the receipt
        db.session.remove()
    receipt_holds_the_lock = threading.Event()

    def receipt() -> None:
        with race.app.app_context(), writing():
            apply_moves(
                Actor.system(),
                [MoveLine(race.location_id, race.variant_ids[TEE], 5)],
                reason=MoveReason.RECEIPT,
            )
            receipt_holds_the_lock.set()
            time.sleep(0.5)  # the apply starts meanwhile and waits for this lock
            db.session.commit()
            db.session.remove()

    def apply() -> None:
        receipt_holds_the_lock.wait(10)
        with race.app.app_context():
            jobs.execute(job_id)
            db.session.remove()

    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(receipt), pool.submit(apply)]:
            future.result(timeout=30)
    assert race.level(TEE) == (2, 0)
    with race.app.app_context():
        applied = queries.find_stock_upload(Actor.system(), upload_id)
        assert applied.status == UploadStatus.APPLIED, applied.summary
        assert applied.summary["units_removed"] == 13
        db.session.remove()
    assert race.check() == []
