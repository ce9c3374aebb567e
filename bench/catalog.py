"""1. Catalog: the role-scoped catalog page (50 products with resolved prices and availability)
and a search, as random distributors and stores; then the same page on a network of 300 stores
beside 3,000, to show price resolution does not grow with links x SKUs."""

from __future__ import annotations

import math
import random
from typing import Any
from urllib.parse import urlencode

from bench.client import Api, run_load
from bench.common import Buyer, Context, buyers_of, headline, print_figures, write_result

PER_PAGE = 50
GOAL_P95_MS = 30.0


def _search_terms(ctx: Context, brand: str) -> list[str]:
    """Words that occur in the brand's product names (what a buyer would type)."""
    rows = ctx.rows(
        "SELECT p.name FROM products p JOIN organizations b ON b.id = p.brand_id"
        " WHERE b.code = %s AND p.status = 'active' ORDER BY p.id LIMIT 400",
        (brand,),
    )
    words = sorted(
        {w.lower() for (name,) in rows for w in name.split() if len(w) >= 4 and w.isalpha()}
    )
    return words[:40] or ["a"]


def _pages(api: Api, buyers: list[Buyer], brand: str) -> dict[str, int]:
    """Pages of 50 each buyer's catalog has (a first, untimed look also warms the server)."""
    pages = {}
    for buyer in buyers:
        reply = api.get(f"/api/v1/catalog?brand={brand}&per_page={PER_PAGE}", token=buyer.token)
        if reply.status != 200:
            raise RuntimeError(f"catalog of {buyer.org}: {reply.status} {reply.body!r:.300}")
        pages[buyer.org] = max(1, math.ceil(reply.body["total"] / PER_PAGE))
    return pages


def measure(
    api: Api,
    buyers: list[Buyer],
    brand: str,
    *,
    kind: str,
    clients: int,
    seconds: float,
    pages: dict[str, int],
    terms: list[str],
    seed: int,
) -> dict[str, Any]:
    rngs = [random.Random(seed + n) for n in range(clients)]

    def step(n: int, _i: int) -> tuple[float, str, bool]:
        rng = rngs[n]
        buyer = rng.choice(buyers)
        params: dict[str, Any] = {"brand": brand, "per_page": PER_PAGE}
        if kind == "search":
            params["q"] = rng.choice(terms)
        else:
            params["page"] = rng.randint(1, pages[buyer.org])
        reply = api.get(f"/api/v1/catalog?{urlencode(params)}", token=buyer.token)
        ok = reply.status == 200
        return reply.seconds, str(reply.status), ok

    result = run_load(clients, step, seconds=seconds)
    return {**result.figures, "clients": clients, "statuses": dict(result.outcomes)}


def _sample(ctx: Context, brand: str, count: int, rng: random.Random) -> list[Buyer]:
    everyone = buyers_of(ctx, brand)
    distributors = [b for b in everyone if b.kind == "distributor"]
    stores = [b for b in everyone if b.kind == "store"]
    half = max(1, count // 2)
    chosen = rng.sample(distributors, min(half, len(distributors)))
    chosen += rng.sample(stores, min(count - len(chosen), len(stores)))
    return chosen


def run(ctx: Context, *, other: Context | None = None) -> dict[str, Any]:
    s = ctx.settings
    brand = ctx.flagship
    buyers = _sample(ctx, brand, s["catalog_buyers"], ctx.rng)
    ctx.sign_in(buyers)
    pages = _pages(ctx.api, buyers, brand)
    terms = _search_terms(ctx, brand)
    runs: dict[str, Any] = {}
    lines = [f"{len(buyers)} buyers of {brand} (distributors and stores), {PER_PAGE} per page"]
    for kind in ("page", "search"):
        for clients in s["catalog_clients"]:
            figures = measure(
                ctx.api,
                buyers,
                brand,
                kind=kind,
                clients=clients,
                seconds=s["catalog_seconds"],
                pages=pages,
                terms=terms,
                seed=7 + clients,
            )
            runs[f"{kind}_c{clients}"] = figures
            lines.append(
                f"{kind:6} x{clients:<2} {figures['per_s']:8.1f} req/s"
                f"  p50 {figures['p50_ms']:7.1f}"
                f"  p95 {figures['p95_ms']:7.1f}  p99 {figures['p99_ms']:7.1f} ms"
                f"  statuses {figures['statuses']}"
            )
    stores = ctx.value("SELECT count(*) FROM organizations WHERE kind = 'store'")
    resolution: dict[str, Any] = {"full": {"stores": stores, **runs["page_c1"]}}
    if other is not None:
        small = _sample(other, brand, s["catalog_buyers"], other.rng)
        other.sign_in(small)
        small_pages = _pages(other.api, small, brand)
        figures = measure(
            other.api,
            small,
            brand,
            kind="page",
            clients=1,
            seconds=s["catalog_seconds"],
            pages=small_pages,
            terms=terms,
            seed=99,
        )
        small_stores = other.value("SELECT count(*) FROM organizations WHERE kind = 'store'")
        resolution["small"] = {"stores": small_stores, **figures}
        ratio = runs["page_c1"]["p50_ms"] / figures["p50_ms"] if figures["p50_ms"] else None
        resolution["p50_ratio_full_to_small"] = round(ratio, 2) if ratio else None
        lines.append(
            f"page x1 at {small_stores} stores: p50 {figures['p50_ms']:.1f} ms vs "
            f"{runs['page_c1']['p50_ms']:.1f} ms at {stores} stores (ratio {ratio:.2f})"
        )
    else:
        lines.append("price resolution at 300 stores: skipped (--no-small-network)")
    p95_page = runs["page_c1"]["p95_ms"]
    p95_search = runs["search_c1"]["p95_ms"]
    result = {
        "figures": {
            "page_p95_ms": headline(p95_page, "ms", f"<= {GOAL_P95_MS}", p95_page <= GOAL_P95_MS),
            "search_p95_ms": headline(
                p95_search, "ms", f"<= {GOAL_P95_MS}", p95_search <= GOAL_P95_MS
            ),
            "page_req_per_s": headline(runs[f"page_c{s['catalog_clients'][-1]}"]["per_s"], "1/s"),
            "search_req_per_s": headline(
                runs[f"search_c{s['catalog_clients'][-1]}"]["per_s"], "1/s"
            ),
        },
        "runs": runs,
        "price_resolution_by_network_size": resolution,
        "setup": {
            "brand": brand,
            "buyers": [b.org for b in buyers],
            "per_page": PER_PAGE,
            "search_terms": terms[:10],
            "seconds_per_run": s["catalog_seconds"],
        },
        "notes": [
            "Latency goals are read at 1 client (p95); the higher client count shows req/s on "
            "2 shared cores.",
            "Pages are random within each buyer's own catalog; search terms are words of the "
            "brand's product names.",
        ],
    }
    print_figures("catalog", lines)
    write_result(ctx, "catalog", result)
    return result
