"""Job functions used by the job tests; real workers load them with `--import`."""

from __future__ import annotations

from portal.core import jobs


@jobs.job(queue=jobs.QUEUE_DEFAULT, retries=0, title="Always fails")
def always_fails(reason: str) -> None:
    raise RuntimeError(reason)


@jobs.job(queue=jobs.QUEUE_REPORTS, title="Count")
def count_to(n: int) -> dict[str, int]:
    for i in range(1, n + 1):
        jobs.report_progress(i, n, f"{i} of {n}")
    return {"counted": n}
