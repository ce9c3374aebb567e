"""Files people open in Excel, both ways: CSV (UTF-8 with a BOM, so Chinese shows correctly) and
XLSX written for exports, and uploaded CSV / XLSX read as tables of text.

Writing: text that a spreadsheet would run as a formula is written inert, exports carrying notes
and names typed by other organizations. Reading: an uploaded file is held to the limits in the
configuration (`UPLOAD_*`) before it is parsed, and while it is read: an XLSX's zip directory,
the sizes its parts really unpack to and its sheet's declared and real extent are checked before
calamine sees it, so a 2 KB file claiming a million rows and sixteen thousand columns, or a
part of a few hundred MB of zeros, is refused with the limit it breaks instead of taking the
process's memory.

One module on purpose: the reader's limits and the XLSX inspection guard each other (the
inspection decides what the parser may be handed), and the writer's inert-text rule is the
reader's counterpart; split, each half would have to be read with the other open.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

# -- writing --------------------------------------------------------------------------------------

# What a spreadsheet starts a formula (or a DDE call) with, and the full-width and small forms a
# Chinese or Japanese input method types and some spreadsheets take for them.
FORMULA_TRIGGERS = frozenset("=+-@\uff1d\uff0b\uff0d\uff20\ufe62\ufe63\ufe66\ufe6b\u2212")
# Skipped before a trigger by some spreadsheets: whitespace (str.isspace: space, tab, CR, LF and
# the Unicode spaces) and the invisible characters isspace does not count.
_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\u180e")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?\Z")


def runs_as_formula(text: str) -> bool:
    """Whether a spreadsheet could take this text for a formula: a trigger first, after any
    whitespace, or a tab, CR or LF first (which some spreadsheets drop). A plain number such as
    "-5" is a number to any spreadsheet, not a formula."""
    if not text or _PLAIN_NUMBER.match(text):
        return False
    if text[0] in "\t\r\n":
        return True
    for char in text:
        if char.isspace() or char in _INVISIBLE:
            continue
        return char in FORMULA_TRIGGERS
    return False


def _inert(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and runs_as_formula(value):
        return "'" + value
    return value


def csv_bytes(rows: Iterable[Iterable[Any]]) -> bytes:
    """Numbers stay numbers; text that would run as a formula gets Excel's leading apostrophe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([_inert(value) for value in row])
    return codecs.BOM_UTF8 + out.getvalue().encode("utf-8")


def mark_text(cell: Any) -> None:
    """An openpyxl cell holding text: stored as text, never as a formula, and when the text would
    run as one, flagged with Excel's quote prefix, so it stays text even once edited."""
    cell.data_type = "s"
    if runs_as_formula(cell.value):
        cell.quotePrefix = True


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
                mark_text(cell)
            cells.append(cell)
        sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# -- reading: limits ------------------------------------------------------------------------------


def _l(msgid: str) -> str:
    """Marks a message for extraction (babel.cfg's `_l` keyword); it is translated where shown."""
    return msgid


class UnreadableFile(Exception):
    """The file is not text in an encoding we read, or not CSV: a row 1 error of the file."""


class FileRefused(Exception):
    """The file as a whole is refused (not a workbook, or past a limit): nothing is read from it.
    `str()` is the English message; `translated()` is for a page in the user's language."""

    def __init__(self, msgid: str, **params: Any) -> None:
        self.msgid = msgid
        self.params = params
        super().__init__(msgid % params)

    def translated(self) -> str:
        """In the language of the request's user; English outside a request (jobs, CLI)."""
        from flask import has_request_context
        from flask_babel import gettext

        return gettext(self.msgid, **self.params) if has_request_context() else str(self)


