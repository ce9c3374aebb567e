"""The demo catalog and ACME's demo policies, as the people in the demo network meet them."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from sqlalchemy import func, select

from portal.catalog.models import Category, Product, Variant
from portal.core.audit import AuditEvent
from portal.core.jobs import JobRun
from portal.extensions import db
from portal.policy import consumer_terms, queries
from portal.policy.models import (
    Policy,
    PolicyAudience,
    PolicyRule,
    PolicyVersion,
    VersionStatus,
)
from portal.seed.demo import seed_demo
from tests.support.services import actor_for, org

TODAY = date(2026, 11, 22)


def products_of(brand: str) -> list[Product]:
    return list(
        db.session.execute(select(Product).where(Product.brand_id == org(brand).id)).scalars()
    )


def terms(email: str, sku: str, *, org_code: str | None = None, brand: str = "ACME"):
    """What the user's org pays and must respect for one SKU."""
    brand_id = org(brand).id
    buyer = queries.buyer_for(actor_for(email, org_code), brand_id)
    variant = queries.find_variant(brand_id, sku)
    assert variant is not None, sku
    return queries.resolve_one(buyer, variant)


def as_hq(org_code: str, sku: str):
    """The SKU's terms as ACME HQ sees them with "as seen by" an org without a user."""
    brand_id = org("ACME").id
    buyer = queries.buyer_for(actor_for("hq@demo.test"), brand_id, as_org=org_code)
    return queries.resolve_one(buyer, queries.find_variant(brand_id, sku))


def policy_of(rule) -> str:
    return db.session.get(PolicyVersion, rule.version_id).policy.code


# -- the catalog ---------------------------------------------------------------------------------


def test_acme_has_sixty_products_in_five_categories_and_two_seasons(app):
    products = products_of("ACME")
    assert len(products) >= 60
    assert {p.category.code for p in products} == {
        "TOPS",
        "BOTTOMS",
        "OUTERWEAR",
        "SHOES",
        "ACCESSORIES",
    }
    assert {p.season for p in products} == {"2026AW", "2027SS"}
    assert all(9_900 <= p.msrp_cents <= 199_900 and p.currency == "CNY" for p in products)
    assert all(p.code.startswith("ACME-") for p in products)
    names = {p.name for p in products}
    assert {"Merino crew tee", "Selvedge slim jeans", "Down parka", "Trail runner"} <= names


def test_every_product_comes_in_a_full_grid_of_colors_and_sizes(app):
    for product in products_of("ACME") + products_of("LUMI"):
        colors = {v.color for v in product.variants}
        sizes = {v.size for v in product.variants}
        assert 2 <= len(colors) <= 4, product.code
        assert 4 <= len(sizes) <= 6, product.code
        assert len(product.variants) == len(colors) * len(sizes), product.code
        for variant in product.variants:
            assert variant.sku == f"{product.code}-{variant.color}-{variant.size}"


def test_barcodes_are_unique_thirteen_digit_eans(app):
    barcodes = list(db.session.execute(select(Variant.barcode)).scalars())
    assert len(barcodes) == len(set(barcodes))
    for barcode in barcodes:
        assert len(barcode) == 13 and barcode.isdigit()
        digits = [int(d) for d in barcode]
        assert (sum(digits[0:12:2]) + 3 * sum(digits[1:12:2]) + digits[12]) % 10 == 0


def test_shoes_ship_by_six_tees_by_three_most_things_by_one(app):
    packs: dict[str, set[int]] = defaultdict(set)
    for product in products_of("ACME"):
        packs[product.category.code] |= {v.case_pack for v in product.variants}
    assert packs["SHOES"] == {6}
    assert packs["TOPS"] == {1, 3}
    assert packs["OUTERWEAR"] == packs["BOTTOMS"] == packs["ACCESSORIES"] == {1}


def test_some_of_the_autumn_season_is_old_enough_for_the_outlet(app):
    autumn = [p for p in products_of("ACME") if p.season == "2026AW"]
    aged = [p for p in autumn if p.launch_date < TODAY - timedelta(days=180)]
    assert aged and len(aged) < len(autumn)


