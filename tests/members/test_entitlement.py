"""Who may enter a brand's employee store (portal/members/entitlement.py, employee_hr.py,
employee_admin.py, employee_proofs.py), as services on both backends: the HR list by mobile
number, partner companies by number or e-mail domain, portal users by a proven address; why
each may enter is recorded, and HQ's revocations and list changes take the entry away.

The helpers here (`retail_shop`, `on_hr_list`, `an_employee`, `mail_code`) serve the other
employee-store tests too."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select

from portal.core import jobs
from portal.core.errors import ValidationFailed
from portal.extensions import db
from portal.members import employee_admin, employee_proofs, entitlement, membership
from portal.members.employee_models import (
    EmailProof,
    Entitlement,
    EntitlementKind,
    EntitlementSource,
    HrListEntry,
    HrListUpload,
    RevokeReason,
)
from portal.network.models import Membership, User
from portal.storefront.entry import may_enter
from portal.storefront.models import Consumer, Tier
from tests.support.retail import RetailShop, build_retail_shop
from tests.support.services import org

# -- helpers shared by the employee-store tests ------------------------------------------------


def retail_shop(prefix: str = "ES") -> RetailShop:
    return build_retail_shop(prefix)


def on_hr_list(
    shop_or_brand, phone: str | None, number: str = "E1001", *, email: str | None = None
) -> HrListEntry:
    brand = getattr(shop_or_brand, "brand", shop_or_brand)
    entry = HrListEntry(
        brand_id=brand.id, employee_no=number, name="Wang Fang", phone=phone, email=email
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def an_employee(shop: RetailShop, phone: str | None = None, number: str = "E1001") -> Consumer:
    """A member of the shop's programme on its HR list."""
    consumer = shop.consumer(phone, name="Wang Fang")
    on_hr_list(shop, consumer.phone, number)
    return consumer


def mail_code(caplog, email: str) -> str:
    """The code in the newest mail to `email` (the log mail backend), after its job ran."""
    jobs.commit()
    messages = [
        r.getMessage()
        for r in caplog.records
        if r.name == "portal.mail" and f"to={email}" in r.getMessage()
    ]
    assert messages, f"no mail to {email}"
    return re.search(r"(\d{6})", messages[-1].split("\n", 1)[1]).group(1)


def hr_file(*rows: str, header: str = "employee_no,name,phone,email") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def upload_hr_list(shop: RetailShop, data: bytes, *, confirm: bool = True) -> HrListUpload:
    """HQ uploads a list; its check runs (inline, after the commit); confirmed, it is applied."""
    upload = employee_admin.start_hr_upload(shop.net.hq, shop.brand, filename="hr.csv", stream=data)
    jobs.commit()
    db.session.refresh(upload)
    if confirm and upload.status == "ready":
        employee_admin.confirm_hr_upload(shop.net.hq, shop.brand, upload)
        jobs.commit()
        db.session.refresh(upload)
    return upload


@pytest.fixture
def shop(app) -> RetailShop:
    return retail_shop()


def records(shop: RetailShop, consumer: Consumer) -> list[Entitlement]:
    return list(
        db.session.execute(
            select(Entitlement)
            .where(Entitlement.member_id == consumer.member_id)
            .order_by(Entitlement.id)
        ).scalars()
    )


# -- the HR list -------------------------------------------------------------------------------


def test_a_member_on_the_hr_list_enters_and_why_is_recorded(shop):
    consumer = an_employee(shop)
    assert may_enter(shop.brand, Tier.EMPLOYEE, consumer)
    [record] = records(shop, consumer)
    assert (record.kind, record.source, record.phone) == ("employee", "hr_list", consumer.phone)
    assert record.hr_entry.employee_no == "E1001"
    # Asked again, the same record answers: none is added.
    assert may_enter(shop.brand, Tier.EMPLOYEE, consumer)
    assert len(records(shop, consumer)) == 1


