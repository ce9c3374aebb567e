"""The demo catalog (ACME apparel, LUMI beauty) and the ACME / LUMI channel policies on top of it.

Everything is derived from the fixed tables below, never from chance, so codes, SKUs, barcodes and
prices are the same on every machine. Products whose code exists are skipped and policies whose
code exists are left alone: a second run changes nothing. Rows go in with bulk inserts (this runs
at the start of every test session); policies go through the real services, so they are published
and delivered exactly as HQ's would be. Most of its length is those tables, kept in one file so
the demo's products and the policies that price them are read together.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, insert, select

from portal.auth.services import actor_for_membership
from portal.catalog.models import Category, Product, Variant
from portal.core.access import Actor
from portal.extensions import db
from portal.network.models import Membership, Organization, User
from portal.policy import queries as policy_queries
from portal.policy import services as policy_services
from portal.policy.models import AudienceKind, Section

POLICIES_FROM = datetime(2026, 11, 1, tzinfo=UTC)

# -- ACME apparel --------------------------------------------------------------------------------

ACME_CATEGORIES = [
    ("TOPS", "Tops"),
    ("BOTTOMS", "Bottoms"),
    ("OUTERWEAR", "Outerwear"),
    ("SHOES", "Shoes"),
    ("ACCESSORIES", "Accessories"),
]

ALPHA_FULL = ["XS", "S", "M", "L", "XL", "XXL"]
ALPHA_CORE = ["S", "M", "L", "XL"]
WAIST = ["28", "30", "32", "34", "36"]
SHOE_LOW = ["38", "39", "40", "41", "42", "43"]
SHOE_HIGH = ["39", "40", "41", "42", "43", "44"]
BELT = ["85", "90", "95", "100", "105"]

# category: (palette, size runs the products of the category alternate between)
ACME_GRIDS: dict[str, tuple[list[str], list[list[str]]]] = {
    "TOPS": (["BLK", "WHT", "NVY", "GRY", "OLV", "RED", "SND"], [ALPHA_FULL, ALPHA_CORE]),
    "BOTTOMS": (["IND", "BLK", "SND", "NVY", "OLV", "GRY"], [WAIST, ALPHA_CORE]),
    "OUTERWEAR": (["BLK", "NVY", "OLV", "SND", "GRY"], [ALPHA_FULL, ALPHA_CORE]),
    "SHOES": (["BLK", "WHT", "GRY", "SND", "NVY"], [SHOE_HIGH, SHOE_LOW]),
    "ACCESSORIES": (["BLK", "BRN", "NVY", "SND", "GRY"], [ALPHA_CORE]),
}
# Stems whose size run is fixed whatever the alternation says.
STEM_SIZES = {"JNS": WAIST, "TRS": WAIST, "SHR": ALPHA_CORE, "JOG": ALPHA_FULL, "BLT": BELT}
# Cases the warehouse ships in: shoes by six, tees by three, everything else by one.
CATEGORY_CASE_PACK = {"SHOES": 6}
STEM_CASE_PACK = {"TEE": 3}

AW, SS = "2026AW", "2027SS"
# Launch dates cycle through these. 2026AW's first two drops are more than 180 days before
# 2026-11-22, so the outlet aging rule (outlet after 180 days) has products to match.
LAUNCHES = {
    AW: [
        date(2026, 3, 20),
        date(2026, 5, 15),
        date(2026, 7, 10),
        date(2026, 8, 20),
        date(2026, 9, 15),
    ],
    SS: [date(2027, 1, 10), date(2027, 2, 15), date(2027, 3, 10)],
}

# category, code stem, name, MSRP in yuan, season
ACME_PRODUCTS: list[tuple[str, str, str, int, str]] = [
    ("TOPS", "TEE", "Merino crew tee", 399, AW),
    ("TOPS", "TEE", "Pima cotton tee", 199, SS),
    ("TOPS", "TEE", "Slub pocket tee", 149, SS),
    ("TOPS", "TEE", "Heavyweight box tee", 229, AW),
    ("TOPS", "TEE", "Striped Breton tee", 259, SS),
    ("TOPS", "TEE", "Long-sleeve waffle tee", 249, AW),
    ("TOPS", "SHT", "Oxford button-down shirt", 459, AW),
    ("TOPS", "SHT", "Linen camp shirt", 499, SS),
    ("TOPS", "SHT", "Flannel overshirt", 599, AW),
    ("TOPS", "SHT", "Poplin dress shirt", 429, SS),
    ("TOPS", "KNT", "Cashmere crew sweater", 1599, AW),
    ("TOPS", "KNT", "Cable-knit roll neck", 899, AW),
    ("TOPS", "KNT", "Lambswool cardigan", 799, AW),
    ("TOPS", "KNT", "Cotton-linen sweater", 559, SS),
    ("TOPS", "HOD", "Loopback hoodie", 499, AW),
    ("TOPS", "HOD", "Zip-through hoodie", 559, SS),
    ("TOPS", "PLO", "Pique polo", 329, SS),
    ("TOPS", "PLO", "Knitted polo", 459, SS),
    ("BOTTOMS", "JNS", "Selvedge slim jeans", 899, AW),
    ("BOTTOMS", "JNS", "Relaxed taper jeans", 799, AW),
    ("BOTTOMS", "JNS", "Straight rigid jeans", 749, SS),
    ("BOTTOMS", "JNS", "Stretch skinny jeans", 699, AW),
    ("BOTTOMS", "TRS", "Stretch chinos", 499, SS),
    ("BOTTOMS", "TRS", "Pleated wide trousers", 659, AW),
    ("BOTTOMS", "TRS", "Wool flannel trousers", 1099, AW),
    ("BOTTOMS", "TRS", "Cargo trousers", 599, SS),
    ("BOTTOMS", "TRS", "Corduroy trousers", 629, AW),
    ("BOTTOMS", "SHR", "Linen drawstring shorts", 299, SS),
    ("BOTTOMS", "SHR", "Chino shorts", 329, SS),
    ("BOTTOMS", "SHR", "Swim shorts", 259, SS),
    ("BOTTOMS", "JOG", "Fleece joggers", 399, AW),
    ("BOTTOMS", "JOG", "Tech track pants", 459, SS),
    ("OUTERWEAR", "PKA", "Down parka", 1999, AW),
    ("OUTERWEAR", "PKA", "Hooded down jacket", 1699, AW),
    ("OUTERWEAR", "PKA", "Lightweight down vest", 899, AW),
    ("OUTERWEAR", "COT", "Wool overcoat", 1899, AW),
    ("OUTERWEAR", "COT", "Double-face wool coat", 1999, AW),
    ("OUTERWEAR", "COT", "Cotton trench coat", 1599, SS),
    ("OUTERWEAR", "JKT", "Waxed field jacket", 1299, AW),
    ("OUTERWEAR", "JKT", "Denim trucker jacket", 799, SS),
    ("OUTERWEAR", "JKT", "Quilted liner jacket", 999, AW),
    ("OUTERWEAR", "JKT", "Nylon windbreaker", 599, SS),
    ("OUTERWEAR", "JKT", "Shearling bomber", 1999, AW),
    ("OUTERWEAR", "JKT", "Packable rain shell", 899, SS),
    ("SHOES", "RUN", "Trail runner", 899, AW),
    ("SHOES", "RUN", "Road runner", 799, SS),
    ("SHOES", "RUN", "Retro jogger", 699, SS),
    ("SHOES", "SNK", "Canvas low-top sneaker", 399, SS),
    ("SHOES", "SNK", "Leather court sneaker", 899, AW),
    ("SHOES", "SNK", "Canvas high-top sneaker", 459, SS),
    ("SHOES", "BOT", "Chelsea boot", 1499, AW),
    ("SHOES", "BOT", "Lace-up work boot", 1599, AW),
    ("SHOES", "BOT", "Waterproof hiking boot", 1299, AW),
    ("SHOES", "SLD", "Cushioned slide", 199, SS),
    ("ACCESSORIES", "TOT", "Canvas tote", 199, SS),
    ("ACCESSORIES", "BLT", "Leather belt", 399, AW),
    ("ACCESSORIES", "BLT", "Woven stretch belt", 259, SS),
    ("ACCESSORIES", "GLV", "Leather gloves", 459, AW),
    ("ACCESSORIES", "GLV", "Knit touchscreen gloves", 159, AW),
    ("ACCESSORIES", "CAP", "Baseball cap", 199, SS),
    ("ACCESSORIES", "CAP", "Wool beanie", 229, AW),
    ("ACCESSORIES", "CAP", "Bucket hat", 229, SS),
    ("ACCESSORIES", "SCK", "Merino hiking socks", 129, AW),
    ("ACCESSORIES", "SCK", "Cotton crew socks", 99, SS),
    ("ACCESSORIES", "NKW", "Fleece neck warmer", 129, AW),
]

# -- LUMI beauty ---------------------------------------------------------------------------------

LUMI_CATEGORIES = [("SKINCARE", "Skincare"), ("MAKEUP", "Makeup"), ("FRAGRANCE", "Fragrance")]
BOTTLES = ["15ML", "30ML", "50ML", "100ML"]
LUMI_GRIDS: dict[str, tuple[list[str], list[list[str]]]] = {
    # skincare "colors" are formulas, makeup ones shades, fragrance ones concentrations
    "SKINCARE": (["ORIG", "RICH", "LITE", "SENS"], [BOTTLES]),
    "MAKEUP": (["N10", "N20", "W30", "C40", "W50"], [BOTTLES]),
    "FRAGRANCE": (["EDT", "EDP", "PARF", "COL"], [BOTTLES]),
}

LUMI_PRODUCTS: list[tuple[str, str, str, int, str]] = [
    ("SKINCARE", "SRM", "Hyaluronic hydrating serum", 580, AW),
    ("SKINCARE", "SRM", "Vitamin C brightening serum", 680, SS),
    ("SKINCARE", "SRM", "Retinol night serum", 760, AW),
    ("SKINCARE", "CRM", "Barrier repair cream", 520, AW),
    ("SKINCARE", "CRM", "Rich night cream", 880, AW),
    ("SKINCARE", "CRM", "Oil-free gel cream", 420, SS),
    ("SKINCARE", "CLN", "Gentle foaming cleanser", 220, SS),
    ("SKINCARE", "CLN", "Cleansing balm", 320, AW),
    ("SKINCARE", "TNR", "Essence toner", 380, SS),
    ("SKINCARE", "SPF", "Daily mineral sunscreen SPF50", 299, SS),
    ("MAKEUP", "FND", "Skin tint foundation", 420, SS),
    ("MAKEUP", "FND", "Cushion compact foundation", 460, AW),
    ("MAKEUP", "CNC", "Radiant concealer", 260, AW),
    ("MAKEUP", "PRM", "Pore-blurring primer", 330, SS),
    ("MAKEUP", "LIP", "Lip oil", 199, SS),
    ("MAKEUP", "LIP", "Velvet liquid lipstick", 240, AW),
    ("MAKEUP", "SET", "Setting spray", 280, SS),
    ("FRAGRANCE", "FRG", "Cedar and fig", 1280, AW),
    ("FRAGRANCE", "FRG", "White tea", 980, SS),
    ("FRAGRANCE", "FRG", "Amber night", 1580, AW),
    ("FRAGRANCE", "FRG", "Sea salt neroli", 1080, SS),
    ("FRAGRANCE", "FRG", "Rose oud", 1999, AW),
]

# Barcodes: a GS1 China prefix per brand, then a 9-digit serial, then the EAN-13 check digit.
BARCODE_PREFIX = {"ACME": "690", "LUMI": "691"}

# -- the showcase: codes the policies (and the tests) name ---------------------------------------

NORTH_PROMO = {"ACME-TEE-001": "159", "ACME-JNS-001": "359", "ACME-HOD-001": "199"}
S1_SKU, S1_SKU_PRICE = "ACME-TEE-001-BLK-M", "139"
S1_PRODUCT = "ACME-KNT-001"
FLOOR_PRODUCT = "ACME-PKA-001"


# ACME's consumer programme (policy/consumer_terms.py): three levels, points, invites, limits and
# tier moves, published with its base terms.
ACME_MEMBER_TERMS = {
    "levels": [
        {"code": "member", "name": "Member", "min_spend_cents": 0},
        {
            "code": "silver",
            "name": "Silver",
            "min_spend_cents": 200_000,
            "outlet_discount_bp": 500,
            "points_multiplier_bp": 12_000,
        },
        {
            "code": "gold",
            "name": "Gold",
            "min_spend_cents": 800_000,
            "outlet_discount_bp": 1000,
            "points_multiplier_bp": 15_000,
        },
    ],
    "points": {"per_yuan": {"official": 1, "outlet": 1, "employee": 0}, "redeem_cap_bp": 2000},
    "invites": {"quota_per_year": 5, "code_days": 30, "code_uses": 1},
    "limits": {"units_per_sku": 5, "amount_per_period_cents": 500_000, "period_days": 30},
    "tier_moves": {"outlet_after_weeks": 26, "employee_after_weeks": 26},
    # ACME runs every campaign tool (portal/seed/campaigns.py); LUMI keeps them off.
    "campaigns": {"live_events": True, "group_buys": True, "red_packets": True},
}


def _acme_policies() -> list[policy_services.PolicyInput]:
    def rules(section: str, text: str, label: str) -> list[policy_services.RuleInput]:
        return policy_services.parse_rule_lines(section, text, label=label)

    base = policy_services.PolicyInput(
        code="ACME-BASE",
        name="ACME channel base terms",
        note="Wholesale at 55% of MSRP, order rules, stable retail prices and tier terms.",
        min_order_cents=200_000,
        payment_terms_days=30,
        member_terms=ACME_MEMBER_TERMS,
        rebates=[{"threshold_cents": 100_000_000, "percent_bp": 200, "period": "quarter"}],
        rules=[
            *rules(Section.PRICE, "all 55%", "prices"),
            *rules(
                Section.ORDER,
                "product ACME-TEE-001 6 3\n"
                "category SHOES 6 6\n"
                "sku ACME-JNS-001-IND-32 10\n"
                "sku ACME-HOD-001-BLK-M 8 2",
                "order rules",
            ),
            *rules(
                Section.FLOOR,
                f"category TOPS 85%\ncategory BOTTOMS 85%\nproduct {FLOOR_PRODUCT} 1499",
                "floors",
            ),
            *retail_rules("ACME"),
        ],
    )
    level_a = policy_services.PolicyInput(
        code="ACME-LEVEL-A",
        name="Level A distributors and stores",
        audience_kind=AudienceKind.LEVEL,
        audience_values=["A"],
        rules=rules(Section.PRICE, "all 45%\ncategory SHOES 48%", "prices"),
    )
    level_b = policy_services.PolicyInput(
        code="ACME-LEVEL-B",
        name="Level B",
        audience_kind=AudienceKind.LEVEL,
        audience_values=["B"],
        note="Outerwear is sold through level A and the flagships only.",
        rules=[
            *rules(Section.PRICE, "all 52%", "prices"),
            *rules(Section.EXCLUDE, "category OUTERWEAR", "exclusions"),
        ],
    )
    north = policy_services.PolicyInput(
        code="ACME-NORTH",
        name="North region promotion",
        audience_kind=AudienceKind.REGION,
        audience_values=["north"],
        rules=rules(
            Section.PRICE,
            "\n".join(f"product {code} {price}" for code, price in NORTH_PROMO.items()),
            "prices",
        ),
    )
    s1 = policy_services.PolicyInput(
        code="ACME-S1",
        name="Wangfujing flagship",
        audience_kind=AudienceKind.ORGS,
        audience_values=["S1"],
        rules=rules(
            Section.PRICE, f"sku {S1_SKU} {S1_SKU_PRICE}\nproduct {S1_PRODUCT} 40%", "prices"
        ),
    )
    return [base, level_a, level_b, north, s1]


def _lumi_policies() -> list[policy_services.PolicyInput]:
    return [
        policy_services.PolicyInput(
            code="LUMI-BASE",
            name="LUMI channel base terms",
            min_order_cents=100_000,
            rules=[
                *policy_services.parse_rule_lines(Section.PRICE, "all 40%", label="prices"),
                *retail_rules("LUMI"),
            ],
        )
    ]


# -- seeding -------------------------------------------------------------------------------------


def seed_catalog() -> int:
    """Create whatever of the demo catalog and policies is missing; return how many rows."""
    created = 0
    for brand_code, categories, products, grids in (
        ("ACME", ACME_CATEGORIES, ACME_PRODUCTS, ACME_GRIDS),
        ("LUMI", LUMI_CATEGORIES, LUMI_PRODUCTS, LUMI_GRIDS),
    ):
        brand_id = _brand_id(brand_code)
        category_ids, new = _categories(brand_id, categories)
        created += new
        created += _products(brand_id, brand_code, category_ids, products, grids)
    created += _policies("ACME", "hq@demo.test", _acme_policies())
    created += _policies("LUMI", "hq2@demo.test", _lumi_policies())
    db.session.flush()
    return created


def catalog_summary() -> str:
    """One line for the CLI: products and SKUs per demo brand."""
    parts = []
    for brand_code in ("ACME", "LUMI"):
        brand_id = _brand_id(brand_code)
        products = db.session.execute(
            select(func.count(Product.id)).where(Product.brand_id == brand_id)
        ).scalar_one()
        skus = db.session.execute(
            select(func.count(Variant.id)).where(Variant.brand_id == brand_id)
        ).scalar_one()
        parts.append(f"{brand_code} {products} products / {skus} SKUs")
    return "Catalog: " + ", ".join(parts) + "."


def _brand_id(code: str) -> int:
    return db.session.execute(select(Organization.id).where(Organization.code == code)).scalar_one()


def _categories(brand_id: int, categories: list[tuple[str, str]]) -> tuple[dict[str, int], int]:
    have = dict(
        db.session.execute(select(Category.code, Category.id).where(Category.brand_id == brand_id))
        .tuples()
        .all()
    )
    missing = [code for code, _name in categories if code not in have]
    for code, name in categories:
        if code in missing:
            db.session.add(Category(brand_id=brand_id, code=code, name=name))
    if missing:
        db.session.flush()
        have = dict(
            db.session.execute(
                select(Category.code, Category.id).where(Category.brand_id == brand_id)
            )
            .tuples()
            .all()
        )
    return have, len(missing)


def product_rows(
    brand_code: str,
    products: list[tuple[str, str, str, int, str]],
    grids: dict[str, tuple[list[str], list[list[str]]]],
) -> list[dict[str, Any]]:
    """The brand's products, each with its SKU grid under "variants", derived from the table:
    the n-th product of a category gets 2, 3 or 4 colors from a palette rotated by n, and the
    category's size runs in turn."""
    rows = []
    stem_count: dict[str, int] = {}
    category_count: dict[str, int] = {}
    season_count: dict[str, int] = {}
    for serial, (category, stem, name, msrp, season) in enumerate(products, start=1):
        stem_count[stem] = stem_count.get(stem, 0) + 1
        n = category_count[category] = category_count.get(category, -1) + 1
        launch_index = season_count[season] = season_count.get(season, -1) + 1
        code = f"{brand_code}-{stem}-{stem_count[stem]:03d}"
        palette, runs = grids[category]
        colors = [palette[(n + i) % len(palette)] for i in range(min(2 + n % 3, len(palette)))]
        sizes = STEM_SIZES.get(stem) or runs[n % len(runs)]
        case_pack = STEM_CASE_PACK.get(stem) or CATEGORY_CASE_PACK.get(category, 1)
        launches = LAUNCHES[season]
        rows.append(
            {
                "code": code,
                "name": name,
                "category": category,
                "season": season,
                "launch_date": launches[launch_index % len(launches)],
                "msrp_cents": msrp * 100,
                "variants": [
                    {
                        "sku": f"{code}-{color}-{size}".upper(),
                        "color": color,
                        "size": size,
                        "barcode": _ean13(
                            BARCODE_PREFIX[brand_code]
                            + f"{serial:05d}{colors.index(color):02d}{sizes.index(size):02d}"
                        ),
                        "case_pack": case_pack,
                    }
                    for color in colors
                    for size in sizes
                ],
            }
        )
    return rows