NOT_XLSX = _l(
    "The file cannot be read: it is not a valid XLSX file. Save it again from Excel, or as CSV."
)
# Parts of a workbook smaller than this may compress as well as they like (tiny XML compresses
# well); larger ones are held to UPLOAD_MAX_COMPRESSION_RATIO.
RATIO_FLOOR = 1024 * 1024
MAX_PARTS = 10_000  # files inside one XLSX; Excel writes a dozen, with pictures a few hundred
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class UploadLimits:
    """What an uploaded spreadsheet may hold. Rows count below the header row."""

    max_bytes: int
    max_rows: int
    max_columns: int
    max_cell_chars: int
    max_uncompressed_bytes: int
    max_compression_ratio: int
    bytes_setting: str = "UPLOAD_MAX_BYTES"
    rows_setting: str = "UPLOAD_MAX_ROWS"

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, in_request: bool = False) -> UploadLimits:
        """The limits for a file a job reads, or (`in_request`) for one the web request itself
        parses, which are smaller: a web worker never parses a large file."""
        limits = cls(
            max_bytes=int(config["UPLOAD_MAX_BYTES"]),
            max_rows=int(config["UPLOAD_MAX_ROWS"]),
            max_columns=int(config["UPLOAD_MAX_COLUMNS"]),
            max_cell_chars=int(config["UPLOAD_MAX_CELL_CHARS"]),
            max_uncompressed_bytes=int(config["UPLOAD_MAX_UNCOMPRESSED_BYTES"]),
            max_compression_ratio=int(config["UPLOAD_MAX_COMPRESSION_RATIO"]),
        )
        if not in_request:
            return limits
        return cls(
            max_bytes=min(limits.max_bytes, int(config["UPLOAD_IN_REQUEST_MAX_BYTES"])),
            max_rows=min(limits.max_rows, int(config["UPLOAD_IN_REQUEST_MAX_ROWS"])),
            max_columns=limits.max_columns,
            max_cell_chars=limits.max_cell_chars,
            max_uncompressed_bytes=limits.max_uncompressed_bytes,
            max_compression_ratio=limits.max_compression_ratio,
            bytes_setting="UPLOAD_IN_REQUEST_MAX_BYTES",
            rows_setting="UPLOAD_IN_REQUEST_MAX_ROWS",
        )


def upload_limits(*, in_request: bool = False) -> UploadLimits:
    from flask import current_app

    return UploadLimits.from_config(current_app.config, in_request=in_request)


def file_size_text(size: int) -> str:
    """1,536 -> "1.5 KB": sizes in messages, as a person reads them."""
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:,.1f}".removesuffix(".0") + f" {unit}"
    return f"{size:,} bytes"


def check_size(size: int, limits: UploadLimits) -> None:
    """Raises FileRefused for a file larger than the limit."""
    if size > limits.max_bytes:
        raise FileRefused(
            _l("The file is larger than %(limit)s, the most accepted (%(setting)s)."),
            limit=file_size_text(limits.max_bytes),
            setting=limits.bytes_setting,
        )


def column_letters(number: int) -> str:
    """1 -> "A", 27 -> "AA": a column as the spreadsheet names it."""
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _column_number(letters: bytes) -> int:
    number = 0
    for char in letters.upper():
        number = number * 26 + char - ord("A") + 1
    return number


def _too_many_rows(limits: UploadLimits, rows: int | None = None) -> FileRefused:
    if rows is None:
        return FileRefused(
            _l(
                "The file has more than %(limit)s rows below its header, the most accepted "
                "(%(setting)s)."
            ),
            limit=f"{limits.max_rows:,}",
            setting=limits.rows_setting,
        )
    return FileRefused(
        _l(
            "The sheet reaches row %(rows)s; at most %(limit)s rows below the header are "
            "accepted (%(setting)s)."
        ),
        rows=f"{rows:,}",
        limit=f"{limits.max_rows:,}",
        setting=limits.rows_setting,
    )


