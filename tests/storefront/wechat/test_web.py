"""Sign-in with WeChat on the shop's website, with the test backend: what a person sees from the
sign-in page's button through WeChat's (stand-in) QR page, the link step with their mobile
number, and their account's WeChat page."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from portal.extensions import db
from portal.storefront import consumers
from portal.storefront.identity_models import ConsumerIdentity
from portal.storefront.models import Consumer
from portal.storefront.wechat_views import STATE_KEY, TICKET_KEY
from tests.support.services import org

PHONE, E164 = "13800138000", "+8613800138000"


def _page(response) -> str:
    return response.get_data(as_text=True)


def _shown_code(response) -> str:
    found = re.search(r"your code is (\d{6})", _page(response))
    assert found, _page(response)[:1500]
    return found.group(1)


def _scan(shop, user: str = "alice", brand: str = "ACME", **start_args):
    """Press "Sign in with WeChat", scan the stand-in QR page as `user`: the callback's answer."""
    started = shop.get(f"/shop/{brand}/account/wechat", query_string=start_args)
    assert started.status_code == 302, _page(started)[:500]
    qr_page = started.headers["Location"]
    assert qr_page.startswith("/wechat-test/connect/qrconnect?")
    shown = shop.get(qr_page)
    assert shown.status_code == 200 and "Test backend" in _page(shown)
    query = {k: v[0] for k, v in parse_qs(urlsplit(qr_page).query).items()}
    scanned = shop.post(
        "/wechat-test/connect/qrconnect",
        data={"redirect_uri": query["redirect_uri"], "state": query["state"], "user": user},
    )
    assert scanned.status_code == 302
    return shop.get(scanned.headers["Location"])


def _link_with_phone(shop, phone: str = PHONE, brand: str = "ACME"):
    form = shop.get(f"/shop/{brand}/account/wechat/link")
    assert form.status_code == 200 and "Link WeChat to your mobile number" in _page(form)
    sent = shop.post(f"/shop/{brand}/account/wechat/link/code", data={"phone": phone})
    assert sent.status_code == 200, _page(sent)[:800]
    return shop.post(
        f"/shop/{brand}/account/wechat/link", data={"phone": phone, "code": _shown_code(sent)}
    )


def _phone_sign_in(shop, phone: str = PHONE) -> None:
    sent = shop.post("/shop/ACME/account/sign-in/code", data={"phone": phone})
    verified = shop.post(
        "/shop/ACME/account/sign-in/verify", data={"phone": phone, "code": _shown_code(sent)}
    )
    assert verified.status_code == 302


def _sign_out(shop) -> None:
    shop.post("/shop/ACME/account/sign-out")


def _identities() -> list[ConsumerIdentity]:
    return list(
        db.session.execute(select(ConsumerIdentity).order_by(ConsumerIdentity.id)).scalars()
    )


def _consumer(phone: str = E164) -> Consumer:
    return consumers.find_consumer_by_phone(org("ACME"), phone)


def test_the_sign_in_page_offers_wechat_only_when_configured(app, shop, monkeypatch):
    assert "Sign in with WeChat" not in _page(shop.get("/shop/ACME/account/sign-in"))
    assert shop.get("/shop/ACME/account/wechat").status_code == 404
    monkeypatch.setitem(app.config, "WECHAT_LOGIN_BACKEND", "test")
    page = _page(shop.get("/shop/ACME/account/sign-in"))
    assert "Sign in with WeChat" in page and "/shop/ACME/account/wechat" in page


