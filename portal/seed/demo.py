"""The demo network. Fixed codes and e-mails; every step is get-or-create, so it is idempotent."""

from __future__ import annotations

from sqlalchemy import select

from portal.core.access import Actor, OrgKind
from portal.extensions import db
from portal.network import services
from portal.network.models import ChannelLink, Membership, Organization, User
from portal.seed.campaigns import seed_campaigns
from portal.seed.catalog import seed_catalog
from portal.seed.guides import seed_guides
from portal.seed.members import seed_members
from portal.seed.members_coupons import seed_coupons
from portal.seed.members_employees import seed_employees
from portal.seed.members_sales import seed_private_sale
from portal.seed.members_wallet import seed_wallets
from portal.seed.orders import seed_orders
from portal.seed.replenishment import seed_replenishment
from portal.seed.stock import seed_stock
from portal.seed.storefront import seed_storefront

DEMO_PASSWORD = "demo1234"

BRANDS = [("ACME", "ACME Apparel"), ("LUMI", "LUMI Beauty")]

# code, name, kind, brand, supplier, level, region, credit limit (yuan), terms, lat, lng, address
ORGS = [
    (
        "D1",
        "North Star Distribution",
        "distributor",
        "ACME",
        None,
        "A",
        "north",
        500_000,
        30,
        39.9042,
        116.4074,
        "1 Chaoyang Rd, Beijing",
    ),
    (
        "D2",
        "Pearl River Trading",
        "distributor",
        "ACME",
        None,
        "B",
        "south",
        200_000,
        30,
        23.1291,
        113.2644,
        "88 Tianhe Rd, Guangzhou",
    ),
    (
        "D3",
        "East Coast Supply",
        "distributor",
        "ACME",
        None,
        "B",
        "east",
        150_000,
        45,
        31.2304,
        121.4737,
        "200 Nanjing Rd, Shanghai",
    ),
    (
        "S1",
        "Wangfujing Store",
        "store",
        "ACME",
        "D1",
        "A",
        "north",
        50_000,
        15,
        39.9147,
        116.4109,
        "Wangfujing St 12, Beijing",
    ),
    (
        "S3",
        "Tianjin Binhai Store",
        "store",
        "ACME",
        "D1",
        "B",
        "north",
        30_000,
        15,
        39.0842,
        117.2009,
        "Binhai Ave 5, Tianjin",
    ),
    (
        "S4",
        "Shijiazhuang Mall Store",
        "store",
        "ACME",
        "D1",
        "B",
        "north",
        30_000,
        15,
        38.0428,
        114.5149,
        "Zhongshan Rd 40, Shijiazhuang",
    ),
    (
        "S2",
        "Tianhe Store",
        "store",
        "ACME",
        "D2",
        "A",
        "south",
        40_000,
        15,
        23.1378,
        113.3246,
        "Tianhe North Rd 3, Guangzhou",
    ),
    (
        "S5",
        "Shenzhen Futian Store",
        "store",
        "ACME",
        "D2",
        "B",
        "south",
        30_000,
        15,
        22.5431,
        114.0579,
        "Futian Center 9, Shenzhen",
    ),
    (
        "S6",
        "Hangzhou West Lake Store",
        "store",
        "ACME",
        "D3",
        "B",
        "east",
        30_000,
        15,
        30.2741,
        120.1551,
        "Hubin Rd 7, Hangzhou",
    ),
    (
        "C1",
        "ACME Flagship Sanlitun",
        "store",
        "ACME",
        None,
        "flagship",
        "north",
        0,
        0,
        39.9334,
        116.4551,
        "Sanlitun Rd 19, Beijing",
    ),
    (
        "C2",
        "ACME Flagship Xintiandi",
        "store",
        "ACME",
        None,
        "flagship",
        "east",
        0,
        0,
        31.2197,
        121.4751,
        "Xintiandi 2, Shanghai",
    ),
    (
        "LC1",
        "LUMI Counter Guomao",
        "store",
        "LUMI",
        None,
        "counter",
        "north",
        0,
        0,
        39.9087,
        116.4605,
        "Guomao Mall B1, Beijing",
    ),
    (
        "D4",
        "Southern Beauty Trading",
        "distributor",
        "LUMI",
        None,
        "A",
        "south",
        300_000,
        30,
        23.1291,
        113.2644,
        "12 Huacheng Ave, Guangzhou",
    ),
    (
        "L2",
        "LUMI Beauty Bar Shenzhen",
        "store",
        "LUMI",
        "D4",
        "A",
        "south",
        20_000,
        15,
        22.5333,
        114.0550,
        "Coastal City 3F, Shenzhen",
    ),
]

# D1 carries LUMI too: one distributor, several brands; L1 is its LUMI store.
EXTRA_LINKS = [("D1", "LUMI", None, "A", "north", 300_000, 30)]
EXTRA_ORGS = [
    (
        "L1",
        "LUMI Beauty Bar Beijing",
        "store",
        "LUMI",
        "D1",
        "A",
        "north",
        20_000,
        15,
        39.9219,
        116.4436,
        "Dongzhimen 1F, Beijing",
    ),
]

