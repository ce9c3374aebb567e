"""Stock jobs: check an uploaded stock file, then apply it. Each commits its own work and is safe
to run twice (it acts only on an upload in the state it expects)."""

from __future__ import annotations

from typing import Any

from flask import current_app

from portal.core import jobs
from portal.core.access import Actor
from portal.extensions import db
from portal.inventory import queries, upload
from portal.inventory.models import UploadStatus


def _upload_gave_up(upload_id: int, *, reason: str) -> None:
    """The job was failed for good (its workers kept dying, or it broke outside the domain's own
    handling): an upload still being checked or applied is failed, nothing of it applied."""
    stock_upload = queries.find_stock_upload(Actor.system(), upload_id, lock=True)
    if stock_upload is not None and stock_upload.status in (
        UploadStatus.VALIDATING,
        UploadStatus.APPLYING,
    ):
        stock_upload.status = UploadStatus.FAILED
        stock_upload.summary = {"failure": f"The file could not be processed: {reason[:300]}"}


@jobs.job(queue=jobs.QUEUE_REPORTS, title="Validate stock file", on_give_up=_upload_gave_up)
def validate_stock_upload(upload_id: int) -> dict[str, Any]:
    stock_upload = queries.find_stock_upload(Actor.system(), upload_id)
    if stock_upload is None or stock_upload.status != UploadStatus.VALIDATING:
        return {"skipped": "not waiting for validation"}
    try:
        upload.validate_upload(stock_upload, progress=jobs.report_progress)
    except Exception as exc:  # noqa: BLE001 - an upload never stays "validating" forever
        db.session.rollback()
        current_app.logger.exception("stock upload %s could not be checked", upload_id)
        stock_upload = queries.find_stock_upload(Actor.system(), upload_id)
        if stock_upload is None:
            raise
        stock_upload.status = UploadStatus.FAILED
        stock_upload.summary = {"failure": f"The file could not be checked: {_reason(exc)}"}
    db.session.commit()
    return {
        "status": stock_upload.status,
        "rows": stock_upload.total_rows,
        "errors": stock_upload.error_count,
    }


@jobs.job(queue=jobs.QUEUE_REPORTS, retries=0, title="Apply stock file", on_give_up=_upload_gave_up)
def apply_stock_upload(upload_id: int) -> dict[str, Any]:
    # Locked: of two runs at once, the second waits and then finds the upload applied.
    stock_upload = queries.find_stock_upload(Actor.system(), upload_id, lock=True)
    if stock_upload is None or stock_upload.status != UploadStatus.APPLYING:
        return {"skipped": "not waiting to be applied"}
    upload.apply_upload(
        upload.acting_for(stock_upload), stock_upload, progress=jobs.report_progress
    )
    db.session.commit()
    return {"status": stock_upload.status, **stock_upload.summary}


def _reason(exc: Exception) -> str:
    """What went wrong, in one line a person can pass on: the error's kind and first line."""
    first = (str(exc).splitlines() or [""])[0][:300]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
