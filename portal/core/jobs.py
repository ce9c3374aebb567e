"""Background jobs: one run record per job, enqueued only after the asking transaction commits.

With REDIS_URL set, jobs go to RQ queues and `python worker.py` runs them. Without it (the embedded
default) the same functions run inline, in the process that asked, right after its commit.
Every job has a deterministic id: asking twice for the same work collapses into one run.
"""

from __future__ import annotations

import contextvars
import enum
import hashlib
import json
import os
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Integer,
    Select,
    String,
    Text,
    and_,
    event,
    false,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.types import JSON

from portal.core.access import Actor
from portal.core.db import TimestampMixin, UTCDateTime, enum_check, utcnow, writing
from portal.core.errors import NotFound, ValidationFailed
from portal.extensions import db

QUEUE_DEFAULT = "default"
QUEUE_PUSH = "push"
QUEUE_REPLENISHMENT = "replenishment"
QUEUE_REPORTS = "reports"
QUEUES: tuple[str, ...] = (QUEUE_DEFAULT, QUEUE_PUSH, QUEUE_REPLENISHMENT, QUEUE_REPORTS)

RETRY_INTERVALS = (10, 60, 300)  # seconds between attempts: backoff, then give up


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    STARTED = "started"
    FINISHED = "finished"
    FAILED = "failed"


class JobRun(TimestampMixin, db.Model):
    """The portal's record of one job: what, for whom, progress, outcome."""

    __tablename__ = "job_runs"
    __table_args__ = (CheckConstraint(enum_check("status", tuple(JobStatus)), name="status"),)

    id: Mapped[str] = mapped_column(String(160), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(200), default="")
    queue: Mapped[str] = mapped_column(String(40), default=QUEUE_DEFAULT)
    args: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.QUEUED, index=True)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(String(500), default="")
    result: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def is_done(self) -> bool:
        return self.status in (JobStatus.FINISHED, JobStatus.FAILED)


@dataclass(frozen=True)
class JobSpec:
    func: Callable[..., Any]
    name: str
    queue: str
    timeout: int | None
    retries: int
    title: str


REGISTRY: dict[str, JobSpec] = {}


def job(
    *, queue: str = QUEUE_DEFAULT, timeout: int | None = None, retries: int = 3, title: str = ""
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a job function. It takes primitive arguments and commits its own work."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        name = f"{func.__module__}.{func.__qualname__}"
        REGISTRY[name] = JobSpec(func, name, queue, timeout, retries, title or func.__name__)
        func.job_name = name  # type: ignore[attr-defined]
        return func

    return decorator


def job_key(name: str, args: tuple[Any, ...]) -> str:
    payload = json.dumps([name, *args], sort_keys=True, default=str)
    digest = hashlib.sha256(payload.encode())
    return f"{name.rsplit('.', 1)[-1]}:{digest.hexdigest()[:20]}"


# -- enqueue after commit ------------------------------------------------------------------------

# session.info key: [(transaction, job id, job name, replace)]; `replace` marks a takeover, whose
# RQ job (left "started" by a dead worker) must be replaced rather than collapsed into.
_PENDING = "portal_jobs_pending"
_READY = "portal_jobs_ready"  # inline mode: ids committed and waiting to run in this process


def enqueue(
    func: Callable[..., Any],
    *args: Any,
    key: str | None = None,
    org_id: int | None = None,
    brand_id: int | None = None,
    user_id: int | None = None,
    title: str | None = None,
) -> JobRun:
    """Record a job and schedule it to run once the current transaction commits.

    The same `key` (by default derived from the function and its arguments) collapses into the
    existing run: a finished run is not repeated (put a period or a version in the key for work
    that recurs), a failed one is queued again, and a queued one is dispatched again in case its
    first dispatch was lost.
    """
    spec = REGISTRY[func.job_name]  # type: ignore[attr-defined]
    job_id = key or job_key(spec.name, args)
    session = db.session()  # the Session itself: transactions are tracked per session
    run = session.get(JobRun, job_id)
    if run is not None and run.status == JobStatus.FINISHED:
        return run
    if run is not None and run.status == JobStatus.STARTED and not is_stale(run):
        return run
    # Past here a "started" run is stale: its worker died, and Redis may still say "started".
    takeover = run is not None and run.status == JobStatus.STARTED
    if run is None:
        run = JobRun(
            id=job_id,
            name=spec.name,
            title=title or spec.title,
            queue=spec.queue,
            args=list(args),
            org_id=org_id,
            brand_id=brand_id,
            user_id=user_id,
        )
        try:
            with session.begin_nested():
                session.add(run)
        except IntegrityError:  # another transaction recorded the same job first
            existing = session.get(JobRun, job_id)
            if existing is None:
                raise
            return existing
    elif run.status in (JobStatus.FAILED, JobStatus.STARTED):  # failed, or its worker died
        run.status = JobStatus.QUEUED
        run.error = None
        run.progress = 0
        run.message = ""
        run.finished_at = None
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_PENDING, []).append((transaction, job_id, spec.name, takeover))
    return run


