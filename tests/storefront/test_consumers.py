"""Consumer accounts as services (portal/storefront/consumers.py), on both backends: sign-in by
code and by password, the address book, and the person's data exported and erased."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.core.db import utcnow
from portal.core.errors import NotFound, ValidationFailed
from portal.extensions import db
from portal.inventory.models import Location
from portal.storefront import consumers
from portal.storefront.auth import find_session, start_session
from portal.storefront.models import (
    Consumer,
    ConsumerAddress,
    ConsumerOrder,
    ConsumerStatus,
    SignInCode,
)
from tests.support.services import org

PHONE = "138 0013 8000"
E164 = "+8613800138000"
ADDRESS = {
    "recipient": "Li Lei",
    "phone": "13900139000",
    "province": "Shanghai",
    "city": "Shanghai",
    "district": "Huangpu",
    "line": "1 Nanjing Road",
    "latitude": "31.2304",
    "longitude": "121.4737",
}


@pytest.fixture
def acme(app):
    return org("ACME")


@pytest.fixture
def no_resend_wait(app, monkeypatch):
    monkeypatch.setitem(app.config, "SIGN_IN_CODE_RESEND_SECONDS", 0)


def _codes(phone: str = E164) -> int:
    return db.session.execute(
        select(func.count()).select_from(SignInCode).where(SignInCode.phone == phone)
    ).scalar_one()


def _consumers() -> int:
    return db.session.execute(select(func.count()).select_from(Consumer)).scalar_one()


def _sign_in(brand, phone: str = PHONE) -> Consumer:
    sent = consumers.request_sign_in_code(brand, phone, address="10.0.0.1")
    return consumers.sign_in_with_code(brand, phone, sent.code)


# -- sign-in by code -----------------------------------------------------------------------------


def test_first_sign_in_by_code_makes_the_account_with_the_number_in_e164(acme, no_resend_wait):
    sent = consumers.request_sign_in_code(acme, PHONE, address="10.0.0.1")
    assert sent.phone == E164 and len(sent.code) == 6
    stored = db.session.execute(select(SignInCode).where(SignInCode.phone == E164)).scalar_one()
    assert sent.code not in stored.code_hash  # only the HMAC is kept
    consumer = consumers.sign_in_with_code(acme, "+86 138-0013-8000", sent.code)
    assert consumer.phone == E164 and consumer.brand_id == acme.id
    again = _sign_in(acme)
    assert again.id == consumer.id


def test_the_code_goes_to_the_log_backend(acme, caplog):
    caplog.set_level(logging.INFO)
    sent = consumers.request_sign_in_code(acme, PHONE, address="10.0.0.1")
    assert any(E164 in r.getMessage() and sent.code in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("phone", ["", "12345", "1380013800", "+86 10 1234 5678", "not a number"])
def test_an_invalid_or_landline_number_is_refused_and_no_code_is_sent(acme, phone):
    before = db.session.execute(select(func.count()).select_from(SignInCode)).scalar_one()
    with pytest.raises(ValidationFailed) as refused:
        consumers.request_sign_in_code(acme, phone, address="10.0.0.1")
    assert set(refused.value.fields) == {"phone"}
    after = db.session.execute(select(func.count()).select_from(SignInCode)).scalar_one()
    assert after == before


def test_a_wrong_code_is_refused_and_counted(acme):
    sent = consumers.request_sign_in_code(acme, PHONE, address="10.0.0.1")
    wrong = "000000" if sent.code != "000000" else "111111"
    with pytest.raises(consumers.InvalidCode) as refused:
        consumers.sign_in_with_code(acme, PHONE, wrong)
    assert "not correct" in refused.value.fields["code"]
    stored = db.session.execute(select(SignInCode).where(SignInCode.phone == E164)).scalar_one()
    db.session.refresh(stored)
    assert stored.attempts == 1
    assert _consumers_with(E164) == 0


def _consumers_with(phone: str) -> int:
    return db.session.execute(
        select(func.count()).select_from(Consumer).where(Consumer.phone == phone)
    ).scalar_one()


def test_after_five_wrong_tries_even_the_right_code_needs_a_new_one(acme, no_resend_wait):
    sent = consumers.request_sign_in_code(acme, PHONE, address="10.0.0.1")
    wrong = "000000" if sent.code != "000000" else "111111"
    for _ in range(5):
        with pytest.raises(consumers.InvalidCode):
            consumers.sign_in_with_code(acme, PHONE, wrong)
    with pytest.raises(ValidationFailed) as refused:
        consumers.sign_in_with_code(acme, PHONE, sent.code)
    assert "new code" in refused.value.fields["code"]
    assert _consumers_with(E164) == 0
    assert _sign_in(acme).phone == E164  # a new code works


def test_an_expired_or_used_code_is_refused(acme, no_resend_wait):
    sent = consumers.request_sign_in_code(acme, PHONE, address="10.0.0.1")
    stored = db.session.execute(select(SignInCode).where(SignInCode.phone == E164)).scalar_one()
    stored.expires_at = utcnow() - timedelta(seconds=1)
    db.session.flush()
    with pytest.raises(ValidationFailed) as expired:
        consumers.sign_in_with_code(acme, PHONE, sent.code)
    assert "expired" in expired.value.fields["code"]
    assert _consumers_with(E164) == 0
    sent = consumers.request_sign_in_code(acme, PHONE, address="10.0.0.1")
    consumers.sign_in_with_code(acme, PHONE, sent.code)
    with pytest.raises(ValidationFailed) as used:
        consumers.sign_in_with_code(acme, PHONE, sent.code)
    assert "code" in used.value.fields


def test_a_new_code_replaces_the_one_before(acme, no_resend_wait):
    first = consumers.request_sign_in_code(acme, PHONE, address="10.0.0.1")
    second = consumers.request_sign_in_code(acme, PHONE, address="10.0.0.1")
    if first.code != second.code:
        with pytest.raises(consumers.InvalidCode):
            consumers.sign_in_with_code(acme, PHONE, first.code)
    assert consumers.sign_in_with_code(acme, PHONE, second.code).phone == E164


def test_codes_are_throttled_per_number_and_per_address(app, acme, monkeypatch):
    consumers.request_sign_in_code(acme, PHONE, address="10.0.0.1")
    with pytest.raises(consumers.CodeThrottled) as too_soon:
        consumers.request_sign_in_code(acme, PHONE, address="10.0.0.2")
    assert 0 < too_soon.value.retry_after <= 61 and too_soon.value.status == 429
    assert _codes() == 1

    monkeypatch.setitem(app.config, "SIGN_IN_CODE_RESEND_SECONDS", 0)
    for _ in range(4):
        consumers.request_sign_in_code(acme, PHONE, address="10.0.0.1")
    with pytest.raises(consumers.CodeThrottled):  # the sixth in an hour for this number
        consumers.request_sign_in_code(acme, PHONE, address="10.0.0.3")
    assert _codes() == 5

    monkeypatch.setitem(app.config, "SIGN_IN_CODES_PER_ADDRESS_HOUR", 3)
    for number in ("13900139001", "13900139002", "13900139003"):
        consumers.request_sign_in_code(acme, number, address="10.9.9.9")
    with pytest.raises(consumers.CodeThrottled):  # a fourth number from the same address
        consumers.request_sign_in_code(acme, "13900139004", address="10.9.9.9")
    assert _codes("+8613900139004") == 0


def test_a_code_of_one_brand_does_not_sign_in_to_another(acme):
    sent = consumers.request_sign_in_code(acme, PHONE, address="10.0.0.1")
    with pytest.raises(ValidationFailed):
        consumers.sign_in_with_code(org("LUMI"), PHONE, sent.code)
    assert _consumers_with(E164) == 0


# -- e-mail and password -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "password", "field"),
    [
        ("not-an-address", "long enough", "email"),
        ("", "long enough", "email"),
        ("li@example.com", "short", "password"),
        ("li@example.com", "", "password"),
    ],
)
def test_sign_up_with_a_bad_email_or_short_password_changes_nothing(acme, email, password, field):
    before = _consumers()
    with pytest.raises(ValidationFailed) as refused:
        consumers.sign_up_with_password(acme, email, password)
    assert field in refused.value.fields
    assert _consumers() == before


def test_sign_up_then_sign_in_with_password(acme):
    made = consumers.sign_up_with_password(acme, " Li@Example.com ", "long enough", name="Li")
    assert made.email == "li@example.com" and made.password_hash != "long enough"
    assert consumers.sign_in_with_password(acme, "LI@example.com", "long enough").id == made.id
    with pytest.raises(consumers.InvalidCredentials):
        consumers.sign_in_with_password(acme, "li@example.com", "wrong password")
    with pytest.raises(consumers.InvalidCredentials):  # the same address in another brand
        consumers.sign_in_with_password(org("LUMI"), "li@example.com", "long enough")
    with pytest.raises(ValidationFailed) as taken:
        consumers.sign_up_with_password(acme, "li@example.com", "another one")
    assert "email" in taken.value.fields


# -- addresses -----------------------------------------------------------------------------------


def test_addresses_first_is_default_and_the_default_moves(acme):
    consumer = _sign_in(acme)
    home = consumers.add_address(consumer, ADDRESS)
    assert home.is_default and home.phone == "+8613900139000" and home.latitude == 31.2304
    work = consumers.add_address(consumer, {**ADDRESS, "line": "2 Office Road", "is_default": "1"})
    db.session.refresh(home)
    assert work.is_default and not home.is_default
    consumers.delete_address(consumer, work)
    assert [a.line for a in consumers.list_addresses(consumer)] == ["1 Nanjing Road"]
    assert consumers.list_addresses(consumer)[0].is_default


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"latitude": "91"}, "latitude"),
        ({"longitude": "-181"}, "longitude"),
        ({"latitude": "nan"}, "latitude"),
        ({"longitude": ""}, "longitude"),  # one coordinate without the other
        ({"phone": "123"}, "phone"),
        ({"city": " "}, "city"),
    ],
)
def test_a_bad_address_is_refused_naming_the_field(acme, change, field):
    consumer = _sign_in(acme)
    with pytest.raises(ValidationFailed) as refused:
        consumers.add_address(consumer, {**ADDRESS, **change})
    assert field in refused.value.fields
    assert consumers.list_addresses(consumer) == []


def test_another_consumers_address_is_not_found(acme, no_resend_wait):
    mine = consumers.add_address(_sign_in(acme), ADDRESS)
    other = _sign_in(acme, "13900139000")
    with pytest.raises(NotFound):
        consumers.get_address(other, mine.id)


# -- the person's data ---------------------------------------------------------------------------


def _order(consumer: Consumer, address: ConsumerAddress) -> ConsumerOrder:
    location = db.session.execute(
        select(Location).where(Location.org_id == consumer.brand_id).limit(1)
    ).scalar_one()
    order = ConsumerOrder(
        number="ACME-C-TEST1",
        brand_id=consumer.brand_id,
        consumer_id=consumer.id,
        tier="official",
        fulfilment="delivery",
        location_id=location.id,
        checkout_token="t1",
        currency="CNY",
        total_cents=12_900,
        contact_name=address.recipient,
        contact_phone=address.phone,
        address=consumers.address_dict(address),
        latitude=address.latitude,
        longitude=address.longitude,
    )
    db.session.add(order)
    db.session.flush()
    return order


def test_export_holds_the_account_addresses_and_orders(acme):
    consumer = _sign_in(acme)
    address = consumers.add_address(consumer, ADDRESS)
    _order(consumer, address)
    data = consumers.export_consumer(consumer)
    assert data["account"]["phone"] == E164
    assert [a["line"] for a in data["addresses"]] == ["1 Nanjing Road"]
    assert data["orders"][0]["number"] == "ACME-C-TEST1"
    assert data["orders"][0]["contact_name"] == "Li Lei"


def test_erasure_removes_the_person_and_keeps_their_orders(acme, no_resend_wait):
    consumer = consumers.sign_up_with_password(acme, "li@example.com", "long enough", name="Li")
    consumer.phone = E164
    address = consumers.add_address(consumer, ADDRESS)
    order = _order(consumer, address)
    secret, _expires = start_session(consumer, kind="api")
    consumers.request_sign_in_code(acme, PHONE, address="10.0.0.1")

    consumers.erase_consumer(consumer)
    db.session.expire_all()

    erased = db.session.execute(select(Consumer).where(Consumer.id == consumer.id)).scalar_one()
    assert erased.status == ConsumerStatus.DELETED
    assert (erased.phone, erased.email, erased.name, erased.password_hash) == (None, None, "", None)
    assert consumers.list_addresses(erased) == []
    assert find_session(acme, secret) is None
    assert _codes() == 0
    kept = db.session.execute(
        select(ConsumerOrder).where(ConsumerOrder.id == order.id)
    ).scalar_one()
    assert kept.consumer_id == consumer.id and kept.total_cents == 12_900
    assert (kept.contact_name, kept.contact_phone, kept.address, kept.latitude) == (
        "",
        "",
        {},
        None,
    )
    data = consumers.export_consumer(erased)
    assert E164 not in str(data) and "li@example.com" not in str(data) and "Li Lei" not in str(data)
    with pytest.raises(consumers.InvalidCredentials):
        consumers.sign_in_with_password(acme, "li@example.com", "long enough")
    fresh = _sign_in(acme)  # the number may come back, as a new person
    assert fresh.id != consumer.id and consumers.list_addresses(fresh) == []
