"""Stock upload: on-hand levels from another system's file (CSV in UTF-8 or GBK, or XLSX), set at
the uploading org's own locations, for stores and distributors that keep stock elsewhere.

One row per (location, SKU, grade) gives the level to set, as a count does. The file is checked in
a job (every problem named by row and column), confirmed, then applied in a second job in one
transaction: each changed row's difference goes to the ledger with reason `upload`, or nothing
does. Rows are looked up in batches, never one query per row. The file is read by
`portal.core.spreadsheets.read_table`, held to the UPLOAD_* limits: a file refused whole (not a
workbook, past a limit) fails its job with the reason.

Kept whole: it is the stock file's rules and their application, read together when the file's
format changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

from flask import current_app
from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite

from portal.catalog.models import Variant
from portal.core import audit, staged
from portal.core.access import Actor
from portal.core.spreadsheets import FileRefused, read_table
from portal.core.staged import Progress, errors_xlsx
from portal.extensions import db
from portal.inventory.ledger import MAX_QUANTITY, MoveLine, apply_moves
from portal.inventory.models import (
    Grade,
    Location,
    MoveReason,
    StockLevel,
    StockUpload,
    UploadStatus,
)
from portal.inventory.queries import carried_brand_ids

__all__ = ["StockUpload", "UploadStatus", "errors_xlsx"]

# -- the file ------------------------------------------------------------------------------------

COLUMNS = ("sku", "grade", "on_hand", "location")
REQUIRED_COLUMNS = ("sku", "on_hand")
EXAMPLE_ROWS = (
    ("ACME-HOD-001-BLK-M", "A", "12", ""),
    ("ACME-JNS-001-IND-32", "B", "0", ""),
)
EXTENSIONS = staged.EXTENSIONS
MAX_STORED_ERRORS = 1000
PROGRESS_EVERY = 1000
BATCH = 1000  # rows looked up per query, and lines per apply_moves call
WHOLE_NUMBER = re.compile(r"^\d+$")

Key = tuple[int, int, str]  # (location id, variant id, grade): the order levels are locked in


_no_progress = staged.no_progress


@dataclass(frozen=True)
class Context:
    """What rows are checked against: the uploading org's locations and the brands it carries."""

    default_location_id: int
    locations: dict[str, int]  # code -> id, the org's own only
    brand_ids: tuple[int, ...]


@dataclass(slots=True)
class Row:
    """A row that passed every check."""

    row: int
    location_id: int
    variant_id: int
    brand_id: int
    sku: str
    grade: str
    on_hand: int  # the level to set

    @property
    def key(self) -> Key:
        return (self.location_id, self.variant_id, self.grade)


@dataclass
class CheckedFile(staged.RowErrors):
    rows: list[Row] = field(default_factory=list)
    # (on_hand, reserved) of the rows' levels as they were read; a missing level is absent
    current: dict[Key, tuple[int, int]] = field(default_factory=dict)

    def max_stored(self) -> int:
        return MAX_STORED_ERRORS  # read when used: a test lowers it


@dataclass(slots=True)
class _Parsed:
    """A data row as read, with the problems found so far (column, reason) in column order."""

    row: int
    sku: str
    grade: str
    on_hand: int | None
    location_id: int | None
    problems: list[tuple[str, str]]
    variant_id: int | None = None
    brand_id: int | None = None


def _parse(row_no: int, values: dict[str, str], context: Context) -> _Parsed:
    problems: list[tuple[str, str]] = []
    sku = values["sku"].upper()
    if not sku:
        problems.append(("sku", "Required."))
    elif len(sku) > 64:
        problems.append(("sku", "At most 64 characters."))
    grade = values["grade"].upper() or Grade.A
    if grade not in tuple(Grade):
        problems.append(("grade", f"The grade is A or B, not {values['grade']}."))
    on_hand = None
    raw = values["on_hand"]
    if not raw:
        problems.append(("on_hand", "Required."))
    elif not WHOLE_NUMBER.match(raw):
        problems.append(("on_hand", f"A whole number of units, 0 or more, not {raw}."))
    elif int(raw) > MAX_QUANTITY:
        problems.append(("on_hand", f"At most {MAX_QUANTITY}."))
    else:
        on_hand = int(raw)
    location_id: int | None = context.default_location_id
    code = values["location"].upper()
    if code:
        location_id = context.locations.get(code)
        if location_id is None:
            # Another org's location and no location at all read the same: nothing is learnt.
            problems.append(("location", f"{values['location']} is not one of your locations."))
    return _Parsed(row_no, sku, grade, on_hand, location_id, problems)