def test_first_time_links_the_phone_then_wechat_signs_in_directly(wechat_test, shop):
    _phone_sign_in(shop)  # the number's consumer exists already, with its orders etc.
    _sign_out(shop)
    first = _scan(shop)
    assert first.status_code == 302
    assert first.headers["Location"] == "/shop/ACME/account/wechat/link"
    assert shop.get("/shop/ACME/account/").status_code == 302  # not signed in yet
    linked = _link_with_phone(shop)
    assert linked.status_code == 302 and linked.headers["Location"] == "/shop/ACME/account/"
    account = _page(shop.get("/shop/ACME/account/"))
    assert E164 in account and "WeChat is linked to your account" in account
    (identity,) = _identities()
    assert identity.consumer_id == _consumer().id and identity.app == "web"
    assert identity.brand_id == org("ACME").id

    _sign_out(shop)
    second = _scan(shop)
    assert second.status_code == 302 and second.headers["Location"] == "/shop/ACME/account/"
    assert E164 in _page(shop.get("/shop/ACME/account/"))
    assert len(_identities()) == 1


def test_a_new_number_makes_its_consumer_as_a_code_sign_in_does(wechat_test, shop):
    _scan(shop, user="newcomer")
    response = _link_with_phone(shop, phone="13900139000")
    assert response.status_code == 302
    consumer = _consumer("+8613900139000")
    assert consumer is not None and _identities()[0].consumer_id == consumer.id


def test_the_page_asked_for_is_reached_after_signing_in(wechat_test, shop):
    next_page = "/shop/ACME/account/export.json"
    _scan(shop, next=next_page)
    assert _link_with_phone(shop).headers["Location"] == next_page
    _sign_out(shop)
    assert _scan(shop, next=next_page).headers["Location"] == next_page
    _sign_out(shop)
    off_site = _scan(shop, next="https://evil.example/shop/ACME/")
    assert off_site.headers["Location"] == "/shop/ACME/account/"


def test_a_callback_whose_state_is_not_this_browsers_is_refused(wechat_test, shop):
    shop.get("/shop/ACME/account/wechat")
    response = shop.get("/shop/ACME/account/wechat/callback?code=wxtest-alice&state=forged")
    assert response.status_code == 400
    assert "was not started in this browser" in _page(response)
    assert shop.get("/shop/ACME/account/").status_code == 302
    assert _identities() == []


def test_a_callback_cannot_be_replayed(wechat_test, shop):
    _phone_sign_in(shop)
    _sign_out(shop)
    _scan(shop)
    _link_with_phone(shop)
    _sign_out(shop)
    started = shop.get("/shop/ACME/account/wechat")
    state = parse_qs(urlsplit(started.headers["Location"]).query)["state"][0]
    callback = f"/shop/ACME/account/wechat/callback?code=wxtest-alice&state={state}"
    assert shop.get(callback).status_code == 302  # signed in
    _sign_out(shop)
    assert shop.get(callback).status_code == 400  # the state was used up
    assert shop.get("/shop/ACME/account/").status_code == 302


def test_another_browsers_callback_is_refused(wechat_test, app, shop):
    started = shop.get("/shop/ACME/account/wechat")
    state = parse_qs(urlsplit(started.headers["Location"]).query)["state"][0]
    other = app.test_client()
    response = other.get(f"/shop/ACME/account/wechat/callback?code=wxtest-eve&state={state}")
    assert response.status_code == 400


def test_a_declined_scan_goes_back_to_sign_in(wechat_test, shop):
    started = shop.get("/shop/ACME/account/wechat")
    state = parse_qs(urlsplit(started.headers["Location"]).query)["state"][0]
    response = shop.get(f"/shop/ACME/account/wechat/callback?state={state}")
    assert response.headers["Location"] == "/shop/ACME/account/sign-in"
    assert "cancelled" in _page(shop.get("/shop/ACME/account/sign-in"))


def test_a_code_wechat_refuses_says_so(wechat_test, shop):
    started = shop.get("/shop/ACME/account/wechat")
    state = parse_qs(urlsplit(started.headers["Location"]).query)["state"][0]
    response = shop.get(f"/shop/ACME/account/wechat/callback?code=nonsense&state={state}")
    assert response.status_code == 422
    assert "WeChat did not accept this sign-in" in _page(response)


