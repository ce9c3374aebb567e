"""The tasks' periodic job (portal/schedule.py, every five minutes): for every published task,
reach the guides who now match it, count its new results, and close the tasks whose window has
ended, writing their rewards to the commission ledger (portal/campaigns/tasks.py run_task).

One task per checkpoint: a run stopped half way keeps the tasks it finished, and its retry or
the next run goes on from what is there. Safe to run twice at once: each task is taken under its
row lock, results and rewards skip what is written, and a task is closed once."""

from __future__ import annotations

from typing import Any

from portal.campaigns import tasks
from portal.core import jobs
from portal.core.db import utcnow


@jobs.job(queue=jobs.QUEUE_DEFAULT, title="Count guides' task results and close ended tasks")
def count_task_results() -> dict[str, Any]:
    now = utcnow()
    task_ids = tasks.published_task_ids()
    totals = {"tasks": len(task_ids), "assigned": 0, "counted": 0, "closed": 0, "rewards": 0}
    for done, task_id in enumerate(task_ids, start=1):
        for key, value in tasks.run_task(task_id, now=now).items():
            totals[key] += value
        jobs.checkpoint()
        jobs.report_progress(done, len(task_ids), f"task {task_id}")
    return totals
