"""WeChat Pay API v3 notices, checked against RSA keys made here: a notice signed with the
platform key and encrypted with the API v3 key parses; a changed body, another key, another key
id or another API v3 key is refused, and nothing reaches the network."""

from __future__ import annotations

import base64
import json
import secrets
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from portal.storefront.payments.base import NoticeStatus, StartRequest
from portal.storefront.payments.errors import (
    MalformedNotice,
    NoticeSignatureInvalid,
    ProviderUnavailable,
)
from portal.storefront.payments.wechat import WeChatPayProvider

APIV3_KEY = "0123456789abcdef0123456789abcdef"  # 32 bytes, as WeChat Pay's are
KEY_ID = "PUB_KEY_ID_0000000000TEST"


@pytest.fixture
def wechat(keys) -> WeChatPayProvider:
    return WeChatPayProvider(
        mchid="1900000001",
        appid="wx0000000000000001",
        cert_serial_no="5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        private_key=keys["merchant"].private_pem,
        apiv3_key=APIV3_KEY,
        public_key=keys["provider"].public_pem,
        public_key_id=KEY_ID,
    )


def _resource(**changes) -> dict:
    resource = {
        "mchid": "1900000001",
        "appid": "wx0000000000000001",
        "out_trade_no": "P261203ABCDEF0123456789",
        "transaction_id": "4200000000202612030000000001",
        "trade_state": "SUCCESS",
        "amount": {"total": 12_900, "payer_total": 12_900, "currency": "CNY"},
    }
    resource.update(changes)
    return resource


def _notice(signing_key, *, resource=None, apiv3_key=APIV3_KEY, key_id=KEY_ID):
    """A notice as WeChat Pay sends it: the resource sealed with the API v3 key, the body signed
    with the platform's private key over timestamp, nonce and body."""
    nonce = secrets.token_hex(6)  # 12 characters, used as the 12-byte GCM nonce
    sealed = AESGCM(apiv3_key.encode()).encrypt(
        nonce.encode(), json.dumps(resource or _resource()).encode(), b"transaction"
    )
    body = json.dumps(
        {
            "id": "EV-2026120300000001",
            "create_time": "2026-12-03T10:00:00+08:00",
            "resource_type": "encrypt-resource",
            "event_type": "TRANSACTION.SUCCESS",
            "summary": "paid",
            "resource": {
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": base64.b64encode(sealed).decode(),
                "associated_data": "transaction",
                "nonce": nonce,
                "original_type": "transaction",
            },
        }
    )
    stamp, header_nonce = str(int(time.time())), secrets.token_hex(16)
    message = f"{stamp}\n{header_nonce}\n{body}\n".encode()
    signature = signing_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    headers = {
        "Wechatpay-Timestamp": stamp,
        "Wechatpay-Nonce": header_nonce,
        "Wechatpay-Signature": base64.b64encode(signature).decode(),
        "Wechatpay-Serial": key_id,
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
    }
    return headers, body.encode()


def test_a_notice_signed_with_the_platform_key_parses(wechat, keys):
    headers, body = _notice(keys["provider"].private)
    notice = wechat.parse_notice(headers, body)
    assert notice.provider == "wechat"
    assert notice.notice_id == "EV-2026120300000001"
    assert notice.reference == "P261203ABCDEF0123456789"
    assert notice.transaction_id == "4200000000202612030000000001"
    assert (notice.amount_cents, notice.currency, notice.status) == (
        12_900,
        "CNY",
        NoticeStatus.PAID,
    )


def test_header_names_in_any_case_are_read(wechat, keys):
    headers, body = _notice(keys["provider"].private)
    lower = {name.lower(): value for name, value in headers.items()}
    assert wechat.parse_notice(lower, body).amount_cents == 12_900


def test_a_tampered_body_is_refused(wechat, keys):
    headers, body = _notice(keys["provider"].private)
    tampered = body.replace(b"EV-2026120300000001", b"EV-2026120300000002")
    with pytest.raises(NoticeSignatureInvalid):
        wechat.parse_notice(headers, tampered)


def test_a_notice_signed_with_another_key_is_refused(wechat, keys):
    headers, body = _notice(keys["impostor"].private)
    with pytest.raises(NoticeSignatureInvalid):
        wechat.parse_notice(headers, body)


def test_a_notice_naming_another_key_is_refused_without_fetching_certificates(wechat, keys):
    # The library would download platform certificates for an unknown serial; the adapter
    # refuses first (the no_network fixture fails the test if anything is fetched).
    headers, body = _notice(keys["provider"].private, key_id="PUB_KEY_ID_SOMEONE_ELSE")
    with pytest.raises(NoticeSignatureInvalid):
        wechat.parse_notice(headers, body)


def test_a_resource_sealed_with_another_api_key_is_refused(wechat, keys):
    headers, body = _notice(keys["provider"].private, apiv3_key="f" * 32)
    with pytest.raises(NoticeSignatureInvalid):
        wechat.parse_notice(headers, body)


def test_a_notice_without_signature_headers_is_refused(wechat, keys):
    _, body = _notice(keys["provider"].private)
    with pytest.raises(NoticeSignatureInvalid):
        wechat.parse_notice({}, body)


def test_a_signed_notice_of_an_unknown_trade_state_is_malformed(wechat, keys):
    headers, body = _notice(keys["provider"].private, resource=_resource(trade_state="ODD"))
    with pytest.raises(MalformedNotice):
        wechat.parse_notice(headers, body)


def test_a_closed_trade_is_a_decline(wechat, keys):
    resource = _resource(trade_state="CLOSED")
    del resource["transaction_id"]
    headers, body = _notice(keys["provider"].private, resource=resource)
    notice = wechat.parse_notice(headers, body)
    assert (notice.status, notice.transaction_id) == (NoticeStatus.DECLINED, "")


def test_starting_inside_wechat_gives_client_parameters_signed_with_the_merchant_key(
    wechat, keys, monkeypatch
):
    asked = {}

    def pay(**kwargs):
        asked.update(kwargs)
        return 200, json.dumps({"prepay_id": "wx03100000000000000000000000000001"})

    monkeypatch.setattr(wechat._client, "pay", pay)
    started = wechat.start(
        StartRequest(
            reference="P261203ABCDEF0123456789",
            amount_cents=12_900,
            currency="CNY",
            description="Tee black M",
            notify_url="https://portal.test/pay/notify/wechat",
            payer_id="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        )
    )
    assert asked["amount"] == {"total": 12_900, "currency": "CNY"}
    assert asked["payer"] == {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}
    params = started.client_params
    assert params["package"] == "prepay_id=wx03100000000000000000000000000001"
    signed = "\n".join(
        [params["appId"], params["timeStamp"], params["nonceStr"], params["package"], ""]
    )
    public_key = load_pem_public_key(keys["merchant"].public_pem.encode())
    public_key.verify(  # type: ignore[union-attr]
        base64.b64decode(params["paySign"]), signed.encode(), padding.PKCS1v15(), hashes.SHA256()
    )


def test_a_provider_error_on_start_is_unavailable(wechat, monkeypatch):
    monkeypatch.setattr(wechat._client, "pay", lambda **kw: (500, '{"code": "SYSTEM_ERROR"}'))
    with pytest.raises(ProviderUnavailable):
        wechat.start(
            StartRequest(
                reference="P1",
                amount_cents=1,
                currency="CNY",
                description="x",
                notify_url="https://portal.test/n",
                payer_id="o",
            )
        )