def _ean13(first12: str) -> str:
    odd = sum(int(d) for d in first12[0::2])
    even = sum(int(d) for d in first12[1::2])
    return first12 + str((10 - (odd + 3 * even) % 10) % 10)


def _products(
    brand_id: int,
    brand_code: str,
    category_ids: dict[str, int],
    products: list[tuple[str, str, str, int, str]],
    grids: dict[str, tuple[list[str], list[list[str]]]],
) -> int:
    rows = product_rows(brand_code, products, grids)
    have = set(
        db.session.execute(select(Product.code).where(Product.brand_id == brand_id)).scalars()
    )
    rows = [row for row in rows if row["code"] not in have]
    if not rows:
        return 0
    db.session.execute(
        insert(Product),
        [
            {
                "brand_id": brand_id,
                "code": row["code"],
                "name": row["name"],
                "category_id": category_ids[row["category"]],
                "season": row["season"],
                "launch_date": row["launch_date"],
                "msrp_cents": row["msrp_cents"],
                "currency": "CNY",
                "description": "",
            }
            for row in rows
        ],
    )
    ids = dict(
        db.session.execute(
            select(Product.code, Product.id).where(
                Product.brand_id == brand_id, Product.code.in_([row["code"] for row in rows])
            )
        )
        .tuples()
        .all()
    )
    variants = [
        {"brand_id": brand_id, "product_id": ids[row["code"]], **variant}
        for row in rows
        for variant in row["variants"]
    ]
    db.session.execute(insert(Variant), variants)
    return len(rows) + len(variants)


