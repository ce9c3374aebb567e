"""Hostile stock files: each fails its check job with the limit it breaks, shown to the uploader;
nothing is applied, nothing stays "validating", and no process dies, on the inline path and on a
real RQ worker."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.core import jobs
from portal.extensions import db
from portal.inventory import services, upload
from portal.inventory.models import Location, StockMove, StockUpload, UploadStatus
from tests.support import spreadsheets as hostile
from tests.support.processes import Process, portal_env, stack_app, wait_for
from tests.support.services import actor_for

ROWS: list[list[str | int]] = [["sku", "grade", "on_hand"], ["TEE-BLK-M", "A", 3]]
HEADER, ROW = "sku,grade,on_hand", "TEE-BLK-M,A,3"


@pytest.fixture(autouse=True)
def instance_dir(request, tmp_path, monkeypatch):
    """Uploaded files go to a per-test directory, never the real instance/."""
    if "app" in request.fixturenames:
        monkeypatch.setattr(request.getfixturevalue("app"), "instance_path", str(tmp_path))
    return tmp_path


def bearer(client, email: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", json={"email": email, "password": "demo1234"})
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def moves() -> int:
    return db.session.execute(select(func.count(StockMove.id))).scalar_one()


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        pytest.param(
            lambda: hostile.dimension_bomb(ROWS),
            "stock.xlsx",
            "The sheet declares 1,048,576 rows; at most 100,000 rows below the header are "
            "accepted (UPLOAD_MAX_ROWS).",
            id="dimension-bomb",
        ),
        pytest.param(
            lambda: hostile.zip_bomb(300),
            "stock.xlsx",
            "A part of the workbook (xl/worksheets/sheet1.xml) is compressed",
            id="zip-bomb",
        ),
        pytest.param(
            lambda: hostile.empty_lines_csv(HEADER, 3_000_000),
            "stock.csv",
            "The file has more than 100,000 rows below its header, the most accepted "
            "(UPLOAD_MAX_ROWS).",
            id="millions-of-empty-lines",
        ),
        pytest.param(
            lambda: hostile.empty_rows_xlsx(["sku", "on_hand"], 150_000),
            "stock.xlsx",
            "The sheet reaches row 100,002; at most 100,000 rows below the header are accepted "
            "(UPLOAD_MAX_ROWS).",
            id="empty-workbook-rows",
        ),
        pytest.param(
            lambda: hostile.long_cell_csv(HEADER, ROW),
            "stock.csv",
            "Row 3, column B: the cell holds 500,000 characters; at most 32,767 are accepted "
            "(UPLOAD_MAX_CELL_CHARS).",
            id="500000-character-cell",
        ),
        pytest.param(lambda: hostile.GARBAGE, "stock.xlsx", "not a valid XLSX file", id="garbage"),
    ],
)
def test_a_hostile_stock_file_fails_its_check_naming_the_limit(
    app, client, monkeypatch, data, name, message
):
    monkeypatch.setitem(app.config, "UPLOAD_MAX_ROWS", 100_000)  # millions of rows stay quick
    headers = bearer(client, "dist1@demo.test")
    before = moves()
    created = client.post(
        "/api/v1/stock/uploads",
        headers=headers,
        **hostile.multipart(name, data(), location="D1-WH"),
    )
    assert created.status_code == 202, created.get_json()
    upload_id = created.get_json()["id"]
    # The check ran in its job (inline here, right after the request's commit).
    shown = client.get(f"/api/v1/stock/uploads/{upload_id}", headers=headers).get_json()
    assert shown["status"] == "failed"
    assert message in shown["summary"]["failure"]
    confirm = client.post(f"/api/v1/stock/uploads/{upload_id}/confirm", headers=headers)
    assert confirm.status_code == 409
    assert moves() == before


def test_the_upload_page_shows_the_failure(app, login):
    client = login("dist1@demo.test")
    response = client.post(
        "/stock/D1-WH/uploads/new", **hostile.multipart("bomb.xlsx", hostile.dimension_bomb(ROWS))
    )
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-status="failed"' in page
    assert "The sheet declares 1,048,576 rows" in page


def test_an_error_inside_the_check_fails_the_upload_with_the_reason(app, client, monkeypatch):
    """Whatever breaks while a file is checked (here the parser itself), the upload ends failed
    with the reason and its job ends: it is not left "validating", nor run again and again."""

    def parser_breaks(*args, **kwargs):
        raise RuntimeError("calamine: unexpected end of stream")

    monkeypatch.setattr(upload, "read_table", parser_breaks)
    headers = bearer(client, "dist1@demo.test")
    created = client.post(
        "/api/v1/stock/uploads",
        headers=headers,
        **hostile.multipart("stock.xlsx", hostile.good_xlsx(ROWS), location="D1-WH"),
    ).get_json()
    shown = client.get(f"/api/v1/stock/uploads/{created['id']}", headers=headers).get_json()
    assert shown["status"] == "failed"
    assert shown["summary"]["failure"] == (
        "The file could not be checked: RuntimeError: calamine: unexpected end of stream"
    )
    run = db.session.get(jobs.JobRun, created["job_id"])
    assert run.is_done and run.attempts == 1


def test_an_upload_whose_check_keeps_killing_its_worker_ends_failed_not_validating(app):
    """A file that kills the worker checking it (out of memory, say) is taken over a few times;
    when the job gives up, the upload says failed with the reason instead of "validating"."""
    location = db.session.execute(select(Location).where(Location.code == "D1-WH")).scalar_one()
    started = services.start_stock_upload(
        actor_for("dist1@demo.test"), location, "s.xlsx", hostile.good_xlsx(ROWS)
    )
    db.session.flush()
    run = db.session.get(jobs.JobRun, started.job_id)
    silent_since = jobs.heartbeat_cutoff() - timedelta(seconds=1)
    run.status, run.started_at = jobs.JobStatus.STARTED, silent_since
    run.attempts = jobs.max_attempts(jobs.REGISTRY[run.name])
    db.session.add(jobs.JobHeartbeat(job_id=run.id, worker="gone", beat_at=silent_since))
    db.session.flush()
    jobs.recover_stale_runs()
    db.session.flush()
    db.session.refresh(started)
    assert (run.status, started.status) == ("failed", UploadStatus.FAILED)
    assert started.summary["failure"].startswith("The file could not be processed: The worker")


# -- a real RQ worker ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def worker_app(own_redis):
    with stack_app("portal_test_upload_worker", own_redis.url) as app:
        yield app


@pytest.mark.redis
@pytest.mark.postgres
def test_a_worker_survives_a_file_that_would_take_its_memory(worker_app, own_redis, tmp_path):
    """A cell at XFD1048576 makes calamine allocate 550 GB and abort its process. The worker's
    check refuses the file first: the upload ends failed with the reason, the worker lives on."""
    stored: Path | None = None
    with worker_app.app_context():
        jobs.redis_connection(own_redis.url).flushdb()
        env = portal_env(worker_app.config["SQLALCHEMY_DATABASE_URI"], own_redis.url)
        worker = Process(["--no-scheduler"], env, tmp_path / "worker.log")
        try:
            location = db.session.execute(
                select(Location).where(Location.code == "D1-WH")
            ).scalar_one()
            started = services.start_stock_upload(
                actor_for("dist1@demo.test"), location, "far.xlsx", hostile.far_cell_bomb(ROWS)
            )
            upload_id = started.id
            stored = Path(worker_app.instance_path) / started.stored_path
            db.session.commit()  # the job goes to Redis; the worker takes it

            def finished() -> StockUpload | None:
                db.session.expire_all()
                found = db.session.get(StockUpload, upload_id)
                return found if found.status != UploadStatus.VALIDATING else None

            done = wait_for(finished, timeout=60, what="the stock upload's check")
            assert done.status == UploadStatus.FAILED
            assert done.summary["failure"] == (
                "The sheet reaches row 1,048,576; at most 1,000,000 rows below the header are "
                "accepted (UPLOAD_MAX_ROWS)."
            )
            assert worker.alive(), worker.output()[-3000:]
            assert "memory allocation" not in worker.output()
        finally:
            worker.stop()
            if stored is not None:  # the worker reads instance/ itself: leave nothing there
                stored.unlink(missing_ok=True)
                with contextlib.suppress(OSError):  # only while empty
                    stored.parent.rmdir()
                    stored.parent.parent.rmdir()
            db.session.rollback()
            db.session.remove()
