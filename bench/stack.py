"""The stack under test: bench databases (created and seeded once per preset), gunicorn serving
`wsgi:app`, RQ workers from `worker.py`, and the facts of the machine it all runs on."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESULTS = Path(os.environ.get("BENCH_RESULTS") or ROOT / "bench" / "results")
LOGS = RESULTS / "logs"

PG_BASE = "postgresql://postgres@127.0.0.1:5432"
# The small network of the price-resolution comparison lives beside the bench database, under the
# same name with this suffix.
SMALL_SUFFIX = "_300"

# gunicorn on 2 cores: four single-threaded gthread workers (processes, so the GIL is not shared;
# gthread rather than sync so the clients' keep-alive connections are honoured).
GUNICORN_WORKERS = int(os.environ.get("BENCH_GUNICORN_WORKERS", "4"))
GUNICORN_THREADS = int(os.environ.get("BENCH_GUNICORN_THREADS", "1"))


def _identifier(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def checkout_tag() -> str:
    """Names this checkout on the machine: its folder's name and a hash of its path. Stable from
    run to run (so `make bench` reuses its seeded database), different for another clone."""
    digest = hashlib.sha1(str(ROOT).encode()).hexdigest()[:8]
    return f"{_identifier(ROOT.name)[:20] or 'portal'}_{digest}"


def run_tag() -> str:
    """Names this run: its pid and a random part (two runs at once never share it)."""
    return f"{os.getpid()}_{secrets.token_hex(3)}"


def default_database_name(scale: str) -> str:
    """Full scale: one database per checkout, kept and reused (seeding takes minutes). Smoke: one
    per run (seeding takes seconds), dropped at the end of the run."""
    if scale == "full":
        return f"portal_bench_{checkout_tag()}"
    return f"portal_bench_smoke_{run_tag()}"


@dataclass
class Databases:
    """The bench databases of this run and whether the run drops them when it ends."""

    url: str
    small_url: str
    drop: bool


def databases(scale: str) -> Databases:
    """`BENCH_DATABASE_URL` if set, else the default name for the scale (on `BENCH_PG_URL`'s
    server). `BENCH_DROP_DATABASES=1|0` overrides whether they are dropped at the end: by default
    only a per-run (smoke) name is."""
    explicit = os.environ.get("BENCH_DATABASE_URL")
    if explicit:
        url = explicit
    else:
        server = os.environ.get("BENCH_PG_URL") or PG_BASE
        url = sibling_url(server, default_database_name(scale))
    flag = os.environ.get("BENCH_DROP_DATABASES", "")
    drop = flag == "1" if flag in ("0", "1") else (not explicit and scale != "full")
    return Databases(url, sibling_url(url, db_name(url) + SMALL_SUFFIX), drop)


_own_redis_url: str | None = None


def redis_url() -> str:
    """`BENCH_REDIS_URL`, else the redis-server this run started for itself (`own_redis`)."""
    url = os.environ.get("BENCH_REDIS_URL") or _own_redis_url
    if not url:
        raise RuntimeError("no Redis for the bench: set BENCH_REDIS_URL or start its own")
    return url


def sibling_url(url: str, name: str) -> str:
    """The same server, another database."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


def db_name(url: str) -> str:
    return urllib.parse.urlsplit(url).path.lstrip("/")


def connect(url: str, **kw: Any) -> psycopg.Connection:
    return psycopg.connect(url, **kw)