def _too_many_columns(limits: UploadLimits, columns: int, row: int | None = None) -> FileRefused:
    if row is None:
        return FileRefused(
            _l(
                "The sheet reaches column %(letters)s (column %(columns)s); at most %(limit)s "
                "columns are accepted (UPLOAD_MAX_COLUMNS)."
            ),
            columns=f"{columns:,}",
            letters=column_letters(columns),
            limit=f"{limits.max_columns:,}",
        )
    return FileRefused(
        _l(
            "Row %(row)s has %(columns)s columns; at most %(limit)s are accepted "
            "(UPLOAD_MAX_COLUMNS)."
        ),
        row=f"{row:,}",
        columns=f"{columns:,}",
        limit=f"{limits.max_columns:,}",
    )


def _cell_too_long(limits: UploadLimits, row: int, column: int | None, chars: int) -> FileRefused:
    if column is None:  # a quoted cell running over many lines: its column is not known yet
        return FileRefused(
            _l(
                "Row %(row)s: a cell is longer than %(limit)s characters, the most one cell may "
                "hold (UPLOAD_MAX_CELL_CHARS)."
            ),
            row=f"{row:,}",
            limit=f"{limits.max_cell_chars:,}",
        )
    return FileRefused(
        _l(
            "Row %(row)s, column %(column)s: the cell holds %(chars)s characters; at most "
            "%(limit)s are accepted (UPLOAD_MAX_CELL_CHARS)."
        ),
        row=f"{row:,}",
        column=column_letters(column),
        chars=f"{chars:,}",
        limit=f"{limits.max_cell_chars:,}",
    )


# -- reading: what an XLSX holds, before calamine sees it ------------------------------------------

_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # a zip member's local header, as in the zip format
_DIMENSION = re.compile(rb"<(?:[\w.-]+:)?dimension\s[^>]*?\bref\s*=\s*[\"']([^\"']*)[\"']")
_REF = re.compile(rb"\$?([A-Za-z]{1,7})\$?([0-9]{1,15})\Z")
_SPACE = b" \t\r\n"  # what quick-xml, calamine's XML reader, counts as whitespace
_ATTRIBUTE = re.compile(rb"[ \t\r\n]*([^ \t\r\n=]+)[ \t\r\n]*=[ \t\r\n]*(?:\"([^\"]*)\"|'([^']*)')")
_NAME = re.compile(rb"[^ \t\r\n/>\"']*+")
_TAG_BODY = re.compile(rb"[^>\"']*+")
_PLACED = (b"c", b"row", b"dimension")
MAX_TAG = 1024 * 1024  # a row, cell or dimension tag this long is no spreadsheet's
# Markup as quick-xml reads it, each consumed whole by one regex pass (no Python step per
# element): text, end tags (to the first `>`), comments (`-->` from the 4th byte on), CDATA
# (`]]>`), processing instructions (`?>` from the 2nd byte on) and start tags (to the first `>`
# outside quotes), except those of cells, rows and the dimension, in any namespace: the pass
# stops at those, and they are placed one by one.
_QUOTED = rb"(?:[^>\"']++|\"[^\"]*+\"|'[^']*+')*+"
_END_TAG = rb"</[^>]*+>"
_OTHER_END_TAG = rb"</(?!(?:[^ \t\r\n>:]*+:)?row[ \t\r\n]*>)[^>]*+>"  # a row's end moves calamine
_MARKUP = (
    rb"[^<]++",
    rb"<!-.(?s:.*?)-->",
    rb"<!\[(?s:.*?)\]\]>",
    rb"<\?(?:>|(?s:.*?)\?>)",
    rb"<(?![!?/]|(?:[^ \t\r\n/>\"':]*+:)?(?:c|row|dimension)[ \t\r\n/>])[^ \t\r\n/>\"']*+"
    + _QUOTED
    + rb">",
)


def _markup(*extra: bytes) -> re.Pattern[bytes]:
    text, *rest = _MARKUP
    return re.compile(rb"(?:" + rb"|".join((text, *extra, *rest)) + rb")*+", re.S)


_EXACT_MARKUP = _markup(_OTHER_END_TAG)


