"""Replenishment runs as jobs: inline without Redis, and on real RQ workers against real Redis and
PostgreSQL, including a worker SIGKILLed mid-run and the run taken over: exactly one whole
suggested order per location and day, whatever happens to the workers."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.core import jobs as core_jobs
from portal.core.access import Actor
from portal.core.jobs import JobHeartbeat, JobRun, JobStatus
from portal.extensions import db
from portal.inventory import services as stock
from portal.network import services as network
from portal.network.models import Organization
from portal.replenishment import engine, jobs, queries, services
from portal.replenishment.jobs import business_today
from portal.replenishment.models import Suggestion, SuggestionLine
from portal.replenishment.services import RuleInput
from tests.support.policy import build_network
from tests.support.processes import descendants, stack_app
from tests.support.shop import HQ_STOCK, Shop

ROOT = Path(__file__).resolve().parents[2]


def rule(shop: Shop, short: str, sku: str, **fields) -> None:
    services.set_location_rule(
        shop.hq, shop.locations[short], shop.net.variants[sku], RuleInput(**fields)
    )


def suggestions_by_location(brand_id: int, day: date) -> dict[int, int]:
    """Suggestions per location for the day (a second one for a location would show as 2)."""
    rows = db.session.execute(
        select(Suggestion.location_id, func.count(Suggestion.id))
        .where(Suggestion.brand_id == brand_id, Suggestion.business_date == day)
        .group_by(Suggestion.location_id)
    ).all()
    return dict(rows)


def empty_suggestions(brand_id: int) -> int:
    """Suggestions without a line: what a run killed between header and lines would leave."""
    lines = (
        select(func.count(SuggestionLine.id))
        .where(SuggestionLine.suggestion_id == Suggestion.id)
        .scalar_subquery()
    )
    return db.session.execute(
        select(func.count(Suggestion.id)).where(Suggestion.brand_id == brand_id, lines == 0)
    ).scalar_one()


# -- inline (no Redis): the run happens in this process right after the commit -------------------


def test_a_failed_run_shows_hq_its_error_and_a_retry_finishes_it(shop, monkeypatch):
    rule(shop, "S1", "TEE-BLK-M", min_qty=0, max_qty=5)
    brand_id = shop.net.brand.id

    def unavailable(*args, **kwargs):
        raise RuntimeError("supplier stock feed unavailable")

    monkeypatch.setattr(engine, "propose", unavailable)
    run = jobs.request_run(brand_id, "brand", user_id=None, org_id=brand_id)
    core_jobs.commit()
    db.session.refresh(run)
    assert (run.status, run.attempts) == (JobStatus.FAILED, 1)
    assert "supplier stock feed unavailable" in run.error
    assert [r.id for r in queries.recent_runs(brand_id)] == [run.id]
    assert core_jobs.get_run(shop.hq, run.id) is run  # HQ's jobs page shows it
    assert suggestions_by_location(brand_id, business_today()) == {}

    monkeypatch.undo()
    assert core_jobs.retry(run) is run
    core_jobs.commit()
    db.session.refresh(run)
    assert (run.status, run.attempts, run.error) == (JobStatus.FINISHED, 2, None)
    assert run.result["suggestions"] == 1
    assert suggestions_by_location(brand_id, business_today()) == {shop.locations["S1"].id: 1}


def test_an_unknown_scope_is_refused_before_anything_is_recorded(shop):
    with pytest.raises(ValueError):
        jobs.request_run(shop.net.brand.id, "planet")


# -- real Redis, real RQ workers ------------------------------------------------------------------


@pytest.fixture(scope="module")
def rq_app(own_redis):
    with stack_app("portal_test_replenishment_jobs", own_redis.url, demo=False) as app:
        yield app


@pytest.fixture
def rq(rq_app):
    connection = core_jobs.redis_connection(rq_app.config["REDIS_URL"])
    connection.flushdb()
    with rq_app.app_context():
        yield rq_app
        db.session.rollback()
        db.session.remove()
    connection.flushdb()
    connection.close()


def build_shop(prefix: str) -> Shop:
    """tests.support.shop's network under its own prefix: each test here commits its data."""
    net = build_network(prefix)
    net.publish(f"{prefix}-BASE", price="all 50%")
    locations = {"HQ": stock.default_location(net.brand)}
    for short in ("A1", "S1", "A2"):
        locations[short] = stock.default_location(db.session.get(Organization, net.org_id(short)))
    shop = Shop(net=net, locations=locations)
    for sku, qty in HQ_STOCK.items():
        shop.receive("HQ", sku, qty)
    shop.receive("A1", "TEE-BLK-M", 20)
    db.session.commit()
    return shop


def worker_env(app, **config: int) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "PORTAL_ENV": "development",
        "PYTHONPATH": str(ROOT),
        **{name: str(value) for name, value in config.items()},
    }


WORKER = [sys.executable, "worker.py", "--burst", "--queues", core_jobs.QUEUE_REPLENISHMENT]


