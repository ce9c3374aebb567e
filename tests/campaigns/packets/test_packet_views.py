"""Red-packet pages (portal/campaigns/packet_views.py): HQ writes a plan and follows it by
sender, a guide sends a packet from their phone page and shares its link, a member sends one
from their account, and a consumer opens a packet, signs in or joins, and claims a coupon; no
one reaches another brand's plans or packets."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.campaigns import red_packets
from portal.campaigns.models import ClaimSource, RedPacket, RedPacketClaim, RedPacketPlan
from portal.core.access import Role
from portal.extensions import db
from portal.guides import links
from portal.guides.models import GuideVisit
from portal.members.coupon_models import Coupon
from portal.storefront.auth import SESSION_KEY, start_session
from portal.storefront.models import Consumer
from tests.campaigns.packets.conftest import PLAN, PacketShop, count
from tests.storefront.test_cart_views import page, sign_in
from tests.support.services import org

PASSWORD = "x" * 12
HQ = "/campaigns/red-packets/"


@pytest.fixture
def hq(client, login, ps: PacketShop):
    user = ps.gs.person("HQ", Role.HQ_ADMIN)
    db.session.commit()
    with client.session_transaction() as cookie:
        cookie["lang"] = "en"
    return login(user.email, PASSWORD)


@pytest.fixture
def guide(client, login, ps: PacketShop):
    with client.session_transaction() as cookie:
        cookie["lang"] = "en"
    return login(ps.gs.users["JA"].email, PASSWORD)


@pytest.fixture
def shopper(app):
    """A second browser: the consumer's."""
    return app.test_client()


def test_hq_writes_a_plan_on_its_page_and_follows_it_by_sender(ps, hq):
    listing = page(hq.get(HQ))
    assert 'data-testid="new-plan"' in listing and "A packet holds 2 to 10 coupons" in listing
    response = hq.post(HQ, data=PLAN)
    assert response.status_code == 302
    plan = db.session.execute(
        select(RedPacketPlan).where(RedPacketPlan.brand_id == ps.brand.id)
    ).scalar_one()
    assert response.headers["Location"] == f"{HQ}{plan.id}"
    detail = page(hq.get(response.headers["Location"]))
    assert "Red-packet plan “Spring packet” created." in detail
    assert "CN¥30.00 in 3 coupons of CN¥10.00" in detail
    assert 'data-testid="stat-packets">0<' in detail
    ps.send(plan, "JA")
    db.session.commit()
    detail = page(hq.get(f"{HQ}{plan.id}"))
    assert f'data-testid="sender-{ps.guide("JA").code}"' in detail
    assert 'data-testid="plan-sent">1 / 10<' in page(hq.get(HQ))
    response = hq.post(f"{HQ}{plan.id}/stop")
    assert response.status_code == 302
    assert "sends no new packets" in page(hq.get(f"{HQ}{plan.id}"))
    db.session.refresh(plan)
    assert plan.status == "stopped"


def test_a_plan_that_does_not_split_is_shown_again_with_the_reason_and_nothing_written(ps, hq):
    response = hq.post(HQ, data={**PLAN, "packet": "10", "coupons": "3"})
    assert response.status_code == 422
    assert "CN¥10.00 does not split into 3 equal coupons." in page(response)
    response = hq.post(HQ, data={**PLAN, "coupons": "1"})
    assert response.status_code == 422
    assert "At least 2 coupons in a packet." in page(response)
    assert count(RedPacketPlan) == 0


def test_with_red_packets_off_hq_sees_why_and_writes_no_plan(ps, hq):
    ps.set_campaigns(red_packets=False)
    db.session.commit()
    listing = page(hq.get(HQ))
    assert 'data-testid="packets-off"' in listing and 'data-testid="new-plan"' not in listing
    response = hq.post(HQ, data=PLAN)
    assert response.status_code == 422
    assert "This brand does not offer red packets." in page(response)
    assert count(RedPacketPlan) == 0