class _Unplaced(Exception):
    """A row or cell without a reference: the fast pass cannot place it (see _SheetScan)."""


class _SheetScan:
    """Finds how far each worksheet's rows and columns really reach, streaming its XML as
    calamine's reader (quick-xml) tokenizes it, so that no quoting, comment or CDATA trick
    shows calamine a cell this scan does not see. calamine allocates the rectangle from A1 to
    the last cell: one cell at XFD1048576 costs hundreds of GB.

    Every part of the workbook is fed through it (calamine may take any part for a sheet).
    In the fast pass (`exact=False`), rows and cells whose reference comes first and lies
    plainly within the limits (all of Excel's and openpyxl's) are consumed in C; any other
    row or cell is placed by its reference, and one without a reference raises _Unplaced: the
    part is then scanned again exactly, every row and cell placed as calamine places it (by
    its reference, else after the previous one)."""

    def __init__(self, limits: UploadLimits, *, exact: bool = False) -> None:
        self.limits = limits
        self.max_row = limits.max_rows + 1  # the header is a row too
        self.exact = exact
        self.markup = _EXACT_MARKUP if exact else self._fast_markup(limits)
        self.buffer = b""
        self.stopped = False  # quick-xml fails here: calamine reads nothing past this point
        self.until = b""  # inside a comment, CDATA, instruction or end tag: what ends it
        self.in_tag = False  # inside a start tag (to its `>` outside quotes)
        self.quote = b""
        self.tag: bytearray | None = None  # a row, cell or dimension tag being collected
        self.row_index = 0  # calamine's own place (from 0): the row, and the next column
        self.col_index = 0

    @staticmethod
    def _fast_markup(limits: UploadLimits) -> re.Pattern[bytes]:
        # References with fewer letters than the first column past the limit, and fewer digits
        # than the first row past it, are within the limits.
        letters = len(column_letters(limits.max_columns + 1)) - 1
        digits = len(str(limits.max_rows + 2)) - 1
        if digits < 1:
            return _markup(_END_TAG)
        return _markup(
            rb'<c r="[A-Za-z]{0,%d}[0-9]{1,%d}"' % (letters, digits) + _QUOTED + rb">",
            rb'<row r="[0-9]{1,%d}"' % digits + _QUOTED + rb">",
            _END_TAG,
        )

    def feed(self, data: bytes) -> None:
        if not self.stopped:
            self.buffer += data
            self._run(final=False)

    def close(self) -> None:
        if not self.stopped:
            self._run(final=True)  # what is left unterminated, quick-xml fails on
        self.buffer = b""

    def _run(self, *, final: bool) -> None:
        buf, pos, end = self.buffer, 0, len(self.buffer)
        while pos < end and not self.stopped:
            if self.until:
                found = buf.find(self.until, pos)
                if found < 0:  # keep what may begin the terminator
                    pos = max(pos, end - len(self.until) + 1)
                    break
                pos, self.until = found + len(self.until), b""
                continue
            if self.in_tag:
                pos = self._tag(buf, pos)
                continue
            skipped = self.markup.match(buf, pos)
            assert skipped is not None  # it matches the empty string too
            pos = skipped.end()
            if pos >= end:
                break
            head = buf[pos : pos + 9]  # a `<` the pass stopped at
            if len(head) < 9 and not final:
                break  # wait for the bytes that tell what it is
            if head.startswith(b"<!-"):
                self.until, pos = b"-->", pos + 4
            elif head.startswith(b"<!["):
                self.until, pos = b"]]>", pos + 3
            elif head.startswith(b"<?"):
                self.until, pos = b"?>", pos + 1
            elif head.startswith(b"</"):
                close = buf.find(b">", pos)
                if close < 0:
                    if final:
                        self.stopped = True
                    break
                name = buf[pos + 2 : close].rstrip(_SPACE)
                if name.split(b":", 1)[-1] == b"row":  # calamine moves to the next row
                    self.row_index, self.col_index = self.row_index + 1, 0
                pos = close + 1
            elif head.startswith(b"<!"):
                if head[2:].upper() == b"DOCTYPE":
                    raise FileRefused(NOT_XLSX)  # never in a workbook; quick-xml reads it oddly
                self.stopped = True  # any other `<!` is an error to quick-xml
            else:
                opened = _NAME.match(buf, pos + 1)
                assert opened is not None  # it matches the empty string too
                if opened.end() >= end and not final:
                    break  # the name may go on
                local = opened.group().split(b":", 1)[-1]
                self.in_tag, self.quote = True, b""
                self.tag = bytearray(local + b" ") if local in _PLACED else None
                pos = opened.end()
        self.buffer = buf[pos:]
        if len(self.buffer) > MAX_TAG + 16:
            raise FileRefused(NOT_XLSX)

    def _tag(self, buf: bytes, pos: int) -> int:
        """Read on inside a start tag; at its `>`, place it if it is a row, cell or dimension."""
        end = len(buf)
        start = pos
        while True:
            if self.quote:
                found = buf.find(self.quote, pos)
                if found < 0:
                    pos = end
                    break
                pos, self.quote = found + 1, b""
            body = _TAG_BODY.match(buf, pos)
            assert body is not None  # it matches the empty string too
            pos = body.end()
            if pos >= end:
                break
            if buf[pos : pos + 1] == b">":
                self.in_tag = False
                break
            self.quote = buf[pos : pos + 1]
            pos += 1
        if self.tag is not None:
            self.tag += buf[start:pos]
            if len(self.tag) > MAX_TAG:
                raise FileRefused(NOT_XLSX)
            if not self.in_tag:
                self._place(bytes(self.tag))
                self.tag = None
        return pos + (0 if self.in_tag else 1)

    def _place(self, tag: bytes) -> None:
        name, _space, attributes = tag.partition(b" ")
        attributes = attributes.rstrip(_SPACE + b"/")
        values: dict[bytes, list[bytes]] = {}
        at = 0
        while at < len(attributes):
            found = _ATTRIBUTE.match(attributes, at)
            if found is None:
                if attributes[at:].strip(_SPACE):
                    raise FileRefused(NOT_XLSX)  # quick-xml fails on it too
                break
            value = found.group(2) if found.group(2) is not None else found.group(3)
            values.setdefault(found.group(1), []).append(value)
            at = found.end()
        if name == b"dimension":
            for ref in values.get(b"ref", []):
                _check_declared(ref, self.limits)
            return
        refs = values.get(b"r", [])  # quick-xml refuses a repeated one; each is checked
        if not refs and not self.exact:
            raise _Unplaced()
        if name == b"row":
            for ref in refs:
                if not ref.isdigit():
                    raise FileRefused(NOT_XLSX)
                self._check(int(ref), 0)
                self.row_index = max(int(ref) - 1, 0)
            return
        if not refs:  # placed after the previous cell, as calamine places it
            self._check(self.row_index + 1, self.col_index + 1)
            self.col_index += 1
            return
        for ref in refs:
            placed = _REF.match(ref)
            if placed is None:
                raise FileRefused(NOT_XLSX)
            column = _column_number(placed.group(1))
            self._check(int(placed.group(2)), column)
            self.col_index = column

    def _check(self, row: int, column: int) -> None:
        if row > self.max_row:
            raise _too_many_rows(self.limits, row)
        if column > self.limits.max_columns:
            raise _too_many_columns(self.limits, column)


