"""Redis goes away mid-run: the portal keeps serving, work asked for meanwhile waits in the
outbox, and once Redis is back every job is delivered and run exactly once, including one that
Redis held when it died (it keeps nothing on disk, as configured here and in production
deployments without persistence)."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from portal.core import jobs
from portal.core.jobs import JobRun, JobStatus
from portal.extensions import db
from portal.inventory.models import StockUpload
from portal.policy.models import Notification, PolicyVersion, VersionStatus
from tests.support import jobs as test_jobs
from tests.support.processes import Process, portal_env, stack_app, wait_for
from tests.support.services import org


@pytest.fixture(scope="module")
def outage_app(own_redis):
    with stack_app("portal_test_outage", own_redis.url) as app:
        yield app


def sign_in(client, email: str) -> None:
    client.post("/logout")
    response = client.post("/login", data={"email": email, "password": "demo1234"})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


@pytest.mark.redis
@pytest.mark.postgres
def test_work_asked_for_while_redis_is_down_runs_once_when_it_is_back(
    outage_app, own_redis, tmp_path
):
    app = outage_app
    env = portal_env(
        app.config["SQLALCHEMY_DATABASE_URI"],
        own_redis.url,
        SCHEDULER_TICK_SECONDS="0.2",
        JOB_REDISPATCH_SECONDS="2",
    )
    imports = ["--import", "tests.support.jobs"]
    # A worker with its scheduler, running through the whole outage; nobody takes `reports` yet.
    worker = Process(
        ["--queues", "default,push,replenishment", *imports], env, tmp_path / "worker.log"
    )
    reports = None
    try:
        with app.app_context():
            seeded = set(db.session.execute(select(JobRun.id)).scalars())  # the demo's own, done
            wait_for(
                lambda: "scheduler started" in worker.output(), timeout=60, what="the scheduler"
            )
            # Handed to Redis before it dies, never run: Redis loses it with everything else.
            jobs.enqueue(test_jobs.count_to, 3, key="count:before-outage")
            db.session.commit()
            db.session.expire_all()
            assert db.session.get(JobRun, "count:before-outage").dispatched_at is not None
            own_redis.stop()

            client = app.test_client()
            sign_in(client, "hq@demo.test")
            for page in ("/", "/catalog", "/orders", "/stock", "/replenishment"):
                assert client.get(page).status_code == 200, page
            assert "does not answer" in client.get("/jobs").get_data(as_text=True)
            token = client.post(
                "/api/v1/auth/token", json={"email": "dist1@demo.test", "password": "demo1234"}
            )
            assert token.status_code == 200, token.get_data(as_text=True)
            assert client.get("/readyz").status_code == 200  # degraded, still in the pool

            # A policy publish, a replenishment run and a stock upload, all needing a job.
            published = db.session.execute(
                select(PolicyVersion)
                .where(
                    PolicyVersion.brand_id == org("ACME").id,
                    PolicyVersion.status == VersionStatus.ACTIVE,
                )
                .order_by(PolicyVersion.id)
                .limit(1)
            ).scalar_one()
            revised = client.post(f"/policies/{published.id}/revise")
            assert revised.status_code == 302
            draft_id = int(revised.headers["Location"].rstrip("/").split("/")[-2])
            assert client.post(f"/policies/{draft_id}/publish").status_code == 302
            run = client.post("/replenishment/run", data={"scope": "region", "region": "north"})
            assert run.status_code == 302
            sign_in(client, "store1@demo.test")
            upload = client.post(
                "/stock/S1-SHELF/uploads/new",
                data={
                    "file": (io.BytesIO(b"sku,grade,on_hand\nACME-TEE-001-BLK-M,A,7\n"), "s.csv")
                },
                content_type="multipart/form-data",
            )
            assert upload.status_code == 302, upload.get_data(as_text=True)[:500]

            db.session.expire_all()
            waiting = list(
                db.session.execute(
                    select(JobRun)
                    .where(
                        JobRun.id.not_in([*seeded, "count:before-outage"]),
                        JobRun.id.not_like("periodic:%"),
                    )
                    .order_by(JobRun.id)
                ).scalars()
            )
            assert len(waiting) == 3
            waiting_ids = [r.id for r in waiting]
            assert all(r.status == JobStatus.QUEUED and r.dispatched_at is None for r in waiting)
            assert all(r.is_waiting_for_queue for r in waiting)
            upload_page = client.get(upload.headers["Location"]).get_data(as_text=True)
            assert "starts as soon as it is back" in upload_page

            wait_for(
                lambda: "jobs wait in the outbox" in worker.output(),
                timeout=30,
                what="the scheduler to notice the outage",
            )
            assert worker.alive()
            own_redis.start()  # the same port, empty
            reports = Process(
                ["--no-scheduler", "--queues", "reports", *imports], env, tmp_path / "reports.log"
            )

            def all_done() -> list[JobRun] | None:
                db.session.rollback()
                runs = list(db.session.execute(select(JobRun)).scalars())
                return runs if runs and all(r.is_done for r in runs) else None

            runs = wait_for(all_done, timeout=120, what="every job to run")
            worker.stop()
            log = worker.output()

            runs = [r for r in runs if r.id not in seeded]
            assert {(r.id, r.status, r.attempts) for r in runs} == {
                (r.id, JobStatus.FINISHED, 1) for r in runs
            }
            # The four asked for around the outage are among them (the scheduler's periodic slots,
            # and the nightly run they asked for, ran beside them).
            assert {"count:before-outage", *waiting_ids} <= {r.id for r in runs}
            assert "Redis answers again" in log
            lost = db.session.get(JobRun, "count:before-outage")
            assert lost.result == {"counted": 3}
            per_org = db.session.execute(
                select(Notification.org_id, func.count())
                .where(Notification.version_id == draft_id)
                .group_by(Notification.org_id)
            ).all()
            assert per_org and {count for _, count in per_org} == {1}
            stock_upload = db.session.execute(
                select(StockUpload).order_by(StockUpload.id.desc()).limit(1)
            ).scalar_one()
            assert stock_upload.status == "ready"
    finally:
        for process in (worker, reports):
            if process is not None and process.alive():
                process.stop()


@pytest.mark.redis
@pytest.mark.postgres
def test_a_worker_started_while_redis_is_down_waits_for_it_then_works(
    outage_app, own_redis, tmp_path
):
    app = outage_app
    own_redis.stop()
    env = portal_env(app.config["SQLALCHEMY_DATABASE_URI"], own_redis.url)
    worker = Process(["--import", "tests.support.jobs"], env, tmp_path / "worker.log")
    try:
        wait_for(
            lambda: "waiting for Redis" in worker.output(), timeout=60, what="the worker to wait"
        )
        assert worker.alive()
        own_redis.start()
        with app.app_context():
            jobs.enqueue(test_jobs.count_to, 2, key="count:after-start")
            db.session.commit()

            def finished() -> JobRun | None:
                db.session.rollback()
                run = db.session.get(JobRun, "count:after-start")
                return run if run.status == JobStatus.FINISHED else None

            done = wait_for(finished, timeout=60, what="the job\n" + worker.output()[-2000:])
            assert (done.attempts, done.result) == (1, {"counted": 2})
    finally:
        worker.stop()
