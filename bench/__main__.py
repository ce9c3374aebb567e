"""`python -m bench [--scale full|smoke] [--only catalog,orders,...]`: prepare the bench
databases, start gunicorn and RQ workers, run the benchmarks, write bench/results/*.json, and
stop everything it started."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
import traceback
from typing import Any

from bench import stack
from bench.client import Api
from bench.common import Context, find_flagship

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
# The second network of the price-resolution comparison: the same catalog, a tenth of the stores.
SMALL_NETWORK = {
    "full": (["--preset", "full", "--stores", "300", "--distributors", "30"], 300),
    "smoke": (["--preset", "smoke", "--stores", "10", "--distributors", "2"], 10),
}


def _password() -> str:
    if os.environ.get("BENCH_PASSWORD"):
        return os.environ["BENCH_PASSWORD"]
    from portal.seed.scale import SCALE_PASSWORD

    return SCALE_PASSWORD


def _preset_stores(preset: str) -> int | None:
    """Stores the seeder makes for a preset, if it says (a database with fewer is re-seeded)."""
    try:
        from portal.seed import scale as seeder
    except ImportError:
        return None
    presets = getattr(seeder, "PRESETS", None)
    if isinstance(presets, dict) and preset in presets:
        value = presets[preset]
        stores = value.get("stores") if isinstance(value, dict) else getattr(value, "stores", None)
        return int(stores) if stores else None
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--scale", choices=("full", "smoke"), default="full")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {BENCHMARKS}")
    parser.add_argument(
        "--no-small-network",
        action="store_true",
        help="skip the 300-store database of the price-resolution comparison",
    )
    args = parser.parse_args(argv)
    chosen = [b.strip() for b in args.only.split(",") if b.strip()] or list(BENCHMARKS)
    unknown = set(chosen) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    command = os.environ.get("BENCH_COMMAND") or shlex.join(
        ["python", "-m", "bench", *sys.argv[1:]]
    )
    dbs = stack.databases(args.scale)
    services = stack.Stack()  # this run's own redis-server: outlives the portal processes
    try:
        if not os.environ.get("BENCH_REDIS_URL"):
            services.own_redis()
        return _bench(args, chosen, command, dbs)
    finally:
        services.close()
        if dbs.drop:
            dropped = [stack.db_name(u) for u in (dbs.url, dbs.small_url) if stack.drop_database(u)]
            print(f"bench: dropped the run's databases: {', '.join(dropped) or 'none'}")


def _bench(args: argparse.Namespace, chosen: list[str], command: str, dbs: stack.Databases) -> int:
    url = dbs.url
    started = time.monotonic()
    print(f"bench: scale {args.scale}, database {stack.db_name(url)}, redis {stack.redis_url()}")
    print("bench: the load client runs on this machine and shares its cores with the server")
    prepared: dict[str, str] = {}
    skip_seed = os.environ.get("BENCH_SKIP_SEED") == "1"
    if skip_seed:
        prepared[stack.db_name(url)] = "used as it is (BENCH_SKIP_SEED=1)"
    else:
        preset = ["--preset", args.scale]
        prepared[stack.db_name(url)] = stack.prepare_database(
            url, preset, expect_stores=_preset_stores(args.scale)
        )
    small_url = None
    if "catalog" in chosen and not args.no_small_network:
        small_url = dbs.small_url
        name = stack.db_name(small_url)
        if not skip_seed:
            seed_args, stores = SMALL_NETWORK[args.scale]
            prepared[name] = stack.prepare_database(small_url, seed_args, expect_stores=stores)
        elif stack.seeded_stores(small_url) is None:
            small_url = None
    for name, what in prepared.items():
        print(f"bench: database {name}: {what}")
    facts = stack.machine_facts(url)
    stack.flush_redis()
    run = stack.Stack()
    results: dict[str, Any] = {}
    failures: dict[str, str] = {}
    password = _password()
    try:
        base = run.gunicorn(url)
        run.worker(url, "default,reports", "worker-default")
        ctx = Context(args.scale, url, base, Api(base), run, password, command)
        ctx.flagship = find_flagship(ctx)
        print(f"bench: portal on {base} ({facts['gunicorn']}), flagship brand {ctx.flagship}")
        for name in chosen:
            t0 = time.monotonic()
            try:
                results[name] = _run_one(name, ctx, small_url)
            except Exception as exc:  # noqa: BLE001 - report it and go on with the next one
                traceback.print_exc()
                failures[name] = f"{type(exc).__name__}: {exc}"
                print(f"bench: {name} FAILED: {failures[name]}")
            print(f"   ({name}: {time.monotonic() - t0:.1f} s)")
    finally:
        run.close()
    ledger_ok = stack.ledger_check(url, stack.LOGS / "inventory-check.log")
    print(f"\nbench: flask inventory check after the run: {'clean' if ledger_ok else 'FAILED'}")
    summary = {
        "scale": args.scale,
        "command": command,
        "machine": facts,
        "databases": prepared,
        "databases_dropped_after_the_run": dbs.drop,
        "benchmarks": {name: r.get("figures", {}) for name, r in results.items()},
        "failures": failures,
        "ledger_check_clean": ledger_ok,
        "seconds": round(time.monotonic() - started, 1),
    }
    stack.RESULTS.mkdir(parents=True, exist_ok=True)
    (stack.RESULTS / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(f"bench: wrote {stack.RESULTS}/summary.json in {summary['seconds']} s")
    return 0 if ledger_ok and not failures else 1


def _run_one(name: str, ctx: Context, small_url: str | None) -> dict[str, Any]:
    if name == "catalog":
        from bench import catalog

        other = None
        if small_url:
            base = ctx.stack.gunicorn(small_url, name="gunicorn-300")
            other = Context(
                ctx.scale, small_url, base, Api(base), ctx.stack, ctx.password, ctx.command
            )
        try:
            return catalog.run(ctx, other=other)
        finally:
            for process in [p for p in ctx.stack.processes if p.name == "gunicorn-300"]:
                ctx.stack.stop(process)
    if name == "orders":
        from bench import orders

        return orders.run(ctx)
    if name == "hot_sku":
        from bench import hot_sku

        return hot_sku.run(ctx)
    if name == "publish":
        from bench import publish

        return publish.run(ctx)
    if name == "replenishment":
        from bench import replenishment

        return replenishment.run(ctx)
    if name == "shop_flash_sale":
        from bench import shop_flash_sale

        return shop_flash_sale.run(ctx)
    if name == "shop_catalog":
        from bench import shop_catalog

        return shop_catalog.run(ctx)
    if name == "shop_routing":
        from bench import shop_routing

        return shop_routing.run(ctx)
    if name == "tier_moves":
        from bench import tier_moves

        return tier_moves.run(ctx)
    if name == "commission_settlement":
        from bench import commission_settlement

        return commission_settlement.run(ctx)
    from bench import catalog_import

    return catalog_import.run(ctx)


if __name__ == "__main__":
    raise SystemExit(main())
