"""HQ's campaign report as HQ reads it, on the page and in the CSV: reach (views, claims,
participants), orders and revenue net of refunds, cost (task rewards and coupons) and ROI, whole
and per channel, by guide, store and sharer. The campaign SPRING is laid out by
conftest.build_spring; the figures below are worked out from what it wrote."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from portal.campaigns import reports
from portal.campaigns.models import LiveEvent
from portal.core.db import utcnow
from portal.extensions import db
from portal.inventory.models import Grade
from portal.storefront import orders, returns
from portal.storefront.returns import ReturnLineInput
from tests.campaigns.reports.conftest import marked, row_cells, sign_in


def report_page(client, cs, campaign) -> str:
    response = sign_in(client, cs.admin).get(f"/campaigns/{campaign.id}/report")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_hq_reads_reach_orders_revenue_cost_and_roi_of_a_campaign(client, cs, spring):
    page = marked(report_page(client, cs, spring.campaign))
    # Views: A's and a browser's openings of JA's live link, B's of LJ's group-buy link, D's of
    # the sharer's red-packet link, A's of JA's coupon link; not the visit before the window,
    # the other campaign's event nor a product link.
    assert page["reach-views"] == "Views 5"
    assert page["reach-claims"] == "Coupons claimed 2"
    # A, the browser, B, C, D, E and G (the group buyer); A counted once for three touches.
    assert page["reach-participants"] == "Participants 7"
    # Six paid orders (not A's unpaid one, not the other campaign's); D's refunded whole.
    assert page["total-orders"] == "Paid orders 6"
    assert page["total-revenue"].startswith("Revenue CN¥965.00")
    assert page["total-refunded"] == "CN¥199.00 refunded"
    assert page["total-cost"] == "Cost CN¥41.00 Coupons CN¥30.00 · rewards CN¥11.00"
    assert page["total-roi"] == "ROI 23.54 Revenue less cost: CN¥924.00"
    assert "CN¥7.00 are earned by tasks still counting" in page["rewards-counting"]


def test_each_channel_has_its_orders_revenue_cost_and_roi(client, cs, spring):
    html = report_page(client, cs, spring.campaign)
    # channel, orders, revenue, coupons, rewards, cost, revenue less cost, ROI
    assert row_cells(html, "channel-group_buy") == [
        "Group buys", "1", "CN¥199.00", "CN¥0.00", "CN¥0.00", "CN¥0.00", "CN¥199.00", "no cost",
    ]  # fmt: skip
    assert row_cells(html, "channel-red_packet") == [
        "Red packets", "1", "CN¥189.00", "CN¥10.00", "CN¥2.00", "CN¥12.00", "CN¥177.00", "15.75",
    ]  # fmt: skip
    assert row_cells(html, "channel-live") == [
        "Live events", "1", "CN¥199.00", "CN¥0.00", "CN¥4.00", "CN¥4.00", "CN¥195.00", "49.75",
    ]  # fmt: skip
    assert row_cells(html, "channel-sharer") == [
        "Sharers' links", "1", "CN¥0.00", "CN¥0.00", "CN¥0.00", "CN¥0.00", "CN¥0.00", "no cost",
    ]  # fmt: skip
    assert row_cells(html, "channel-guide") == [
        "Guides' links", "1", "CN¥199.00", "CN¥0.00", "CN¥0.00", "CN¥0.00", "CN¥199.00", "no cost",
    ]  # fmt: skip
    assert row_cells(html, "channel-coupon") == [
        "Event coupons", "1", "CN¥179.00", "CN¥20.00", "CN¥0.00", "CN¥20.00", "CN¥159.00", "8.95",
    ]  # fmt: skip
    # The orders task is about no one channel: its 5.00 (capped) is the campaign's cost only.
    assert row_cells(html, "channel-across")[4:6] == ["CN¥5.00", "CN¥5.00"]


def test_the_report_splits_by_guide_store_and_sharer(client, cs, spring):
    html = report_page(client, cs, spring.campaign)
    ja, lj, sharer = cs.guide("JA"), cs.guide("LJ"), cs.sharer
    # guide, store, views, claims, orders, revenue, rewards
    assert row_cells(html, f"guide-{ja.code}") == [
        f"{ja.code} · Guide JA", "CRJA", "3", "2", "2", "CN¥378.00", "CN¥10.00",
    ]  # fmt: skip
    assert row_cells(html, f"guide-{lj.code}") == [
        f"{lj.code} · Guide LJ", "CRLJ", "1", "0", "3", "CN¥587.00", "CN¥1.00",
    ]  # fmt: skip
    assert row_cells(html, "guide-none") == ["No guide", "", "", "", "1", "CN¥0.00", ""]
    assert row_cells(html, "store-CRJA") == [
        "CRJA · Jing'an", "1", "3", "2", "2", "CN¥378.00", "CN¥10.00",
    ]  # fmt: skip
    assert row_cells(html, "store-CRLJ")[4:6] == ["3", "CN¥587.00"]
    # The sharer is credited with no sale, but the refunded order they shared is theirs.
    assert f"guide-{sharer.code}" not in marked(html)
    assert row_cells(html, f"sharer-{sharer.code}") == [
        f"{sharer.code} · Guide HQ", "Community operator", "1", "0", "1", "CN¥0.00", "CN¥0.00",
    ]  # fmt: skip


def test_the_csv_holds_the_same_figures(client, cs, spring):
    response = sign_in(client, cs.admin).get(f"/campaigns/{spring.campaign.id}/report.csv")
    assert response.status_code == 200
    assert 'filename="campaign-SPRING-report.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    by_key = {(row["section"], row["code"]): row for row in rows}
    whole = by_key[("campaign", "SPRING")]
    assert (whole["views"], whole["claims"], whole["participants"], whole["orders"]) == (
        "5", "2", "7", "6",
    )  # fmt: skip
    assert (whole["charged_cents"], whole["refunded_cents"], whole["revenue_cents"]) == (
        "116400", "19900", "96500",
    )  # fmt: skip
    assert (whole["coupon_cents"], whole["reward_cents"], whole["cost_cents"]) == (
        "3000", "1100", "4100",
    )  # fmt: skip
    assert (whole["net_cents"], whole["roi"]) == ("92400", "23.54")
    live = by_key[("channel", "live")]
    assert (live["orders"], live["revenue_cents"], live["cost_cents"], live["roi"]) == (
        "1", "19900", "400", "49.75",
    )  # fmt: skip
    assert by_key[("channel", "group_buy")]["roi"] == "no cost"
    assert by_key[("across_channels", "")]["reward_cents"] == "500"
    ja = by_key[("guide", cs.guide("JA").code)]
    assert (ja["store"], ja["views"], ja["orders"], ja["revenue_cents"]) == (
        "CRJA", "3", "2", "37800",
    )  # fmt: skip
    assert by_key[("no_guide", "")]["orders"] == "1"
    assert by_key[("store", "CRLJ")]["revenue_cents"] == "58700"
    sharer = by_key[("sharer", cs.sharer.code)]
    assert (sharer["views"], sharer["orders"], sharer["revenue_cents"]) == ("1", "1", "0")


def test_the_list_shows_each_campaigns_orders_and_revenue(client, cs, spring):
    response = sign_in(client, cs.admin).get("/campaigns/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for code, count, revenue in (("SPRING", "6", "CN¥965.00"), ("OTHER", "1", "CN¥199.00")):
        row = marked(html[html.index(f'data-code="{code}"') :])  # from the campaign's row on
        assert (row["campaign-status"], row["campaign-orders"]) == ("Live", count)
        assert row["campaign-revenue"] == revenue


def test_a_campaign_without_cost_reads_no_cost(cs, spring):
    report = reports.campaign_report(spring.other)
    assert (report.total.orders, report.total.revenue_cents) == (1, 19_900)
    assert report.total.cost_cents == 0 and report.total.roi is None
    assert report.total.net_cents == 19_900
    assert [line.channel for line in report.channels] == ["live"]
    assert report.reach.views == 1  # I's opening of JA's link to LIVE2


def test_a_return_takes_off_what_it_paid_back(cs):
    """Two tees bought through a live event's link; one comes back and is refunded: the
    campaign keeps the other's 199.00."""
    campaign = cs.campaign("RETURNS")
    now = utcnow()
    db.session.add(
        LiveEvent(
            brand_id=cs.brand.id, campaign_id=campaign.id, code="LIVE9", name="Returns live",
            starts_at=now - timedelta(hours=2), ends_at=now + timedelta(hours=2),
        )
    )  # fmt: skip
    buyer = cs.consumer("R")
    cs.visit(cs.guide("JA"), "live", "LIVE9", consumer=buyer, hours_ago=0.5)
    order = cs.buy(buyer, qty=2)
    assert cs.channel_of(order).campaign_id == campaign.id
    staff = cs.gs.shop.staff("LJ")
    orders.accept(staff, order)
    orders.mark_ready(staff, order)
    orders.hand_over(staff, order, order.pickup_code)
    asked = returns.request_return(buyer, order, [ReturnLineInput(order.lines[0].id, 1)])
    returns.receive(staff, asked, {asked.lines[0].id: Grade.A})
    returns.refund(staff, asked)
    report = reports.campaign_report(campaign)
    assert (report.total.orders, report.total.charged_cents) == (1, 39_800)
    assert (report.total.revenue_cents, report.total.refunded_cents) == (19_900, 19_900)
    assert report.guides[0].revenue_cents == 19_900
