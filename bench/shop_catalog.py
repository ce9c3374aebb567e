"""8. Storefront product list: the official storefront's page of products, as the mini-program
reads it (`GET /api/v1/shop/<brand>/catalog`) and as the phone browser does (the HTML home page
`/shop/<brand>/`), first pages and deeper keyset pages, some filtered by category; anonymous,
as most shoppers arrive."""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import urlencode

from bench.client import run_load
from bench.common import Context, headline, print_figures, write_result
from bench.shop import brand_id, ensure_storefronts

GOAL_P95_MS = 30.0
CURSOR_PAGES = 20  # keyset cursors collected (untimed) for the deeper pages


def _cursors(ctx: Context, code: str, category: str | None) -> list[int | None]:
    """The `after` of the first pages (None is the first page), walked once untimed."""
    found: list[int | None] = [None]
    after = None
    for _ in range(CURSOR_PAGES):
        params: dict[str, Any] = {"tier": "official"}
        if category:
            params["category"] = category
        if after:
            params["after"] = after
        reply = ctx.api.get(f"/api/v1/shop/{code}/catalog?{urlencode(params)}")
        if reply.status != 200:
            raise RuntimeError(f"shop catalog: {reply.status} {reply.body!r:.300}")
        after = reply.body["next_after"]
        if not after:
            break
        found.append(after)
    return found


def measure(
    ctx: Context, code: str, kind: str, clients: int, seconds: float, pages: list[tuple]
) -> dict[str, Any]:
    rngs = [random.Random(31 * clients + n + len(kind)) for n in range(clients)]
    base = f"/api/v1/shop/{code}/catalog" if kind == "api" else f"/shop/{code}/"

    def step(n: int, _i: int) -> tuple[float, str, bool]:
        category, after = rngs[n].choice(pages)
        params: dict[str, Any] = {"tier": "official"} if kind == "api" else {}
        if category:
            params["category"] = category
        if after:
            params["after"] = after
        path = f"{base}?{urlencode(params)}" if params else base
        status, _headers, _body, seconds_taken = ctx.api.raw("GET", path)
        return seconds_taken, str(status), status == 200

    result = run_load(clients, step, seconds=seconds)
    return {**result.figures, "clients": clients, "statuses": dict(result.outcomes)}


def run(ctx: Context) -> dict[str, Any]:
    s = ctx.settings
    code = ctx.flagship
    added = ensure_storefronts(ctx)
    brand = brand_id(ctx, code)
    category = ctx.value(
        "SELECT code FROM categories WHERE brand_id = %s ORDER BY id LIMIT 1", (brand,)
    )
    pages = [(None, a) for a in _cursors(ctx, code, None)]
    pages += [(category, a) for a in _cursors(ctx, code, category)[:5]]
    runs: dict[str, Any] = {}
    lines = [f"official storefront of {code}: {len(pages)} pages (first, deeper, one category)"]
    for kind in ("api", "html"):
        for clients in s["shop_catalog_clients"]:
            figures = measure(ctx, code, kind, clients, s["catalog_seconds"], pages)
            runs[f"{kind}_c{clients}"] = figures
            lines.append(
                f"{kind:4} x{clients:<2} {figures['per_s']:8.1f} req/s"
                f"  p50 {figures['p50_ms']:7.1f}"
                f"  p95 {figures['p95_ms']:7.1f}  p99 {figures['p99_ms']:7.1f} ms"
                f"  statuses {figures['statuses']}"
            )
    top = s["shop_catalog_clients"][-1]
    p95_api, p95_html = runs["api_c1"]["p95_ms"], runs["html_c1"]["p95_ms"]
    result = {
        "figures": {
            "api_p95_ms": headline(p95_api, "ms", f"<= {GOAL_P95_MS}", p95_api <= GOAL_P95_MS),
            "html_p95_ms": headline(p95_html, "ms", f"<= {GOAL_P95_MS}", p95_html <= GOAL_P95_MS),
            "api_req_per_s": headline(runs[f"api_c{top}"]["per_s"], "1/s"),
            "html_req_per_s": headline(runs[f"html_c{top}"]["per_s"], "1/s"),
        },
        "runs": runs,
        "setup": {
            "brand": code,
            "tier": "official",
            "pages": len(pages),
            "category": category,
            "seconds_per_run": s["catalog_seconds"],
            "storefront_data_added": added,
        },
        "notes": [
            "Latency goals are read at 1 client (p95); the higher client count shows req/s on "
            "2 shared cores. Requests are anonymous (the official storefront is public).",
            "A page is 24 products priced for consumers by the brand's policy; pages are drawn "
            "from the first 20 keyset pages and 5 pages of one category.",
        ],
    }
    print_figures("shop_catalog", lines)
    write_result(ctx, "shop_catalog", result)
    return result
