"""Coupon pages and API (portal/members/coupon_views.py, coupon_api.py): HQ writes a coupon and
sees what it did, a member claims it by its link and checks out with it, and no one but the
brand's own HQ reaches HQ's pages."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from portal.core.access import Actor
from portal.extensions import db
from portal.members import coupons, segments
from portal.members.coupon_models import Coupon, CouponTemplate
from portal.network import services as network
from portal.storefront.auth import start_session
from tests.members.test_coupons import CouponShop, build_coupon_shop
from tests.storefront.test_cart_views import page, sign_in
from tests.support.consumer_orders import pay_by_notice

HQ = "/shop/CQ/hq/coupons"
NEW = {
    "name": "Summer fifty",
    "description": "Fifty off three hundred",
    "kind": "threshold",
    "amount": "50",
    "min_spend": "300",
    "tiers": ["official", "outlet"],
    "scope": "all",
    "validity": "days",
    "valid_days": "14",
    "per_member_limit": "1",
    "total_limit": "100",
    "stackable": "1",
    "distribution": "link",
}


@pytest.fixture
def cs(app) -> CouponShop:
    built = build_coupon_shop("CQ")
    for email, role in (("hq@cq.test", "hq_admin"), ("merch@cq.test", "hq_merchandiser")):
        user = network.create_user(email=email, name=role, password="demo1234")
        network.add_member(Actor.system(), built.brand, user, role)
    db.session.commit()
    return built


@pytest.fixture
def hq(client, login, cs):
    with client.session_transaction() as cookie:
        cookie["lang"] = "en"
    return login("hq@cq.test")


@pytest.fixture
def shopper(app):
    """A second browser: the consumer's."""
    return app.test_client()


def templates_count() -> int:
    return db.session.execute(select(func.count()).select_from(CouponTemplate)).scalar_one()


def stat(html: str, name: str) -> str:
    return re.search(rf'data-testid="stat-{name}">([^<]*)<', html).group(1)


def test_hq_writes_a_coupon_a_member_claims_it_by_link_and_checks_out_with_it(cs, hq, shopper):
    response = hq.post(f"{HQ}/new", data=NEW)
    assert response.status_code == 302
    detail_url = response.headers["Location"]
    detail = page(hq.get(detail_url))
    assert "Coupon “Summer fifty” created." in detail
    assert 'data-testid="coupon-label">CN¥50.00 off orders of CN¥300.00<' in detail
    link = re.search(r'data-testid="claim-link">([^<]+)<', detail).group(1)
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    assert path.startswith("/shop/CQ/coupons/")

    consumer = sign_in(shopper, cs.shop)
    claim_page = page(shopper.get(path))
    assert 'data-testid="claim-button"' in claim_page and "Fifty off three hundred" in claim_page
    response = shopper.post(f"{path}/claim")
    assert response.status_code == 302
    assert response.headers["Location"] == "/shop/CQ/member/coupons"
    mine = page(shopper.get("/shop/CQ/member/coupons"))
    assert "The coupon is yours" in mine
    assert mine.count('data-state="usable"') == 1
    again = shopper.post(f"{path}/claim")
    assert again.status_code == 422
    assert "You already hold 1 of these coupons, as many as one member may." in page(again)

    coupon_id = db.session.execute(
        select(Coupon.id).where(Coupon.member_id == consumer.member_id)
    ).scalar_one()
    order = cs.buy(consumer, {"TEE-BLK-M": 1, "POLO-WHT-M": 1}, coupon_ids=(coupon_id,))
    pay_by_notice(order)
    db.session.commit()
    assert order.discount_cents == 5000
    mine = page(shopper.get("/shop/CQ/member/coupons"))
    assert 'data-state="used"' in mine and order.number in mine
    detail = page(hq.get(detail_url))
    assert (stat(detail, "claimed"), stat(detail, "used"), stat(detail, "orders")) == (
        "1",
        "1",
        "1",
    )
    assert stat(detail, "revenue") == "CN¥448.00"  # 199.00 + 299.00 - 50.00
    listing = page(hq.get(HQ))
    assert "Summer fifty" in listing and "CN¥448.00" in listing


