"""Run the portal's background work: `python worker.py [--queues push,default] [--burst]`.

By default this runs an RQ worker on every queue and, beside it, the scheduler (the periodic list
in portal/schedule.py and the outbox relay) as a child process. `--scheduler` runs the scheduler
alone, `--no-scheduler` the worker alone. Several of either, on several hosts, are safe: periodic
slots are keyed, and a job is claimed by one worker.

The app is built once per process and bound to the job runner; each job runs in its own app
context.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time

from portal import create_app
from portal.core import jobs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--queues", default=",".join(jobs.QUEUES), help="comma-separated, in priority order"
    )
    parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    parser.add_argument(
        "--scheduler", action="store_true", help="run only the scheduler, in this process"
    )
    parser.add_argument(
        "--no-scheduler", action="store_true", help="run only the worker (no periodic jobs here)"
    )
    parser.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--name", default=None)
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        help="extra module whose @job functions to register (plugins, test support)",
    )
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app()
    jobs.bind_app(app)
    for module in args.imports:
        importlib.import_module(module)

    if args.scheduler:
        # Without Redis the scheduler still runs the list: its jobs run inline, in this process.
        from portal.schedule import Scheduler

        Scheduler(app, parent_pid=args.parent_pid).run()
        return 0

    if not app.config.get("REDIS_URL"):
        parser.error("REDIS_URL is not set: without Redis, jobs run inline in the web process")
    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    unknown = set(queues) - set(jobs.QUEUES)
    if unknown:
        parser.error(f"unknown queues: {', '.join(sorted(unknown))}")
    scheduler = None
    if not args.burst and not args.no_scheduler:
        from portal.schedule import intervals

        try:
            intervals(app)  # a bad SCHEDULE_INTERVALS stops the worker here, not its child
        except ValueError as error:
            parser.error(str(error))
        command = [sys.executable, os.path.abspath(__file__), "--scheduler"]
        command += ["--parent-pid", str(os.getpid())]
        for module in args.imports:
            command += ["--import", module]
        scheduler = SchedulerChild(command)
        scheduler.start()
    try:
        run_workers(app.config["REDIS_URL"], queues, name=args.name, burst=args.burst)
    finally:
        if scheduler is not None:
            scheduler.stop()
    return 0


def run_workers(url: str, queues: list[str], *, name: str | None, burst: bool) -> None:
    """Run an RQ worker; when Redis goes away under it (RQ's worker quits on a Redis error while
    it watches a job), wait for Redis and start a new one, until asked to stop."""
    from redis import Redis
    from redis.exceptions import RedisError
    from rq import Worker

    log = logging.getLogger("portal.worker")
    restarts = 0
    while True:
        # A client of its own: RQ sets its socket timeout to fit its blocking dequeue.
        connection = Redis.from_url(url)
        worker_name = name if name is None or restarts == 0 else f"{name}-{restarts}"
        worker = None
        try:
            worker = Worker(queues, connection=connection, name=worker_name)  # asks Redis too
            # RQ's own scheduler hands delayed retries back to their queues.
            worker.work(burst=burst, with_scheduler=True)
        except RedisError as error:
            log.warning("the RQ worker stopped: Redis unavailable (%s)", error)
        # A SIGTERM or SIGINT asked RQ to stop (it records when; idle, it stops without
        # setting _stop_requested).
        if burst or (
            worker is not None
            and (worker._stop_requested or worker._shutdown_requested_date is not None)
        ):
            return
        stopping = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_, flag=stopping: flag.set())
        log.warning("waiting for Redis to start the RQ worker again")
        pause = 1.0
        while not stopping.is_set():
            try:
                Redis.from_url(url, socket_connect_timeout=2).ping()
                break
            except RedisError:
                stopping.wait(pause)
                pause = min(pause * 2, 10.0)
        if stopping.is_set():
            return
        restarts += 1


class SchedulerChild(threading.Thread):
    """Keeps the scheduler process beside this worker running: one that exits (a crash, the
    out-of-memory killer) is started again, waiting longer after each quick failure."""

    def __init__(self, command: list[str]) -> None:
        super().__init__(name="scheduler-child", daemon=True)
        self.command = command
        self.halt = threading.Event()
        self.process: subprocess.Popen | None = None
        self.log = logging.getLogger("portal.worker")

    def run(self) -> None:
        backoff = 1.0
        while not self.halt.is_set():
            began = time.monotonic()
            self.process = subprocess.Popen(self.command)
            code = self.process.wait()
            if self.halt.is_set():
                return
            backoff = 1.0 if time.monotonic() - began > 60 else min(backoff * 2, 60.0)
            self.log.error(
                "the scheduler exited with %s; starting it again in %.0f s", code, backoff
            )
            self.halt.wait(backoff)

    def stop(self) -> None:
        self.halt.set()
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        self.join(timeout=5)


if __name__ == "__main__":
    raise SystemExit(main())
