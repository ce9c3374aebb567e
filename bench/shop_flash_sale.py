"""7. Flash sale: 500 consumers race for one SKU with exactly 100 units online at one pickup store,
checking out through `POST /api/v1/shop/<brand>/checkout`, then the test gateway's paid notices
arrive on the callback route. Exactly 100 must be paid, none oversold, no 5xx; checkouts per
second and p99 beside the raw-SQL floor of the same writes (pgbench at the same client count).

The paid orders stay (their units stay reserved at the store); the next run adjusts the level
back to 100 sellable by a ledger move. The floor's rows are taken back.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bench import stack
from bench.client import latency_figures, run_load
from bench.common import Context, headline, print_figures, write_result
from bench.shop import brand_id, ensure_storefronts, shoppers
from bench.stack import ROOT, connect, db_name

SQL = ROOT / "bench" / "sql"
CONSUMERS = 500
UNITS = 100
GOAL_RATIO = 0.25
GOAL_P99_MS = 200.0
FLOOR_UNITS = 1_000_000  # the floor's level holds this many for its timed run
WARM_UP = 32  # untimed checkouts (then cancelled) before the sale, one per client


def _secret() -> str:
    from config import Config

    return os.environ.get("PAYMENT_TEST_SECRET") or str(Config.PAYMENT_TEST_SECRET)


def _sale_level(ctx: Context, brand: int) -> dict[str, Any]:
    """A pickup store of the brand and a grade-A SKU it holds of an active product: the store
    with the lowest location id, its SKU with the most on hand."""
    row = ctx.rows(
        """
        SELECT l.id, l.location_id, l.variant_id, v.sku, o.safety_stock, c.code, p.msrp_cents
        FROM online_locations o
        JOIN locations c ON c.id = o.location_id
        JOIN organizations g ON g.id = c.org_id AND g.kind = 'store' AND g.status = 'active'
        JOIN stock_levels l ON l.location_id = o.location_id AND l.brand_id = o.brand_id
             AND l.grade = 'A'
        JOIN variants v ON v.id = l.variant_id
        JOIN products p ON p.id = v.product_id AND p.status = 'active'
        WHERE o.brand_id = %s AND o.pickup AND o.is_enabled
        ORDER BY o.location_id, l.on_hand DESC, l.variant_id LIMIT 1
        """,
        (brand,),
    )
    if not row:
        raise RuntimeError("no pickup store of the brand holds a SKU")
    level, location, variant, sku, keep, code, msrp = row[0]
    return {
        "level_id": level,
        "location_id": location,
        "variant_id": variant,
        "sku": sku,
        "safety_stock": keep,
        "location": code,
        "msrp_cents": msrp,
    }


def _warm_level(ctx: Context, brand: int, sale: dict[str, Any]) -> dict[str, Any]:
    """Another grade-A SKU of an active product at the sale's store (the lowest variant id):
    what the warm-up buys, so the sale's own level is left as it is."""
    row = ctx.rows(
        """
        SELECT l.id, l.variant_id, v.sku, o.safety_stock
        FROM online_locations o
        JOIN stock_levels l ON l.location_id = o.location_id AND l.brand_id = o.brand_id
             AND l.grade = 'A'
        JOIN variants v ON v.id = l.variant_id
        JOIN products p ON p.id = v.product_id AND p.status = 'active'
        WHERE o.brand_id = %s AND o.location_id = %s AND l.variant_id <> %s
        ORDER BY l.variant_id LIMIT 1
        """,
        (brand, sale["location_id"], sale["variant_id"]),
    )
    if not row:
        raise RuntimeError("the sale's store holds no second SKU to warm up with")
    level, variant, sku, keep = row[0]
    return {
        "level_id": level,
        "location_id": sale["location_id"],
        "variant_id": variant,
        "sku": sku,
        "safety_stock": keep,
    }


