"""Background jobs: one run record per job, enqueued only after the asking transaction commits.

With REDIS_URL set, jobs go to RQ queues and `python worker.py` runs them. Without it (the embedded
default) the same functions run inline, in the process that asked, right after its commit.
Every job has a deterministic id: asking twice for the same work collapses into one run.

The run record is also the outbox: it is written in the transaction that asks for the work, and
handed to Redis after that commits. A hand-over that fails (Redis down) or that Redis later loses
(restarted without persistence) is sent again by `relay_outbox`, which the scheduler runs every
tick. A running job's work horse beats every few seconds (`job_heartbeats`); a run whose beats
stop is taken over by `recover_stale_runs` within a minute or two, and the claim in `_execute_run`
makes sure two deliveries of one run never both run it.

It is one module on purpose: the run record, the outbox hand-over, the claim, the heartbeats and
the takeover are one protocol whose guarantees hold only together (a change to the claim must be
read beside the relay and the recovery), so it is kept whole rather than split by mechanism.
"""

from __future__ import annotations

import contextvars
import enum
import hashlib
import json
import os
import re
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from flask import Flask, current_app, has_app_context
from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Table,
    Text,
    delete,
    event,
    false,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.types import JSON

from portal.core import metrics
from portal.core.access import Actor
from portal.core.db import TimestampMixin, UTCDateTime, enum_check, utcnow, writing
from portal.core.errors import NotFound, ValidationFailed
from portal.extensions import Model, db

QUEUE_DEFAULT = "default"
QUEUE_PUSH = "push"
QUEUE_REPLENISHMENT = "replenishment"
QUEUE_REPORTS = "reports"
QUEUES: tuple[str, ...] = (QUEUE_DEFAULT, QUEUE_PUSH, QUEUE_REPLENISHMENT, QUEUE_REPORTS)


def queue_timeout(queue: str) -> int:
    """Seconds a job of this queue may run before RQ stops it (JOB_TIMEOUT_<QUEUE>)."""
    return int(current_app.config[f"JOB_TIMEOUT_{queue.upper()}"])


def queue_retries(queue: str) -> int:
    """Automatic retries after a job of this queue fails (JOB_RETRIES_<QUEUE>)."""
    return int(current_app.config[f"JOB_RETRIES_{queue.upper()}"])


def retry_intervals(queue: str) -> list[int]:
    """Seconds between attempts, one per retry; the last repeats (JOB_RETRY_INTERVALS_<QUEUE>,
    else JOB_RETRY_INTERVALS)."""
    config = current_app.config
    text = config.get(f"JOB_RETRY_INTERVALS_{queue.upper()}") or config["JOB_RETRY_INTERVALS"]
    return [int(part) for part in str(text).split(",")]


def db_now() -> datetime:
    """The database's clock: heartbeats and the cutoffs they are compared with are read from one
    clock, so a worker host whose clock is behind never looks dead."""
    if db.session.get_bind().dialect.name == "postgresql":
        return db.session.execute(select(func.now())).scalar_one()
    return utcnow()


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    STARTED = "started"
    FINISHED = "finished"
    FAILED = "failed"


class JobRun(TimestampMixin, Model):
    """The portal's record of one job: what, for whom, progress, outcome."""

    __tablename__ = "job_runs"
    __table_args__ = (
        CheckConstraint(enum_check("status", tuple(JobStatus)), name="status"),
        # The outbox: queued runs not yet handed to Redis (see relay_outbox).
        Index(
            "ix_job_runs_undispatched",
            "created_at",
            postgresql_where=text("status = 'queued' AND dispatched_at IS NULL"),
            sqlite_where=text("status = 'queued' AND dispatched_at IS NULL"),
        ),
    )

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
    # When the run was last seen handed to Redis; NULL while queued means it waits in the outbox.
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def is_done(self) -> bool:
        return self.status in (JobStatus.FINISHED, JobStatus.FAILED)

    @property
    def is_waiting_for_queue(self) -> bool:
        """Queued but not yet handed to Redis (it was away): the relay sends it when it is back."""
        return self.status == JobStatus.QUEUED and self.dispatched_at is None and bool(_redis_url())


