"""Jobs run only after their transaction commits, once per key, inline without Redis and on real
RQ workers with it."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from portal.core import jobs
from portal.core.db import utcnow
from portal.core.jobs import JobHeartbeat, JobRun, JobStatus
from portal.core.mail import deliver_mail
from portal.extensions import db
from tests.support import jobs as test_jobs
from tests.support.processes import stack_app
from tests.support.services import actor_for, org

ROOT = Path(__file__).resolve().parents[2]


def mail_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "portal.mail"]


def test_job_enqueued_in_a_rolled_back_transaction_never_runs(app, caplog):
    caplog.set_level(logging.INFO, logger="portal.mail")
    jobs.enqueue(deliver_mail, "a@example.com", "hello", "body")
    db.session.rollback()
    jobs.run_inline_pending()
    assert mail_lines(caplog) == []
    assert (
        db.session.execute(select(JobRun).where(JobRun.name == deliver_mail.job_name)).first()
        is None
    )


def test_job_runs_inline_after_commit_and_records_its_result(app, caplog):
    caplog.set_level(logging.INFO, logger="portal.mail")
    run = jobs.enqueue(deliver_mail, "a@example.com", "hello", "body")
    assert mail_lines(caplog) == []  # not before the commit
    jobs.commit()
    assert len(mail_lines(caplog)) == 1
    db.session.refresh(run)
    assert (run.status, run.progress, run.result) == (
        "finished",
        100,
        {"to": "a@example.com", "subject": "hello"},
    )


def test_a_run_whose_worker_died_is_taken_over_once_its_timeout_has_passed(app, caplog):
    caplog.set_level(logging.INFO, logger="portal.mail")
    run = jobs.enqueue(deliver_mail, "a@example.com", "hello", "body", key="mail:killed")
    db.session.commit()
    # What a SIGKILLed worker leaves behind: "started", never finished.
    run.status, run.started_at, run.attempts = JobStatus.STARTED, utcnow(), 1
    db.session.commit()
    assert jobs.recover_stale_runs() == []  # may still be running: left alone
    assert jobs.enqueue(deliver_mail, "a@example.com", "hello", "body", key="mail:killed") is run
    assert run.status == JobStatus.STARTED
    run.started_at = jobs.stale_cutoff(run.name) - timedelta(seconds=1)
    db.session.commit()
    assert jobs.recover_stale_runs() == ["mail:killed"]
    jobs.commit()
    db.session.refresh(run)
    assert (run.status, run.attempts) == (JobStatus.FINISHED, 2)
    assert len(mail_lines(caplog)) == 1


def test_a_run_that_fails_for_good_lets_its_domain_close_what_it_worked_on(app):
    test_jobs.GAVE_UP.clear()
    run = jobs.enqueue(test_jobs.always_fails, "disk full", key="fail:hook")
    jobs.commit()
    db.session.refresh(run)
    assert run.status == JobStatus.FAILED
    assert test_jobs.GAVE_UP == [("disk full", "RuntimeError: disk full")]


def test_a_run_whose_workers_keep_dying_is_failed_with_the_reason_not_rerun_forever(app):
    test_jobs.GAVE_UP.clear()
    run = jobs.enqueue(test_jobs.always_fails, "oom", key="fail:dies")
    db.session.commit()
    spec = jobs.REGISTRY[test_jobs.always_fails.job_name]
    silent_since = jobs.heartbeat_cutoff() - timedelta(seconds=1)
    run.status, run.attempts, run.started_at = (
        JobStatus.STARTED,
        jobs.max_attempts(spec),
        silent_since,
    )
    db.session.add(JobHeartbeat(job_id=run.id, worker="gone", beat_at=silent_since))
    db.session.commit()
    assert jobs.recover_stale_runs() == []
    db.session.commit()
    db.session.refresh(run)
    assert run.status == JobStatus.FAILED and "stopped" in run.error
    assert test_jobs.GAVE_UP and test_jobs.GAVE_UP[0][0] == "oom"
    assert db.session.get(JobHeartbeat, run.id) is None


def test_a_run_is_not_taken_over_while_rq_may_still_be_stopping_its_worker(app, caplog):
    caplog.set_level(logging.INFO, logger="portal.mail")
    run = jobs.enqueue(deliver_mail, "a@example.com", "hello", "body", key="mail:slow")
    db.session.commit()
    # RQ's monitor kills a work horse at `timeout + 60` s, looking every 30 s: by then it may
    # still be running, and a second delivery must not start the same work beside it.
    rq_kill_deadline = app.config["JOB_TIMEOUT_DEFAULT"] + 60 + 30
    run.status, run.attempts = JobStatus.STARTED, 1
    run.started_at = utcnow() - timedelta(seconds=rq_kill_deadline + 5)
    db.session.commit()
    assert jobs.recover_stale_runs() == []
    assert jobs.execute(run.id) is None  # a duplicate delivery cannot claim it either
    db.session.refresh(run)
    assert (run.status, run.attempts) == (JobStatus.STARTED, 1)
    assert mail_lines(caplog) == []


def test_same_key_twice_is_one_run(app, caplog):
    caplog.set_level(logging.INFO, logger="portal.mail")
    first = jobs.enqueue(deliver_mail, "a@example.com", "s", "b", key="mail:once")
    second = jobs.enqueue(deliver_mail, "a@example.com", "s", "b", key="mail:once")
    jobs.commit()
    again = jobs.enqueue(deliver_mail, "a@example.com", "s", "b", key="mail:once")
    jobs.commit()
    assert first is second is again
    assert len(mail_lines(caplog)) == 1


def test_a_rolled_back_savepoint_drops_only_its_own_jobs(app, caplog):
    caplog.set_level(logging.INFO, logger="portal.mail")
    jobs.enqueue(deliver_mail, "kept@example.com", "s", "b")
    nested = db.session.begin_nested()
    jobs.enqueue(deliver_mail, "dropped@example.com", "s", "b")
    nested.rollback()
    jobs.commit()
    lines = mail_lines(caplog)
    assert len(lines) == 1 and "kept@example.com" in lines[0]


def test_failed_job_shows_its_error_and_hq_can_retry_it(app, login):
    acme = org("ACME")
    run = jobs.enqueue(test_jobs.always_fails, "disk full", org_id=acme.id, brand_id=acme.id)
    jobs.commit()
    db.session.refresh(run)
    assert run.status == JobStatus.FAILED and "disk full" in run.error
    client = login("hq@demo.test")
    page = client.get(f"/jobs/{run.id}").get_data(as_text=True)
    assert "disk full" in page and "Retry" in page
    response = client.post(f"/jobs/{run.id}/retry")
    assert response.status_code == 302
    db.session.refresh(run)
    assert run.attempts == 2 and run.status == JobStatus.FAILED


def test_job_page_and_api_show_progress_to_its_org_and_brand_hq(app, login):
    d1 = org("D1")
    run = jobs.enqueue(test_jobs.count_to, 4, org_id=d1.id, brand_id=org("ACME").id)
    jobs.commit()
    client = login("dist1@demo.test")
    body = client.get(f"/api/v1/jobs/{run.id}").get_json()
    assert body["status"] == "finished" and body["progress"] == 100
    assert body["result"] == {"counted": 4}
    assert 'value="100"' in client.get(f"/jobs/{run.id}/status").get_data(as_text=True)
    client.post("/logout")
    assert login("hq@demo.test").get(f"/jobs/{run.id}").status_code == 200
    client.post("/logout")
    assert login("store1@demo.test").get(f"/jobs/{run.id}").status_code == 404


# -- real Redis, real RQ workers ------------------------------------------------------------------


@pytest.fixture(scope="module")
def rq_app(own_redis):
    with stack_app("portal_test_jobs", own_redis.url) as app:
        yield app


@pytest.fixture
def rq(rq_app):
    connection = jobs.redis_connection(rq_app.config["REDIS_URL"])
    connection.flushdb()
    with rq_app.app_context():
        yield rq_app
        db.session.rollback()
        db.session.execute(JobRun.__table__.delete())
        db.session.commit()
        db.session.remove()
    connection.flushdb()
    connection.close()


def run_worker(app, *queues: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "PORTAL_ENV": "development",
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [
            sys.executable,
            "worker.py",
            "--burst",
            "--queues",
            ",".join(queues),
            "--import",
            "tests.support.jobs",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def queued(queue: str) -> int:
    from rq import Queue

    return Queue(queue, connection=jobs.redis_connection()).count


@pytest.mark.redis
def test_rq_nothing_reaches_redis_from_a_rolled_back_transaction(rq):
    jobs.enqueue(deliver_mail, "a@example.com", "s", "b")
    assert queued("default") == 0
    db.session.rollback()
    assert queued("default") == 0
    assert (
        db.session.execute(select(JobRun).where(JobRun.name == deliver_mail.job_name)).first()
        is None
    )


@pytest.mark.redis
def test_rq_worker_runs_the_committed_job_once(rq):
    run = jobs.enqueue(test_jobs.count_to, 3, key="count:three")
    jobs.enqueue(test_jobs.count_to, 3, key="count:three")
    assert queued("reports") == 0  # nothing before the commit
    db.session.commit()
    jobs.enqueue(test_jobs.count_to, 3, key="count:three")
    db.session.commit()
    assert queued("reports") == 1  # double enqueue collapsed
    result = run_worker(rq, "reports")
    assert result.returncode == 0, result.stderr[-2000:]
    db.session.expire_all()
    run = db.session.get(JobRun, "count:three")
    assert (run.status, run.progress, run.result, run.attempts) == (
        "finished",
        100,
        {"counted": 3},
        1,
    )
    assert queued("reports") == 0


@pytest.mark.redis
def test_rq_failure_is_recorded_with_its_error(rq):
    jobs.enqueue(test_jobs.always_fails, "no stock file", key="fail:one")
    db.session.commit()
    result = run_worker(rq, "default")
    assert result.returncode == 0, result.stderr[-2000:]
    db.session.expire_all()
    run = db.session.get(JobRun, "fail:one")
    assert run.status == "failed" and "no stock file" in run.error


@pytest.mark.redis
def test_rq_invitation_mail_is_sent_by_the_worker(rq):
    from portal.network.services import invite_user

    with rq.test_request_context():
        invitation = invite_user(
            actor_for("hq@demo.test"), org("D2"), email="ops@example.com", role="distributor_buyer"
        )
        db.session.commit()
    result = run_worker(rq, "default")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ops@example.com" in result.stderr and "/invitations/" in result.stderr
    db.session.expire_all()
    runs = db.session.execute(select(JobRun).where(JobRun.org_id == invitation.org_id)).scalars()
    assert [r.status for r in runs] == ["finished"]


def rq_job(job_id: str):
    from rq.job import Job

    return Job.fetch(jobs.rq_job_id(job_id), connection=jobs.redis_connection())


def leave_as_dead_worker_would(job_id: str) -> None:
    """A worker took the RQ job and was SIGKILLed: Redis keeps it "started", in the started
    registry, until RQ's registry cleanup (every ~10 min) fails it for good."""
    from rq import Queue
    from rq.executions import Execution
    from rq.job import JobStatus as RQStatus

    job = rq_job(job_id)
    connection = jobs.redis_connection()
    Queue(job.origin, connection=connection).remove(job)
    with connection.pipeline() as pipeline:
        job.set_status(RQStatus.STARTED, pipeline=pipeline)
        Execution.create(job, ttl=3600, pipeline=pipeline, worker_name="killed")
        pipeline.execute()
    run = db.session.get(JobRun, job_id)
    run.status, run.attempts = JobStatus.STARTED, 1
    silent_since = jobs.heartbeat_cutoff() - timedelta(seconds=1)
    run.started_at = silent_since
    db.session.add(JobHeartbeat(job_id=job_id, worker="killed", beat_at=silent_since))
    db.session.commit()