def _find_variants(brand_ids: tuple[int, ...], skus: set[str]) -> dict[str, list[tuple[int, int]]]:
    """SKU -> [(variant id, brand id)] among the carried brands (two brands may share a code)."""
    found: dict[str, list[tuple[int, int]]] = {}
    if not skus or not brand_ids:
        return found
    rows = db.session.execute(
        select(Variant.sku, Variant.id, Variant.brand_id).where(
            Variant.brand_id.in_(brand_ids), Variant.sku.in_(sorted(skus))
        )
    )
    for sku, variant_id, brand_id in rows:
        found.setdefault(sku, []).append((variant_id, brand_id))
    return found


def _read_levels(keys: Iterable[Key]) -> dict[Key, tuple[int, int]]:
    """(on_hand, reserved) of the existing levels among `keys`, in one query."""
    wanted = set(keys)
    if not wanted:
        return {}
    rows = db.session.execute(
        select(
            StockLevel.location_id,
            StockLevel.variant_id,
            StockLevel.grade,
            StockLevel.on_hand,
            StockLevel.reserved,
        ).where(
            StockLevel.location_id.in_(sorted({k[0] for k in wanted})),
            StockLevel.variant_id.in_(sorted({k[1] for k in wanted})),
        )
    )
    levels = {}
    for location_id, variant_id, grade, on_hand, reserved in rows:
        key = (location_id, variant_id, grade)
        if key in wanted:
            levels[key] = (int(on_hand), int(reserved))
    return levels


def _below_reserved(sku: str, reserved: int) -> tuple[str, str]:
    return (
        "on_hand",
        f"Orders hold {reserved} units of {sku} here: on hand cannot be set below that.",
    )


def _check_batch(
    batch: list[_Parsed], context: Context, seen: dict[Key, int], checked: CheckedFile
) -> None:
    """Look a batch's SKUs and levels up (one query each), then record its rows in row order."""
    variants = _find_variants(
        context.brand_ids, {p.sku for p in batch if p.sku and not _has(p, "sku")}
    )
    keys: list[Key] = []
    for parsed in batch:
        if parsed.sku and not _has(parsed, "sku"):
            found = variants.get(parsed.sku, [])
            if not found:
                parsed.problems.insert(
                    0, ("sku", f"Unknown SKU, or not of a brand carried here: {parsed.sku}.")
                )
            elif len(found) > 1:
                parsed.problems.insert(
                    0,
                    ("sku", "Several brands carried here use this SKU code; ask HQ to rename one."),
                )
            else:
                parsed.variant_id, parsed.brand_id = found[0]
        if parsed.problems:
            continue  # a row is compared with others once it is fine on its own
        assert parsed.location_id is not None and parsed.variant_id is not None
        key = (parsed.location_id, parsed.variant_id, parsed.grade)
        first = seen.setdefault(key, parsed.row)
        if first != parsed.row:
            parsed.problems.append(
                (
                    "sku",
                    f"{parsed.sku} grade {parsed.grade} at this location is also on row {first}.",
                )
            )
        else:
            keys.append(key)
    levels = _read_levels(keys)
    for parsed in batch:
        if parsed.problems:
            for column, reason in parsed.problems:
                checked.error(parsed.row, column, reason)
            continue
        assert parsed.location_id is not None and parsed.on_hand is not None
        assert parsed.variant_id is not None and parsed.brand_id is not None
        row = Row(
            parsed.row,
            parsed.location_id,
            parsed.variant_id,
            parsed.brand_id,
            parsed.sku,
            parsed.grade,
            parsed.on_hand,
        )
        level = levels.get(row.key)
        if level is not None and row.on_hand < level[1]:
            checked.error(row.row, *_below_reserved(row.sku, level[1]))
            continue
        checked.rows.append(row)
        if level is not None:
            checked.current[row.key] = level


def _has(parsed: _Parsed, column: str) -> bool:
    return any(c == column for c, _reason in parsed.problems)