def test_a_forged_ticket_is_refused_and_nothing_is_linked(wechat_test, shop):
    _scan(shop)
    with shop.session_transaction() as session:
        kept = session[TICKET_KEY]
        session[TICKET_KEY] = {**kept, "ticket": kept["ticket"][:-4] + "AAAA"}
    response = _link_attempt(shop)
    assert response.status_code == 302
    assert response.headers["Location"] == "/shop/ACME/account/sign-in"
    assert "not valid. Sign in with WeChat again" in _page(shop.get(response.headers["Location"]))
    assert _identities() == []


def test_an_expired_ticket_is_refused(wechat_test, app, shop, monkeypatch):
    _scan(shop)
    monkeypatch.setitem(app.config, "WECHAT_LINK_TICKET_SECONDS", -1)
    response = _link_attempt(shop)
    assert response.headers["Location"] == "/shop/ACME/account/sign-in"
    assert "has expired" in _page(shop.get(response.headers["Location"]))
    assert _identities() == []


def test_another_brands_ticket_is_refused(wechat_test, shop):
    _scan(shop)
    assert shop.get("/shop/LUMI/account/wechat/link").headers["Location"] == (
        "/shop/LUMI/account/sign-in"
    )


def _link_attempt(shop):
    sent = shop.post("/shop/ACME/account/wechat/link/code", data={"phone": PHONE})
    if sent.status_code != 200:
        return sent
    return shop.post(
        "/shop/ACME/account/wechat/link", data={"phone": PHONE, "code": _shown_code(sent)}
    )


def test_a_wrong_code_at_the_link_step_is_counted_and_links_nothing(wechat_test, shop):
    _scan(shop)
    sent = shop.post("/shop/ACME/account/wechat/link/code", data={"phone": PHONE})
    code = _shown_code(sent)
    wrong = "000000" if code != "000000" else "111111"
    response = shop.post("/shop/ACME/account/wechat/link", data={"phone": PHONE, "code": wrong})
    assert response.status_code == 422 and "This code is not correct" in _page(response)
    assert _identities() == []
    ok = shop.post("/shop/ACME/account/wechat/link", data={"phone": PHONE, "code": code})
    assert ok.status_code == 302 and len(_identities()) == 1


def test_an_invalid_number_at_the_link_step_is_named(wechat_test, shop):
    _scan(shop)
    response = shop.post("/shop/ACME/account/wechat/link/code", data={"phone": "12345"})
    assert response.status_code == 422 and "Enter a valid mobile number" in _page(response)


def test_one_wechat_user_is_never_linked_to_a_second_consumer(wechat_test, app, shop):
    _scan(shop)
    _link_with_phone(shop)  # alice -> +86 138...
    _sign_out(shop)
    # A second browser holds a ticket for alice from before the link (a replay): a second number.
    _scan(shop, user="alice")  # signs in directly: alice is linked
    _sign_out(shop)
    other = app.test_client()
    with other.session_transaction() as session:
        session["lang"] = "en"
    other.get("/shop/ACME/account/wechat")
    from portal.storefront import wechat_accounts
    from portal.storefront.wechat_login import TestLogin

    alice = TestLogin().exchange_web_code("wxtest-alice")
    ticket, _expires = wechat_accounts.make_link_ticket(org("ACME"), alice)
    with other.session_transaction() as session:
        session[TICKET_KEY] = {"ticket": ticket, "brand": org("ACME").id, "next": ""}
    sent = other.post("/shop/ACME/account/wechat/link/code", data={"phone": "13900139000"})
    response = other.post(
        "/shop/ACME/account/wechat/link",
        data={"phone": "13900139000", "code": _shown_code(sent)},
    )
    assert response.status_code == 409
    assert "already linked to another account" in _page(response)
    assert [row.consumer_id for row in _identities()] == [_consumer().id]
    assert _consumer("+8613900139000") is None  # nothing made: the attempt was undone