def test_a_consumer_on_the_list_enters_only_once_a_member(shop):
    consumer = shop.consumer(member=False)
    on_hr_list(shop, consumer.phone)
    assert not may_enter(shop.brand, Tier.EMPLOYEE, consumer)
    membership.join(consumer)
    assert may_enter(shop.brand, Tier.EMPLOYEE, consumer)


def test_a_member_on_no_list_is_refused_and_another_brands_list_does_not_count(shop):
    consumer = shop.consumer()
    other = retail_shop("EX")
    on_hr_list(other, consumer.phone)
    assert not may_enter(shop.brand, Tier.EMPLOYEE, consumer)
    assert records(shop, consumer) == []


def test_an_uploaded_list_is_previewed_then_applied_and_replacing_it_revokes_the_departed(shop):
    stays = shop.consumer("+8613900000001")
    leaves = shop.consumer("+8613900000002")
    first = upload_hr_list(
        shop, hr_file("E1,Stay,13900000001,", "E2,Leave,13900000002,", "E3,Mail,,m@x.cn")
    )
    assert first.status == "applied", first.summary
    assert first.summary["added"] == 3
    assert may_enter(shop.brand, Tier.EMPLOYEE, stays)
    assert may_enter(shop.brand, Tier.EMPLOYEE, leaves)

    second = upload_hr_list(
        shop, hr_file("E1,Stay,13900000001,", "E4,New,13900000004,"), confirm=False
    )
    assert second.status == "ready"
    assert second.summary == {"added": 1, "changed": 0, "kept": 1, "removed": 2}
    assert may_enter(shop.brand, Tier.EMPLOYEE, leaves)  # nothing changes before confirming
    employee_admin.confirm_hr_upload(shop.net.hq, shop.brand, second)
    jobs.commit()
    db.session.refresh(second)
    assert second.status == "applied" and second.summary["revoked"] == 1
    assert may_enter(shop.brand, Tier.EMPLOYEE, stays)
    assert not may_enter(shop.brand, Tier.EMPLOYEE, leaves)
    [record] = records(shop, leaves)
    assert record.revoked_reason == RevokeReason.LEFT_LIST
    # Back on the list, the person enters again on the same record.
    upload_hr_list(shop, hr_file("E1,Stay,13900000001,", "E2,Back,13900000002,"))
    assert may_enter(shop.brand, Tier.EMPLOYEE, leaves)
    assert len(records(shop, leaves)) == 1


def test_a_bad_hr_file_names_each_row_and_column_and_changes_nothing(shop):
    upload_hr_list(shop, hr_file("E1,Stay,13900000001,"))
    bad = upload_hr_list(
        shop,
        hr_file(
            "E1,Twice,13900000009,",
            "E1,Again,13900000008,",
            "E5,No phone,12345,",
            "E6,Nothing,,",
            ",No number,13900000007,",
            "E8,Bad mail,,not-an-address",
        ),
    )
    assert bad.status == "invalid"
    found = {(e["row"], e["column"]) for e in bad.errors}
    assert found == {
        (3, "employee_no"),
        (4, "phone"),
        (5, "phone"),
        (6, "employee_no"),
        (7, "email"),
    }
    assert "also on row 2" in next(e["reason"] for e in bad.errors if e["row"] == 3)
    with pytest.raises(employee_admin.UploadNotReady):
        employee_admin.confirm_hr_upload(shop.net.hq, shop.brand, bad)
    live = db.session.execute(
        select(HrListEntry.employee_no).where(
            HrListEntry.brand_id == shop.brand.id, HrListEntry.removed_at.is_(None)
        )
    ).scalars()
    assert list(live) == ["E1"]


def test_a_file_without_the_required_column_or_of_another_type_is_refused(shop):
    missing = upload_hr_list(shop, hr_file("Wang,13900000001", header="name,phone"))
    assert missing.status == "invalid"
    assert missing.errors[0] == {
        "row": 1,
        "column": "employee_no",
        "reason": "Required column is missing.",
    }
    with pytest.raises(employee_admin.HrFileRejected) as refused:
        employee_admin.start_hr_upload(shop.net.hq, shop.brand, filename="hr.pdf", stream=b"x")
    assert "file" in refused.value.fields


