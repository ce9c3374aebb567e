"""Staged files: the pipeline every bulk import shares (catalog import, stock upload, later ones).

A file is uploaded and stored under instance/ with its SHA-256; a job checks it and records row
errors (downloadable as a workbook); a person confirms; a second job checks it again and applies
it whole, or not at all. Its record moves

    validating -> invalid | ready -> applying -> applied | failed

(`failed`: refused whole, or broken, at any step; nothing was applied). This module holds the
mechanics; a domain keeps only its rules: which columns, how a row is checked, how it is applied.
Its record (a model with the columns of `StagedFile`) and its functions are passed in.
"""

from __future__ import annotations

import csv
import enum
import hashlib
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TypeVar, cast

from flask import Response, current_app
from sqlalchemy import CursorResult, update

from portal.core import jobs
from portal.core.db import utcnow
from portal.core.spreadsheets import (
    FileRefused,
    UnreadableFile,
    check_size,
    csv_bytes,
    read_table,
    upload_limits,
    xlsx_bytes,
)
from portal.extensions import db

EXTENSIONS = ("csv", "tsv", "txt", "xlsx")
CSV_MIMETYPE = "text/csv; charset=utf-8"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CHUNK = 1024 * 1024

Progress = Callable[[int, int, str], None]


def no_progress(done: int, total: int, message: str = "") -> None:
    return None


class StagedStatus(enum.StrEnum):
    """The states every staged file shares (a domain's own enum holds the same values)."""

    VALIDATING = "validating"
    INVALID = "invalid"  # row errors: nothing can be applied
    READY = "ready"  # checked, waiting for confirmation
    APPLYING = "applying"
    APPLIED = "applied"
    FAILED = "failed"  # refused or broken: nothing was applied


class StagedFile(Protocol):
    """The columns a staged-file model has (CatalogImport, StockUpload)."""

    id: int
    filename: str
    stored_path: str
    sha256: str
    status: str
    total_rows: int
    error_count: int
    errors: list[dict[str, Any]]
    summary: dict[str, Any]
    applied_at: datetime | None


class Checked(Protocol):
    """What a domain's check of the rows returns: its row errors, counted."""

    errors: list[dict[str, Any]]
    error_count: int
    total_rows: int

    def error(self, row: int, column: str, reason: str) -> None: ...


R = TypeVar("R", bound=StagedFile)
C = TypeVar("C", bound=Checked)
E = TypeVar("E", bound="RowErrors")


# -- checking the rows ----------------------------------------------------------------------------

MAX_STORED_ERRORS = 1000
PROGRESS_EVERY = 1000


@dataclass
class RowErrors:
    """A check's row errors: every one counted, the first `max_stored()` kept with the row (the
    header is row 1) and the column they name. A domain's check result extends it."""

    errors: list[dict[str, Any]] = field(default_factory=list)
    error_count: int = 0
    total_rows: int = 0

    def max_stored(self) -> int:
        return MAX_STORED_ERRORS

    def error(self, row: int, column: str, reason: str) -> None:
        self.error_count += 1
        if len(self.errors) < self.max_stored():
            self.errors.append({"row": row, "column": column, "reason": reason})


def header_index(
    cells: list[str],
    checked: RowErrors,
    *,
    columns: Sequence[str],
    required: Sequence[str],
    aliases: Mapping[str, str] | None = None,
    refuse_unknown: bool = False,
) -> dict[str, int]:
    """The known columns of a header row by position. Names are compared without case, spaces
    read as "_", and `aliases` (a header as typed -> its column) are understood. A column twice
    or a required one missing is an error on row 1; so is an unknown one if `refuse_unknown`,
    else it is ignored."""
    index: dict[str, int] = {}
    for position, raw in enumerate(cells):
        name = (raw or "").strip().lstrip("\ufeff")
        if not name:
            continue
        normal = name.lower().replace(" ", "_")
        key = aliases.get(name, normal) if aliases else normal
        if key not in columns:
            if refuse_unknown:
                checked.error(1, name, "Unknown column.")
        elif key in index:
            checked.error(1, name, "This column appears twice.")
        else:
            index[key] = position
    for column in required:
        if column not in index:
            checked.error(1, column, "Required column is missing.")
    return index


