"""Campaigns as HQ writes them (services and pages): drafted with a code unique in the brand and
a window that ends after it starts, started and closed; what names a campaign on its page; who
may see it (the brand's HQ only: anyone else's campaign is a 404); the navigation's links."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.campaigns import campaigns
from portal.campaigns.models import Campaign, CampaignStatus
from portal.core.db import utcnow
from portal.core.errors import Conflict, NotFound, ValidationFailed
from portal.extensions import db
from tests.campaigns.reports.conftest import marked, sign_in
from tests.support.services import actor_for, org


def window(start_days: float = 0, end_days: float = 7) -> dict:
    now = utcnow()
    return {
        "starts_at": now + timedelta(days=start_days),
        "ends_at": now + timedelta(days=end_days),
    }


def draft(actor, code: str = "SPRING", **changes) -> Campaign:
    values = {"code": code, "name": "Spring", **window(), **changes}
    return campaigns.create_campaign(actor, campaigns.CampaignInput(**values))


def count_campaigns() -> int:
    return db.session.execute(select(func.count(Campaign.id))).scalar_one()


def form(code: str = "SPRING", start: str = "2031-03-01T09:00", end: str = "2031-03-08T21:00"):
    return {"code": code, "name": "Spring sale", "starts_at": start, "ends_at": end}


# -- services ------------------------------------------------------------------------------------


def test_a_campaign_is_drafted_started_and_closed(cs):
    campaign = draft(cs.hq, "spring-26", description="  Tees for spring  ")
    assert (campaign.code, campaign.status, campaign.description) == (
        "SPRING-26", CampaignStatus.DRAFT, "Tees for spring",
    )  # fmt: skip
    assert campaigns.start_campaign(cs.hq, campaign).status == CampaignStatus.LIVE
    with pytest.raises(Conflict):
        campaigns.start_campaign(cs.hq, campaign)
    assert campaigns.close_campaign(cs.hq, campaign).status == CampaignStatus.CLOSED
    assert campaigns.close_campaign(cs.hq, campaign).status == CampaignStatus.CLOSED
    with pytest.raises(Conflict):
        campaigns.update_campaign(
            cs.hq, campaign, campaigns.CampaignInput("SPRING-26", "Renamed", **window())
        )
    assert campaign.name == "Spring"


def test_a_window_that_ends_before_it_starts_is_refused_and_nothing_is_written(cs):
    before = count_campaigns()
    with pytest.raises(ValidationFailed) as refused:
        draft(cs.hq, **window(start_days=3, end_days=1))
    assert set(refused.value.fields) == {"ends_at"}
    assert "end after it starts" in refused.value.fields["ends_at"]
    with pytest.raises(ValidationFailed) as refused:
        draft(cs.hq, code="no spaces!", name="", starts_at=None)
    assert set(refused.value.fields) == {"code", "name", "starts_at"}
    assert count_campaigns() == before


def test_a_code_the_brand_already_uses_is_refused(cs):
    first = draft(cs.hq, "SPRING")
    with pytest.raises(ValidationFailed) as refused:
        draft(cs.hq, "spring")
    assert refused.value.fields == {"code": "Another campaign of the brand has this code."}
    other = draft(cs.hq, "SUMMER")
    with pytest.raises(ValidationFailed) as refused:  # a draft may change its code, not to this
        campaigns.update_campaign(
            cs.hq, other, campaigns.CampaignInput("SPRING", "Summer", **window())
        )
    assert set(refused.value.fields) == {"code"}
    db.session.refresh(other)
    assert other.code == "SUMMER"
    # Another brand may use the code.
    acme = draft(actor_for("hq@demo.test"), "SPRING")
    assert acme.brand_id != first.brand_id


def test_a_live_campaign_keeps_its_code_and_a_window_over_cannot_start(cs):
    campaign = draft(cs.hq, "SPRING")
    campaigns.start_campaign(cs.hq, campaign)
    campaigns.update_campaign(
        cs.hq, campaign, campaigns.CampaignInput("RENAMED", "Spring, longer", **window(0, 14))
    )
    assert (campaign.code, campaign.name) == ("SPRING", "Spring, longer")
    past = draft(cs.hq, "PAST", **window(-10, -3))
    with pytest.raises(ValidationFailed) as refused:
        campaigns.start_campaign(cs.hq, past)
    assert set(refused.value.fields) == {"ends_at"}
    assert past.status == CampaignStatus.DRAFT


def test_another_brands_campaign_is_not_found(cs):
    ours = draft(cs.hq, "SPRING")
    acme = actor_for("hq@demo.test")
    with pytest.raises(NotFound):
        campaigns.get_campaign(acme, ours.id)
    with pytest.raises(NotFound):
        campaigns.close_campaign(acme, ours)
    with pytest.raises(NotFound):  # a store has no campaigns
        draft(actor_for("store1@demo.test"), "STORE")
    assert ours.status == CampaignStatus.DRAFT
    assert campaigns.find_campaign(org("ACME").id, ours.id) is None
    assert campaigns.open_campaigns(cs.brand.id) == [ours]


# -- pages ---------------------------------------------------------------------------------------


def test_hq_drafts_a_campaign_on_the_list_page_and_starts_it(client, cs):
    hq = sign_in(client, cs.admin)
    landing = hq.get("/campaigns/")
    assert landing.status_code == 200
    assert 'data-testid="campaign-form"' in landing.get_data(as_text=True)
    made = hq.post("/campaigns/", data=form())
    assert made.status_code == 302
    campaign = db.session.execute(
        select(Campaign).where(Campaign.brand_id == cs.brand.id, Campaign.code == "SPRING")
    ).scalar_one()
    assert made.headers["Location"].endswith(f"/campaigns/{campaign.id}")
    page = hq.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert marked(page)["campaign-status"] == "Draft"
    assert hq.post(f"/campaigns/{campaign.id}/start").status_code == 302
    assert marked(hq.get(f"/campaigns/{campaign.id}").get_data(as_text=True))[
        "campaign-status"
    ] == "Live"  # fmt: skip
    again = hq.post(f"/campaigns/{campaign.id}/start")
    assert again.status_code == 409
    assert "Only a draft campaign can be started." in again.get_data(as_text=True)
    assert hq.post(f"/campaigns/{campaign.id}/close").status_code == 302
    db.session.refresh(campaign)
    assert campaign.status == CampaignStatus.CLOSED


def test_the_form_shows_a_window_ending_before_it_starts_and_a_taken_code(client, cs):
    hq = sign_in(client, cs.admin)
    draft(cs.hq, "SPRING")
    db.session.commit()
    before = count_campaigns()
    backwards = hq.post("/campaigns/", data=form("NEW", end="2031-02-01T09:00"))
    assert backwards.status_code == 422
    assert "The campaign must end after it starts." in backwards.get_data(as_text=True)
    taken = hq.post("/campaigns/", data=form("spring"))
    assert taken.status_code == 422
    assert "Another campaign of the brand has this code." in taken.get_data(as_text=True)
    assert count_campaigns() == before


def test_a_campaigns_page_lists_what_names_it(client, cs, spring):
    page = sign_in(client, cs.admin).get(f"/campaigns/{spring.campaign.id}").get_data(as_text=True)
    found = marked(page)
    assert "LIVE1 · Spring live" in found["named-events"]
    assert "LIVE2" not in found["named-events"]  # the other campaign's
    assert "GB1 · Tee for two" in found["named-group-buys"]
    assert "RP · Spring packets" in found["named-plans"]
    assert [code in found["named-tasks"] for code in ("VISIT", "SELL", "CLAIM")] == [True] * 3
    assert found["report-link"] == "Report"


def test_only_the_brands_hq_opens_its_campaigns(client, login, app):
    campaign = draft(actor_for("hq@demo.test"), "ACME-SPRING")
    db.session.commit()
    base = f"/campaigns/{campaign.id}"
    pages = [base, f"{base}/report", f"{base}/report.csv"]
    for email in ("hq@demo.test", "merch@demo.test"):
        client = login(email)
        for url in pages:
            assert client.get(url).status_code == 200, (email, url)
    for email in ("hq2@demo.test", "dist1@demo.test", "store1@demo.test", "staff1@demo.test"):
        client = login(email)
        for url in pages:
            assert client.get(url).status_code == 404, (email, url)
        assert client.post(f"{base}/close").status_code == 404, email
    db.session.refresh(campaign)
    assert campaign.status == CampaignStatus.DRAFT
    # The list: HQ sees the brand's campaigns; a distributor (tasks only) its landing; a store
    # may not manage campaigns or tasks.
    assert "ACME-SPRING" in login("hq@demo.test").get("/campaigns/").get_data(as_text=True)
    assert "ACME-SPRING" not in login("hq2@demo.test").get("/campaigns/").get_data(as_text=True)
    landing = login("dist1@demo.test").get("/campaigns/")
    assert landing.status_code == 200
    assert 'data-testid="campaigns"' not in landing.get_data(as_text=True)
    assert login("dist1@demo.test").post("/campaigns/", data=form()).status_code == 403
    assert login("store1@demo.test").get("/campaigns/").status_code == 403


def test_the_navigation_links_campaigns_for_hq_and_tasks_for_guides(login, app):
    hq = login("hq@demo.test").get("/").get_data(as_text=True)
    assert 'data-testid="campaigns-link"' in hq
    distributor = login("dist1@demo.test").get("/").get_data(as_text=True)
    assert 'data-testid="campaigns-link"' in distributor
    staff = login("staff1@demo.test").get("/").get_data(as_text=True)
    assert 'data-testid="campaigns-link"' not in staff
    has_tasks = "campaign_tasks.my_tasks" in app.view_functions
    assert ('data-testid="tasks-link"' in staff) == has_tasks


def test_the_landing_links_the_other_campaign_pages_and_says_which_tools_are_off(client, cs, app):
    pages = {
        "campaign_events.index": "Live events",
        "campaign_groups.index": "Group buys",
        "campaign_packets.index": "Red packets",
    }
    built = {endpoint: label for endpoint, label in pages.items() if endpoint in app.view_functions}
    cs.set_campaigns(live_events=True)
    db.session.commit()
    links = marked(sign_in(client, cs.admin).get("/campaigns/").get_data(as_text=True)).get(
        "campaign-pages", ""
    )
    for endpoint, label in built.items():
        assert label in links, endpoint
    if "campaign_events.index" in built:
        assert "Live events off for the brand" not in links
    if "campaign_groups.index" in built:
        assert "Group buys off for the brand" in links  # off until the brand turns it on
