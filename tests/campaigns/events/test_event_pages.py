"""The live event's pages (portal/campaigns/event_views.py): the public page in the shop, a
guide's entry links with their QR codes and posters, the order that follows a guide's entry
link, and HQ's pages (writing, featuring, publishing, the guides' entries) with who may use
them."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import select

from portal.campaigns import events
from portal.campaigns.models import EventStatus, LiveEvent, LiveEventItem
from portal.core.db import utcnow
from portal.extensions import db
from portal.guides import links
from portal.guides.models import GuideKind, GuideVisit, LinkTarget
from portal.storefront.models import ConsumerOrder
from tests.campaigns.events.conftest import ROOM, EventShop
from tests.guides.conftest import attribution_of
from tests.storefront.test_cart_views import add, page, sign_in
from tests.storefront.test_checkout_views import form_of, pickup_at
from tests.support.campaigns import count  # noqa: F401 - the tests use it

PASSWORD = "x" * 12


def staff_sign_in(client, es: EventShop, short: str):
    """A person of the brand (a guide "JA", "LJ" or the HQ merchandiser "HQ") signed in."""
    response = client.post("/login", data={"email": es.gs.users[short].email, "password": PASSWORD})
    assert response.status_code == 302
    with client.session_transaction() as cookie:
        cookie["lang"] = "en"
    return client


def english(client):
    with client.session_transaction() as cookie:
        cookie["lang"] = "en"
    return client


def entry_claims(html: str) -> list[links.LinkClaim]:
    """What each entry link on a guide's page says (its guide, target and event)."""
    tokens = re.findall(r'value="[^"]*/shop/EV/g/([^"]+)" data-testid="share-url"', html)
    claims = [links.read_token(token) for token in tokens]
    assert None not in claims
    return [claim for claim in claims if claim is not None]


def full_event(es: EventShop, **kwargs) -> LiveEvent:
    coupon = es.coupon()
    es.group_buy("POLO")
    return es.event(
        schedule=((timedelta(0), "Opening"), (timedelta(minutes=45), "New coats")),
        items=(
            events.ItemInput("TEE", event_price_cents=12_900),
            events.ItemInput("RUN", coupon_code=coupon.code),
            events.ItemInput("POLO", group_buy_code="GB1"),
        ),
        **kwargs,
    )


# -- the public page -----------------------------------------------------------------------------


def test_a_running_events_page_shows_the_room_schedule_and_offers(client, es):
    event = full_event(es)
    db.session.commit()
    response = english(client).get("/shop/EV/live/LIVE1")
    assert response.status_code == 200
    html = page(response)
    assert 'data-state="live"' in html and 'data-testid="event-live"' in html
    assert f'href="{ROOM}"' in html and 'data-testid="watch-live"' in html
    assert html.index("Opening") < html.index("New coats")
    tee = html.split('data-product="TEE"')[1].split("</li>")[0]
    assert "199.00" in tee and "129.00" in tee  # list price, event price
    assert "/shop/EV/p/TEE" in tee
    run = html.split('data-product="RUN"')[1].split("</li>")[0]
    assert re.search(r'href="/shop/EV/coupons/[^"]+"[^>]*data-testid="claim-coupon"', run)
    polo = html.split('data-product="POLO"')[1].split("</li>")[0]
    assert "199.00" in polo  # the group price, for 3 people
    assert event.status == EventStatus.PUBLISHED


def test_a_coming_event_counts_down_and_an_ended_one_says_so(client, es):
    event = es.event(starts_in=timedelta(hours=2))
    db.session.commit()
    html = page(english(client).get("/shop/EV/live/LIVE1"))
    assert 'data-state="coming"' in html and "data-countdown=" in html
    assert 'data-testid="watch-live"' in html
    es.move(event, starts_in=timedelta(hours=-3), lasts=timedelta(hours=1))
    db.session.commit()
    html = page(client.get("/shop/EV/live/LIVE1"))
    assert 'data-state="ended"' in html and 'data-testid="watch-live"' not in html


def test_drafts_cancelled_events_unknown_codes_and_switched_off_brands_are_not_found(client, es):
    es.event("DRAFT", publish=False)
    cancelled = es.event("GONE")
    events.cancel_event(es.hq, cancelled)
    es.event("SHOWN")
    db.session.commit()
    for code in ("DRAFT", "GONE", "NOPE"):
        assert client.get(f"/shop/EV/live/{code}").status_code == 404
    assert client.get("/shop/EV/live/SHOWN").status_code == 200
    assert client.get("/shop/ACME/live/SHOWN").status_code == 404  # another brand's shop
    es.set_campaigns(live_events=False)
    db.session.commit()
    assert client.get("/shop/EV/live/SHOWN").status_code == 404


# -- guides' entry links -------------------------------------------------------------------------