def test_a_wrong_template_form_says_what_is_wrong_beside_each_field_and_creates_nothing(cs, hq):
    before = templates_count()
    response = hq.post(f"{HQ}/new", data={**NEW, "min_spend": "20", "tiers": [], "name": ""})
    assert response.status_code == 422
    html = page(response)
    assert 'data-testid="error-name">Required.<' in html
    assert (
        'data-testid="error-min_spend">The minimum spend must be more than the amount off.<' in html
    )
    assert 'data-testid="error-tiers">Choose the storefronts it counts in.<' in html
    assert 'value="Summer fifty"' not in html and 'value="Fifty off three hundred"' in html
    assert templates_count() == before


def test_hq_issues_to_typed_members_and_hears_who_was_passed_over(cs, hq):
    template = cs.template(distribution="issue")
    one, two = cs.consumer(), cs.consumer()
    db.session.commit()
    url = f"{HQ}/{template.id}"
    response = hq.post(f"{url}/issue", data={"members": f"{one.phone}\n{two.phone}"})
    assert response.status_code == 302
    html = page(hq.get(url))
    assert "2 coupons issued; 0 members passed over." in html
    assert stat(html, "issued") == "2"
    response = hq.post(f"{url}/issue", data={"members": f"{one.phone}"})
    assert "0 coupons issued; 1 members passed over." in page(hq.get(url))
    response = hq.post(f"{url}/issue", data={"members": "+8613000000000"})
    assert response.status_code == 422
    assert "No member on line(s) 1." in page(response)
    response = hq.post(f"{url}/stop")
    assert response.status_code == 302
    html = page(hq.get(url))
    assert "is no longer given out." in html and 'data-testid="issue-form"' not in html


def test_hq_issues_to_a_segment_and_the_job_gives_them_out_after_the_commit(cs, hq, monkeypatch):
    template = cs.template(distribution="issue")
    members = [cs.member_of(cs.consumer()).id for _ in range(3)]
    db.session.commit()
    monkeypatch.setattr(
        segments, "list_segments", lambda brand_id: [segments.SegmentSummary(5, "Big spenders", 3)]
    )
    monkeypatch.setattr(segments, "segment_member_ids", lambda brand_id, segment_id: members)
    url = f"{HQ}/{template.id}"
    form = page(hq.get(url))
    assert "Big spenders (3)" in form
    token = re.search(r'name="token" value="([^"]+)"', form).group(1)
    sent = {"audience": "segment", "segment_id": "5", "token": token}
    response = hq.post(f"{url}/issue", data=sent)
    assert response.status_code == 302
    assert hq.post(f"{url}/issue", data=sent).status_code == 302  # the same form again
    html = page(hq.get(url))
    assert "Coupons go out to Big spenders in the background" in html
    assert html.count("data-issue=") == 1 and stat(html, "issued") == "3"
    assert (
        hq.post(f"{url}/issue", data={"audience": "segment", "segment_id": "6"}).status_code == 422
    )


def test_another_brands_hq_gets_404_and_a_merchandiser_only_looks(cs, client, login):
    template = cs.template()
    db.session.commit()
    urls = [
        ("get", HQ),
        ("get", f"{HQ}/new"),
        ("post", f"{HQ}/new"),
        ("get", f"{HQ}/{template.id}"),
        ("post", f"{HQ}/{template.id}/issue"),
        ("post", f"{HQ}/{template.id}/stop"),
    ]
    for email in ("hq2@demo.test", "hq@demo.test"):
        browser = login(email)
        for method, url in urls:
            assert getattr(browser, method)(url).status_code == 404, (email, url)
        browser.post("/logout")
    merch = login("merch@cq.test")
    assert merch.get(HQ).status_code == 200
    assert merch.get(f"{HQ}/{template.id}").status_code == 200
    assert merch.get(f"{HQ}/new").status_code == 403
    assert merch.post(f"{HQ}/{template.id}/stop").status_code == 403
    # ACME's HQ does not see CQ's coupon under its own shop either
    browser = login("hq@demo.test")
    assert browser.get(f"/shop/ACME/hq/coupons/{template.id}").status_code == 404


