"""Catalog jobs: check an uploaded catalog file, then apply it. Each commits its own work and is
safe to run twice (it acts only on an import in the state it expects)."""

from __future__ import annotations

from typing import Any

from flask import current_app

from portal.catalog import importer, queries
from portal.catalog.models import ImportStatus
from portal.core import jobs
from portal.core.access import Actor
from portal.extensions import db


def _import_gave_up(import_id: int, *, reason: str) -> None:
    """The job was failed for good (its workers kept dying, or it broke outside the importer's
    own handling): an import still being checked or applied is failed, nothing of it applied."""
    imp = queries.find_import(Actor.system(), import_id)
    if imp is not None and imp.status in (ImportStatus.VALIDATING, ImportStatus.APPLYING):
        imp.status = ImportStatus.FAILED
        imp.summary = {"failure": f"The file could not be processed: {reason[:300]}"}


@jobs.job(queue=jobs.QUEUE_REPORTS, title="Validate catalog file", on_give_up=_import_gave_up)
def validate_catalog_import(import_id: int) -> dict[str, Any]:
    imp = queries.find_import(Actor.system(), import_id)
    if imp is None or imp.status != ImportStatus.VALIDATING:
        return {"skipped": "not waiting for validation"}
    try:
        importer.validate_import(imp, progress=jobs.report_progress)
    except Exception as exc:  # noqa: BLE001 - an import never stays "validating" forever
        db.session.rollback()
        current_app.logger.exception("catalog import %s could not be checked", import_id)
        imp = queries.find_import(Actor.system(), import_id)
        if imp is None:
            raise
        imp.status = ImportStatus.FAILED
        imp.summary = {"failure": f"The file could not be checked: {_reason(exc)}"}
    db.session.commit()
    return {"status": imp.status, "rows": imp.total_rows, "errors": imp.error_count}


@jobs.job(
    queue=jobs.QUEUE_REPORTS, retries=0, title="Apply catalog file", on_give_up=_import_gave_up
)
def apply_catalog_import(import_id: int) -> dict[str, Any]:
    imp = queries.find_import(Actor.system(), import_id)
    if imp is None or imp.status != ImportStatus.APPLYING:
        return {"skipped": "not waiting to be applied"}
    importer.apply_import(Actor.system(), imp, progress=jobs.report_progress)
    db.session.commit()
    return {"status": imp.status, **{k: v for k, v in imp.summary.items() if k != "new_categories"}}


def _reason(exc: Exception) -> str:
    """What went wrong, in one line a person can pass on: the error's kind and first line."""
    first = (str(exc).splitlines() or [""])[0][:300]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
