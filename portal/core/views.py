"""System pages: health checks and the job pages every domain's background work reports to."""

from __future__ import annotations

import hmac
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import text

from portal.core import jobs, metrics
from portal.core.access import Permission, current_actor, public, require
from portal.core.jobs import JobRun, JobStatus
from portal.extensions import db

bp = Blueprint("core", __name__)


@bp.get("/healthz")
@public
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
@public
def readyz() -> tuple[dict[str, Any], int]:
    checks: dict[str, str] = {}
    ok = True
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - report, never raise, from a probe
        checks["database"] = f"error: {type(exc).__name__}"
        ok = False
    finally:
        db.session.rollback()
    if current_app.config.get("REDIS_URL"):
        try:
            jobs.redis_connection().ping()
            checks["redis"] = "ok"
        except Exception as exc:  # noqa: BLE001
            # Not a reason to take this server out of the pool: without Redis, jobs wait in
            # the outbox and every page still works.
            checks["redis"] = f"degraded: {type(exc).__name__} (jobs wait in the outbox)"
            metrics.incr("redis_unavailable_total", operation="readyz")
    else:
        checks["redis"] = "not configured (jobs run inline)"
    return {"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503


@bp.get("/metrics")
@public
def metrics_text():
    """Counters for Prometheus: with METRICS_TOKEN set, for callers that send it; without, for
    loopback callers that did not come through a proxy."""
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        allowed = hmac.compare_digest(sent.encode(), token.encode())
    else:
        allowed = request.remote_addr in ("127.0.0.1", "::1") and not request.headers.get(
            "X-Forwarded-For"
        )
    if not allowed:
        abort(404)
    gauges = jobs.job_gauges()
    db.session.rollback()
    return Response(metrics.render(gauges), mimetype="text/plain; version=0.0.4")


@bp.get("/jobs")
@require(Permission.JOBS_VIEW)
def job_list():
    actor = current_actor()
    runs = db.session.execute(
        jobs.visible_runs(actor).order_by(JobRun.created_at.desc()).limit(200)
    ).scalars()
    queues = jobs.queue_overview() if actor.can(Permission.JOBS_ADMIN) else []
    return render_template("core/jobs.html", runs=list(runs), queues=queues)


@bp.get("/jobs/<job_id>")
@require(Permission.JOBS_VIEW, load=jobs.get_run)
def job_detail(run: JobRun):
    progress, message = jobs.live_progress(run)
    return render_template("core/job.html", run=run, progress=progress, message=message)


@bp.get("/jobs/<job_id>/status")
@require(Permission.JOBS_VIEW, load=jobs.get_run)
def job_status(run: JobRun):
    progress, message = jobs.live_progress(run)
    return render_template("core/_job_status.html", run=run, progress=progress, message=message)


@bp.post("/jobs/<job_id>/retry")
@require(Permission.JOBS_ADMIN, load=jobs.get_run)
def job_retry(run: JobRun):
    if run.status != JobStatus.FAILED:
        flash(_("Only a failed job can be retried."), "error")
    else:
        jobs.retry(run)
        flash(_("The job was queued again."), "success")
    return redirect(url_for("core.job_detail", job_id=run.id))