def _on_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, [])
    if not pending:
        return
    if _redis_url():
        dispatch: dict[str, tuple[str, bool]] = {}
        for _txn, job_id, spec_name, replace in pending:
            replace = replace or dispatch.get(job_id, ("", False))[1]
            dispatch[job_id] = (spec_name, replace)
        for job_id, (spec_name, replace) in dispatch.items():
            try:
                _push_to_rq(job_id, spec_name, replace=replace)
            except Exception:  # noqa: BLE001 - the data is committed; the run stays queued
                # Asking again (same key) dispatches a queued run once more.
                current_app.logger.exception("could not hand job %s to Redis", job_id)
    else:
        session.info.setdefault(_READY, []).extend(p[1] for p in pending)


def _on_soft_rollback(session: Session, previous_transaction: Any) -> None:
    pending = session.info.get(_PENDING)
    if not pending:
        return

    def rolled_back(txn: Any) -> bool:
        while txn is not None:
            if txn is previous_transaction:
                return True
            txn = txn.parent
        return False

    session.info[_PENDING] = [p for p in pending if not rolled_back(p[0])]


event.listen(Session, "after_commit", _on_commit)
event.listen(Session, "after_soft_rollback", _on_soft_rollback)


def run_inline_pending() -> None:
    """Inline mode: run the jobs whose transactions have committed (and any they enqueue)."""
    session = db.session()
    guard = session.info.get("portal_jobs_running")
    if guard or not session.info.get(_READY):
        return
    # Whatever the caller left uncommitted is not the job's to commit.
    session.rollback()
    session.info["portal_jobs_running"] = True
    try:
        while session.info.get(_READY):
            job_id = session.info[_READY].pop(0)
            execute(job_id)
    finally:
        session.info["portal_jobs_running"] = False


def commit() -> None:
    """Commit at a boundary (CLI, tests, jobs) and then run what inline mode has waiting."""
    db.session.commit()
    run_inline_pending()


# -- RQ ------------------------------------------------------------------------------------------

_bound_app: Flask | None = None
_engine_pid: int | None = None
_current_job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "portal_job_id", default=None
)


def bind_app(app: Flask) -> None:
    """worker.py builds the app once and binds it here; jobs never build one."""
    global _bound_app, _engine_pid
    _bound_app = app
    _engine_pid = os.getpid()


def bound_app() -> Flask:
    if _bound_app is None:
        raise RuntimeError("no app bound: start workers with `python worker.py`")
    return _bound_app


def _redis_url() -> str | None:
    return current_app.config.get("REDIS_URL") if has_app_context() else None


def redis_connection(url: str | None = None):
    from redis import Redis

    return Redis.from_url(url or current_app.config["REDIS_URL"])


def rq_job_id(job_id: str) -> str:
    """RQ allows only [A-Za-z0-9_-] in ids: a readable slug plus a hash keeps keys distinct."""
    slug = re.sub(r"[^A-Za-z0-9_-]", "_", job_id)[:80]
    return f"{slug}-{hashlib.sha256(job_id.encode()).hexdigest()[:12]}"


# RQ job states in which the job will still run (or is running): another push collapses into it.
_RQ_LIVE = frozenset(("queued", "started", "scheduled", "deferred"))


def _push_to_rq(job_id: str, spec_name: str, *, replace: bool = False) -> None:
    """Hand a run to RQ. With `replace` (a takeover of a run whose worker died) any RQ job of the
    same id is deleted first: Redis keeps calling a dead worker's job "started" until RQ's
    registry cleanup, which then fails it without a retry, and the run would wait forever."""
    from rq import Queue, Retry
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    connection = redis_connection()
    rq_id = rq_job_id(job_id)
    try:
        existing = Job.fetch(rq_id, connection=connection)
        if not replace and existing.get_status(refresh=False) in _RQ_LIVE:
            return  # the same job is already waiting or running: collapse
        existing.delete()
    except NoSuchJobError:
        pass
    spec = REGISTRY[spec_name]
    config = current_app.config
    Queue(spec.queue, connection=connection).enqueue_call(
        func=execute,
        args=(job_id,),
        job_id=rq_id,
        timeout=spec.timeout or config["JOB_DEFAULT_TIMEOUT"],
        result_ttl=config["JOB_RESULT_TTL"],
        failure_ttl=config["JOB_RESULT_TTL"],
        retry=Retry(max=spec.retries, interval=list(RETRY_INTERVALS[: max(spec.retries, 1)]))
        if spec.retries
        else None,
        description=job_id,
    )


