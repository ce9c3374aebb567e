"""Payment fixtures: payments of the demo brand ACME inside the test's rollback, RSA keys made
on the spot for the provider adapters, and no way out to the network."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from portal.core.db import utcnow
from portal.storefront.payments import services
from portal.storefront.payments.gateway import TestGateway
from portal.storefront.payments.models import PayableKind, Payment
from tests.support.services import org

SECRET = "secret-of-the-tests"


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """The adapters are tested offline: a call that would reach a provider fails the test."""
    import alipay
    import requests

    def refuse(*args, **kwargs):
        raise AssertionError("a payment test tried to reach the network")

    monkeypatch.setattr(requests.Session, "request", refuse)
    monkeypatch.setattr(alipay, "urlopen", refuse)


@pytest.fixture
def gateway() -> TestGateway:
    return TestGateway(SECRET, "http://shop.test/pay/test-gateway")


@dataclass
class Payments:
    brand_id: int

    def create(
        self, amount_cents: int = 12_900, *, provider: str = "test", minutes: int = 15
    ) -> Payment:
        return services.create_payment(
            brand_id=self.brand_id,
            payable_kind=PayableKind.CONSUMER_ORDER,
            payable_id=4711,
            amount_cents=amount_cents,
            currency="CNY",
            provider=provider,
            expires_at=utcnow() + timedelta(minutes=minutes),
        )


@pytest.fixture
def payments(app) -> Payments:
    return Payments(brand_id=org("ACME").id)


@dataclass(frozen=True)
class KeyPair:
    private_pem: str
    public_pem: str
    private: rsa.RSAPrivateKey


def make_key_pair() -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return KeyPair(private_pem, public_pem, key)


@pytest.fixture(scope="session")
def keys() -> dict[str, KeyPair]:
    """Merchant, provider and impostor keys, made once per run (2048-bit keys take a moment)."""
    return {name: make_key_pair() for name in ("merchant", "provider", "impostor")}
