"""The employee store's pages (portal/members/employee_views.py) on both backends: a consumer
refused at the storefront's employee listing joins with an invite link and is let in; an
employee invites and sees their friends' purchases; a work address proven by a mailed code; and
HQ's page (funnel, HR list upload, partners, revoking), which another brand's HQ cannot see."""

from __future__ import annotations

import io
import logging
import re

import pytest
from sqlalchemy import select

from portal.core.db import utcnow
from portal.extensions import db
from portal.members import invites, membership
from portal.members.employee_models import Entitlement, HrListEntry, PartnerCompany
from portal.storefront.auth import SESSION_KEY, start_session
from portal.storefront.models import Consumer, ConsumerOrderStatus
from tests.members.test_entitlement import an_employee, mail_code, on_hr_list, retail_shop
from tests.support.consumer_orders import place
from tests.support.retail import RetailShop
from tests.support.services import org


@pytest.fixture
def shop(app) -> RetailShop:
    built = retail_shop("EV")
    db.session.commit()
    return built


def sign_in(client, brand, consumer: Consumer) -> Consumer:
    """A browser signed in to the brand's shop as `consumer`, in English."""
    secret, _expires = start_session(consumer)
    db.session.commit()
    with client.session_transaction() as cookie:
        cookie[SESSION_KEY] = {str(brand.id): secret}
        cookie["lang"] = "en"
    return consumer


def text(response) -> str:
    return response.get_data(as_text=True)


def test_a_consumer_refused_at_the_employee_store_is_let_in_by_an_invite_link(client, shop):
    employee = an_employee(shop)
    code = invites.make_code(shop.brand, employee)
    db.session.commit()
    link = invites.invite_link(shop.brand, code).split("5000", 1)[-1]
    assert link == f"/shop/EV/employee/join?code={code.code}"
    # Signed out, the link goes to the shop's sign-in and comes back.
    response = client.get(link)
    assert response.status_code == 302
    assert "/shop/EV/account/sign-in" in response.headers["Location"]
    assert "code%3D" + code.code in response.headers["Location"]

    friend = sign_in(client, shop.brand, shop.consumer(member=False, name="Li Lei"))
    refused = client.get("/shop/EV/employee/")
    assert refused.status_code == 403 and 'data-testid="shop-closed"' in text(refused)
    page = client.get(link)
    assert page.status_code == 200
    assert f'value="{code.code}"' in text(page) and 'data-testid="entry-refused"' in text(page)

    joined = client.post("/shop/EV/employee/join", data={"code": code.code})
    assert joined.status_code == 302 and joined.headers["Location"] == "/shop/EV/employee/"
    assert client.get("/shop/EV/employee/").status_code == 200
    status = client.get("/shop/EV/employee/join")
    assert 'data-testid="entry-granted"' in text(status) and "Invited friend" in text(status)
    assert membership.member_of(db.session.get(Consumer, friend.id)) is not None


def test_a_code_used_up_or_mistyped_says_why_and_the_door_stays_shut(client, shop):
    employee = an_employee(shop)
    code = invites.make_code(shop.brand, employee)
    invites.redeem(shop.brand, shop.consumer(member=False), code.code)
    db.session.commit()
    sign_in(client, shop.brand, shop.consumer(member=False))
    used = client.post("/shop/EV/employee/join", data={"code": code.code})
    assert used.status_code == 422
    assert "used as many times as it allows" in text(used)
    unknown = client.post("/shop/EV/employee/join", data={"code": "NOPE2345"})
    assert unknown.status_code == 422 and "not known" in text(unknown)
    empty = client.post("/shop/EV/employee/join", data={"code": ""})
    assert empty.status_code == 422 and "Enter the invite code" in text(empty)
    assert client.get("/shop/EV/employee/").status_code == 403


def test_an_employee_on_the_hr_list_walks_straight_in(client, shop):
    sign_in(client, shop.brand, an_employee(shop))
    assert client.get("/shop/EV/employee/").status_code == 200
    page = text(client.get("/shop/EV/employee/join"))
    assert "HR list" in page and "E1001" in page and "Invite friends" in page


