"""The consumer order jobs on a real RQ worker (`python worker.py --burst`), against committed
rows: a delivery order not accepted in time is passed to the next store by the worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.core import jobs
from portal.core.db import utcnow
from portal.core.jobs import JobRun
from portal.extensions import db
from portal.storefront.jobs import reroute_unaccepted_orders
from portal.storefront.models import ConsumerOrder, ConsumerOrderRoute, Fulfilment
from tests.storefront.test_routing import NANJING_WEST_RD, build_geo_brand
from tests.support.consumer_orders import place
from tests.support.processes import stack_app
from tests.support.workers import empty_redis, run_burst_worker


@pytest.fixture(scope="module")
def rq_app(own_redis):
    with stack_app("portal_test_shop_jobs", own_redis.url) as app:
        yield app


@pytest.mark.redis
def test_rq_worker_passes_an_unaccepted_delivery_order_to_the_next_store(rq_app):
    with empty_redis(rq_app), rq_app.app_context():
        geo = build_geo_brand()
        order = place(
            geo.brand,
            geo.locations["Jing'an Temple"],
            {geo.v1.id: 1},
            fulfilment=Fulfilment.DELIVERY,
            point=NANJING_WEST_RD,
            keep=2,
            paid_at=utcnow() - timedelta(hours=5),
        )
        number = order.number
        db.session.commit()
        jobs.enqueue(reroute_unaccepted_orders, key="reroute:test")
        db.session.commit()

        result = run_burst_worker(rq_app, ROUTE_ACCEPT_HOURS=4)

        assert result.returncode == 0, result.stderr[-2000:]
        db.session.expire_all()
        run = db.session.get(JobRun, "reroute:test")
        assert run.status == "finished", run.error
        assert run.result["rerouted"] >= 1
        moved = db.session.execute(
            select(ConsumerOrder).where(ConsumerOrder.number == number)
        ).scalar_one()
        assert (geo.name_of(moved.location_id), moved.status) == ("Lujiazui", "paid")
        outcomes = db.session.execute(
            select(ConsumerOrderRoute.outcome)
            .where(ConsumerOrderRoute.order_id == moved.id)
            .order_by(ConsumerOrderRoute.id)
        ).scalars()
        assert list(outcomes) == ["timed_out", "offered"]
        db.session.remove()