def _warm_up(
    ctx: Context, brand: int, code: str, sale: dict[str, Any], crowd: list[Any], clients: int
) -> dict[str, Any]:
    """Every server process serves a checkout before the timed sale, as the catalog and routing
    benchmarks warm theirs: a sale meets workers that have served before, not ones compiling
    their first queries and loading their first translations (~0.4 s of CPU each here). Each
    client checks out one unit of another SKU at the same store; every order is then cancelled
    through the API, which gives its unit back."""
    warm = _warm_level(ctx, brand, sale)
    _set_sellable(ctx, brand, warm, WARM_UP)
    path = f"/api/v1/shop/{code}/checkout"
    numbers: list[tuple[str, str]] = []
    lock = threading.Lock()
    n_clients = min(clients, WARM_UP)
    sent = [False] * n_clients

    def step(n: int, _i: int) -> tuple[float, str, bool]:
        sent[n] = True
        shopper = crowd[n % len(crowd)]
        body = {
            "tier": "official",
            "fulfilment": "pickup",
            "pickup_location_id": warm["location_id"],
            "checkout_token": f"bench-warm-{uuid.uuid4()}",
            "lines": [{"variant_id": warm["variant_id"], "qty": 1, "grade": "A"}],
        }
        reply = ctx.api.post(path, body, token=shopper.token)
        if reply.status == 201:
            with lock:
                numbers.append((reply.body["number"], shopper.token))
        return reply.seconds, str(reply.status), True

    placing = run_load(n_clients, step, stop=lambda n: sent[n])
    cancelled = 0
    for number, token in numbers:
        reply = ctx.api.post(f"/api/v1/shop/{code}/orders/{number}/cancel", {}, token=token)
        cancelled += reply.status == 200
    if cancelled != len(numbers) or not numbers:
        raise RuntimeError(
            f"warm-up: {dict(placing.outcomes)}, {cancelled} of {len(numbers)} cancelled"
        )
    return {"sku": warm["sku"], "checkouts": dict(placing.outcomes), "cancelled": cancelled}


def _level(ctx: Context, level_id: int) -> tuple[int, int]:
    on_hand, reserved = ctx.rows(
        "SELECT on_hand, reserved FROM stock_levels WHERE id = %s", (level_id,)
    )[0]
    return int(on_hand), int(reserved)


def _set_sellable(ctx: Context, brand: int, sale: dict[str, Any], units: int) -> int:
    """Exactly `units` sellable online (on hand - reserved - safety stock), by an adjustment
    move and its level in one transaction, as the ledger writes them."""
    on_hand, reserved = _level(ctx, sale["level_id"])
    delta = units + sale["safety_stock"] - (on_hand - reserved)
    if delta:
        with connect(ctx.url) as conn:
            conn.execute(
                "INSERT INTO stock_moves (brand_id, location_id, variant_id, grade,"
                " on_hand_delta, reserved_delta, reason, reference, note, occurred_at,"
                " created_at, updated_at) VALUES (%s, %s, %s, 'A', %s, 0, 'adjustment',"
                " 'BENCH-FLASH', 'bench flash sale: sellable set', now(), now(), now())",
                (brand, sale["location_id"], sale["variant_id"], delta),
            )
            conn.execute(
                "UPDATE stock_levels SET on_hand = on_hand + %s WHERE id = %s",
                (delta, sale["level_id"]),
            )
            conn.commit()
    return delta


def _pay(ctx: Context, brand_code: str, numbers: list[str], clients: int) -> dict[str, Any]:
    """The test gateway's signed `paid` notice for each order, posted to the callback route."""
    from portal.storefront.payments.gateway import TestGateway

    gateway = TestGateway(_secret(), "http://bench.invalid/pay")
    payments = ctx.rows(
        "SELECT o.number, p.reference, p.amount_cents, p.currency FROM consumer_orders o"
        " JOIN payments p ON p.id = o.payment_id WHERE o.number = ANY(%s) ORDER BY o.number",
        (numbers,),
    )
    path = f"/shop/{brand_code}/pay/notify/test"
    mine = [payments[n::clients] for n in range(clients)]
    taken = [0] * clients

    def step(n: int, _i: int) -> tuple[float, str, bool]:
        _number, reference, cents, currency = mine[n][taken[n]]
        taken[n] += 1
        notice = gateway.build_notice(reference, int(cents), currency)
        status, _h, _b, seconds = ctx.api.raw("POST", path, body=notice.body,
                                               headers=notice.headers)  # fmt: skip
        return seconds, str(status), status < 400

    result = run_load(clients, step, stop=lambda n: taken[n] >= len(mine[n]))
    return {**result.figures, "clients": clients, "statuses": dict(result.outcomes)}


# -- the raw-SQL floor ---------------------------------------------------------------------------


