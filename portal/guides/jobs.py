"""The guides' periodic jobs (portal/schedule.py runs them): month-end commission settlement.

`settle_commissions` settles last month (UTC) for every brand with entries due, one brand per
checkpoint; it is safe to run every day and twice at once: a period is settled once per brand
(portal/guides/settlement.py) and the first run of a month is the one that makes anything."""

from __future__ import annotations

from typing import Any

from portal.core import jobs
from portal.core.db import utcnow
from portal.guides import settlement


@jobs.job(queue=jobs.QUEUE_DEFAULT, title="Settle guides' commission of the month")
def settle_commissions(brand_id: int | None = None, period: str | None = None) -> dict[str, Any]:
    period = period or settlement.previous_period(utcnow())
    brand_ids = [brand_id] if brand_id is not None else settlement.brands_due(period)
    made: list[settlement.SettlementRun] = []
    for done, brand in enumerate(brand_ids, start=1):
        run = settlement.settle_month(brand, period)
        if run.made:
            made.append(run)
        jobs.checkpoint()
        jobs.report_progress(done, len(brand_ids), f"{period}: brand {brand}")
    return {
        "period": period,
        "brands": len(brand_ids),
        "guide_statements": sum(r.guide_statements for r in made),
        "store_statements": sum(r.store_statements for r in made),
        "entries": sum(r.entries for r in made),
        "amount_cents": sum(r.amount_cents for r in made),
    }
