"""`flask seed scale`: the network DESIGN.md §11 designs for, generated on PostgreSQL for the
benchmarks in bench/.

Every row comes from one seeded random generator, so two runs with the same sizes and seed make
the same network. Rows go in with COPY (portal.seed.bulk), in one transaction: the full scale
(24 brands, 40,000 products, 600,000 SKUs, 300 distributors, 3,000 stores, about 6,000,000
stock levels and 90 days of orders and sales) loads in minutes, not hours. The storefront
part (consumer prices, store coordinates, online locations) is `scale_storefront.py`, run last.

What the services guarantee, the generator keeps by construction: every stock level is the sum of
its ledger moves (`flask inventory check` passes), an order's reserved units are held at its
supplier until it ships, each channel link has its account and the account's `committed_cents`
is its open orders' total, and every published policy version has one notification per org it
reaches.

Ids are assigned here, not by sequences (orgs, their locations, users and memberships share an id
per org; variant ids follow from product ids), and the sequences are moved past them at the end.

Kept whole: the generator keeps the services' invariants by construction across tables (levels
equal to their moves, reservations matching open orders, accounts matching their orders), and
those are checked by reading the one file.
"""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from werkzeug.security import generate_password_hash

from portal.extensions import db
from portal.ordering.models import OrderStatus
from portal.ordering.transitions import NEW, TABLE, Action, Move
from portal.seed.bulk import BulkLoader
from portal.seed.scale_storefront import add_storefronts

SCALE_PASSWORD = "scale-pass-1"
CARRIER = "SF Express"
EMAIL_DOMAIN = "scale.test"


@dataclass(frozen=True)
class Sizes:
    brands: int = 24
    products: int = 40_000
    colors: int = 3
    sizes: int = 5
    distributors: int = 300
    stores: int = 3_000
    days: int = 90
    seed: int = 20261123


PRESETS = {
    "full": Sizes(),
    "smoke": Sizes(brands=2, products=200, distributors=6, stores=60, days=28),
}

# The shape of the network, the same at every size.
CATEGORIES = 8
DISTRIBUTOR_RANGE = 0.16  # share of a brand's products a distributor stocks
STORE_PRODUCTS = 35  # products of each brand a store stocks
DIRECT_EVERY = 10  # every tenth store buys from brand HQ, the others from a distributor
SALES_PER_DAY = 5  # sale moves per store, brand and day
STORE_ORDER_EVERY, STORE_ORDER_LINES = 14, 10  # days between a store's orders of one brand
DIST_ORDER_EVERY, DIST_ORDER_LINES = 7, 30
LEVELS = ("A", "B", "C")
LEVEL_WEIGHTS = (2, 4, 4)
REGIONS = ("north", "south", "east", "west", "central")
LEVEL_PRICE_BP = {"A": 4800, "B": 5200, "C": 5500}  # what each level pays, share of MSRP
SEASONS = ("2025SS", "2025AW", "2026SS", "2026AW")
# Each brand's consumer programme: tier moves a season after launch, or on slow sell-through.
SCALE_MEMBER_TERMS = {
    "tier_moves": {
        "outlet_after_weeks": 26,
        "sell_through_below_bp": 2000,
        "sell_through_after_weeks": 10,
        "employee_after_weeks": 26,
    }
}
COLORS = ("BLK", "WHT", "NVY", "GRY", "RED", "OLV", "SND", "BLU")
SIZES = ("XS", "S", "M", "L", "XL", "XXL", "3XL", "4XL")
THEMES = (
    (
        "Apparel",
        ("TOPS", "BOTTOMS", "OUTER", "KNIT", "DRESS", "SHOES", "BAGS", "ACCS"),
        ("linen shirt", "denim jacket", "wool coat", "knit sweater", "cotton tee", "chino"),
    ),
    (
        "Beauty",
        ("SKIN", "MAKEUP", "HAIR", "BODY", "SCENT", "SUN", "TOOLS", "SETS"),
        ("serum", "cleanser", "lipstick", "shampoo", "body lotion", "eau de parfum"),
    ),
    (
        "Electronics",
        ("AUDIO", "PHONE", "WEAR", "HOME", "POWER", "CABLE", "CASE", "ACCS"),
        ("earbuds", "speaker", "smartwatch", "power bank", "charger", "phone case"),
    ),
    (
        "Home",
        ("BED", "BATH", "KITCHEN", "TABLE", "DECOR", "LIGHT", "STORE", "OUTDOOR"),
        ("duvet cover", "bath towel", "chef knife", "table lamp", "storage box", "vase"),
    ),
)
ADJECTIVES = ("classic", "light", "urban", "soft", "pure", "bold", "daily", "studio")


class ScaleRefused(Exception):
    """The target database may not be overwritten."""