def test_a_guide_sees_their_own_entry_link_qr_and_poster_for_each_event_to_share(client, es):
    es.event("NOW")
    es.event("LATER", starts_in=timedelta(days=1))
    es.event("DRAFT", publish=False)
    over = es.event("OVER")
    es.move(over, starts_in=timedelta(hours=-5), lasts=timedelta(hours=1))
    db.session.commit()
    staff_sign_in(client, es, "JA")
    response = client.get("/guides/me/events")
    assert response.status_code == 200
    html = page(response)
    assert 'data-testid="share-live-NOW"' in html and 'data-testid="share-live-LATER"' in html
    assert "share-live-DRAFT" not in html and "share-live-OVER" not in html
    assert 'data-testid="copy-link"' in html
    code = es.gs.guides["JA"].code
    assert [(c.guide_code, c.target, c.ref) for c in entry_claims(html)] == [
        (code, LinkTarget.LIVE, "NOW"),
        (code, LinkTarget.LIVE, "LATER"),
    ]
    qr = client.get("/guides/me/events/NOW/qr.svg")
    assert qr.status_code == 200 and qr.mimetype == "image/svg+xml"
    poster = client.get("/guides/me/events/NOW/poster.png")
    assert poster.status_code == 200 and poster.data.startswith(b"\x89PNG")
    assert client.get("/guides/me/events/NOW/poster.svg").mimetype == "image/svg+xml"
    assert client.get("/guides/me/events/DRAFT/qr.svg").status_code == 404


def test_a_sharer_gets_entry_links_too(client, es):
    es.gs.guides["HQ"].kind = GuideKind.COMMUNITY_OPERATOR
    es.event("NOW")
    db.session.commit()
    staff_sign_in(client, es, "HQ")
    html = page(client.get("/guides/me/events"))
    [claim] = entry_claims(html)
    assert (claim.guide_code, claim.ref) == (es.gs.guides["HQ"].code, "NOW")


def test_a_guides_entry_link_opens_the_page_and_the_order_that_follows_is_theirs(client, es):
    es.event(items=(events.ItemInput("TEE", event_price_cents=12_900),))
    db.session.commit()
    token = links.make_token(es.gs.guides["JA"], LinkTarget.LIVE, "LIVE1")
    opened = client.get(f"/shop/EV/g/{token}")
    assert opened.status_code == 302
    assert urlsplit(opened.headers["Location"]).path == "/shop/EV/live/LIVE1"
    assert client.get("/shop/EV/live/LIVE1").status_code == 200
    [visit] = db.session.execute(select(GuideVisit)).scalars().all()
    assert (visit.target, visit.ref) == ("live", "LIVE1")
    sign_in(client, es.gs.shop, es.gs.consumer())
    add(client, es.gs.shop, "TEE-BLK-M")
    form = {**form_of(page(client.get("/shop/EV/checkout"))), **pickup_at(es.gs.shop, "LJ")}
    placed = client.post("/shop/EV/checkout", data=form)
    assert placed.status_code == 302, page(placed)[:2000]
    order = db.session.execute(select(ConsumerOrder)).scalars().all()[-1]
    assert [line.unit_price_cents for line in order.lines] == [12_900]
    found = attribution_of(order)
    assert found is not None
    assert (found.guide_id, found.rule) == (es.gs.guides["JA"].id, "link")


# -- HQ ------------------------------------------------------------------------------------------


def local(moment) -> str:
    """A time as the form's datetime-local field takes it (the portal's zone, Shanghai)."""
    return moment.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%dT%H:%M")


def event_form(**changes) -> dict[str, str]:
    starts = utcnow().replace(second=0, microsecond=0) + timedelta(days=1)
    later = local(starts + timedelta(hours=1))
    form = {
        "code": "SUMMER",
        "name": "Summer live",
        "starts_at": local(starts),
        "ends_at": local(starts + timedelta(hours=2)),
        "room_url": ROOM,
        # The first line on the event's first day; the second with its date.
        "schedule": f"{local(starts)[11:]} Opening\n{later.replace('T', ' ')} Coats",
        "campaign": "",
        "description": "",
    }
    form.update(changes)
    return form


def test_hq_drafts_features_and_publishes_an_event_through_its_pages(client, es):
    staff_sign_in(client, es, "HQ")
    assert client.get("/campaigns/events/").status_code == 200
    assert client.get("/campaigns/events/new").status_code == 200
    created = client.post("/campaigns/events/new", data=event_form())
    assert created.status_code == 302, page(created)[:3000]
    assert created.headers["Location"].endswith("/campaigns/events/SUMMER")
    event = db.session.execute(select(LiveEvent).where(LiveEvent.code == "SUMMER")).scalar_one()
    assert [line.title for line in events.schedule_of(event)] == ["Opening", "Coats"]
    low = client.post(
        "/campaigns/events/SUMMER/items",
        data={"item-product_code": "TEE", "item-event_price": "100"},
    )
    assert low.status_code == 422 and "120.00" in page(low)  # the floor, on the price field
    assert count(LiveEventItem) == 0
    item = client.post(
        "/campaigns/events/SUMMER/items",
        data={"item-product_code": "TEE", "item-event_price": "129"},
    )
    assert item.status_code == 302
    assert count(LiveEventItem) == 1
    published = client.post("/campaigns/events/SUMMER/publish")
    assert published.status_code == 302
    db.session.refresh(event)
    assert event.status == EventStatus.PUBLISHED
    detail = page(client.get("/campaigns/events/SUMMER"))
    assert 'data-testid="event-page-link"' in detail and "129.00" in detail