def portal_env(url: str, **extra: str) -> dict[str, str]:
    """Environment for every portal process of the bench (flask CLI, gunicorn, workers)."""
    env = dict(os.environ)
    env.update(
        PORTAL_ENV="development",
        DATABASE_URL=url,
        REDIS_URL=redis_url(),
        FLASK_APP="wsgi.py",
        # A 600,000-row catalog CSV is ~57 MB (README: raise the limit to accept one).
        MAX_CONTENT_LENGTH=str(256 * 1024 * 1024),
        MAIL_BACKEND="log",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def flask(url: str, *args: str, log: Path | None = None, check: bool = True) -> int:
    """Run `flask <args>` against a bench database; its output goes to `log` (or ours)."""
    cmd = [str(BIN / "flask"), *args]
    out = open(log, "a") if log else None  # noqa: SIM115 - closed below
    try:
        result = subprocess.run(
            cmd, cwd=ROOT, env=portal_env(url), stdout=out, stderr=subprocess.STDOUT
        )
    finally:
        if out:
            out.close()
    if check and result.returncode != 0:
        raise RuntimeError(f"`flask {' '.join(args)}` exited {result.returncode} (log: {log})")
    return result.returncode


# -- databases -----------------------------------------------------------------------------------


def ensure_database(url: str) -> None:
    name = db_name(url)
    with connect(sibling_url(url, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> bool:
    """Drop a bench database (closing any session still on it); False if there was none."""
    name = db_name(url)
    with connect(sibling_url(url, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    return bool(exists)


def seeded_stores(url: str) -> int | None:
    """Stores of a database seeded by `flask seed scale` (brand B01 present), else None."""
    try:
        with connect(url) as conn:
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE kind = 'store'),"
                " count(*) FILTER (WHERE code = 'B01' AND kind = 'brand')"
                " FROM organizations"
            ).fetchone()
    except (psycopg.errors.UndefinedTable, psycopg.OperationalError):
        return None  # no such database yet, or not migrated
    stores, flagship = row
    return stores if flagship else None


def prepare_database(url: str, seed_args: list[str], *, expect_stores: int | None) -> str:
    """Create, migrate and seed a bench database unless it already holds that preset.

    Returns what was done, for the summary. Seeding at full scale takes minutes, so a database
    that already has brand B01 and the expected number of stores is used as it is.
    """
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"prepare-{db_name(url)}.log"
    ensure_database(url)
    stores = seeded_stores(url)
    if stores and (expect_stores is None or stores == expect_stores):
        flask(url, "db", "upgrade", log=log)
        return f"already seeded ({stores} stores)"
    print(f"  seeding {db_name(url)}: flask seed scale {' '.join(seed_args)} (log: {log})")
    started = time.monotonic()
    flask(url, "db", "upgrade", log=log)
    flask(url, "seed", "scale", *seed_args, log=log)
    return f"seeded in {time.monotonic() - started:.0f} s"


def ledger_check(url: str, log: Path) -> bool:
    """`flask inventory check`: every level equals its ledger sums, none over-reserved."""
    return flask(url, "inventory", "check", log=log, check=False) == 0


# -- processes -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to the whole process group, then SIGKILL if it lingers."""
        if self.popen.poll() is not None:
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)


def _spawn(name: str, cmd: list[str], env: dict[str, str]) -> Process:
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{name}.log"
    out = open(log, "w")  # noqa: SIM115 - the child owns it
    popen = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    out.close()
    return Process(name, popen, log)


@dataclass
class Stack:
    """Everything the bench started; `close()` stops all of it."""

    processes: list[Process] = field(default_factory=list)

    def gunicorn(self, url: str, name: str = "gunicorn") -> str:
        port = free_port()
        cmd = [
            str(BIN / "gunicorn"),
            "wsgi:app",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(GUNICORN_WORKERS),
            "--threads",
            str(GUNICORN_THREADS),
            "--worker-class",
            "gthread",
            "--access-logfile",
            str(LOGS / f"{name}-access.log"),
            "--timeout",
            "300",
        ]
        process = _spawn(name, cmd, portal_env(url))
        self.processes.append(process)
        base = f"http://127.0.0.1:{port}"
        _wait_ready(base, process)
        return base

    def worker(self, url: str, queues: str, name: str) -> Process:
        cmd = [
            str(BIN / "python"),
            "worker.py",
            "--queues",
            queues,
            "--no-scheduler",  # benchmarks measure their own work, not the periodic list
            "--name",
            f"{name}-{os.getpid()}",
        ]
        process = _spawn(name, cmd, portal_env(url))
        self.processes.append(process)
        _wait_worker(f"{name}-{os.getpid()}", process)
        return process

    def own_redis(self) -> str:
        """A redis-server of this run's own on a free port, nothing kept on disk: no other run
        (another clone, `make test`) shares its queues, and flushing it touches nothing else.
        `redis_url()` answers it from now on."""
        global _own_redis_url
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not on the path: install it or set BENCH_REDIS_URL")
        port = free_port()
        LOGS.mkdir(parents=True, exist_ok=True)
        cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        cmd += ["--appendonly", "no", "--dir", str(LOGS)]
        process = _spawn("redis-server", cmd, dict(os.environ))
        self.processes.append(process)
        _own_redis_url = f"redis://127.0.0.1:{port}/0"
        _wait_redis(_own_redis_url, process)
        return _own_redis_url

    def stop(self, process: Process) -> None:
        process.stop()
        if process in self.processes:
            self.processes.remove(process)

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()


def _wait_ready(base: str, process: Process, timeout: float = 60.0) -> None:
    import http.client

    parts = urllib.parse.urlsplit(base)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited (log: {process.log})")
        try:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
            conn.request("GET", "/readyz")
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{process.name} not ready after {timeout:.0f} s (log: {process.log})")


def _wait_redis(url: str, process: Process, timeout: float = 10.0) -> None:
    from redis import Redis
    from redis.exceptions import RedisError

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited (log: {process.log})")
        try:
            if Redis.from_url(url, socket_connect_timeout=0.5).ping():
                return
        except RedisError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{process.name} not answering after {timeout:.0f} s (log: {process.log})")


def _wait_worker(worker_name: str, process: Process, timeout: float = 60.0) -> None:
    """Until the worker has registered with Redis (it has built the app and listens)."""
    from redis import Redis

    redis = Redis.from_url(redis_url())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited (log: {process.log})")
        if redis.exists(f"rq:worker:{worker_name}"):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{process.name} not registered after {timeout:.0f} s")


def flush_redis() -> None:
    from redis import Redis

    Redis.from_url(redis_url()).flushdb()


# -- facts ---------------------------------------------------------------------------------------


def machine_facts(url: str) -> dict[str, Any]:
    with connect(url) as conn:
        pg_version = conn.execute("SHOW server_version").fetchone()[0]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=ROOT,
                capture_output=True,
                text=True,
            ).stdout.strip()
        )
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = "unknown", False
    mem_kib = 0
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem_kib = int(line.split()[1])
    except OSError:
        pass
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "postgresql": pg_version,
        "python": platform.python_version(),
        "os": platform.platform(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "uncommitted_changes": dirty,
        "gunicorn": f"{GUNICORN_WORKERS} gthread workers x {GUNICORN_THREADS} thread(s)",
        "client": "Python http.client, one keep-alive connection per thread, on the same "
        "machine: the client shares the cores with gunicorn, PostgreSQL, Redis and the workers",
    }