def _check_dimension(head: bytes, limits: UploadLimits) -> None:
    """The sheet's <dimension ref="A1:XFD1048576"/>, read from the first bytes of its XML."""
    found = _DIMENSION.search(head.split(b"<sheetData", 1)[0])
    if found is not None:
        _check_declared(found.group(1), limits)


def _check_declared(ref: bytes, limits: UploadLimits) -> None:
    placed = _REF.match(ref.split(b":")[-1].strip())
    if placed is None:
        return  # calamine refuses it itself
    rows, columns = int(placed.group(2)), _column_number(placed.group(1))
    if rows > limits.max_rows + 1:
        raise FileRefused(
            _l(
                "The sheet declares %(rows)s rows; at most %(limit)s rows below the header are "
                "accepted (%(setting)s)."
            ),
            rows=f"{rows:,}",
            limit=f"{limits.max_rows:,}",
            setting=limits.rows_setting,
        )
    if columns > limits.max_columns:
        raise FileRefused(
            _l(
                "The sheet declares %(columns)s columns (up to column %(letters)s); at most "
                "%(limit)s are accepted (UPLOAD_MAX_COLUMNS)."
            ),
            columns=f"{columns:,}",
            letters=column_letters(columns),
            limit=f"{limits.max_columns:,}",
        )


