"""The private sales' periodic job (portal/members/sale_jobs.py): a sale whose window has ended
releases what is left of its set-aside stock, once. In the test's transaction on both backends,
and on a real RQ worker (`python worker.py --burst`) against committed rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.core import jobs
from portal.core.db import utcnow
from portal.core.jobs import JobRun
from portal.extensions import db
from portal.inventory.models import Grade
from portal.inventory.services import check_ledger
from portal.members.sale_jobs import close_ended_sales
from portal.members.sale_models import PrivateSale, SaleStatus
from tests.members.test_private_sales import GRADE_B_AT_LJ, POLO_AT_LJ, build_sale_shop, buy
from tests.support.processes import stack_app
from tests.support.workers import empty_redis, run_burst_worker


def test_the_job_closes_ended_sales_and_releases_what_is_left_once(app, monkeypatch):
    built = build_sale_shop("SJ", monkeypatch)
    ended = built.sale()
    running = built.sale("RUNNING", items=(("TEE-BLK-L", "A", 5000, 2, None),))
    buy(built, built.person(), {"POLO-WHT-M": 2})
    ended.ends_at = utcnow() - timedelta(minutes=1)
    db.session.commit()

    assert close_ended_sales() == {"closed": 1}
    assert close_ended_sales() == {"closed": 0}

    db.session.refresh(ended)
    db.session.refresh(running)
    assert (ended.status, running.status) == (SaleStatus.CLOSED, SaleStatus.PUBLISHED)
    assert built.level("POLO-WHT-M") == (POLO_AT_LJ, 2)  # the order's units stay held
    assert built.level("TEE-BLK-M", Grade.B) == (GRADE_B_AT_LJ, 0)
    assert built.level("TEE-BLK-L") == (2, 2)  # the running sale's hold
    assert check_ledger() == []


@pytest.fixture(scope="module")
def rq_app(own_redis):
    with stack_app("portal_test_sale_jobs", own_redis.url) as app:
        yield app


@pytest.mark.redis
def test_rq_worker_closes_an_ended_sale(rq_app):
    with empty_redis(rq_app), rq_app.app_context():
        built = build_sale_shop("SW")
        sale = built.sale()
        sale.ends_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
        jobs.enqueue(close_ended_sales, key="close-sales:test")
        db.session.commit()

        result = run_burst_worker(rq_app)

        assert result.returncode == 0, result.stderr[-2000:]
        db.session.expire_all()
        run = db.session.get(JobRun, "close-sales:test")
        assert run.status == "finished", run.error
        assert run.result == {"closed": 1}
        closed = db.session.execute(
            select(PrivateSale).where(PrivateSale.brand_id == built.brand.id)
        ).scalar_one()
        assert closed.status == SaleStatus.CLOSED
        assert built.level("POLO-WHT-M") == (POLO_AT_LJ, 0)
        assert built.level("TEE-BLK-M", Grade.B) == (GRADE_B_AT_LJ, 0)
        assert check_ledger() == []
        db.session.remove()
