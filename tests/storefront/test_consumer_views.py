"""A consumer's account pages in the shop (portal/storefront/account_views.py): what a person
sees signing in by code or e-mail, managing addresses, downloading and deleting their data."""

from __future__ import annotations

import json
import logging
import re

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.storefront.models import Consumer, ConsumerStatus, SignInCode
from tests.support.services import org

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
def shop(client):
    """A browser that chose English (the shop is Chinese until one chooses)."""
    with client.session_transaction() as session:
        session["lang"] = "en"
    return client


def _page(response) -> str:
    return response.get_data(as_text=True)


def _shown_code(response) -> str:
    found = re.search(r"your code is (\d{6})", _page(response))
    assert found, _page(response)[:800]
    return found.group(1)


def _sign_in(shop, phone: str = "13800138000", brand: str = "ACME", next_url: str = ""):
    sent = shop.post(f"/shop/{brand}/account/sign-in/code", data={"phone": phone})
    assert sent.status_code == 200
    return shop.post(
        f"/shop/{brand}/account/sign-in/verify",
        data={"phone": phone, "code": _shown_code(sent), "next": next_url},
    )


def _codes() -> int:
    return db.session.execute(select(func.count()).select_from(SignInCode)).scalar_one()


def test_shop_pages_are_chinese_until_one_chooses(client):
    page = _page(client.get("/shop/ACME/account/sign-in"))
    assert 'lang="zh-CN"' in page


def test_sign_in_by_code_lands_on_the_account_page(shop):
    response = _sign_in(shop)
    assert response.status_code == 302
    assert response.headers["Location"] == "/shop/ACME/account/"
    page = _page(shop.get("/shop/ACME/account/"))
    assert E164 in page and "You are signed in." in page


def test_a_signed_out_visitor_returns_to_the_page_they_asked_for(shop):
    asked = shop.get("/shop/ACME/account/export.json")
    assert asked.status_code == 302 and "/shop/ACME/account/sign-in" in asked.headers["Location"]
    response = _sign_in(shop, next_url="/shop/ACME/account/export.json")
    assert response.headers["Location"] == "/shop/ACME/account/export.json"


def test_a_next_address_off_the_shop_is_ignored(shop):
    response = _sign_in(shop, next_url="https://evil.example/shop/ACME/")
    assert response.headers["Location"] == "/shop/ACME/account/"


def test_without_demo_mode_the_code_is_only_in_the_log(app, shop, monkeypatch, caplog):
    monkeypatch.setitem(app.config, "SMS_SHOW_CODE", False)
    caplog.set_level(logging.INFO)
    page = _page(shop.post("/shop/ACME/account/sign-in/code", data={"phone": "13800138000"}))
    assert "We sent a code by SMS to +8613800138000." in page
    logged = [r.getMessage() for r in caplog.records if E164 in r.getMessage()]
    code = re.search(r"code: (\d{6})", logged[-1]).group(1)
    assert code not in page


def test_an_invalid_number_is_named_and_no_code_is_sent(shop):
    response = shop.post("/shop/ACME/account/sign-in/code", data={"phone": "12345"})
    assert response.status_code == 422
    assert "Enter a valid mobile number" in _page(response)
    assert _codes() == 0


def test_a_wrong_code_says_so_and_five_need_a_new_code(shop):
    sent = shop.post("/shop/ACME/account/sign-in/code", data={"phone": "13800138000"})
    code = _shown_code(sent)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        response = shop.post(
            "/shop/ACME/account/sign-in/verify", data={"phone": "13800138000", "code": wrong}
        )
        assert response.status_code == 422
        assert "This code is not correct" in _page(response)
    response = shop.post(
        "/shop/ACME/account/sign-in/verify", data={"phone": "13800138000", "code": code}
    )
    assert response.status_code == 422
    assert "Too many wrong tries. Ask for a new code." in _page(response)
    assert shop.get("/shop/ACME/account/").status_code == 302  # still signed out


def test_asking_again_too_soon_is_refused_with_the_wait(shop):
    shop.post("/shop/ACME/account/sign-in/code", data={"phone": "13800138000"})
    again = shop.post("/shop/ACME/account/sign-in/code", data={"phone": "13800138000"})
    assert again.status_code == 429
    assert re.search(r"Try again in \d+ seconds", _page(again))
    assert _codes() == 1