def _member_chunks(handle: io.BufferedReader, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """A member's bytes as they unpack, decompressed here rather than by zipfile: zipfile stops
    at the size the directory states, calamine's reader does not, so a part that unpacks to more
    than its directory says must be seen whole (and refused)."""
    handle.seek(info.header_offset)
    header = handle.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size:
        raise FileRefused(NOT_XLSX)
    signature, *_fields, name_length, extra_length = _LOCAL_HEADER.unpack(header)
    if signature != b"PK\x03\x04":
        raise FileRefused(NOT_XLSX)
    handle.seek(name_length + extra_length, io.SEEK_CUR)
    left = info.compress_size
    inflate = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    while left > 0:
        raw = handle.read(min(CHUNK, left))
        if not raw:
            raise FileRefused(NOT_XLSX)  # cut short
        left -= len(raw)
        if inflate is None:
            yield raw
            continue
        while raw:
            try:
                out = inflate.decompress(raw, 4 * CHUNK)
            except zlib.error as exc:
                raise FileRefused(NOT_XLSX) from exc
            raw = inflate.unconsumed_tail
            if out:
                yield out
    if inflate is not None:
        if rest := inflate.flush():  # at most what the last block still held back
            yield rest
        if not inflate.eof:
            raise FileRefused(NOT_XLSX)


def inspect_xlsx(path: Path, limits: UploadLimits) -> None:
    """Refuse (FileRefused) an XLSX that is not a zip of a workbook, that unpacks to more than the
    limits (by its directory, then by its real bytes), or whose sheets declare or really reach
    more rows or columns than the limits. The directory and the first bytes of each sheet are
    read first; only then is every part unpacked, in a stream, never whole."""
    with open(path, "rb") as handle:
        if handle.read(4) != b"PK\x03\x04":
            raise FileRefused(NOT_XLSX)
        try:
            with zipfile.ZipFile(handle) as archive:
                members = archive.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
            raise FileRefused(NOT_XLSX) from exc
        if not members or len(members) > MAX_PARTS:
            raise FileRefused(NOT_XLSX)
        declared = 0
        for info in members:
            if info.flag_bits & 0x1 or info.compress_type not in (
                zipfile.ZIP_STORED,
                zipfile.ZIP_DEFLATED,
            ):
                raise FileRefused(NOT_XLSX)  # encrypted, or packed in a way Excel never writes
            declared += info.file_size
            _check_unpacked(declared, limits)
            _check_ratio(info, info.file_size, limits)
        # The declared extent first: a dimension bomb is refused after a few KB.
        for info in members:
            head = b""
            for chunk in _member_chunks(handle, info):
                head += chunk
                if len(head) >= 64 * 1024:
                    break
            _check_dimension(head[: 64 * 1024], limits)
        unpacked = 0
        for info in members:
            try:
                unpacked += _scan_part(handle, info, limits, unpacked, exact=False)
            except _Unplaced:  # rows or cells without references: place every one
                unpacked += _scan_part(handle, info, limits, unpacked, exact=True)


def _scan_part(
    handle: io.BufferedReader,
    info: zipfile.ZipInfo,
    limits: UploadLimits,
    unpacked: int,
    *,
    exact: bool,
) -> int:
    """Unpack one part in a stream, checking its real size and CRC against the directory and
    its rows and cells against the limits; returns its size."""
    scan = _SheetScan(limits, exact=exact)
    size = crc = 0
    for chunk in _member_chunks(handle, info):
        size += len(chunk)
        if size > info.file_size:
            raise FileRefused(NOT_XLSX)  # the directory understates it
        _check_unpacked(unpacked + size, limits)
        crc = zlib.crc32(chunk, crc)
        scan.feed(chunk)
    if size != info.file_size or crc != info.CRC:
        raise FileRefused(NOT_XLSX)
    scan.close()
    return size


def _check_unpacked(size: int, limits: UploadLimits) -> None:
    if size > limits.max_uncompressed_bytes:
        raise FileRefused(
            _l(
                "The workbook unpacks to more than %(limit)s; at most that is accepted "
                "(UPLOAD_MAX_UNCOMPRESSED_BYTES)."
            ),
            limit=file_size_text(limits.max_uncompressed_bytes),
        )


def _check_ratio(info: zipfile.ZipInfo, size: int, limits: UploadLimits) -> None:
    if size <= RATIO_FLOOR:
        return
    ratio = size / max(info.compress_size, 1)
    if ratio > limits.max_compression_ratio:
        raise FileRefused(
            _l(
                "A part of the workbook (%(part)s) is compressed %(ratio)s to 1; at most "
                "%(limit)s to 1 is accepted (UPLOAD_MAX_COMPRESSION_RATIO)."
            ),
            part=info.filename[:100],
            ratio=f"{ratio:,.0f}",
            limit=f"{limits.max_compression_ratio:,}",
        )


# -- reading: rows ---------------------------------------------------------------------------------


def cell_text(value: Any) -> str:
    """An XLSX cell as the text a person typed: 12.0 is "12", a date is "2025-03-01"."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _parser_failure(exc: BaseException) -> bool:
    """calamine's errors, and the Rust panics pyo3 raises as a BaseException."""
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


def _xlsx_rows(
    path: Path, limits: UploadLimits, *, inspected: bool
) -> tuple[Iterator[list[str]], int]:
    """Rows of the first sheet, read by calamine (Rust): openpyxl took minutes over a
    600,000-row catalog (bench/), calamine seconds. Empty columns before the first filled
    cell are given back, so cells keep their places and row numbers are the ones Excel shows."""
    from python_calamine import CalamineWorkbook

    if not inspected:
        inspect_xlsx(path, limits)
    try:
        sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0)
    except BaseException as exc:
        if not _parser_failure(exc):
            raise
        raise FileRefused(NOT_XLSX) from exc
    if sheet.start is None:  # nothing filled in at all
        return iter(()), 0
    first_row, first_col = sheet.start
    total = max(0, first_row + sheet.height - 1)

    def rows() -> Iterator[list[str]]:  # calamine gives leading empty rows, not columns
        blank = [""] * first_col
        try:
            for values in sheet.iter_rows():
                yield blank + [cell_text(v) for v in values]
        except BaseException as exc:
            if not _parser_failure(exc) or isinstance(exc, FileRefused):
                raise
            raise FileRefused(NOT_XLSX) from exc

    return rows(), total


