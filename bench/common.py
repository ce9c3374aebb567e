"""What every benchmark shares: the run's context, the data found in the bench database, sign-ins
and the shape of a result file."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.client import Api
from bench.stack import RESULTS, Stack, connect

# Per preset: how long and how much. Smoke proves the machinery, in seconds; full measures.
SETTINGS: dict[str, dict[str, Any]] = {
    "full": {
        "catalog_seconds": 15,
        "catalog_buyers": 40,
        "catalog_clients": (1, 8),
        "order_seconds": 20,
        "order_clients": (1, 8, 32),
        "order_buyers": 64,
        "floor_seconds": 20,
        "hot_units": 200,
        "hot_clients": 64,
        "import_products": 40_000,
        "import_sizes": 15,
        "job_timeout": 1800,
        "flash_clients": 32,
        "shop_catalog_clients": (1, 8),
        "routing_orders": 500,
        "commission_stores": 3000,
        "commission_entries": 1_000_000,
    },
    "smoke": {
        "catalog_seconds": 2,
        "catalog_buyers": 6,
        "catalog_clients": (1, 4),
        "order_seconds": 2,
        "order_clients": (1, 8, 32),
        "order_buyers": 16,
        "floor_seconds": 2,
        "hot_units": 40,
        "hot_clients": 64,
        "import_products": 300,
        "import_sizes": 10,
        "job_timeout": 300,
        "flash_clients": 32,
        "shop_catalog_clients": (1, 4),
        "routing_orders": 50,
        "commission_stores": 20,
        "commission_entries": 2_000,
    },
}

BUYER_ROLES = ("distributor_admin", "store_owner")


@dataclass
class Buyer:
    org: str
    kind: str
    email: str
    link_id: int
    supplier_org_id: int
    supplier: str
    token: str = ""


@dataclass
class Context:
    scale: str
    url: str
    base: str
    api: Api
    stack: Stack
    password: str
    command: str
    rng: random.Random = field(default_factory=lambda: random.Random(20240611))
    flagship: str = ""
    _tokens: dict[tuple[str, str], str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def settings(self) -> dict[str, Any]:
        return SETTINGS[self.scale]

    def rows(self, query: str, params: Any = None) -> list[tuple]:
        with connect(self.url) as conn:
            return conn.execute(query, params).fetchall()

    def value(self, query: str, params: Any = None) -> Any:
        rows = self.rows(query, params)
        return rows[0][0] if rows else None

    def execute(self, query: str, params: Any = None) -> int:
        with connect(self.url) as conn:
            cur = conn.execute(query, params)
            conn.commit()
            return cur.rowcount

    def token(self, email: str, org: str, api: Api | None = None) -> str:
        key = (email, org)
        with self._lock:
            if key in self._tokens:
                return self._tokens[key]
        reply = (api or self.api).post(
            "/api/v1/auth/token", {"email": email, "password": self.password, "org": org}
        )
        if reply.status != 200:
            raise RuntimeError(f"sign-in of {email} ({org}): {reply.status} {reply.body!r:.300}")
        with self._lock:
            self._tokens[key] = reply.body["token"]
        return reply.body["token"]

    def sign_in(self, buyers: list[Buyer], api: Api | None = None) -> None:
        """Tokens for many buyers, a few at a time (each sign-in hashes a password)."""

        def one(buyer: Buyer) -> None:
            buyer.token = self.token(buyer.email, buyer.org, api)

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(one, buyers))


def find_flagship(ctx: Context) -> str:
    """B01 in a scale database; otherwise the brand with the most buyers (a demo database)."""
    code = ctx.value(
        "SELECT b.code FROM organizations b JOIN channel_links l ON l.brand_id = b.id"
        " WHERE b.kind = 'brand' GROUP BY b.code"
        " ORDER BY (b.code = 'B01') DESC, count(*) DESC, b.code LIMIT 1"
    )
    if not code:
        raise RuntimeError("no brand with buyers in the bench database")
    return code


def buyers_of(ctx: Context, brand: str, *, supplier_org_id: int | None = None) -> list[Buyer]:
    """Active buyer orgs of a brand, each with one user that may order (admin or owner)."""
    query = """
        SELECT o.code, o.kind, u.email, l.id, l.supplier_org_id, s.code
        FROM channel_links l
        JOIN organizations b ON b.id = l.brand_id
        JOIN organizations o ON o.id = l.buyer_org_id
        JOIN organizations s ON s.id = l.supplier_org_id
        JOIN LATERAL (
            SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id
            WHERE m.org_id = o.id AND m.role = ANY(%(roles)s)
            ORDER BY m.id LIMIT 1
        ) u ON true
        WHERE b.code = %(brand)s AND o.status = 'active'
          AND (%(supplier)s::int IS NULL OR l.supplier_org_id = %(supplier)s::int)
        ORDER BY o.code
    """
    params = {"roles": list(BUYER_ROLES), "brand": brand, "supplier": supplier_org_id}
    return [Buyer(*row) for row in ctx.rows(query, params)]


def headline(value: Any, unit: str, goal: str | None = None, met: bool | None = None) -> dict:
    """A figure with its goal beside it (`met` is left out where there is no goal)."""
    entry: dict[str, Any] = {"value": value, "unit": unit}
    if goal is not None:
        entry["goal"] = goal
        entry["met"] = met
    return entry


def write_result(ctx: Context, name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "scale": ctx.scale, "command": ctx.command, **result}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


def wait_for(
    check: Callable[[], Any], *, timeout: float, interval: float = 0.05, what: str = ""
) -> tuple[Any, float]:
    """Poll `check` until it returns something truthy; (value, seconds waited)."""
    started = time.perf_counter()
    while True:
        value = check()
        if value:
            return value, time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"{what or 'condition'} not reached in {timeout:.0f} s")
        time.sleep(interval)


def wait_job(
    ctx: Context, job_id: str, token: str, *, timeout: float, interval: float = 0.1
) -> tuple[dict, float]:
    """Follow /api/v1/jobs/<id> until the run is finished or failed."""
    from urllib.parse import quote

    path = f"/api/v1/jobs/{quote(job_id, safe='')}"

    def done() -> dict | None:
        reply = ctx.api.get(path, token=token)
        if reply.status != 200:
            raise RuntimeError(f"GET {path}: {reply.status} {reply.body!r:.300}")
        return reply.body if reply.body.get("status") in ("finished", "failed") else None

    return wait_for(done, timeout=timeout, interval=interval, what=f"job {job_id}")


def print_figures(title: str, lines: list[str]) -> None:
    print(f"\n== {title}")
    for line in lines:
        print(f"   {line}")
