"""Provider profit sharing (分账) behind the payment interface: the test gateway simulates it, the
WeChat Pay and Alipay adapters build their providers' requests signed with our key (checked here
with keys made on the spot, nothing reaches the network), and a completed consumer order sends
its stores' shares to the receivers they named."""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from requests.structures import CaseInsensitiveDict
from sqlalchemy import select

from portal.core import jobs
from portal.core.jobs import JobRun
from portal.extensions import db
from portal.finance.models import Account, AccountEntry
from portal.guides import split
from portal.storefront import orders
from portal.storefront.checkout import CheckoutLine, checkout
from portal.storefront.models import Fulfilment, Tier
from portal.storefront.payments import gateway as gateway_module
from portal.storefront.payments.alipay import AlipayProvider
from portal.storefront.payments.base import (
    ShareReceiver,
    ShareRequest,
    ShareState,
    StartRequest,
)
from portal.storefront.payments.errors import ProviderUnavailable
from portal.storefront.payments.wechat import WeChatPayProvider
from portal.storefront.store_shop_models import StoreShop
from tests.storefront.conftest import KeyPair
from tests.support.consumer_orders import pay_by_notice
from tests.support.retail import build_retail_shop

APIV3_KEY = "0123456789abcdef0123456789abcdef"
KEY_ID = "PUB_KEY_ID_0000000000TEST"
MCHID = "1900000001"


def share_request(**changes: Any) -> ShareRequest:
    values: dict[str, Any] = dict(
        reference="SSO2612030001",
        payment_reference="P261203ABCDEF0123456789",
        transaction_id="4200000000202612030000000001",
        receivers=(
            ShareReceiver("1900000109", 39_324, "SO2612030001 fulfilling store"),
            ShareReceiver("openid:oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", 238, "guide"),
        ),
    )
    values.update(changes)
    return ShareRequest(**values)


def verify(key: KeyPair, message: bytes, signature_b64: str) -> None:
    """Raises unless `signature_b64` is `key`'s RSA-SHA256 signature of `message`."""
    public = load_pem_public_key(key.public_pem.encode())
    public.verify(  # type: ignore[union-attr]
        base64.b64decode(signature_b64), message, padding.PKCS1v15(), hashes.SHA256()
    )


# -- the test gateway ---------------------------------------------------------------------------


def test_the_gateway_shares_at_once_and_keeps_the_request(gateway, monkeypatch):
    monkeypatch.setattr(gateway_module, "SHARED", [])
    request = share_request()
    result = gateway.share_profit(request)
    assert result.state == ShareState.DONE
    assert result.provider_share_id == gateway.share_id_for(request)
    assert [request] == gateway_module.SHARED
    gateway.share_profit(request)  # asked again with the same reference: kept once
    assert [request] == gateway_module.SHARED


def test_the_gateway_share_id_is_signed_over_the_amounts(gateway):
    request = share_request()
    other = share_request(receivers=(ShareReceiver("1900000109", 1, "x"),))
    assert gateway.share_id_for(request) != gateway.share_id_for(other)
    assert gateway.share_id_for(request).startswith("TS")


def test_the_gateway_refuses_a_receiver_without_amount_or_account(gateway, monkeypatch):
    monkeypatch.setattr(gateway_module, "SHARED", [])
    for receivers in ((), (ShareReceiver("", 5, "x"),), (ShareReceiver("A", 0, "x"),)):
        result = gateway.share_profit(share_request(receivers=receivers))
        assert result.state == ShareState.FAILED
    assert gateway_module.SHARED == []


# -- WeChat Pay ---------------------------------------------------------------------------------


@pytest.fixture
def wechat(keys) -> WeChatPayProvider:
    return WeChatPayProvider(
        mchid=MCHID,
        appid="wx0000000000000001",
        cert_serial_no="5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        private_key=keys["merchant"].private_pem,
        apiv3_key=APIV3_KEY,
        public_key=keys["provider"].public_pem,
        public_key_id=KEY_ID,
        profit_sharing=True,
    )


def wechat_answers(monkeypatch, provider_key: KeyPair, status: int, answer: dict) -> list[dict]:
    """WeChat Pay's server, in the process: records each request and answers `answer`, signed
    with the platform key as WeChat signs its answers."""
    sent: list[dict] = []

    def request(self, method, url, **kwargs):
        sent.append({"method": method, "url": url, **kwargs})
        body = json.dumps(answer)
        stamp, nonce = str(int(time.time())), secrets.token_hex(16)
        signature = provider_key.private.sign(
            f"{stamp}\n{nonce}\n{body}\n".encode(), padding.PKCS1v15(), hashes.SHA256()
        )
        response = requests.Response()
        response.status_code = status
        response._content = body.encode()
        response.headers = CaseInsensitiveDict(
            {
                "Content-Type": "application/json",
                "Wechatpay-Timestamp": stamp,
                "Wechatpay-Nonce": nonce,
                "Wechatpay-Signature": base64.b64encode(signature).decode(),
                "Wechatpay-Serial": KEY_ID,
                "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
            }
        )
        return response

    monkeypatch.setattr(requests.Session, "request", request)
    return sent


