"""2. Order placement: 10-line orders on random SKUs through `POST /api/v1/orders` (a fresh
Idempotency-Key each) at 1, 8 and 32 clients, beside the raw-SQL floor: pgbench running the same
writes as one transaction at the same client counts.

What the portal's orders reserve is released afterwards (the buyers cancel them through the API),
and the floor's rows are taken back (bench/sql/floor_cleanup.sql): the stock and credit the next
run finds are what this one found, and the ledger stays whole.
"""

from __future__ import annotations

import math
import os
import random
import re
import shutil
import subprocess
import tempfile
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.client import Api, latency_figures, run_load
from bench.common import Buyer, Context, buyers_of, headline, print_figures, write_result
from bench.stack import ROOT, connect, db_name

SQL = ROOT / "bench" / "sql"
LINES = 10
GOAL_RATIO = 0.25
GOAL_P99_MS = 100.0
FLOOR_SLOTS = 2000


@dataclass
class Pick:
    sku: str
    qty: int  # the smallest quantity the buyer's terms allow (MOQ, in multiples)
    price_cents: int
    available: int


@dataclass
class Pool:
    """What one buyer may order: SKUs of its catalog with enough stock for many orders."""

    buyer: Buyer
    picks: list[Pick] = field(default_factory=list)
    scale: int = 1  # quantities multiplied so an order reaches the minimum amount


def _lot(moq: int, multiple: int) -> int:
    multiple = max(1, multiple)
    return max(1, math.ceil(max(1, moq) / multiple) * multiple)


def prefetch(
    ctx: Context, buyers: list[Buyer], brand: str, *, pages: int = 3, reserve_orders: int = 20
) -> list[Pool]:
    """Read each buyer's catalog (untimed) and keep the SKUs it may order now, with enough
    available for `reserve_orders` orders of their smallest lot."""
    pools = []
    for buyer in buyers:
        pool = Pool(buyer)
        first = ctx.api.get(f"/api/v1/catalog?brand={brand}&per_page=50", token=buyer.token)
        if first.status != 200:
            raise RuntimeError(f"catalog of {buyer.org}: {first.status} {first.body!r:.200}")
        total_pages = max(1, math.ceil(first.body["total"] / 50))
        wanted = ctx.rng.sample(range(1, total_pages + 1), min(pages, total_pages))
        for page in wanted:
            reply = (
                first
                if page == 1
                else ctx.api.get(
                    f"/api/v1/catalog?brand={brand}&per_page=50&page={page}", token=buyer.token
                )
            )
            for product in reply.body["items"]:
                for v in product["variants"]:
                    if v["price_cents"] is None:
                        continue
                    lot = _lot(v["moq"], v["multiple"])
                    if v["available"] >= lot * reserve_orders:
                        pool.picks.append(Pick(v["sku"], lot, v["price_cents"], v["available"]))
        if len(pool.picks) >= LINES:
            pools.append(pool)
    if not pools:
        raise RuntimeError("no buyer has 10 orderable SKUs in stock")
    minimum = _min_order_cents(ctx, brand)
    for pool in pools:
        cheapest = sum(sorted(p.qty * p.price_cents for p in pool.picks)[:LINES])
        if minimum and cheapest < minimum:
            pool.scale = math.ceil(minimum / max(1, cheapest))
    return pools


def _min_order_cents(ctx: Context, brand: str) -> int:
    """The largest minimum order amount of the brand's live policies (quantities are scaled so
    every order clears it)."""
    value = ctx.value(
        "SELECT max(v.min_order_cents) FROM policy_versions v"
        " JOIN organizations b ON b.id = v.brand_id"
        " WHERE b.code = %s AND v.status <> 'draft' AND v.effective_from <= now()"
        " AND (v.effective_to IS NULL OR v.effective_to > now())",
        (brand,),
    )
    return int(value or 0)


def order_body(pool: Pool, rng: random.Random, brand: str) -> dict[str, Any]:
    picks = rng.sample(pool.picks, LINES)
    return {
        "brand": brand,
        "lines": [{"sku": p.sku, "qty": p.qty * pool.scale} for p in picks],
        "po_number": "bench",
    }


