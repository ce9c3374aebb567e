"""The benchmarks cannot rot silently: the smoke preset of every benchmark runs end to end through
gunicorn, PostgreSQL, Redis and RQ workers (`python -m bench --scale smoke`). Its figures are
not judged here; what a user of the bench would notice is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.conftest import need
from tests.support import services as svc

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = (
    "catalog",
    "orders",
    "hot_sku",
    "publish",
    "replenishment",
    "import",
    "shop_flash_sale",
    "shop_catalog",
    "shop_routing",
    "tier_moves",
    "commission_settlement",
)
# Whatever the caller's shell says about the bench, the test's run uses its defaults.
BENCH_SETTINGS = ("BENCH_DATABASE_URL", "BENCH_DROP_DATABASES", "BENCH_REDIS_URL", "PORTAL_ENV")


def bench_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in BENCH_SETTINGS}
    env["BENCH_PG_URL"] = svc.PG_ADMIN_URL.rsplit("/", 1)[0]
    env.update(extra)
    return env


def bench_databases(prefix: str) -> set[str]:
    with psycopg.connect(svc.PG_ADMIN_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (prefix + "%",)
        ).fetchall()
    return {name for (name,) in rows}


def test_two_runs_name_their_smoke_databases_apart_and_one_checkout_keeps_its_full_one() -> None:
    def names() -> dict:
        done = subprocess.run(
            [sys.executable, "-c", "from bench import stack; import json; print(json.dumps("
             "{s: stack.databases(s).__dict__ for s in ('smoke', 'full')}))"],
            cwd=ROOT, env=bench_env(), capture_output=True, text=True, check=True,
        )  # fmt: skip
        return json.loads(done.stdout)

    first, second = names(), names()
    assert first["smoke"]["url"] != second["smoke"]["url"]
    assert first["smoke"]["small_url"] != second["smoke"]["small_url"]
    assert first["smoke"]["drop"] is second["smoke"]["drop"] is True
    # `make bench` finds the full-scale database it seeded last time, and keeps it.
    assert first["full"] == second["full"]
    assert first["full"]["drop"] is False


@pytest.mark.postgres
@pytest.mark.redis
def test_smoke_bench_writes_every_result_sells_the_hot_sku_exactly_and_keeps_the_ledger(
    tmp_path: Path, own_redis
) -> None:
    need("postgresql")
    need("redis")
    # Its own Redis (the bench flushes it) and databases named after the bench's pid.
    env = bench_env(BENCH_RESULTS=str(tmp_path), BENCH_REDIS_URL=own_redis.url)
    bench = subprocess.Popen(
        [sys.executable, "-m", "bench", "--scale", "smoke"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    prefix = f"portal_bench_smoke_{bench.pid}_"
    try:
        stdout, stderr = bench.communicate(timeout=1800)
    finally:
        bench.kill()
        left_behind = bench_databases(prefix)
        for name in left_behind:  # drop them even when the run failed before it could
            with psycopg.connect(svc.PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    output = stdout[-4000:] + stderr[-4000:]
    assert bench.returncode == 0, output
    assert left_behind == set(), f"the smoke run left {left_behind} behind"

    results = {name: json.loads((tmp_path / f"{name}.json").read_text()) for name in BENCHMARKS}
    for name, result in results.items():
        assert result["figures"], f"{name} wrote no figures"
        for figure, entry in result["figures"].items():
            assert entry["value"] is not None, f"{name}.{figure} is empty"

    catalog = results["catalog"]
    assert catalog["runs"]["page_c1"]["count"] > 0
    assert catalog["runs"]["search_c1"]["count"] > 0
    assert set(catalog["price_resolution_by_network_size"]) >= {"full", "small"}

    orders = results["orders"]
    for clients in ("c1", "c8", "c32"):
        assert orders["portal"][clients]["count"] > 0, orders["portal"][clients]["outcomes"]
        assert orders["floor"][clients]["per_s"] > 0

    hot = results["hot_sku"]
    assert hot["units_sold"] == hot["units_available"] > 0
    assert hot["oversold"] == 0
    assert hot["other_errors"] == 0, hot["outcomes"]
    assert hot["ledger_check_clean"] is True

    publish = results["publish"]
    assert [r["workers"] for r in publish["runs"]] == [1, 2]
    assert all(r["targeted"] > 0 and r["job_status"] == "finished" for r in publish["runs"])

    replenishment = results["replenishment"]
    assert replenishment["network"]["locations"] > 0
    assert replenishment["network"]["failed_brands"] == []

    imported = results["import"]
    for kind in ("csv", "xlsx"):
        assert imported["runs"][kind]["rows"] > 0
        assert imported["cleanup"][kind].get("variants") == imported["runs"][kind]["rows"]

    flash = results["shop_flash_sale"]
    assert flash["placed"] == flash["paid"] == flash["units"] == 100
    assert flash["oversold"] == 0
    assert flash["errors_5xx"] == 0, flash["outcomes"]
    assert flash["outcomes"] == {"201": 100, "422 insufficient_stock": flash["consumers"] - 100}
    assert flash["reserved_by_run"] == 100 and flash["sellable_after"] == 0
    assert flash["ledger_check_clean"] is True
    assert flash["floor"]["per_s"] > 0

    shop_catalog = results["shop_catalog"]
    assert all(run["statuses"] == {"200": run["count"]} for run in shop_catalog["runs"].values())
    assert shop_catalog["runs"]["api_c1"]["count"] > 0
    assert shop_catalog["runs"]["html_c1"]["count"] > 0

    routing = results["shop_routing"]
    assert routing["delivering_stores"] > 0
    assert routing["figures"]["p95_ms"]["value"] > 0
    assert "cannot_route" not in routing["outcomes"]

    settlement = results["commission_settlement"]
    assert settlement["first"]["guide_statements"] > 0 and settlement["stores_sum_to_ledger"]
    assert settlement["second"]["made"] is False  # the same month again makes nothing

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["ledger_check_clean"] is True
    assert summary["failures"] == {}
    assert set(summary["benchmarks"]) == set(BENCHMARKS)
    assert summary["machine"]["cores"] and summary["machine"]["postgresql"]
    # The run's two databases (the network and its 300-store copy) were its own, and dropped.
    assert len(summary["databases"]) == 2
    assert all(name.startswith(prefix) for name in summary["databases"]), summary["databases"]
    assert summary["databases_dropped_after_the_run"] is True