def test_lumi_has_twenty_beauty_products_in_bottle_sizes(app):
    products = products_of("LUMI")
    assert len(products) >= 20
    assert {p.category.code for p in products} == {"SKINCARE", "MAKEUP", "FRAGRANCE"}
    assert {v.size for p in products for v in p.variants} == {"15ML", "30ML", "50ML", "100ML"}


# -- the policies --------------------------------------------------------------------------------


def test_demo_policies_are_published_and_active(app):
    rows = db.session.execute(
        select(Policy.code, PolicyVersion.status, PolicyVersion.published_by_user_id).join(
            PolicyVersion, PolicyVersion.policy_id == Policy.id
        )
    ).all()
    assert {code for code, _status, _by in rows} >= {
        "ACME-BASE",
        "ACME-LEVEL-A",
        "ACME-LEVEL-B",
        "ACME-NORTH",
        "ACME-S1",
        "LUMI-BASE",
    }
    assert all(status == VersionStatus.ACTIVE and by is not None for _c, status, by in rows)


def test_level_a_and_level_b_distributors_pay_different_prices(app):
    sku = "ACME-TEE-002-WHT-M"  # Pima cotton tee, MSRP 199
    level_a = terms("dist1@demo.test", sku)
    level_b = terms("dist2@demo.test", sku)
    assert level_a.price_cents == 8_955  # 45%
    assert level_b.price_cents == 10_348  # 52%
    assert policy_of(level_a.price_rule) == "ACME-LEVEL-A"
    assert policy_of(level_b.price_rule) == "ACME-LEVEL-B"
    # a flagship is neither level: the base price list applies
    assert as_hq("C2", sku).price_cents == 10_945  # 55%


def test_level_a_pays_its_own_rate_for_shoes(app):
    shoe = terms("dist1@demo.test", "ACME-RUN-001-BLK-42")  # Trail runner, MSRP 899
    assert shoe.price_cents == 43_152  # 48%


def test_level_b_never_sees_outerwear(app):
    brand_id = org("ACME").id
    d1 = actor_for("dist1@demo.test")
    d2 = actor_for("dist2@demo.test")
    d1_outerwear = queries.browse(
        d1, brand_id, buyer=queries.buyer_for(d1, brand_id), category="OUTERWEAR"
    )
    d2_buyer = queries.buyer_for(d2, brand_id)
    d2_outerwear = queries.browse(d2, brand_id, buyer=d2_buyer, category="OUTERWEAR")
    d2_all = queries.browse(d2, brand_id, buyer=d2_buyer, per_page=200)
    assert d1_outerwear.page.total >= 10
    assert d2_outerwear.page.total == 0
    assert d2_all.page.total == len(products_of("ACME")) - d1_outerwear.page.total
    assert all(p.category.code != "OUTERWEAR" for p in d2_all.page.items)
    parka = terms("dist2@demo.test", "ACME-PKA-001-BLK-M")
    assert not parka.authorized
    assert policy_of(parka.exclude_rule) == "ACME-LEVEL-B"


def test_the_north_region_gets_its_promotion_over_its_level_price(app):
    sku = "ACME-TEE-001-WHT-M"  # Merino crew tee, MSRP 399
    for email, org_code in (
        ("dist1@demo.test", None),
        ("store1@demo.test", None),
        ("owner34@demo.test", "S3"),
        ("owner34@demo.test", "S4"),
    ):
        north = terms(email, sku, org_code=org_code)
        assert north.price_cents == 15_900, (email, org_code)
        assert policy_of(north.price_rule) == "ACME-NORTH"
    # the level-A rate it beats, and a level-B store outside the north
    assert terms("dist1@demo.test", "ACME-TEE-002-WHT-M").price_cents == 8_955
    assert as_hq("S5", sku).price_cents == 20_748  # 52% of 399