def _sniff_text(path: Path) -> tuple[str, int]:
    """The encoding (UTF-8 with or without BOM, UTF-16 with BOM, else GB18030, a superset of
    GBK as Chinese Excel saves CSV) and about how many data rows, in one pass over the bytes."""
    with open(path, "rb") as handle:
        head = handle.read(4)
        if head.startswith(codecs.BOM_UTF16_LE):
            encoding, newline = "utf-16", b"\n\x00"
        elif head.startswith(codecs.BOM_UTF16_BE):
            encoding, newline = "utf-16", b"\x00\n"
        else:
            encoding, newline = "utf-8-sig", b"\n"
        handle.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")() if encoding == "utf-8-sig" else None
        lines, last = 0, b""
        while chunk := handle.read(CHUNK):
            lines += chunk.count(newline)
            last = chunk[-len(newline) :]
            if decoder is not None:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    decoder, encoding = None, "gb18030"
        if decoder is not None:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                encoding = "gb18030"
    return encoding, max(0, lines - 1 + (0 if last == newline else 1))


def _csv_rows(path: Path, limits: UploadLimits) -> tuple[Iterator[list[str]], int]:
    """Rows of a CSV or tab-separated file, read as a stream: a line longer than the widest row
    allowed is refused before it is held whole, and reading stops at the row limit."""
    encoding, total = _sniff_text(path)
    # The longest line a row within the limits takes, quoted and separated.
    line_limit = limits.max_columns * (limits.max_cell_chars * 2 + 3) + 2
    # The csv module's own cap on one cell (process-wide); cells past UPLOAD_MAX_CELL_CHARS but
    # under this reach the check below, which names their row and column.
    csv.field_size_limit(max(line_limit, 131072))

    def rows() -> Iterator[list[str]]:
        read = 0
        with open(path, encoding=encoding, newline="") as handle:

            def lines() -> Iterator[str]:
                while True:
                    try:
                        line = handle.readline(line_limit + 1)
                    except UnicodeDecodeError as exc:
                        raise UnreadableFile("The file is neither UTF-8 nor GBK text.") from exc
                    if not line:
                        return
                    if len(line) > line_limit:
                        raise _cell_too_long(limits, read + 1, None, len(line))
                    yield line

            source = lines()
            first = next(source, "")
            delimiter = "\t" if first.count("\t") > first.count(",") else ","
            reader = csv.reader(itertools.chain([first], source), delimiter=delimiter)
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    if "field larger than field limit" in str(exc):
                        raise _cell_too_long(limits, read + 1, None, 0) from exc
                    raise
                read += 1
                yield cells

    return rows(), total


