"""The consumer programme's terms live in policy: HQ writes them on a version for everyone, each
section holds from the newest live version that sets it, and a mistake is named by its field."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.core.db import utcnow
from portal.core.errors import ValidationFailed
from portal.extensions import db
from portal.policy import consumer_terms, services
from portal.policy.models import Policy, PolicyVersion
from tests.support.retail import build_retail_shop


def _form(**overrides) -> dict[str, str]:
    data = {
        "code": "ACME-MEMBERS",
        "name": "Members 2027",
        "audience_kind": "all",
        "audience_values": "",
        "effective_from": "2026-01-01T00:00",
        "prices": "",
        "order_rules": "",
        "floors": "",
        "exclusions": "",
        "rebates": "",
    }
    data.update(overrides)
    return data


def test_a_mistake_in_the_terms_is_named_and_nothing_is_saved(login):
    client = login("hq@demo.test")
    before = db.session.execute(select(func.count(Policy.id))).scalar_one()
    bad = {"levels": [{"code": "member", "min_spend_cents": 100}], "points": {"redeem_cap_bp": -1}}
    response = client.post("/policies/new", data=_form(member_terms=json.dumps(bad)))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "member terms.levels.0.min spend cents" in html
    assert "The first level starts at 0" in html
    assert "member terms.points.redeem cap bp" in html
    response = client.post("/policies/new", data=_form(member_terms="{levels"))
    assert "Not valid JSON" in response.get_data(as_text=True)
    assert db.session.execute(select(func.count(Policy.id))).scalar_one() == before


def test_terms_are_saved_shown_and_copied_to_the_next_draft(login):
    client = login("hq@demo.test")
    terms = {"invites": {"quota_per_year": 8, "code_days": 14, "code_uses": 2}}
    response = client.post("/policies/new", data=_form(member_terms=json.dumps(terms)))
    assert response.status_code == 302
    version_id = int(re.search(r"/policies/(\d+)", response.headers["Location"]).group(1))
    version = db.session.get(PolicyVersion, version_id)
    assert version.member_terms == terms
    detail = client.get(f"/policies/{version_id}").get_data(as_text=True)
    assert 'data-testid="member-terms"' in detail and "quota_per_year 8" in detail
    edit = client.get(f"/policies/{version_id}/edit").get_data(as_text=True)
    assert "&#34;quota_per_year&#34;: 8" in edit or '"quota_per_year": 8' in edit


def test_terms_only_for_everyone(login):
    client = login("hq@demo.test")
    terms = json.dumps({"invites": {"quota_per_year": 8}})
    response = client.post(
        "/policies/new",
        data=_form(audience_kind="level", audience_values="A", member_terms=terms),
    )
    assert response.status_code == 422
    assert "Only a policy addressed to everyone" in response.get_data(as_text=True)


def test_the_live_version_for_everyone_sets_the_terms_section_by_section(app, backend):
    shop = build_retail_shop("CT")
    brand_id = shop.brand.id
    assert consumer_terms.terms_for(brand_id) == consumer_terms.DEFAULTS
    live = db.session.execute(
        select(PolicyVersion).where(PolicyVersion.brand_id == brand_id)
    ).scalar_one()
    draft = services.revise_policy(shop.net.hq, live)
    draft.member_terms = {
        "invites": {"quota_per_year": 3},
        "limits": {"units_per_sku": 2, "amount_per_period_cents": None},
    }
    draft.effective_from = utcnow() - timedelta(seconds=1)
    services.publish_policy(shop.net.hq, draft)
    terms = consumer_terms.terms_for(brand_id)
    assert terms.invites.quota_per_year == 3
    assert terms.invites.code_days == consumer_terms.InviteTerms().code_days  # unset: default
    assert (terms.limits.units_per_sku, terms.limits.amount_per_period_cents) == (2, None)
    assert terms.levels == consumer_terms.DEFAULT_LEVELS  # a section not set: the defaults


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"nope": {}}, "member_terms"),
        ({"levels": []}, "levels"),
        (
            {"levels": [{"code": "a", "min_spend_cents": 0}, {"code": "a", "min_spend_cents": 5}]},
            "levels.1.code",
        ),  # fmt: skip
        (
            {"levels": [{"code": "a", "min_spend_cents": 0}, {"code": "b", "min_spend_cents": 0}]},
            "levels.1.min_spend_cents",
        ),  # fmt: skip
        ({"points": {"per_yuan": {"official": 1, "vip": 2}}}, "points.per_yuan"),
        ({"points": {"cents_per_point": 0}}, "points.cents_per_point"),
        ({"tier_moves": {"outlet_after_weeks": "soon"}}, "tier_moves.outlet_after_weeks"),
        ({"invites": {"colour": 1}}, "invites.colour"),
        ({"limits": []}, "limits"),
        ({"commission": {"rate_bp": -300}}, "commission.rate_bp"),
        ({"commission": {"rate_bp": 5001}}, "commission.rate_bp"),
        ({"commission": {"tier_rate_bp": {"outlet": -1}}}, "commission.tier_rate_bp.outlet"),
        ({"commission": {"tier_rate_bp": {"vip": 100}}}, "commission.tier_rate_bp"),
        ({"commission": {"category_rate_bp": {"TOPS": -5}}}, "commission.category_rate_bp.TOPS"),
        ({"commission": {"per_unit_cents": -1}}, "commission.per_unit_cents"),
        ({"guides": {"window_days": 31}}, "guides.window_days"),
        ({"guides": {"window_days": 0}}, "guides.window_days"),
        ({"guides": {"binding": "forever"}}, "guides.binding"),
        ({"guides": {"own_purchase_earns": "yes"}}, "guides.own_purchase_earns"),
    ],
)
def test_parse_names_the_wrong_field(data, field):
    with pytest.raises(ValidationFailed) as refused:
        consumer_terms.parse(data)
    assert field in refused.value.fields


def test_levels_by_spend():
    terms = consumer_terms.DEFAULTS
    assert terms.level_for_spend(0).code == "member"
    assert terms.level_for_spend(199_999).code == "member"
    assert terms.level_for_spend(200_000).code == "silver"
    assert terms.level_for_spend(10**9).code == "gold"
    assert terms.level("nope").code == "member"


def test_commission_rate_by_category_then_tier_then_brand():
    terms = consumer_terms.parse(
        {
            "commission": {
                "rate_bp": 300,
                "tier_rate_bp": {"outlet": 100},
                "category_rate_bp": {"SHOES": 800},
            },
            "guides": {"binding": "registration", "binding_days": None, "cross_brand": True},
        }
    )
    assert terms.commission.rate_for("outlet", "SHOES") == 800
    assert terms.commission.rate_for("outlet", "TOPS") == 100
    assert terms.commission.rate_for("official", "TOPS") == 300
    assert (terms.guides.binding, terms.guides.binding_days, terms.guides.cross_brand) == (
        "registration",
        None,
        True,
    )
    assert terms.guides.window_days == 7  # a setting left out keeps its default
