"""The storefront part of the scale network (`flask seed scale`), for the shop benchmarks: each
brand's base price list gains the three storefronts' consumer prices, every store and brand
gets coordinates, and every store selling a brand sells it online (pickup and delivery, one unit
of safety stock), beside the brand's warehouse (delivery only).

Written as set-based SQL over what the scale seeder loaded, so it runs inside the seeder's
transaction (after the sequences are moved past the loaded ids) and also, once, on a bench
database seeded before the storefronts existed (`add_storefronts` does nothing the second time).
`execute(sql, params)` is a psycopg cursor's: `BulkLoader.execute` or a connection's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from portal.policy.models import Section

Execute = Callable[[str, Sequence[Any] | None], Any]

# The consumer prices of the demo's ACME (portal/seed/catalog.py RETAIL), as percentages of MSRP:
# official full price, outlet 60 % (70 % on the brand's first category), employee 40 %.
OFFICIAL_BP, OUTLET_BP, OUTLET_FIRST_CATEGORY_BP, EMPLOYEE_BP = 10_000, 6_000, 7_000, 4_000
SAFETY_STOCK = 1
# Stores are spread around these cities (lat, lon), up to about 25 km from the centre.
CITIES = (
    (39.9042, 116.4074), (31.2304, 121.4737), (23.1291, 113.2644), (22.5431, 114.0579),
    (30.2741, 120.1551), (30.5728, 104.0668), (29.5630, 106.5516), (34.3416, 108.9398),
    (32.0603, 118.7969), (30.5928, 114.3055), (36.0671, 120.3826), (38.0428, 114.5149),
    (28.2282, 112.9388), (26.0745, 119.2965), (41.8057, 123.4315), (45.8038, 126.5349),
)  # fmt: skip
JITTER_DEG = 0.45


def has_storefronts(execute: Execute) -> bool:
    rows = execute("SELECT EXISTS (SELECT 1 FROM online_locations)", None)
    return bool(rows and rows[0][0])


def add_storefronts(execute: Execute) -> dict[str, int]:
    """Consumer prices, coordinates and online locations for every brand; rows per kind. Does
    nothing where online locations exist already."""
    if has_storefronts(execute):
        return {}
    return {
        "retail_rules": _retail_rules(execute),
        "coordinates": _coordinates(execute),
        "online_locations": _online_locations(execute),
    }


def _count(rows: Any) -> int:
    return int(rows[0][0]) if rows else 0


def _retail_rules(execute: Execute) -> int:
    """Rules on each brand's base version (the one addressed to everyone), as a price list
    published with them: brand-wide percentages, and the outlet's dearer first category."""
    base = (
        "SELECT v.id AS version_id, v.brand_id FROM policy_versions v"
        " JOIN policies p ON p.id = v.policy_id"
        " WHERE p.code = 'BASE' AND v.audience_kind = 'all'"
        " AND v.number = (SELECT max(number) FROM policy_versions w WHERE w.policy_id = p.id)"
    )
    total = 0
    for section, bp in (
        (Section.OFFICIAL, OFFICIAL_BP),
        (Section.OUTLET, OUTLET_BP),
        (Section.EMPLOYEE, EMPLOYEE_BP),
    ):
        total += _count(
            execute(
                "WITH added AS (INSERT INTO policy_rules (version_id, brand_id, section, scope,"
                " percent_bp) SELECT b.version_id, b.brand_id, %s, 'all', %s"
                f" FROM ({base}) b RETURNING 1) SELECT count(*) FROM added",
                [section.value, bp],
            )
        )
    total += _count(
        execute(
            "WITH added AS (INSERT INTO policy_rules (version_id, brand_id, section, scope,"
            " category_id, percent_bp) SELECT b.version_id, b.brand_id, %s, 'category',"
            " (SELECT min(c.id) FROM categories c WHERE c.brand_id = b.brand_id), %s"
            f" FROM ({base}) b RETURNING 1) SELECT count(*) FROM added",
            [Section.OUTLET.value, OUTLET_FIRST_CATEGORY_BP],
        )
    )
    return total


def _coordinates(execute: Execute) -> int:
    """Brands and stores without a point get one near a city, chosen and scattered by their id
    (the same network gets the same points)."""
    centres = ", ".join(f"({i}, {lat}, {lon})" for i, (lat, lon) in enumerate(CITIES))
    return _count(
        execute(
            "WITH placed AS (UPDATE organizations o"
            " SET latitude = c.lat + (mod(o.id * 7919, 1000) / 1000.0 - 0.5) * %s,"
            " longitude = c.lon + (mod(o.id * 104729, 1000) / 1000.0 - 0.5) * %s"
            f" FROM (VALUES {centres}) AS c(n, lat, lon)"
            " WHERE c.n = mod(o.id, %s) AND o.kind IN ('brand', 'store')"
            " AND o.latitude IS NULL RETURNING 1) SELECT count(*) FROM placed",
            [JITTER_DEG, JITTER_DEG, len(CITIES)],
        )
    )


def _online_locations(execute: Execute) -> int:
    """Each store's default location for every brand it buys (pickup and delivery, one unit kept
    back), and each brand's own warehouse (delivery, nothing kept back)."""
    stores = _count(
        execute(
            "WITH added AS (INSERT INTO online_locations (brand_id, location_id, pickup,"
            " delivery, safety_stock, is_enabled, created_at, updated_at)"
            " SELECT DISTINCT l.brand_id, c.id, true, true, %s, true, now(), now()"
            " FROM channel_links l JOIN organizations o ON o.id = l.buyer_org_id"
            " JOIN locations c ON c.org_id = o.id AND c.is_default"
            " WHERE o.kind = 'store' ON CONFLICT DO NOTHING RETURNING 1)"
            " SELECT count(*) FROM added",
            [SAFETY_STOCK],
        )
    )
    warehouses = _count(
        execute(
            "WITH added AS (INSERT INTO online_locations (brand_id, location_id, pickup,"
            " delivery, safety_stock, is_enabled, created_at, updated_at)"
            " SELECT o.id, c.id, false, true, 0, true, now(), now()"
            " FROM organizations o JOIN locations c ON c.org_id = o.id AND c.is_default"
            " WHERE o.kind = 'brand' ON CONFLICT DO NOTHING RETURNING 1)"
            " SELECT count(*) FROM added",
            None,
        )
    )
    return stores + warehouses