def test_s1s_own_prices_win_over_region_and_level(app):
    own_sku = terms("store1@demo.test", "ACME-TEE-001-BLK-M")
    assert own_sku.price_cents == 13_900
    assert policy_of(own_sku.price_rule) == "ACME-S1"
    # the rules it overrode are still listed for the explanation: region, level, base
    assert [policy_of(r) for r in own_sku.candidates["price"]] == [
        "ACME-S1",
        "ACME-NORTH",
        "ACME-LEVEL-A",
        "ACME-BASE",
    ]
    sweater = terms("store1@demo.test", "ACME-KNT-001-GRY-M")  # Cashmere crew sweater, 1,599
    assert sweater.price_cents == 63_960  # 40%
    # the distributor above S1 gets neither
    assert terms("dist1@demo.test", "ACME-TEE-001-BLK-M").price_cents == 15_900
    assert terms("dist1@demo.test", "ACME-KNT-001-GRY-M").price_cents == 71_955  # 45%


def test_floors_and_order_rules_show_on_resolved_terms(app):
    tee = terms("dist1@demo.test", "ACME-TEE-001-BLK-M")
    assert (tee.moq, tee.multiple, tee.case_pack) == (6, 3, 3)
    assert tee.floor_cents == 33_915  # 85% of 399
    shoe = terms("dist2@demo.test", "ACME-RUN-001-BLK-42")
    assert (shoe.moq, shoe.multiple, shoe.case_pack) == (6, 6, 6)
    assert shoe.floor_cents is None
    jeans = terms("dist2@demo.test", "ACME-JNS-001-IND-32")
    assert (jeans.moq, jeans.multiple) == (10, 1)
    assert jeans.floor_cents == 76_415  # 85% of 899
    parka = terms("dist1@demo.test", "ACME-PKA-001-BLK-M")
    assert parka.floor_cents == 149_900
    assert (parka.moq, parka.multiple) == (1, 1)


def test_whole_order_terms_come_from_the_base_policy(app):
    brand_id = org("ACME").id
    order = queries.order_terms(queries.buyer_for(actor_for("dist2@demo.test"), brand_id))
    assert order.min_order_cents == 200_000
    assert order.payment_terms_days == 30
    programme = consumer_terms.terms_for(brand_id)
    assert [level.code for level in programme.levels] == ["member", "silver", "gold"]
    assert programme.limits.units_per_sku == 5
    assert order.rebates == [
        {"threshold_cents": 100_000_000, "percent_bp": 200, "period": "quarter"}
    ]
    assert order.credit_limit_cents == 200_000 * 100  # no policy sets it: the link's own


def test_a_distributor_buying_lumi_too_gets_lumis_terms(app):
    lumi = terms("dist1@demo.test", "LUMI-SRM-001-ORIG-30ML", brand="LUMI")  # serum, MSRP 580
    assert lumi.price_cents == 23_200  # 40%
    assert lumi.currency == "CNY"
    order = queries.order_terms(queries.buyer_for(actor_for("dist1@demo.test"), org("LUMI").id))
    assert order.min_order_cents == 100_000


# -- idempotence ---------------------------------------------------------------------------------


def test_seeding_again_adds_nothing(app):
    models = (
        Category,
        Product,
        Variant,
        Policy,
        PolicyVersion,
        PolicyAudience,
        PolicyRule,
        JobRun,
        AuditEvent,
    )

    def counts() -> dict[str, int]:
        return {
            m.__name__: db.session.execute(select(func.count()).select_from(m)).scalar_one()
            for m in models
        }

    before = counts()
    assert seed_demo() == 0
    assert counts() == before


def test_each_org_finds_the_policies_that_target_it_in_its_inbox(app):
    def inbox(email: str, org_code: str | None = None) -> set[str]:
        page = queries.list_notifications(actor_for(email, org_code), per_page=50)
        return {n.version.policy.code for n in page.items}

    assert inbox("dist1@demo.test") == {"ACME-BASE", "ACME-LEVEL-A", "ACME-NORTH", "LUMI-BASE"}
    assert inbox("dist2@demo.test") == {"ACME-BASE", "ACME-LEVEL-B"}
    assert inbox("store1@demo.test") == {"ACME-BASE", "ACME-LEVEL-A", "ACME-NORTH", "ACME-S1"}
    assert inbox("owner34@demo.test", "S4") == {"ACME-BASE", "ACME-LEVEL-B", "ACME-NORTH"}
