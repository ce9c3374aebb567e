"""What the three shop benchmarks share: the storefront data of the bench database (added once to
a database seeded before the storefronts existed) and bench consumers with API tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from bench.common import Context
from bench.stack import connect

# Bench consumers' phone numbers: +86 139 then eight digits (a range nothing else uses).
PHONE_PREFIX = "+86139"
TOKEN_PREFIX = "cs_"  # portal/storefront/auth.py: a consumer token starts so


@dataclass
class Shopper:
    consumer_id: int
    token: str


def ensure_storefronts(ctx: Context) -> dict[str, int]:
    """Consumer prices, store coordinates and online locations (portal/seed/scale_storefront.py):
    `flask seed scale` writes them; a bench database seeded before that gets them here, once."""
    from portal.seed.scale_storefront import add_storefronts

    with connect(ctx.url) as conn:
        added = add_storefronts(lambda sql, params: conn.execute(sql, params).fetchall())
        conn.commit()
    return added


def brand_id(ctx: Context, code: str) -> int:
    return int(ctx.value("SELECT id FROM organizations WHERE code = %s", (code,)))


def shoppers(ctx: Context, brand: int, count: int) -> list[Shopper]:
    """`count` consumers of the brand (made once, kept for the next run) and a fresh API token
    each, written as the sign-in writes them (a session row holding the token's hash)."""
    phones = [f"{PHONE_PREFIX}{n:08d}" for n in range(1, count + 1)]
    with connect(ctx.url) as conn:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO consumers (brand_id, phone, name, locale, status, created_at,"
                " updated_at) VALUES (%s, %s, %s, 'zh_Hans_CN', 'active', now(), now())"
                " ON CONFLICT (brand_id, phone) DO NOTHING",
                [(brand, phone, f"Bench shopper {i}") for i, phone in enumerate(phones, 1)],
            )
        ids = dict(
            conn.execute(
                "SELECT phone, id FROM consumers WHERE brand_id = %s AND phone = ANY(%s)",
                (brand, phones),
            ).fetchall()
        )
        found: list[Shopper] = []
        rows: list[tuple[Any, ...]] = []
        for phone in phones:
            token = TOKEN_PREFIX + secrets.token_urlsafe(32)
            found.append(Shopper(int(ids[phone]), token))
            rows.append((brand, ids[phone], hashlib.sha256(token.encode()).hexdigest()))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO consumer_sessions (brand_id, consumer_id, secret_hash, kind,"
                " created_at, last_seen_at, expires_at)"
                " VALUES (%s, %s, %s, 'api', now(), now(), now() + interval '1 day')",
                rows,
            )
        conn.commit()
    return found
