"""3. Hot SKU: 64 concurrent buyers of one supplier race for one SKU with N units available,
each ordering one lot at a time until it is sold out. Exactly N units must sell, none oversold,
with no error but `insufficient_stock`; `flask inventory check` must pass afterwards."""

from __future__ import annotations

import math
import threading
import uuid
from typing import Any

from bench import stack
from bench.client import run_load
from bench.common import Context, buyers_of, headline, print_figures, write_result
from bench.orders import Placed, _min_order_cents, cancel_all

SUPPLIER_ROLES = ("hq_admin", "distributor_admin")


def _busiest_supplier(ctx: Context, brand: str) -> tuple[int, str, str]:
    """The supplier of the brand with the most buyers, and its admin's e-mail."""
    row = ctx.rows(
        """
        SELECT s.id, s.code, u.email
        FROM channel_links l
        JOIN organizations b ON b.id = l.brand_id
        JOIN organizations s ON s.id = l.supplier_org_id
        JOIN organizations o ON o.id = l.buyer_org_id
        JOIN LATERAL (
            SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id
            WHERE m.org_id = s.id AND m.role = ANY(%s) ORDER BY m.id LIMIT 1
        ) u ON true
        WHERE b.code = %s AND o.status = 'active'
        GROUP BY s.id, s.code, u.email
        ORDER BY count(*) DESC, s.code LIMIT 1
        """,
        (list(SUPPLIER_ROLES), brand),
    )
    if not row:
        raise RuntimeError(f"no supplier of {brand} with an admin")
    return row[0]


def _choose_sku(ctx: Context, brand: str, token: str) -> tuple[str, int, int]:
    """A SKU the buyer may order one unit of (MOQ 1, multiple 1): the dearest on its first
    catalog pages, so one unit clears a minimum order amount where it can."""
    best: tuple[int, str] | None = None
    for page in (1, 2, 3):
        reply = ctx.api.get(f"/api/v1/catalog?brand={brand}&per_page=50&page={page}", token=token)
        if reply.status != 200:
            raise RuntimeError(f"catalog: {reply.status} {reply.body!r:.200}")
        for product in reply.body["items"]:
            for v in product["variants"]:
                one_unit = v["price_cents"] and v["moq"] == 1 and v["multiple"] == 1
                if one_unit and (best is None or v["price_cents"] > best[0]):
                    best = (v["price_cents"], v["sku"])
    if best is None:
        raise RuntimeError("no SKU with MOQ 1 and multiple 1 in the first catalog pages")
    minimum = _min_order_cents(ctx, brand)
    lot = max(1, math.ceil(minimum / best[0])) if minimum else 1
    return best[1], best[0], lot


def _level(ctx: Context, location: str, sku: str) -> tuple[int, int]:
    row = ctx.rows(
        "SELECT l.on_hand, l.reserved FROM stock_levels l"
        " JOIN locations c ON c.id = l.location_id JOIN variants v ON v.id = l.variant_id"
        " WHERE c.code = %s AND v.sku = %s AND l.grade = 'A'",
        (location, sku),
    )
    return (int(row[0][0]), int(row[0][1])) if row else (0, 0)