def run_floor(
    ctx: Context, brand: int, sale: dict[str, Any], consumer_ids: list[int], clients: int,
    seconds: int, price: int,
) -> dict[str, Any]:  # fmt: skip
    with connect(ctx.url) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_shop_floor_consumers, bench_shop_floor_level")
        conn.execute("CREATE TABLE bench_shop_floor_consumers (k int PRIMARY KEY, consumer_id int)")
        with conn.cursor().copy("COPY bench_shop_floor_consumers FROM STDIN") as copy:
            for k, consumer in enumerate(consumer_ids, 1):
                copy.write_row((k, consumer))
        conn.execute(
            "CREATE TABLE bench_shop_floor_level AS SELECT id, on_hand, reserved"
            " FROM stock_levels WHERE id = %s",
            (sale["level_id"],),
        )
        # Units enough for the whole timed run: the floor measures the writes, not a sell-out.
        conn.execute(
            "UPDATE stock_levels SET on_hand = on_hand + %s WHERE id = %s",
            (FLOOR_UNITS, sale["level_id"]),
        )
        conn.commit()
    pgbench = shutil.which("pgbench") or "/usr/bin/pgbench"
    parts = re.match(r"postgresql://(?:([^@/]+)@)?([^:/]+)(?::(\d+))?/", ctx.url)
    user, host, port = (parts.group(1) or "postgres"), parts.group(2), parts.group(3) or "5432"
    logdir = Path(tempfile.mkdtemp(prefix="bench-shop-floor-"))
    variables = {
        "consumers": len(consumer_ids), "level_id": sale["level_id"], "brand_id": brand,
        "location_id": sale["location_id"], "variant_id": sale["variant_id"], "price": price,
        "keep": sale["safety_stock"],
    }  # fmt: skip
    try:
        cmd = [pgbench, "-n", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, 2)),
               "-T", str(seconds)]  # fmt: skip
        for key, value in variables.items():
            cmd += ["-D", f"{key}={value}"]
        cmd += ["-f", str(SQL / "shop_checkout_floor.sql"), "-l", "--log-prefix",
                str(logdir / "floor"), "-h", host, "-p", port, "-U", user,
                db_name(ctx.url)]  # fmt: skip
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
        figures = latency_figures(latencies, seconds)
        figures["per_s"] = float(match.group(1)) if match else figures["per_s"]
        figures["clients"] = clients
        return figures
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
        with connect(ctx.url) as conn:
            if conn.execute("SELECT to_regclass('bench_shop_floor_level')").fetchone()[0]:
                conn.execute((SQL / "shop_checkout_floor_cleanup.sql").read_text())
                conn.commit()


# -- the benchmark -------------------------------------------------------------------------------


