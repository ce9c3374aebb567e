"""Sharers as HQ keeps them and as they see themselves (portal/campaigns/sharers.py,
sharer_views.py): HQ makes one of its people a sharer and stops one; bad input names its field
and writes nothing; a sharer's links and QR codes; their figures per share and per item; and the
guides' own pages leave sharers out."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from portal.campaigns import sharers
from portal.core.access import Role
from portal.core.db import utcnow
from portal.core.errors import NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.guides import links, reports, roster
from portal.guides.models import Guide, GuideVisit
from portal.storefront.models import ConsumerOrder, ConsumerOrderStatus
from tests.campaigns.sharers.conftest import PASSWORD, SharerShop, channel_of
from tests.guides.conftest import TEE, binding_of, count
from tests.support.retail import build_retail_shop

TEE_L = 15_000


def sign_in(client, user):
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    with client.session_transaction() as cookie:
        cookie["lang"] = "en"
    return client


def text(response) -> str:
    return response.get_data(as_text=True)


def paid(order: ConsumerOrder) -> ConsumerOrder:
    order.paid_at = utcnow()
    order.status = ConsumerOrderStatus.PAID
    db.session.flush()
    return order


def visit(ss: SharerShop, guide, consumer=None, *, target="home", ref="", visitor="", days_ago=0):
    row = GuideVisit(
        brand_id=ss.brand.id,
        guide_id=guide.id,
        consumer_id=consumer.id if consumer is not None else None,
        visitor=visitor,
        target=target,
        ref=ref,
        opened_at=utcnow() - timedelta(days=days_ago),
    )
    db.session.add(row)
    db.session.flush()
    return row


# -- HQ keeps its sharers ------------------------------------------------------------------------


def test_hq_makes_one_of_its_people_a_sharer_and_may_change_the_kind(ss: SharerShop):
    made, user = ss.add_sharer("customer_service", Role.HQ_ADMIN)
    assert (made.kind, made.org_id, made.user_id, made.is_active) == (
        "customer_service",
        ss.brand.id,
        user.id,
        True,
    )
    again = sharers.add_sharer(ss.shop.net.hq, user_id=user.id, kind="stylist")
    assert (again.id, again.code, again.kind) == (made.id, made.code, "stylist")
    assert [s.code for s in sharers.list_sharers(ss.shop.net.hq)] == sorted([ss.op.code, made.code])


def test_an_hq_guide_made_a_sharer_keeps_the_code_and_lets_their_customers_go(ss: SharerShop):
    ss.add_guide("HQ", Role.HQ_MERCHANDISER)
    guide = ss.guides["HQ"]
    consumer = ss.consumer()
    ss.place(consumer, guide_code=guide.code)  # the first purchase binds (the default mode)
    assert binding_of(consumer).guide_id == guide.id
    made = sharers.add_sharer(ss.shop.net.hq, user_id=ss.users["HQ"].id, kind="stylist")
    assert (made.id, made.code, made.is_sharer) == (guide.id, guide.code, True)
    assert binding_of(consumer) is None


def test_a_stopped_sharer_made_a_sharer_again_is_active(ss: SharerShop):
    sharers.stop_sharer(ss.shop.net.hq, ss.op)
    assert not ss.op.is_active
    again = sharers.add_sharer(ss.shop.net.hq, user_id=ss.sharer_user.id, kind="community_operator")
    assert again.id == ss.op.id and again.is_active


def test_a_sharer_must_be_an_hq_person_of_a_sharers_kind_and_nothing_is_written(ss: SharerShop):
    store_person = ss.person("JA")
    before = count(Guide)
    with pytest.raises(ValidationFailed) as refused:
        sharers.add_sharer(ss.shop.net.hq, user_id=store_person.id, kind="guide")
    assert set(refused.value.fields) == {"user_id", "kind"}
    assert count(Guide) == before
    other = SharerShop(build_retail_shop("SX"))
    _foreign, foreign_user = other.add_sharer()
    before = count(Guide)
    with pytest.raises(ValidationFailed) as refused:
        sharers.add_sharer(ss.shop.net.hq, user_id=foreign_user.id, kind="stylist")
    assert set(refused.value.fields) == {"user_id"}
    with pytest.raises(ValidationFailed):
        sharers.add_sharer(ss.shop.net.hq, user_id=None, kind=None)
    assert count(Guide) == before


def test_only_hq_with_campaigns_manage_keeps_sharers_and_only_its_own(ss: SharerShop):
    owner = ss.shop.net.actor("JA", Role.STORE_OWNER)
    with pytest.raises(PermissionDenied):
        sharers.add_sharer(owner, user_id=ss.sharer_user.id, kind="stylist")
    other = SharerShop(build_retail_shop("SY"))
    with pytest.raises(NotFound):
        sharers.get_sharer(other.shop.net.hq, ss.op.id)
    with pytest.raises(NotFound):
        sharers.stop_sharer(other.shop.net.hq, ss.op)
    assert ss.op.is_active
    with pytest.raises(NotFound):  # a guide is no sharer
        sharers.get_sharer(ss.shop.net.hq, ss.guides["JA"].id)


# -- figures -------------------------------------------------------------------------------------


def test_a_sharers_figures_per_share_and_per_item_count_paid_orders_only(ss: SharerShop):
    buyer, browser_only, refunded = ss.consumer(), ss.consumer(), ss.consumer()
    ss.shop.receive("LJ", "TEE-BLK-L", 5)
    visit(ss, ss.op, buyer, target="product", ref="TEE")
    visit(ss, ss.op, buyer, target="product", ref="TEE")  # the same person twice
    visit(ss, ss.op, None, target="product", ref="TEE", visitor="browser-only-0123456789")
    visit(ss, ss.op, refunded, target="home")
    visit(ss, ss.guides["JA"], browser_only, target="product", ref="TEE")  # a guide's: not hers
    paid(ss.buy(buyer, qty=2))
    paid(ss.buy(buyer, sku="TEE-BLK-L"))
    ss.buy(buyer)  # not paid: not counted
    gone = paid(ss.buy(refunded))
    gone.status = ConsumerOrderStatus.REFUNDED
    paid(ss.buy(ss.consumer(), guide_code=ss.op.code))  # the code typed: no link
    db.session.flush()
    report = sharers.sharer_report(ss.op, reports.period(None))
    by_share = {(s.target, s.ref): s for s in report.shares}
    tee = by_share[("product", "TEE")]
    assert (tee.views, tee.people, tee.orders, tee.revenue_cents) == (3, 2, 2, 2 * TEE + TEE_L)
    home = by_share[("home", "")]
    assert (home.views, home.people, home.orders, home.revenue_cents) == (1, 1, 0, 0)
    typed = by_share[("", "")]
    assert (typed.views, typed.orders, typed.revenue_cents) == (0, 1, TEE)
    assert (report.total.views, report.total.people, report.total.orders) == (4, 3, 3)
    assert report.total.revenue_cents == 3 * TEE + TEE_L
    items = {i.code: i for i in report.items}
    tee_product = ss.shop.net.variants["TEE-BLK-M"].product.code
    assert (items[tee_product].orders, items[tee_product].units) == (3, 4)
    assert items[tee_product].revenue_cents == 3 * TEE + TEE_L
    totals = sharers.sharer_totals(ss.brand.id, reports.period(None))
    assert totals[ss.op.id] == report.total
    assert ss.guides["JA"].id not in totals


def test_last_months_figures_are_not_this_months(ss: SharerShop):
    consumer = ss.consumer()
    visit(ss, ss.op, consumer, days_ago=40)
    report = sharers.sharer_report(ss.op, reports.period(None))
    assert report.total.views == 0 and report.shares == []


# -- pages ---------------------------------------------------------------------------------------


def test_a_sharer_sees_their_code_links_and_qr_codes_and_a_product_link_opens_it(client, ss):
    ss.publish(campaigns={"live_events": True, "group_buys": True})
    live = ss.live_event("LIVE9")
    offer = ss.group_buy("GB9")
    page = text(sign_in(client, ss.sharer_user).get("/campaigns/sharers/me?q=TEE"))
    assert ss.op.code in page
    assert 'data-testid="link-home"' in page
    assert f'data-testid="link-live-{live.code}"' in page
    assert f'data-testid="link-group_buy-{offer.code}"' in page
    assert 'src="data:image/png;base64,' in page
    product = ss.shop.net.variants["TEE-BLK-M"].product
    start = page.index(f'data-testid="link-product-{product.code}"')
    at = page.index('value="', start) + 7
    url = page[at : page.index('"', at)]
    claim = links.read_token(urlsplit(url).path.rsplit("/", 1)[1])
    assert (claim.guide_code, claim.target, claim.ref) == (ss.op.code, "product", product.code)
    opened = client.get(urlsplit(url).path)
    assert opened.status_code == 302 and opened.headers["Location"].endswith(
        f"/shop/SH/p/{product.code}"
    )
    assert (
        db.session.execute(
            select(GuideVisit.guide_id).order_by(GuideVisit.id.desc()).limit(1)
        ).scalar_one()
        == ss.op.id
    )
    figures = text(client.get("/campaigns/sharers/me"))
    assert 'data-testid="total-views">1<' in figures


def test_a_brand_that_runs_no_live_events_lists_none(client, ss: SharerShop):
    live = ss.live_event("LIVE8")
    page = text(sign_in(client, ss.sharer_user).get("/campaigns/sharers/me"))
    assert f"link-live-{live.code}" not in page


def test_someone_who_is_no_sharer_finds_no_sharer_page(client, ss: SharerShop):
    assert sign_in(client, ss.users["JA"]).get("/campaigns/sharers/me").status_code == 404


def test_a_sharer_opening_the_guide_home_is_sent_to_their_sharer_page(client, ss: SharerShop):
    response = sign_in(client, ss.sharer_user).get("/guides/me")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/campaigns/sharers/me")


def test_hq_adds_sees_and_stops_sharers_on_its_page(client, ss: SharerShop):
    admin = ss.person("HQ", Role.HQ_ADMIN)
    colleague = ss.person("HQ", Role.HQ_MERCHANDISER)
    consumer = ss.consumer()
    visit(ss, ss.op, consumer, target="product", ref="TEE")
    paid(ss.buy(consumer))
    db.session.commit()
    sign_in(client, admin)
    page = text(client.get("/campaigns/sharers"))
    row = page[page.index(f'data-code="{ss.op.code}"') :]
    assert 'data-testid="row-views">1<' in row and 'data-testid="row-orders">1<' in row
    refused = client.post("/campaigns/sharers", data={"user_id": colleague.id, "kind": "guide"})
    assert refused.status_code == 422 and "field-error" in text(refused)
    added = client.post("/campaigns/sharers", data={"user_id": colleague.id, "kind": "stylist"})
    assert added.status_code == 302
    made = roster.find_guide(colleague.id, ss.brand.id, ss.brand.id)
    assert (made.kind, made.is_active) == ("stylist", True)
    detail = text(client.get(f"/campaigns/sharers/{ss.op.id}"))
    assert 'data-testid="share-product-TEE"' in detail
    stopped = client.post(f"/campaigns/sharers/{ss.op.id}/stop")
    assert stopped.status_code == 302
    db.session.expire_all()
    assert not db.session.get(Guide, ss.op.id).is_active
    assert client.get(f"/campaigns/sharers/{ss.guides['JA'].id}").status_code == 404


def test_another_brands_hq_finds_no_sharer_here(client, ss: SharerShop):
    other = SharerShop(build_retail_shop("SZ"))
    admin = other.person("HQ", Role.HQ_ADMIN)
    db.session.commit()
    sign_in(client, admin)
    assert client.get(f"/campaigns/sharers/{ss.op.id}").status_code == 404
    assert client.post(f"/campaigns/sharers/{ss.op.id}/stop").status_code == 404
    assert ss.op.code not in text(client.get("/campaigns/sharers"))


def test_store_people_may_not_keep_sharers(client, ss: SharerShop):
    owner = ss.person("JA", Role.STORE_OWNER)
    db.session.commit()
    sign_in(client, owner)
    assert client.get("/campaigns/sharers").status_code == 403


# -- the guides' pages leave sharers out ---------------------------------------------------------


def test_leaderboards_and_the_store_list_leave_sharers_out_and_hq_shows_them_apart(client, ss):
    ss.add_guide("HQ", Role.HQ_MERCHANDISER)
    span = reports.period(None)
    codes = [line.name for line in reports.store_board(ss.guides["HQ"], span)]
    assert len(codes) == 1  # the HQ guide alone: the sharer at HQ is on no board
    report = reports.hq_report(ss.brand.id, span)
    assert ss.op.id not in {g.guide_id for g in report.guides}
    assert [s.guide_id for s in report.sharers] == [ss.op.id]
    assert ss.op.id not in {g.guide_id for g in reports.guide_rows(ss.brand.id, span)}
    admin = ss.person("HQ", Role.HQ_ADMIN)
    db.session.commit()
    page = text(sign_in(client, admin).get("/guides/hq"))
    assert f'data-testid="sharer-{ss.op.code}"' in page
    assert f'data-testid="guide-{ss.op.code}"' not in page


def test_a_guides_home_links_to_the_campaign_pages_that_exist(client, ss: SharerShop, app):
    page = text(sign_in(client, ss.users["JA"]).get("/guides/me"))
    for endpoint in ("campaign_tasks.my_tasks", "campaign_events.my_links"):
        listed = f'data-testid="campaign-{endpoint}"' in page
        assert listed == (endpoint in app.view_functions)


def test_a_sharers_order_keeps_its_channel_row_apart_from_the_guides(ss: SharerShop):
    consumer = ss.consumer()
    visit(ss, ss.op, consumer)
    order = ss.buy(consumer)
    assert channel_of(order).sharer_id == ss.op.id
