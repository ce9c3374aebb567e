"""11. Commission settlement: the month-end job's work for one brand
(`portal.guides.settlement.settle_month`) over 3,000 stores x 10 guides and 1,000,000 matured
commission entries, timed in a process of its own (`python -m bench.commission_settlement`
prints the figures as JSON; no HTTP, no worker).

It uses a database of its own (`<bench database>_commission`, or BENCH_COMMISSION_DATABASE_URL),
made afresh each run with the models' tables (`create_all`) and seeded set-based: one brand,
3,000 stores, ten people who are each a guide in every store (30,000 guides), and 1,000,000
entries spread evenly over the guides and over the month (earnings, with every tenth a
reversal), each matured before the month's end. Timed: `settle_month` from the call to its
commit; then a second run of the same month (which must make nothing) is timed too. The
database is dropped at the end unless BENCH_DROP_DATABASES=0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from bench import stack
from bench.common import Context, headline, print_figures, write_result

GOAL_S = 60.0
STORES = int(os.environ.get("BENCH_COMMISSION_STORES", "3000"))
GUIDES_PER_STORE = 10
ENTRIES = int(os.environ.get("BENCH_COMMISSION_ENTRIES", "1000000"))
PERIOD = "2025-03"


def seed() -> int:
    """The brand, its stores, people and guides, and the entries; returns the brand's id."""
    from sqlalchemy import text

    from portal.extensions import db

    run = db.session.execute
    now = "TIMESTAMPTZ '2025-04-02 00:00:00+00'"
    brand_id = run(
        text(
            "INSERT INTO organizations (kind, code, name, region, address, currency, status,"
            f" created_at, updated_at) VALUES ('brand', 'CB', 'Commission bench', '', '', 'CNY',"
            f" 'active', {now}, {now}) RETURNING id"
        )
    ).scalar_one()
    run(
        text(
            "INSERT INTO organizations (kind, code, name, region, address, currency, status,"
            " created_at, updated_at)"
            " SELECT 'store', 'CBS' || lpad(n::text, 5, '0'), 'Store ' || n, '', '', 'CNY',"
            f" 'active', {now}, {now} FROM generate_series(1, :stores) AS n"
        ),
        {"stores": STORES},
    )
    run(
        text(
            "INSERT INTO users (email, name, password_hash, is_disabled, created_at, updated_at)"
            f" SELECT 'guide' || n || '@bench.test', 'Guide ' || n, '!', false, {now}, {now}"
            " FROM generate_series(1, :people) AS n"
        ),
        {"people": GUIDES_PER_STORE},
    )
    run(
        text(
            "INSERT INTO guides"
            " (brand_id, org_id, user_id, code, status, kind, created_at, updated_at)"
            " SELECT :brand, o.id, u.id, 'G' || o.id || 'U' || u.id, 'active', 'guide',"
            f" {now}, {now}"
            f" FROM organizations o CROSS JOIN users u"
            f" WHERE o.code LIKE 'CBS%' AND u.email LIKE '%@bench.test'"
        ),
        {"brand": brand_id},
    )
    # Entry n goes to guide n mod G; it matures within March (the month settled); every tenth
    # is a reversal of a tenth of an earning.
    run(
        text(
            "WITH g AS (SELECT id, org_id, row_number() OVER (ORDER BY id) - 1 AS k FROM guides"
            "  WHERE brand_id = :brand), c AS (SELECT count(*) AS n FROM g)"
            " INSERT INTO commission_entries (brand_id, guide_id, org_id, kind, amount_cents,"
            "  currency, reference, basis_cents, matures_at, note, created_at)"
            " SELECT :brand, g.id, g.org_id,"
            "  CASE WHEN s.n % 10 = 0 THEN 'reverse' ELSE 'earn' END,"
            "  CASE WHEN s.n % 10 = 0 THEN -(50 + s.n % 500) ELSE 500 + s.n % 5000 END,"
            "  'CNY', 'B' || s.n, 0,"
            "  TIMESTAMPTZ '2025-03-01 00:00:00+00' + (s.n % 2592000) * INTERVAL '1 second',"
            "  '', TIMESTAMPTZ '2025-02-20 00:00:00+00'"
            " FROM generate_series(1, :entries) AS s(n) CROSS JOIN c"
            " JOIN g ON g.k = s.n % c.n"
        ),
        {"brand": brand_id, "entries": ENTRIES},
    )
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    db.session.commit()
    return brand_id