def test_an_employee_makes_a_code_and_sees_friends_and_what_they_bought(client, shop):
    employee = sign_in(client, shop.brand, an_employee(shop))
    made = client.post("/shop/EV/employee/invites")
    assert made.status_code == 302
    page = text(client.get("/shop/EV/employee/invites"))
    code = re.search(r"Your new invite code is ([A-Z0-9]{8})", page).group(1)
    assert f"/shop/EV/employee/join?code={code}" in page
    assert "This year: 0 joined, 1 places open on your codes, 4 left." in page

    friend = shop.consumer(member=False, name="Li Lei")
    invites.redeem(shop.brand, friend, code)
    order = place(
        shop.brand,
        shop.locations["LJ"],
        {shop.variant_id("TEE-BLK-M"): 2},
        consumer=friend,
        paid=False,
        unit_cents=9900,
    )
    order.member_id, order.status, order.paid_at = (
        friend.member_id,
        ConsumerOrderStatus.PAID,
        utcnow(),
    )
    db.session.commit()
    page = text(client.get("/shop/EV/employee/invites"))
    assert "Li Lei" in page and "1 order · CN¥198.00" in page
    assert "Official store: 1 order · CN¥198.00" in page
    assert "This year: 1 joined, 0 places open on your codes, 4 left." in page
    assert employee.member_id != friend.member_id


def test_a_friend_or_a_stranger_cannot_invite(client, shop):
    sign_in(client, shop.brand, shop.consumer())
    page = client.get("/shop/EV/employee/invites")
    assert page.status_code == 403 and 'data-testid="not-employee"' in text(page)
    assert client.post("/shop/EV/employee/invites").status_code == 403


def test_an_exhausted_quota_is_named_on_the_page(client, shop):
    employee = sign_in(client, shop.brand, an_employee(shop))
    for _ in range(5):
        invites.make_code(shop.brand, employee)
    db.session.commit()
    refused = client.post("/shop/EV/employee/invites")
    assert refused.status_code == 422
    assert "You have used your quota of 5 friends this year" in text(refused)


def test_withdrawing_a_code_frees_its_place_and_another_persons_code_is_not_found(client, shop):
    employee = an_employee(shop)
    code = invites.make_code(shop.brand, employee)
    other = an_employee(shop, number="E2002")
    db.session.commit()
    sign_in(client, shop.brand, other)
    assert client.post(f"/shop/EV/employee/invites/{code.id}/withdraw").status_code == 404
    sign_in(client, shop.brand, employee)
    assert client.post(f"/shop/EV/employee/invites/{code.id}/withdraw").status_code == 302
    assert "withdrawn" in text(client.get("/shop/EV/employee/invites"))


def test_a_partner_employee_proves_a_work_address_by_a_mailed_code(client, shop, caplog):
    caplog.set_level(logging.INFO, logger="portal.mail")
    db.session.add(
        PartnerCompany(brand_id=shop.brand.id, name="Bright", email_domain="bright.example.com")
    )
    sign_in(client, shop.brand, shop.consumer())
    wrong = client.post("/shop/EV/employee/verify", data={"email": "me@dark.example.com"})
    assert wrong.status_code == 422
    assert "This address is not one of Brand EV&#39;s staff or partner companies" in text(wrong)
    sent = client.post("/shop/EV/employee/verify", data={"email": "me@bright.example.com"})
    assert sent.status_code == 200 and "We sent a code to me@bright.example.com" in text(sent)
    code = mail_code(caplog, "me@bright.example.com")
    bad = client.post(
        "/shop/EV/employee/verify/confirm", data={"email": "me@bright.example.com", "code": "12"}
    )
    assert bad.status_code == 422 and "This code is not correct" in text(bad)
    again = client.post("/shop/EV/employee/verify", data={"email": "me@bright.example.com"})
    assert again.status_code == 429 and "Try again in" in text(again)
    done = client.post(
        "/shop/EV/employee/verify/confirm", data={"email": "me@bright.example.com", "code": code}
    )
    assert done.status_code == 302 and done.headers["Location"] == "/shop/EV/employee/"
    assert client.get("/shop/EV/employee/").status_code == 200