def run(ctx: Context) -> dict[str, Any]:
    s = ctx.settings
    brand = ctx.flagship
    supplier_id, supplier, admin_email = _busiest_supplier(ctx, brand)
    buyers = buyers_of(ctx, brand, supplier_org_id=supplier_id)
    ctx.sign_in(buyers)
    sku, price, lot = _choose_sku(ctx, brand, buyers[0].token)
    # Only buyers whose own terms authorize the SKU take part.
    allowed = []
    minimum = _min_order_cents(ctx, brand)
    for buyer in buyers:
        reply = ctx.api.get(f"/api/v1/prices/{sku}?brand={brand}", token=buyer.token)
        if reply.status == 200 and reply.body.get("authorized"):
            allowed.append(buyer)
            if minimum and reply.body.get("price_cents"):  # one lot for all: the largest
                lot = max(lot, math.ceil(minimum / reply.body["price_cents"]))
    buyers = allowed
    clients = s["hot_clients"]
    units = s["hot_units"] * lot
    location = ctx.value(
        "SELECT code FROM locations WHERE org_id = %s AND is_default", (supplier_id,)
    )
    supplier_token = ctx.token(admin_email, supplier)
    on_hand, reserved = _level(ctx, location, sku)
    delta = units - (on_hand - reserved)
    if delta:
        reply = ctx.api.post(
            "/api/v1/stock/adjustments",
            {
                "location": location,
                "sku": sku,
                "grade": "A",
                "delta": delta,
                "reason": "adjustment",
                "note": f"bench hot SKU: {units} available",
            },
            token=supplier_token,
        )
        if reply.status not in (200, 201):
            raise RuntimeError(f"stock adjustment: {reply.status} {reply.body!r:.300}")
    before = _level(ctx, location, sku)
    placed = Placed()
    sold = [0]
    lock = threading.Lock()
    done = [False] * clients

    def step(n: int, _i: int) -> tuple[float, str, bool]:
        buyer = buyers[n % len(buyers)]
        reply = ctx.api.post(
            "/api/v1/orders",
            {"brand": brand, "lines": [{"sku": sku, "qty": lot}], "po_number": "bench-hot"},
            token=buyer.token,
            headers={"Idempotency-Key": f"bench-hot-{uuid.uuid4()}"},
        )
        if reply.status == 201:
            placed.add(buyer.token, reply.body["number"])
            with lock:
                sold[0] += sum(line["qty"] for line in reply.body["lines"])
            return reply.seconds, "201", True
        code = reply.error_code
        if reply.status == 422:
            done[n] = True  # sold out (or refused for another reason, counted below): it stops
        return reply.seconds, f"{reply.status} {code}".strip(), False

    stop_after = 600.0 if ctx.scale == "full" else 120.0
    try:
        result = run_load(clients, step, seconds=stop_after, stop=lambda n: done[n])
        after = _level(ctx, location, sku)
        ledger_ok = stack.ledger_check(ctx.url, stack.LOGS / "inventory-check-hot-sku.log")
    finally:
        cleanup = cancel_all(ctx.api, placed)
    outcomes = dict(result.outcomes)
    other_errors = sum(
        count
        for label, count in outcomes.items()
        if not label.startswith("201") and label != "422 insufficient_stock"
    )
    oversold = max(0, sold[0] - units)
    reserved_by_run = after[1] - before[1]
    orders = outcomes.get("201", 0)
    per_s = orders / result.figures["elapsed_s"] if result.figures["elapsed_s"] else 0.0
    lines = [
        f"{clients} clients over {len(buyers)} buyers of {supplier} ({brand}), SKU {sku}, "
        f"{units} units, {lot} per order",
        f"sold {sold[0]} of {units}, oversold {oversold}, reserved by the run {reserved_by_run}, "
        f"available after {after[0] - after[1]}",
        f"{orders} orders in {result.figures['elapsed_s']:.1f} s = {per_s:.1f} orders/s, "
        f"p50 {result.figures['p50_ms']:.1f} p99 {result.figures['p99_ms']:.1f} ms",
        f"outcomes {outcomes}; errors other than insufficient_stock: {other_errors}",
        f"flask inventory check: {'clean' if ledger_ok else 'FAILED'}; cleanup {cleanup}",
    ]
    figures = {
        "units_sold": headline(sold[0], "units", f"== {units}", sold[0] == units),
        "oversold": headline(oversold, "units", "== 0", oversold == 0),
        "other_errors": headline(other_errors, "responses", "== 0", other_errors == 0),
        "orders_per_s": headline(round(per_s, 2), "1/s"),
        "ledger_check_clean": headline(ledger_ok, "bool", "== true", ledger_ok),
    }
    result_json = {
        "figures": figures,
        "units_available": units,
        "units_sold": sold[0],
        "oversold": oversold,
        "level_before": {"on_hand": before[0], "reserved": before[1]},
        "level_after": {"on_hand": after[0], "reserved": after[1]},
        "reserved_by_run": reserved_by_run,
        "orders": orders,
        "orders_per_s": round(per_s, 2),
        "latency": result.figures,
        "outcomes": outcomes,
        "other_errors": other_errors,
        "ledger_check_clean": ledger_ok,
        "cleanup": cleanup,
        "setup": {
            "brand": brand,
            "supplier": supplier,
            "location": location,
            "sku": sku,
            "price_cents": price,
            "units_per_order": lot,
            "clients": clients,
            "distinct_buyers": len(buyers),
            "shared_logins": len(buyers) < clients,
            "adjustment_delta": delta,
        },
        "notes": [
            "Each client orders one lot (MOQ 1, multiple 1; more units only if one unit is "
            "below the minimum order amount) until it is refused with insufficient_stock.",
            "With fewer distinct buyers than clients, clients share buyer logins (round robin).",
            "The orders are cancelled afterwards through the API, releasing the units; the "
            "next run adjusts the level back to N available if needed.",
        ],
    }
    print_figures("hot_sku", lines)
    write_result(ctx, "hot_sku", result_json)
    return result_json
