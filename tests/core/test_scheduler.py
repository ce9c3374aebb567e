"""The processes the README tells an operator to start, started for real: `python worker.py`
(an RQ worker with the scheduler beside it) and `python worker.py --scheduler`, on PostgreSQL and
a Redis server of this module's own, with short intervals from configuration. No `--burst`."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from portal.core import jobs
from portal.core.db import utcnow
from portal.core.jobs import JobRun, JobStatus
from portal.extensions import db
from portal.policy.models import PolicyVersion, VersionStatus
from portal.schedule import DAILY_CATCH_UP, DAY, PERIODIC, Scheduler, intervals, slot_start
from portal.seed.demo import seed_demo
from tests.support import jobs as test_jobs
from tests.support import processes
from tests.support.processes import Process, descendants, portal_env, wait_for
from tests.support.races import race_app

FAST = {
    "SCHEDULER_TICK_SECONDS": "0.2",
    "JOB_HEARTBEAT_SECONDS": "1",
    "JOB_STALE_SECONDS": "4",
    "JOB_RECOVERY_SECONDS": "2",
}


# -- the list and its slots (no services) --------------------------------------------------------


def test_default_settings_notice_a_dead_worker_within_two_minutes(app):
    config = app.config
    # Silent for JOB_STALE_SECONDS, then seen at the next recovery slot, then queued at once.
    worst = (
        config["JOB_STALE_SECONDS"]
        + config["JOB_RECOVERY_SECONDS"]
        + 2 * config["SCHEDULER_TICK_SECONDS"]
    )
    assert worst <= 120
    assert config["JOB_HEARTBEAT_SECONDS"] * 3 <= config["JOB_STALE_SECONDS"]


def test_daily_entries_run_at_their_local_time_and_others_on_their_interval(app):
    zone = ZoneInfo("Asia/Shanghai")
    nightly = next(p for p in PERIODIC if p.name == "nightly-replenishment")
    before_two = datetime(2026, 12, 3, 17, 30, tzinfo=UTC)  # 01:30 in Shanghai
    after_two = datetime(2026, 12, 3, 18, 30, tzinfo=UTC)  # 02:30
    assert slot_start(nightly, 86400, before_two, zone) == datetime(2026, 12, 2, 18, 0, tzinfo=UTC)
    assert slot_start(nightly, 86400, after_two, zone) == datetime(2026, 12, 3, 18, 0, tzinfo=UTC)
    states = next(p for p in PERIODIC if p.name == "policy-states")
    now = datetime(2026, 12, 3, 10, 0, 59, tzinfo=UTC)
    assert slot_start(states, 60, now, zone) == datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def test_a_late_scheduler_runs_the_nightly_entry_within_hours_but_not_the_next_afternoon(app):
    scheduler = Scheduler(app)
    shanghai_0530 = datetime(2026, 12, 3, 21, 30, tzinfo=UTC)  # 3.5 h after 02:00
    assert "nightly-replenishment" in {entry.name for entry, _ in scheduler.due(shanghai_0530)}
    scheduler = Scheduler(app)
    shanghai_1400 = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)
    due = {entry.name for entry, _ in scheduler.due(shanghai_1400)}
    assert "nightly-replenishment" not in due and "policy-states" in due
    assert "nightly-replenishment" not in {e.name for e, _ in scheduler.due(shanghai_1400)}


def test_a_failed_periodic_slot_is_not_run_again_by_another_scheduler(app):
    from portal.schedule import enqueue_periodic

    start = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    run_id = enqueue_periodic("policy-states", start)
    run = db.session.get(JobRun, run_id)
    assert run.status == JobStatus.FINISHED
    run.status = JobStatus.FAILED
    db.session.flush()
    assert enqueue_periodic("policy-states", start) == run_id
    assert (run.status, run.attempts) == (JobStatus.FAILED, 1)


def test_interval_overrides_name_an_entry_or_are_refused(app):
    app.config["SCHEDULE_INTERVALS"] = "policy-states=5, expire-quotas=7"
    try:
        every = intervals(app)
        assert (every["policy-states"], every["expire-quotas"]) == (5, 7)
        assert every["recover-stale-jobs"] == app.config["JOB_RECOVERY_SECONDS"]
        app.config["SCHEDULE_INTERVALS"] = "no-such-entry=5"
        with pytest.raises(ValueError, match="no-such-entry"):
            intervals(app)
    finally:
        app.config["SCHEDULE_INTERVALS"] = ""


def test_without_redis_the_scheduler_runs_each_due_slot_once_inline(backend, tmp_path):
    """The embedded default has no worker: `python worker.py --scheduler` runs the list inline.
    On a demo database of its own: the jobs really run (the nightly tier moves, level recounts,
    settlements...), and must not change the data every other test shares."""
    app = race_app(backend, tmp_path, "scheduler_inline", pool_size=4)
    with app.app_context():
        seed_demo()
        jobs.commit()
        db.session.remove()
        scheduler = Scheduler(app)
        scheduler.tick()
        scheduler.tick()  # the same slots: asked for once
        keys = {
            run.id.rsplit(":", 1)[0]
            for run in db.session.execute(
                select(JobRun).where(JobRun.id.like("periodic:%"))
            ).scalars()
        }
        # Recovery runs in the scheduler itself; every other entry is a job keyed by its slot,
        # the daily ones only within a few hours of their time of day.
        now = utcnow()
        zone = ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"])
        assert keys == {
            f"periodic:{p.name}"
            for p in PERIODIC
            if not p.in_scheduler
            and not (p.at and now - slot_start(p, DAY, now, zone) > DAILY_CATCH_UP)
        }
        runs = db.session.execute(select(JobRun).where(JobRun.id.like("periodic:%"))).scalars()
        assert {(run.status, run.attempts) for run in runs} == {(JobStatus.FINISHED, 1)}
        db.session.remove()
        db.engine.dispose()


# -- real processes --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack_app(own_redis):
    with processes.stack_app("portal_test_scheduler", own_redis.url) as app:
        yield app


@pytest.fixture
def stack(stack_app, own_redis, tmp_path):
    """The app bound to this module's PostgreSQL and Redis, and a way to start processes that
    are all stopped (or killed) at the end."""
    started: list[Process] = []

    def start(*args: str, name: str, **settings: object) -> Process:
        env = portal_env(
            stack_app.config["SQLALCHEMY_DATABASE_URI"], own_redis.url, **{**FAST, **settings}
        )
        process = Process([*args, "--import", "tests.support.jobs"], env, tmp_path / f"{name}.log")
        started.append(process)
        return process

    jobs.redis_connection(own_redis.url).flushdb()
    with stack_app.app_context():
        yield start
        for process in started:
            if process.alive():
                process.stop()
        db.session.rollback()
        db.session.execute(JobRun.__table__.delete())
        db.session.commit()
        db.session.remove()


def periodic_runs(name: str) -> list[JobRun]:
    db.session.expire_all()
    return list(
        db.session.execute(
            select(JobRun).where(JobRun.id.like(f"periodic:{name}:%")).order_by(JobRun.id)
        ).scalars()
    )


@pytest.mark.redis
@pytest.mark.postgres
def test_python_worker_py_runs_the_periodic_list_on_its_own(stack):
    version = db.session.execute(
        select(PolicyVersion).where(PolicyVersion.status == VersionStatus.ACTIVE).limit(1)
    ).scalar_one()
    # Scheduled to start an hour ago, and nothing has moved it yet: the policy-states entry will.
    db.session.execute(
        update(PolicyVersion)
        .where(PolicyVersion.id == version.id)
        .values(status=VersionStatus.SCHEDULED, effective_from=utcnow() - timedelta(hours=1))
    )
    db.session.commit()

    worker = stack("--queues", "default", name="worker", SCHEDULE_INTERVALS="policy-states=2")
    wait_for(
        lambda: (
            (db.session.rollback(), db.session.get(PolicyVersion, version.id).status)[1]
            == VersionStatus.ACTIVE
        ),
        timeout=60,
        what="the periodic policy-states job to activate the version\n" + worker.output()[-3000:],
    )
    runs = wait_for(
        lambda: [r for r in periodic_runs("policy-states") if r.status == JobStatus.FINISHED],
        timeout=30,
        what="a finished policy-states run",
    )
    assert all(run.attempts == 1 for run in runs)
    scheduler_pids = descendants(worker.pid)
    assert "scheduler started" in worker.output()

    assert worker.stop() == 0  # SIGTERM: the worker stops, and its scheduler with it
    wait_for(
        lambda: not any(_alive(pid) for pid in scheduler_pids),
        timeout=15,
        what="the worker's scheduler and work horses to stop",
    )


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.redis
@pytest.mark.postgres
def test_two_schedulers_ask_for_each_slot_once_and_each_run_runs_once(stack):
    settings = {"SCHEDULE_INTERVALS": "policy-states=1"}
    first = stack("--scheduler", name="scheduler-1", **settings)
    second = stack("--scheduler", name="scheduler-2", **settings)
    worker = stack("--no-scheduler", "--queues", "default", name="worker", **settings)
    wait_for(
        lambda: len([r for r in periodic_runs("policy-states") if r.is_done]) >= 4,
        timeout=60,
        what="four policy-states slots run\n" + worker.output()[-2000:],
    )
    for process in (first, second):
        assert process.alive() and "scheduler started" in process.output()
    first.stop()
    second.stop()
    wait_for(  # the worker finishes what the last ticks asked for
        lambda: all(run.is_done for run in periodic_runs("policy-states")),
        timeout=30,
        what="the last slots to run",
    )
    worker.stop()

    runs = periodic_runs("policy-states")
    finished = [run for run in runs if run.status == JobStatus.FINISHED]
    assert len(finished) >= 4 and {run.attempts for run in finished} == {1}
    # Both schedulers asked for the same slots, yet each slot is one run that ran once.
    asked = [
        {
            line.split("asked for ")[1].split()[0]
            for line in p.output().splitlines()
            if "asked for periodic:policy-states" in line
        }
        for p in (first, second)
    ]
    assert len(asked[0] & asked[1]) >= 3, asked
    assert {run.id for run in runs} == asked[0] | asked[1]
    failures = [line for line in worker.output().splitlines() if "failed" in line]
    assert failures == []


@pytest.mark.redis
@pytest.mark.postgres
def test_a_worker_killed_mid_job_is_taken_over_and_the_job_finishes_once(stack, own_redis):
    doomed = stack("--no-scheduler", "--queues", "reports", name="doomed")
    run = jobs.enqueue(test_jobs.slow_tally, "killed", 150, 100, key="tally:killed")
    db.session.commit()

    def step_reached() -> bool:
        db.session.rollback()
        current = db.session.get(JobRun, "tally:killed")
        return current.status == JobStatus.STARTED and jobs.live_progress(current)[0] >= 2

    wait_for(step_reached, timeout=60, what="the job to start\n" + doomed.output()[-2000:])
    # The other host: a worker and the scheduler, already running when the first host dies.
    survivor = stack("--queues", "reports", name="survivor")
    wait_for(lambda: "scheduler started" in survivor.output(), timeout=30, what="the survivor")
    db.session.rollback()
    assert jobs.live_progress(db.session.get(JobRun, "tally:killed"))[0] < 90, "killed too late"
    doomed.kill_with_children()
    killed_at = time.monotonic()

    def finished() -> JobRun | None:
        db.session.rollback()
        current = db.session.get(JobRun, "tally:killed")
        return current if current.status == JobStatus.FINISHED else None

    done = wait_for(
        finished, timeout=90, what="the takeover to finish\n" + survivor.output()[-3000:]
    )
    took = time.monotonic() - killed_at
    assert done.attempts == 2 and done.result == {"completions": 1}
    assert int(jobs.redis_connection(own_redis.url).get("tally:killed")) == 1
    # Silent for 4 s, seen by a recovery slot (every 2 s), then 15 s of work: inside 40 s.
    assert took < 40, took
    assert run.id == done.id