def test_an_account_linked_to_one_wechat_refuses_another(wechat_test, shop):
    _scan(shop, user="alice")
    _link_with_phone(shop)
    _sign_out(shop)
    _scan(shop, user="bob")
    response = _link_attempt(shop)
    assert response.status_code == 409
    assert "already linked to another WeChat account" in _page(response)
    assert len(_identities()) == 1


def test_a_signed_in_consumer_links_and_unlinks_wechat_on_their_account_page(wechat_test, shop):
    _phone_sign_in(shop)
    page = _page(shop.get("/shop/ACME/account/wechat/manage"))
    assert "Link WeChat" in page
    linked = _scan(shop, user="carol", link="1")
    assert linked.headers["Location"] == "/shop/ACME/account/wechat/manage"
    page = _page(shop.get("/shop/ACME/account/wechat/manage"))
    assert "WeChat is linked" in page and "Unlink WeChat" in page
    assert _identities()[0].consumer_id == _consumer().id

    _sign_out(shop)
    assert _scan(shop, user="carol").headers["Location"] == "/shop/ACME/account/"
    unlinked = shop.post("/shop/ACME/account/wechat/unlink")
    assert unlinked.status_code == 302
    assert "WeChat is unlinked" in _page(shop.get("/shop/ACME/account/wechat/manage"))
    assert _identities() == []
    _sign_out(shop)
    assert _scan(shop, user="carol").headers["Location"] == "/shop/ACME/account/wechat/link"


def test_linking_from_the_account_page_needs_a_signed_in_consumer(wechat_test, shop):
    response = shop.get("/shop/ACME/account/wechat?link=1")
    assert "/shop/ACME/account/sign-in" in response.headers["Location"]
    assert shop.get("/shop/ACME/account/wechat/manage").status_code == 302


def test_the_account_page_link_refuses_a_wechat_user_linked_to_someone_else(wechat_test, shop):
    _scan(shop, user="dave")
    _link_with_phone(shop, phone="13900139000")
    _sign_out(shop)
    _phone_sign_in(shop)
    response = _scan(shop, user="dave", link="1")
    assert response.status_code == 409
    assert "already linked to another account" in _page(response)
    assert [row.consumer_id for row in _identities()] == [_consumer("+8613900139000").id]


def test_erasure_removes_the_consumers_identities(wechat_test, shop):
    _scan(shop)
    _link_with_phone(shop)
    assert len(_identities()) == 1
    response = shop.post("/shop/ACME/account/delete", data={"confirm": "yes"})
    assert response.status_code == 302
    assert _identities() == []
    assert _scan(shop).headers["Location"] == "/shop/ACME/account/wechat/link"


def test_the_stand_in_qr_page_returns_only_to_a_shops_callback(wechat_test, shop):
    response = shop.get(
        "/wechat-test/connect/qrconnect",
        query_string={"redirect_uri": "https://evil.example/steal", "state": "s"},
    )
    assert response.status_code == 400
    scanned = shop.post(
        "/wechat-test/connect/qrconnect",
        data={
            "redirect_uri": "https://evil.example/shop/ACME/account/wechat/callback",
            "state": "s",
            "user": "alice",
        },
    )
    assert scanned.headers["Location"].startswith("/shop/ACME/account/wechat/callback?")


def test_the_stand_in_qr_page_is_there_only_with_the_test_backend(app, shop):
    assert shop.get("/wechat-test/connect/qrconnect").status_code == 404


def test_the_state_is_kept_in_the_session_not_the_address(wechat_test, shop):
    started = shop.get("/shop/ACME/account/wechat")
    with shop.session_transaction() as session:
        kept = session[STATE_KEY]
    assert kept["state"] == parse_qs(urlsplit(started.headers["Location"]).query)["state"][0]
    assert "callback" in parse_qs(urlsplit(started.headers["Location"]).query)["redirect_uri"][0]
