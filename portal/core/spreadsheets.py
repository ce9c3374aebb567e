"""Files people open in Excel: CSV in UTF-8 with a BOM (so Chinese shows correctly) and XLSX.

Text that a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) is written inert:
exports carry notes and names typed by other organizations."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _inert(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_bytes(rows: Iterable[Iterable[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([_inert(value) for value in row])
    return codecs.BOM_UTF8 + out.getvalue().encode("utf-8")


def xlsx_bytes(rows: Iterable[Iterable[Any]], title: str) -> bytes:
    """One sheet; strings are stored as text, never as formulas."""
    import openpyxl
    from openpyxl.cell import WriteOnlyCell

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(title)
    for row in rows:
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"
            cells.append(cell)
        sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
