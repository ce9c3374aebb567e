"""Spreadsheets both ways. Uploaded files are held to the UPLOAD_* limits before they are parsed
(a dimension bomb, a far cell, a zip bomb, millions of empty rows, a 500,000-character cell,
garbage named .xlsx are each refused naming the limit, and never reach calamine); exports write
every formula trigger inert, full-width and behind whitespace too, and numbers as numbers."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl
import pytest

from portal.core.spreadsheets import (
    FileRefused,
    UploadLimits,
    csv_bytes,
    inspect_xlsx,
    read_table,
    runs_as_formula,
    xlsx_bytes,
)
from tests.support import spreadsheets as hostile

DEFAULTS = UploadLimits(
    max_bytes=200 * 1024 * 1024,
    max_rows=1_000_000,
    max_columns=50,
    max_cell_chars=32_767,
    max_uncompressed_bytes=1024 * 1024 * 1024,
    max_compression_ratio=100,
)
ROWS = [["sku", "qty"], ["TEE-BLK-M", 3]]


def saved(tmp_path: Path, data: bytes, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def read_all(path: Path, limits: UploadLimits = DEFAULTS) -> list[list[str]]:
    rows, _total = read_table(path, limits)
    return list(rows)


def refusal(path: Path, limits: UploadLimits = DEFAULTS) -> str:
    with pytest.raises(FileRefused) as refused:
        read_all(path, limits)
    return str(refused.value)


# -- reading: what is accepted -------------------------------------------------------------------


def test_a_plain_workbook_and_csv_are_read_as_text(tmp_path):
    assert read_all(saved(tmp_path, hostile.good_xlsx(ROWS), "a.xlsx")) == [
        ["sku", "qty"],
        ["TEE-BLK-M", "3"],
    ]
    data = "\ufeffsku,qty\r\nTEE-BLK-M,3\r\n\r\n".encode()
    assert read_all(saved(tmp_path, data, "a.csv")) == [["sku", "qty"], ["TEE-BLK-M", "3"], []]


def test_a_workbook_as_openpyxl_writes_it_passes_with_wide_rows_and_trailing_empty_cells(tmp_path):
    book = openpyxl.Workbook()
    book.active.append(["sku", "qty", *[f"note{i}" for i in range(40)]])
    for n in range(200):
        book.active.append([f"SKU-{n}", n, *["x"] * 40])
    out = io.BytesIO()
    book.save(out)
    rows = read_all(saved(tmp_path, out.getvalue(), "wide.xlsx"))
    assert len(rows) == 201 and rows[200][:2] == ["SKU-199", "199"]
    wide_csv = b"sku,qty" + b"," * 80 + b"\r\nA,1" + b"," * 80 + b"\r\n"
    assert read_all(saved(tmp_path, wide_csv, "wide.csv"))[1] == ["A", "1"]


# -- reading: hostile files ----------------------------------------------------------------------


def test_a_sheet_declaring_xfd1048576_is_refused_from_its_first_bytes(tmp_path):
    bomb = hostile.dimension_bomb(ROWS)
    assert len(bomb) < 2048
    message = refusal(saved(tmp_path, bomb, "bomb.xlsx"))
    assert message == (
        "The sheet declares 1,048,576 rows; at most 1,000,000 rows below the header are "
        "accepted (UPLOAD_MAX_ROWS)."
    )
    wide = UploadLimits(**{**DEFAULTS.__dict__, "max_rows": 2_000_000})
    assert "declares 16,384 columns (up to column XFD); at most 50" in refusal(
        saved(tmp_path, bomb, "bomb.xlsx"), wide
    )


def test_a_real_cell_at_xfd1048576_is_refused_before_calamine_allocates_the_sheet(tmp_path):
    # Handed to calamine, this file makes it allocate 550 GB and abort the process.
    path = saved(tmp_path, hostile.far_cell_bomb(ROWS), "far.xlsx")
    with pytest.raises(FileRefused, match=r"reaches row 1,048,576; at most 1,000,000"):
        inspect_xlsx(path, DEFAULTS)
    wide = UploadLimits(**{**DEFAULTS.__dict__, "max_rows": 2_000_000})
    with pytest.raises(FileRefused, match=r"reaches column XFD \(column 16,384\); at most 50"):
        inspect_xlsx(path, wide)


def test_cells_without_references_are_placed_as_calamine_places_them(tmp_path):
    path = saved(tmp_path, hostile.unplaced_cells_bomb(ROWS), "unplaced.xlsx")
    # The first cell past the limit is named: the 51st of the row of 16,384.
    with pytest.raises(FileRefused, match=r"reaches column AY \(column 51\); at most 50"):
        inspect_xlsx(path, DEFAULTS)
    narrow = saved(tmp_path, hostile.unplaced_cells_bomb(ROWS, columns=50), "ok.xlsx")
    inspect_xlsx(narrow, DEFAULTS)  # 50 columns and row 900,000: within the limits


FAR = '<c r="XFD1048576"><v>1</v></c>'


@pytest.mark.parametrize(
    "trick",
    [
        f'<row r="3"><c x=">" {FAR[3:]}</row>',  # a `>` inside a quoted value
        f"<row r=\"3\"><c x='<' {FAR[3:]}</row>",  # a `<` inside a quoted value
        '<row r="3"><x:c xmlns:x="urn:x" r="XFD1048576"><v>1</v></x:c></row>',  # a prefix
        '<row r="3"><c s="1" r="XFD1048576"><v>1</v></c></row>',  # the reference not first
        "<row r='3'><c r = 'XFD1048576'><v>1</v></c></row>",  # other quotes and spaces
        '<row r="3"><c r="A3"/><c r="XFD1048576"/></row>',  # empty cells
        f'<!-- <c r="A1"> --><row r="3">{FAR}</row>',  # after a comment that looks like a cell
        f'<row r="3"><c r="A3"><is><t><![CDATA[<x a="]]></t></is></c>{FAR}</row><!--">-->',
        f'<row r="3"><c r="A3"/></row>{"</row>" * 1_048_580}<row><c/></row>',  # ends of rows
    ],
    ids=[
        "gt-in-value",
        "lt-in-value",
        "prefixed",
        "reference-later",
        "quotes-and-spaces",
        "empty-elements",
        "comment",
        "cdata",
        "row-ends",
    ],
)
def test_markup_tricks_do_not_hide_a_far_cell(tmp_path, trick):
    """calamine's XML reader reads each of these as a cell past the limits (the stray row ends
    it refuses): the inspection reads the markup the same way, quotes, comments and all."""
    sheet = hostile.workbook(hostile.sheet_xml(hostile.rows_xml(ROWS[:1]) + trick))
    packed_tight = UploadLimits(**{**DEFAULTS.__dict__, "max_compression_ratio": 10_000})
    with pytest.raises(FileRefused, match=r"reaches (row 1,04|column )"):
        inspect_xlsx(saved(tmp_path, sheet, "trick.xlsx"), packed_tight)


def test_a_sheet_hidden_in_any_part_is_inspected(tmp_path):
    """calamine takes a sheet wherever the workbook's relationships point, leading junk and
    all: every part is read."""
    far = f'<row r="1048576">{hostile.cell("XFD1048576", 1)}</row>'
    sheet = b"GIF89a" + hostile.sheet_xml(hostile.rows_xml(ROWS) + far)
    renamed = hostile.workbook(sheet, path="xl/media/image1.gif")
    with pytest.raises(FileRefused, match="reaches row 1,048,576"):
        inspect_xlsx(saved(tmp_path, renamed, "renamed.xlsx"), DEFAULTS)


def test_a_zip_bomb_is_refused_from_its_directory(tmp_path):
    bomb = hostile.zip_bomb(300)
    assert len(bomb) < 400 * 1024
    message = refusal(saved(tmp_path, bomb, "zip.xlsx"))
    assert message.startswith("A part of the workbook (xl/worksheets/sheet1.xml) is compressed")
    assert message.endswith("at most 100 to 1 is accepted (UPLOAD_MAX_COMPRESSION_RATIO).")
    small = UploadLimits(**{**DEFAULTS.__dict__, "max_uncompressed_bytes": 100 * 1024 * 1024})
    assert refusal(saved(tmp_path, bomb, "zip.xlsx"), small) == (
        "The workbook unpacks to more than 100 MB; at most that is accepted "
        "(UPLOAD_MAX_UNCOMPRESSED_BYTES)."
    )


def test_a_part_unpacking_to_more_than_its_directory_says_is_refused(tmp_path):
    # 3 MB of zeros listed as 1,000 bytes: below every limit by the directory, not in truth.
    lying = hostile.understated(hostile.zip_bomb(3))
    with pytest.raises(FileRefused, match="not a valid XLSX file"):
        inspect_xlsx(saved(tmp_path, lying, "lying.xlsx"), DEFAULTS)


def test_millions_of_empty_csv_lines_stop_at_the_row_limit(tmp_path):
    path = saved(tmp_path, hostile.empty_lines_csv("sku,qty", 3_000_000), "empty.csv")
    rows, _total = read_table(path, DEFAULTS)
    read = 0
    with pytest.raises(FileRefused) as refused:
        for _row in rows:
            read += 1
    assert read == 1_000_001  # the header and the rows allowed: not one line more
    assert str(refused.value) == (
        "The file has more than 1,000,000 rows below its header, the most accepted "
        "(UPLOAD_MAX_ROWS)."
    )


def test_empty_rows_of_a_workbook_count_as_rows(tmp_path):
    limits = UploadLimits(**{**DEFAULTS.__dict__, "max_rows": 1000})
    path = saved(tmp_path, hostile.empty_rows_xlsx(["sku", "qty"], 5000), "empty.xlsx")
    assert refusal(path, limits) == (
        "The sheet reaches row 1,002; at most 1,000 rows below the header are accepted "
        "(UPLOAD_MAX_ROWS)."
    )


def test_a_cell_of_500000_characters_is_refused_naming_its_row_and_column(tmp_path):
    data = hostile.long_cell_csv("sku,qty", "TEE-BLK-M,3")
    assert refusal(saved(tmp_path, data, "long.csv")) == (
        "Row 3, column B: the cell holds 500,000 characters; at most 32,767 are accepted "
        "(UPLOAD_MAX_CELL_CHARS)."
    )
    sheet = hostile.workbook(hostile.sheet_xml(hostile.rows_xml([*ROWS, ["X", "9" * 40_000]])))
    assert refusal(saved(tmp_path, sheet, "long.xlsx")).startswith(
        "Row 3, column B: the cell holds 40,000 characters"
    )


def test_a_line_longer_than_any_allowed_row_is_refused_before_it_is_read_whole(tmp_path):
    limits = UploadLimits(**{**DEFAULTS.__dict__, "max_columns": 2, "max_cell_chars": 100})
    data = hostile.long_cell_csv("sku,qty", "TEE-BLK-M,3", chars=5000)
    assert refusal(saved(tmp_path, data, "long.csv"), limits).startswith(
        "Row 3: a cell is longer than 100 characters"
    )
    # One quoted cell over many short lines: the csv module's own cap stops it.
    quoted = b'sku,qty\r\nA,"' + b"1\r\n" * 50_000 + b'"\r\n'
    assert refusal(saved(tmp_path, quoted, "quoted.csv"), limits).startswith(
        "Row 2: a cell is longer than 100 characters"
    )


def test_too_many_columns_are_refused_naming_the_row(tmp_path):
    data = b"sku,qty\r\n" + b",".join([b"x"] * 51) + b"\r\n"
    assert refusal(saved(tmp_path, data, "wide.csv")) == (
        "Row 2 has 51 columns; at most 50 are accepted (UPLOAD_MAX_COLUMNS)."
    )


@pytest.mark.parametrize(
    "data",
    [hostile.GARBAGE, b"PK\x03\x04" + hostile.GARBAGE, hostile.good_xlsx(ROWS)[:-200]],
    ids=["garbage", "zip-signature-then-garbage", "cut-short"],
)
def test_garbage_named_xlsx_is_not_a_valid_xlsx_file(tmp_path, data):
    assert "not a valid XLSX file" in refusal(saved(tmp_path, data, "garbage.xlsx"))


def test_a_file_past_the_byte_limit_is_refused_before_it_is_opened(tmp_path):
    limits = UploadLimits(**{**DEFAULTS.__dict__, "max_bytes": 1024})
    assert refusal(saved(tmp_path, b"x" * 2000, "big.csv"), limits) == (
        "The file is larger than 1 KB, the most accepted (UPLOAD_MAX_BYTES)."
    )


def test_in_request_limits_name_their_own_settings(app):
    limits = UploadLimits.from_config(app.config, in_request=True)
    assert (limits.max_bytes, limits.max_rows) == (256 * 1024, 2_000)
    assert (limits.bytes_setting, limits.rows_setting) == (
        "UPLOAD_IN_REQUEST_MAX_BYTES",
        "UPLOAD_IN_REQUEST_MAX_ROWS",
    )


# -- writing: exports ----------------------------------------------------------------------------

TRIGGERS = [
    "=1+1",
    "+1+1",
    "-1+1",
    "@SUM(A1)",
    ' =HYPERLINK("http://example.test")',
    "\t=1+1",
    "\r=1+1",
    "\n=1+1",
    "\u3000=1+1",  # ideographic space
    "\u00a0\u200b=1+1",  # no-break and zero-width space
    "\uff1d1+1",  # full-width =
    "\uff0b1+1",  # full-width +
    "\uff0d1+1",  # full-width -
    "\uff20SUM(A1)",  # full-width @
    "\tplain text after a tab",
]
PLAIN = ["hello", "a=b", "-5", "-12.50", "SKU-1", ""]


@pytest.mark.parametrize("text", TRIGGERS)
def test_every_formula_trigger_is_written_inert_in_csv_and_xlsx(text):
    assert runs_as_formula(text)
    row = next(csv.reader(io.StringIO(csv_bytes([[text]]).decode("utf-8-sig"), newline="")))
    assert row == ["'" + text]
    book = openpyxl.load_workbook(io.BytesIO(xlsx_bytes([[text]], "export")))
    cell = book["export"]["A1"]
    # Text, never a formula, and marked so that Excel keeps it text even once edited.
    assert (cell.data_type, cell.quotePrefix) == ("s", True)
    assert cell.value.replace("\r", "\n") == text.replace("\r", "\n")


def test_plain_text_and_numbers_are_written_as_they_are():
    values = [*PLAIN, -5, -12.5, 0]
    row = next(csv.reader(io.StringIO(csv_bytes([values]).decode("utf-8-sig"))))
    assert row == [*PLAIN, "-5", "-12.5", "0"]
    book = openpyxl.load_workbook(io.BytesIO(xlsx_bytes([values], "export")))
    cells = list(book["export"].iter_rows(values_only=False))[0]
    assert [c.value for c in cells[len(PLAIN) :]] == [-5, -12.5, 0]
    assert [c.data_type for c in cells[len(PLAIN) :]] == ["n", "n", "n"]
    assert not any(c.quotePrefix for c in cells)
