"""Alipay notices, checked against RSA keys made here: a form post signed (RSA2) with Alipay's key
parses; a changed field, another key or another app is refused. Signing is done here with
`cryptography`, independently of the SDK that verifies."""

from __future__ import annotations

import base64
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from portal.storefront.payments.alipay import AlipayProvider
from portal.storefront.payments.base import NoticeStatus, StartRequest
from portal.storefront.payments.errors import MalformedNotice, NoticeSignatureInvalid

APPID = "2021000000000001"


@pytest.fixture
def alipay_provider(keys) -> AlipayProvider:
    return AlipayProvider(
        appid=APPID,
        app_private_key=keys["merchant"].private_pem,
        alipay_public_key=keys["provider"].public_pem,
    )


def _fields(**changes) -> dict[str, str]:
    fields = {
        "notify_time": "2026-12-03 10:00:00",
        "notify_type": "trade_status_sync",
        "notify_id": "ac05099524730693a8b330c5ecf72da9786",
        "app_id": APPID,
        "charset": "utf-8",
        "version": "1.0",
        "trade_no": "2026120322001400000000000001",
        "out_trade_no": "P261203ABCDEF0123456789",
        "total_amount": "129.00",
        "trade_status": "TRADE_SUCCESS",
        "subject": "Tee black M 黑色",
    }
    fields.update(changes)
    return fields


def _signed(signing_key, fields: dict[str, str]) -> bytes:
    """Alipay's rule: every field but sign and sign_type, sorted, k=v joined by &."""
    message = "&".join(f"{k}={v}" for k, v in sorted(fields.items()))
    signature = signing_key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())
    return urlencode(
        {**fields, "sign_type": "RSA2", "sign": base64.b64encode(signature).decode()}
    ).encode()


def test_a_notice_signed_with_alipays_key_parses(alipay_provider, keys):
    notice = alipay_provider.parse_notice({}, _signed(keys["provider"].private, _fields()))
    assert notice.provider == "alipay"
    assert notice.notice_id == "ac05099524730693a8b330c5ecf72da9786"
    assert (notice.reference, notice.transaction_id) == (
        "P261203ABCDEF0123456789",
        "2026120322001400000000000001",
    )
    assert (notice.amount_cents, notice.currency, notice.status) == (
        12_900,
        "CNY",
        NoticeStatus.PAID,
    )


def test_a_changed_amount_is_refused(alipay_provider, keys):
    body = _signed(keys["provider"].private, _fields())
    tampered = body.replace(b"total_amount=129.00", b"total_amount=1.29")
    assert tampered != body
    with pytest.raises(NoticeSignatureInvalid):
        alipay_provider.parse_notice({}, tampered)


def test_a_notice_signed_with_another_key_is_refused(alipay_provider, keys):
    with pytest.raises(NoticeSignatureInvalid):
        alipay_provider.parse_notice({}, _signed(keys["impostor"].private, _fields()))


def test_a_notice_for_another_app_is_refused(alipay_provider, keys):
    body = _signed(keys["provider"].private, _fields(app_id="2021000000000999"))
    with pytest.raises(NoticeSignatureInvalid):
        alipay_provider.parse_notice({}, body)


def test_an_unsigned_or_garbled_signature_is_refused(alipay_provider, keys):
    with pytest.raises(NoticeSignatureInvalid):
        alipay_provider.parse_notice({}, urlencode(_fields()).encode())
    garbled = urlencode({**_fields(), "sign_type": "RSA2", "sign": "%%%not base64"}).encode()
    with pytest.raises(NoticeSignatureInvalid):
        alipay_provider.parse_notice({}, garbled)


def test_an_amount_with_more_than_fen_is_malformed(alipay_provider, keys):
    body = _signed(keys["provider"].private, _fields(total_amount="129.001"))
    with pytest.raises(MalformedNotice):
        alipay_provider.parse_notice({}, body)


def test_a_closed_trade_is_a_decline(alipay_provider, keys):
    body = _signed(keys["provider"].private, _fields(trade_status="TRADE_CLOSED"))
    assert alipay_provider.parse_notice({}, body).status == NoticeStatus.DECLINED


def test_starting_on_a_phone_gives_an_address_signed_with_our_key(alipay_provider, keys):
    started = alipay_provider.start(
        StartRequest(
            reference="P261203ABCDEF0123456789",
            amount_cents=12_900,
            currency="CNY",
            description="Tee black M",
            notify_url="https://portal.test/pay/notify/alipay",
            return_url="https://portal.test/shop/acme/orders/1",
        )
    )
    url = urlsplit(started.redirect_url)
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://openapi.alipay.com/gateway.do"
    fields = dict(parse_qsl(url.query))
    assert fields["method"] == "alipay.trade.wap.pay"
    assert '"total_amount":"129.00"' in fields["biz_content"]
    signature = base64.b64decode(fields.pop("sign"))
    message = "&".join(f"{k}={v}" for k, v in sorted(fields.items()))
    public_key = load_pem_public_key(keys["merchant"].public_pem.encode())
    public_key.verify(  # type: ignore[union-attr]
        signature, message.encode(), padding.PKCS1v15(), hashes.SHA256()
    )