class JobHeartbeat(Model):
    """The work horse running a job touches its row every JOB_HEARTBEAT_SECONDS. Its own table, no
    foreign key: a beat never waits for the lock a long job holds on its `job_runs` row."""

    __tablename__ = "job_heartbeats"

    job_id: Mapped[str] = mapped_column(String(160), primary_key=True)
    worker: Mapped[str] = mapped_column(String(200), default="")
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class JobSpec:
    func: Callable[..., Any]
    name: str
    queue: str
    retries: int | None  # None: the queue's JOB_RETRIES_<QUEUE>
    title: str
    # Called with the job's arguments and `reason=` when a run is failed for good, so the record
    # the job works on (an upload, an import) never stays half-way ("validating", "applying").
    on_give_up: Callable[..., None] | None = None

    @property
    def max_retries(self) -> int:
        return queue_retries(self.queue) if self.retries is None else self.retries


REGISTRY: dict[str, JobSpec] = {}


def job(
    *,
    queue: str = QUEUE_DEFAULT,
    retries: int | None = None,
    title: str = "",
    on_give_up: Callable[..., None] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a job function. It takes primitive arguments; the runner commits when it
    returns and rolls back if it raises (`checkpoint()` commits a long job's finished parts).

    Its timeout and retries come from its queue's configuration; `retries=0` says a failure is
    final (the work is whole or nothing and a retry would fail the same way). A run whose worker
    died is taken over whatever `retries` says: that was not the job's failure."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        name = f"{func.__module__}.{func.__qualname__}"
        REGISTRY[name] = JobSpec(func, name, queue, retries, title or func.__name__, on_give_up)
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
    requeue_failed: bool = True,
) -> JobRun:
    """Record a job and schedule it to run once the current transaction commits.

    The same `key` (by default derived from the function and its arguments) collapses into the
    existing run: a finished run is not repeated (put a period or a version in the key for work
    that recurs), a failed one is queued again, and a queued one is dispatched again in case its
    first dispatch was lost. With `requeue_failed=False` (a periodic slot) a failed run stays
    failed: the next slot tries again, not a second scheduler or a restart.
    """
    spec = REGISTRY[func.job_name]  # type: ignore[attr-defined]
    job_id = key or job_key(spec.name, args)
    session = db.session()  # the Session itself: transactions are tracked per session
    run = session.get(JobRun, job_id)
    if run is not None and run.status == JobStatus.FINISHED:
        return run
    if run is not None and run.status == JobStatus.FAILED and not requeue_failed:
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
        run.dispatched_at = None  # back in the outbox until the relay or the commit sends it
        if takeover:  # the dead worker's last beat must not make the new attempt look dead
            session.execute(delete(JobHeartbeat).where(JobHeartbeat.job_id == job_id))
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
        sent = []
        for job_id, (spec_name, replace) in dispatch.items():
            try:
                _push_to_rq(job_id, spec_name, replace=replace)
                sent.append(job_id)
            except Exception as exc:  # noqa: BLE001 - the run is committed: it waits in the outbox
                metrics.incr("redis_unavailable_total", operation="enqueue")
                current_app.logger.warning(
                    "Redis unavailable (%s): job %s stays queued; the relay sends it once Redis "
                    "answers",
                    type(exc).__name__,
                    job_id,
                )
        if sent:
            _mark_dispatched(sent)
    else:
        session.info.setdefault(_READY, []).extend(p[1] for p in pending)


def _mark_dispatched(job_ids: list[str]) -> None:
    """Note that these runs reached Redis, in a short transaction of its own (the asking one has
    committed). Best effort: a run left unmarked is only looked at once more by the relay."""
    table = cast(Table, JobRun.__table__)
    try:
        with db.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SET LOCAL lock_timeout = '2s'"))
            connection.execute(
                update(table)
                .where(table.c.id.in_(job_ids), table.c.status == JobStatus.QUEUED)
                .values(dispatched_at=utcnow())
            )
    except Exception:  # noqa: BLE001
        current_app.logger.warning("could not mark jobs %s as handed to Redis", job_ids)


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
    """Commit at a boundary (CLI, tests) and then run what inline mode has waiting."""
    db.session.commit()
    run_inline_pending()


def in_batches(step: Callable[[int], int], size: int = 500) -> int:
    """Run `step(size)` (which handles at most `size` units and says how many it did) again and
    again, committing each batch whole (`checkpoint`), until a batch comes back short. Returns
    the units done in all."""
    done = 0
    while True:
        count = step(size)
        checkpoint()
        done += count
        if count < size:
            return done


def checkpoint() -> None:
    """Commit a long job's finished part. A job is one transaction, committed by the runner when
    the job function returns; a job that works through thousands of units (locations, orgs)
    commits each whole unit here instead, so a run killed half way keeps what it finished and
    its retry skips it. Only a job may call this, and only between whole units."""
    db.session.commit()


# -- RQ ------------------------------------------------------------------------------------------

_bound_app: Flask | None = None
_engine_pid: int | None = None
_current_job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "portal_job_id", default=None
)
_connections: dict[tuple[str, int], Any] = {}


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
    """One client (and pool) per URL and process, with timeouts: a Redis that is down or cut off
    answers in seconds, so a page that only reads job progress never hangs on it."""
    from redis import Redis

    url = url or current_app.config["REDIS_URL"]
    key = (url, os.getpid())
    client = _connections.get(key)
    if client is None:
        timeout = current_app.config.get("REDIS_TIMEOUT", 5) if has_app_context() else 5
        client = Redis.from_url(url, socket_connect_timeout=min(timeout, 2), socket_timeout=timeout)
        _connections[key] = client
    return client


