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
import subprocess
import sys

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
    from redis import Redis
    from rq import Worker

    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    unknown = set(queues) - set(jobs.QUEUES)
    if unknown:
        parser.error(f"unknown queues: {', '.join(sorted(unknown))}")
    scheduler = None
    if not args.burst and not args.no_scheduler:
        command = [sys.executable, os.path.abspath(__file__), "--scheduler"]
        command += ["--parent-pid", str(os.getpid())]
        for module in args.imports:
            command += ["--import", module]
        scheduler = subprocess.Popen(command)
    try:
        # A client of its own: RQ sets its socket timeout to fit its blocking dequeue.
        connection = Redis.from_url(app.config["REDIS_URL"])
        worker = Worker(queues, connection=connection, name=args.name)
        # RQ's own scheduler hands delayed retries back to their queues.
        worker.work(burst=args.burst, with_scheduler=True)
    finally:
        if scheduler is not None:
            scheduler.terminate()
            try:
                scheduler.wait(timeout=10)
            except subprocess.TimeoutExpired:
                scheduler.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