def test_hqs_form_shows_a_bad_room_address_and_a_late_schedule_line_and_writes_nothing(client, es):
    staff_sign_in(client, es, "HQ")
    bad = client.post("/campaigns/events/new", data=event_form(room_url="javascript:alert(1)"))
    assert bad.status_code == 422
    assert "http:// or https://" in page(bad)
    late = client.post(
        "/campaigns/events/new", data=event_form(schedule="2001-01-01 10:00 Long ago")
    )
    assert late.status_code == 422 and "outside the event" in page(late)
    unreadable = client.post("/campaigns/events/new", data=event_form(schedule="soon Opening"))
    assert unreadable.status_code == 422 and "Line 1" in page(unreadable)
    assert count(LiveEvent) == 0


def test_hqs_pages_say_when_live_events_are_off_and_refuse_to_draft(client, es):
    es.set_campaigns(live_events=False)
    db.session.commit()
    staff_sign_in(client, es, "HQ")
    assert "campaigns.live_events" in page(client.get("/campaigns/events/"))
    refused = client.post("/campaigns/events/new", data=event_form())
    assert refused.status_code == 422 and "campaigns.live_events" in page(refused)
    assert count(LiveEvent) == 0


def test_hq_sees_each_events_link_openings_and_each_guides_entries(client, es):
    es.event("NOW")
    for short, times in (("JA", 3), ("LJ", 1)):
        for n in range(times):
            db.session.add(
                GuideVisit(
                    brand_id=es.brand.id,
                    guide_id=es.gs.guides[short].id,
                    visitor=f"browser-{short}-{n % 2}",
                    target=LinkTarget.LIVE,
                    ref="NOW",
                )
            )
    db.session.add(  # a link to something else is not an entry to the event
        GuideVisit(brand_id=es.brand.id, guide_id=es.gs.guides["LJ"].id, target="home", ref="")
    )
    db.session.commit()
    staff_sign_in(client, es, "HQ")
    listing = page(client.get("/campaigns/events/"))
    row = listing.split('data-code="NOW"')[1].split("</tr>")[0]
    assert re.search(r'data-testid="event-views">4<', row)
    detail = page(client.get("/campaigns/events/NOW"))
    ja = detail.split(f'data-code="{es.gs.guides["JA"].code}"')[1].split("</tr>")[0]
    assert re.search(r'data-testid="guide-entries">3<', ja) and "<td>2</td>" in ja
    lj = detail.split(f'data-code="{es.gs.guides["LJ"].code}"')[1].split("</tr>")[0]
    assert re.search(r'data-testid="guide-entries">1<', lj)


def test_another_brands_hq_finds_no_event_and_a_store_cannot_manage_events(client, login, es):
    es.event("NOW", publish=False)
    db.session.commit()
    login("hq@demo.test")  # ACME's HQ
    assert client.get("/campaigns/events/NOW").status_code == 404
    assert client.post("/campaigns/events/NOW/publish").status_code == 404
    assert client.post("/campaigns/events/NOW/cancel").status_code == 404
    assert "NOW" not in page(client.get("/campaigns/events/"))
    client.post("/logout")
    staff_sign_in(client, es, "JA")  # a store's staff member (a guide)
    assert client.get("/campaigns/events/").status_code == 403
    assert client.post("/campaigns/events/new", data=event_form()).status_code == 403
    assert client.get("/campaigns/events/NOW").status_code == 404
    assert client.post("/campaigns/events/NOW/publish").status_code == 404
    event = db.session.execute(
        select(LiveEvent).where(LiveEvent.brand_id == es.brand.id)
    ).scalar_one()
    assert event.status == EventStatus.DRAFT and count(LiveEvent) == 1


def test_hq_removes_an_item_and_cancels_an_event_from_its_page(client, es):
    es.event("NOW", items=(events.ItemInput("TEE", event_price_cents=12_900),))
    item = db.session.execute(
        select(LiveEventItem)
        .join(LiveEvent, LiveEvent.id == LiveEventItem.event_id)
        .where(LiveEvent.brand_id == es.brand.id)
    ).scalar_one()
    db.session.commit()
    staff_sign_in(client, es, "HQ")
    assert "129.00" in page(client.get("/shop/EV/p/TEE"))
    removed = client.post(f"/campaigns/events/NOW/items/{item.id}/remove")
    assert removed.status_code == 302
    assert count(LiveEventItem) == 0
    assert "129.00" not in page(client.get("/shop/EV/p/TEE"))
    assert client.post("/campaigns/events/NOW/items/999999/remove").status_code == 404
    cancelled = client.post("/campaigns/events/NOW/cancel")
    assert cancelled.status_code == 302
    assert client.get("/shop/EV/live/NOW").status_code == 404
    again = client.post("/campaigns/events/NOW/cancel")
    assert again.status_code == 409 and "no longer changes" in page(again)
