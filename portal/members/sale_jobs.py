"""Private sales' periodic job (portal/schedule.py): a sale whose window has ended releases what
is left of its set-aside stock, once. Safe to run twice or beside itself: a sale is closed by a
conditional UPDATE before anything is released, so a second run finds it closed and passes."""

from __future__ import annotations

from portal.core import jobs
from portal.members import private_sales

BATCH = 100


@jobs.job(queue=jobs.QUEUE_DEFAULT, title="Close private sales that have ended")
def close_ended_sales() -> dict[str, int]:
    return {"closed": jobs.in_batches(lambda size: private_sales.close_ended(limit=size), BATCH)}