def rq_job_id(job_id: str) -> str:
    """RQ allows only [A-Za-z0-9_-] in ids: a readable slug plus a hash keeps keys distinct."""
    slug = re.sub(r"[^A-Za-z0-9_-]", "_", job_id)[:80]
    return f"{slug}-{hashlib.sha256(job_id.encode()).hexdigest()[:12]}"


# RQ job states in which the job will still run (or is running): another push collapses into it.
_RQ_LIVE = frozenset(("queued", "started", "scheduled", "deferred"))


def _push_to_rq(job_id: str, spec_name: str, *, replace: bool = False) -> None:
    """Hand a run to RQ. With `replace` (a takeover of a run whose worker died, or a run the relay
    found queued in the portal while Redis calls it "started") an RQ job of the same id in the
    "started" state is deleted first: Redis keeps calling a dead worker's job "started" until
    RQ's registry cleanup, which then fails it without a retry, and the run would wait forever."""
    from rq import Queue, Retry
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    connection = redis_connection()
    rq_id = rq_job_id(job_id)
    try:
        existing = Job.fetch(rq_id, connection=connection)
        status = existing.get_status(refresh=False)
        if status in _RQ_LIVE and not (replace and status == "started"):
            return  # the same job is already waiting or running: collapse
        existing.delete()
    except NoSuchJobError:
        pass
    spec = REGISTRY[spec_name]
    config = current_app.config
    retries = spec.max_retries
    intervals = retry_intervals(spec.queue)
    Queue(spec.queue, connection=connection).enqueue_call(
        func=execute,
        args=(job_id,),
        job_id=rq_id,
        timeout=queue_timeout(spec.queue),
        result_ttl=config["JOB_RESULT_TTL"],
        failure_ttl=config["JOB_RESULT_TTL"],
        retry=Retry(max=retries, interval=(intervals + intervals[-1:] * retries)[:retries])
        if retries
        else None,
        description=job_id,
    )