def check_file(
    rows: Iterable[list[str]],
    context: Context,
    *,
    total: int = 0,
    progress: Progress = _no_progress,
) -> CheckedFile:
    """Check every row against the org's locations, the brands it carries and what orders hold
    now (errors name the spreadsheet row, header = 1, and the column)."""
    checked = CheckedFile()
    seen: dict[Key, int] = {}
    batch: list[_Parsed] = []

    def header(cells: list[str]) -> dict[str, int]:
        # Other columns are ignored: files exported from another system carry many.
        return staged.header_index(cells, checked, columns=COLUMNS, required=REQUIRED_COLUMNS)

    def row(row_no: int, values: dict[str, str]) -> None:
        batch.append(_parse(row_no, values, context))
        if len(batch) >= BATCH:
            check_batch()

    def check_batch() -> None:
        _check_batch(batch, context, seen, checked)
        batch.clear()

    return staged.check_rows(
        rows,
        checked,
        columns=COLUMNS,
        header=header,
        row=row,
        finish=check_batch,
        total=total,
        progress=progress,
        progress_every=PROGRESS_EVERY,
    )


def summarize(rows: list[Row], current: dict[Key, tuple[int, int]]) -> dict[str, int]:
    """What applying the rows would change, measured against `current` levels."""
    changed = added = removed = 0
    for row in rows:
        delta = row.on_hand - current.get(row.key, (0, 0))[0]
        if delta:
            changed += 1
            added += max(delta, 0)
            removed += max(-delta, 0)
    return {
        "rows_changed": changed,
        "rows_unchanged": len(rows) - changed,
        "units_added": added,
        "units_removed": removed,
    }


# -- the two steps the jobs run ------------------------------------------------------------------


def stored_file(upload: StockUpload) -> Path:
    return staged.stored_file(upload)


def context_for(upload: StockUpload) -> Context:
    locations = dict(
        db.session.execute(
            select(Location.code, Location.id).where(Location.org_id == upload.org_id)
        )
        .tuples()
        .all()
    )
    return Context(upload.location_id, locations, tuple(carried_brand_ids(upload.location)))


def acting_for(upload: StockUpload) -> Actor:
    """The system, acting for the uploader: the ledger and the audit trail name who uploaded."""
    return replace(Actor.system(), org_id=upload.org_id, user_id=upload.user_id)


def _check_stored(
    upload: StockUpload, progress: Progress, *, inspected: bool = False
) -> CheckedFile:
    """Read the stored file (portal.core.staged) and check its rows. A file refused whole
    raises FileRefused."""
    return staged.check_stored(
        upload,
        lambda rows, total: check_file(rows, context_for(upload), total=total, progress=progress),
        CheckedFile,
        inspected=inspected,
        read=read_table,
    )


_record_errors = staged.record_errors


def validate_upload(upload: StockUpload, *, progress: Progress = _no_progress) -> StockUpload:
    """Check the stored file and preview its changes: status becomes `invalid` or `ready`, or
    `failed` with the reason for a file refused whole (not a workbook, past a limit)."""
    try:
        checked = _check_stored(upload, progress)
    except FileRefused as refused:
        _fail(upload, str(refused))
        return upload
    staged.record_check(upload, checked, summarize(checked.rows, checked.current))
    return upload


class _Refused(Exception):
    """Rows that cannot be applied to the levels as they are under lock."""

    def __init__(self, checked: CheckedFile) -> None:
        super().__init__(f"{checked.error_count} rows refused")
        self.checked = checked


def apply_upload(
    actor: Actor, upload: StockUpload, *, progress: Progress = _no_progress
) -> StockUpload:
    """Check the file again against stock as it is now, then set every level it names, whole or
    not at all.

    Anything found now (a SKU no longer carried, orders holding more than a row's count since
    the check) or going wrong while writing makes the upload `failed` with the reason and its
    rows' errors; nothing is applied then.
    """
    if not staged.unchanged(upload):
        _fail(upload, "The stored file is missing or changed since it was checked.")
        return upload
    try:  # the same bytes (SHA-256 above) as checked: an XLSX is not inspected again
        checked = _check_stored(upload, progress, inspected=True)
    except FileRefused as refused:  # the limits were lowered since
        _fail(upload, str(refused))
        return upload
    if checked.error_count:
        _record_errors(upload, checked)
        _fail(upload, "The file no longer passes its checks (see the errors); nothing was applied.")
        return upload
    try:
        with db.session.begin_nested():
            summary = _write(actor, upload, checked, progress)
    except _Refused as refused:
        _record_errors(upload, refused.checked)
        _fail(upload, "Orders took stock since the check (see the errors); nothing was applied.")
        return upload
    except Exception as exc:  # noqa: BLE001 - anything: nothing was applied, say so
        current_app.logger.exception("stock upload %s failed", upload.id)
        _fail(upload, staged.nothing_applied(exc))
        return upload
    staged.record_applied(upload, checked.total_rows, summary)
    audit.record(
        actor,
        "stock.uploaded",
        org_id=upload.org_id,
        location=upload.location.code,
        upload_id=upload.id,
        file=upload.filename,
        rows=checked.total_rows,
        **summary,
    )
    return upload


