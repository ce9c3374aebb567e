"""Which provider a brand pays through is configuration, and a provider without its settings (or
the test gateway with the public development secret in production) is refused at once."""

from __future__ import annotations

import pytest

from portal.storefront.payments.alipay import AlipayProvider
from portal.storefront.payments.errors import ProviderNotConfigured
from portal.storefront.payments.gateway import TestGateway
from portal.storefront.payments.providers import provider_for, provider_name_for, provider_named
from portal.storefront.payments.wechat import WeChatPayProvider


@pytest.fixture
def config(app, monkeypatch):
    """Settings changed for this test only."""

    def set_(**values):
        for name, value in values.items():
            monkeypatch.setitem(app.config, name, value)

    return set_


def test_every_brand_uses_the_test_gateway_by_default(app):
    assert provider_name_for("ACME") == "test"
    gateway = provider_for("ACME")
    assert isinstance(gateway, TestGateway)


def test_a_brand_can_be_given_its_own_provider(config, keys):
    config(
        PAYMENT_PROVIDER_BY_BRAND="ACME=alipay, LUMI=wechat",
        ALIPAY_APPID="2021000000000001",
        ALIPAY_APP_PRIVATE_KEY=keys["merchant"].private_pem,
        ALIPAY_PUBLIC_KEY=keys["provider"].public_pem,
    )
    assert (provider_name_for("ACME"), provider_name_for("LUMI")) == ("alipay", "wechat")
    assert provider_name_for("OTHER") == "test"
    assert isinstance(provider_for("ACME"), AlipayProvider)


def test_wechat_pay_is_built_from_its_settings_without_the_network(config, keys, tmp_path):
    key_file = tmp_path / "apiclient_key.pem"
    key_file.write_text(keys["merchant"].private_pem)
    config(
        WECHATPAY_MCHID="1900000001",
        WECHATPAY_APPID="wx0000000000000001",
        WECHATPAY_CERT_SERIAL_NO="5157F09EFDC096DE",
        WECHATPAY_PRIVATE_KEY=str(key_file),  # a path works as well as the PEM text
        WECHATPAY_APIV3_KEY="0123456789abcdef0123456789abcdef",
        WECHATPAY_PUBLIC_KEY=keys["provider"].public_pem,
        WECHATPAY_PUBLIC_KEY_ID="PUB_KEY_ID_0000000000TEST",
    )
    assert isinstance(provider_named("wechat"), WeChatPayProvider)


def test_a_provider_without_its_settings_is_refused(app):
    with pytest.raises(ProviderNotConfigured, match="WECHATPAY_MCHID"):
        provider_named("wechat")
    with pytest.raises(ProviderNotConfigured, match="ALIPAY_APPID"):
        provider_named("alipay")


def test_an_unknown_provider_is_refused(config):
    config(PAYMENT_PROVIDER="paypal")
    with pytest.raises(ProviderNotConfigured):
        provider_name_for("ACME")


def test_production_refuses_the_test_gateway_with_the_development_secret(config):
    config(PORTAL_ENV="production")
    with pytest.raises(ProviderNotConfigured, match="PAYMENT_TEST_SECRET"):
        provider_named("test")
    config(PAYMENT_TEST_SECRET="a-secret-of-this-installation")
    assert isinstance(provider_named("test"), TestGateway)