def relay_outbox(batch: int = 500) -> list[str]:
    """Hand Redis what it does not hold: queued runs whose hand-over failed or never happened
    (Redis was down at commit), and runs Redis lost (restarted without its data, or a dead
    worker's job failed by RQ's cleanup). The scheduler calls this every tick; several schedulers
    may, since pushing collapses into a live RQ job and a run is claimed once. No row lock is
    held while Redis is asked. Returns the ids handed over; raises redis' errors while Redis is
    away."""
    if not _redis_url():
        return []
    config = current_app.config
    now = utcnow()
    waiting = select(JobRun.id, JobRun.name).where(JobRun.status == JobStatus.QUEUED)
    outbox = db.session.execute(
        waiting.where(JobRun.dispatched_at.is_(None)).order_by(JobRun.created_at).limit(batch)
    ).all()
    lost_before = now - timedelta(seconds=config["JOB_REDISPATCH_SECONDS"])
    lost = db.session.execute(
        waiting.where(JobRun.dispatched_at < lost_before)
        .order_by(JobRun.dispatched_at)
        .limit(batch)
    ).all()
    db.session.commit()  # end the read before talking to Redis
    rows = [row for row in [*outbox, *lost] if row.name in REGISTRY]  # others: not ours to send
    if not rows:
        return []
    states = _rq_states([row.id for row in rows])
    taken_before = now - timedelta(seconds=config["JOB_STALE_SECONDS"])
    sent: list[str] = []
    held: list[str] = []
    for row in rows:
        state, started_at = states.get(row.id, (None, None))
        waiting_in_rq = state in ("queued", "scheduled", "deferred")
        # RQ says "started" while a worker is about to claim the run; only long after that, with
        # the run still queued here, was it a worker that died before claiming.
        being_taken = state == "started" and (started_at is None or started_at > taken_before)
        if waiting_in_rq or being_taken:
            held.append(row.id)
            continue
        _push_to_rq(row.id, row.name, replace=True)
        sent.append(row.id)
    if sent or held:
        db.session.execute(
            update(JobRun)
            .where(JobRun.id.in_(sent + held), JobRun.status == JobStatus.QUEUED)
            .values(dispatched_at=now)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    return sent


def _rq_states(job_ids: list[str], chunk: int = 500) -> dict[str, tuple[str, datetime | None]]:
    """RQ's status (and start time) of each run's job, for those Redis holds."""
    from rq.job import Job

    states: dict[str, tuple[str, datetime | None]] = {}
    connection = redis_connection()
    for start in range(0, len(job_ids), chunk):
        ids = job_ids[start : start + chunk]
        rq_jobs = Job.fetch_many([rq_job_id(j) for j in ids], connection=connection)
        for job_id, rq_job in zip(ids, rq_jobs, strict=True):
            if rq_job is None:
                continue
            status = rq_job.get_status(refresh=False)
            started_at = rq_job.started_at
            if started_at is not None and started_at.tzinfo is None:
                started_at = started_at.replace(tzinfo=UTC)
            states[job_id] = (str(getattr(status, "value", status)), started_at)
    return states


# -- runs whose worker died ----------------------------------------------------------------------

# Without heartbeats (a run claimed inline, in the web process or the CLI) a run counts as
# abandoned only once it has outlived its timeout, with a margin for RQ's own monitor, which
# kills a work horse at `timeout + 60` s and checks every 30 s.
STALE_MARGIN_SECONDS = 180


def stale_cutoff(name: str) -> datetime:
    """A run without heartbeats started before this moment and still "started" has outlived its
    timeout."""
    spec = REGISTRY.get(name)
    timeout = queue_timeout(spec.queue if spec else QUEUE_DEFAULT)
    return utcnow() - timedelta(seconds=timeout + STALE_MARGIN_SECONDS)


def heartbeat_cutoff() -> datetime:
    """A run whose last heartbeat is older than this has lost its work horse (database clock)."""
    return db_now() - timedelta(seconds=current_app.config["JOB_STALE_SECONDS"])


def is_stale(run: JobRun) -> bool:
    if run.status != JobStatus.STARTED or run.started_at is None:
        return False
    beat = db.session.get(JobHeartbeat, run.id, populate_existing=True)
    if beat is not None:
        return beat.beat_at < heartbeat_cutoff()
    return run.started_at < stale_cutoff(run.name)


def max_attempts(spec: JobSpec) -> int:
    """Attempts a run may have: its retries, and takeovers after workers died under it."""
    return 1 + spec.max_retries + int(current_app.config["JOB_MAX_TAKEOVERS"])


@job(queue=QUEUE_DEFAULT, retries=0, title="Recover jobs whose worker died")
def recover_stale_runs() -> list[str]:
    """Queue again every run whose worker died mid-run (SIGKILL, out of memory, lost machine):
    its heartbeats stopped. Jobs are safe to run twice, so the new attempt finishes what the dead
    one left. A run that has used up its attempts is failed with the reason instead. Runs from
    the scheduler itself, every JOB_RECOVERY_SECONDS."""
    oldest = utcnow() - timedelta(seconds=current_app.config["JOB_STALE_SECONDS"])
    started = db.session.execute(
        select(JobRun)
        .where(JobRun.status == JobStatus.STARTED, JobRun.started_at < oldest)
        .with_for_update(skip_locked=True)  # another scheduler's pass takes the rest
    ).scalars()
    recovered = []
    for run in list(started):
        spec = REGISTRY.get(run.name)
        if spec is None or not is_stale(run):
            continue
        if run.attempts >= max_attempts(spec):
            run.status = JobStatus.FAILED
            run.error = (
                f"The worker running this job stopped {run.attempts} times (killed, out of "
                "memory, timed out or lost); it is not tried again automatically."
            )
            run.message = "failed"
            run.finished_at = utcnow()
            db.session.execute(delete(JobHeartbeat).where(JobHeartbeat.job_id == run.id))
            _give_up(spec, run)
            continue
        enqueue(spec.func, *run.args, key=run.id, org_id=run.org_id, brand_id=run.brand_id)
        recovered.append(run.id)
    return recovered


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
    rq_job = _current_rq_job()
    if rq_job is not None and db.engine.dialect.name == "postgresql":
        # On a worker, in a short transaction of its own: the job's own transaction never holds
        # its run's row, so a claim or a takeover never waits for a job's next commit.
        table = cast(Table, JobRun.__table__)
        with db.engine.begin() as connection:
            connection.execute(
                update(table)
                .where(table.c.id == job_id)
                .values(progress=percent, message=message[:500])
            )
    else:
        run = db.session.get(JobRun, job_id)
        if run is not None:
            run.progress = percent
            run.message = message[:500]
    if rq_job is not None:
        from redis.exceptions import RedisError

        rq_job.meta["progress"] = percent
        rq_job.meta["message"] = message[:500]
        try:
            rq_job.save_meta()
        except RedisError:  # the live figure is a nicety; the run's own record has it
            metrics.incr("redis_unavailable_total", operation="progress")


def live_progress(run: JobRun) -> tuple[int, str]:
    """Progress of a running job: the worker's live figure from Redis when there is one, else
    what the run last recorded (also while Redis is away)."""
    if run.status == JobStatus.STARTED and _redis_url():
        from redis.exceptions import RedisError
        from rq.exceptions import NoSuchJobError
        from rq.job import Job

        try:
            rq_job = Job.fetch(rq_job_id(run.id), connection=redis_connection())
            meta = rq_job.get_meta(refresh=True)
            return int(meta.get("progress", run.progress)), str(meta.get("message", run.message))
        except NoSuchJobError:
            pass
        except RedisError:
            metrics.incr("redis_unavailable_total", operation="progress")
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


class _Heartbeat(threading.Thread):
    """Touches the run's heartbeat row while the job runs, on a connection of its own."""

    def __init__(self, job_id: str, interval: float) -> None:
        super().__init__(name=f"heartbeat-{job_id}", daemon=True)
        self.job_id = job_id
        self.interval = interval
        self.engine = db.engine
        self.logger = current_app.logger
        self.halt = threading.Event()

    def run(self) -> None:
        table = cast(Table, JobHeartbeat.__table__)
        # The database's clock where it has one (see db_now).
        now = func.now() if self.engine.dialect.name == "postgresql" else None
        while not self.halt.wait(self.interval):
            try:
                with self.engine.begin() as connection:
                    connection.execute(
                        update(table)
                        .where(table.c.job_id == self.job_id)
                        .values(beat_at=now if now is not None else utcnow())
                    )
            except Exception:  # noqa: BLE001 - a missed beat is retried at the next one
                self.logger.warning("heartbeat of job %s missed", self.job_id, exc_info=True)

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=self.interval + 5)