# -- HQ ----------------------------------------------------------------------------------------


def acme_member(phone: str, name: str = "Wang Fang") -> Consumer:
    consumer = Consumer(brand_id=org("ACME").id, phone=phone, name=name)
    db.session.add(consumer)
    db.session.flush()
    membership.join(consumer)
    return consumer


def hq_login(login, email: str):
    """A portal user signed in, reading English."""
    client = login(email)
    with client.session_transaction() as cookie:
        cookie["lang"] = "en"
    return client


def funnel_total(page: str) -> list[int]:
    total = re.search(r'data-testid="funnel-total">(.*?)</tr>', page, re.S).group(1)
    return [int(cell) for cell in re.findall(r"<th>(\d+)</th>", total)]


def test_hq_sees_the_funnel_per_inviter_and_in_all(app, login):
    acme = org("ACME")
    hq = hq_login(login, "merch@demo.test")
    before = funnel_total(text(hq.get("/shop/ACME/hq/employee-store")))  # the demo's codes
    employee = acme_member("+8613700137001")
    on_hr_list(acme, employee.phone)
    first = invites.make_code(acme, employee)
    invites.make_code(acme, employee)
    bought = acme_member("+8613700137010", "Friend One")
    idle = acme_member("+8613700137011", "Friend Two")
    invites.redeem(acme, bought, first.code)
    invites.redeem(acme, idle, invites.make_code(acme, employee).code)
    location, variant_id = free_unit("S1")
    order = place(acme, location, {variant_id: 1}, consumer=bought, paid=False)
    order.member_id, order.status, order.paid_at = (
        bought.member_id,
        ConsumerOrderStatus.PAID,
        utcnow(),
    )
    db.session.commit()
    page = text(hq.get("/shop/ACME/hq/employee-store"))
    number = membership.member_of(employee).number
    row = re.search(rf'data-inviter="{number}">(.*?)</tr>', page, re.S).group(1)
    assert re.findall(r"<td>(\d+)</td>", row) == ["3", "2", "1"]
    assert funnel_total(page) == [was + more for was, more in zip(before, (3, 2, 1), strict=True)]
    # The merchandiser sees; only HQ's admin changes anything.
    assert 'data-testid="partner-add"' not in page
    assert (
        hq_login(login, "merch@demo.test")
        .post("/shop/ACME/hq/employee-store/partners", data={"name": "X", "email_domain": "x.cn"})
        .status_code
        == 403
    )


def free_unit(code: str):
    """A store's location and a SKU it holds a free unit of."""
    from portal.inventory.models import StockLevel
    from portal.inventory.services import default_location

    location = default_location(org(code))
    variant_id = db.session.execute(
        select(StockLevel.variant_id)
        .where(
            StockLevel.location_id == location.id,
            StockLevel.on_hand - StockLevel.reserved > 1,
            StockLevel.grade == "A",
        )
        .order_by(StockLevel.variant_id)
        .limit(1)
    ).scalar_one()
    return location, variant_id


def test_another_brands_hq_gets_404(app, login):
    client = hq_login(login, "hq2@demo.test")
    assert client.get("/shop/ACME/hq/employee-store").status_code == 404
    assert (
        client.post(
            "/shop/ACME/hq/employee-store/partners", data={"name": "X", "email_domain": "x.cn"}
        ).status_code
        == 404
    )
    assert client.get("/shop/LUMI/hq/employee-store").status_code == 200


def listed(brand_id: int, *, removed: bool = False) -> list[tuple[str, str | None]]:
    """The brand's HR list as (employee number, phone): who is on it, or who was taken off."""
    gone = HrListEntry.removed_at.is_not(None) if removed else HrListEntry.removed_at.is_(None)
    rows = db.session.execute(
        select(HrListEntry.employee_no, HrListEntry.phone).where(
            HrListEntry.brand_id == brand_id, gone
        )
    ).all()
    return sorted((number, phone) for number, phone in rows)