def test_chinese_headers_are_understood(shop):
    upload = upload_hr_list(shop, "工号,姓名,手机号\nE9,王芳,13900000009\n".encode())
    assert upload.status == "applied", upload.errors


def test_hq_revoking_an_entry_stands_while_the_list_still_names_the_person(shop):
    consumer = an_employee(shop)
    assert may_enter(shop.brand, Tier.EMPLOYEE, consumer)
    [record] = records(shop, consumer)
    assert employee_admin.revoke_entitlement(shop.net.hq, shop.brand, record)
    assert not may_enter(shop.brand, Tier.EMPLOYEE, consumer)
    assert records(shop, consumer)[0].revoked_reason == RevokeReason.HQ


def test_another_brands_hq_cannot_revoke_or_upload(shop):
    consumer = an_employee(shop)
    may_enter(shop.brand, Tier.EMPLOYEE, consumer)
    [record] = records(shop, consumer)
    other = retail_shop("EX")
    from portal.core.errors import NotFound

    with pytest.raises(NotFound):
        employee_admin.revoke_entitlement(other.net.hq, shop.brand, record)
    with pytest.raises(NotFound):
        employee_admin.revoke_entitlement(other.net.hq, other.brand, record)


# -- partner companies -------------------------------------------------------------------------


def test_a_number_on_a_partners_list_enters_as_a_partner_until_the_partnership_ends(shop):
    consumer = shop.consumer("+8613911112222")
    partner = employee_admin.add_partner(
        shop.net.hq, shop.brand, name="Bright Logistics", phones="139 1111 2222\n13911113333"
    )
    assert may_enter(shop.brand, Tier.EMPLOYEE, consumer)
    [record] = records(shop, consumer)
    assert (record.kind, record.source, record.partner_id) == (
        "partner",
        "partner_list",
        partner.id,
    )
    assert employee_admin.end_partner(shop.net.hq, shop.brand, partner) == 1
    assert not may_enter(shop.brand, Tier.EMPLOYEE, consumer)
    assert records(shop, consumer)[0].revoked_reason == RevokeReason.PARTNER_ENDED


def test_a_number_taken_off_a_partners_list_loses_the_entry(shop):
    kept = shop.consumer("+8613911112222")
    dropped = shop.consumer("+8613911113333")
    partner = employee_admin.add_partner(
        shop.net.hq, shop.brand, name="Bright", phones="13911112222, 13911113333"
    )
    assert may_enter(shop.brand, Tier.EMPLOYEE, kept)
    assert may_enter(shop.brand, Tier.EMPLOYEE, dropped)
    result = employee_admin.update_partner(
        shop.net.hq, shop.brand, partner, phones="13911112222\n13911114444"
    )
    assert result == {"added": 1, "removed": 1, "revoked": 1}
    assert may_enter(shop.brand, Tier.EMPLOYEE, kept)
    assert not may_enter(shop.brand, Tier.EMPLOYEE, dropped)


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"name": ""}, "name", "Name the company"),
        ({"email_domain": "qq.com"}, "email_domain", "Anyone can have an address at qq.com"),
        ({"email_domain": "not a domain"}, "email_domain", "Enter a domain"),
        ({"phones": "13911112222\n12345\n139"}, "phones", "Not mobile numbers: 2 (12345), 3 (139)"),
        ({"email_domain": "", "phones": ""}, "email_domain", "or both"),
    ],
)
def test_a_partner_with_a_bad_field_is_refused_naming_it_and_nothing_is_added(
    shop, fields, field, says
):
    form = {"name": "Bright", "email_domain": "bright.example.com", "phones": ""} | fields
    with pytest.raises(ValidationFailed) as refused:
        employee_admin.add_partner(shop.net.hq, shop.brand, **form)
    assert says in refused.value.fields[field]
    assert employee_admin_partner_count(shop) == 0