def _execute_run(job_id: str) -> Any:
    session = db.session
    run = session.get(JobRun, job_id)
    if run is None:
        return None  # its transaction never committed: nothing to do
    if run.status == JobStatus.FINISHED:
        return run.result  # a duplicate delivery: the work is done
    spec = REGISTRY.get(run.name)
    # Claim the run: of two deliveries of one job, only one gets past this. The row is locked
    # first, so the second waits and then reads what the first committed (a claim decided in one
    # UPDATE would compare against a heartbeat read before the wait). A run left "started" whose
    # heartbeats stopped (or, without heartbeats, past its timeout) lost its worker, so a new
    # delivery may take it over.
    db.session.execute(select(JobRun.id).where(JobRun.id == job_id).with_for_update()).scalar_one()
    session.refresh(run)
    if not (run.status == JobStatus.QUEUED or is_stale(run)):
        session.rollback()
        return None
    run.status = JobStatus.STARTED
    run.started_at = utcnow()
    run.attempts = (run.attempts or 0) + 1
    run.error = None
    heartbeat = None
    if _current_rq_job() is not None:  # a worker's work horse: beat, so a death is noticed
        session.execute(delete(JobHeartbeat).where(JobHeartbeat.job_id == job_id))
        session.add(JobHeartbeat(job_id=job_id, worker=_worker_name(), beat_at=db_now()))
        heartbeat = _Heartbeat(job_id, float(current_app.config["JOB_HEARTBEAT_SECONDS"]))
    session.commit()
    session.refresh(run)
    token = _current_job_id.set(job_id)
    if heartbeat is not None:
        heartbeat.start()
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
        if not retrying and spec is not None:
            _give_up(spec, run)
        _end_heartbeat(heartbeat, job_id)
        session.commit()
        current_app.logger.exception("job %s failed", job_id)
        if _current_rq_job() is not None:
            raise  # let RQ record the failure and schedule the retry
        return None
    finally:
        _current_job_id.reset(token)
    run.status = JobStatus.FINISHED
    run.progress = 100
    run.result = result
    run.finished_at = utcnow()
    _end_heartbeat(heartbeat, job_id)
    session.commit()
    return result


