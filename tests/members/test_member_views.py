"""HQ's member pages (portal/members/member_views.py) on the demo brand ACME, on both backends:
members found by phone, number, level and tag, one member's page with tags added and removed by
hand, tags, segments with live counts and their CSV export (the phone whole for those who
manage members, masked for the others, formulas made inert), the programme and its brands.
Another brand's HQ gets a 404 on every one of them; store staff a 403."""

from __future__ import annotations

import csv
import io
import re

import pytest

from portal.extensions import db
from portal.members import membership, tags
from portal.members.tag_models import TagKind
from portal.storefront.models import Consumer
from tests.support.consumer_orders import build_shop, place
from tests.support.services import org

PHONES = ("+8613300133001", "+8613300133002", "+8613300133003")


def _join(phone: str, name: str) -> Consumer:
    consumer = Consumer(brand_id=org("ACME").id, phone=phone, name=name)
    db.session.add(consumer)
    db.session.flush()
    membership.join(consumer)
    return consumer


@pytest.fixture
def acme(app):
    """Three new members of ACME's programme, tags refreshed; one whose name would run as a
    spreadsheet formula."""
    people = [
        _join(PHONES[0], "Chen Jing"),
        _join(PHONES[1], "Wu Lan"),
        _join(PHONES[2], "=HYPERLINK(1)"),
    ]
    tags.refresh_auto_tags(membership.program_of(org("ACME")))
    db.session.commit()
    return people


def number_of(consumer: Consumer) -> str:
    member = membership.member_of(consumer)
    assert member is not None
    return member.number


def english(client):
    with client.session_transaction() as cookie:
        cookie["lang"] = "en"
    return client


def text(response) -> str:
    return response.get_data(as_text=True)


def test_hq_finds_members_by_phone_number_and_level(app, login, acme):
    client = english(login("hq@demo.test"))
    page = text(client.get("/shop/ACME/hq/members"))
    assert all(number_of(c) in page for c in acme)
    assert PHONES[0] in page  # HQ's admin manages members: the whole phone
    found = text(client.get("/shop/ACME/hq/members?q=133%200013%203002"))
    assert number_of(acme[1]) in found and number_of(acme[0]) not in found
    by_tail = text(client.get("/shop/ACME/hq/members?q=3003"))
    assert number_of(acme[2]) in by_tail and number_of(acme[1]) not in by_tail
    by_number = text(client.get(f"/shop/ACME/hq/members?q={number_of(acme[0]).lower()}"))
    assert re.findall(r'data-member="([^"]+)"', by_number) == [number_of(acme[0])]
    by_name = text(client.get("/shop/ACME/hq/members?q=wu+la"))
    assert re.findall(r'data-member="([^"]+)"', by_name) == [number_of(acme[1])]
    assert number_of(acme[0]) in text(client.get("/shop/ACME/hq/members?level=member"))
    assert number_of(acme[0]) not in text(client.get("/shop/ACME/hq/members?level=gold"))


def test_the_merchandiser_sees_phones_masked(app, login, acme):
    client = english(login("merch@demo.test"))
    page = text(client.get("/shop/ACME/hq/members"))
    assert "+86133****3001" in page and PHONES[0] not in page
    detail = text(client.get(f"/shop/ACME/hq/members/{number_of(acme[0])}"))
    assert "+86133****3001" in detail and PHONES[0] not in detail


def test_a_members_page_shows_level_tags_and_orders_and_hq_tags_by_hand(app, login, acme):
    client = english(login("hq@demo.test"))
    number = number_of(acme[0])
    page = text(client.get(f"/shop/ACME/hq/members/{number}"))
    assert 'data-testid="member-level">Member<' in page and "Joined online" in page
    assert "No orders yet." in page
    made = client.post("/shop/ACME/hq/tags", data={"name": "Wedding party"})
    assert made.status_code == 302
    program = membership.program_of(org("ACME"))
    wedding = next(
        t for t in tags.visible_tags(program.id, org("ACME").id) if t.name == "Wedding party"
    )
    added = client.post(f"/shop/ACME/hq/members/{number}/tags", data={"tag_id": wedding.id})
    assert added.status_code == 302
    page = text(client.get(f"/shop/ACME/hq/members/{number}"))
    assert "Tag added: Wedding party." in page
    assert f'data-tag="{wedding.id}"' in page.split('data-testid="member-tags"')[1]
    tag_list = text(client.get(f"/shop/ACME/hq/members?tag={wedding.id}"))
    assert re.findall(r'data-member="([^"]+)"', tag_list) == [number]
    client.post(f"/shop/ACME/hq/members/{number}/tags/{wedding.id}/remove")
    page = text(client.get(f"/shop/ACME/hq/members/{number}"))
    assert f'data-tag="{wedding.id}"' not in page.split('data-testid="member-tags"')[1]
    auto = tags.tags_of(membership.member_of(acme[0]), org("ACME").id)[0]
    client.post(f"/shop/ACME/hq/members/{number}/tags/{auto.id}/remove")
    assert "Automatic tags follow the data" in text(client.get(f"/shop/ACME/hq/members/{number}"))
    assert client.get("/shop/ACME/hq/members/M0").status_code == 404