def test_another_brands_hq_finds_no_plan_and_a_store_may_not_open_the_page(ps, client, login):
    plan = ps.plan()
    db.session.commit()
    acme = login("hq@demo.test")
    assert acme.get(f"{HQ}{plan.id}").status_code == 404
    assert acme.post(f"{HQ}{plan.id}/stop").status_code == 404
    assert 'data-testid="plan-SPRING"' not in page(acme.get(HQ))
    acmes = db.session.execute(  # the demo seed's plan, ACME's own
        select(RedPacketPlan).where(
            RedPacketPlan.brand_id == org("ACME").id, RedPacketPlan.code == "RP-WINTER"
        )
    ).scalar_one()
    assert acme.get(f"{HQ}{acmes.id}").status_code == 200
    assert 'data-testid="plan-RP-WINTER"' in page(acme.get(HQ))
    client.post("/logout")
    rp_hq = ps.gs.person("HQ", Role.HQ_ADMIN)
    db.session.commit()
    rp = login(rp_hq.email, PASSWORD)
    assert rp.get(f"{HQ}{acmes.id}").status_code == 404
    assert rp.post(f"{HQ}{acmes.id}/stop").status_code == 404
    assert 'data-testid="plan-RP-WINTER"' not in page(rp.get(HQ))
    client.post("/logout")
    staff = login(ps.gs.users["JA"].email, PASSWORD)
    assert staff.get(HQ).status_code == 403
    # A plan's pages load it first through a scoped loader: a 404 for anyone but its brand's HQ.
    for found in (plan, acmes):
        assert staff.get(f"{HQ}{found.id}").status_code == 404
        assert staff.post(f"{HQ}{found.id}/stop").status_code == 404
    db.session.refresh(plan)
    db.session.refresh(acmes)
    assert plan.status == acmes.status == "active"


def test_a_guide_sends_a_packet_and_shares_their_link_and_qr_code(ps, guide):
    plan = ps.plan(senders="guides")
    db.session.commit()
    mine = page(guide.get("/guides/me/red-packets"))
    assert 'data-testid="send-SPRING"' in mine
    response = guide.post("/guides/me/red-packets", data={"plan_id": plan.id, "brand": "RP"})
    assert response.status_code == 302
    packet = db.session.execute(select(RedPacket)).scalar_one()
    mine = page(guide.get(response.headers["Location"]))
    assert "Red packet ready" in mine and 'data-testid="packet-qr"' in mine
    assert f"http://127.0.0.1:5000/shop/RP/red-packets/{packet.code}" in mine
    link = re.search(r'value="([^"]+/shop/RP/g/[^"]+)" data-testid="packet-link"', mine)
    assert link is not None
    token = link.group(1).rsplit("/g/", 1)[1]
    claim = links.read_token(token)
    assert (claim.guide_code, claim.target, claim.ref) == (
        ps.guide("JA").code,
        "red_packet",
        packet.code,
    )
    assert 'data-testid="packet-claimed">0 of 3 claimed<' in mine


def test_a_guides_sends_beyond_the_limit_are_refused_on_the_page(ps, guide):
    plan = ps.plan(packets_per_sender="1")
    db.session.commit()
    assert guide.post("/guides/me/red-packets", data={"plan_id": plan.id}).status_code == 302
    response = guide.post("/guides/me/red-packets", data={"plan_id": plan.id})
    assert response.status_code == 422
    assert "You have sent 1 of these red packets, as many as one sender may." in page(response)
    assert count(RedPacket) == 1
    assert guide.post("/guides/me/red-packets", data={"plan_id": "999999"}).status_code == 404


def test_a_guides_link_opens_the_packets_page_and_the_claim_names_their_visit(ps, shopper):
    packet = ps.send(ps.plan())
    token = links.make_token(ps.guide("JA"), "red_packet", packet.code)
    db.session.commit()
    response = shopper.get(f"/shop/RP/g/{token}")
    assert response.headers["Location"] == f"/shop/RP/red-packets/{packet.code}"
    visit = db.session.execute(select(GuideVisit)).scalar_one()  # before signing in
    sign_in(shopper, ps.gs.shop)
    assert shopper.post(f"/shop/RP/red-packets/{packet.code}/claim").status_code == 302
    source = db.session.execute(select(ClaimSource)).scalar_one()
    assert (source.guide_id, source.visit_id) == (ps.guide("JA").id, visit.id)