def _give_up(spec: JobSpec, run: JobRun) -> None:
    """Let the job's domain close what the run worked on, in the transaction that fails it."""
    if spec.on_give_up is None:
        return
    try:
        with db.session.begin_nested():
            spec.on_give_up(*run.args, reason=run.error or "")
    except Exception:  # noqa: BLE001 - the run is failed either way; the log says why this was not
        current_app.logger.exception("job %s: its give-up hook failed", run.id)


def _end_heartbeat(heartbeat: _Heartbeat | None, job_id: str) -> None:
    if heartbeat is None:
        return
    heartbeat.stop()
    db.session.execute(delete(JobHeartbeat).where(JobHeartbeat.job_id == job_id))


def _worker_name() -> str:
    rq_job = _current_rq_job()
    return str(getattr(rq_job, "worker_name", None) or f"pid {os.getpid()}")[:200]


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


def job_gauges() -> dict[str, int]:
    """What /metrics reports of the jobs, read from the database (so any app server can say it):
    runs per status, runs waiting in the outbox, and started runs whose heartbeats stopped."""
    counts: dict[str, int] = {
        status: count
        for status, count in db.session.execute(
            select(JobRun.status, func.count())
            .where(JobRun.status.in_((JobStatus.QUEUED, JobStatus.STARTED)))
            .group_by(JobRun.status)
        )
    }
    outbox = db.session.execute(
        select(func.count())
        .select_from(JobRun)
        .where(JobRun.status == JobStatus.QUEUED, JobRun.dispatched_at.is_(None))
    ).scalar_one()
    silent = db.session.execute(
        select(func.count())
        .select_from(JobHeartbeat)
        .where(JobHeartbeat.beat_at < heartbeat_cutoff())
    ).scalar_one()
    return {
        "jobs_queued": int(counts.get(JobStatus.QUEUED, 0)),
        "jobs_started": int(counts.get(JobStatus.STARTED, 0)),
        "jobs_in_outbox": int(outbox),
        "jobs_with_silent_heartbeat": int(silent),
    }


def queue_overview() -> list[dict[str, Any]] | None:
    """Counts per queue for the HQ jobs page; no job contents cross brands here. None while
    Redis does not answer."""
    if not _redis_url():
        return []
    from redis.exceptions import RedisError
    from rq import Queue, Worker

    connection = redis_connection()
    try:
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
    except RedisError:
        metrics.incr("redis_unavailable_total", operation="queue_overview")
        current_app.logger.warning("Redis unavailable: the jobs page shows no queue counts")
        return None
    return rows
