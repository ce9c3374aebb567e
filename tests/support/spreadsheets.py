"""Hostile spreadsheets for upload tests, made in memory (small on disk): a sheet that declares
or reaches XFD1048576, parts that unpack to hundreds of MB, millions of empty rows, a cell of
500,000 characters, garbage named .xlsx. Each would take a process's memory or minutes if it
were parsed as it comes."""

from __future__ import annotations

import functools
import io
import struct
import zipfile

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"

CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    b'relationships+xml"/>'
    b'<Default Extension="xml" ContentType="application/xml"/>'
    b'<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
    b'officedocument.spreadsheetml.sheet.main+xml"/>'
    b'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
    b'officedocument.spreadsheetml.worksheet+xml"/>'
    b"</Types>"
)
ROOT_RELS = (
    f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PACKAGE_RELS}">'
    f'<Relationship Id="rId1" Type="{RELS}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
).encode()
WORKBOOK = (
    f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" xmlns:r="{RELS}">'
    '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
).encode()
WORKBOOK_RELS = (
    f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PACKAGE_RELS}">'
    f'<Relationship Id="rId1" Type="{RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
    "</Relationships>"
).encode()
SHEET = "xl/worksheets/sheet1.xml"


def cell(ref: str, value: str | int) -> str:
    if isinstance(value, int):
        return f'<c r="{ref}"><v>{value}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>'


def rows_xml(rows: list[list[str | int]]) -> str:
    """Rows from A1 down, each cell placed by its reference as Excel writes them."""
    out = []
    for number, values in enumerate(rows, start=1):
        cells = "".join(cell(f"{chr(ord('A') + i)}{number}", v) for i, v in enumerate(values))
        out.append(f'<row r="{number}">{cells}</row>')
    return "".join(out)


def sheet_xml(data: str, *, dimension: str | None = None, tail: str = "") -> bytes:
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN}">{dim}'
        f"<sheetData>{data}</sheetData>{tail}</worksheet>"
    ).encode()


def workbook(sheet: bytes, *, path: str = SHEET) -> bytes:
    """A minimal XLSX (what calamine needs) with the given first sheet, stored at `path`."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr("[Content_Types].xml", CONTENT_TYPES)
        book.writestr("_rels/.rels", ROOT_RELS)
        book.writestr("xl/workbook.xml", WORKBOOK)
        target = path.removeprefix("xl/").encode()
        book.writestr(
            "xl/_rels/workbook.xml.rels", WORKBOOK_RELS.replace(b"worksheets/sheet1.xml", target)
        )
        book.writestr(path, sheet)
    return out.getvalue()


def good_xlsx(rows: list[list[str | int]]) -> bytes:
    return workbook(sheet_xml(rows_xml(rows), dimension=f"A1:B{len(rows)}"))


def dimension_bomb(rows: list[list[str | int]]) -> bytes:
    """About 1.5 KB whose sheet declares A1:XFD1048576: 17 billion cells."""
    return workbook(sheet_xml(rows_xml(rows), dimension="A1:XFD1048576"))


def far_cell_bomb(rows: list[list[str | int]]) -> bytes:
    """No dimension, and one real cell at XFD1048576: calamine allocates the rectangle from A1
    to it (550 GB) and the process aborts."""
    far = f'<row r="1048576">{cell("XFD1048576", 1)}</row>'
    return workbook(sheet_xml(rows_xml(rows) + far))


def unplaced_cells_bomb(rows: list[list[str | int]], columns: int = 16_384) -> bytes:
    """Cells without references run on to the right of the last one: a row of 16,384 of them
    and a cell far down make the same rectangle without one reference past the limits."""
    wide = '<row r="2">' + "<c/>" * columns + "</row>"
    return workbook(
        sheet_xml(rows_xml(rows[:1]) + wide + f'<row r="900000">{cell("A900000", 1)}</row>')
    )


@functools.cache  # a second or so to pack: once per size and test run
def zip_bomb(megabytes: int = 300) -> bytes:
    """A sheet whose XML is a few hundred MB of zeros (in a comment): a few hundred KB packed."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr("[Content_Types].xml", CONTENT_TYPES)
        book.writestr("_rels/.rels", ROOT_RELS)
        book.writestr("xl/workbook.xml", WORKBOOK)
        book.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        with book.open(SHEET, "w", force_zip64=True) as part:
            head, tail = sheet_xml(rows_xml([["sku", "qty"]]), tail="<!--SPLIT-->").split(b"SPLIT")
            part.write(head)
            zeros = b"0" * (1024 * 1024)
            for _ in range(megabytes):
                part.write(zeros)
            part.write(tail)
    return out.getvalue()


def understated(data: bytes, member: str = SHEET, size: int = 1000) -> bytes:
    """The XLSX with `member`'s unpacked size in the zip directory understated as `size`: a
    reader trusting the directory reads more than it planned."""
    name = member.encode()
    start = data.rindex(b"PK\x01\x02", 0, data.rindex(name))
    entry = bytearray(data)
    assert data[start + 46 : start + 46 + len(name)] == name
    struct.pack_into("<L", entry, start + 24, size)
    return bytes(entry)


def empty_rows_xlsx(header: list[str | int], count: int) -> bytes:
    """A header, then `count` empty rows (each numbered, no cells)."""
    empty = "".join(f'<row r="{n}"/>' for n in range(2, count + 2))
    return workbook(sheet_xml(rows_xml([header]) + empty))


def empty_lines_csv(header: str, count: int) -> bytes:
    return header.encode() + b"\r\n" + b"\r\n" * count


def long_cell_csv(header: str, row: str, chars: int = 500_000) -> bytes:
    """The header, one ordinary row, then a row whose second cell holds `chars` characters."""
    return f"{header}\r\n{row}\r\nX-1,{'9' * chars}\r\n".encode()


GARBAGE = bytes(range(256)) * 8  # 2 KB of every byte value, named .xlsx


def multipart(filename: str, body: bytes, **fields: str) -> dict:
    """Keyword arguments for a test client's post() sending `body` as the form's `file` (and
    `fields`), encoded in memory: the test client spools a body over 500 KB to a temporary file
    it never closes, which `filterwarnings = error` reports."""
    from werkzeug.datastructures import FileStorage, MultiDict
    from werkzeug.test import encode_multipart

    values = MultiDict(fields)
    values.add("file", FileStorage(io.BytesIO(body), filename=filename))
    boundary, data = encode_multipart(values)
    return {"data": data, "content_type": f'multipart/form-data; boundary="{boundary}"'}
