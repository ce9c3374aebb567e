"""The available-to-sell webhook: HQ adds an endpoint (its secret shown once); the periodic job
finds the SKUs whose online availability changed and sends each endpoint one signed delivery
through the job outbox; a failing endpoint is retried by the queue's policy, then given up, and
every attempt is on record. The endpoints are HTTP servers the tests start on 127.0.0.1, which
these tests allow (WEBHOOK_ALLOWED_NETWORKS): the portal refuses loopback addresses otherwise
(tests/storefront/test_webhooks_leftovers.py)."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import select

from portal.core import jobs as core_jobs
from portal.core.db import utcnow
from portal.core.jobs import JobRun, JobStatus
from portal.extensions import db
from portal.schedule import PERIODIC
from portal.storefront import jobs, stock, webhooks
from portal.storefront.webhook_models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from tests.support.retail import RetailShop, build_retail_shop
from tests.support.services import actor_for, org

_REQUEST = requests.Session.request


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Overrides the storefront's: these tests reach their own server on 127.0.0.1, nothing
    else."""

    def local_only(self, method, url, *args, **kwargs):
        if urlsplit(url).hostname != "127.0.0.1":
            raise AssertionError(f"a webhook test tried to reach {url}")
        return _REQUEST(self, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", local_only)


@dataclass
class Receiver:
    """A connector's endpoint: answers with the next status of `answers` (200 once they run
    out) and keeps every request it got."""

    url: str
    answers: list[int] = field(default_factory=list)
    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def bodies(self) -> list[dict]:
        return [json.loads(body) for _, body in self.got]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the name http.server calls
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.got.append((dict(self.headers.items()), body))
            self.send_response(state.answers.pop(0) if state.answers else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/stock"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


LOOPBACK = "127.0.0.1/32"


@pytest.fixture
def shop(app, monkeypatch) -> RetailShop:
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOWED_NETWORKS", LOOPBACK)
    return build_retail_shop()


def _add(shop: RetailShop, url: str) -> tuple[WebhookEndpoint, str]:
    endpoint, secret = webhooks.add_endpoint(shop.net.hq, shop.brand, url=url)
    db.session.flush()
    return endpoint, secret


def _deliveries(endpoint: WebhookEndpoint) -> list[WebhookDelivery]:
    return list(
        db.session.execute(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint.id)
            .order_by(WebhookDelivery.id)
            .execution_options(populate_existing=True)
        ).scalars()
    )


def _collect_and_send() -> dict[str, int]:
    """What the scheduler's slot does: the job finds changes; its commit sends them (inline)."""
    result = jobs.collect_availability_changes()
    core_jobs.commit()
    return result


def _run_of(delivery: WebhookDelivery) -> JobRun:
    key = core_jobs.job_key(jobs.deliver_availability.job_name, (delivery.id,))
    return db.session.get(JobRun, key, populate_existing=True)


def test_changed_skus_reach_the_endpoint_signed_with_their_numbers_now(shop, receiver):
    endpoint, secret = _add(shop, receiver.url)
    shop.receive("JA", "TEE-BLK-M", 4)
    assert _collect_and_send() == {"deliveries": 1}
    assert len(receiver.got) == 1
    headers, body = receiver.got[0]
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Portal-Signature"] == f"sha256={expected}"
    assert headers["X-Portal-Event"] == "availability.changed"
    sent = json.loads(body)
    assert sent["brand"] == shop.brand.code and sent["grade"] == "A"
    assert [item["sku"] for item in sent["items"]] == ["TEE-BLK-M"]
    now = stock.availability(shop.brand, [shop.variant_id("TEE-BLK-M")])
    assert sent["items"][0]["available"] == now[shop.variant_id("TEE-BLK-M")].sellable
    (delivery,) = _deliveries(endpoint)
    assert headers["X-Portal-Delivery"] == str(delivery.id) == sent["delivery"]
    assert (delivery.status, delivery.status_code, delivery.attempts) == ("delivered", 200, 1)
    assert delivery.attempted_at is not None and delivery.delivered_at is not None


def test_nothing_changed_nothing_is_sent(shop, receiver):
    endpoint, _ = _add(shop, receiver.url)
    assert _collect_and_send() == {"deliveries": 0}
    assert receiver.got == [] and _deliveries(endpoint) == []


def test_a_change_is_sent_once_its_look_has_settled(shop):
    endpoint, _ = _add(shop, "http://127.0.0.1:9/never-called")
    shop.receive("LJ", "TEE-BLK-L", 1)
    later = utcnow() + webhooks.SETTLE + timedelta(seconds=5)
    assert len(webhooks.collect_changes(now=later)) == 1
    assert webhooks.collect_changes(now=later + timedelta(minutes=1)) == []
    assert endpoint.changes_since == later + timedelta(minutes=1) - webhooks.SETTLE


def test_each_endpoint_of_the_brand_gets_its_own_delivery(shop, receiver):
    first, _ = _add(shop, receiver.url)
    second, _ = _add(shop, receiver.url + "/second")
    shop.receive("JA", "POLO-WHT-M", 1)
    assert _collect_and_send() == {"deliveries": 2}
    assert (len(_deliveries(first)), len(_deliveries(second))) == (1, 1)
    assert len(receiver.got) == 2


def test_a_failing_endpoint_is_retried_by_the_queue_then_given_up(app, shop, receiver, monkeypatch):
    retries = int(app.config["JOB_RETRIES_PUSH"])
    receiver.answers = [500] * (retries + 1)
    # RQ's retries in inline mode: the run is queued again while the queue allows, and the
    # test delivers it again as a worker would.
    left = {"n": retries}

    def will_retry() -> bool:
        left["n"] -= 1
        return left["n"] >= 0

    monkeypatch.setattr(core_jobs, "_will_retry", will_retry)
    endpoint, _ = _add(shop, receiver.url)
    shop.receive("JA", "TEE-BLK-M", 1)
    _collect_and_send()
    (delivery,) = _deliveries(endpoint)
    assert (delivery.status, delivery.attempts, delivery.status_code) == ("pending", 1, 500)
    assert _run_of(delivery).status == JobStatus.QUEUED
    for _ in range(retries):
        core_jobs.execute(_run_of(delivery).id)
    (delivery,) = _deliveries(endpoint)
    assert delivery.status == DeliveryStatus.FAILED
    assert (delivery.attempts, delivery.status_code, delivery.error) == (
        retries + 1,
        500,
        "HTTP 500",
    )
    assert _run_of(delivery).status == JobStatus.FAILED
    assert len(receiver.got) == retries + 1
    assert len({headers["X-Portal-Delivery"] for headers, _ in receiver.got}) == 1


def test_a_retry_that_gets_through_delivers(shop, receiver, monkeypatch):
    receiver.answers = [503]
    monkeypatch.setattr(core_jobs, "_will_retry", lambda: True)
    endpoint, _ = _add(shop, receiver.url)
    shop.receive("JA", "TEE-BLK-M", 1)
    _collect_and_send()
    (delivery,) = _deliveries(endpoint)
    core_jobs.execute(_run_of(delivery).id)
    (delivery,) = _deliveries(endpoint)
    assert (delivery.status, delivery.attempts, delivery.status_code) == ("delivered", 2, 200)
    assert delivery.error is None


def test_an_endpoint_that_does_not_answer_is_recorded_and_given_up(shop):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint, _ = _add(shop, f"http://127.0.0.1:{port}/gone")
    shop.receive("JA", "TEE-BLK-M", 1)
    _collect_and_send()  # inline mode has no retries: the first failure is the last
    (delivery,) = _deliveries(endpoint)
    assert (delivery.status, delivery.attempts, delivery.status_code) == ("failed", 1, None)
    assert "ConnectionError" in delivery.error


def test_a_removed_endpoint_hears_nothing_more(shop, receiver):
    endpoint, _ = _add(shop, receiver.url)
    shop.receive("JA", "TEE-BLK-M", 1)
    made = webhooks.collect_changes()
    webhooks.remove_endpoint(shop.net.hq, endpoint)
    assert webhooks.deliver(made[0].delivery_id) == DeliveryStatus.FAILED
    shop.receive("JA", "TEE-BLK-M", 1)
    assert webhooks.collect_changes() == []
    assert receiver.got == []


def test_the_collecting_job_is_on_the_schedule_every_minute():
    entry = next(p for p in PERIODIC if p.job.endswith("collect_availability_changes"))
    assert entry.every == 60


# -- HQ's page -----------------------------------------------------------------------------------

PAGE = "/shop/ACME/hq/webhooks"


def test_hq_adds_an_endpoint_and_sees_its_secret_once(app, login):
    client = login("hq@demo.test")
    added = client.post(PAGE, data={"url": "https://tmall-sync.example/stock", "description": "T"})
    assert added.status_code == 200
    page = added.get_data(as_text=True)
    (endpoint,) = webhooks.list_endpoints(actor_for("hq@demo.test"), org("ACME"))
    assert endpoint.secret in page and 'data-testid="new-secret"' in page
    again = client.get(PAGE).get_data(as_text=True)
    assert "https://tmall-sync.example/stock" in again and endpoint.secret not in again


def test_an_address_that_is_not_http_is_refused(app, login):
    client = login("hq@demo.test")
    refused = client.post(PAGE, data={"url": "ftp://example.com/x"})
    assert refused.status_code == 422
    assert webhooks.list_endpoints(actor_for("hq@demo.test"), org("ACME")) == []


def test_hq_removes_an_endpoint(app, login):
    hq = actor_for("hq@demo.test")
    endpoint, _ = webhooks.add_endpoint(hq, org("ACME"), url="https://jd-sync.example/hook")
    db.session.commit()
    client = login("hq@demo.test")
    removed = client.post(f"{PAGE}/{endpoint.id}/remove")
    assert removed.status_code == 302
    assert webhooks.list_endpoints(hq, org("ACME")) == []


def test_another_brands_hq_finds_nothing(app, login):
    endpoint, _ = webhooks.add_endpoint(
        actor_for("hq@demo.test"), org("ACME"), url="https://jd-sync.example/hook"
    )
    db.session.commit()
    client = login("hq2@demo.test")
    assert client.get(PAGE).status_code == 404
    assert client.post(f"{PAGE}/{endpoint.id}/remove").status_code == 404
    assert client.post(PAGE, data={"url": "https://evil.example/"}).status_code == 404


# -- on a real worker ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rq_app(own_redis):
    from tests.support.processes import stack_app

    with stack_app("portal_test_webhooks", own_redis.url) as app:
        yield app


@pytest.mark.redis
def test_rq_worker_retries_a_failing_endpoint_until_it_answers(rq_app, receiver):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    connection = core_jobs.redis_connection(rq_app.config["REDIS_URL"])
    connection.flushdb()
    receiver.answers = [500, 502]
    with rq_app.app_context():
        rq_app.config["WEBHOOK_ALLOWED_NETWORKS"] = LOOPBACK
        shop = build_retail_shop()
        endpoint, _ = webhooks.add_endpoint(shop.net.hq, shop.brand, url=receiver.url)
        shop.receive("JA", "TEE-BLK-M", 1)
        endpoint_id = endpoint.id
        db.session.commit()
        core_jobs.enqueue(jobs.collect_availability_changes, key="webhooks:test")
        db.session.commit()
        env = {
            **os.environ,
            "DATABASE_URL": rq_app.config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": rq_app.config["REDIS_URL"],
            "PORTAL_ENV": "development",
            "PYTHONPATH": str(root),
            "JOB_RETRY_INTERVALS_PUSH": "0",  # retried at once, within the burst
            "WEBHOOK_ALLOWED_NETWORKS": LOOPBACK,  # the test's endpoint
        }
        result = subprocess.run(
            [sys.executable, "worker.py", "--burst", "--queues", "default,push"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        db.session.expire_all()
        (delivery,) = db.session.execute(
            select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
        ).scalars()
        assert (delivery.status, delivery.attempts, delivery.status_code) == ("delivered", 3, 200)
        assert len(receiver.got) == 3
        db.session.remove()
    connection.flushdb()
    connection.close()