def _hq_actor(email: str, brand_code: str) -> Actor:
    membership = db.session.execute(
        select(Membership)
        .join(User, User.id == Membership.user_id)
        .join(Organization, Organization.id == Membership.org_id)
        .where(User.email == email, Organization.code == brand_code)
    ).scalar_one()
    return actor_for_membership(membership)


def _policies(brand_code: str, hq_email: str, inputs: list[policy_services.PolicyInput]) -> int:
    """Create and publish each policy that does not exist yet, as the brand's HQ admin would.
    Starting on 1 November, publishing moves them to now: a policy never starts in the past."""
    brand_id = _brand_id(brand_code)
    actor = _hq_actor(hq_email, brand_code)
    created = 0
    for data in inputs:
        if policy_queries.find_policy(brand_id, data.code) is not None:
            continue
        data.effective_from = POLICIES_FROM
        version = policy_services.create_policy(actor, brand_id, data)
        policy_services.publish_policy(actor, version)
        created += 1
    return created


HQ_EMAILS = {"ACME": "hq@demo.test", "LUMI": "hq2@demo.test"}


# brand: official, outlet and employee price lines, as HQ types them in the policy editor
RETAIL = {
    "ACME": ("all 100%", "all 60%\ncategory SHOES 70%", "all 40%"),
    "LUMI": ("all 100%", "all 70%", "all 50%"),
}