def test_the_claim_page_says_why_not_to_a_visitor_and_to_a_consumer_who_is_no_member(cs, shopper):
    template = cs.template()
    issued_only = cs.template(distribution="issue")
    outsider = cs.consumer(member=False)
    db.session.commit()
    with shopper.session_transaction() as cookie:
        cookie["lang"] = "en"
    url = f"/shop/CQ/coupons/{template.code}"
    html = page(shopper.get(url))
    assert "Sign in to claim this coupon." in html and 'data-testid="claim-sign-in"' in html
    assert shopper.get(f"/shop/CQ/coupons/{issued_only.code}").status_code == 404
    assert shopper.get("/shop/CQ/coupons/nope").status_code == 404
    assert shopper.get(f"/shop/ACME/coupons/{template.code}").status_code == 404
    sign_in(shopper, cs.shop, outsider)
    html = page(shopper.get(url))
    assert "Only members can claim coupons: join the membership first." in html
    response = shopper.post(f"{url}/claim")
    assert response.status_code == 422
    held = select(func.count(Coupon.id)).where(Coupon.brand_id == cs.brand.id)
    assert db.session.execute(held).scalar_one() == 0
    mine = page(shopper.get("/shop/CQ/member/coupons"))
    assert 'data-testid="not-member"' in mine


def test_my_coupons_offers_the_coupons_to_claim_and_signed_out_goes_to_sign_in(cs, shopper):
    cs.template(name="On the page")
    cs.template(name="By link only", distribution="link")
    db.session.commit()
    response = shopper.get("/shop/CQ/member/coupons")
    assert (
        response.status_code == 302 and "/shop/CQ/account/sign-in" in response.headers["Location"]
    )
    sign_in(shopper, cs.shop)
    html = page(shopper.get("/shop/CQ/member/coupons"))
    assert html.count('data-testid="claimable-coupon"') == 1 and "On the page" in html
    assert "By link only" not in html


# -- the API -------------------------------------------------------------------------------------


def _token(consumer) -> dict[str, str]:
    secret, _expires = start_session(consumer, kind="api")
    db.session.commit()
    return {"Authorization": f"Bearer {secret}"}


def test_the_api_lists_a_members_coupons_and_claims_by_code(cs, client):
    template = cs.template(name="Api twenty", total_limit="1")
    member, other, outsider = cs.consumer(), cs.consumer(), cs.consumer(member=False)
    db.session.commit()
    headers = _token(member)
    listing = client.get("/api/v1/shop/CQ/member/coupons", headers=headers).get_json()
    assert listing["member"] is True and listing["coupons"] == []
    assert listing["claimable"] == [
        {"code": template.code, "name": "Api twenty", "label": "CN¥20.00 off"}
    ]
    response = client.post(f"/api/v1/shop/CQ/coupons/{template.code}/claim", headers=headers)
    assert response.status_code == 201
    claimed = response.get_json()["coupon"]
    assert (claimed["state"], claimed["label"], claimed["stackable"]) == (
        "usable",
        "CN¥20.00 off",
        True,
    )
    listing = client.get("/api/v1/shop/CQ/member/coupons", headers=headers).get_json()
    assert [c["id"] for c in listing["coupons"]] == [claimed["id"]]
    response = client.post(f"/api/v1/shop/CQ/coupons/{template.code}/claim", headers=_token(other))
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "coupon_refused"
    assert error["fields"] == {"code": "All of these coupons have been claimed."}
    assert client.get("/api/v1/shop/CQ/member/coupons", headers=_token(outsider)).get_json() == {
        "member": False,
        "coupons": [],
        "claimable": [],
    }
    assert client.post("/api/v1/shop/CQ/coupons/nope/claim", headers=headers).status_code == 404
    assert client.get("/api/v1/shop/CQ/member/coupons").status_code == 401
    assert coupons.label(template) == "CN¥20.00 off"
