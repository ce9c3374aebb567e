"""The brand's HR list: who its employees are, from a file HQ uploads (CSV in UTF-8 or GBK, or
XLSX; portal/core/staged.py): one row per employee with their employee number, name, mobile
number and/or e-mail address.

A file is checked in a job (every problem named by row and column), previewed, confirmed, then
applied in a second job, whole or not at all: the list becomes the file's rows. People no longer
on it are marked removed and lose their employee entitlement; a person whose number or address
changed loses the one it gave (the new number or address finds its owner when they next come).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy import select

from portal.core import staged
from portal.core.db import bulk_insert, utcnow
from portal.core.errors import ValidationFailed
from portal.core.inputs import text_problem
from portal.core.spreadsheets import FileRefused
from portal.core.staged import Progress
from portal.extensions import db
from portal.members import entitlement
from portal.members.employee_models import HrListEntry, HrListUpload
from portal.storefront.consumers import check_email, normalize_phone

COLUMNS = ("employee_no", "name", "phone", "email")
REQUIRED_COLUMNS = ("employee_no",)
# Headers as Chinese HR systems export them.
ALIASES = {
    "工号": "employee_no",
    "员工编号": "employee_no",
    "employee number": "employee_no",
    "姓名": "name",
    "手机": "phone",
    "手机号": "phone",
    "手机号码": "phone",
    "mobile": "phone",
    "邮箱": "email",
    "e-mail": "email",
}
EXAMPLE_ROWS = (
    ("E1001", "Wang Fang", "13900139002", ""),
    ("E1002", "Li Ming", "", "li.ming@example.com"),
)
BATCH = 1000


@dataclass(frozen=True, slots=True)
class Row:
    row: int
    employee_no: str
    name: str
    phone: str | None
    email: str | None


@dataclass
class CheckedList(staged.RowErrors):
    rows: list[Row] = field(default_factory=list)


def _field_error(error: ValidationFailed) -> str:
    return next(iter(error.fields.values()), error.message)


def check_file(rows: Iterable[list[str]], *, total: int = 0) -> CheckedList:
    """Every row checked on its own and against the others: an employee number, a mobile
    number or an e-mail address appear once in a list."""
    checked = CheckedList()
    seen: dict[tuple[str, str], int] = {}

    def header(cells: list[str]) -> dict[str, int]:
        return staged.header_index(
            [(c or "").strip().lower() for c in cells],
            checked,
            columns=COLUMNS,
            required=REQUIRED_COLUMNS,
            aliases=ALIASES,
        )

    def row(row_no: int, values: dict[str, str]) -> None:
        problems: list[tuple[str, str]] = []
        for column in COLUMNS:
            problem = text_problem(values[column])
            if problem:
                problems.append((column, problem))
        if problems:
            for column, reason in problems:
                checked.error(row_no, column, reason)
            return
        number = values["employee_no"].upper()
        if not number:
            problems.append(("employee_no", "Required."))
        elif len(number) > 40:
            problems.append(("employee_no", "At most 40 characters."))
        name = values["name"]
        if len(name) > 120:
            problems.append(("name", "At most 120 characters."))
        phone = email = None
        if values["phone"]:
            try:
                phone = normalize_phone(values["phone"])
            except ValidationFailed:
                problems.append(("phone", f"Not a mobile number: {values['phone'][:40]}."))
        if values["email"]:
            try:
                email = check_email(values["email"])
            except ValidationFailed:
                problems.append(("email", f"Not an e-mail address: {values['email'][:80]}."))
        if not values["phone"] and not values["email"]:
            problems.append(("phone", "A mobile number or an e-mail address is required."))
        for column, value in (("employee_no", number), ("phone", phone), ("email", email)):
            if value:
                first = seen.setdefault((column, value), row_no)
                if first != row_no:
                    problems.append((column, f"{value} is also on row {first}."))
        if problems:
            for column, reason in problems:
                checked.error(row_no, column, reason)
            return
        checked.rows.append(Row(row_no, number, name, phone, email))

    return staged.check_rows(rows, checked, columns=COLUMNS, header=header, row=row, total=total)


def _current(brand_id: int) -> dict[str, HrListEntry]:
    return {
        entry.employee_no: entry
        for entry in db.session.execute(
            select(HrListEntry).where(HrListEntry.brand_id == brand_id)
        ).scalars()
    }


def summarize(brand_id: int, rows: list[Row]) -> dict[str, int]:
    """What applying the rows would change on the brand's list as it is."""
    current = _current(brand_id)
    wanted = {r.employee_no for r in rows}
    added = kept = changed = 0
    for row in rows:
        entry = current.get(row.employee_no)
        if entry is None or entry.removed_at is not None:
            added += 1
        elif (entry.phone, entry.email) != (row.phone, row.email) or entry.name != row.name:
            changed += 1
        else:
            kept += 1
    removed = sum(
        1 for number, e in current.items() if e.removed_at is None and number not in wanted
    )
    return {"added": added, "changed": changed, "kept": kept, "removed": removed}