def test_wechat_profit_sharing_posts_the_order_signed_with_our_key(wechat, keys, monkeypatch):
    sent = wechat_answers(
        monkeypatch,
        keys["provider"],
        200,
        {"order_id": "3008450740201411110007820472", "state": "PROCESSING"},  # fmt: skip
    )
    result = wechat.share_profit(share_request())
    assert (result.state, result.provider_share_id) == (
        ShareState.PROCESSING,
        "3008450740201411110007820472",
    )
    [call] = sent
    assert call["method"].upper() == "POST"
    assert call["url"] == "https://api.mch.weixin.qq.com/v3/profitsharing/orders"
    body = call["json"]
    assert body["transaction_id"] == "4200000000202612030000000001"
    assert body["out_order_no"] == "SSO2612030001"
    assert body["unfreeze_unsplit"] is True
    assert body["receivers"] == [
        {
            "type": "MERCHANT_ID",
            "account": "1900000109",
            "amount": 39_324,
            "description": "SO2612030001 fulfilling store",
        },
        {"type": "PERSONAL_OPENID", "account": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "amount": 238,
         "description": "guide"},
    ]  # fmt: skip
    # The Authorization header: our merchant key's signature over method, path, time, nonce, body
    authorization = call["headers"]["Authorization"]
    assert authorization.startswith(f'WECHATPAY2-SHA256-RSA2048 mchid="{MCHID}"')
    parts = dict(part.split("=", 1) for part in authorization.split(" ", 1)[1].split(","))
    values = {k: v.strip('"') for k, v in parts.items()}
    message = (
        f"POST\n/v3/profitsharing/orders\n{values['timestamp']}\n{values['nonce_str']}\n"
        f"{json.dumps(body)}\n"
    )
    verify(keys["merchant"], message.encode(), values["signature"])


def test_wechat_profit_sharing_finished_is_done(wechat, keys, monkeypatch):
    wechat_answers(monkeypatch, keys["provider"], 200, {"order_id": "30084", "state": "FINISHED"})
    assert wechat.share_profit(share_request()).state == ShareState.DONE


def test_wechat_refusing_the_share_is_a_failure_not_a_retry(wechat, keys, monkeypatch):
    wechat_answers(
        monkeypatch, keys["provider"], 400, {"code": "INVALID_REQUEST", "message": "分账比例超限"}
    )
    result = wechat.share_profit(share_request())
    assert (result.state, result.message) == (ShareState.FAILED, "分账比例超限")


def test_wechat_down_is_unavailable(wechat, keys, monkeypatch):
    wechat_answers(monkeypatch, keys["provider"], 503, {"code": "SYSTEM_ERROR"})
    with pytest.raises(ProviderUnavailable):
        wechat.share_profit(share_request())


def test_wechat_payments_are_made_shareable_when_profit_sharing_is_on(wechat, monkeypatch):
    asked = {}

    def pay(**kwargs):
        asked.update(kwargs)
        return 200, json.dumps({"prepay_id": "wx03100000000000000000000000000001"})

    monkeypatch.setattr(wechat._client, "pay", pay)
    wechat.start(
        StartRequest(
            reference="P1",
            amount_cents=100,
            currency="CNY",
            description="Tee",
            notify_url="https://portal.test/n",
            payer_id="openid-1",
        )
    )
    assert asked["settle_info"] == {"profit_sharing": True}


# -- Alipay -------------------------------------------------------------------------------------


@pytest.fixture
def alipay_provider(keys) -> AlipayProvider:
    return AlipayProvider(
        appid="2021000000000001",
        app_private_key=keys["merchant"].private_pem,
        alipay_public_key=keys["provider"].public_pem,
    )


def alipay_answers(monkeypatch, provider_key: KeyPair, answer: dict) -> list[str]:
    """Alipay's gateway, in the process: records each address asked and answers `answer`,
    signed with Alipay's key over the response object as Alipay signs it."""
    import alipay

    asked: list[str] = []

    class Answer:
        def __init__(self, raw: str) -> None:
            self._raw = raw

        def read(self) -> bytes:
            return self._raw.encode()

    def urlopen(url, timeout=None):
        asked.append(url)
        inner = json.dumps(answer, ensure_ascii=False)
        signature = provider_key.private.sign(inner.encode(), padding.PKCS1v15(), hashes.SHA256())
        raw = (
            f'{{"alipay_trade_order_settle_response":{inner},'
            f'"sign":"{base64.b64encode(signature).decode()}"}}'
        )
        return Answer(raw)

    monkeypatch.setattr(alipay, "urlopen", urlopen)
    return asked