@pytest.mark.redis
def test_rq_a_run_taken_over_from_a_dead_worker_replaces_its_rq_job_and_runs_once(rq):
    from rq.registry import StartedJobRegistry

    jobs.enqueue(deliver_mail, "killed@example.com", "s", "b", key="mail:dead-worker")
    db.session.commit()
    leave_as_dead_worker_would("mail:dead-worker")
    assert queued("default") == 0 and rq_job("mail:dead-worker").get_status() == "started"

    assert jobs.recover_stale_runs() == ["mail:dead-worker"]
    db.session.commit()
    assert queued("default") == 1  # Redis still said "started": replaced, not collapsed into
    started = StartedJobRegistry("default", connection=jobs.redis_connection())
    assert started.get_job_ids(cleanup=False) == []  # RQ's cleanup cannot fail the new one
    result = run_worker(rq, "default")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr.count("to=killed@example.com") == 1
    db.session.expire_all()
    run = db.session.get(JobRun, "mail:dead-worker")
    assert (run.status, run.attempts) == (JobStatus.FINISHED, 2)
    assert queued("default") == 0


@pytest.mark.redis
def test_rq_the_relay_sends_again_what_redis_lost_and_leaves_waiting_jobs_alone(rq):
    from rq import Queue
    from rq.job import JobStatus as RQStatus

    jobs.enqueue(deliver_mail, "waiting@example.com", "s", "b", key="mail:waiting")
    jobs.enqueue(deliver_mail, "lost@example.com", "s", "b", key="mail:lost")
    db.session.commit()
    assert queued("default") == 2
    assert jobs.relay_outbox() == []  # both reached Redis at commit: only marked as sent
    long_ago = utcnow() - timedelta(seconds=rq.config["JOB_REDISPATCH_SECONDS"] + 1)
    db.session.execute(
        update(JobRun)
        .where(JobRun.id.in_(["mail:waiting", "mail:lost"]))
        .values(dispatched_at=long_ago)
    )
    db.session.commit()
    # "waiting" is still in the RQ queue (workers are busy); "lost" is not: RQ failed it for good
    # (a dead worker's job, cleaned up) while the portal's run stayed queued.
    lost = rq_job("mail:lost")
    Queue("default", connection=jobs.redis_connection()).remove(lost)
    lost.set_status(RQStatus.FAILED)
    assert queued("default") == 1

    assert jobs.relay_outbox() == ["mail:lost"]
    assert queued("default") == 2
    assert jobs.relay_outbox() == []  # sent once, not on every pass
    assert queued("default") == 2
    result = run_worker(rq, "default")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr.count("to=lost@example.com") == 1
    assert result.stderr.count("to=waiting@example.com") == 1
    db.session.expire_all()
    assert [r.status for r in db.session.execute(select(JobRun)).scalars()] == ["finished"] * 2


def test_metrics_show_the_job_gauges_to_loopback_or_to_the_token_holder_only(app, client):
    jobs.enqueue(deliver_mail, "a@example.com", "s", "b", key="mail:metrics")
    db.session.commit()  # inline mode: recorded, and run at the next boundary
    text = client.get("/metrics").get_data(as_text=True)  # the test client is 127.0.0.1
    assert "# TYPE jobs_queued gauge" in text and "jobs_in_outbox" in text
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 404
    proxied = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status_code == 404
    app.config["METRICS_TOKEN"] = "scrape-secret"
    try:
        assert client.get("/metrics").status_code == 404  # with a token, loopback is not enough
        remote = {"REMOTE_ADDR": "203.0.113.9"}
        wrong = client.get("/metrics", environ_base=remote, headers={"Authorization": "Bearer x"})
        assert wrong.status_code == 404
        right = client.get(
            "/metrics", environ_base=remote, headers={"Authorization": "Bearer scrape-secret"}
        )
        assert right.status_code == 200 and "jobs_started" in right.get_data(as_text=True)
    finally:
        app.config["METRICS_TOKEN"] = None