def test_hq_uploads_an_hr_list_sees_row_errors_then_applies_a_good_one(app, login):
    acme = org("ACME")
    demo_list = listed(acme.id)  # the demo's HR list, which a new upload replaces
    assert demo_list and not {number for number, _ in demo_list} & {"E1", "E2"}
    client = hq_login(login, "hq@demo.test")
    bad = b"employee_no,name,phone,email\nE1,Wang,12345,\nE2,Li,,\n"
    response = client.post(
        "/shop/ACME/hq/employee-store/hr-list",
        data={"file": (io.BytesIO(bad), "hr.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    page = text(client.get("/shop/ACME/hq/employee-store"))
    assert 'data-status="invalid"' in page
    assert "<td>2</td><td>phone</td><td>Not a mobile number: 12345.</td>" in page
    assert "<td>3</td><td>phone</td>" in page

    good = "工号,姓名,手机号\nE1,王芳,13900139002\nE2,李明,13900139003\n".encode()
    client.post(
        "/shop/ACME/hq/employee-store/hr-list",
        data={"file": (io.BytesIO(good), "hr.csv")},
        content_type="multipart/form-data",
    )
    page = text(client.get("/shop/ACME/hq/employee-store"))
    upload_id = re.search(r'data-upload="(\d+)" data-status="ready"', page).group(1)
    assert f"New: 2 · changed: 0 · unchanged: 0 · removed: {len(demo_list)}" in page
    confirmed = client.post(f"/shop/ACME/hq/employee-store/hr-list/{upload_id}/confirm")
    assert confirmed.status_code == 302
    page = text(client.get("/shop/ACME/hq/employee-store"))
    assert "2 people on the list." in page
    assert listed(acme.id) == [("E1", "+8613900139002"), ("E2", "+8613900139003")]
    assert listed(acme.id, removed=True) == demo_list
    missing = client.post("/shop/ACME/hq/employee-store/hr-list", data={})
    assert missing.status_code == 422 and "Choose a CSV or XLSX file." in text(missing)


def test_hq_adds_a_partner_edits_its_list_and_revokes_an_entry(app, login):
    client = hq_login(login, "hq@demo.test")
    refused = client.post(
        "/shop/ACME/hq/employee-store/partners",
        data={"name": "Bright", "email_domain": "gmail.com", "phones": ""},
    )
    assert refused.status_code == 422 and "Anyone can have an address at gmail.com" in text(refused)
    added = client.post(
        "/shop/ACME/hq/employee-store/partners",
        data={"name": "Bright", "email_domain": "bright.example.com", "phones": "13911112222"},
    )
    assert added.status_code == 302
    partner = db.session.execute(
        select(PartnerCompany).where(PartnerCompany.name == "Bright")
    ).scalar_one()
    member = acme_member("+8613911112222", "Zhao Lei")
    db.session.commit()
    from portal.members import entitlement

    assert entitlement.may_enter_employee_store(org("ACME"), member)
    db.session.commit()
    page = text(client.get("/shop/ACME/hq/employee-store?state=live&q=Zhao"))
    assert "Zhao Lei" in page and "Partner's list · Bright" in page
    record = db.session.execute(select(Entitlement)).scalars().all()[-1]
    revoked = client.post(f"/shop/ACME/hq/employee-store/entitlements/{record.id}/revoke")
    assert revoked.status_code == 302
    page = text(client.get("/shop/ACME/hq/employee-store?state=revoked"))
    assert "Revoked by HQ" in page
    assert not entitlement.may_enter_employee_store(
        org("ACME"), db.session.get(Consumer, member.id)
    )

    detail = client.get(f"/shop/ACME/hq/employee-store/partners/{partner.id}")
    assert detail.status_code == 200 and "+8613911112222" in text(detail)
    bad = client.post(
        f"/shop/ACME/hq/employee-store/partners/{partner.id}",
        data={"email_domain": "bright.example.com", "phones": "13911112222\nnot-a-phone"},
    )
    assert bad.status_code == 422 and "Not mobile numbers: 2 (not-a-phone)" in text(bad)
    ended = client.post(f"/shop/ACME/hq/employee-store/partners/{partner.id}/end")
    assert ended.status_code == 302
    assert "ended" in text(client.get("/shop/ACME/hq/employee-store"))
    assert client.get("/shop/ACME/hq/employee-store/partners/999999").status_code == 404
