"""5. Replenishment: a run for the whole network (every brand's HQ asks for its brand scope, all
at once) and a run for one store, through `POST /api/v1/replenishment/runs`, followed on
`/api/v1/jobs/<id>` until finished.

A run is keyed by brand, scope and business day, and a location keeps the one suggestion it got
that day: asked again the same day, a run is a no-op. So before timing, the harness deletes the
business day's suggestions (and their lines) and the day's replenishment job records from the
bench database with SQL, making each timed run the day's first. Suggestions that were
auto-submitted earlier the same day leave their orders in place.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bench.common import Context, headline, print_figures, wait_job, write_result

GOAL_NETWORK_S = 60.0
GOAL_STORE_S = 1.0
WORKERS = int(os.environ.get("BENCH_REPLENISHMENT_WORKERS", "2"))


def business_day() -> date:
    """Today in the portal's time zone (as portal/replenishment/jobs.py counts days)."""
    zone = ZoneInfo(os.environ.get("PORTAL_TIMEZONE", "Asia/Shanghai"))
    return datetime.now(UTC).astimezone(zone).date()


def clear_day(ctx: Context, day: date, *, location_org: str | None = None) -> int:
    """Forget the day's suggestions (of one org's locations, or all) and the day's runs."""
    with_org = "AND s.buyer_org_id = (SELECT id FROM organizations WHERE code = %(org)s)"
    where = f"s.business_date = %(day)s {with_org if location_org else ''}"
    params = {"day": day, "org": location_org}
    from bench.stack import connect

    with connect(ctx.url) as conn:
        conn.execute(
            f"DELETE FROM suggestion_lines WHERE suggestion_id IN"
            f" (SELECT s.id FROM suggestions s WHERE {where})",
            params,
        )
        gone = conn.execute(f"DELETE FROM suggestions s WHERE {where}", params).rowcount
        conn.execute(
            "DELETE FROM job_runs WHERE name LIKE %s AND id LIKE %s",
            ("%run_replenishment", f"replenishment:%:{day.isoformat()}"),
        )
        conn.commit()
    return gone


def _lines_written(ctx: Context, day: date, org: str | None = None) -> int:
    query = (
        "SELECT count(*) FROM suggestion_lines l JOIN suggestions s ON s.id = l.suggestion_id"
        " WHERE s.business_date = %s"
    )
    params: list[Any] = [day]
    if org:
        query += " AND s.buyer_org_id = (SELECT id FROM organizations WHERE code = %s)"
        params.append(org)
    return int(ctx.value(query, params))


def _hq_admins(ctx: Context) -> list[tuple[str, str]]:
    return ctx.rows(
        "SELECT DISTINCT ON (o.code) o.code, u.email FROM organizations o"
        " JOIN memberships m ON m.org_id = o.id JOIN users u ON u.id = m.user_id"
        " WHERE o.kind = 'brand' AND m.role = 'hq_admin' ORDER BY o.code, m.id"
    )


def _request(ctx: Context, token: str, body: dict[str, Any]) -> str:
    reply = ctx.api.post("/api/v1/replenishment/runs", body, token=token)
    if reply.status != 202:
        raise RuntimeError(f"replenishment run {body}: {reply.status} {reply.body!r:.300}")
    return reply.body["job_id"]


def run(ctx: Context) -> dict[str, Any]:
    day = business_day()
    brands = _hq_admins(ctx)
    tokens = {code: ctx.token(email, code) for code, email in brands}
    store = ctx.value(
        "SELECT o.code FROM organizations o JOIN channel_links l ON l.buyer_org_id = o.id"
        " JOIN organizations b ON b.id = l.brand_id"
        " WHERE o.kind = 'store' AND o.status = 'active' AND b.code = %s"
        " ORDER BY o.code LIMIT 1",
        (ctx.flagship,),
    )
    cleared = clear_day(ctx, day)
    workers = [
        ctx.stack.worker(ctx.url, "replenishment", f"worker-replenishment-{n}")
        for n in range(WORKERS)
    ]
    timeout = ctx.settings["job_timeout"]
    try:
        t0 = time.perf_counter()
        jobs = {code: _request(ctx, tokens[code], {"scope": "brand"}) for code, _ in brands}
        results = {}
        for code, job_id in jobs.items():
            job, _ = wait_job(ctx, job_id, tokens[code], timeout=timeout)
            results[code] = job
        network_s = time.perf_counter() - t0
        cleared_store = clear_day(ctx, day, location_org=store)
        token = tokens[ctx.flagship]
        t1 = time.perf_counter()
        job_id = _request(ctx, token, {"scope": "location", "code": store})
        store_job, _ = wait_job(ctx, job_id, token, timeout=timeout, interval=0.02)
        store_s = time.perf_counter() - t1
    finally:
        for process in workers:
            ctx.stack.stop(process)
    failed = [code for code, job in results.items() if job.get("status") != "finished"]
    totals = {"locations": 0, "suggestions": 0, "auto_submitted": 0, "units": 0}
    for job in results.values():
        for key in totals:
            totals[key] += int((job.get("result") or {}).get(key, 0))
    network_lines = _lines_written(ctx, day)
    store_result = store_job.get("result") or {}
    lines = [
        f"business day {day}; {cleared} suggestions of the day deleted first; "
        f"{WORKERS} replenishment workers",
        f"network ({len(brands)} brands): {network_s:.2f} s, {totals['locations']} locations, "
        f"{totals['suggestions']} suggestions, {network_lines} lines, "
        f"{totals['auto_submitted']} auto-submitted; failed: {failed or 'none'}",
        f"one store ({store}): {store_s:.3f} s (in the job {store_result.get('seconds')} s), "
        f"{store_result.get('locations')} location(s), {store_result.get('suggestions')} "
        f"suggestion(s), {_lines_written(ctx, day, store)} lines",
    ]
    figures = {
        "network_s": headline(
            round(network_s, 2), "s", f"<= {GOAL_NETWORK_S}", network_s <= GOAL_NETWORK_S
        ),
        "store_s": headline(round(store_s, 3), "s", f"<= {GOAL_STORE_S}", store_s <= GOAL_STORE_S),
        "network_locations": headline(totals["locations"], "locations"),
        "network_suggestion_lines": headline(network_lines, "lines"),
    }
    result = {
        "figures": figures,
        "business_day": day.isoformat(),
        "network": {
            "seconds": round(network_s, 3),
            "brands": len(brands),
            **totals,
            "suggestion_lines": network_lines,
            "failed_brands": failed,
            "per_brand": {code: job.get("result") for code, job in results.items()},
        },
        "store": {
            "org": store,
            "seconds": round(store_s, 3),
            "job_result": store_result,
            "suggestion_lines": _lines_written(ctx, day, store),
            "suggestions_deleted_first": cleared_store,
        },
        "setup": {"workers": WORKERS, "suggestions_deleted_first": cleared},
        "notes": [
            "Timed from the first POST /api/v1/replenishment/runs to the last job seen finished "
            "on /api/v1/jobs (polled every 0.1 s).",
            "Before timing, the business day's suggestions, their lines and the day's run "
            "records are deleted with SQL (a run is keyed per day: a second one would be a "
            "no-op). Orders auto-submitted by an earlier run of the day stay.",
            "The store run follows the network run after deleting that store's suggestion.",
        ],
    }
    print_figures("replenishment", lines)
    write_result(ctx, "replenishment", result)
    return result