class Placed:
    """Numbers of the orders placed, by buyer token (for the cancel afterwards)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.orders: list[tuple[str, str]] = []

    def add(self, token: str, number: str) -> None:
        with self.lock:
            self.orders.append((token, number))


def place(api: Api, pool: Pool, body: dict[str, Any], placed: Placed) -> tuple[float, str, bool]:
    reply = api.post(
        "/api/v1/orders",
        body,
        token=pool.buyer.token,
        headers={"Idempotency-Key": f"bench-{uuid.uuid4()}"},
    )
    if reply.status == 201:
        placed.add(pool.buyer.token, reply.body["number"])
        return reply.seconds, f"201 {reply.body.get('status', '')}", True
    return reply.seconds, f"{reply.status} {reply.error_code}".strip(), False


def cancel_all(api: Api, placed: Placed, threads: int = 8) -> dict[str, int]:
    """The buyers cancel what the bench placed: every reservation and committed amount is
    released (through the portal, so the ledger records it)."""
    outcome: dict[str, int] = {}
    lock = threading.Lock()

    def one(item: tuple[str, str]) -> None:
        token, number = item
        reply = api.post(f"/api/v1/orders/{number}/cancel", {"reason": "bench"}, token=token)
        key = "cancelled" if reply.status == 200 else f"{reply.status} {reply.error_code}"
        with lock:
            outcome[key] = outcome.get(key, 0) + 1

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, placed.orders))
    return outcome


# -- the raw-SQL floor ---------------------------------------------------------------------------


def _floor_setup(ctx: Context, pools: list[Pool], brand: str) -> int:
    """Prepared orders for pgbench, from the same buyers and SKUs as the portal run, and the
    values the cleanup restores."""
    skus = sorted({p.sku for pool in pools for p in pool.picks})
    orgs = sorted({pool.buyer.org for pool in pools})
    with connect(ctx.url) as conn:
        variants = {
            sku: (vid, msrp, currency)
            for sku, vid, msrp, currency in conn.execute(
                "SELECT v.sku, v.id, p.msrp_cents, p.currency FROM variants v"
                " JOIN products p ON p.id = v.product_id"
                " JOIN organizations b ON b.id = v.brand_id"
                " WHERE b.code = %s AND v.sku = ANY(%s)",
                (brand, skus),
            )
        }
        links = {
            code: row
            for code, *row in conn.execute(
                "SELECT o.code, l.buyer_org_id, l.supplier_org_id, l.brand_id, l.id,"
                " (SELECT id FROM locations WHERE org_id = l.supplier_org_id AND is_default),"
                " (SELECT id FROM locations WHERE org_id = l.buyer_org_id AND is_default)"
                " FROM channel_links l JOIN organizations o ON o.id = l.buyer_org_id"
                " JOIN organizations b ON b.id = l.brand_id"
                " WHERE b.code = %s AND o.code = ANY(%s)",
                (brand, orgs),
            )
        }
        conn.execute("DROP TABLE IF EXISTS bench_floor_slots, bench_floor_lines")
        conn.execute(
            "CREATE TABLE bench_floor_slots (slot int PRIMARY KEY, buyer_org_id int,"
            " supplier_org_id int, brand_id int, link_id int, src int, dst int, total bigint,"
            " currency text, qty int,"
            + ", ".join(f"v{i} int, q{i} int" for i in range(1, LINES + 1))
            + ")"
        )
        conn.execute(
            "CREATE TABLE bench_floor_lines (slot int, variant_id int, sku text, qty int,"
            " price bigint, msrp bigint)"
        )
        rng = random.Random(4242)
        slots, lines = [], []
        for slot in range(1, FLOOR_SLOTS + 1):
            pool = rng.choice(pools)
            buyer_org, supplier_org, brand_id, link_id, src, dst = links[pool.buyer.org]
            picks = sorted(
                rng.sample(pool.picks, LINES), key=lambda p: variants[p.sku][0]
            )  # variant order, as apply_moves locks
            row: list[Any] = [slot, buyer_org, supplier_org, brand_id, link_id, src, dst]
            total = sum(p.qty * pool.scale * p.price_cents for p in picks)
            qty = sum(p.qty * pool.scale for p in picks)
            row += [total, variants[picks[0].sku][2], qty]
            for p in picks:
                row += [variants[p.sku][0], p.qty * pool.scale]
                lines.append(
                    (slot, variants[p.sku][0], p.sku, p.qty * pool.scale, p.price_cents,
                     variants[p.sku][1])
                )  # fmt: skip
            slots.append(row)
        with conn.cursor().copy("COPY bench_floor_slots FROM STDIN") as copy:
            for row in slots:
                copy.write_row(row)
        with conn.cursor().copy("COPY bench_floor_lines FROM STDIN") as copy:
            for row in lines:
                copy.write_row(row)
        conn.execute("CREATE INDEX ON bench_floor_lines (slot)")
        conn.execute(
            "DROP TABLE IF EXISTS bench_floor_levels, bench_floor_accounts, bench_floor_mark"
        )
        conn.execute(
            "CREATE TABLE bench_floor_levels AS SELECT DISTINCT l.id, l.reserved"
            " FROM stock_levels l JOIN bench_floor_slots s ON s.src = l.location_id"
            " JOIN bench_floor_lines x ON x.slot = s.slot AND x.variant_id = l.variant_id"
            " WHERE l.grade = 'A'"
        )
        conn.execute(
            "CREATE TABLE bench_floor_accounts AS SELECT id, committed_cents, updated_at"
            " FROM accounts WHERE link_id IN (SELECT link_id FROM bench_floor_slots)"
        )
        conn.execute(
            "CREATE TABLE bench_floor_mark AS SELECT coalesce(max(id), 0) AS max_order_id"
            " FROM orders"
        )
        conn.execute("ANALYZE bench_floor_slots")
        conn.execute("ANALYZE bench_floor_lines")
        conn.commit()
    return FLOOR_SLOTS


def _floor_cleanup(ctx: Context) -> dict[str, int]:
    with connect(ctx.url) as conn:
        exists = conn.execute("SELECT to_regclass('bench_floor_mark')").fetchone()[0]
        if exists is None:
            return {}
        moved = conn.execute(
            "SELECT coalesce(sum(reserved_delta), 0) FROM stock_moves"
            " WHERE reference = 'BENCH-FLOOR'"
        ).fetchone()[0]
        applied = conn.execute(
            "SELECT coalesce(sum(l.reserved - b.reserved), 0) FROM stock_levels l"
            " JOIN bench_floor_levels b ON b.id = l.id"
        ).fetchone()[0]
        conn.execute((SQL / "floor_cleanup.sql").read_text())
        conn.commit()
    return {"units_in_ledger_rows": int(moved), "units_reserved": int(applied)}


def run_floor(ctx: Context, clients: int, seconds: int, slots: int) -> dict[str, Any]:
    pgbench = shutil.which("pgbench") or "/usr/bin/pgbench"
    parts = re.match(r"postgresql://(?:([^@/]+)@)?([^:/]+)(?::(\d+))?/", ctx.url)
    user, host, port = (parts.group(1) or "postgres"), parts.group(2), parts.group(3) or "5432"
    logdir = Path(tempfile.mkdtemp(prefix="bench-floor-"))
    try:
        cmd = [
            pgbench, "-n", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, 2)),
            "-T", str(seconds), "-D", f"slots={slots}", "-f", str(SQL / "order_floor.sql"),
            "-l", "--log-prefix", str(logdir / "floor"), "-h", host, "-p", port, "-U", user,
            db_name(ctx.url),
        ]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ})
        if done.returncode != 0:
            raise RuntimeError(f"pgbench failed: {done.stderr.strip()[-800:]}")
        latencies = []
        for log in logdir.glob("floor*"):
            for line in log.read_text().splitlines():
                fields = line.split()
                if len(fields) >= 3:
                    latencies.append(int(fields[2]) / 1e6)
        match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
        failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
        figures = latency_figures(latencies, seconds)
        figures["per_s"] = float(match.group(1)) if match else figures["per_s"]
        figures["failed"] = int(failed.group(1)) if failed else 0
        figures["clients"] = clients
        return figures
    finally:
        shutil.rmtree(logdir, ignore_errors=True)


# -- the benchmark -------------------------------------------------------------------------------


def run(ctx: Context) -> dict[str, Any]:
    s = ctx.settings
    brand = ctx.flagship
    everyone = buyers_of(ctx, brand)
    buyers = ctx.rng.sample(everyone, min(s["order_buyers"], len(everyone)))
    ctx.sign_in(buyers)
    pools = prefetch(ctx, buyers, brand)
    lines = [
        f"{len(pools)} buyers of {brand}, {LINES} lines per order, "
        f"{sum(len(p.picks) for p in pools)} orderable SKUs prefetched (untimed)"
    ]
    portal: dict[str, Any] = {}
    floor: dict[str, Any] = {}
    placed = Placed()
    cleanup: dict[str, Any] = {}
    try:
        for clients in s["order_clients"]:
            rngs = [random.Random(1000 * clients + n) for n in range(clients)]

            def step(n: int, _i: int) -> tuple[float, str, bool]:
                pool = rngs[n].choice(pools)  # noqa: B023 - used within this iteration
                return place(ctx.api, pool, order_body(pool, rngs[n], brand), placed)  # noqa: B023

            result = run_load(clients, step, seconds=s["order_seconds"])
            portal[f"c{clients}"] = {
                **result.figures,
                "clients": clients,
                "outcomes": dict(result.outcomes),
                "refused_p50_ms": latency_figures(result.failed_seconds, 1)["p50_ms"],
            }
        slots = _floor_setup(ctx, pools, brand)
        try:
            for clients in s["order_clients"]:
                floor[f"c{clients}"] = run_floor(ctx, clients, s["floor_seconds"], slots)
        finally:
            cleanup["floor"] = _floor_cleanup(ctx)
    finally:
        cleanup["portal_orders"] = cancel_all(ctx.api, placed)
    figures: dict[str, Any] = {}
    for clients in s["order_clients"]:
        key = f"c{clients}"
        p, f = portal[key], floor.get(key, {})
        ratio = round(p["per_s"] / f["per_s"], 3) if f.get("per_s") else None
        p["ratio_to_floor"] = ratio
        lines.append(
            f"x{clients:<2} portal {p['per_s']:7.1f} orders/s  p50 {p['p50_ms']:6.1f}  p99 "
            f"{p['p99_ms']:7.1f} ms | floor {f.get('per_s', 0):8.1f} tx/s  p50 "
            f"{f.get('p50_ms', 0):6.1f}  p99 {f.get('p99_ms', 0):6.1f} ms | ratio {ratio}"
        )
        lines.append(f"     outcomes {p['outcomes']}")
        figures[f"orders_per_s_{key}"] = headline(p["per_s"], "1/s")
        figures[f"floor_tx_per_s_{key}"] = headline(f.get("per_s"), "1/s")
        top = clients == max(s["order_clients"])
        figures[f"ratio_to_floor_{key}"] = headline(
            ratio,
            "portal/floor",
            f">= {GOAL_RATIO}" if top else None,
            (ratio or 0) >= GOAL_RATIO if top else None,
        )
        figures[f"p99_ms_{key}"] = headline(
            p["p99_ms"],
            "ms",
            f"<= {GOAL_P99_MS}" if top else None,
            p["p99_ms"] <= GOAL_P99_MS if top else None,
        )
    lines.append(f"cleanup: {cleanup}")
    result = {
        "figures": figures,
        "portal": portal,
        "floor": floor,
        "cleanup": cleanup,
        "setup": {
            "brand": brand,
            "buyers": len(pools),
            "lines_per_order": LINES,
            "seconds_per_run": s["order_seconds"],
            "floor_seconds_per_run": s["floor_seconds"],
            "floor_script": "bench/sql/order_floor.sql (pgbench -M prepared)",
        },
        "notes": [
            "orders/s counts 201 responses; p50/p99 are of those. Refusals are listed by "
            "status and error code under outcomes.",
            "The floor is only the writes of an order (key, order, 10 lines, 10 conditional "
            "reservations, 10 ledger rows, the account, an event) in one transaction: no reads, "
            "checks, pricing, ORM or HTTP.",
            "Portal orders are cancelled through the API afterwards and the floor's rows taken "
            "back by bench/sql/floor_cleanup.sql, so runs start from the same stock and credit.",
            "pgbench and the load client share the 2 cores with the server.",
        ],
    }
    print_figures("orders", lines)
    write_result(ctx, "orders", result)
    return result