def test_alipay_settle_asks_for_the_royalties_signed_with_our_key(
    alipay_provider, keys, monkeypatch
):
    asked = alipay_answers(
        monkeypatch,
        keys["provider"],
        {"code": "10000", "msg": "Success", "trade_no": "2026120322001", "settle_no": "ST-1"},
    )
    request = share_request(
        receivers=(
            ShareReceiver("2088101126765726", 39_324, "fulfilling store"),
            ShareReceiver("store@example.com", 238, "guide"),
        )
    )
    result = alipay_provider.share_profit(request)
    assert (result.state, result.provider_share_id) == (ShareState.DONE, "ST-1")
    [url] = asked
    fields = dict(parse_qsl(urlsplit(url).query))
    assert fields["method"] == "alipay.trade.order.settle"
    biz = json.loads(fields["biz_content"])
    assert biz["out_request_no"] == "SSO2612030001"
    assert biz["trade_no"] == "4200000000202612030000000001"
    assert biz["royalty_parameters"] == [
        {"royalty_type": "transfer", "trans_in_type": "userId", "trans_in": "2088101126765726",
         "amount": "393.24", "desc": "fulfilling store"},
        {"royalty_type": "transfer", "trans_in_type": "loginName",
         "trans_in": "store@example.com", "amount": "2.38", "desc": "guide"},
    ]  # fmt: skip
    signature = fields.pop("sign")
    signed = "&".join(f"{k}={v}" for k, v in sorted(fields.items()))
    verify(keys["merchant"], signed.encode(), signature)


def test_alipay_refusing_the_settle_is_a_failure(alipay_provider, keys, monkeypatch):
    alipay_answers(
        monkeypatch,
        keys["provider"],
        {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_SETTLE_ERROR",
         "sub_msg": "分账金额超过最大可分账金额"},
    )  # fmt: skip
    result = alipay_provider.share_profit(share_request())
    assert (result.state, result.message) == (ShareState.FAILED, "分账金额超过最大可分账金额")


def test_alipay_system_error_is_unavailable(alipay_provider, keys, monkeypatch):
    alipay_answers(
        monkeypatch,
        keys["provider"],
        {"code": "20000", "msg": "Service Currently Unavailable", "sub_code": "ACQ.SYSTEM_ERROR"},
    )
    with pytest.raises(ProviderUnavailable):
        alipay_provider.share_profit(share_request())


# -- a completed order's shares -------------------------------------------------------------------


@pytest.fixture
def shop(app, monkeypatch):
    monkeypatch.setattr(gateway_module, "SHARED", [])
    return build_retail_shop("PS")


def receiver(shop, short: str, account: str) -> None:
    db.session.add(
        StoreShop(
            brand_id=shop.brand.id,
            org_id=shop.net.org_id(short),
            location_id=shop.locations[short].id,
            profit_share_account=account,
        )
    )
    db.session.flush()


def collected_order(shop):
    consumer = shop.consumer()
    order = checkout(
        consumer,
        shop.brand,
        Tier.OFFICIAL,
        [CheckoutLine(shop.variant_id("TEE-BLK-M"), 2)],
        fulfilment=Fulfilment.PICKUP,
        checkout_token=f"t-{consumer.id}",
        pickup_location_id=shop.locations["LJ"].id,
    )
    pay_by_notice(order)
    staff = shop.staff("LJ")
    orders.accept(staff, order)
    orders.mark_ready(staff, order)
    orders.hand_over(staff, order, order.pickup_code)
    return order


def test_a_collected_order_sends_the_stores_share_to_its_receiver(shop):
    receiver(shop, "LJ", "1900000109")
    order = collected_order(shop)
    jobs.commit()  # the job runs after the commit (inline here)
    [sent] = gateway_module.SHARED
    store_share = split.split_of(order)["fulfilling_store"]
    assert sent.reference == f"S{order.number}"
    assert [(r.account, r.amount_cents) for r in sent.receivers] == [("1900000109", store_share)]
    run = db.session.execute(select(JobRun).where(JobRun.name.like("%share_profits"))).scalar_one()
    assert run.status == "finished"
    # Paid one way only: the credit on the store's account is taken back by what was sent.
    link = split.store_link(shop.brand.id, shop.net.org_id("LJ"))
    posted = db.session.execute(
        select(AccountEntry.reference, AccountEntry.amount_cents)
        .join(Account, Account.id == AccountEntry.account_id)
        .where(Account.link_id == link.id)
        .order_by(AccountEntry.id)
    ).all()
    assert [(ref.rsplit(":", 1)[-1], cents) for ref, cents in posted] == [
        ("paid", -store_share),
        ("shared", store_share),
    ]


def test_a_store_without_a_receiver_account_is_not_shared(shop):
    collected_order(shop)
    jobs.commit()
    assert gateway_module.SHARED == []
    assert (
        db.session.execute(
            select(JobRun).where(JobRun.name.like("%share_profits"))
        ).scalar_one_or_none()
        is None
    )


def test_sharing_again_asks_with_the_same_reference(shop):
    receiver(shop, "LJ", "1900000109")
    order = collected_order(shop)
    first = split.share_with_provider(order)
    second = split.share_with_provider(order)
    assert first["share_id"] == second["share_id"] and first["done"]
    assert len(gateway_module.SHARED) == 1