def test_a_consumer_opens_a_packet_signs_in_joins_and_claims_one_coupon(ps, shopper):
    plan = ps.plan()
    packet = ps.send(plan)
    db.session.commit()
    path = f"/shop/RP/red-packets/{packet.code}"
    with shopper.session_transaction() as cookie:
        cookie["lang"] = "en"
    anonymous = page(shopper.get(path))
    assert 'data-testid="packet-sender">' in anonymous and "Guide J." in anonymous
    assert "Guide JA" not in anonymous  # a first name and an initial only
    assert 'data-testid="packet-label">CN¥10.00 off<' in anonymous
    assert "3 coupons left of 3" in anonymous
    sign_in_link = re.search(r'href="(/shop/RP/account/sign-in\?next=[^"]+)"', anonymous)
    assert sign_in_link is not None and packet.code in sign_in_link.group(1)

    newcomer = ps.consumer(member=False)
    sign_in(shopper, ps.gs.shop, newcomer)
    outsider = page(shopper.get(path))
    assert "Only members can claim red packets: join the membership first." in outsider
    assert 'data-testid="packet-join"' in outsider
    response = shopper.post("/shop/RP/member/join", data={"next": path})
    assert response.status_code == 302 and response.headers["Location"] == path

    ready = page(shopper.get(path))
    assert 'data-testid="packet-claim"' in ready
    response = shopper.post(f"{path}/claim")
    assert response.status_code == 302 and response.headers["Location"] == path
    claimed = page(shopper.get(path))
    assert "The coupon is yours" in claimed and 'data-testid="packet-mine"' in claimed
    assert "2 coupons left of 3" in claimed
    again = shopper.post(f"{path}/claim")
    assert again.status_code == 422
    assert count(Coupon, Coupon.template_id == plan.template_id) == 1
    assert count(RedPacketClaim) == 1
    coupons_page = page(shopper.get("/shop/RP/member/coupons"))
    assert coupons_page.count('data-state="usable"') == 1


def test_an_empty_packet_says_so_and_claims_nothing(ps, shopper):
    packet = ps.send(ps.plan(packet="20", coupons="2"))
    for _ in range(2):
        red_packets.claim_packet(ps.consumer(), ps.brand, packet.code)
    db.session.commit()
    sign_in(shopper, ps.gs.shop)
    path = f"/shop/RP/red-packets/{packet.code}"
    assert "No coupons left in this red packet." in page(shopper.get(path))
    response = shopper.post(f"{path}/claim")
    assert response.status_code == 422
    assert "No coupons left in this red packet." in page(response)
    assert count(RedPacketClaim) == 2


def test_a_member_sends_a_packet_from_their_account(ps, shopper):
    plan = ps.plan(senders="members")
    db.session.commit()
    sign_in(shopper, ps.gs.shop)
    mine = page(shopper.get("/shop/RP/account/red-packets"))
    assert 'data-testid="send-SPRING"' in mine
    response = shopper.post("/shop/RP/account/red-packets", data={"plan_id": plan.id})
    assert response.status_code == 302
    packet = db.session.execute(select(RedPacket)).scalar_one()
    mine = page(shopper.get("/shop/RP/account/red-packets"))
    assert f'value="http://127.0.0.1:5000/shop/RP/red-packets/{packet.code}"' in mine
    assert "/g/" not in mine  # a member shares the packet's own address


def test_another_brands_packet_is_not_found_in_a_shop(ps, shopper):
    packet = ps.send(ps.plan())
    db.session.commit()
    assert shopper.get(f"/shop/ACME/red-packets/{packet.code}").status_code == 404
    acme = org("ACME")
    consumer = Consumer(brand_id=acme.id, phone="+8613900000123", name="Acme Buyer")
    db.session.add(consumer)
    db.session.commit()
    secret, _expires = start_session(consumer)
    db.session.commit()
    with shopper.session_transaction() as cookie:
        cookie[SESSION_KEY] = {str(acme.id): secret}
    assert shopper.post(f"/shop/ACME/red-packets/{packet.code}/claim").status_code == 404
    assert shopper.get("/shop/RP/red-packets/nosuchpacket0000").status_code == 404
    assert count(RedPacketClaim) == 0