def employee_admin_partner_count(shop: RetailShop) -> int:
    from portal.members.employee_models import PartnerCompany

    return db.session.execute(
        select(func.count(PartnerCompany.id)).where(PartnerCompany.brand_id == shop.brand.id)
    ).scalar_one()


def test_two_partners_cannot_share_a_domain(shop):
    employee_admin.add_partner(shop.net.hq, shop.brand, name="A", email_domain="a.example.com")
    with pytest.raises(ValidationFailed) as refused:
        employee_admin.add_partner(shop.net.hq, shop.brand, name="B", email_domain="a.example.com")
    assert "A has this domain already" in refused.value.fields["email_domain"]


# -- proving an address by e-mail --------------------------------------------------------------


def test_an_address_at_a_partners_domain_is_proven_by_a_mailed_code(shop, caplog):
    caplog.set_level(logging.INFO, logger="portal.mail")
    partner = employee_admin.add_partner(
        shop.net.hq, shop.brand, name="Bright", email_domain="bright.example.com"
    )
    consumer = shop.consumer()
    assert not may_enter(shop.brand, Tier.EMPLOYEE, consumer)
    sent = employee_proofs.request_email_code(
        shop.brand, consumer, " Li.Ming@Bright.example.com ", address="10.0.0.1"
    )
    assert sent.email == "li.ming@bright.example.com"
    code = mail_code(caplog, sent.email)
    assert code == sent.code
    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(employee_proofs.WrongEmailCode):
        employee_proofs.verify_email_code(shop.brand, consumer, sent.email, wrong)
    record = employee_proofs.verify_email_code(shop.brand, consumer, sent.email, code)
    assert (record.kind, record.source, record.partner_id) == (
        EntitlementKind.PARTNER,
        EntitlementSource.PARTNER_DOMAIN,
        partner.id,
    )
    assert record.email == "li.ming@bright.example.com"
    assert may_enter(shop.brand, Tier.EMPLOYEE, consumer)
    # A code works once.
    with pytest.raises(ValidationFailed) as again:
        employee_proofs.verify_email_code(shop.brand, consumer, sent.email, code)
    assert "expired" in again.value.fields["code"]


def test_a_stores_portal_user_proves_their_address_and_enters_until_they_leave(app, caplog):
    caplog.set_level(logging.INFO, logger="portal.mail")
    acme = org("ACME")
    consumer = Consumer(brand_id=acme.id, phone="+8613955556666", name="Sun Hao")
    db.session.add(consumer)
    db.session.flush()
    # Not yet a member: proving the address joins them.
    employee_proofs.request_email_code(acme, consumer, "store1@demo.test", address="10.0.0.1")
    record = employee_proofs.verify_email_code(
        acme, consumer, "store1@demo.test", mail_code(caplog, "store1@demo.test")
    )
    assert (record.kind, record.source) == ("employee", "portal_user")
    assert may_enter(acme, Tier.EMPLOYEE, consumer)
    user = db.session.execute(select(User).where(User.email == "store1@demo.test")).scalar_one()
    db.session.execute(delete(Membership).where(Membership.user_id == user.id))
    assert not may_enter(acme, Tier.EMPLOYEE, consumer)


def test_an_address_that_proves_nothing_is_refused_and_no_mail_is_sent(shop, caplog):
    caplog.set_level(logging.INFO, logger="portal.mail")
    employee_admin.add_partner(shop.net.hq, shop.brand, name="Bright", email_domain="bright.cn")
    consumer = shop.consumer()
    with pytest.raises(ValidationFailed) as refused:
        employee_proofs.request_email_code(
            shop.brand, consumer, "me@elsewhere.cn", address="10.0.0.1"
        )
    assert "not one of Brand ES's staff or partner companies" in refused.value.fields["email"]
    # Someone else's portal user (LUMI's HQ) proves nothing for this brand either.
    with pytest.raises(ValidationFailed):
        employee_proofs.request_email_code(
            shop.brand, consumer, "hq2@demo.test", address="10.0.0.1"
        )
    jobs.commit()
    assert not [r for r in caplog.records if r.name == "portal.mail"]


