"""The staged-file pipeline every bulk import shares (portal/core/staged.py): the row-check loop,
the header, the failure texts and the validation job's handling of a check that breaks."""

from __future__ import annotations

import pytest

from portal.catalog import importer
from portal.catalog.models import ImportStatus
from portal.core import staged
from portal.core.jobs import JobRun, JobStatus
from portal.extensions import db
from tests.catalog.support import csv_bytes, upload

COLUMNS = ("sku", "qty", "note")


def run(rows, **options):
    """Check `rows` with a row checker that records what it was given."""
    checked = staged.RowErrors()
    seen: list[tuple[int, dict[str, str]]] = []

    def header(cells):
        return staged.header_index(cells, checked, columns=COLUMNS, required=("sku", "qty"))

    staged.check_rows(
        rows,
        checked,
        columns=COLUMNS,
        header=header,
        row=lambda row_no, values: seen.append((row_no, values)),
        **options,
    )
    return checked, seen


def test_rows_reach_the_checker_numbered_as_the_spreadsheet_shows_them():
    checked, seen = run([["qty", "SKU"], [" 3 ", "A-1"], ["", "  "], ["5"], ["7", "B-2", "x"]])
    assert seen == [
        (2, {"sku": "A-1", "qty": "3", "note": ""}),
        (4, {"sku": "", "qty": "5", "note": ""}),
        (5, {"sku": "B-2", "qty": "7", "note": ""}),
    ]
    assert (checked.total_rows, checked.error_count) == (3, 0)


def test_a_header_error_stops_the_check_before_any_row():
    finished = []
    checked = staged.RowErrors()
    seen = []
    staged.check_rows(
        [["sku", "sku"], ["A-1", "1"]],
        checked,
        columns=COLUMNS,
        header=lambda cells: staged.header_index(
            cells, checked, columns=COLUMNS, required=("sku", "qty")
        ),
        row=lambda row_no, values: seen.append(row_no),
        finish=lambda: finished.append(True),
    )
    assert [(e["row"], e["column"]) for e in checked.errors] == [(1, "sku"), (1, "qty")]
    assert seen == [] and finished == []


def test_an_empty_file_and_a_header_alone_are_errors():
    empty, _ = run([])
    assert empty.errors == [{"row": 1, "column": "", "reason": "The file is empty."}]
    alone, _ = run([["sku", "qty"], ["", ""]])
    assert alone.errors == [
        {"row": 2, "column": "", "reason": "The file has no rows below its header."}
    ]


def test_progress_is_reported_every_so_many_rows():
    reported = []
    run(
        [["sku", "qty"], *[[f"A-{i}", "1"] for i in range(5)]],
        total=5,
        progress=lambda done, total, message: reported.append((done, total, message)),
        progress_every=2,
    )
    assert reported == [(2, 5, "2 rows checked"), (4, 5, "4 rows checked")]


def test_the_header_understands_aliases_and_refuses_unknown_columns_when_asked():
    checked = staged.RowErrors()
    index = staged.header_index(
        ["\ufeff条码", "Extra", " Qty "],
        checked,
        columns=COLUMNS,
        required=("sku", "qty"),
        aliases={"条码": "sku"},
        refuse_unknown=True,
    )
    assert index == {"sku": 0, "qty": 2}
    assert checked.errors == [{"row": 1, "column": "Extra", "reason": "Unknown column."}]


def test_row_errors_are_all_counted_but_only_the_first_ones_kept(monkeypatch):
    monkeypatch.setattr(staged, "MAX_STORED_ERRORS", 2)
    checked = staged.RowErrors()
    for row in range(2, 7):
        checked.error(row, "sku", "Required.")
    assert checked.error_count == 5
    assert [e["row"] for e in checked.errors] == [2, 3]


def test_nothing_applied_names_an_error_that_has_no_message():
    assert staged.nothing_applied(RuntimeError()) == "Nothing was applied: RuntimeError"
    assert staged.nothing_applied(RuntimeError("")) == "Nothing was applied: RuntimeError"
    assert (
        staged.nothing_applied(ValueError("bad row\nmore detail"))
        == "Nothing was applied: ValueError: bad row"
    )


@pytest.fixture
def instance_dir(app, tmp_path, monkeypatch):
    monkeypatch.setattr(app, "instance_path", str(tmp_path))
    return tmp_path


@pytest.mark.usefixtures("instance_dir")
def test_a_check_that_breaks_leaves_none_of_its_writes_and_the_job_ends_well(app, monkeypatch):
    def half_then_breaks(imp, *, progress):
        imp.total_rows, imp.error_count = 99, 7  # written, then undone with the failure
        db.session.flush()
        raise RuntimeError("")

    monkeypatch.setattr(importer, "validate_import", half_then_breaks)
    imp = upload(csv_bytes(["ZS-1,Tee,TOPS,,,1.00,ZS-1-B-M,B,M,,1"]))
    assert imp.status == ImportStatus.FAILED
    assert imp.summary == {"failure": "The file could not be checked: RuntimeError"}
    assert (imp.total_rows, imp.error_count) == (0, 0)
    run_ = db.session.get(JobRun, imp.job_id)
    assert run_.status == JobStatus.FINISHED
    assert run_.result == {"status": "failed", "rows": 0, "errors": 0}
