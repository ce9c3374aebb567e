"""Consumer prices in the channel policy: official, outlet and employee sections resolved by the
same resolution as wholesale prices, for the brand's consumers (versions addressed to everyone),
never an official price below the floor, and explained to HQ."""

from __future__ import annotations

import pytest

from portal.core.errors import ValidationFailed
from portal.extensions import db
from portal.policy import queries, services
from portal.policy.models import Section
from tests.support.policy import Net, build_network
from tests.support.retail import publish_retail, retail_rules, write_retail


@pytest.fixture
def net(app) -> Net:
    built = build_network("RP")
    db.session.commit()
    return built


def consumer_terms(net: Net, sku: str):
    return queries.resolve_for_consumers(net.brand.id, [net.variants[sku]])[net.variants[sku].id]


def test_each_storefront_has_its_price_from_the_most_specific_rule(net):
    publish_retail(
        net,
        official="all 100%\nproduct TEE 90%\nsku TEE-BLK-L 150",
        outlet="category TOPS 60%",
        employee="all 40%",
    )
    m = consumer_terms(net, "TEE-BLK-M")
    assert (m.official_cents, m.outlet_cents, m.employee_cents) == (17910, 11940, 7960)
    assert m.official_rule.scope == "product"
    big = consumer_terms(net, "TEE-BLK-L")
    assert big.official_cents == 15000  # the SKU rule beats the product rule
    shoes = consumer_terms(net, "RUN-BLK-42")
    assert shoes.official_cents == 59900
    assert shoes.outlet_cents is None  # no outlet price: the outlet does not sell it
    assert shoes.retail_cents("employee") == 23960


def test_consumers_count_only_policies_addressed_to_everyone(net):
    publish_retail(net, "LEVEL-A", kind="level", official="all 80%")
    assert consumer_terms(net, "TEE-BLK-M").official_cents is None
    # A buyer of level A resolves it like any other section.
    assert queries.resolve_one(net.buyer("A1"), net.variants["TEE-BLK-M"]).official_cents == 15920


def test_retail_sections_leave_wholesale_terms_unchanged(net):
    publish_retail(net, price="all 50%", official="all 100%", outlet="all 70%")
    terms = queries.resolve_one(net.buyer("B1"), net.variants["POLO-WHT-M"])
    assert terms.price_cents == 14950
    assert terms.authorized
    assert terms.price_rule.section == Section.PRICE
    assert terms.official_cents == 29900


def test_official_price_below_its_floor_is_refused_naming_the_skus(net):
    with pytest.raises(ValidationFailed) as refused:
        write_retail(net, official="all 80%\nsku TEE-BLK-L 199", floor="category TOPS 85%")
    message = refused.value.fields[services.OFFICIAL_FIELD]
    assert "TEE-BLK-M" in message and "POLO-WHT-M" in message
    assert "TEE-BLK-L" not in message  # its own rule keeps it above the floor
    assert net.policy_count() == 0


def test_official_price_at_or_above_the_floor_is_accepted(net):
    version = write_retail(net, official="all 90%", floor="category TOPS 90%\nproduct RUN 500")
    services.publish_policy(net.hq, version)
    assert consumer_terms(net, "TEE-BLK-M").official_cents == 17910
    assert consumer_terms(net, "RUN-BLK-42").official_cents == 53910
    assert not consumer_terms(net, "RUN-BLK-42").official_at_floor


def test_publishing_checks_the_floor_again_after_an_msrp_change(net):
    version = write_retail(net, official="product TEE 170", floor="product TEE 80%")
    net.variants["TEE-BLK-M"].product.msrp_cents = 29900  # the floor is now 239.20
    db.session.flush()
    with pytest.raises(ValidationFailed) as refused:
        services.publish_policy(net.hq, version)
    assert services.OFFICIAL_FIELD in refused.value.fields


def test_resolution_never_returns_an_official_price_below_the_floor(net):
    publish_retail(net, official="product TOTE 110", floor="product TOTE 80%")
    tote = net.variants["TOTE-RED-OS"]
    tote.product.msrp_cents = 20000  # after publishing: the floor is now 160.00
    db.session.flush()
    terms = consumer_terms(net, "TOTE-RED-OS")
    assert terms.official_cents == terms.floor_cents == 16000
    assert terms.official_at_floor


def test_a_floor_from_another_version_raises_the_official_price(net):
    publish_retail(net, "FLOORS", kind="level", floor="product POLO 95%")
    terms = queries.resolve_one(net.buyer("A1"), net.variants["POLO-WHT-M"])
    assert terms.official_cents is None
    publish_retail(net, "RETAIL", official="all 70%")
    both = queries.resolve_one(net.buyer("A1"), net.variants["POLO-WHT-M"])
    assert both.official_cents == 28405  # raised from 70% to the level's 95% floor
    assert both.official_at_floor


def test_retail_rules_parse_and_format_back_for_the_editor(net):
    version = write_retail(net, official="category TOPS 99.5%", employee="sku TEE-BLK-M 59.90")
    assert services.format_rule_lines(version, Section.OFFICIAL) == "category TOPS 99.5%"
    assert services.format_rule_lines(version, Section.EMPLOYEE) == "sku TEE-BLK-M 59.9"
    with pytest.raises(ValidationFailed) as refused:
        retail_rules(outlet="brand ACME 50%")
    assert "outlet_prices line 1" in refused.value.fields


def test_revising_keeps_the_retail_rules(net):
    version = publish_retail(net, official="all 100%", outlet="all 50%")
    draft = services.revise_policy(net.hq, version)
    assert sorted(r.section for r in draft.rules) == ["official", "outlet"]


def test_hq_explanation_shows_what_consumers_pay_and_why(net):
    publish_retail(
        net, official="all 100%\nproduct TEE 95%", outlet="all 60%", floor="product TEE 90%"
    )
    why = queries.explain(net.buyer("A1"), net.variants["TEE-BLK-M"], for_hq=True)
    retail = why["retail"]
    assert retail["official"]["result_cents"] == 18905
    assert retail["official"]["rule"]["target"] == "TEE"
    assert [r["scope"] for r in retail["official"]["overridden"]] == ["all"]
    assert retail["outlet"]["result_cents"] == 11940
    assert retail["employee"] is None
    assert retail["floor"]["result_cents"] == 17910
    assert queries.explain(net.buyer("A1"), net.variants["TEE-BLK-M"])["retail"] is None


def test_hq_why_page_shows_the_consumer_prices(client, login):
    login("hq@demo.test")
    response = client.get("/catalog/ACME/sku/ACME-TEE-001-BLK-M/why?as=D1")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'data-testid="why-official"' in page and 'data-testid="why-employee"' in page
    # A distributor's own explanation says nothing about consumer prices.
    client.post("/logout")
    login("dist1@demo.test")
    own = client.get("/catalog/ACME/sku/ACME-TEE-001-BLK-M/why").get_data(as_text=True)
    assert 'data-testid="why-official"' not in own


def test_policy_editor_takes_the_consumer_price_sections(client, login):
    login("hq@demo.test")
    page = client.get("/policies/new").get_data(as_text=True)
    for name in ("official_prices", "outlet_prices", "employee_prices"):
        assert f'name="{name}"' in page
    response = client.post(
        "/policies/new",
        data={
            "code": "RETAIL-X",
            "name": "Retail",
            "audience_kind": "all",
            "effective_from": "2030-01-01T00:00",
            "official_prices": "all 50%",
            "floors": "product ACME-TEE-001 80%",
        },
    )
    assert response.status_code == 422
    assert "may not be below the retail floor" in response.get_data(as_text=True)
