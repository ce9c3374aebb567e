"""Order lines from what a buyer pastes or uploads: "SKU qty" lines, or a CSV / XLSX file with the
columns `sku` and `qty`. Only the shape is read here; the SKUs and quantities are checked by
`carts.add_to_cart`, which names each bad line by the index given here (the pasted line number
- 1, or the file row number - 1 with the header as row 1), so a message can say "line 3".

The file is parsed in the web request, so it is held to the small in-request limits
(UPLOAD_IN_REQUEST_MAX_BYTES, UPLOAD_IN_REQUEST_MAX_ROWS) besides the other UPLOAD_* ones: a larger
file is refused with the limit named, never parsed.
"""

from __future__ import annotations

import csv
import re
import tempfile
from pathlib import Path

from flask_babel import gettext as _

from portal.core.errors import ValidationFailed
from portal.core.spreadsheets import (
    FileRefused as SpreadsheetRefused,
)
from portal.core.spreadsheets import (
    UnreadableFile,
    check_size,
    read_table,
    upload_limits,
)
from portal.ordering.checks import MAX_LINES, LineRequest

MAX_PASTE_CHARS = 200_000
EXTENSIONS = ("csv", "tsv", "txt", "xlsx")
SKU_HEADERS = ("sku",)
QTY_HEADERS = ("qty", "quantity")
# Tabs (a paste from Excel), commas, semicolons (also the full-width ones) or spaces.
SEPARATORS = re.compile(r"[\t,;，；\s]+")


def _is_header(sku: str, qty: str) -> bool:
    return sku.strip().lower() in SKU_HEADERS and qty.strip().lower() in QTY_HEADERS


def parse_pasted(text: str) -> list[LineRequest]:
    """One `SKU qty` per line; blank lines are skipped, a first line reading `sku qty` is a
    header. A line that is not exactly two values keeps its text as the quantity, so the cart
    refuses it by its line number."""
    requests: list[LineRequest] = []
    for number, raw in enumerate((text or "").splitlines(), start=1):
        parts = [p for p in SEPARATORS.split(raw.strip()) if p]
        if not parts:
            continue
        sku, qty = parts[0], " ".join(parts[1:])
        if not requests and _is_header(sku, qty):
            continue
        requests.append(LineRequest(sku, qty, number - 1))
    return requests


class FileRefused(ValidationFailed):
    """The file as a whole cannot be used (not a table, no header, too big): nothing is added."""

    code = "order_file_refused"


def _refuse(message: str) -> FileRefused:
    return FileRefused(message, fields={"file": message})


def parse_file(filename: str, data: bytes) -> list[LineRequest]:
    """Rows of a CSV (UTF-8 with or without BOM, or GBK) or XLSX file with a header row naming
    `sku` and `qty` (any case, any other columns ignored). Blank rows are skipped."""
    extension = Path(filename or "").suffix.lower().lstrip(".")
    if extension not in EXTENSIONS:
        raise _refuse(_("Upload a .csv or .xlsx file."))
    if not data:
        raise _refuse(_("The file is empty."))
    limits = upload_limits(in_request=True)
    try:
        check_size(len(data), limits)
        # The reader works on a path: the file lives only while it is read.
        with tempfile.TemporaryDirectory(prefix="order-upload-") as tmp:
            path = Path(tmp) / f"upload.{extension}"
            path.write_bytes(data)
            rows, _total = read_table(path, limits)
            return _rows_to_requests(rows)
    except SpreadsheetRefused as exc:
        raise _refuse(exc.translated()) from exc
    except UnreadableFile as exc:
        raise _refuse(
            _(
                "The file cannot be read: save it as CSV (UTF-8 or GBK) or XLSX. (%(why)s)",
                why=str(exc),
            )
        ) from exc
    except (csv.Error, UnicodeError, ValueError) as exc:
        raise _refuse(_("The file cannot be read: save it as CSV (UTF-8 or GBK) or XLSX.")) from exc


def _rows_to_requests(rows) -> list[LineRequest]:
    header: list[str] | None = None
    sku_col = qty_col = -1
    requests: list[LineRequest] = []
    for number, cells in enumerate(rows, start=1):
        if header is None:
            header = [str(c or "").strip().lstrip("\ufeff").lower() for c in cells]
            sku_col = next((i for i, name in enumerate(header) if name in SKU_HEADERS), -1)
            qty_col = next((i for i, name in enumerate(header) if name in QTY_HEADERS), -1)
            if sku_col < 0 or qty_col < 0:
                found = ", ".join(h for h in header if h)[:200] or _("nothing")
                raise _refuse(
                    _(
                        "Row 1 must be a header naming the columns sku and qty (found: %(found)s).",
                        found=found,
                    )
                )
            continue
        if not any(str(c or "").strip() for c in cells):
            continue
        sku = cells[sku_col].strip() if sku_col < len(cells) else ""
        qty = cells[qty_col].strip() if qty_col < len(cells) else ""
        requests.append(LineRequest(sku, qty, number - 1))
        if len(requests) > MAX_LINES:
            break  # the cart refuses more than MAX_LINES lines anyway; stop reading
    if header is None:
        raise _refuse(_("The file is empty."))
    return requests
