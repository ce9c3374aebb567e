"""Job functions used by the job tests; real workers load them with `--import`."""

from __future__ import annotations

from portal.core import jobs

GAVE_UP: list[tuple[str, str]] = []  # (argument, reason) per give-up, in this process


def _record_give_up(reason_arg: str, *, reason: str) -> None:
    GAVE_UP.append((reason_arg, reason))


@jobs.job(queue=jobs.QUEUE_DEFAULT, retries=0, title="Always fails", on_give_up=_record_give_up)
def always_fails(reason: str) -> None:
    raise RuntimeError(reason)


@jobs.job(queue=jobs.QUEUE_REPORTS, title="Count")
def count_to(n: int) -> dict[str, int]:
    for i in range(1, n + 1):
        jobs.report_progress(i, n, f"{i} of {n}")
    return {"counted": n}


@jobs.job(queue=jobs.QUEUE_REPORTS, title="Slow tally")
def slow_tally(name: str, steps: int, pause_ms: int) -> dict[str, int]:
    """Takes `steps` pauses, then counts one completion in Redis: a killed attempt counts none."""
    import time

    from flask import current_app

    for step in range(1, steps + 1):
        time.sleep(pause_ms / 1000)
        jobs.report_progress(step, steps, f"{step} of {steps}")
    completions = jobs.redis_connection(current_app.config["REDIS_URL"]).incr(f"tally:{name}")
    return {"completions": int(completions)}
