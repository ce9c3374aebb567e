"""Guides' signed links (portal/guides/links.py, visits.py): a link reads back as made; a forged,
altered or expired one reads as nothing; and a link of another brand or of a stopped guide
records no visit."""

from __future__ import annotations

import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from portal.core.errors import PermissionDenied
from portal.extensions import db
from portal.guides import roster, visits
from portal.guides.links import LinkClaim, make_token, read_token, share_url
from portal.guides.models import GuideVisit
from tests.guides.conftest import GuideShop, count
from tests.support.retail import build_retail_shop


def test_a_link_reads_back_what_it_was_made_with(gs: GuideShop):
    token = make_token(gs.guides["JA"], "product", "TEE")
    claim = read_token(token)
    assert isinstance(claim, LinkClaim)
    assert (claim.guide_code, claim.target, claim.ref) == (gs.guides["JA"].code, "product", "TEE")
    assert abs(claim.issued_at.timestamp() - time.time()) < 5
    assert share_url("GD", token) == f"http://127.0.0.1:5000/shop/GD/g/{token}"


def test_unknown_targets_and_long_references_are_not_made(gs: GuideShop):
    with pytest.raises(ValueError):
        make_token(gs.guides["JA"], "elsewhere")
    with pytest.raises(ValueError):
        make_token(gs.guides["JA"], "product", "X" * 65)


def test_a_link_signed_with_another_secret_reads_as_nothing(gs: GuideShop):
    forged = URLSafeTimedSerializer("guessed-secret", salt="guide-link").dumps(
        {"g": gs.guides["JA"].code, "t": "home", "r": ""}
    )
    assert read_token(forged) is None


def test_an_altered_link_reads_as_nothing(gs: GuideShop):
    token = make_token(gs.guides["JA"], "home")
    other = make_token(gs.guides["LJ"], "home")
    payload, _dot, signature = token.partition(".")
    other_payload = other.partition(".")[0]
    assert read_token(f"{other_payload}.{signature}") is None  # another guide's code, same seal
    # A middle character: the last one of the base64 seal may carry only padding bits.
    flipped = signature[:5] + ("A" if signature[5] != "A" else "B") + signature[6:]
    assert read_token(f"{payload}.{flipped}") is None
    for junk in ("", "not-a-token", "a.b.c", "x" * 5000):
        assert read_token(junk) is None


def test_a_link_older_than_guide_link_days_reads_as_nothing(gs: GuideShop, app, monkeypatch):
    made = time.time() - 31 * 86400
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(made))
    token = make_token(gs.guides["JA"], "home")
    monkeypatch.undo()
    assert read_token(token) is None
    monkeypatch.setitem(app.config, "GUIDE_LINK_DAYS", 60)
    assert read_token(token) is not None


def test_a_valid_link_records_a_visit(gs: GuideShop):
    consumer = gs.consumer()
    visit = visits.record_visit(
        gs.brand, make_token(gs.guides["JA"], "shop", "GDJA"), consumer=consumer, visitor="v" * 20
    )
    assert visit is not None
    assert (visit.guide_id, visit.consumer_id, visit.visitor) == (
        gs.guides["JA"].id,
        consumer.id,
        "v" * 20,
    )
    assert visits.target_path(gs.brand, visit.target, visit.ref) == "/shop/GD/s/GDJA/"


def test_another_brands_link_and_a_stopped_guides_record_nothing(gs: GuideShop):
    other = GuideShop(build_retail_shop("GF"))
    other.add_guide("JA")
    before = count(GuideVisit)
    assert (
        visits.record_visit(gs.brand, make_token(other.guides["JA"], "home"), consumer=None) is None
    )
    roster.stop_guide(gs.shop.net.hq, gs.guides["LJ"])
    assert visits.record_visit(gs.brand, make_token(gs.guides["LJ"], "home"), consumer=None) is None
    assert count(GuideVisit) == before


def test_link_targets_open_the_page_they_name(gs: GuideShop):
    path = visits.target_path
    assert path(gs.brand, "home", "") == "/shop/GD/"
    assert path(gs.brand, "product", "TEE") == "/shop/GD/p/TEE"
    assert path(gs.brand, "event", "SS26") == "/shop/GD/employee/sales/SS26"
    assert path(gs.brand, "coupon", "AB/C") == "/shop/GD/coupons/AB%2FC"
    assert path(gs.brand, "product", "") == "/shop/GD/"


# -- the roster ---------------------------------------------------------------------------------


def test_guide_codes_are_short_unambiguous_and_one_per_person_store_and_brand(gs: GuideShop):
    codes = {guide.code for guide in gs.guides.values()}
    assert len(codes) == 3
    for code in codes:
        assert len(code) == 6 and set(code) <= set(roster.CODE_ALPHABET)
        assert not set(code) & set("01OIL")
    again = roster.guide_for(gs.users["JA"].id, gs.org("JA").id, gs.brand.id)
    assert again.id == gs.guides["JA"].id


def test_only_people_of_a_store_or_hq_of_the_brand_become_guides(gs: GuideShop):
    buyer = gs.person("A1", role=roster.Role.DISTRIBUTOR_BUYER)
    with pytest.raises(PermissionDenied):
        roster.guide_for(buyer.id, gs.shop.net.org_id("A1"), gs.brand.id)
    with pytest.raises(PermissionDenied):  # JA's staff at Lujiazui
        roster.guide_for(gs.users["JA"].id, gs.org("LJ").id, gs.brand.id)
    assert roster.guide_for(gs.users["JA"].id, gs.org("LJ").id, gs.brand.id, create=False) is None


def test_a_store_owner_stops_their_own_stores_guides_only(gs: GuideShop):
    from portal.core.errors import NotFound

    owner_ja = gs.shop.staff("JA", role=roster.Role.STORE_OWNER)
    with pytest.raises(NotFound):
        roster.stop_guide(owner_ja, gs.guides["LJ"])
    with pytest.raises(PermissionDenied):
        roster.stop_guide(gs.shop.staff("JA"), gs.guides["JA"])  # staff may not
    roster.stop_guide(owner_ja, gs.guides["JA"])
    db.session.flush()
    assert [g.code for g in roster.guides_of_org(owner_ja, gs.org("JA").id)] == [
        gs.guides["JA"].code
    ]
    assert not gs.guides["JA"].is_active
    with pytest.raises(NotFound):
        roster.guides_of_org(owner_ja, gs.org("LJ").id)
    assert len(roster.guides_of_org(gs.shop.net.hq, gs.org("LJ").id)) == 1