def _check_stored(upload: HrListUpload, *, inspected: bool = False) -> CheckedList:
    return staged.check_stored(
        upload,
        lambda rows, total: check_file(rows, total=total),
        CheckedList,
        inspected=inspected,
    )


def validate_upload(upload: HrListUpload, *, progress: Progress = staged.no_progress) -> None:
    """Check the stored file and preview its changes: `invalid` with row errors, `ready` with
    the preview, or `failed` for a file refused whole."""
    try:
        checked = _check_stored(upload)
    except FileRefused as refused:
        staged.fail(upload, str(refused))
        return
    staged.record_check(upload, checked, summarize(upload.brand_id, checked.rows))


def apply_upload(upload: HrListUpload, *, progress: Progress = staged.no_progress) -> None:
    """Check the file again, then make the brand's list its rows, whole or not at all."""
    if not staged.unchanged(upload):
        staged.fail(upload, "The stored file is missing or changed since it was checked.")
        return
    try:
        checked = _check_stored(upload, inspected=True)
    except FileRefused as refused:
        staged.fail(upload, str(refused))
        return
    if checked.error_count:
        staged.record_errors(upload, checked)
        staged.fail(upload, "The file no longer passes its checks (see the errors).")
        return
    try:
        with db.session.begin_nested():
            summary = _replace_list(upload, checked.rows)
    except Exception as exc:  # noqa: BLE001 - anything: nothing was applied, say so
        current_app.logger.exception("HR list upload %s failed", upload.id)
        staged.fail(upload, staged.nothing_applied(exc))
        return
    staged.record_applied(upload, checked.total_rows, summary)


def _replace_list(upload: HrListUpload, rows: list[Row]) -> dict[str, int]:
    brand_id = upload.brand_id
    now = utcnow()
    current = _current(brand_id)
    wanted = {r.employee_no for r in rows}
    gone: list[int] = []  # entries whose entitlements end
    for listed in current.values():
        if listed.removed_at is None and listed.employee_no not in wanted:
            listed.removed_at = now
            gone.append(listed.id)
    removed = len(gone)
    new: list[dict[str, Any]] = []
    added = changed = kept = 0
    for row in rows:
        entry = current.get(row.employee_no)
        if entry is None:
            new.append(
                {
                    "brand_id": brand_id,
                    "employee_no": row.employee_no,
                    "name": row.name,
                    "phone": row.phone,
                    "email": row.email,
                    "upload_id": upload.id,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            added += 1
            continue
        contact_changed = (entry.phone, entry.email) != (row.phone, row.email)
        if entry.removed_at is not None:
            added += 1
        elif contact_changed or entry.name != row.name:
            changed += 1
        else:
            kept += 1
        if contact_changed and entry.removed_at is None:
            gone.append(entry.id)
        entry.removed_at = None
        entry.name, entry.phone, entry.email = row.name, row.phone, row.email
        entry.upload_id = upload.id
    db.session.flush()
    for start in range(0, len(new), BATCH):
        bulk_insert(HrListEntry, new[start : start + BATCH])
    revoked = entitlement.revoke_hr_entries(brand_id, gone)
    return {
        "added": added,
        "changed": changed,
        "kept": kept,
        "removed": removed,
        "revoked": revoked,
    }


def template_csv() -> bytes:
    return staged.template_csv(COLUMNS, EXAMPLE_ROWS)