def _write(
    actor: Actor, upload: StockUpload, checked: CheckedFile, progress: Progress
) -> dict[str, int]:
    rows = sorted(checked.rows, key=lambda r: r.key)
    # A level missing at the check and set to 0 needs nothing: not even a row to lock.
    levels = _lock_levels([r for r in rows if r.on_hand > 0 or r.key in checked.current])
    refused = CheckedFile()
    lines = []
    for row in rows:
        on_hand, reserved = levels.get(row.key, (0, 0))
        if row.on_hand < reserved:
            column, reason = _below_reserved(row.sku, reserved)
            refused.error(row.row, column, reason)
        elif row.on_hand != on_hand:
            lines.append(
                MoveLine(
                    row.location_id,
                    row.variant_id,
                    on_hand_delta=row.on_hand - on_hand,
                    grade=row.grade,
                    where=f"row {row.row}",
                )
            )
    if refused.error_count:
        refused.errors.sort(key=lambda e: e["row"])
        refused.total_rows = checked.total_rows
        raise _Refused(refused)
    reference = f"upload:{upload.id}"
    note = f"Stock file {upload.filename}"
    for done, batch in enumerate(_batches(lines), start=1):
        apply_moves(actor, batch, reason=MoveReason.UPLOAD, reference=reference, note=note)
        written = min(done * BATCH, len(lines))
        progress(written, len(lines), f"{written} of {len(lines)} levels set")
    return summarize(rows, levels)


def _lock_levels(rows: list[Row]) -> dict[Key, tuple[int, int]]:
    """Lock the levels the rows set, creating missing ones at zero, and read them as locked.

    Taken in (location, SKU, grade) order, the order apply_moves takes them in, so no two
    transactions wait on each other in a cycle: a no-op upsert locks an existing row (PostgreSQL;
    SQLite has the whole database locked already) and returns its values after any move
    committing meanwhile, so no difference is computed from a level that has since moved."""
    dialect = db.session.connection().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = cast(Table, StockLevel.__table__)
    levels: dict[Key, tuple[int, int]] = {}
    for batch in _batches(rows):
        stmt = insert(table).values(
            [
                {
                    "brand_id": r.brand_id,
                    "location_id": r.location_id,
                    "variant_id": r.variant_id,
                    "grade": r.grade,
                    "on_hand": 0,
                    "reserved": 0,
                }
                for r in batch
            ]
        )
        upsert = stmt.on_conflict_do_update(
            index_elements=[table.c.location_id, table.c.variant_id, table.c.grade],
            set_={"on_hand": table.c.on_hand},
        ).returning(
            table.c.location_id,
            table.c.variant_id,
            table.c.grade,
            table.c.on_hand,
            table.c.reserved,
        )
        for location_id, variant_id, grade, on_hand, reserved in db.session.execute(upsert):
            levels[(location_id, variant_id, grade)] = (int(on_hand), int(reserved))
    return levels


def _batches(items: list[Any]) -> Iterator[Any]:
    return staged.batches(items, BATCH)


_fail = staged.fail


# -- downloads -----------------------------------------------------------------------------------


def template_csv() -> bytes:
    """The header and two example rows."""
    return staged.template_csv(COLUMNS, EXAMPLE_ROWS)


def template_xlsx() -> bytes:
    # on_hand as a number, as a spreadsheet holds it
    rows = [(sku, grade, int(on_hand), loc) for sku, grade, on_hand, loc in EXAMPLE_ROWS]
    return staged.template_xlsx(COLUMNS, rows, "stock")
