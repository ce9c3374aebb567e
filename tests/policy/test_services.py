"""Channel policy services on a brand of the test's own (tests/support/policy.py): who pays what,
when, under which version, why; what is refused; who may write and publish."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.core import jobs
from portal.core.access import Role
from portal.core.db import utcnow
from portal.core.errors import NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.network import services as network
from portal.policy import publishing, queries, services
from portal.policy.errors import AudienceEmpty, PolicyNotEditable, PolicyOverlap
from portal.policy.models import Notification, PolicyVersion, Section, VersionStatus
from tests.support.policy import Net, build_network, hq_actor

# -- precedence ----------------------------------------------------------------------------------


def test_named_org_beats_region_beats_level_beats_all(net: Net):
    net.publish("P-ALL", price="sku TEE-BLK-M 100")
    net.publish("P-LEVEL-A", kind="level", values=("A",), price="sku TEE-BLK-M 90")
    net.publish("P-NORTH", kind="region", values=("north",), price="sku TEE-BLK-M 85")
    # The named org's rule is only a category rule: the audience decides before the scope does.
    net.publish("P-A1", kind="orgs", values=("A1",), price="category TOPS 40%")

    assert net.price("A1", "TEE-BLK-M") == 7960  # named: 40% of 199.00
    assert net.price("S1", "TEE-BLK-M") == 8500  # level A, north: region wins
    assert net.price("B1", "TEE-BLK-M") == 8500  # level B, north
    assert net.price("A2", "TEE-BLK-M") == 9000  # level A, south
    assert net.price("B2", "TEE-BLK-M") == 10000  # level B, south: all only


def test_versions_shared_by_alike_buyers_are_each_buyers_own(net: Net):
    """A replenishment run looks versions up once per (level, region, named or not): every
    buyer still gets exactly what live_versions gives it alone."""
    net.publish("P-ALL", price="all 70%")
    net.publish("P-LEVEL-A", kind="level", values=("A",), price="all 60%")
    net.publish("P-NORTH", kind="region", values=("north",), price="all 65%")
    net.publish("P-A1", kind="orgs", values=("A1",), price="all 50%")
    shared = queries.VersionsByBuyer(net.brand.id)
    for short in net.links:
        buyer = net.buyer(short)
        assert [v.id for v in shared.of(buyer)] == [v.id for v in queries.live_versions(buyer)]


def test_each_section_is_resolved_on_its_own(net: Net):
    net.publish("P-ALL", price="all 70%", order="all 6 3", floor="category TOPS 150")
    net.publish("P-NORTH", kind="region", values=("north",), price="all 50%")

    terms = queries.resolve_one(net.buyer("B1"), net.variants["TEE-BLK-M"])
    assert terms.price_cents == 9950  # the region's price...
    assert (terms.moq, terms.multiple) == (6, 3)  # ...with the all-level order rule
    assert terms.floor_cents == 15000  # ...and the all-level floor
    assert terms.price_rule.version.policy.code == "P-NORTH"
    assert terms.order_rule.version.policy.code == "P-ALL"
    south = queries.resolve_one(net.buyer("B2"), net.variants["TEE-BLK-M"])
    assert (south.price_cents, south.moq, south.multiple) == (13930, 6, 3)


def test_inside_one_version_sku_beats_product_beats_category_beats_all(net: Net):
    net.publish(
        "P-ALL",
        price="all 50%\ncategory TOPS 60%\nproduct TEE 70%\nsku TEE-BLK-M 188.00",
        order="all 1\ncategory TOPS 2\nproduct TEE 3\nsku TEE-BLK-M 4 2",
    )
    b2 = net.buyer("B2")
    page = queries.resolve(b2, [net.variants[s] for s in ("TEE-BLK-M", "TEE-BLK-L", "POLO-WHT-M")])
    run = queries.resolve_one(b2, net.variants["RUN-BLK-42"])

    assert page[net.variants["TEE-BLK-M"].id].price_cents == 18800  # sku
    assert page[net.variants["TEE-BLK-L"].id].price_cents == 13930  # product: 70% of 199.00
    assert page[net.variants["POLO-WHT-M"].id].price_cents == 17940  # category: 60% of 299.00
    assert run.price_cents == 29950  # all: 50% of 599.00
    assert [page[net.variants[s].id].moq for s in ("TEE-BLK-M", "TEE-BLK-L", "POLO-WHT-M")] == [
        4,
        3,
        2,
    ]
    assert page[net.variants["TEE-BLK-M"].id].multiple == 2
    assert (run.moq, run.multiple, run.case_pack) == (1, 1, 6)


def test_percent_of_msrp_rounds_half_up_to_the_cent(net: Net):
    net.publish("P-ALL", price="category BAGS 50%\nproduct TEE 33.33%\nproduct RUN 0.01%")

    assert net.price("A1", "TOTE-RED-OS") == 6173  # 123.45 x 50% = 61.725
    assert net.price("A1", "TEE-BLK-M") == 6633  # 199.00 x 33.33% = 66.3267
    assert net.price("A1", "RUN-BLK-42") == 6  # 599.00 x 0.01% = 0.0599


def test_a_percentage_finer_than_a_basis_point_is_refused_not_truncated(net: Net):
    with pytest.raises(ValidationFailed) as caught:
        services.parse_rule_lines(Section.PRICE, "all 50%\nproduct RUN 12.345%", label="prices")
    assert list(caught.value.fields) == ["prices line 2"]


def test_floor_is_a_fixed_amount_or_a_share_of_msrp(net: Net):
    net.publish(
        "P-ALL",
        price="all 50%",
        floor="category TOPS 80%\nsku TEE-BLK-M 170\nproduct TOTE 99.99",
    )
    b1 = net.buyer("B1")
    floors = {
        sku: terms.floor_cents
        for sku, terms in (
            (sku, queries.resolve_one(b1, net.variants[sku]))
            for sku in ("TEE-BLK-M", "TEE-BLK-L", "POLO-WHT-M", "TOTE-RED-OS", "RUN-BLK-42")
        )
    }
    assert floors == {
        "TEE-BLK-M": 17000,
        "TEE-BLK-L": 15920,
        "POLO-WHT-M": 23920,
        "TOTE-RED-OS": 9999,
        "RUN-BLK-42": None,  # no floor for shoes
    }


def test_excluded_category_is_hidden_from_browse_and_unauthorized_in_resolve(net: Net):
    net.publish("P-ALL", price="all 60%")
    net.publish("P-LEVEL-B", kind="level", values=("B",), exclude="category SHOES")

    b1 = queries.browse(net.actor("B1"), net.brand.id, buyer=net.buyer("B1"))
    a1 = queries.browse(net.actor("A1"), net.brand.id, buyer=net.buyer("A1"))
    assert [p.code for p in b1.page.items] == ["POLO", "TEE", "TOTE"]
    assert [p.code for p in a1.page.items] == ["POLO", "RUN", "TEE", "TOTE"]
    terms = queries.resolve_one(net.buyer("B1"), net.variants["RUN-BLK-42"])
    assert not terms.authorized and terms.exclude_rule.scope == "category"
    assert net.price("A1", "RUN-BLK-42") == 35940
    with pytest.raises(NotFound):
        queries.get_offer_product(net.actor("B1"), net.brand.id, "RUN", net.buyer("B1"))


def test_a_more_specific_price_authorizes_what_a_level_excludes(net: Net):
    net.publish("P-ALL", price="all 60%")
    net.publish("P-LEVEL-B", kind="level", values=("B",), exclude="category SHOES")
    net.publish("P-B1", kind="orgs", values=("B1",), price="product RUN 40%")

    b1 = queries.resolve_one(net.buyer("B1"), net.variants["RUN-BLK-42"])
    assert b1.authorized and b1.price_cents == 23960 and b1.exclude_rule is None
    b2 = queries.resolve_one(net.buyer("B2"), net.variants["RUN-BLK-42"])
    assert not b2.authorized  # the rest of level B still may not buy shoes
    listed = queries.browse(net.actor("B1"), net.brand.id, buyer=net.buyer("B1"))
    assert "RUN" in [p.code for p in listed.page.items]
    others = queries.browse(net.actor("B2"), net.brand.id, buyer=net.buyer("B2"))
    assert "RUN" not in [p.code for p in others.page.items]


def test_inside_one_version_an_exclusion_beats_a_price_of_the_same_scope(net: Net):
    net.publish("P-ALL", price="category SHOES 60%", exclude="category SHOES")
    assert not queries.resolve_one(net.buyer("A1"), net.variants["RUN-BLK-42"]).authorized
    listed = queries.browse(net.actor("A1"), net.brand.id, buyer=net.buyer("A1"))
    assert listed.page.items == []


def test_sku_without_a_price_rule_is_unauthorized(net: Net):
    net.publish("P-ALL", price="product TEE 100\nsku POLO-WHT-M 150")

    assert net.price("A2", "TEE-BLK-L") == 10000
    assert net.price("A2", "RUN-BLK-42") is None
    terms = queries.resolve_one(net.buyer("A2"), net.variants["TOTE-RED-OS"])
    assert not terms.authorized and terms.price_rule is None and terms.exclude_rule is None
    page = queries.browse(net.actor("A2"), net.brand.id, buyer=net.buyer("A2"))
    assert [p.code for p in page.page.items] == ["POLO", "TEE"]


def test_a_buyer_without_any_live_policy_sees_an_empty_catalog(net: Net):
    page = queries.browse(net.actor("A1"), net.brand.id, buyer=net.buyer("A1"))
    assert page.page.items == [] and page.page.total == 0
    assert net.price("A1", "TEE-BLK-M") is None


def test_hq_browses_as_one_of_its_orgs_and_others_are_not_found(net: Net):
    net.publish("P-ALL", price="all 60%")
    net.publish("P-LEVEL-B", kind="level", values=("B",), exclude="product TEE")

    as_b1 = queries.buyer_for(net.hq, net.brand.id, as_org=net.code("B1"))
    assert as_b1.org_id == net.org_id("B1")
    assert queries.buyer_for(net.hq, net.brand.id) is None  # HQ's own, unfiltered view
    everything = queries.browse(net.hq, net.brand.id, buyer=None)
    assert everything.page.total == 4
    seen_as_b1 = queries.browse(net.hq, net.brand.id, buyer=as_b1)
    assert [p.code for p in seen_as_b1.page.items] == ["POLO", "RUN", "TOTE"]
    with pytest.raises(NotFound):  # a distributor looks only through its own eyes
        queries.buyer_for(net.actor("A1"), net.brand.id, as_org=net.code("B1"))
    with pytest.raises(NotFound):  # and a buyer of another brand has no prices here
        queries.buyer_for(net.actor("A1"), build_network("PQ").brand.id)
    with pytest.raises(NotFound):
        queries.browse(net.actor("A1"), net.brand.id, buyer=None)


# -- effective windows ---------------------------------------------------------------------------


def test_scheduled_version_is_not_live_until_it_starts(net: Net):
    start = utcnow() + timedelta(days=2)
    version = net.publish("P-ALL", price="all 50%", effective_from=start)

    assert version.status == VersionStatus.SCHEDULED
    assert net.price("A1", "TEE-BLK-M") is None
    assert net.price("A1", "TEE-BLK-M", at=start - timedelta(seconds=1)) is None
    assert net.price("A1", "TEE-BLK-M", at=start) == 9950
    assert queries.browse(net.actor("A1"), net.brand.id, buyer=net.buyer("A1")).page.total == 0

    assert services.advance_states(now=start - timedelta(minutes=1), brand_id=net.brand.id) == {
        "activated": 0,
        "expired": 0,
    }
    assert services.advance_states(now=start, brand_id=net.brand.id) == {
        "activated": 1,
        "expired": 0,
    }
    db.session.refresh(version)
    assert version.status == VersionStatus.ACTIVE


def test_expired_window_is_never_served_even_while_still_labelled_active(net: Net):
    version = net.publish(
        "P-ALL", price="all 50%", min_order_cents=1000, effective_to=utcnow() + timedelta(hours=1)
    )
    assert version.status == VersionStatus.ACTIVE
    assert net.price("A1", "TEE-BLK-M") == 9950
    assert queries.order_terms(net.buyer("A1")).min_order_cents == 1000
    assert net.price("A1", "TEE-BLK-M", at=utcnow() + timedelta(hours=2)) is None

    # Time passes and no scheduler runs: the label still says active, reads already know better.
    version.effective_to = utcnow() - timedelta(seconds=1)
    db.session.flush()
    assert version.status == VersionStatus.ACTIVE
    assert net.price("A1", "TEE-BLK-M") is None
    assert queries.browse(net.actor("A1"), net.brand.id, buyer=net.buyer("A1")).page.total == 0
    assert queries.order_terms(net.buyer("A1")).sources == {}

    assert services.advance_states(brand_id=net.brand.id) == {"activated": 0, "expired": 1}
    db.session.refresh(version)
    assert version.status == VersionStatus.EXPIRED


def test_advance_states_leaves_other_brands_alone_when_scoped(net: Net):
    other = build_network("PQ")
    version = net.publish("P-ALL", price="all 50%", effective_to=utcnow() + timedelta(hours=1))
    theirs = other.publish("Q-ALL", price="all 50%", effective_to=utcnow() + timedelta(hours=1))
    later = utcnow() + timedelta(hours=2)

    assert services.advance_states(now=later, brand_id=other.brand.id)["expired"] == 1
    db.session.refresh(version)
    db.session.refresh(theirs)
    assert (version.status, theirs.status) == (VersionStatus.ACTIVE, VersionStatus.EXPIRED)


# -- versioning ----------------------------------------------------------------------------------


def test_revising_an_active_version_starts_a_draft_copy_with_the_same_rules(net: Net):
    v1 = net.publish(
        "P-ALL",
        price="category TOPS 55%\nsku TEE-BLK-M 88.50",
        order="product RUN 2 6",
        floor="category TOPS 80%",
        min_order_cents=100_000,
        rebates=[{"threshold_cents": 1_000_000, "percent_bp": 200, "period": "quarter"}],
    )
    v2 = services.revise_policy(net.hq, v1)

    assert (v2.number, v2.status, v2.policy_id) == (2, VersionStatus.DRAFT, v1.policy_id)
    for section in Section:
        assert services.format_rule_lines(v2, section) == services.format_rule_lines(v1, section)
    assert services.format_rule_lines(v2, Section.PRICE) == "category TOPS 55%\nsku TEE-BLK-M 88.5"
    assert (v2.min_order_cents, v2.rebates) == (v1.min_order_cents, v1.rebates)
    assert queries.audience_label(v2) == "all"
    # Asking again returns the open draft rather than a third version.
    assert services.revise_policy(net.hq, v1) is v2
    # Until v2 is published, v1 still decides.
    assert net.price("A1", "TEE-BLK-M") == 8850


def test_publishing_v2_ends_v1_where_v2_starts_and_v1_stays_readable(net: Net):
    v1 = net.publish("P-ALL", price="sku TEE-BLK-M 100\nproduct TOTE 50")
    v2 = services.revise_policy(net.hq, v1)
    services.update_draft(
        net.hq,
        v2,
        services.PolicyInput(
            code="P-ALL",
            name="Policy P-ALL, autumn",
            effective_from=utcnow(),
            rules=services.parse_rule_lines(Section.PRICE, "sku TEE-BLK-M 90", label="prices"),
        ),
    )
    services.publish_policy(net.hq, v2)
    db.session.refresh(v1)

    assert (v1.status, v2.status) == (VersionStatus.EXPIRED, VersionStatus.ACTIVE)
    assert v1.effective_to == v2.effective_from
    assert net.price("A1", "TEE-BLK-M") == 9000
    assert net.price("A1", "TOTE-RED-OS") is None  # v2 dropped the tote
    explanation = queries.explain(net.buyer("A1"), net.variants["TEE-BLK-M"])
    assert explanation["price"]["rule"]["version"] == 2
    # v1 stays as it was.
    old = queries.get_version(net.hq, v1.id)
    assert services.format_rule_lines(old, Section.PRICE) == "sku TEE-BLK-M 100\nproduct TOTE 50"
    db.session.expire_all()
    assert [v.number for v in v1.policy.versions] == [1, 2]
    listed = queries.list_versions(net.hq).items
    assert [(v.policy.code, v.number) for v in listed] == [("P-ALL", 2)]


def test_buyer_changes_list_the_skus_whose_rules_changed_in_the_buyers_own_prices(net: Net):
    v1 = net.publish("P-ALL", price="all 50%")
    v2 = services.revise_policy(net.hq, v1)
    services.update_draft(
        net.hq,
        v2,
        services.PolicyInput(
            code="P-ALL",
            name="Policy P-ALL",
            effective_from=utcnow(),
            rules=services.parse_rule_lines(Section.PRICE, "all 50%\nproduct TEE 80", label="p"),
        ),
    )
    services.publish_policy(net.hq, v2)

    changes = queries.buyer_changes(net.buyer("A1"), v2)
    assert [(c.variant.sku, c.before.price_cents, c.after.price_cents) for c in changes.prices] == [
        (net.variants["TEE-BLK-L"].sku, 9950, 8000),
        (net.variants["TEE-BLK-M"].sku, 9950, 8000),
    ]
    assert changes.terms == [] and not changes.more


def test_a_scheduled_v2_leaves_v1_in_force_until_it_starts(net: Net):
    v1 = net.publish("P-ALL", price="all 50%")
    v2 = services.revise_policy(net.hq, v1)
    start = utcnow() + timedelta(days=7)
    services.update_draft(
        net.hq,
        v2,
        services.PolicyInput(
            code="P-ALL",
            name="Policy P-ALL",
            effective_from=start,
            rules=services.parse_rule_lines(Section.PRICE, "all 40%", label="prices"),
        ),
    )
    services.publish_policy(net.hq, v2)
    db.session.refresh(v1)

    assert (v1.status, v2.status) == (VersionStatus.ACTIVE, VersionStatus.SCHEDULED)
    assert v1.effective_to == start
    assert net.price("B2", "TEE-BLK-M") == 9950
    assert net.price("B2", "TEE-BLK-M", at=start - timedelta(seconds=1)) == 9950
    assert net.price("B2", "TEE-BLK-M", at=start) == 7960
    assert services.advance_states(now=start, brand_id=net.brand.id) == {
        "activated": 1,
        "expired": 1,
    }


def test_published_version_cannot_be_edited_or_published_again(net: Net):
    v1 = net.publish("P-ALL", price="all 50%")
    with pytest.raises(PolicyNotEditable):
        services.update_draft(
            net.hq,
            v1,
            services.PolicyInput(code="P-ALL", name="changed", effective_from=utcnow()),
        )
    with pytest.raises(PolicyNotEditable):
        services.publish_policy(net.hq, v1)
    db.session.refresh(v1)
    assert v1.policy.name == "Policy P-ALL"
    assert services.format_rule_lines(v1, Section.PRICE) == "all 50%"


def test_update_draft_replaces_audience_rules_and_terms(net: Net):
    draft = net.write("P-L", kind="level", values=("A",), price="all 50%", min_order_cents=500)
    services.update_draft(
        net.hq,
        draft,
        services.PolicyInput(
            code="P-L",
            name="Level A and B",
            audience_kind="level",
            audience_values=["A", "B"],
            effective_from=utcnow(),
            credit_limit_cents=900_000,
            rules=services.parse_rule_lines(Section.PRICE, "all 40%", label="prices"),
        ),
    )
    db.session.expire_all()
    draft = db.session.get(PolicyVersion, draft.id)
    assert queries.audience_label(draft) == "level: A, B"
    assert services.format_rule_lines(draft, Section.PRICE) == "all 40%"
    assert (draft.min_order_cents, draft.credit_limit_cents) == (None, 900_000)
    assert draft.policy.name == "Level A and B"
    assert draft.status == VersionStatus.DRAFT
    # The same audience again is a plain re-save.
    services.update_draft(
        net.hq,
        draft,
        services.PolicyInput(
            code="P-L",
            name="Level A and B",
            audience_kind="level",
            audience_values=["B", "A"],
            effective_from=utcnow(),
            rules=services.parse_rule_lines(Section.PRICE, "all 45%", label="prices"),
        ),
    )
    services.publish_policy(net.hq, draft)
    assert draft.targeted_count == 5  # A1, S1, A2, B1, B2 (PXX is suspended)
    assert net.price("B2", "TEE-BLK-M") == 8955


def test_a_refused_update_leaves_the_draft_as_it_was(net: Net):
    draft = net.write("P-L", kind="level", values=("A",), price="all 50%", min_order_cents=500)
    for bad in (
        dict(audience_kind="level", audience_values=["Z"]),  # matches nobody
        dict(
            rules=[services.RuleInput(section="price", scope="sku", target="NOPE", price_cents=1)]
        ),
    ):
        with pytest.raises((AudienceEmpty, ValidationFailed)):
            services.update_draft(
                net.hq,
                draft,
                services.PolicyInput(code="P-L", name="changed", effective_from=utcnow(), **bad),
            )
        assert queries.audience_label(draft) == "level: A"
        assert services.format_rule_lines(draft, Section.PRICE) == "all 50%"
        assert draft.min_order_cents == 500 and draft.policy.name == "Policy P-L"


# -- explanation ---------------------------------------------------------------------------------


def test_explanation_names_policy_version_audience_rule_base_result_and_what_it_overrode(
    net: Net,
):
    net.publish("P-ALL", price="category TOPS 60%", order="all 2", floor="product TEE 120")
    net.publish("P-A1", kind="orgs", values=("A1",), price="sku TEE-BLK-M 80")

    why = queries.explain(net.buyer("A1"), net.variants["TEE-BLK-M"])

    assert (why["sku"], why["product"], why["buyer"], why["level"], why["region"]) == (
        "TEE-BLK-M",
        "TEE",
        "PXA1",
        "A",
        "north",
    )
    assert (why["authorized"], why["price_cents"], why["currency"], why["msrp_cents"]) == (
        True,
        8000,
        "CNY",
        19900,
    )
    rule = why["price"]["rule"]
    assert {k: rule[k] for k in ("policy", "version", "audience", "scope", "target")} == {
        "policy": "P-A1",
        "version": 1,
        "audience": "orgs",  # a buyer is not told who else a named-org policy names
        "scope": "sku",
        "target": "TEE-BLK-M",
    }
    assert rule["price_cents"] == 8000 and rule["percent_bp"] is None
    assert (why["price"]["base_cents"], why["price"]["result_cents"]) == (19900, 8000)
    overridden = why["price"]["overridden"]
    assert [
        (r["policy"], r["audience"], r["scope"], r["target"], r["percent_bp"]) for r in overridden
    ] == [("P-ALL", "all", "category", "TOPS", 6000)]
    assert why["order"]["rule"]["policy"] == "P-ALL" and why["moq"] == 2
    assert why["floor"]["result_cents"] == why["floor_price_cents"] == 12000
    assert why["excluded_by"] is None

    # Another buyer pays the all-level price; nothing is overridden for it.
    other = queries.explain(net.buyer("B2"), net.variants["TEE-BLK-M"])
    assert other["price_cents"] == 11940 and other["price"]["overridden"] == []
    assert other["price"]["rule"]["policy"] == "P-ALL"


def test_explanation_of_an_excluded_sku_names_the_exclusion_and_no_price(net: Net):
    net.publish("P-ALL", price="all 60%")
    net.publish("P-LEVEL-B", kind="level", values=("B",), exclude="category SHOES")

    why = queries.explain(net.buyer("B2"), net.variants["RUN-BLK-42"])
    assert why["authorized"] is False and why["price_cents"] is None
    assert why["excluded_by"]["policy"] == "P-LEVEL-B"
    assert why["excluded_by"]["audience"] == "level: B"
    assert why["excluded_by"]["target"] == "SHOES"


# -- order terms ---------------------------------------------------------------------------------


def test_order_terms_take_the_most_specific_value_and_fall_back_to_the_link(net: Net):
    net.publish(
        "P-ALL",
        price="all 50%",
        min_order_cents=100_000,
        payment_terms_days=15,
        order_window_start=utcnow(),
        order_window_end=utcnow() + timedelta(days=30),
    )
    level_a = net.publish(
        "P-LEVEL-A", kind="level", values=("A",), price="all 45%", credit_limit_cents=2_000_000
    )

    a2 = queries.order_terms(net.buyer("A2"))
    assert (a2.min_order_cents, a2.credit_limit_cents, a2.payment_terms_days) == (
        100_000,
        2_000_000,
        15,
    )
    assert a2.sources["credit_limit_cents"].id == level_a.id
    assert a2.sources["min_order_cents"].policy.code == "P-ALL"
    assert a2.order_window_end is not None
    # No policy sets B1's credit limit: the link's own (0) stands; A1's link has 5,000.00 / 30
    # days but level A's policy sets the limit, and P-ALL the payment days.
    b1 = queries.order_terms(net.buyer("B1"))
    assert (b1.credit_limit_cents, b1.payment_terms_days) == (0, 15)
    assert "credit_limit_cents" not in b1.sources
    a1 = queries.order_terms(net.buyer("A1"))
    assert (a1.credit_limit_cents, a1.payment_terms_days) == (2_000_000, 15)


def test_order_terms_without_any_policy_are_the_links_own(net: Net):
    terms = queries.order_terms(net.buyer("A1"))
    assert (terms.credit_limit_cents, terms.payment_terms_days, terms.min_order_cents) == (
        500_000,
        30,
        None,
    )
    assert terms.sources == {}


# -- bad input -----------------------------------------------------------------------------------


def refused(net: Net, error: type[Exception] = ValidationFailed, **kwargs) -> dict[str, str]:
    """Write a draft that must be refused; return the fields named. Nothing may be stored."""
    before = net.policy_count()
    with pytest.raises(error) as caught:
        net.write("P-BAD", **kwargs)
    assert net.policy_count() == before
    return caught.value.fields


def test_negative_price_is_refused_naming_the_line(net: Net):
    fields = refused(net, price="sku TEE-BLK-M 10\nsku TEE-BLK-L -0.01")
    assert list(fields) == ["prices line 2"]
    assert "below zero" in fields["prices line 2"]


def test_zero_percent_is_refused_naming_the_line(net: Net):
    with pytest.raises(ValidationFailed) as caught:
        services.parse_rule_lines(Section.PRICE, "category TOPS 0%", label="prices")
    assert list(caught.value.fields) == ["prices line 1"]


def test_moq_of_zero_is_refused_naming_the_line(net: Net):
    fields = refused(net, price="all 50%", order="product TEE 6\n\nproduct RUN 0")
    assert list(fields) == ["order rules line 3"]
    assert "MOQ" in fields["order rules line 3"]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (dict(section="price", scope="all", price_cents=-1), "below zero"),
        (dict(section="price", scope="all", percent_bp=0), "percentage"),
        (dict(section="price", scope="all", price_cents=100, percent_bp=5000), "either"),
        (dict(section="floor", scope="all", price_cents=100), "applies to"),
        (dict(section="order", scope="sku", target="TEE-BLK-M", moq=0), "MOQ"),
        (dict(section="order", scope="sku", target="TEE-BLK-M", moq=6, multiple=0), "multiple"),
        (dict(section="exclude", scope="sku", target="TEE-BLK-M"), "applies to"),
        (dict(section="price", scope="product", target="", price_cents=100), "Name the"),
        (dict(section="price", scope="product", target="NOPE", price_cents=100), "NOPE"),
    ],
)
def test_bad_rules_from_the_api_are_refused_naming_the_item(net: Net, rule, message):
    data = services.PolicyInput(
        code="P-BAD",
        name="bad",
        effective_from=utcnow(),
        rules=[
            services.RuleInput(
                section="price", scope="product", target="TEE", price_cents=9000, where="rules[0]"
            ),
            services.RuleInput(**rule, where="rules[1]"),
        ],
    )
    with pytest.raises(ValidationFailed) as caught:
        services.create_policy(net.hq, net.brand.id, data)
    assert list(caught.value.fields) == ["rules[1]"]
    assert message in caught.value.fields["rules[1]"]
    assert net.policy_count() == 0


def test_unknown_sku_in_a_price_list_is_refused_naming_its_line(net: Net):
    fields = refused(
        net,
        price="# pasted from the season sheet\nsku TEE-BLK-M 90\n\nsku TEE-PNK-XXL 90\n",
    )
    assert fields == {"prices line 4": "Unknown sku: TEE-PNK-XXL."}


def test_a_sku_of_another_brand_is_unknown_here(net: Net):
    other = build_network("PQ")
    other.variants["TEE-BLK-M"].sku = "PQ-ONLY-1"
    db.session.flush()
    fields = refused(net, price="sku PQ-ONLY-1 90")
    assert list(fields) == ["prices line 1"]


def test_malformed_lines_are_refused_naming_the_line(net: Net):
    with pytest.raises(ValidationFailed) as caught:
        services.parse_rule_lines(Section.PRICE, "sku TEE-BLK-M 90\nbrand ACME 10", label="prices")
    assert list(caught.value.fields) == ["prices line 2"]
    with pytest.raises(ValidationFailed) as caught:
        services.parse_rule_lines(Section.PRICE, "sku TEE-BLK-M ninety", label="prices")
    assert list(caught.value.fields) == ["prices line 1"]
    with pytest.raises(ValidationFailed) as caught:
        services.parse_rule_lines(Section.ORDER, "sku TEE-BLK-M six", label="order rules")
    assert list(caught.value.fields) == ["order rules line 1"]


def test_a_rule_written_twice_is_refused(net: Net):
    fields = refused(net, price="sku TEE-BLK-M 90\nsku tee-blk-m 80")
    assert list(fields) == ["prices line 2"]


def test_audience_that_matches_nobody_is_refused(net: Net):
    fields = refused(net, AudienceEmpty, kind="level", values=("Z",), price="all 50%")
    assert list(fields) == ["audience_values"]
    # PXX is the only org in the east, and it is suspended.
    fields = refused(net, AudienceEmpty, kind="region", values=("east",), price="all 50%")
    assert list(fields) == ["audience_values"]


def test_unknown_org_code_in_the_audience_is_refused_and_named(net: Net):
    other = build_network("PQ")
    fields = refused(net, kind="orgs", values=("A1", "NOPE"), price="all 50%")
    assert fields == {"audience_values": "Not in this brand's network: PXNOPE."}
    # An org of another brand's network is not in this one.
    with pytest.raises(ValidationFailed) as caught:
        services.create_policy(
            net.hq,
            net.brand.id,
            services.PolicyInput(
                code="P-BAD",
                name="bad",
                audience_kind="orgs",
                audience_values=[other.code("A1")],
                effective_from=utcnow(),
            ),
        )
    assert "PQA1" in caught.value.fields["audience_values"]


def test_window_fields_are_checked(net: Net):
    now = utcnow()
    fields = refused(net, price="all 50%", effective_to=now, effective_from=now)
    assert list(fields) == ["effective_to"]
    fields = refused(
        net,
        price="all 50%",
        order_window_start=now + timedelta(days=2),
        order_window_end=now + timedelta(days=1),
        min_order_cents=-1,
    )
    assert set(fields) == {"order_window_end", "min_order_cents"}
    fields = refused(net, price="all 50%", effective_from=None)
    assert list(fields) == ["effective_from"]


def test_overlapping_window_with_another_policy_of_the_same_audience_is_refused(net: Net):
    now = utcnow()
    net.publish("P-A", kind="level", values=("A",), price="all 50%")
    draft = net.write("P-B", kind="level", values=("B", "A"), price="all 40%")

    with pytest.raises(PolicyOverlap) as caught:
        services.publish_policy(net.hq, draft)
    assert list(caught.value.fields) == ["effective_from"]
    assert "P-A v1" in caught.value.fields["effective_from"]
    assert draft.status == VersionStatus.DRAFT and draft.published_at is None
    assert net.price("B1", "TEE-BLK-M") is None  # nothing of P-B is live
    # A different kind of audience over the same orgs is precedence, not overlap.
    net.publish("P-NORTH", kind="region", values=("north",), price="all 45%")
    # Adjacent windows do not overlap: one ends where the other starts.
    net.publish(
        "P-ALL-1", price="all 70%", effective_from=now, effective_to=now + timedelta(days=10)
    )
    later = net.publish(
        "P-ALL-2",
        price="all 60%",
        effective_from=now + timedelta(days=10),
        effective_to=now + timedelta(days=20),
    )
    assert later.status == VersionStatus.SCHEDULED
    with pytest.raises(PolicyOverlap):
        net.publish("P-ALL-3", price="all 65%", effective_from=now + timedelta(days=15))


def test_a_start_typed_in_the_past_does_not_collide_with_a_policy_that_has_ended_since(
    net: Net,
):
    old = net.publish("P-OLD", price="all 70%")
    # Its window ended an hour ago, and no scheduler has run since: still labelled active.
    old.effective_to = utcnow() - timedelta(hours=1)
    db.session.flush()
    assert old.status == VersionStatus.ACTIVE

    new = net.publish("P-NEW", price="all 60%", effective_from=utcnow() - timedelta(days=1))
    assert new.status == VersionStatus.ACTIVE
    assert net.price("B2", "TEE-BLK-M") == 11940
    db.session.refresh(old)
    assert old.status == VersionStatus.EXPIRED


def test_naive_datetimes_are_taken_as_utc(net: Net):
    naive = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=1)
    version = net.publish(
        "P-ALL",
        price="all 50%",
        effective_from=naive,
        effective_to=naive + timedelta(days=1),
        order_window_start=naive,
        order_window_end=naive + timedelta(hours=5),
    )
    assert version.status == VersionStatus.SCHEDULED
    assert version.effective_from == naive.replace(tzinfo=UTC)
    assert net.price("A1", "TEE-BLK-M", at=naive.replace(tzinfo=UTC)) == 9950


@pytest.mark.parametrize(
    "rebate",
    [
        {"threshold_cents": 100, "percent_bp": 200, "period": "week"},
        {"threshold_cents": -1, "percent_bp": 200, "period": "quarter"},
        {"threshold_cents": 100, "percent_bp": 0, "period": "quarter"},
        {"threshold_cents": "lots", "percent_bp": 200, "period": "quarter"},
        {"percent_bp": 200, "period": "quarter"},
    ],
)
def test_bad_rebates_are_refused_naming_the_item(net: Net, rebate):
    good = {"threshold_cents": 100, "percent_bp": 200, "period": "year"}
    fields = refused(net, price="all 50%", rebates=[good, rebate])
    assert list(fields) == ["rebates[1]"]


def test_rebate_lines_are_parsed_and_refused_by_line(net: Net):
    assert services.parse_rebate_lines("1000000 2% quarter\n\n50000.50 1.5% Month") == [
        {"threshold_cents": 100_000_000, "percent_bp": 200, "period": "quarter"},
        {"threshold_cents": 5_000_050, "percent_bp": 150, "period": "month"},
    ]
    with pytest.raises(ValidationFailed) as caught:
        services.parse_rebate_lines("1000000 2% quarter\n1000 2%")
    assert list(caught.value.fields) == ["rebates line 2"]


def test_a_window_that_has_already_ended_cannot_be_published(net: Net):
    draft = net.write(
        "P-OLD",
        price="all 50%",
        effective_from=utcnow() - timedelta(days=10),
        effective_to=utcnow() - timedelta(days=1),
    )
    with pytest.raises(ValidationFailed) as caught:
        services.publish_policy(net.hq, draft)
    assert list(caught.value.fields) == ["effective_to"]


def test_a_policy_that_says_nothing_cannot_be_published(net: Net):
    draft = net.write("P-EMPTY")
    with pytest.raises(ValidationFailed) as caught:
        services.publish_policy(net.hq, draft)
    assert list(caught.value.fields) == ["rules"]


def test_a_start_in_the_past_takes_effect_from_publishing(net: Net):
    before = utcnow()
    version = net.publish("P-ALL", price="all 50%", effective_from=before - timedelta(days=30))
    assert version.effective_from >= before
    assert net.price("A1", "TEE-BLK-M", at=before - timedelta(days=1)) is None


def test_policy_codes_are_unique_per_brand_and_well_formed(net: Net):
    net.write("P-ALL", price="all 50%")
    with pytest.raises(ValidationFailed) as caught:
        net.write("p-all", price="all 40%")
    assert list(caught.value.fields) == ["code"]
    with pytest.raises(ValidationFailed) as caught:
        net.write("no spaces", price="all 40%")
    assert list(caught.value.fields) == ["code"]
    # Another brand may use the same code.
    build_network("PQ").write("P-ALL", price="all 40%")


# -- inbox ---------------------------------------------------------------------------------------


def published_and_delivered(net: Net, **kwargs) -> PolicyVersion:
    version = net.publish("P-ALL", price="all 50%", **kwargs)
    jobs.commit()  # inline mode: the fan-out runs after the commit
    return db.session.get(PolicyVersion, version.id)


def inbox_item(net: Net, short: str, version: PolicyVersion) -> Notification:
    return db.session.execute(
        select(Notification).where(
            Notification.org_id == net.org_id(short), Notification.version_id == version.id
        )
    ).scalar_one()


def test_opening_marks_read_and_acknowledging_is_recorded_once(net: Net):
    version = published_and_delivered(net)
    buyer = net.actor("A1")
    item = queries.get_notification(buyer, inbox_item(net, "A1", version).id)
    assert queries.count_unread(buyer) == 1

    services.mark_read(buyer, item)
    first_read = item.read_at
    assert first_read is not None and item.acknowledged_at is None
    assert queries.count_unread(buyer) == 0
    services.mark_read(buyer, item)
    assert item.read_at == first_read

    services.acknowledge(buyer, item)
    acknowledged = item.acknowledged_at
    services.acknowledge(buyer, item)
    assert item.acknowledged_at == acknowledged is not None

    rows = {
        (r.level, r.region): (r.delivered, r.read, r.acknowledged) for r in queries.reach(version)
    }
    assert rows == {
        ("A", "north"): (2, 1, 1),
        ("A", "south"): (1, 0, 0),
        ("B", "north"): (1, 0, 0),
        ("B", "south"): (1, 0, 0),
    }
    pending = [n.org.code for n in queries.unacknowledged(version).items]
    assert pending == ["PXA2", "PXB1", "PXB2", "PXS1"]


def test_acknowledging_right_away_also_marks_read(net: Net):
    version = published_and_delivered(net)
    item = inbox_item(net, "S1", version)
    services.acknowledge(net.actor("S1"), item)
    assert item.read_at is not None and item.acknowledged_at is not None


def test_an_inbox_item_is_its_own_orgs_only(net: Net):
    version = published_and_delivered(net)
    item = inbox_item(net, "A1", version)
    for actor in (net.actor("S1"), net.actor("A2"), net.hq):
        with pytest.raises(NotFound):
            queries.get_notification(actor, item.id)
        with pytest.raises(NotFound):
            services.acknowledge(actor, item)
        with pytest.raises(NotFound):
            services.mark_read(actor, item)
    assert item.read_at is None and item.acknowledged_at is None


def test_store_staff_may_read_but_not_acknowledge(net: Net):
    version = published_and_delivered(net)
    item = inbox_item(net, "S1", version)
    staff = net.actor("S1", Role.STORE_STAFF)
    services.mark_read(staff, item)
    with pytest.raises(PermissionDenied):
        services.acknowledge(staff, item)
    assert item.acknowledged_at is None


def test_remind_touches_only_orgs_that_have_not_acknowledged(net: Net):
    version = published_and_delivered(net)
    services.acknowledge(net.actor("A1"), inbox_item(net, "A1", version))
    run = services.remind(net.hq, version)
    jobs.commit()
    db.session.refresh(run)
    assert run.status == "finished" and run.result["reminded"] == 4
    counts = dict(
        db.session.execute(
            select(Notification.org_id, Notification.remind_count).where(
                Notification.version_id == version.id
            )
        ).all()
    )
    assert counts[net.org_id("A1")] == 0
    assert {counts[net.org_id(s)] for s in ("S1", "A2", "B1", "B2")} == {1}


def test_reminding_twice_within_a_minute_is_one_reminder(net: Net, monkeypatch):
    version = published_and_delivered(net)
    clock = utcnow().replace(second=10)
    monkeypatch.setattr(publishing, "utcnow", lambda: clock)

    def remind_counts() -> set[int]:
        stmt = select(Notification.remind_count).where(Notification.version_id == version.id)
        return set(db.session.execute(stmt).scalars())

    first = services.remind(net.hq, version)
    jobs.commit()
    clock += timedelta(seconds=30)
    second = services.remind(net.hq, version)
    jobs.commit()
    assert second.id == first.id and remind_counts() == {1}
    clock += timedelta(minutes=1)
    third = services.remind(net.hq, version)
    jobs.commit()
    assert third.id != first.id and remind_counts() == {2}


def test_a_draft_cannot_be_reminded_about(net: Net):
    draft = net.write("P-ALL", price="all 50%")
    with pytest.raises(PolicyNotEditable):
        services.remind(net.hq, draft)


# -- access --------------------------------------------------------------------------------------


def test_another_brands_hq_gets_not_found_from_every_write(net: Net):
    draft = net.write("P-ALL", price="all 50%")
    published = net.publish("P-LEVEL-A", kind="level", values=("A",), price="all 40%")
    stranger = hq_actor(build_network("PQ").brand)
    data = services.PolicyInput(code="P-X", name="x", effective_from=utcnow())

    for attempt in (
        lambda: services.create_policy(stranger, net.brand.id, data),
        lambda: services.update_draft(stranger, draft, data),
        lambda: services.publish_policy(stranger, draft),
        lambda: services.revise_policy(stranger, published),
        lambda: services.remind(stranger, published),
        lambda: queries.get_version(stranger, draft.id),
    ):
        with pytest.raises(NotFound):
            attempt()
    assert draft.status == VersionStatus.DRAFT
    assert queries.list_versions(stranger).total == 0


def test_distributors_see_no_policy_documents_and_cannot_write_any(net: Net):
    version = net.publish("P-ALL", price="all 50%")
    buyer = net.actor("A1", Role.DISTRIBUTOR_ADMIN)
    with pytest.raises(NotFound):
        queries.get_version(buyer, version.id)
    assert queries.list_versions(buyer).total == 0
    with pytest.raises(NotFound):
        services.create_policy(
            buyer,
            net.brand.id,
            services.PolicyInput(code="P-X", name="x", effective_from=utcnow()),
        )


def test_merchandiser_writes_drafts_but_cannot_publish_or_remind(net: Net):
    merchandiser = hq_actor(net.brand, Role.HQ_MERCHANDISER)
    draft = net.write("P-ALL", price="all 50%", actor=merchandiser)
    assert draft.status == VersionStatus.DRAFT

    with pytest.raises(PermissionDenied):
        services.publish_policy(merchandiser, draft)
    assert draft.status == VersionStatus.DRAFT and draft.published_at is None
    services.publish_policy(net.hq, draft)
    with pytest.raises(PermissionDenied):
        services.remind(merchandiser, draft)
    assert services.revise_policy(merchandiser, draft).number == 2
    assert (
        db.session.execute(
            select(func.count(Notification.id)).where(Notification.version_id == draft.id)
        ).scalar_one()
        == 0
    )  # nothing was delivered yet: no commit


def test_add_org_after_publishing_is_covered_by_level_rules(net: Net):
    net.publish("P-LEVEL-B", kind="level", values=("B",), price="all 40%")
    link = network.add_org(
        net.hq,
        brand_id=net.brand.id,
        kind="distributor",
        code="PXB3",
        name="PX B3",
        level="B",
        region="west",
    )
    net.links["B3"] = link
    assert net.price("B3", "TEE-BLK-M") == 7960