def retail_rules(brand_code: str) -> list[policy_services.RuleInput]:
    official, outlet, employee = RETAIL[brand_code]
    return [
        *policy_services.parse_rule_lines(Section.OFFICIAL, official, label="official"),
        *policy_services.parse_rule_lines(Section.OUTLET, outlet, label="outlet"),
        *policy_services.parse_rule_lines(Section.EMPLOYEE, employee, label="employee"),
    ]


def retail_policy(brand_code: str) -> int:
    """The brand's consumer prices on a database seeded before the storefronts existed: a new
    version of the brand-wide base policy (one policy per audience at a time) with the three
    storefronts' price lines, published once. A fresh demo has them in its first version."""
    brand_id = _brand_id(brand_code)
    policy = policy_queries.find_policy(brand_id, f"{brand_code}-BASE")
    if policy is None:
        return 0
    latest = max(policy.versions, key=lambda v: v.number)
    if any(rule.section == Section.OFFICIAL for rule in latest.rules):
        return 0
    actor = _hq_actor(HQ_EMAILS[brand_code], brand_code)
    draft = policy_services.revise_policy(actor, latest)
    draft.note = "Consumer prices of the official store, the outlet and the employee store."
    policy_services.add_rules(actor, draft, retail_rules(brand_code))
    policy_services.publish_policy(actor, draft)
    return 1