def test_email_codes_are_throttled_and_expire(app, shop, caplog, monkeypatch):
    caplog.set_level(logging.INFO, logger="portal.mail")
    employee_admin.add_partner(shop.net.hq, shop.brand, name="Bright", email_domain="bright.cn")
    consumer = shop.consumer()
    employee_proofs.request_email_code(shop.brand, consumer, "a@bright.cn", address="10.0.0.1")
    with pytest.raises(employee_proofs.EmailCodeThrottled) as throttled:
        employee_proofs.request_email_code(shop.brand, consumer, "a@bright.cn", address="10.0.0.1")
    assert 0 < throttled.value.retry_after <= 60
    code = mail_code(caplog, "a@bright.cn")
    proof = db.session.execute(select(EmailProof)).scalars().all()[-1]
    proof.expires_at = proof.created_at - timedelta(seconds=1)
    db.session.flush()
    with pytest.raises(ValidationFailed) as expired:
        employee_proofs.verify_email_code(shop.brand, consumer, "a@bright.cn", code)
    assert "expired" in expired.value.fields["code"]
    monkeypatch.setitem(app.config, "SIGN_IN_CODE_RESEND_SECONDS", 0)
    monkeypatch.setitem(app.config, "SIGN_IN_CODES_PER_PHONE_HOUR", 2)
    employee_proofs.request_email_code(shop.brand, consumer, "a@bright.cn", address="10.0.0.2")
    with pytest.raises(employee_proofs.EmailCodeThrottled):
        employee_proofs.request_email_code(shop.brand, consumer, "a@bright.cn", address="10.0.0.3")


def test_a_wrong_code_counts_and_five_end_the_code(shop, caplog):
    caplog.set_level(logging.INFO, logger="portal.mail")
    employee_admin.add_partner(shop.net.hq, shop.brand, name="Bright", email_domain="bright.cn")
    consumer = shop.consumer()
    employee_proofs.request_email_code(shop.brand, consumer, "a@bright.cn", address="10.0.0.1")
    code = mail_code(caplog, "a@bright.cn")
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        with pytest.raises(employee_proofs.WrongEmailCode):
            employee_proofs.verify_email_code(shop.brand, consumer, "a@bright.cn", wrong)
    with pytest.raises(ValidationFailed) as ended:
        employee_proofs.verify_email_code(shop.brand, consumer, "a@bright.cn", code)
    assert "Too many wrong tries" in ended.value.fields["code"]
    assert not may_enter(shop.brand, Tier.EMPLOYEE, consumer)


def test_entry_status_lists_the_reasons_strongest_first(shop):
    consumer = an_employee(shop)
    employee_admin.add_partner(shop.net.hq, shop.brand, name="Bright", phones=consumer.phone)
    status = entitlement.entry_status(shop.brand, consumer)
    assert status.may_enter and status.may_invite
    assert [e.kind for e in status.entitlements] == ["employee"]


def test_an_address_on_the_hr_list_is_proven_by_a_mailed_code(shop, caplog):
    caplog.set_level(logging.INFO, logger="portal.mail")
    on_hr_list(shop, None, "E7", email="chen.jie@es-brand.cn")
    consumer = shop.consumer(member=False)
    employee_proofs.request_email_code(
        shop.brand, consumer, "Chen.Jie@es-brand.cn", address="10.0.0.1"
    )
    record = employee_proofs.verify_email_code(
        shop.brand, consumer, "chen.jie@es-brand.cn", mail_code(caplog, "chen.jie@es-brand.cn")
    )
    assert (record.kind, record.source, record.hr_entry.employee_no) == (
        "employee",
        "hr_list",
        "E7",
    )
    assert may_enter(shop.brand, Tier.EMPLOYEE, consumer)  # joined the membership on the way