# e-mail, name, org, role
DEMO_USERS = [
    ("hq@demo.test", "Hannah Qiao (ACME HQ)", "ACME", "hq_admin"),
    ("merch@demo.test", "Ming Li (ACME merchandiser)", "ACME", "hq_merchandiser"),
    ("community@demo.test", "Cai Yun (ACME community operator)", "ACME", "hq_merchandiser"),
    ("hq2@demo.test", "Helen Zhou (LUMI HQ)", "LUMI", "hq_admin"),
    ("dist1@demo.test", "Dong Wei (D1 admin)", "D1", "distributor_admin"),
    ("buyer1@demo.test", "Bo Yang (D1 buyer)", "D1", "distributor_buyer"),
    ("dist2@demo.test", "Diana Chen (D2 admin)", "D2", "distributor_admin"),
    ("dist4@demo.test", "Dai Lin (D4 admin)", "D4", "distributor_admin"),
    ("store1@demo.test", "Sun Hao (S1 owner)", "S1", "store_owner"),
    ("staff1@demo.test", "Shan Xu (S1 staff)", "S1", "store_staff"),
    ("store2@demo.test", "Song Jia (S2 owner)", "S2", "store_owner"),
    ("chain1@demo.test", "Cheng Gao (C1 manager)", "C1", "store_owner"),
    ("owner34@demo.test", "Ou Fang (owns S3 and S4)", "S3", "store_owner"),
    ("owner34@demo.test", "Ou Fang (owns S3 and S4)", "S4", "store_owner"),
]


def _org(code: str) -> Organization | None:
    return db.session.execute(
        select(Organization).where(Organization.code == code)
    ).scalar_one_or_none()


def _existing_org(code: str) -> Organization:
    """An org the seed made in an earlier step."""
    return db.session.execute(select(Organization).where(Organization.code == code)).scalar_one()


def seed_demo() -> int:
    """Create whatever of the demo network is missing; return how many things were created."""
    system = Actor.system()
    created = 0
    for code, name in BRANDS:
        if _org(code) is None:
            services.create_brand(system, code=code, name=name)
            created += 1
    created += _add_orgs(system, ORGS)
    created += _extra_links(system)
    created += _add_orgs(system, EXTRA_ORGS)
    for email, name, org_code, role in DEMO_USERS:
        user = db.session.execute(select(User).where(User.email == email)).scalar_one_or_none()
        if user is None:
            user = services.create_user(email=email, name=name, password=DEMO_PASSWORD)
            created += 1
        org = _existing_org(org_code)
        member = db.session.execute(
            select(Membership).where(Membership.org_id == org.id, Membership.user_id == user.id)
        ).scalar_one_or_none()
        if member is None:
            services.add_member(system, org, user, role)
            created += 1
    db.session.flush()
    created += seed_catalog()  # after the network: policies target its links
    created += seed_stock()  # after the catalog: opening stock of its SKUs
    created += seed_orders()  # after the stock: orders reserve and ship it
    created += seed_replenishment()  # after the orders: they count as inbound
    created += seed_storefront()  # after the stock: stores sell online what they hold
    created += _seed_members()  # after the storefronts: their consumers join
    created += seed_guides()  # after the storefronts: a store's own shop and its guides
    created += seed_campaigns()  # after the guides and members: a campaign through them
    return created


def _seed_members() -> int:
    """ACME and LUMI share one membership programme; the demo consumers join it, hold points,
    wallet money and coupons; ACME's employee store has an HR list, a partner, an invite code and
    a private sale open now (and one opening tomorrow)."""
    acme, lumi = _existing_org("ACME"), _existing_org("LUMI")
    created = seed_members(acme) + seed_members(lumi)
    created += seed_wallets(acme) + seed_wallets(lumi)
    created += seed_coupons(acme)
    created += seed_employees(acme)  # after the consumers: one of them is on the HR list
    created += seed_private_sale(acme)  # after the employees: they are its buyers
    return created


def _add_orgs(system: Actor, rows: list[tuple]) -> int:
    created = 0
    for row in rows:
        code, name, kind, brand, supplier, level, region, credit, terms, lat, lng, address = row
        if _org(code) is not None:
            continue
        services.add_org(
            system,
            brand_id=_existing_org(brand).id,
            kind=OrgKind(kind),
            code=code,
            name=name,
            supplier=_org(supplier) if supplier else None,
            level=level,
            region=region,
            address=address,
            latitude=lat,
            longitude=lng,
            credit_limit_cents=credit * 100,
            payment_terms_days=terms,
        )
        created += 1
    return created


def _extra_links(system: Actor) -> int:
    created = 0
    for org_code, brand_code, supplier, level, region, credit, terms in EXTRA_LINKS:
        org, brand = _org(org_code), _org(brand_code)
        if org is None or brand is None:
            continue
        exists = db.session.execute(
            select(ChannelLink.id).where(
                ChannelLink.brand_id == brand.id, ChannelLink.buyer_org_id == org.id
            )
        ).first()
        if exists:
            continue
        services.link_org(
            system,
            org,
            brand_id=brand.id,
            supplier=_org(supplier) if supplier else None,
            level=level,
            region=region,
            credit_limit_cents=credit * 100,
            payment_terms_days=terms,
        )
        created += 1
    return created