def probe(url: str) -> dict[str, Any]:
    from datetime import UTC, datetime

    from sqlalchemy import func, select

    from portal import create_app
    from portal.extensions import db
    from portal.guides import settlement
    from portal.guides.models import CommissionEntry, CommissionStatement, Guide

    app = create_app(SQLALCHEMY_DATABASE_URI=url, REDIS_URL=None)
    with app.app_context():
        db.create_all()
        started = time.perf_counter()
        brand_id = seed()
        seeded_s = round(time.perf_counter() - started, 1)
        guides = db.session.execute(select(func.count(Guide.id))).scalar_one()
        entries = db.session.execute(select(func.count(CommissionEntry.id))).scalar_one()
        db.session.rollback()
        now = datetime(2025, 4, 1, 2, tzinfo=UTC)

        def timed() -> tuple[float, settlement.SettlementRun]:
            began = time.perf_counter()
            made = settlement.settle_month(brand_id, PERIOD, now=now)
            db.session.commit()
            return round(time.perf_counter() - began, 2), made

        first_s, first = timed()
        second_s, second = timed()
        store_sum = db.session.execute(
            select(func.sum(CommissionStatement.amount_cents)).where(
                CommissionStatement.party == "store"
            )
        ).scalar_one()
        ledger_sum = db.session.execute(select(func.sum(CommissionEntry.amount_cents))).scalar_one()
        db.session.remove()
        db.engine.dispose()
    return {
        "stores": STORES,
        "guides": guides,
        "entries": entries,
        "seed_seconds": seeded_s,
        "settle_seconds": first_s,
        "rerun_seconds": second_s,
        "first": first.as_dict(),
        "second": second.as_dict(),
        "stores_sum_to_ledger": int(store_sum or 0) == int(ledger_sum or 0),
    }


def database_url() -> str:
    explicit = os.environ.get("BENCH_COMMISSION_DATABASE_URL")
    if explicit:
        return explicit
    base = os.environ.get("BENCH_PG_URL", stack.PG_BASE)
    return f"{base}/portal_bench_commission_{os.getpid()}"


def _env(url: str, ctx: Context | None) -> dict[str, str]:
    """No Redis: the probe calls the service directly, as the job would. The sizes come from
    the run's scale (full: 3,000 stores and 1,000,000 entries; smoke: a small network)."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(PORTAL_ENV="development", DATABASE_URL=url, PYTHONUNBUFFERED="1")
    if ctx is not None:
        env.setdefault("BENCH_COMMISSION_STORES", str(ctx.settings["commission_stores"]))
        env.setdefault("BENCH_COMMISSION_ENTRIES", str(ctx.settings["commission_entries"]))
    return env


def run(ctx: Context | None = None) -> dict[str, Any]:
    url = database_url()
    stack.drop_database(url)  # this benchmark's own database only: made afresh each run
    stack.ensure_database(url)
    log = stack.LOGS / "commission-settlement.log"
    stack.LOGS.mkdir(parents=True, exist_ok=True)
    try:
        with open(log, "w") as err:
            done = subprocess.run(
                [sys.executable, "-m", "bench.commission_settlement", "--probe", url],
                cwd=stack.ROOT,
                env=_env(url, ctx),
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
    finally:
        if os.environ.get("BENCH_DROP_DATABASES", "1") != "0":
            stack.drop_database(url)
    if done.returncode != 0:
        raise RuntimeError(f"commission probe exited {done.returncode} (log: {log})")
    return report(ctx, json.loads(done.stdout.strip().splitlines()[-1]))


def report(ctx: Context | None, measured: dict[str, Any]) -> dict[str, Any]:
    first, second = measured["first"], measured["second"]
    lines = [
        f"{measured['stores']} stores, {measured['guides']} guides, {measured['entries']} "
        f"matured entries (seeded in {measured['seed_seconds']} s)",
        f"settle_month {PERIOD}: {measured['settle_seconds']:.2f} s "
        f"(goal <= {GOAL_S:.0f} s): {first['guide_statements']} guide and "
        f"{first['store_statements']} store statements over {first['entries']} entries",
        f"second run of the same month: {measured['rerun_seconds']:.2f} s, "
        f"made anything: {second['made']}; store statements sum to the ledger: "
        f"{measured['stores_sum_to_ledger']}",
    ]
    seconds = measured["settle_seconds"]
    result = {
        "figures": {
            "settle_s": headline(seconds, "s", f"<= {GOAL_S}", seconds <= GOAL_S),
            "rerun_s": headline(measured["rerun_seconds"], "s"),
            "entries": headline(measured["entries"], "entries"),
            "guide_statements": headline(first["guide_statements"], "statements"),
        },
        **measured,
        "notes": [
            "Timed in-process from the call to settle_month to its commit, on a database of "
            "its own seeded set-based (generate_series) with create_all.",
            "Four set-based statements: guide statements, settled links, guide totals, store "
            "statements; no Python loop per entry.",
        ],
    }
    print_figures("commission_settlement", lines)
    if ctx is not None:
        write_result(ctx, "commission_settlement", result)
    return result


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--probe":
        print(json.dumps(probe(sys.argv[2]), default=str))
    else:
        run(None)
