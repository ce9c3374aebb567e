"""Guides' and sharers' links to campaign things (portal/guides/link_views.py): a link to a live
event, a group buy or a red packet is recorded like any other and opens that thing's page (the
shop's home while the app has no such page); the mini-program is told the same path."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.guides.links import make_token
from portal.guides.models import GuideVisit
from portal.storefront.auth import start_session
from tests.campaigns.sharers.conftest import SharerShop

PAGES = {
    "live": ("campaign_events.event_page", "/shop/SH/live/LIVE1"),
    "group_buy": ("campaign_groups.offer_page", "/shop/SH/group-buys/GB1"),
    "red_packet": ("campaign_packets.packet_page", "/shop/SH/red-packets/RP1"),
}
REFS = {"live": "LIVE1", "group_buy": "GB1", "red_packet": "RP1"}


def newest_visit() -> GuideVisit:
    return db.session.execute(
        select(GuideVisit).order_by(GuideVisit.id.desc()).limit(1)
    ).scalar_one()


@pytest.mark.parametrize("target", sorted(PAGES))
@pytest.mark.parametrize("who", ["guide", "sharer"])
def test_a_link_to_a_campaign_thing_is_recorded_and_opens_its_page(
    client, app, ss: SharerShop, target: str, who: str
):
    sharer = ss.op if who == "sharer" else ss.guides["JA"]
    token = make_token(sharer, target, REFS[target])
    opened = client.get(f"/shop/SH/g/{token}")
    assert opened.status_code == 302
    endpoint, path = PAGES[target]
    expected = path if endpoint in app.view_functions else "/shop/SH/"
    assert urlsplit(opened.headers["Location"]).path == expected
    visit = newest_visit()
    assert (visit.guide_id, visit.target, visit.ref) == (sharer.id, target, REFS[target])


def test_the_mini_program_is_told_the_campaign_page_too(client, app, ss: SharerShop):
    secret, _expires = start_session(ss.consumer(), kind="api")
    db.session.commit()
    token = make_token(ss.guides["LJ"], "live", "LIVE1")
    answer = client.post(
        "/api/v1/shop/SH/guide-visits",
        json={"link": f"https://example.test/shop/SH/g/{token}"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert answer.status_code == 201, answer.get_json()
    endpoint, path = PAGES["live"]
    assert answer.get_json()["path"] == (path if endpoint in app.view_functions else "/shop/SH/")
    assert answer.get_json()["target"] == "live"
