"""Configuration: every value comes from the environment, with embedded defaults.

PORTAL_ENV picks the class: development (default), production or testing.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def normalize_database_url(url: str) -> str:
    """Accept the usual postgres:// spellings and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Config:
    PORTAL_ENV = "development"
    SECRET_KEY = os.environ.get("SECRET_KEY") or "dev-only-not-secret"
    SQLALCHEMY_DATABASE_URI = normalize_database_url(
        os.environ.get("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'portal.db'}"
    )
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    # No REDIS_URL means the embedded default: jobs run inline, limits are kept in memory.
    REDIS_URL = os.environ.get("REDIS_URL") or None

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    MAX_CONTENT_LENGTH = _int("MAX_CONTENT_LENGTH", 32 * 1024 * 1024)
    # JSON bodies: larger is 413, deeper nesting 422 (portal/core/inputs.py).
    MAX_JSON_BYTES = _int("MAX_JSON_BYTES", 2 * 1024 * 1024)
    MAX_JSON_DEPTH = _int("MAX_JSON_DEPTH", 32)
    # Uploaded spreadsheets (catalog import, stock upload, cart file; portal/core/spreadsheets.py),
    # checked before they are parsed and while they are read. Rows count below the header. An
    # XLSX's parts together may unpack to UPLOAD_MAX_UNCOMPRESSED_BYTES, a part over 1 MB packed
    # at most UPLOAD_MAX_COMPRESSION_RATIO to 1. The cart file is parsed in the web request, so
    # it is held to the smaller UPLOAD_IN_REQUEST_* caps too; the others are parsed by a job.
    UPLOAD_MAX_BYTES = _int("UPLOAD_MAX_BYTES", 200 * 1024 * 1024)
    UPLOAD_MAX_ROWS = _int("UPLOAD_MAX_ROWS", 1_000_000)
    UPLOAD_MAX_COLUMNS = _int("UPLOAD_MAX_COLUMNS", 50)
    UPLOAD_MAX_CELL_CHARS = _int("UPLOAD_MAX_CELL_CHARS", 32_767)
    UPLOAD_MAX_UNCOMPRESSED_BYTES = _int("UPLOAD_MAX_UNCOMPRESSED_BYTES", 1024 * 1024 * 1024)
    UPLOAD_MAX_COMPRESSION_RATIO = _int("UPLOAD_MAX_COMPRESSION_RATIO", 100)
    UPLOAD_IN_REQUEST_MAX_BYTES = _int("UPLOAD_IN_REQUEST_MAX_BYTES", 256 * 1024)
    UPLOAD_IN_REQUEST_MAX_ROWS = _int("UPLOAD_IN_REQUEST_MAX_ROWS", 2_000)

    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session

    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = os.environ.get("PORTAL_TIMEZONE", "Asia/Shanghai")
    LANGUAGES = ("en", "zh_Hans_CN")

    # Sign-in throttle (portal/auth/throttle.py): failed sign-ins allowed without delay per
    # account from one address, per account from all addresses not known to it, and per address
    # over all accounts; then the first delay, doubling with each failure up to the maximum.
    # Counts start over after LOGIN_FAILURE_MEMORY_HOURS without a failure.
    LOGIN_FREE_FAILURES = _int("LOGIN_FREE_FAILURES", 5)
    LOGIN_FREE_FAILURES_PER_ACCOUNT = _int("LOGIN_FREE_FAILURES_PER_ACCOUNT", 20)
    LOGIN_FREE_FAILURES_PER_ADDRESS = _int("LOGIN_FREE_FAILURES_PER_ADDRESS", 50)
    LOGIN_DELAY_SECONDS = _int("LOGIN_DELAY_SECONDS", 2)
    LOGIN_MAX_DELAY_SECONDS = _int("LOGIN_MAX_DELAY_SECONDS", 900)
    LOGIN_FAILURE_MEMORY_HOURS = _int("LOGIN_FAILURE_MEMORY_HOURS", 24)
    # How long a browser stays "known" for an account it signed in to (never delayed by others).
    LOGIN_KNOWN_DEVICE_DAYS = _int("LOGIN_KNOWN_DEVICE_DAYS", 180)
    # A browser session unused this long ends (sessions also end at logout, password change and
    # suspension).
    SESSION_IDLE_DAYS = _int("SESSION_IDLE_DAYS", 14)

    INVITATION_MAX_AGE_HOURS = _int("INVITATION_MAX_AGE_HOURS", 72)
    API_TOKEN_TTL_HOURS = _int("API_TOKEN_TTL_HOURS", 12)

    # "log" writes outgoing mail to the application log (development); "smtp" is not built yet.
    MAIL_BACKEND = os.environ.get("MAIL_BACKEND", "log")
    MAIL_SENDER = os.environ.get("MAIL_SENDER", "portal@localhost")
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000")

    # Jobs, per queue: seconds a job may run before RQ stops it, and automatic retries after a
    # failure, waiting JOB_RETRY_INTERVALS seconds between attempts (the last one repeats).
    JOB_TIMEOUT_DEFAULT = _int("JOB_TIMEOUT_DEFAULT", 600)
    JOB_TIMEOUT_PUSH = _int("JOB_TIMEOUT_PUSH", 600)
    JOB_TIMEOUT_REPLENISHMENT = _int("JOB_TIMEOUT_REPLENISHMENT", 3600)
    JOB_TIMEOUT_REPORTS = _int("JOB_TIMEOUT_REPORTS", 3600)
    JOB_RETRIES_DEFAULT = _int("JOB_RETRIES_DEFAULT", 3)
    JOB_RETRIES_PUSH = _int("JOB_RETRIES_PUSH", 3)
    JOB_RETRIES_REPLENISHMENT = _int("JOB_RETRIES_REPLENISHMENT", 2)
    JOB_RETRIES_REPORTS = _int("JOB_RETRIES_REPORTS", 1)
    JOB_RETRY_INTERVALS = os.environ.get("JOB_RETRY_INTERVALS", "10,60,300")
    JOB_RETRY_INTERVALS_DEFAULT = os.environ.get("JOB_RETRY_INTERVALS_DEFAULT", "")
    JOB_RETRY_INTERVALS_PUSH = os.environ.get("JOB_RETRY_INTERVALS_PUSH", "")
    JOB_RETRY_INTERVALS_REPLENISHMENT = os.environ.get("JOB_RETRY_INTERVALS_REPLENISHMENT", "")
    JOB_RETRY_INTERVALS_REPORTS = os.environ.get("JOB_RETRY_INTERVALS_REPORTS", "")
    JOB_RESULT_TTL = _int("JOB_RESULT_TTL", 7 * 24 * 3600)
    # A running job beats every JOB_HEARTBEAT_SECONDS; one silent for JOB_STALE_SECONDS lost its
    # worker and is taken over by the recovery entry (every JOB_RECOVERY_SECONDS), at most
    # JOB_MAX_TAKEOVERS times beyond its retries. Defaults notice a dead worker within 2 minutes.
    JOB_HEARTBEAT_SECONDS = _int("JOB_HEARTBEAT_SECONDS", 10)
    JOB_STALE_SECONDS = _int("JOB_STALE_SECONDS", 45)
    JOB_RECOVERY_SECONDS = _int("JOB_RECOVERY_SECONDS", 30)
    JOB_MAX_TAKEOVERS = _int("JOB_MAX_TAKEOVERS", 3)
    # The outbox relay: a queued run Redis has not held for this long is handed to it again.
    JOB_REDISPATCH_SECONDS = _int("JOB_REDISPATCH_SECONDS", 15)
    # The scheduler looks at the periodic list (and relays the outbox) every tick; intervals of
    # single entries can be changed with "name=seconds,name=seconds" (tests, quiet installations).
    SCHEDULER_TICK_SECONDS = float(os.environ.get("SCHEDULER_TICK_SECONDS") or 1)
    SCHEDULE_INTERVALS = os.environ.get("SCHEDULE_INTERVALS", "")
    # Seconds to wait for Redis before treating it as down (pages then show what the database has).
    REDIS_TIMEOUT = _int("REDIS_TIMEOUT", 5)
    # /metrics answers loopback callers, and others that send this bearer token.
    METRICS_TOKEN = os.environ.get("METRICS_TOKEN") or None
    # Replenishment: locations computed per statement, and a pause between locations (keeps a
    # network-wide run from crowding out orders at peak; tests use it to stop a run mid-way).
    REPLENISHMENT_BATCH = _int("REPLENISHMENT_BATCH", 200)
    REPLENISHMENT_PAUSE_MS = _int("REPLENISHMENT_PAUSE_MS", 0)

    # Consumer payments (portal/storefront/payments): the provider every brand pays through (test,
    # wechat or alipay), and "CODE=provider,CODE=provider" for brands that use another one. The
    # test gateway signs its callbacks with PAYMENT_TEST_SECRET; the embedded one is public, so
    # production refuses it. Keys are PEM text or the path of a PEM file. Provider calls give up
    # after PAYMENT_HTTP_TIMEOUT seconds.
    PAYMENT_PROVIDER = os.environ.get("PAYMENT_PROVIDER") or "test"
    PAYMENT_PROVIDER_BY_BRAND = os.environ.get("PAYMENT_PROVIDER_BY_BRAND", "")
    PAYMENT_TEST_SECRET = os.environ.get("PAYMENT_TEST_SECRET") or "dev-only-test-gateway-secret"
    PAYMENT_HTTP_TIMEOUT = _int("PAYMENT_HTTP_TIMEOUT", 10)
    # WeChat Pay API v3: merchant id, app id, the merchant API certificate's serial number and
    # private key, the API v3 key, and WeChat Pay's public key with its id (which verifies
    # callbacks without downloading platform certificates). Pay type: jsapi (inside WeChat),
    # miniprog, h5, native (QR code) or app.
    WECHATPAY_MCHID = os.environ.get("WECHATPAY_MCHID", "")
    WECHATPAY_APPID = os.environ.get("WECHATPAY_APPID", "")
    WECHATPAY_CERT_SERIAL_NO = os.environ.get("WECHATPAY_CERT_SERIAL_NO", "")
    WECHATPAY_PRIVATE_KEY = os.environ.get("WECHATPAY_PRIVATE_KEY", "")
    WECHATPAY_APIV3_KEY = os.environ.get("WECHATPAY_APIV3_KEY", "")
    WECHATPAY_PUBLIC_KEY = os.environ.get("WECHATPAY_PUBLIC_KEY", "")
    WECHATPAY_PUBLIC_KEY_ID = os.environ.get("WECHATPAY_PUBLIC_KEY_ID", "")
    WECHATPAY_PAY_TYPE = os.environ.get("WECHATPAY_PAY_TYPE") or "jsapi"
    # Alipay: app id, our app's private key and Alipay's public key (RSA2). Pay method: wap
    # (phone browser), page (desktop) or app; ALIPAY_SANDBOX uses Alipay's sandbox gateway.
    ALIPAY_APPID = os.environ.get("ALIPAY_APPID", "")
    ALIPAY_APP_PRIVATE_KEY = os.environ.get("ALIPAY_APP_PRIVATE_KEY", "")
    ALIPAY_PUBLIC_KEY = os.environ.get("ALIPAY_PUBLIC_KEY", "")
    ALIPAY_PAY_METHOD = os.environ.get("ALIPAY_PAY_METHOD") or "wap"
    ALIPAY_SANDBOX = _bool("ALIPAY_SANDBOX", False)

    # Consumer sign-in (portal/storefront): SMS_BACKEND sends the one-time codes ("log" writes
    # them to the application log); SMS_SHOW_CODE also shows the code on the sign-in page (demo
    # only: off in production). A code lives SIGN_IN_CODE_TTL_SECONDS and allows
    # SIGN_IN_CODE_MAX_TRIES tries; a new one may be asked for after SIGN_IN_CODE_RESEND_SECONDS,
    # at most SIGN_IN_CODES_PER_PHONE_HOUR per number and SIGN_IN_CODES_PER_ADDRESS_HOUR per
    # client address in an hour. A consumer's browser session or API token lasts
    # CONSUMER_SESSION_DAYS.
    SMS_BACKEND = os.environ.get("SMS_BACKEND") or "log"
    SMS_SHOW_CODE = _bool("SMS_SHOW_CODE", True)
    SIGN_IN_CODE_TTL_SECONDS = _int("SIGN_IN_CODE_TTL_SECONDS", 300)
    SIGN_IN_CODE_MAX_TRIES = _int("SIGN_IN_CODE_MAX_TRIES", 5)
    SIGN_IN_CODE_RESEND_SECONDS = _int("SIGN_IN_CODE_RESEND_SECONDS", 60)
    SIGN_IN_CODES_PER_PHONE_HOUR = _int("SIGN_IN_CODES_PER_PHONE_HOUR", 5)
    SIGN_IN_CODES_PER_ADDRESS_HOUR = _int("SIGN_IN_CODES_PER_ADDRESS_HOUR", 20)
    CONSUMER_SESSION_DAYS = _int("CONSUMER_SESSION_DAYS", 30)
    # Sign-in with WeChat (portal/storefront/wechat_login.py): WECHAT_LOGIN_BACKEND is "" (off),
    # "test" (the built-in stand-in for the demo and the tests: a page plays WeChat's QR page;
    # refused in production) or "wechat" (WeChat's own API). The mini-program's app id and secret
    # exchange wx.login codes; the website app's (open platform) sign in by QR code. WeChat's
    # answers are awaited WECHAT_HTTP_TIMEOUT seconds. A WeChat user not yet linked to an account
    # proves their mobile number with a code within WECHAT_LINK_TICKET_SECONDS.
    WECHAT_LOGIN_BACKEND = os.environ.get("WECHAT_LOGIN_BACKEND", "")
    WECHAT_MINI_APPID = os.environ.get("WECHAT_MINI_APPID", "")
    WECHAT_MINI_SECRET = os.environ.get("WECHAT_MINI_SECRET", "")
    WECHAT_WEB_APPID = os.environ.get("WECHAT_WEB_APPID", "")
    WECHAT_WEB_SECRET = os.environ.get("WECHAT_WEB_SECRET", "")
    WECHAT_API_BASE = os.environ.get("WECHAT_API_BASE") or "https://api.weixin.qq.com"
    WECHAT_OPEN_BASE = os.environ.get("WECHAT_OPEN_BASE") or "https://open.weixin.qq.com"
    WECHAT_HTTP_TIMEOUT = _int("WECHAT_HTTP_TIMEOUT", 10)
    WECHAT_LINK_TICKET_SECONDS = _int("WECHAT_LINK_TICKET_SECONDS", 600)

    # Consumer orders (portal/storefront/orders.py): an order not paid within
    # CONSUMER_ORDER_PAY_MINUTES is cancelled and its units go back; a pickup order not collected
    # within PICKUP_UNCOLLECTED_DAYS of being ready is refunded; a paid order its store has not
    # accepted within ROUTE_ACCEPT_HOURS is passed to the next store.
    CONSUMER_ORDER_PAY_MINUTES = _int("CONSUMER_ORDER_PAY_MINUTES", 15)
    PICKUP_UNCOLLECTED_DAYS = _int("PICKUP_UNCOLLECTED_DAYS", 7)
    # Returns (portal/storefront/returns.py): days after completion a consumer may ask; the policy
    # has no return window of its own yet.
    CONSUMER_RETURN_DAYS = _int("CONSUMER_RETURN_DAYS", 7)
    ROUTE_ACCEPT_HOURS = _int("ROUTE_ACCEPT_HOURS", 4)
    # A paid pickup order its store has not accepted within this many hours is refunded.
    PICKUP_ACCEPT_HOURS = _int("PICKUP_ACCEPT_HOURS", 24)
    # Delivery routing: may an order that no single location can fill be split between several?
    ROUTING_ALLOW_SPLIT = _bool("ROUTING_ALLOW_SPLIT", False)
    # Same-city delivery (portal/storefront/couriers.py): a delivery order routed to a store
    # within SAME_CITY_MAX_KM of the address may go by courier, for SAME_CITY_FEE_CENTS (fen,
    # charged with the goods); farther ones go by parcel. COURIER_BACKEND names who sends the
    # courier: "manual" (store staff call one and type in who came) is the only built-in one.
    SAME_CITY_MAX_KM = float(os.environ.get("SAME_CITY_MAX_KM", "10"))
    SAME_CITY_FEE_CENTS = _int("SAME_CITY_FEE_CENTS", 0)
    COURIER_BACKEND = os.environ.get("COURIER_BACKEND", "manual")
    # Seconds each process keeps the product list an anonymous visitor sees (per brand, tier,
    # filters and page; a newly published price shows at once, other changes within this). 0: off.
    SHOP_LIST_CACHE_SECONDS = _int("SHOP_LIST_CACHE_SECONDS", 10)
    # A product page says "in stock at N stores near you": stores within this many km of the
    # consumer's default address or chosen city.
    NEAR_YOU_KM = float(os.environ.get("NEAR_YOU_KM", "20"))
    # The most a consumer may top up their wallet with at once (fen); the least is 1 yuan.
    WALLET_TOP_UP_MAX_CENTS = _int("WALLET_TOP_UP_MAX_CENTS", 500_000)
    # Stock webhooks reach only public addresses (storefront/webhooks.py); networks listed here
    # ("10.8.0.0/16,fd00::/8") may be reached too: a connector inside the company network.
    WEBHOOK_ALLOWED_NETWORKS = os.environ.get("WEBHOOK_ALLOWED_NETWORKS", "")
    # Shopping guides (portal/guides): a guide's shared link is refused after GUIDE_LINK_DAYS
    # (how long a link opened attributes is the brand's policy window, at most 30 days).
    GUIDE_LINK_DAYS = _int("GUIDE_LINK_DAYS", 30)
    # The payment provider's fee on a consumer order, in basis points of its amount (60 = 0.6%):
    # the split of each order's money (portal/guides/split.py) shows it as its own share.
    PAYMENT_FEE_BP = _int("PAYMENT_FEE_BP", 60)
    # WeChat Pay shares a payment's money with stores (分账) only if the payment was opened for it.
    WECHATPAY_PROFIT_SHARING = _bool("WECHATPAY_PROFIT_SHARING", False)
    # A font file with Chinese characters (e.g. Noto Sans CJK) for guides' PNG posters; without
    # one they show codes and prices only (the SVG poster uses the viewer's fonts).
    POSTER_FONT_PATH = os.environ.get("POSTER_FONT_PATH", "")

    # APIFlask / OpenAPI
    SYNC_LOCAL_SPEC = None
    INFO = {"description": "Channel portal API for ERP and POS integration."}
    VALIDATION_ERROR_STATUS_CODE = 422


class DevelopmentConfig(Config):
    DEBUG = False
    # The demo offers sign-in with WeChat through the built-in stand-in (a page plays WeChat's).
    WECHAT_LOGIN_BACKEND = os.environ.get("WECHAT_LOGIN_BACKEND", "test")


class TestingConfig(Config):
    PORTAL_ENV = "testing"
    TESTING = True
    WTF_CSRF_ENABLED = False
    SQLALCHEMY_DATABASE_URI = normalize_database_url(os.environ.get("DATABASE_URL") or "sqlite://")
    SHOP_LIST_CACHE_SECONDS = 0  # a test sees what it just wrote; the cache's own tests set it


class ProductionConfig(Config):
    PORTAL_ENV = "production"
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", True)
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    PREFERRED_URL_SCHEME = "https"
    SMS_SHOW_CODE = _bool("SMS_SHOW_CODE", False)


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "production": ProductionConfig,
    "testing": TestingConfig,
}


def config_for(env: str | None = None) -> type[Config]:
    name = (env or os.environ.get("PORTAL_ENV") or "development").lower()
    if name not in CONFIGS:
        raise RuntimeError(f"PORTAL_ENV must be one of {', '.join(CONFIGS)}; got {name!r}")
    return CONFIGS[name]