def check_rows(
    rows: Iterable[list[str]],
    checked: E,
    *,
    columns: Sequence[str],
    header: Callable[[list[str]], dict[str, int]],
    row: Callable[[int, dict[str, str]], None],
    finish: Callable[[], None] | None = None,
    total: int = 0,
    progress: Progress = no_progress,
    progress_every: int = PROGRESS_EVERY,
) -> E:
    """The loop every staged file's check shares. The first row goes to `header` (which records
    its errors in `checked`: any stops the check there); each later row that is not blank is
    counted and given to `row(row_no, values)`, `values` being every one of `columns`, stripped
    (a column the file lacks reads ""); then `finish()` runs. Progress is reported every
    `progress_every` rows; a file without a header, or without a row below it, is an error."""
    index: dict[str, int] = {}
    positions: list[tuple[str, int]] = []
    width = 0
    for row_no, cells in enumerate(rows, start=1):
        if row_no == 1:
            index = header(cells)
            if checked.error_count:
                return checked
            # Absent optional columns read the empty cell appended to every row.
            positions = [(c, index.get(c, -1)) for c in columns]
            width = max(index.values()) + 1
            continue
        if not any(c.strip() for c in cells if c):
            continue  # blank lines are not rows
        checked.total_rows += 1
        if checked.total_rows % progress_every == 0:
            progress(checked.total_rows, total, f"{checked.total_rows} rows checked")
        if len(cells) < width:
            cells = [*cells, *[""] * (width - len(cells))]
        cells.append("")
        row(row_no, {c: (cells[i] or "").strip() for c, i in positions})
    if finish is not None:
        finish()
    if not index:
        checked.error(1, "", "The file is empty.")
    elif checked.total_rows == 0:
        checked.error(2, "", "The file has no rows below its header.")
    return checked


# -- storing the upload ---------------------------------------------------------------------------


def store(
    folder: str, name: str, source: bytes | BinaryIO, *, rejected: Callable[..., Exception]
) -> tuple[str, str, int]:
    """Store an uploaded file under instance/`folder`: (relative path, SHA-256, size).

    Raises `rejected(fields={"file": ...})` (the domain's error) for a type other than CSV or
    XLSX, an empty file or one past UPLOAD_MAX_BYTES (a stream is read no further). The file
    appears whole or not at all: the job never reads half a file."""
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in EXTENSIONS:
        raise rejected(fields={"file": "Upload a .csv or .xlsx file."})
    relative = f"{folder}/{uuid.uuid4().hex}.{ext}"
    target = Path(current_app.instance_path) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".part")
    digest, size = hashlib.sha256(), 0
    limits = upload_limits()
    with open(temporary, "wb") as out:
        for chunk in _chunks(source):
            size += len(chunk)
            try:
                check_size(size, limits)
            except FileRefused as refused:
                out.close()
                temporary.unlink()
                raise rejected(fields={"file": refused.translated()}) from refused
            digest.update(chunk)
            out.write(chunk)
    if size == 0:
        temporary.unlink()
        raise rejected(fields={"file": "The file is empty."})
    os.replace(temporary, target)
    return relative, digest.hexdigest(), size


def _chunks(source: bytes | BinaryIO) -> Iterator[bytes]:
    if isinstance(source, bytes | bytearray):
        view = memoryview(source)
        for start in range(0, len(view), CHUNK):
            yield bytes(view[start : start + CHUNK])
        return
    while chunk := source.read(CHUNK):
        yield chunk


def stored_file(record: StagedFile) -> Path:
    return Path(current_app.instance_path) / record.stored_path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def unchanged(record: StagedFile) -> bool:
    """Whether the stored file is still there with the bytes that were checked."""
    path = stored_file(record)
    return path.exists() and file_sha256(path) == record.sha256


# -- reading and recording ------------------------------------------------------------------------


def check_stored(
    record: StagedFile,
    check: Callable[[Iterable[list[str]], int], C],
    empty: Callable[[], C],
    *,
    inspected: bool = False,
    read: Callable[..., tuple[Iterable[list[str]], int]] = read_table,
) -> C:
    """Read the stored file (portal.core.spreadsheets: CSV in UTF-8, UTF-16 or GBK, or XLSX)
    and `check(rows, total)` its rows. A file it cannot read is one error on row 1 of `empty()`;
    a file past the UPLOAD_* limits raises FileRefused."""
    try:
        rows, total = read(stored_file(record), upload_limits(), inspected=inspected)
        return check(rows, total)
    except UnreadableFile as exc:
        checked = empty()
        checked.error(1, "", str(exc))
        return checked
    except csv.Error as exc:
        checked = empty()
        checked.error(1, "", f"Not a readable CSV file: {exc}.")
        return checked


def record_errors(record: StagedFile, checked: Checked) -> None:
    record.total_rows = checked.total_rows
    record.error_count = checked.error_count
    record.errors = checked.errors


