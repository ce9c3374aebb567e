"""Replenishment jobs on the `replenishment` queue. A run has a key (brand, scope, code, business
day): enqueueing it again collapses into the same run, and running it again (a retry, or a
takeover after its worker was killed) skips every location that already has its suggestion for
the day. Each location's suggestion is committed on its own, whole."""

from __future__ import annotations

import time
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from portal.core import jobs
from portal.core.db import utcnow
from portal.extensions import db
from portal.network.models import Organization
from portal.replenishment import engine, services

SCOPES = ("location", "region", "brand")


def business_today() -> date:
    """Today in the portal's time zone: one business day is one local day, whatever UTC says."""
    return utcnow().astimezone(ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])).date()


def run_key(brand_id: int, scope: str, code: str, business_date: date) -> str:
    return f"replenishment:{brand_id}:{scope}:{code or '-'}:{business_date.isoformat()}"


def _locations(brand_id: int, scope: str, code: str) -> list[int]:
    if scope == "brand":
        return engine.scope_locations(brand_id)
    if scope == "region":
        return engine.scope_locations(brand_id, region=code)
    org_id = db.session.execute(
        select(Organization.id).where(Organization.code == code)
    ).scalar_one_or_none()
    return engine.scope_locations(brand_id, org_ids=[org_id] if org_id else [])


@jobs.job(queue=jobs.QUEUE_REPLENISHMENT, title="Replenishment run")
def run_replenishment(brand_id: int, scope: str, code: str, business_day: str) -> dict[str, Any]:
    started = time.monotonic()
    business_date = date.fromisoformat(business_day)
    run_id = run_key(brand_id, scope, code, business_date)
    location_ids = _locations(brand_id, scope, code)
    auto = services.auto_submit_locations(brand_id, location_ids)
    batch_size = max(1, current_app.config["REPLENISHMENT_BATCH"])
    pause = current_app.config["REPLENISHMENT_PAUSE_MS"] / 1000
    supply = engine.Supply()
    written = skipped = submitted = units = 0
    done = 0
    # A batch's variants, links and locations are read-only here. Expiring them at each
    # location's commit made the next location reload them one row at a time: nine tenths of a
    # run at scale (bench/). Rows that must be current are re-read under their locks.
    session = db.session()
    session.expire_on_commit = False
    try:
        for start in range(0, len(location_ids), batch_size):
            batch = location_ids[start : start + batch_size]
            proposals = engine.propose(brand_id, batch, supply=supply, business_date=business_date)
            for proposal in proposals:
                suggestion = services.write_suggestion(
                    proposal, brand_id=brand_id, business_date=business_date, run_id=run_id
                )
                if suggestion is None:
                    skipped += 1
                else:
                    written += 1
                    units += sum(line.qty for line in proposal.lines)
                    if proposal.location.id in auto:
                        services.auto_submit(suggestion)
                        submitted += suggestion.status == "submitted"
                jobs.checkpoint()  # one location at a time: a killed run leaves whole ones
                if pause:
                    time.sleep(pause)
            done += len(batch)
            jobs.report_progress(
                done, len(location_ids), f"{done} of {len(location_ids)} locations"
            )
            # Off a PostgreSQL worker the progress is written in this session: show it now.
            jobs.checkpoint()
    finally:
        session.expire_on_commit = True
    return {
        "locations": len(location_ids),
        "suggestions": written,
        "already_there": skipped,
        "auto_submitted": submitted,
        "units": units,
        "seconds": round(time.monotonic() - started, 2),
    }


def request_run(
    brand_id: int,
    scope: str,
    code: str = "",
    *,
    business_date: date | None = None,
    user_id: int | None = None,
    org_id: int | None = None,
):
    """Enqueue (after commit) the run of a scope for a business day; the same run asked for
    twice is one run."""
    if scope not in SCOPES:
        raise ValueError(scope)
    business_date = business_date or business_today()
    return jobs.enqueue(
        run_replenishment,
        brand_id,
        scope,
        code,
        business_date.isoformat(),
        key=run_key(brand_id, scope, code, business_date),
        brand_id=brand_id,
        org_id=org_id,
        user_id=user_id,
        title=f"Replenishment: {scope} {code}".strip(),
    )


@jobs.job(queue=jobs.QUEUE_REPLENISHMENT, title="Nightly replenishment")
def nightly_replenishment() -> dict[str, int]:
    """Every brand's whole network, for today (periodic)."""
    brands = list(
        db.session.execute(select(Organization.id).where(Organization.kind == "brand")).scalars()
    )
    for brand_id in brands:
        request_run(brand_id, "brand")
    return {"brands": len(brands)}
