"""Start the processes an operator starts (`python worker.py`, its scheduler), read their logs,
and kill them the hard way, for tests of what production runs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def portal_env(database_url: str, redis_url: str | None, **settings: object) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PORTAL_ENV": "development",
        "PYTHONPATH": str(ROOT),
        **{name: str(value) for name, value in settings.items()},
    }
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


class Process:
    """One `python worker.py ...` with its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("w")
        self.popen = subprocess.Popen(
            [sys.executable, "worker.py", *args],
            cwd=ROOT,
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        if not self._out.closed:
            self._out.flush()
        return self.log.read_text()

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM, as a process manager stops it, then wait; a process that does not stop in
        time is killed with what it started (and the test told so)."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill_with_children()
            message = f"{self.popen.args} did not stop on SIGTERM in {timeout:.0f} s"
            raise AssertionError(message) from None
        finally:
            if not self._out.closed:
                self._out.close()

    def kill_with_children(self) -> None:
        """SIGKILL the process and everything it forked: a lost machine."""
        family = [self.pid, *descendants(self.pid)]
        for pid in family:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.popen.wait(timeout=10)
        if not self._out.closed:
            self._out.close()


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (RQ's work horse, RQ's scheduler, our scheduler)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, p in parents.items() if p == parent]
        found += children
        frontier += children
    return found


def wait_for(condition: Callable[[], object], *, timeout: float, what: str, poll: float = 0.1):
    """Poll until `condition()` is truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what}")
        time.sleep(poll)


@contextlib.contextmanager
def stack_app(name: str, redis_url: str, *, demo: bool = True):
    """An app on a fresh PostgreSQL database (the demo network seeded unless `demo=False`) and
    the given Redis, for tests whose workers are real processes: they see only committed rows."""
    from portal import create_app
    from portal.extensions import db
    from tests.conftest import PortalClient, need
    from tests.support.services import fresh_postgres_database

    need("postgresql")
    url = fresh_postgres_database(name)
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, REDIS_URL=redis_url)
    app.test_client_class = PortalClient
    with app.app_context():
        db.create_all()
        if demo:
            from portal.seed.demo import seed_demo

            seed_demo()
        db.session.commit()
    try:
        yield app
    finally:
        with app.app_context():
            db.engine.dispose()