def refusal(database_url: str, portal_env: str, *, force: bool) -> str | None:
    """Why `flask seed scale` must not run here, or None."""
    if portal_env == "production":
        return "scale data is refused when PORTAL_ENV=production"
    if not database_url.startswith("postgresql"):
        return "scale data needs PostgreSQL (set DATABASE_URL); it loads with COPY"
    if force:
        return None
    foreign = db.session.execute(
        text(
            "SELECT (SELECT count(*) FROM users WHERE email NOT LIKE :domain)"
            " + (SELECT count(*) FROM organizations"
            "    WHERE code !~ '^(B[0-9]{2}|D[0-9]{4}|S[0-9]{5})$')"
        ),
        {"domain": f"%@{EMAIL_DOMAIN}"},
    ).scalar_one()
    db.session.rollback()  # the load's TRUNCATE must not wait for this read's locks
    if foreign:
        return (
            f"the database holds {foreign} users or organizations that `flask seed scale` did "
            "not make; --force erases every table and loads the scale data anyway"
        )
    return None


def _ean13(number: int) -> str:
    first12 = f"69{number:010d}"
    odd = sum(int(d) for d in first12[0::2])
    even = sum(int(d) for d in first12[1::2])
    return first12 + str((10 - (odd + 3 * even) % 10) % 10)


@dataclass
class Link:
    id: int
    brand: int
    buyer: int  # org id, which is also its default location id
    supplier: int
    level: str
    region: str
    path: str


@dataclass
class Ids:
    """Running ids of the tables the history writes."""

    values: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def next(self, table: str) -> int:
        self.values[table] += 1
        return self.values[table]


COLUMNS: dict[str, tuple[str, ...]] = {
    "stock_moves": (
        "id", "brand_id", "location_id", "variant_id", "grade", "on_hand_delta",
        "reserved_delta", "reason", "reference", "note", "created_at", "updated_at",
        "occurred_at",
    ),
    "stock_levels": ("id", "brand_id", "location_id", "variant_id", "grade", "on_hand", "reserved"),
    "orders": (
        "id", "number", "brand_id", "buyer_org_id", "supplier_org_id", "link_id", "kind",
        "status", "currency", "total_cents", "total_qty", "policy_version_id",
        "source_location_id", "destination_location_id", "po_number", "note", "hold_reason",
        "placed_by_user_id", "submitted_at", "confirmed_at", "closed_at", "created_at",
        "updated_at",
    ),
    "order_lines": (
        "id", "order_id", "brand_id", "variant_id", "sku", "qty", "unit_price_cents",
        "msrp_cents", "line_total_cents", "policy_version_id", "shipped_qty", "received_qty",
        "returned_qty",
    ),
    "order_events": (
        "id", "order_id", "brand_id", "kind", "from_status", "to_status", "note", "details",
        "actor_user_id", "actor_org_id", "created_at",
    ),
    "shipments": (
        "id", "order_id", "brand_id", "seq", "status", "carrier", "tracking_number",
        "shipped_by_user_id", "received_at", "received_by_user_id", "discrepancy_note",
        "created_at", "updated_at",
    ),
    "shipment_lines": ("id", "shipment_id", "order_line_id", "qty", "received_qty"),
    "account_entries": (
        "id", "brand_id", "account_id", "kind", "amount_cents", "currency", "reference",
        "order_id", "note", "due_at", "actor_user_id", "actor_org_id", "created_at",
        "updated_at",
    ),
    "replenishment_rules": (
        "id", "brand_id", "level", "category_id", "location_id", "variant_id", "min_qty",
        "max_qty", "cover_days", "lead_days", "safety_qty", "review_days",
        "owners_may_override", "created_at", "updated_at",
    ),
}  # fmt: skip
# The order's moves by (from, action, to): an event row is written for a move of this table only.
MOVES: dict[tuple[str, Action, str], Move] = {
    (m.from_status, m.action, m.to_status): m for m in TABLE
}
BIG_TABLES = (
    "stock_moves", "stock_levels", "orders", "order_lines", "order_events", "shipments",
    "shipment_lines", "account_entries", "notifications", "variants",
)  # fmt: skip


class Sink:
    """Lines per table, written with COPY whenever one table has gathered enough; every flush
    writes all tables, parents first, so foreign keys hold even when they are checked."""

    LIMIT = 300_000

    def __init__(self, loader: BulkLoader) -> None:
        self.loader = loader
        self.lines: dict[str, list[str]] = defaultdict(list)
        self.order = [t.name for t in db.metadata.sorted_tables]

    def add(self, table: str, line: str) -> None:
        bucket = self.lines[table]
        bucket.append(line)
        if len(bucket) >= self.LIMIT:
            self.flush()

    def flush(self) -> None:
        for table in self.order:
            if bucket := self.lines.get(table):
                self.loader.copy(table, COLUMNS[table], bucket)
                bucket.clear()


