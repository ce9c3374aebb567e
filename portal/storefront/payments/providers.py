"""Which provider a brand pays through, built from configuration (config.py, PAYMENT_*,
WECHATPAY_*, ALIPAY_*). Providers are cheap to build, so each call builds one from the settings
in force."""

from __future__ import annotations

import os

from flask import current_app

from portal.storefront.payments.base import PaymentProvider, ProviderName
from portal.storefront.payments.errors import ProviderNotConfigured

WECHAT_SETTINGS = (
    "WECHATPAY_MCHID",
    "WECHATPAY_APPID",
    "WECHATPAY_CERT_SERIAL_NO",
    "WECHATPAY_PRIVATE_KEY",
    "WECHATPAY_APIV3_KEY",
    "WECHATPAY_PUBLIC_KEY",
    "WECHATPAY_PUBLIC_KEY_ID",
)
ALIPAY_SETTINGS = ("ALIPAY_APPID", "ALIPAY_APP_PRIVATE_KEY", "ALIPAY_PUBLIC_KEY")


def provider_name_for(brand_code: str) -> str:
    """PAYMENT_PROVIDER_BY_BRAND ("ACME=wechat,LUMI=alipay") for the brand, else
    PAYMENT_PROVIDER."""
    config = current_app.config
    chosen = {}
    for part in str(config.get("PAYMENT_PROVIDER_BY_BRAND") or "").split(","):
        if "=" in part:
            code, name = part.split("=", 1)
            chosen[code.strip()] = name.strip()
    name = chosen.get(brand_code) or str(config["PAYMENT_PROVIDER"])
    if name not in tuple(ProviderName):
        raise ProviderNotConfigured(f"payment provider {name!r}: use test, wechat or alipay")
    return name


def provider_for(brand_code: str) -> PaymentProvider:
    return provider_named(provider_name_for(brand_code))


def provider_named(name: str) -> PaymentProvider:
    """The provider of that name, as configured. A notice is checked by the provider its payment
    was made with, whatever the brand's choice is now."""
    config = current_app.config
    timeout = int(config["PAYMENT_HTTP_TIMEOUT"])
    if name == ProviderName.TEST:
        from portal.storefront.payments.gateway import PAGE_PATH, TestGateway

        secret = str(config["PAYMENT_TEST_SECRET"])
        # The embedded secret is public: in production anyone could sign a "paid" notice.
        if config.get("PORTAL_ENV") == "production" and secret.startswith("dev-only"):
            raise ProviderNotConfigured("the test gateway needs PAYMENT_TEST_SECRET in production")
        page_url = str(config["PUBLIC_BASE_URL"]).rstrip("/") + PAGE_PATH
        return TestGateway(secret, page_url)
    if name == ProviderName.WECHAT:
        from portal.storefront.payments.wechat import WeChatPayProvider

        _require(WECHAT_SETTINGS)
        return WeChatPayProvider(
            mchid=config["WECHATPAY_MCHID"],
            appid=config["WECHATPAY_APPID"],
            cert_serial_no=config["WECHATPAY_CERT_SERIAL_NO"],
            private_key=_pem(config["WECHATPAY_PRIVATE_KEY"]),
            apiv3_key=config["WECHATPAY_APIV3_KEY"],
            public_key=_pem(config["WECHATPAY_PUBLIC_KEY"]),
            public_key_id=config["WECHATPAY_PUBLIC_KEY_ID"],
            pay_type=config["WECHATPAY_PAY_TYPE"],
            timeout=timeout,
            profit_sharing=bool(config.get("WECHATPAY_PROFIT_SHARING")),
        )
    if name == ProviderName.ALIPAY:
        from portal.storefront.payments.alipay import AlipayProvider

        _require(ALIPAY_SETTINGS)
        return AlipayProvider(
            appid=config["ALIPAY_APPID"],
            app_private_key=_pem(config["ALIPAY_APP_PRIVATE_KEY"]),
            alipay_public_key=_pem(config["ALIPAY_PUBLIC_KEY"]),
            sandbox=bool(config["ALIPAY_SANDBOX"]),
            pay_method=config["ALIPAY_PAY_METHOD"],
            timeout=timeout,
        )
    raise ProviderNotConfigured(f"unknown payment provider {name!r}")


def _require(names: tuple[str, ...]) -> None:
    missing = [name for name in names if not current_app.config.get(name)]
    if missing:
        raise ProviderNotConfigured(f"payment settings missing: {', '.join(missing)}")


def _pem(value: str) -> str:
    """A key given as PEM text, or as the path of a file holding it."""
    if value and not value.lstrip().startswith("-----") and os.path.isfile(value):
        with open(value, encoding="utf-8") as handle:
            return handle.read()
    return value
