"""/api/v1/jobs: the progress and outcome of background work."""

from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.fields import Integer, Raw, String

from portal.core import jobs
from portal.core.access import Permission, current_actor, require
from portal.core.jobs import JobRun

bp = APIBlueprint("api_jobs", __name__, url_prefix="/api/v1/jobs", tag="Jobs")


class JobOut(Schema):
    id = String()
    title = String()
    queue = String()
    status = String(metadata={"description": "queued, started, finished or failed"})
    progress = Integer(metadata={"description": "0-100"})
    message = String()
    result = Raw(allow_none=True)
    error = String(allow_none=True)
    attempts = Integer()
    created_at = String()
    finished_at = String(allow_none=True)


def job_json(run: JobRun) -> dict:
    progress, message = jobs.live_progress(run)
    return {
        "id": run.id,
        "title": run.title,
        "queue": run.queue,
        "status": run.status,
        "progress": progress,
        "message": message,
        "result": run.result,
        # The raw error can quote data; only those who run the jobs see it.
        "error": run.error if current_actor().can(Permission.JOBS_ADMIN) else None,
        "attempts": run.attempts,
        "created_at": run.created_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


@bp.get("/<job_id>")
@bp.output(JobOut)
@bp.doc(summary="A job's status and progress", security="BearerAuth")
@require(Permission.JOBS_VIEW, load=jobs.get_run)
def get(run: JobRun):
    return job_json(run)