class Generator:
    def __init__(self, sizes: Sizes, loader: BulkLoader, say: Callable[[str], None]) -> None:
        if not 1 <= sizes.colors <= len(COLORS) or not 1 <= sizes.sizes <= len(SIZES):
            raise ScaleRefused(f"--colors and --sizes go from 1 to {len(COLORS)}")
        if sizes.brands < 1 or sizes.products < sizes.brands or sizes.days < 1:
            raise ScaleRefused("at least one brand, one product per brand and one day")
        if sizes.distributors < 1 or sizes.stores < 1:
            raise ScaleRefused("at least one distributor and one store")
        self.s = sizes
        self.loader = loader
        self.sink = Sink(loader)
        self.say = say
        self.rng = random.Random(sizes.seed)
        self.ids = Ids()
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.per_product = sizes.colors * sizes.sizes
        # filled by the network and catalog steps
        self.codes: dict[int, str] = {}
        self.links: list[Link] = []
        self.brand_products: dict[int, range] = {}  # brand -> product ids
        self.msrp: dict[int, int] = {}  # product id -> cents
        self.product_category: dict[int, int] = {}
        self.skus: dict[int, str] = {}  # product id -> product code (SKUs derive from it)
        self.base_version: dict[int, int] = {}  # brand -> id of its all-buyers version
        self.dist_range: dict[tuple[int, int], tuple[int, int]] = {}  # (brand, dist) -> range

    # -- helpers ---------------------------------------------------------------------------------

    def ago(self, days: float) -> str:
        return (self.now - timedelta(days=days)).isoformat()

    def variants_of(self, product_id: int) -> range:
        first = (product_id - 1) * self.per_product + 1
        return range(first, first + self.per_product)

    def sku(self, variant_id: int) -> str:
        product_id = (variant_id - 1) // self.per_product + 1
        k = (variant_id - 1) % self.per_product
        color, size = COLORS[k // self.s.sizes], SIZES[k % self.s.sizes]
        return f"{self.skus[product_id]}-{color}-{size}"

    def product_of(self, variant_id: int) -> int:
        return (variant_id - 1) // self.per_product + 1

    # -- network ---------------------------------------------------------------------------------

    def network(self) -> None:
        s, rng = self.s, self.rng
        stamp = self.ago(400)
        orgs, users, members, locations = [], [], [], []
        password = generate_password_hash(SCALE_PASSWORD, method="scrypt")
        brand_ids = list(range(1, s.brands + 1))
        dist_ids = list(range(s.brands + 1, s.brands + s.distributors + 1))
        store_ids = list(range(dist_ids[-1] + 1, dist_ids[-1] + s.stores + 1))
        region_of: dict[int, str] = {}

        def org(org_id: int, kind: str, code: str, name: str, region: str, role: str) -> None:
            self.codes[org_id] = code
            orgs.append((org_id, kind, code, name, region, "", "CNY", "active", stamp, stamp))
            email = f"{code.lower()}@{EMAIL_DOMAIN}"
            users.append((org_id, email, f"{name} admin", password, False, stamp, stamp))
            members.append((org_id, org_id, org_id, role, stamp, stamp))
            suffix, where = ("SHELF", "store") if kind == "store" else ("WH", "warehouse")
            where_name = f"{name} {'shelf' if kind == 'store' else 'warehouse'}"
            locations.append((org_id, org_id, f"{code}-{suffix}", where_name, where, True))

        for b in brand_ids:
            theme = THEMES[(b - 1) % len(THEMES)][0]
            org(b, "brand", f"B{b:02d}", f"Brand {b:02d} {theme}", "", "hq_admin")
        for j, d in enumerate(dist_ids):
            region_of[d] = REGIONS[j % len(REGIONS)]
            org(d, "distributor", f"D{j + 1:04d}", f"Distributor {j + 1:04d}", region_of[d],
                "distributor_admin")  # fmt: skip
        for k, st in enumerate(store_ids):
            region_of[st] = REGIONS[rng.randrange(len(REGIONS))]
            org(st, "store", f"S{k + 1:05d}", f"Store {k + 1:05d}", region_of[st], "store_owner")

        def carried(index: int) -> list[int]:
            """Every buyer carries the flagship B01 and one other brand."""
            return [1] if s.brands == 1 else [1, 2 + index % (s.brands - 1)]

        links = []
        dist_brands: dict[int, list[int]] = {}
        for j, d in enumerate(dist_ids):
            level = rng.choices(LEVELS, LEVEL_WEIGHTS)[0]
            dist_brands[d] = carried(j)
            for b in dist_brands[d]:
                links.append(Link(0, b, d, b, level, region_of[d], f"/{b}/{d}/"))
        for k, st in enumerate(store_ids):
            level = rng.choices(LEVELS, LEVEL_WEIGHTS)[0]
            if k % DIRECT_EVERY == 0:
                for b in carried(k):
                    links.append(Link(0, b, st, b, level, region_of[st], f"/{b}/{st}/"))
            else:
                d = dist_ids[k % len(dist_ids)]
                for b in dist_brands[d]:
                    links.append(Link(0, b, st, d, level, region_of[st], f"/{b}/{d}/{st}/"))
        for i, link in enumerate(links, start=1):
            link.id = i
        self.links = links
        self.brands, self.dists, self.stores = brand_ids, dist_ids, store_ids

        load = self.loader.copy_rows
        load("organizations", ("id", "kind", "code", "name", "region", "address", "currency",
             "status", "created_at", "updated_at"), orgs)  # fmt: skip
        load("users", ("id", "email", "name", "password_hash", "is_disabled", "created_at",
             "updated_at"), users)  # fmt: skip
        load("memberships", ("id", "user_id", "org_id", "role", "created_at", "updated_at"),
             members)  # fmt: skip
        load("locations", ("id", "org_id", "code", "name", "kind", "is_default", "created_at",
             "updated_at"), [(*loc, stamp, stamp) for loc in locations])  # fmt: skip
        load("channel_links", ("id", "brand_id", "supplier_org_id", "buyer_org_id", "level",
             "region", "credit_limit_cents", "payment_terms_days", "path", "created_at",
             "updated_at"),
             [(ln.id, ln.brand, ln.supplier, ln.buyer, ln.level, ln.region,
               500_000_000 if ln.supplier == ln.brand else 20_000_000, 30, ln.path, stamp, stamp)
              for ln in links])  # fmt: skip
        load("accounts", ("id", "brand_id", "link_id", "buyer_org_id", "supplier_org_id",
             "currency", "committed_cents", "created_at", "updated_at"),
             [(ln.id, ln.brand, ln.id, ln.buyer, ln.supplier, "CNY", 0, stamp, stamp)
              for ln in links])  # fmt: skip
        self.say(f"network: {len(orgs)} orgs, {len(links)} channel links")

    # -- catalog ---------------------------------------------------------------------------------

    def catalog(self) -> None:
        s, rng = self.s, self.rng
        stamp = self.ago(400)
        categories, products = [], []
        product_id = 0
        for b in self.brands:
            _theme, category_codes, nouns = THEMES[(b - 1) % len(THEMES)]
            base = (b - 1) * CATEGORIES
            for c, code in enumerate(category_codes):
                categories.append((base + c + 1, b, code, code.title(), stamp, stamp))
            count = s.products // s.brands + (1 if b - 1 < s.products % s.brands else 0)
            first = product_id + 1
            for k in range(count):
                product_id += 1
                code = f"B{b:02d}-{k + 1:05d}"
                category = base + k % CATEGORIES + 1
                msrp = rng.randrange(59, 1999) * 100
                season = SEASONS[rng.randrange(len(SEASONS))]
                name = (
                    f"{ADJECTIVES[rng.randrange(len(ADJECTIVES))]} {nouns[k % len(nouns)]} {k + 1}"
                )
                launch = date(int(season[:4]), 3 if season.endswith("SS") else 9, 1)
                products.append((product_id, b, code, name.capitalize(), category, season,
                                 launch, msrp, "CNY", "", "active", stamp, stamp))  # fmt: skip
                self.msrp[product_id] = msrp
                self.product_category[product_id] = category
                self.skus[product_id] = code
            self.brand_products[b] = range(first, product_id + 1)
        load = self.loader.copy_rows
        load("categories", ("id", "brand_id", "code", "name", "created_at", "updated_at"),
             categories)  # fmt: skip
        load("products", ("id", "brand_id", "code", "name", "category_id", "season",
             "launch_date", "msrp_cents", "currency", "description", "status", "created_at",
             "updated_at"), products)  # fmt: skip

        def variant_lines():
            for p, b, *_ in products:
                pack = 2 if self.product_category[p] % CATEGORIES == 0 else 1
                for v in self.variants_of(p):
                    k = (v - 1) % self.per_product
                    yield (
                        f"{v}\t{b}\t{p}\t{self.sku(v)}\t{COLORS[k // s.sizes]}\t"
                        f"{SIZES[k % s.sizes]}\t{_ean13(v)}\t{pack}\t{stamp}\t{stamp}\n"
                    )

        n = self.loader.copy("variants", ("id", "brand_id", "product_id", "sku", "color", "size",
                             "barcode", "case_pack", "created_at", "updated_at"),
                             variant_lines())  # fmt: skip
        self.say(f"catalog: {len(products)} products, {n} SKUs")

    # -- policy ----------------------------------------------------------------------------------

    def policies(self) -> None:
        """Per brand: a price for everyone, cheaper levels A and B, a regional deal with an
        exclusion, named key accounts with SKU prices; MOQ and multiple on one category."""
        rng = self.rng
        published = self.ago(self.s.days + 10)
        policies, versions, audiences, rules, notes = [], [], [], [], []
        ids = self.ids
        links_of: dict[int, list[Link]] = defaultdict(list)
        for link in self.links:
            links_of[link.brand].append(link)

        def version(b: int, code: str, name: str, kind: str, values: list[str], **terms):
            policy_id = ids.next("policies")
            policies.append((policy_id, b, code, name, published, published))
            version_id = ids.next("policy_versions")
            for value in values:
                audiences.append((ids.next("policy_audiences"), version_id, b, kind, value))
            reached = [
                ln for ln in links_of[b]
                if kind == "all"
                or (kind == "level" and ln.level in values)
                or (kind == "region" and ln.region in values)
                or (kind == "orgs" and str(ln.buyer) in values)
            ]  # fmt: skip
            for ln in reached:
                read = published if rng.random() < 0.8 else None
                notes.append((ids.next("notifications"), b, ln.buyer, version_id, read,
                              read, 0, published, published))  # fmt: skip
            versions.append((version_id, policy_id, b, 1, "active", kind, published,
                             terms.get("note", name), terms.get("terms"),
                             json.dumps(terms.get("member_terms", {})), "[]", published,
                             len(reached), published, published))  # fmt: skip
            return version_id

        def rule(version_id, b, section, scope, *, variant=None, product=None, category=None,
                 cents=None, bp=None, moq=None, multiple=None):  # fmt: skip
            rules.append((ids.next("policy_rules"), version_id, b, section, scope, variant,
                          product, category, cents, bp, moq, multiple))  # fmt: skip

        for b in self.brands:
            products = self.brand_products[b]
            base = (b - 1) * CATEGORIES
            v = version(b, "BASE", "Price list", "all", ["*"], terms=30,
                        member_terms=SCALE_MEMBER_TERMS)  # fmt: skip
            self.base_version[b] = v
            rule(v, b, "price", "all", bp=LEVEL_PRICE_BP["C"])
            rule(v, b, "floor", "all", bp=8500)
            rule(v, b, "order", "category", category=base + CATEGORIES, moq=2, multiple=2)
            for p in rng.sample(products, max(1, len(products) // 100)):
                variant = self.variants_of(p)[0]
                rule(v, b, "price", "sku", variant=variant, cents=self.msrp[p] * 45 // 100)
            for level in ("A", "B"):
                v = version(b, f"LEVEL-{level}", f"Level {level} prices", "level", [level])
                rule(v, b, "price", "all", bp=LEVEL_PRICE_BP[level])
            v = version(b, "SOUTH", "South region deal", "region", ["south"])
            rule(v, b, "price", "category", category=base + 1, bp=5000)
            rule(v, b, "exclude", "category", category=base + 7)
            keys = sorted({ln.buyer for ln in links_of[b] if ln.supplier == b})[:3]
            v = version(b, "KEY", "Key accounts", "orgs", [str(o) for o in keys])
            rule(v, b, "price", "all", bp=4500)
            for p in rng.sample(products, min(len(products), 100)):
                rule(v, b, "price", "product", product=p, cents=self.msrp[p] * 40 // 100)
        load = self.loader.copy_rows
        load("policies", ("id", "brand_id", "code", "name", "created_at", "updated_at"),
             policies)  # fmt: skip
        load("policy_versions", ("id", "policy_id", "brand_id", "number", "status",
             "audience_kind", "effective_from", "note", "payment_terms_days",
             "member_terms", "rebates",
             "published_at", "targeted_count", "created_at", "updated_at"), versions)  # fmt: skip
        load("policy_audiences", ("id", "version_id", "brand_id", "kind", "value"), audiences)
        load("policy_rules", ("id", "version_id", "brand_id", "section", "scope", "variant_id",
             "product_id", "category_id", "price_cents", "percent_bp", "moq", "multiple"),
             rules)  # fmt: skip
        load("notifications", ("id", "brand_id", "org_id", "version_id", "read_at",
             "acknowledged_at", "remind_count", "created_at", "updated_at"), notes)  # fmt: skip
        self.say(f"policy: {len(versions)} versions, {len(rules)} rules, {len(notes)} notices")

    # -- stock and history -----------------------------------------------------------------------

    def move(self, brand, location, variant, grade, on_hand, reserved, reason, ref, at) -> None:
        self.sink.add(
            "stock_moves",
            f"{self.ids.next('stock_moves')}\t{brand}\t{location}\t{variant}\t{grade}\t{on_hand}\t"
            f"{reserved}\t{reason}\t{ref}\t\t{at}\t{at}\t{at}\n",
        )

    def level(self, brand, location, variant, grade, on_hand, reserved) -> None:
        self.sink.add(
            "stock_levels",
            f"{self.ids.next('stock_levels')}\t{brand}\t{location}\t{variant}\t{grade}\t"
            f"{on_hand}\t{reserved}\n",
        )

    def settle(self, brand: int, location: int, variants, net, reserved, low: int, high: int):
        """Write each SKU's level and the opening receipt that makes the ledger add up to it:
        on hand ends near a random target, never below what open orders hold."""
        rng = self.rng
        for v in variants:
            change = net.get(v, 0)
            held = reserved.get(v, 0)
            opening = max(rng.randint(low, high) - change, held - change, 0)
            if opening:
                self.move(brand, location, v, "A", opening, 0, "receipt", "opening",
                          self.ago(self.s.days + rng.randint(1, 90)))  # fmt: skip
            self.level(brand, location, v, "A", opening + change, held)

    def grade_b(self, brand: int, location: int, variants, share: float) -> None:
        for v in variants:
            if self.rng.random() < share:
                units = self.rng.randint(1, 5)
                self.move(brand, location, v, "B", units, 0, "receipt", "opening",
                          self.ago(self.s.days + 30))  # fmt: skip
                self.level(brand, location, v, "B", units, 0)

    def order(self, link: Link, variants: list[int], qty: tuple[int, int], day: float, acc):
        """One order of `link` placed `day` days ago, taken as far through its life as time
        allows: confirmed (units reserved at the supplier), shipped, or received."""
        rng, ids = self.rng, self.ids
        order_id = ids.next("orders")
        number = f"{self.codes[link.brand]}-{order_id:07d}"
        placed = day
        shipped = day - 1 if day - 1 > 0 else None
        received = day - 3 if day - 3 > 0 else None
        status = "completed" if received else "shipped" if shipped else "confirmed"
        version = self.base_version[link.brand]
        lines = []
        for v in variants:
            msrp = self.msrp[self.product_of(v)]
            lines.append((ids.next("order_lines"), v, rng.randint(*qty), msrp,
                          msrp * LEVEL_PRICE_BP[link.level] // 10_000))  # fmt: skip
        total = sum(q * price for _id, _v, q, _m, price in lines)
        units = sum(q for _id, _v, q, _m, _p in lines)
        at = self.ago(placed)
        closed = self.ago(received) if received else "\\N"
        self.sink.add(
            "orders",
            f"{order_id}\t{number}\t{link.brand}\t{link.buyer}\t{link.supplier}\t{link.id}\tb2b\t"
            f"{status}\tCNY\t{total}\t{units}\t{version}\t{link.supplier}\t{link.buyer}\t\t\t\t"
            f"{link.buyer}\t{at}\t{self.ago(placed - 0.1)}\t{closed}\t{at}\t{at}\n",
        )
        done, got = (1 if shipped else 0), (1 if received else 0)
        for line_id, v, q, msrp, price in lines:
            self.sink.add("order_lines", f"{line_id}\t{order_id}\t{link.brand}\t{v}\t"
                          f"{self.sku(v)}\t{q}\t{price}\t{msrp}\t{price * q}\t{version}\t"
                          f"{q * done}\t{q * got}\t0\n")  # fmt: skip
        event = self.order_event
        event(order_id, link.brand, link.buyer, (NEW, Action.SUBMIT, OrderStatus.SUBMITTED),
              placed, total_cents=total, lines=len(lines))  # fmt: skip
        event(order_id, link.brand, link.supplier,
              (OrderStatus.SUBMITTED, Action.APPROVE, OrderStatus.CONFIRMED), placed - 0.1,
              credit_excess=False)  # fmt: skip
        for _line_id, v, q, _m, _p in lines:
            self.move(link.brand, link.supplier, v, "A", 0, q, "reserve", number, at)
        if not shipped:
            for _line_id, v, q, _m, _p in lines:
                acc["reserved"][link.supplier][v] += q
            return
        shipment = ids.next("shipments")
        ship_at = self.ago(shipped)
        event(order_id, link.brand, link.supplier,
              (OrderStatus.CONFIRMED, Action.SHIP, OrderStatus.SHIPPED), shipped, shipment=1,
              units=units, invoiced_cents=total, carrier=CARRIER,
              tracking_number=f"SF{shipment:010d}")  # fmt: skip
        if received:
            event(order_id, link.brand, link.buyer,
                  (OrderStatus.SHIPPED, Action.RECEIVE, OrderStatus.COMPLETED), received,
                  shipment=1, units=units)  # fmt: skip
        self.sink.add("shipments", f"{shipment}\t{order_id}\t{link.brand}\t1\t"
                      f"{'received' if received else 'shipped'}\t{CARRIER}\tSF{shipment:010d}\t"
                      f"\\N\t{self.ago(received) if received else chr(92) + 'N'}\t\\N\t\t"
                      f"{ship_at}\t{ship_at}\n")  # fmt: skip
        for line_id, v, q, _m, _p in lines:
            self.sink.add("shipment_lines", f"{ids.next('shipment_lines')}\t{shipment}\t"
                          f"{line_id}\t{q}\t{q if received else 0}\n")  # fmt: skip
            self.move(link.brand, link.supplier, v, "A", -q, -q, "shipment",
                      f"{number}/1", ship_at)  # fmt: skip
            acc["out"][link.supplier][v] += q
            if received:
                self.move(link.brand, link.buyer, v, "A", q, 0, "receipt", f"{number}/1",
                          self.ago(received))  # fmt: skip
                acc["in"][link.buyer][v] += q
        self.entry(link, "invoice", total, f"shipment:{shipment}", order_id, shipped, 30)
        if shipped > 30:
            self.entry(link, "payment", -total, f"PAY-{number}", order_id, shipped - 25, None)

    def order_event(
        self,
        order_id: int,
        brand: int,
        org: int,
        move: tuple[str, Action, str],
        day: float,
        **details: Any,
    ) -> None:
        """One row of an order's timeline, as `transitions.transition` writes it: the move must
        be in the table, the kind is the move's event and `org` (whose admin user has its id)
        made it. Details left empty are left out, as there."""
        made = MOVES[move]
        shown = {k: v for k, v in details.items() if v not in (None, "", [], {})}
        self.sink.add("order_events", f"{self.ids.next('order_events')}\t{order_id}\t{brand}\t"
                      f"{made.event.value}\t{made.from_status}\t{made.to_status.value}\t\t"
                      f"{json.dumps(shown)}\t{org}\t{org}\t{self.ago(day)}\n")  # fmt: skip

    def entry(self, link: Link, kind: str, cents: int, ref: str, order_id: int, day, due) -> None:
        due_at = self.ago(day - due) if due is not None else "\\N"
        at = self.ago(day)
        self.sink.add("account_entries", f"{self.ids.next('account_entries')}\t{link.brand}\t"
                      f"{link.id}\t{kind}\t{cents}\tCNY\t{ref}\t{order_id}\t\t{due_at}\t\\N\t\\N\t"
                      f"{at}\t{at}\n")  # fmt: skip

    def history(self) -> None:
        """Per brand: stores sell and order from their supplier, distributors order from HQ;
        then every location's levels, with the opening receipts that make the ledger add up."""
        s, rng = self.s, self.rng
        for b in self.brands:
            started = time.monotonic()
            products = self.brand_products[b]
            count = len(products)
            acc: dict[str, Any] = {
                "reserved": defaultdict(lambda: defaultdict(int)),
                "out": defaultdict(lambda: defaultdict(int)),
                "in": defaultdict(lambda: defaultdict(int)),
            }
            span = max(1, min(count, round(count * DISTRIBUTOR_RANGE)))
            brand_links = [ln for ln in self.links if ln.brand == b]
            for link in brand_links:
                if link.supplier == b:
                    start = rng.randrange(count)
                    self.dist_range[(b, link.buyer)] = (start, span if link.buyer in
                                                        self.dist_set else count)  # fmt: skip
            for link in brand_links:
                if link.buyer in self.dist_set:
                    continue
                start, width = self.dist_range[(b, link.supplier)] if link.supplier != b else (
                    rng.randrange(count), count)  # fmt: skip
                offset = rng.randrange(width)
                picked = [products[(start + (offset + i) % width) % count]
                          for i in range(min(STORE_PRODUCTS, width))]  # fmt: skip
                self.store(link, picked, acc)
            for link in brand_links:
                if link.buyer not in self.dist_set:
                    continue
                start, width = self.dist_range[(b, link.buyer)]
                picked = [products[(start + i) % count] for i in range(width)]
                variants = [v for p in picked for v in self.variants_of(p)]
                for day in range(rng.randrange(DIST_ORDER_EVERY), s.days, DIST_ORDER_EVERY):
                    lines = rng.sample(variants, min(DIST_ORDER_LINES, len(variants)))
                    self.order(link, lines, (6, 24), day + rng.random(), acc)
                net = {v: acc["in"][link.buyer][v] - acc["out"][link.buyer][v] for v in variants}
                self.settle(b, link.buyer, variants, net, acc["reserved"][link.buyer], 0, 150)
                self.grade_b(b, link.buyer, variants, 0.01)
            variants = [v for p in products for v in self.variants_of(p)]
            net = {v: -acc["out"][b][v] for v in acc["out"][b]}
            self.settle(b, b, variants, net, acc["reserved"][b], 100, 3000)
            self.grade_b(b, b, variants, 0.02)
            self.say(f"history: {self.codes[b]} done in {time.monotonic() - started:.0f} s "
                     f"({self.ids.values['stock_levels']} levels, "
                     f"{self.ids.values['stock_moves']} moves so far)")  # fmt: skip
        self.sink.flush()

    def store(self, link: Link, products: list[int], acc: dict[str, Any]) -> None:
        s, rng = self.s, self.rng
        variants = [v for p in products for v in self.variants_of(p)]
        net: dict[int, int] = defaultdict(int)
        for day in range(s.days, 0, -1):
            stamp_day = (self.now - timedelta(days=day)).date().isoformat()
            for _ in range(SALES_PER_DAY):
                v = variants[rng.randrange(len(variants))]
                q = 1 if rng.random() < 0.8 else 2
                net[v] -= q
                self.move(link.brand, link.buyer, v, "A", -q, 0, "sale", f"till:{stamp_day}",
                          self.ago(day - rng.random()))  # fmt: skip
        for day in range(rng.randrange(STORE_ORDER_EVERY), s.days, STORE_ORDER_EVERY):
            lines = rng.sample(variants, min(STORE_ORDER_LINES, len(variants)))
            self.order(link, lines, (2, 6), day + rng.random(), acc)
        for v, q in acc["in"].pop(link.buyer, {}).items():
            net[v] += q
        self.settle(link.brand, link.buyer, variants, net, {}, 0, 12)
        self.replenishment_rules(link, variants)

    def replenishment_rules(self, link: Link, variants: list[int]) -> None:
        """A few owners' own rules: min / max on three SKUs for one location in twenty."""
        if self.rng.random() >= 0.05:
            return
        stamp = self.ago(30)
        for v in self.rng.sample(variants, min(3, len(variants))):
            self.sink.add("replenishment_rules", f"{self.ids.next('replenishment_rules')}\t"
                          f"{link.brand}\t\t\\N\t{link.buyer}\t{v}\t2\t8\t\\N\t3\t0\t7\tt\t"
                          f"{stamp}\t{stamp}\n")  # fmt: skip

    def replenishment_defaults(self) -> None:
        """HQ's defaults: 21 days of cover for every level and category, min / max for level-A
        stores in the first category; auto-submit at one store in ten."""
        stamp = self.ago(60)
        for b in self.brands:
            self.sink.add("replenishment_rules", f"{self.ids.next('replenishment_rules')}\t{b}"
                          f"\t\t\\N\t\\N\t\\N\t\\N\t\\N\t21\t7\t1\t7\tt\t{stamp}\t"
                          f"{stamp}\n")  # fmt: skip
            self.sink.add("replenishment_rules", f"{self.ids.next('replenishment_rules')}\t{b}\t"
                          f"A\t{(b - 1) * CATEGORIES + 1}\t\\N\t\\N\t2\t8\t\\N\t7\t0\t7\tt\t"
                          f"{stamp}\t{stamp}\n")  # fmt: skip
        settings = [
            (ln.buyer, ln.brand, True, stamp, stamp)
            for ln in self.links
            if ln.buyer not in self.dist_set and ln.buyer % 10 == 3
        ]
        self.loader.copy_rows("replenishment_settings", ("location_id", "brand_id",
                              "auto_submit", "created_at", "updated_at"), settings)  # fmt: skip

    def run(self) -> None:
        self.network()
        self.dist_set = set(self.dists)
        self.catalog()
        self.policies()
        self.replenishment_defaults()
        self.history()
        self.loader.execute(
            "UPDATE accounts a SET committed_cents = o.total FROM (SELECT link_id, "
            "sum(total_cents) AS total FROM orders WHERE status = 'confirmed' GROUP BY link_id) o "
            "WHERE a.link_id = o.link_id"
        )


def seed_scale(sizes: Sizes, say: Callable[[str], None] = print) -> dict[str, int]:
    """Erase every table and load the scale network; returns rows per table. The caller has
    checked `refusal` first."""
    started = time.monotonic()
    with db.engine.connect() as connection:
        loader = BulkLoader(connection)
        with connection.begin():
            unchecked = loader.prepare()
            say("foreign keys: checked after the load" if unchecked else
                "foreign keys: checked row by row (not a superuser)")  # fmt: skip
            loader.truncate(t.name for t in db.metadata.sorted_tables)
            loader.drop_secondary_indexes(BIG_TABLES)
            Generator(sizes, loader, say).run()
            say(f"rows written in {time.monotonic() - started:.0f} s; building indexes")
            loader.restore_indexes()
            loader.reset_sequences()
            shops = add_storefronts(loader.execute)
            say(f"storefronts: {shops}")
            if unchecked:
                _check_foreign_keys(loader)
    with db.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
            "VACUUM (ANALYZE)"
        )
    say(f"loaded and analysed in {time.monotonic() - started:.0f} s")
    return loader.counts


def _check_foreign_keys(loader: BulkLoader) -> None:
    """With the triggers off during COPY, prove every reference of the big tables resolves
    (one anti-join per foreign key) before the transaction commits."""
    for table in db.metadata.sorted_tables:
        if table.name not in BIG_TABLES and table.name != "replenishment_rules":
            continue
        for fk in table.foreign_keys:
            column, target = fk.parent.name, fk.column
            missing = loader.execute(
                f"SELECT count(*) FROM {table.name} t WHERE t.{column} IS NOT NULL AND NOT EXISTS "
                f"(SELECT 1 FROM {target.table.name} r WHERE r.{target.name} = t.{column})"
            )[0][0]
            if missing:
                raise ScaleRefused(f"{missing} rows of {table.name}.{column} point nowhere")


def sizes_from(preset: str, overrides: dict[str, int | None]) -> Sizes:
    known = {f.name for f in fields(Sizes)}
    return replace(PRESETS[preset], **{k: v for k, v in overrides.items() if k in known and v})
