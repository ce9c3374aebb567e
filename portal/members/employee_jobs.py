"""The HR list's jobs: check an uploaded file, then apply it. Each is one transaction (the job
runner commits it) and safe to run twice (it acts only on an upload in the state it expects).
The mechanics are portal.core.staged's; the rules, employee_hr's."""

from __future__ import annotations

from typing import Any

from portal.core import jobs, staged
from portal.members import employee_hr, employee_queries
from portal.members.employee_models import HrListUpload


def _find(upload_id: int) -> HrListUpload | None:
    return employee_queries.find_upload_for_job(upload_id)


def _gave_up(upload_id: int, *, reason: str) -> None:
    """The job failed for good: an upload still being checked or applied is failed."""
    staged.give_up(_find(upload_id), reason)


@jobs.job(queue=jobs.QUEUE_DEFAULT, title="Check HR list", on_give_up=_gave_up)
def validate_hr_list(upload_id: int) -> dict[str, Any]:
    return staged.validate_job(
        lambda: _find(upload_id),
        employee_hr.validate_upload,
        what="HR list upload",
        record_id=upload_id,
    )


@jobs.job(queue=jobs.QUEUE_DEFAULT, retries=0, title="Apply HR list", on_give_up=_gave_up)
def apply_hr_list(upload_id: int) -> dict[str, Any]:
    return staged.apply_job(lambda: _find(upload_id), employee_hr.apply_upload)
