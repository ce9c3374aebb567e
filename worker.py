"""Run RQ workers for the portal: `python worker.py [--queues push,default] [--burst]`.

The app is built once here and bound to the job runner; each job runs in its own app context.
The scheduler (delayed retries) runs inside the worker; periodic jobs come from portal.schedule.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import threading

from portal import create_app
from portal.core import jobs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--queues", default=",".join(jobs.QUEUES), help="comma-separated, in priority order"
    )
    parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    parser.add_argument(
        "--no-periodic", action="store_true", help="do not run the periodic job list"
    )
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
    if not app.config.get("REDIS_URL"):
        parser.error("REDIS_URL is not set: without Redis, jobs run inline in the web process")
    jobs.bind_app(app)
    for module in args.imports:
        importlib.import_module(module)

    from rq import Worker

    connection = jobs.redis_connection(app.config["REDIS_URL"])
    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    unknown = set(queues) - set(jobs.QUEUES)
    if unknown:
        parser.error(f"unknown queues: {', '.join(sorted(unknown))}")
    if not args.burst and not args.no_periodic:
        from portal.schedule import start_periodic

        threading.Thread(target=start_periodic, args=(app,), daemon=True).start()
    worker = Worker(queues, connection=connection, name=args.name)
    worker.work(burst=args.burst, with_scheduler=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