# -- runs whose worker died ----------------------------------------------------------------------

# RQ's work-horse monitor kills a job only at `timeout + 60` s and checks every 30 s: a run is
# taken over well after that, so a live job is never taken over.
STALE_MARGIN_SECONDS = 180
# A run "queued" this long while Redis holds no live job for it lost its dispatch (Redis was down
# at commit time, or RQ failed a dead worker's job for good): recovery dispatches it again.
LOST_DISPATCH_SECONDS = 600


def stale_cutoff(name: str) -> datetime:
    """A run started before this moment and still "started" has outlived its timeout."""
    spec = REGISTRY.get(name)
    timeout = (spec.timeout if spec else None) or current_app.config["JOB_DEFAULT_TIMEOUT"]
    return utcnow() - timedelta(seconds=timeout + STALE_MARGIN_SECONDS)


def is_stale(run: JobRun) -> bool:
    return (
        run.status == JobStatus.STARTED
        and run.started_at is not None
        and run.started_at < stale_cutoff(run.name)
    )


def _live_in_rq(job_ids: list[str]) -> set[str]:
    """The ids among `job_ids` whose RQ job is queued, scheduled, deferred or started."""
    from rq.job import Job

    rq_jobs = Job.fetch_many([rq_job_id(j) for j in job_ids], connection=redis_connection())
    return {
        job_id
        for job_id, rq_job in zip(job_ids, rq_jobs, strict=True)
        if rq_job is not None and rq_job.get_status(refresh=False) in _RQ_LIVE
    }


@job(queue=QUEUE_DEFAULT, retries=0, title="Recover jobs whose worker died")
def recover_stale_runs() -> list[str]:
    """Queue again every run whose worker died mid-run (SIGKILL, lost machine), replacing the dead
    worker's RQ job, and, with Redis, dispatch again every run queued for long that Redis has no
    live job for. Jobs are safe to run twice, so the new attempt finishes what the dead one left.
    Runs from the periodic list."""
    oldest = utcnow() - timedelta(seconds=STALE_MARGIN_SECONDS)
    started = db.session.execute(
        select(JobRun).where(JobRun.status == JobStatus.STARTED, JobRun.started_at < oldest)
    ).scalars()
    recovered = []
    for run in started:
        spec = REGISTRY.get(run.name)
        if spec is None or not is_stale(run):
            continue
        enqueue(spec.func, *run.args, key=run.id, org_id=run.org_id, brand_id=run.brand_id)
        recovered.append(run.id)
    if _redis_url():  # inline mode runs a queued job right after its commit: none is lost
        recovered += _redispatch_lost_runs()
    return recovered


def _redispatch_lost_runs(chunk: int = 500) -> list[str]:
    waiting_since = utcnow() - timedelta(seconds=LOST_DISPATCH_SECONDS)
    waiting = list(
        db.session.execute(
            select(JobRun)
            .where(JobRun.status == JobStatus.QUEUED, JobRun.updated_at < waiting_since)
            .order_by(JobRun.updated_at)
        ).scalars()
    )
    redispatched = []
    for start in range(0, len(waiting), chunk):
        runs = waiting[start : start + chunk]
        live = _live_in_rq([run.id for run in runs])
        for run in runs:
            spec = REGISTRY.get(run.name)
            if spec is None or run.id in live:
                continue
            enqueue(spec.func, *run.args, key=run.id, org_id=run.org_id, brand_id=run.brand_id)
            redispatched.append(run.id)
    return redispatched


# -- reads ---------------------------------------------------------------------------------------


def visible_runs(actor: Actor) -> Select[Any]:
    """A job is seen by its own org, and by the HQ of its brand."""
    if actor.is_system:
        return select(JobRun)
    hq = JobRun.brand_id.in_(actor.brand_ids) if actor.is_hq else false()
    return select(JobRun).where(or_(JobRun.org_id == actor.org_id, hq))


def get_run(actor: Actor, job_id: str) -> JobRun:
    run = db.session.execute(visible_runs(actor).where(JobRun.id == job_id)).scalar_one_or_none()
    if run is None:
        raise NotFound()
    return run


def report_progress(done: int, total: int, message: str = "") -> None:
    """Called by a running job; the job page's progress bar reads it."""
    percent = 100 if total <= 0 else max(0, min(100, int(done * 100 / total)))
    job_id = _current_job_id.get()
    if job_id is None:
        return
    run = db.session.get(JobRun, job_id)
    if run is not None:
        run.progress = percent
        run.message = message[:500]
    rq_job = _current_rq_job()
    if rq_job is not None:
        rq_job.meta["progress"] = percent
        rq_job.meta["message"] = message[:500]
        rq_job.save_meta()