def test_the_merchandiser_reads_but_does_not_tag(app, login, acme):
    client = login("merch@demo.test")
    number = number_of(acme[0])
    assert client.get("/shop/ACME/hq/tags").status_code == 200
    assert client.post("/shop/ACME/hq/tags", data={"name": "x"}).status_code == 403
    assert (
        client.post(f"/shop/ACME/hq/members/{number}/tags", data={"tag_id": 1}).status_code == 403
    )
    assert client.post("/shop/ACME/hq/segments", data={"name": "x"}).status_code == 403


def test_a_tag_name_is_checked(app, login, acme):
    client = english(login("hq@demo.test"))
    response = client.post("/shop/ACME/hq/tags", data={"name": "  "})
    assert response.status_code == 422 and "A name of 1 to 60 characters." in text(response)


def test_segments_count_live_and_export(app, login, acme):
    client = english(login("hq@demo.test"))
    program = membership.program_of(org("ACME"))
    online = next(
        t
        for t in tags.visible_tags(program.id, org("ACME").id)
        if (t.kind, t.value) == (TagKind.CHANNEL, "online")
    )
    empty = client.post("/shop/ACME/hq/segments", data={"name": "Nothing"})
    assert empty.status_code == 422 and "Choose at least one tag." in text(empty)
    made = client.post(
        "/shop/ACME/hq/segments", data={"name": "Joined online", f"mode-{online.id}": "all"}
    )
    assert made.status_code == 302
    segment_url = made.headers["Location"]
    segment_id = int(segment_url.rstrip("/").rsplit("/", 1)[1])
    page = text(client.get(segment_url))
    before = int(re.search(r"(\d+) members now", page).group(1))
    assert before >= 3
    listed = text(client.get("/shop/ACME/hq/segments"))
    assert f'data-segment="{segment_id}"' in listed and f">{before}<" in listed
    # A new member who joined online counts as soon as the tags are refreshed.
    newcomer = _join("+8613300133004", "Xu Ming")
    tags.refresh_auto_tags(program)
    db.session.commit()
    after = int(re.search(r"(\d+) members now", text(client.get(segment_url))).group(1))
    assert after == before + 1

    export = client.get(f"{segment_url}/export.csv")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["Member number", "Name", "Mobile", "Level", "Joined"]
    by_number = {row[0]: row for row in rows[1:]}
    assert len(rows) - 1 == after
    assert by_number[number_of(acme[0])][1:4] == ["Chen Jing", PHONES[0], "Member"]
    assert by_number[number_of(acme[2])][1] == "'=HYPERLINK(1)"  # inert in a spreadsheet
    assert number_of(newcomer) in by_number
    merch = english(login("merch@demo.test")).get(f"{segment_url}/export.csv")
    masked = {row[0]: row for row in csv.reader(io.StringIO(merch.get_data(as_text=True)))}
    assert masked[number_of(acme[0])][2] == "'+86133****3001"  # "+" starts a formula


def test_a_segment_is_changed_and_deleted(app, login, acme):
    client = english(login("hq@demo.test"))
    program = membership.program_of(org("ACME"))
    online = next(
        t
        for t in tags.visible_tags(program.id, org("ACME").id)
        if (t.kind, t.value) == (TagKind.CHANNEL, "online")
    )
    url = client.post(
        "/shop/ACME/hq/segments", data={"name": "Online", f"mode-{online.id}": "all"}
    ).headers["Location"]
    changed = client.post(url, data={"name": "Not online", f"mode-{online.id}": "none"})
    assert changed.status_code == 302
    page = text(client.get(url))
    assert "Not online" in page and f'name="mode-{online.id}" value="none" aria-label' in page
    bad = client.post(url, data={"name": ""})
    assert bad.status_code == 422 and "A name of 1 to 80 characters." in text(bad)
    assert client.post(f"{url}/delete").status_code == 302
    assert client.get(url).status_code == 404


def test_the_programme_page_shows_the_brands_that_share_it(app, login, acme):
    acme_brand, lumi = org("ACME"), org("LUMI")
    if membership.find_program(lumi.id) is None or (
        membership.find_program(lumi.id).id != membership.program_of(acme_brand).id
    ):
        membership.share_program(acme_brand, [lumi])
    db.session.commit()
    page = text(english(login("hq@demo.test")).get("/shop/ACME/hq/program"))
    assert 'data-brand="ACME"' in page and 'data-brand="LUMI"' in page
    assert "These brands share one programme" in page
    lumi_page = text(english(login("hq2@demo.test")).get("/shop/LUMI/hq/program"))
    assert 'data-brand="ACME"' in lumi_page and "lead" in lumi_page


@pytest.mark.parametrize(
    "path",
    [
        "members",
        "members/M0000000000",
        "tags",
        "segments",
        "segments/1",
        "segments/1/export.csv",
        "program",
    ],
)
def test_another_brands_hq_gets_404_and_store_staff_403(app, login, acme, path):
    assert login("hq2@demo.test").get(f"/shop/ACME/hq/{path}").status_code == 404
    assert login("staff1@demo.test").get(f"/shop/ACME/hq/{path}").status_code == 403


def test_a_members_page_lists_their_orders_in_this_brand(app, login, acme):
    stocked = build_shop()  # ten more units of one SKU at S1
    consumer = acme[1]
    order = place(
        stocked.brand, stocked.s1, {stocked.variant.id: 1}, consumer=consumer, unit_cents=12_300
    )
    order.member_id = consumer.member_id
    db.session.commit()
    page = text(english(login("hq@demo.test")).get(f"/shop/ACME/hq/members/{number_of(consumer)}"))
    assert order.number in page and "123.00" in page and "Paid" in page