def test_sign_up_by_email_then_out_and_in_again(shop):
    short = shop.post(
        "/shop/ACME/account/sign-up", data={"email": "li@example.com", "password": "short"}
    )
    assert short.status_code == 422 and "at least 8 characters" in _page(short)
    bad = shop.post("/shop/ACME/account/sign-up", data={"email": "li@", "password": "long enough"})
    assert bad.status_code == 422 and "Enter a valid e-mail address." in _page(bad)
    made = shop.post(
        "/shop/ACME/account/sign-up",
        data={"email": "li@example.com", "password": "long enough", "name": "Li"},
    )
    assert made.status_code == 302
    assert "li@example.com" in _page(shop.get("/shop/ACME/account/"))

    assert shop.post("/shop/ACME/account/sign-out").status_code == 302
    assert shop.get("/shop/ACME/account/").status_code == 302

    wrong = shop.post(
        "/shop/ACME/account/sign-in/email",
        data={"email": "li@example.com", "password": "wrong password"},
    )
    assert wrong.status_code == 401
    assert "E-mail or password is not correct." in _page(wrong)
    right = shop.post(
        "/shop/ACME/account/sign-in/email",
        data={"email": "li@example.com", "password": "long enough"},
    )
    assert right.status_code == 302 and shop.get("/shop/ACME/account/").status_code == 200


def test_addresses_are_added_edited_and_removed(shop):
    _sign_in(shop)
    added = shop.post("/shop/ACME/account/addresses", data=ADDRESS)
    assert added.status_code == 302
    page = _page(shop.get("/shop/ACME/account/"))
    assert "1 Nanjing Road" in page and "Address saved." in page
    address_id = int(re.search(r"/account/addresses/(\d+)/edit", page).group(1))

    form = _page(shop.get(f"/shop/ACME/account/addresses/{address_id}/edit"))
    assert 'value="1 Nanjing Road"' in form
    edited = shop.post(
        f"/shop/ACME/account/addresses/{address_id}/edit", data={**ADDRESS, "line": "9 Bund"}
    )
    assert edited.status_code == 302
    page = _page(shop.get("/shop/ACME/account/"))
    assert "9 Bund" in page and "1 Nanjing Road" not in page

    removed = shop.post(f"/shop/ACME/account/addresses/{address_id}/delete")
    assert removed.status_code == 302
    assert "No addresses yet." in _page(shop.get("/shop/ACME/account/"))


def test_an_address_out_of_range_is_named_and_not_saved(shop):
    _sign_in(shop)
    response = shop.post("/shop/ACME/account/addresses", data={**ADDRESS, "latitude": "91"})
    assert response.status_code == 422
    page = _page(response)
    assert "Enter a number between -90 and 90." in page
    assert 'value="1 Nanjing Road"' in page  # what was typed stays in the form
    assert "No addresses yet." in page


def test_another_consumers_address_is_not_found(shop, client):
    _sign_in(shop)
    shop.post("/shop/ACME/account/addresses", data=ADDRESS)
    page = _page(shop.get("/shop/ACME/account/"))
    address_id = int(re.search(r"/account/addresses/(\d+)/edit", page).group(1))
    shop.post("/shop/ACME/account/sign-out")
    _sign_in(shop, phone="13900139000")
    assert shop.get(f"/shop/ACME/account/addresses/{address_id}/edit").status_code == 404
    assert shop.post(f"/shop/ACME/account/addresses/{address_id}/delete").status_code == 404


def test_export_downloads_my_data_as_json(shop):
    _sign_in(shop)
    shop.post("/shop/ACME/account/addresses", data=ADDRESS)
    response = shop.get("/shop/ACME/account/export.json")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment")
    data = json.loads(response.get_data(as_text=True))
    assert data["account"]["phone"] == E164
    assert data["addresses"][0]["line"] == "1 Nanjing Road"


def test_deleting_my_account_erases_me_and_signs_me_out(shop):
    _sign_in(shop)
    shop.post("/shop/ACME/account/addresses", data=ADDRESS)
    unconfirmed = shop.post("/shop/ACME/account/delete", data={})
    assert unconfirmed.status_code == 422 and "Tick the box" in _page(unconfirmed)
    assert shop.get("/shop/ACME/account/").status_code == 200  # nothing happened

    deleted = shop.post("/shop/ACME/account/delete", data={"confirm": "yes"})
    assert deleted.status_code == 302 and deleted.headers["Location"] == "/shop/ACME/"
    assert "have been deleted" in _page(shop.get("/shop/ACME/"))
    assert shop.get("/shop/ACME/account/").status_code == 302
    erased = db.session.execute(
        select(Consumer).where(
            Consumer.brand_id == org("ACME").id, Consumer.status == ConsumerStatus.DELETED
        )
    ).scalar_one()
    assert erased.phone is None

    shop.post("/shop/ACME/account/sign-out")
    _sign_in(shop)  # the same number again: a new, empty account
    page = _page(shop.get("/shop/ACME/account/"))
    assert E164 in page and "No addresses yet." in page and "Nanjing Road" not in page


def test_signed_in_to_one_brand_is_signed_out_of_another(shop):
    _sign_in(shop)
    response = shop.get("/shop/LUMI/account/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/shop/LUMI/account/sign-in")
    assert shop.get("/shop/ACME/account/").status_code == 200
