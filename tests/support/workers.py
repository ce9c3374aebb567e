"""Run queued jobs through a real RQ worker (`python worker.py --burst`), as production does:
the worker is another process, so it sees only the rows the test has committed."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

from flask import Flask

from portal.core import jobs
from tests.support.processes import ROOT, portal_env


def run_burst_worker(app: Flask, *queues: str, **settings: object) -> subprocess.CompletedProcess:
    """One burst worker on `app`'s database and Redis over `queues` (the default queue when none
    are named) until they are empty; `settings` are extra environment settings for it."""
    env = portal_env(app.config["SQLALCHEMY_DATABASE_URI"], app.config["REDIS_URL"], **settings)
    return subprocess.run(
        [sys.executable, "worker.py", "--burst", "--queues", *(queues or [jobs.QUEUE_DEFAULT])],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@contextlib.contextmanager
def empty_redis(app: Flask) -> Iterator[None]:
    """`app`'s Redis emptied before and after the block, so no queued job outlives its test."""
    connection = jobs.redis_connection(app.config["REDIS_URL"])
    connection.flushdb()
    try:
        yield
    finally:
        connection.flushdb()
        connection.close()