def record_check(record: StagedFile, checked: Checked, summary: dict[str, Any]) -> None:
    """The check's outcome: `invalid` with its errors, or `ready` with the preview `summary`."""
    record_errors(record, checked)
    record.summary = summary
    record.status = StagedStatus.INVALID if checked.error_count else StagedStatus.READY


def record_applied(record: StagedFile, total_rows: int, summary: dict[str, Any]) -> None:
    record.total_rows = total_rows
    record.error_count = 0
    record.errors = []
    record.summary = summary
    record.status = StagedStatus.APPLIED
    record.applied_at = utcnow()


def fail(record: StagedFile, reason: str) -> None:
    record.status = StagedStatus.FAILED
    record.summary = {**(record.summary or {}), "failure": reason}


def nothing_applied(exc: Exception) -> str:
    """The failure of a write rolled back whole."""
    return f"Nothing was applied: {failure_reason(exc)}"


def claim(model: type[Any], record: StagedFile) -> bool:
    """Move a `ready` record to `applying`. Conditional: of two confirmations racing (a double
    click), only one moves it on; False for the other, or for a record not ready."""
    moved = cast(
        CursorResult[Any],
        db.session.execute(
            update(model)
            .where(model.id == record.id, model.status == StagedStatus.READY)
            .values(status=StagedStatus.APPLYING)
            .execution_options(synchronize_session=False)
        ),
    )
    if moved.rowcount != 1:
        return False
    db.session.refresh(record)
    return True


def batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- the jobs -------------------------------------------------------------------------------------
# A domain's job functions (registered by name: queued runs refer to them) call these. Each acts
# only on a record in the state it expects, so a run twice does nothing the second time. The job
# runner (portal.core.jobs) commits what they leave when they return.


def validate_job(
    load: Callable[[], R | None], validate: Callable[..., Any], *, what: str, record_id: int
) -> dict[str, Any]:
    """Run `validate(record, progress=...)` on a `validating` record. Whatever breaks undoes the
    check's writes and makes the record `failed` with the reason, and the job still ends well
    (so that is committed): a record never stays "validating" forever."""
    record = load()
    if record is None or record.status != StagedStatus.VALIDATING:
        return {"skipped": "not waiting for validation"}
    try:
        with db.session.begin_nested():
            validate(record, progress=jobs.report_progress)
    except Exception as exc:  # noqa: BLE001 - a record never stays "validating" forever
        current_app.logger.exception("%s %s could not be checked", what, record_id)
        record = load()  # as it was before the check: the savepoint undid its writes
        if record is None:
            raise
        record.status = StagedStatus.FAILED
        record.summary = {"failure": f"The file could not be checked: {failure_reason(exc)}"}
    return {"status": record.status, "rows": record.total_rows, "errors": record.error_count}


def apply_job(
    load: Callable[[], R | None],
    apply: Callable[..., Any],
    *,
    shown: Callable[[dict[str, Any]], dict[str, Any]] = dict,
) -> dict[str, Any]:
    """Run `apply(record, progress=...)` on an `applying` record; the result shows the status
    and `shown(summary)`."""
    record = load()
    if record is None or record.status != StagedStatus.APPLYING:
        return {"skipped": "not waiting to be applied"}
    apply(record, progress=jobs.report_progress)
    return {"status": record.status, **shown(record.summary)}


def give_up(record: StagedFile | None, reason: str) -> None:
    """A job failed for good (its workers kept dying, or it broke outside the domain's own
    handling): a record still being checked or applied is failed, nothing of it applied."""
    if record is not None and record.status in (StagedStatus.VALIDATING, StagedStatus.APPLYING):
        record.status = StagedStatus.FAILED
        record.summary = {"failure": f"The file could not be processed: {reason[:300]}"}


def failure_reason(exc: Exception) -> str:
    """What went wrong, in one line a person can pass on: the error's kind and first line."""
    first = (str(exc).splitlines() or [""])[0][:300]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


# -- downloads ------------------------------------------------------------------------------------


def template_csv(columns: Sequence[str], examples: Iterable[Sequence[Any]]) -> bytes:
    """The header and example rows."""
    return csv_bytes([columns, *examples])


def template_xlsx(columns: Sequence[str], examples: Iterable[Sequence[Any]], sheet: str) -> bytes:
    return xlsx_bytes([columns, *examples], sheet)


def errors_xlsx(errors: list[dict[str, Any]]) -> bytes:
    """The row errors as a workbook: row, column, reason."""
    rows = [(e.get("row"), e.get("column", ""), e.get("reason", "")) for e in errors]
    return xlsx_bytes([("row", "column", "reason"), *rows], "errors")


def download(data: bytes, filename: str, mimetype: str) -> Response:
    return Response(
        data,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