def run_worker(app) -> subprocess.CompletedProcess:
    return subprocess.run(
        WORKER,
        cwd=ROOT,
        env=worker_env(app),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def queued() -> int:
    from rq import Queue

    return Queue(core_jobs.QUEUE_REPLENISHMENT, connection=core_jobs.redis_connection()).count


@pytest.mark.redis
def test_rq_a_brand_run_writes_one_suggestion_per_location_once(rq):
    shop = build_shop("RA")
    rule(shop, "S1", "TEE-BLK-M", min_qty=0, max_qty=5)
    rule(shop, "A1", "TEE-BLK-L", min_qty=2, max_qty=10)
    rule(shop, "A2", "POLO-WHT-M", min_qty=1, max_qty=4)
    db.session.commit()
    brand_id, today = shop.net.brand.id, business_today()

    run = jobs.request_run(brand_id, "brand", business_date=today, org_id=brand_id)
    run_id = run.id
    assert queued() == 0  # nothing reaches Redis before the commit
    db.session.commit()
    assert queued() == 1
    result = run_worker(rq)
    assert result.returncode == 0, result.stderr[-3000:]

    db.session.expire_all()
    expected = {shop.locations[short].id: 1 for short in ("S1", "A1", "A2")}
    assert suggestions_by_location(brand_id, today) == expected
    run = db.session.get(JobRun, run_id)
    assert (run.status, run.attempts, run.progress) == (JobStatus.FINISHED, 1, 100)
    assert run.result["suggestions"] == 3 and run.result["already_there"] == 0
    assert run.result["units"] == 5 + 10 + 4
    assert isinstance(run.result["seconds"], float | int) and run.finished_at is not None

    # The same run asked for again is the finished run: nothing is queued.
    assert jobs.request_run(brand_id, "brand", business_date=today).id == run_id
    db.session.commit()
    assert queued() == 0
    # Another scope of the same day runs, and finds its locations done already.
    region = jobs.request_run(brand_id, "region", "north", business_date=today)
    region_id = region.id
    db.session.commit()
    result = run_worker(rq)
    assert result.returncode == 0, result.stderr[-3000:]
    db.session.expire_all()
    region = db.session.get(JobRun, region_id)
    assert region.status == JobStatus.FINISHED
    assert (region.result["suggestions"], region.result["already_there"]) == (0, 2)
    assert suggestions_by_location(brand_id, today) == expected


def kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # gone already
        os.kill(pid, signal.SIGKILL)


@pytest.mark.redis
def test_rq_a_worker_killed_mid_run_leaves_whole_suggestions_and_the_retry_finishes(rq, tmp_path):
    if not Path("/proc/self/stat").exists():
        pytest.skip("finding RQ's work horse needs /proc")
    shop = build_shop("RK")
    rule(shop, "S1", "TEE-BLK-M", min_qty=0, max_qty=5)
    rule(shop, "A1", "TEE-BLK-L", min_qty=2, max_qty=10)
    system = Actor.system()
    for n in range(2, 8):  # six more stores, each below its minimum of a SKU HQ holds
        link = network.add_org(
            system,
            brand_id=shop.net.brand.id,
            kind="store",
            code=f"RKS{n}",
            name=f"RK store {n}",
            level="A",
            region="west",
        )
        short = f"S{n}"
        shop.net.links[short] = link
        shop.locations[short] = stock.default_location(
            db.session.get(Organization, link.buyer_org_id)
        )
        rule(shop, short, "TEE-BLK-L", min_qty=1, max_qty=3)
    db.session.commit()
    brand_id, today = shop.net.brand.id, business_today()
    needing = {shop.locations[s].id for s in ("S1", "A1", *(f"S{n}" for n in range(2, 8)))}

    run = jobs.request_run(brand_id, "brand", business_date=today, org_id=brand_id)
    run_id = run.id
    db.session.commit()
    log = (tmp_path / "worker.log").open("w")
    # One location per batch, 1.5 s after each: time to kill the worker between locations.
    worker = subprocess.Popen(
        WORKER,
        cwd=ROOT,
        env=worker_env(rq, REPLENISHMENT_BATCH=1, REPLENISHMENT_PAUSE_MS=1500),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not suggestions_by_location(brand_id, today):
            db.session.rollback()
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the worker wrote nothing in 60 s"
            time.sleep(0.05)
        # RQ runs the job in a forked work horse in a process group of its own: kill the worker
        # first (so it cannot record the horse's death and retry), then the horse itself.
        forked = descendants(worker.pid)
        horses = [pid for pid in forked if os.getpgid(pid) == pid]
        assert len(horses) == 1, forked
        kill(worker.pid)
        for pid in forked:
            kill(pid)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            kill(worker.pid)
            worker.wait(timeout=10)
        log.close()

    db.session.rollback()
    written = suggestions_by_location(brand_id, today)
    assert 1 <= len(written) < len(needing) and set(written.values()) == {1}
    assert empty_suggestions(brand_id) == 0
    run = db.session.get(JobRun, run_id)
    assert (run.status, run.attempts) == (JobStatus.STARTED, 1)

    # Asked again while it might still be running, the run is left alone: one run at a time.
    assert jobs.request_run(brand_id, "brand", business_date=today) is run
    db.session.commit()
    assert queued() == 0 and core_jobs.recover_stale_runs() == []
    # Once its heartbeats have been silent long enough it is taken over: the periodic recovery
    # queues it again. (tests/core/test_scheduler.py waits for that with real processes.)
    silent_since = core_jobs.heartbeat_cutoff() - timedelta(seconds=1)
    run.started_at = silent_since
    db.session.get(JobHeartbeat, run_id).beat_at = silent_since
    db.session.commit()
    assert core_jobs.recover_stale_runs() == [run_id]
    db.session.commit()
    assert queued() == 1
    result = run_worker(rq)
    assert result.returncode == 0, result.stderr[-3000:]

    db.session.expire_all()
    assert suggestions_by_location(brand_id, today) == {location: 1 for location in needing}
    assert empty_suggestions(brand_id) == 0
    assert stock.check_ledger() == []
    run = db.session.get(JobRun, run_id)
    assert (run.status, run.attempts) == (JobStatus.FINISHED, 2)
    assert run.result["already_there"] == len(written)
    assert run.result["suggestions"] == len(needing) - len(written)
