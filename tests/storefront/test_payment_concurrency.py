"""Real concurrency: a provider delivering the same notice several times at once pays the payment
once, and a late payment delivered several times at once is refunded once. Each delivery has its
own app context, session and transaction on a committed database made for the test."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from portal import create_app
from portal.core.access import OrgKind
from portal.core.db import writing
from portal.extensions import db
from portal.network.models import Organization
from portal.storefront.payments import services
from portal.storefront.payments.base import Notice, NoticeStatus
from portal.storefront.payments.models import (
    PayableKind,
    Payment,
    PaymentNotice,
    PaymentRefund,
    PaymentStatus,
)
from tests.conftest import need
from tests.support.services import fresh_postgres_database

DELIVERIES = 8


@pytest.fixture
def committed(request, tmp_path) -> Iterator:
    if request.param == "postgresql":
        need("postgresql")
        url = fresh_postgres_database("pay_race")
    else:
        url = f"sqlite:///{tmp_path / 'race.db'}"
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, REDIS_URL=None)
    with app.app_context():
        db.create_all()
        brand = Organization(code="PAYB", name="Pay brand", kind=OrgKind.BRAND)
        db.session.add(brand)
        db.session.flush()
        payment = services.create_payment(
            brand_id=brand.id,
            payable_kind=PayableKind.CONSUMER_ORDER,
            payable_id=1,
            amount_cents=9_900,
            currency="CNY",
            provider="test",
        )
        reference = payment.reference
        db.session.commit()
        db.session.remove()
    yield app, reference
    with app.app_context():
        db.engine.dispose()


def _deliver_at_once(app, notice: Notice) -> list[str]:
    start = threading.Barrier(DELIVERIES)

    def deliver(_: int) -> str:
        with app.app_context(), writing():
            try:
                start.wait()
                result = services.record_notice(notice)
                db.session.commit()
                return "repeated" if result.repeated else result.notice.outcome
            except Exception as error:  # noqa: BLE001 - reported, never hidden
                db.session.rollback()
                return repr(error)
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=DELIVERIES) as pool:
        return list(pool.map(deliver, range(DELIVERIES)))


def _notice(reference: str, notice_id: str = "N-1") -> Notice:
    return Notice("test", notice_id, reference, "T-1", 9_900, "CNY", NoticeStatus.PAID)


def _count(app, model) -> int:
    with app.app_context():
        count = db.session.execute(select(func.count()).select_from(model)).scalar_one()
        db.session.remove()
        return count


BACKENDS = [pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"]


@pytest.mark.parametrize("committed", BACKENDS, indirect=True)
def test_one_notice_delivered_many_times_at_once_pays_once(committed):
    app, reference = committed
    outcomes = _deliver_at_once(app, _notice(reference))
    assert sorted(outcomes) == ["applied"] + ["repeated"] * (DELIVERIES - 1)
    assert _count(app, PaymentNotice) == 1
    with app.app_context():
        payment = db.session.execute(
            select(Payment).where(Payment.reference == reference)
        ).scalar_one()
        assert (payment.status, payment.provider_transaction_id) == (PaymentStatus.PAID, "T-1")
        db.session.remove()


@pytest.mark.parametrize("committed", BACKENDS, indirect=True)
def test_a_late_payment_told_many_times_at_once_is_refunded_once(committed):
    app, reference = committed
    with app.app_context():
        payment = db.session.execute(
            select(Payment).where(Payment.reference == reference)
        ).scalar_one()
        services.expire_payment(payment)
        db.session.commit()
        db.session.remove()
    # Different notices of one transaction: only the refund number ties them together.
    start = threading.Barrier(DELIVERIES)

    def deliver(index: int) -> str:
        with app.app_context(), writing():
            try:
                start.wait()
                result = services.record_notice(_notice(reference, f"N-{index}"))
                db.session.commit()
                return result.notice.outcome
            except Exception as error:  # noqa: BLE001 - reported, never hidden
                db.session.rollback()
                return repr(error)
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=DELIVERIES) as pool:
        outcomes = list(pool.map(deliver, range(DELIVERIES)))
    assert sorted(outcomes) == ["ignored"] * (DELIVERIES - 1) + ["late"]
    assert _count(app, PaymentRefund) == 1