def _limited(rows: Iterator[list[str]], limits: UploadLimits) -> Iterator[list[str]]:
    """Rows as read, refused (FileRefused) past the row limit, at a row wider than the column
    limit (empty cells at its end do not count) or at a cell longer than the cell limit."""
    last_row = limits.max_rows + 1
    longest = limits.max_cell_chars
    for number, cells in enumerate(rows, start=1):
        if number > last_row:
            raise _too_many_rows(limits)
        if len(cells) > limits.max_columns:
            width = len(cells)
            while width and not cells[width - 1]:
                width -= 1
            if width > limits.max_columns:
                raise _too_many_columns(limits, width, number)
            cells = cells[:width]
        if cells and max(map(len, cells)) > longest:
            column = next(i for i, value in enumerate(cells, start=1) if len(value) > longest)
            raise _cell_too_long(limits, number, column, len(cells[column - 1]))
        yield cells


def read_table(
    path: Path, limits: UploadLimits, *, inspected: bool = False
) -> tuple[Iterator[list[str]], int]:
    """Every row of an uploaded file (header first) as lists of text, and about how many data
    rows. Raises FileRefused, before anything is parsed, for a file past the byte limit or an
    XLSX that is broken or past its limits, and while the rows are read for a row, column or
    cell past them; UnreadableFile (or csv.Error) for text that cannot be read.

    `inspected`: these very bytes (same SHA-256) passed `inspect_xlsx` before, when the file was
    checked; applying it then skips the second inspection of an XLSX."""
    check_size(path.stat().st_size, limits)
    if path.suffix.lower() == ".xlsx":
        rows, total = _xlsx_rows(path, limits, inspected=inspected)
    else:
        rows, total = _csv_rows(path, limits)
    return _limited(rows, limits), total
