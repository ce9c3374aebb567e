"""The tasks' periodic job (portal/schedule.py, every five minutes). (being written)"""

from __future__ import annotations

from typing import Any

from portal.core import jobs


@jobs.job(queue=jobs.QUEUE_DEFAULT, title="Count guides' task results and close ended tasks")
def count_task_results() -> dict[str, Any]:
    return {}