def live_progress(run: JobRun) -> tuple[int, str]:
    """Progress of a running job: the worker's live figure from Redis when there is one."""
    if run.status == JobStatus.STARTED and _redis_url():
        from rq.exceptions import NoSuchJobError
        from rq.job import Job

        try:
            rq_job = Job.fetch(rq_job_id(run.id), connection=redis_connection())
            meta = rq_job.get_meta(refresh=True)
            return int(meta.get("progress", run.progress)), str(meta.get("message", run.message))
        except NoSuchJobError:
            pass
    return run.progress, run.message


def execute(job_id: str) -> Any:
    """Run one recorded job: the RQ entry point, and what inline mode calls after commit."""
    if has_app_context():
        return _execute(job_id)
    global _engine_pid
    with bound_app().app_context():
        if _engine_pid != os.getpid():
            # RQ forks a work horse per job: never share the parent's pooled connections.
            db.engine.dispose(close=False)
            _engine_pid = os.getpid()
        return _execute(job_id)


def _execute(job_id: str) -> Any:
    with writing():  # a job's transactions write (SQLite: take the write lock up front)
        return _execute_run(job_id)


def _execute_run(job_id: str) -> Any:
    session = db.session
    run = session.get(JobRun, job_id)
    if run is None:
        return None  # its transaction never committed: nothing to do
    if run.status == JobStatus.FINISHED:
        return run.result  # a duplicate delivery: the work is done
    spec = REGISTRY.get(run.name)
    # Claim the run: of two deliveries of one job, only one gets past this update.
    # A run left "started" past its timeout lost its worker (killed, machine gone): RQ would
    # have stopped a live one by then, so a new delivery may take it over.
    abandoned = and_(JobRun.status == JobStatus.STARTED, JobRun.started_at < stale_cutoff(run.name))
    claimed = session.execute(
        update(JobRun)
        .where(JobRun.id == job_id, or_(JobRun.status == JobStatus.QUEUED, abandoned))
        .values(
            status=JobStatus.STARTED,
            started_at=utcnow(),
            attempts=JobRun.attempts + 1,
            error=None,
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if claimed.rowcount != 1:
        return None
    session.refresh(run)
    token = _current_job_id.set(job_id)
    try:
        if spec is None:
            raise LookupError(f"job function {run.name} is not registered")
        result = spec.func(*run.args)
        session.commit()
    except Exception as exc:
        session.rollback()
        retrying = _will_retry()
        run.status = JobStatus.QUEUED if retrying else JobStatus.FAILED
        run.error = "".join(traceback.format_exception_only(exc)).strip()[:4000]
        run.message = "retrying" if retrying else "failed"
        run.finished_at = None if retrying else utcnow()
        session.commit()
        current_app.logger.exception("job %s failed", job_id)
        if _bound_app is not None:
            raise  # let RQ record the failure and schedule the retry
        return None
    finally:
        _current_job_id.reset(token)
    run.status = JobStatus.FINISHED
    run.progress = 100
    run.result = result
    run.finished_at = utcnow()
    session.commit()
    return result


def _current_rq_job():
    """The RQ job this process is running, or None (inline mode, web process)."""
    if _bound_app is None:
        return None
    from rq import get_current_job

    return get_current_job()


def _will_retry() -> bool:
    rq_job = _current_rq_job()
    return bool(rq_job is not None and (rq_job.retries_left or 0) > 0)


def retry(run: JobRun) -> JobRun:
    """Queue a failed run again (HQ's retry button)."""
    spec = REGISTRY.get(run.name)
    if spec is None:
        raise ValidationFailed(f"The job {run.name} no longer exists.")
    return enqueue(spec.func, *run.args, key=run.id, org_id=run.org_id, brand_id=run.brand_id)


def queue_overview() -> list[dict[str, Any]]:
    """Counts per queue for the HQ jobs page; no job contents cross brands here."""
    if not _redis_url():
        return []
    from rq import Queue, Worker

    connection = redis_connection()
    workers = Worker.all(connection=connection)
    rows = []
    for name in QUEUES:
        queue = Queue(name, connection=connection)
        rows.append(
            {
                "name": name,
                "queued": queue.count,
                "failed": queue.failed_job_registry.count,
                "workers": sum(1 for w in workers if name in w.queue_names()),
            }
        )
    return rows


def init_app(app: Flask) -> None:
    @app.after_request
    def run_inline_jobs(response):
        if not app.config.get("REDIS_URL"):
            run_inline_pending()
        return response
