"""Stock jobs: check an uploaded stock file, then apply it. Each is one transaction (the job
runner commits it) and safe to run twice (it acts only on an upload in the state it expects).
The mechanics are portal.core.staged's; the rules, portal.inventory.upload's."""

from __future__ import annotations

from typing import Any

from portal.core import jobs, staged
from portal.core.access import Actor
from portal.inventory import queries, upload
from portal.inventory.models import StockUpload


def _find(upload_id: int, *, lock: bool = False) -> StockUpload | None:
    return queries.find_stock_upload(Actor.system(), upload_id, lock=lock)


def _upload_gave_up(upload_id: int, *, reason: str) -> None:
    """The job was failed for good: an upload still being checked or applied is failed."""
    staged.give_up(_find(upload_id, lock=True), reason)


@jobs.job(queue=jobs.QUEUE_REPORTS, title="Validate stock file", on_give_up=_upload_gave_up)
def validate_stock_upload(upload_id: int) -> dict[str, Any]:
    return staged.validate_job(
        lambda: _find(upload_id), upload.validate_upload, what="stock upload", record_id=upload_id
    )


@jobs.job(queue=jobs.QUEUE_REPORTS, retries=0, title="Apply stock file", on_give_up=_upload_gave_up)
def apply_stock_upload(upload_id: int) -> dict[str, Any]:
    # Locked: of two runs at once, the second waits and then finds the upload applied.
    return staged.apply_job(
        lambda: _find(upload_id, lock=True),
        lambda stock_upload, progress: upload.apply_upload(
            upload.acting_for(stock_upload), stock_upload, progress=progress
        ),
    )