def run(ctx: Context) -> dict[str, Any]:
    s = ctx.settings
    code = ctx.flagship
    added = ensure_storefronts(ctx)
    brand = brand_id(ctx, code)
    sale = _sale_level(ctx, brand)
    crowd = shoppers(ctx, brand, CONSUMERS)
    clients = s["flash_clients"]
    warmed = _warm_up(ctx, brand, code, sale, crowd, clients)
    adjusted = _set_sellable(ctx, brand, sale, UNITS)
    before = _level(ctx, sale["level_id"])
    mine = [crowd[n::clients] for n in range(clients)]
    taken = [0] * clients
    placed: list[str] = []
    sold_at: list[float] = []
    lock = threading.Lock()
    path = f"/api/v1/shop/{code}/checkout"
    started = [0.0]

    def step(n: int, _i: int) -> tuple[float, str, bool]:
        shopper = mine[n][taken[n]]
        taken[n] += 1
        body = {
            "tier": "official",
            "fulfilment": "pickup",
            "pickup_location_id": sale["location_id"],
            "checkout_token": f"bench-flash-{uuid.uuid4()}",
            "lines": [{"variant_id": sale["variant_id"], "qty": 1, "grade": "A"}],
        }
        if not started[0]:
            started[0] = time.perf_counter()
        reply = ctx.api.post(path, body, token=shopper.token)
        if reply.status == 201:
            with lock:
                placed.append(reply.body["number"])
                sold_at.append(time.perf_counter())
            return reply.seconds, "201", True
        return reply.seconds, f"{reply.status} {reply.error_code}".strip(), True

    checkout = run_load(clients, step, stop=lambda n: taken[n] >= len(mine[n]))
    sell_out_s = (max(sold_at) - started[0]) if sold_at else 0.0
    after_checkout = _level(ctx, sale["level_id"])
    paying = _pay(ctx, code, placed, min(clients, max(1, len(placed))))
    paid = int(
        ctx.value(
            "SELECT count(*) FROM consumer_orders WHERE number = ANY(%s) AND status = 'paid'",
            (placed,),
        )
    )
    after = _level(ctx, sale["level_id"])
    ledger_ok = stack.ledger_check(ctx.url, stack.LOGS / "inventory-check-shop-flash-sale.log")
    price = int(
        ctx.value(
            "SELECT unit_price_cents FROM consumer_order_lines l JOIN consumer_orders o"
            " ON o.id = l.order_id WHERE o.number = %s",
            (placed[0],),
        )
        if placed
        else sale["msrp_cents"]
    )
    floor = run_floor(
        ctx, brand, sale, [c.consumer_id for c in crowd], clients, s["floor_seconds"], price
    )
    outcomes = dict(checkout.outcomes)
    errors_5xx = sum(n for label, n in outcomes.items() if label[:1] == "5") + sum(
        n for label, n in paying["statuses"].items() if label[:1] == "5"
    )
    other = sum(
        n for label, n in outcomes.items() if label not in ("201", "422 insufficient_stock")
    )
    reserved_by_run = after[1] - before[1]
    oversold = max(0, len(placed) - UNITS, reserved_by_run - UNITS)
    left_sellable = after[0] - after[1] - sale["safety_stock"]
    sold_per_s = round(len(placed) / sell_out_s, 2) if sell_out_s else 0.0
    ratio = round(sold_per_s / floor["per_s"], 3) if floor.get("per_s") else None
    p99 = checkout.figures["p99_ms"]
    lines = [
        f"{len(crowd)} consumers of {code} over {clients} clients, SKU {sale['sku']} at "
        f"{sale['location']}: {UNITS} sellable (safety stock {sale['safety_stock']} kept back)",
        f"checkouts: {outcomes}; placed {len(placed)}, paid {paid}, oversold {oversold}, "
        f"reserved by the run {reserved_by_run}, sellable after {left_sellable}",
        f"all {checkout.figures['count']} checkouts in {checkout.figures['elapsed_s']:.2f} s = "
        f"{checkout.figures['per_s']:.1f}/s, p50 {checkout.figures['p50_ms']:.1f} "
        f"p99 {p99:.1f} ms; sold out in {sell_out_s:.2f} s = {sold_per_s:.1f} orders/s",
        f"floor (pgbench, {clients} clients): {floor['per_s']:.1f} tx/s, "
        f"p99 {floor['p99_ms']:.1f} ms; ratio {ratio}",
        f"notices: {paying['statuses']} p99 {paying['p99_ms']:.1f} ms; 5xx {errors_5xx}; "
        f"flask inventory check: {'clean' if ledger_ok else 'FAILED'}",
    ]
    figures = {
        "paid": headline(paid, "orders", f"== {UNITS}", paid == UNITS),
        "oversold": headline(oversold, "units", "== 0", oversold == 0),
        "errors_5xx": headline(errors_5xx, "responses", "== 0", errors_5xx == 0),
        "unexpected_refusals": headline(other, "responses", "== 0", other == 0),
        "checkouts_per_s": headline(checkout.figures["per_s"], "1/s"),
        "sold_per_s": headline(sold_per_s, "1/s"),
        "floor_tx_per_s": headline(floor["per_s"], "1/s"),
        "ratio_to_floor": headline(
            ratio, "portal/floor", f">= {GOAL_RATIO}", (ratio or 0) >= GOAL_RATIO
        ),
        "p99_ms": headline(p99, "ms", f"<= {GOAL_P99_MS}", p99 <= GOAL_P99_MS),
        "ledger_check_clean": headline(ledger_ok, "bool", "== true", ledger_ok),
    }
    result = {
        "figures": figures,
        "units": UNITS,
        "consumers": len(crowd),
        "placed": len(placed),
        "paid": paid,
        "oversold": oversold,
        "errors_5xx": errors_5xx,
        "outcomes": outcomes,
        "checkout": {**checkout.figures, "clients": clients},
        "sell_out_s": round(sell_out_s, 3),
        "payment_notices": paying,
        "floor": floor,
        "level_before": {"on_hand": before[0], "reserved": before[1]},
        "level_after_checkout": {"on_hand": after_checkout[0], "reserved": after_checkout[1]},
        "level_after": {"on_hand": after[0], "reserved": after[1]},
        "reserved_by_run": reserved_by_run,
        "sellable_after": left_sellable,
        "ledger_check_clean": ledger_ok,
        "setup": {
            "brand": code,
            "location": sale["location"],
            "sku": sale["sku"],
            "safety_stock": sale["safety_stock"],
            "clients": clients,
            "adjustment_delta": adjusted,
            "warm_up": warmed,
            "storefront_data_added": added,
            "floor_script": "bench/sql/shop_checkout_floor.sql (pgbench -M prepared)",
            "floor_seconds": s["floor_seconds"],
        },
        "notes": [
            f"{CONSUMERS} consumers (API tokens written as the sign-in writes them) are spread "
            f"over {clients} concurrent clients, each checking out once, all released together; "
            "checkout latency figures cover every checkout (201 and 422 insufficient_stock).",
            "sold_per_s = 100 / seconds from the first checkout sent to the 100th order placed: "
            "the rate at which the sale sells, compared with the floor's transactions/s.",
            "The floor is only the writes of one placed checkout (a conditional reservation on "
            "the one level, a ledger row, order, line, event, payment) in one transaction, on "
            "the same level at the same client count, with units enough for its whole run.",
            "The paid orders stay, holding their units; the next run adjusts the level back.",
            f"Before the timed sale, {WARM_UP} untimed checkouts of another SKU at the same "
            "store (each then cancelled through the API, giving its unit back) warm every "
            "server process, as the catalog and routing benchmarks warm theirs.",
        ],
    }
    print_figures("shop_flash_sale", lines)
    write_result(ctx, "shop_flash_sale", result)
    return result
