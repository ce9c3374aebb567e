"""Webhook URLs cannot be turned on the portal's own network (SSRF): on save only https:// (plain
http:// while PORTAL_ENV is development or testing), no credentials, no host that is an internal
address; on every send the host is resolved, refused if any address is internal, and the socket
goes to an address that was checked. No test here reaches the network: the resolver is a table
(`socket.getaddrinfo` replaced) and connecting is recorded, not done, except to the tests' own
server on 127.0.0.1 where a test allows it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from portal.core import jobs as core_jobs
from portal.core.errors import ValidationFailed
from portal.extensions import db
from portal.storefront import jobs, webhooks
from portal.storefront.webhook_models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from tests.support.retail import RetailShop, build_retail_shop
from tests.support.services import actor_for, org

PUBLIC = "93.184.216.34"
REAL_GETADDRINFO = socket.getaddrinfo
REAL_CONNECT = webhooks.urllib3_connection.create_connection


class Net:
    """The world as these tests see it: DNS names and where they point; every connection asked
    for."""

    def __init__(self) -> None:
        self.names: dict[str, list[str]] = {}
        self.lookups: list[str] = []
        self.connects: list[tuple[str, int]] = []

    def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):
        self.lookups.append(host)
        try:
            found = [str(webhooks.ipaddress.ip_address(host))]
        except ValueError:
            if host not in self.names:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
            found = self.names[host]
        rows = []
        for address in found:
            if ":" in address:
                rows.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
            else:
                rows.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
        return rows

    def connect(self, address, *args, **kwargs):
        self.connects.append(address)
        if address[0] == "127.0.0.1":  # the tests' own server
            return REAL_CONNECT(address, *args, **kwargs)
        raise ConnectionRefusedError(f"test: no connection to {address[0]}")


@pytest.fixture(autouse=True)
def no_network(monkeypatch) -> Net:
    """Overrides the storefront's: requests stays real, the resolver and the connect are not."""
    net = Net()
    monkeypatch.setattr(socket, "getaddrinfo", net.getaddrinfo)
    monkeypatch.setattr(webhooks.urllib3_connection, "create_connection", net.connect)
    return net


@pytest.fixture
def shop(app) -> RetailShop:
    return build_retail_shop("WH")


def add(shop: RetailShop, url: str) -> WebhookEndpoint:
    endpoint, _secret = webhooks.add_endpoint(shop.net.hq, shop.brand, url=url)
    db.session.flush()
    return endpoint


def deliveries(endpoint: WebhookEndpoint) -> list[WebhookDelivery]:
    return list(
        db.session.execute(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint.id)
            .order_by(WebhookDelivery.id)
            .execution_options(populate_existing=True)
        ).scalars()
    )


def collect_and_send(shop: RetailShop) -> None:
    """A stock change, then the scheduler's slot: the job finds it, its commit sends it."""
    shop.receive("JA", "TEE-BLK-M", 1)
    jobs.collect_availability_changes()
    core_jobs.commit()


# -- on save -------------------------------------------------------------------------------------

REFUSED = [
    ("https://127.0.0.1/hook", "127.0.0.1 is a loopback address"),
    ("https://127.1/hook", "127.0.0.1 is a loopback address"),
    ("https://2130706433/hook", "127.0.0.1 is a loopback address"),
    ("https://0x7f.0.0.1/hook", "127.0.0.1 is a loopback address"),
    ("https://localhost:8443/hook", "127.0.0.1 is a loopback address"),
    ("https://api.localhost/hook", "127.0.0.1 is a loopback address"),
    ("https://[::1]/hook", "::1 is a loopback address"),
    ("https://[::ffff:127.0.0.1]/hook", "127.0.0.1 is a loopback address"),
    ("https://10.1.2.3/hook", "10.1.2.3 is a private address"),
    ("https://172.16.0.9/hook", "172.16.0.9 is a private address"),
    ("https://192.168.1.1/hook", "192.168.1.1 is a private address"),
    ("https://[fd12:3456::1]/hook", "fd12:3456::1 is a private address"),
    ("https://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local address"),
    ("https://[fe80::1]/hook", "fe80::1 is a link-local address"),
    ("https://224.0.0.1/hook", "224.0.0.1 is a multicast address"),
    ("https://[ff02::1]/hook", "ff02::1 is a multicast address"),
    ("https://240.0.0.1/hook", "240.0.0.1 is a private address"),
    ("https://0.0.0.0/hook", "0.0.0.0 is the unspecified address"),
    ("https://100.64.0.1/hook", "100.64.0.1 is not a public address"),
    ("https://[2002:7f00:1::]/hook", "127.0.0.1 is a loopback address"),
    ("https://user:secret@hooks.example/hook", "Leave the user name and password out"),
    ("https://token@hooks.example/hook", "Leave the user name and password out"),
    ("ftp://hooks.example/hook", "Give a full https:// address"),
    ("https:///hook", "Give a full https:// address"),
    ("https://hooks.example:port/hook", "Give a full https:// address"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_an_internal_or_unusable_address_is_refused_on_save_with_the_reason(shop, url, reason):
    with pytest.raises(ValidationFailed) as refused:
        add(shop, url)
    assert reason in refused.value.fields["url"]
    assert webhooks.list_endpoints(shop.net.hq, shop.brand) == []


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example/stock",
        f"https://{PUBLIC}:8443/stock",
        "https://[2606:4700::1111]/stock",
        "http://hooks.example/stock",  # PORTAL_ENV is testing
    ],
)
def test_a_public_address_is_saved_without_a_lookup(shop, no_network, url):
    assert add(shop, url).url == url
    assert no_network.lookups == []


def english(client):
    """HQ's pages under /shop/ speak Chinese unless asked: these tests read the English."""
    with client.session_transaction() as cookie:
        cookie["lang"] = "en"
    return client


def test_plain_http_is_refused_in_production_and_the_page_says_why(app, login, monkeypatch):
    client = english(login("hq@demo.test"))
    hint = client.get("/shop/ACME/hq/webhooks").get_data(as_text=True)
    assert "Plain http:// is accepted here because PORTAL_ENV is testing" in hint
    monkeypatch.setitem(app.config, "PORTAL_ENV", "production")
    refused = client.post("/shop/ACME/hq/webhooks", data={"url": "http://hooks.example/stock"})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert 'data-testid="error-url"' in page
    assert "plain http:// is not accepted" in page
    assert "Plain http:// is accepted here" not in page
    assert webhooks.list_endpoints(actor_for("hq@demo.test"), org("ACME")) == []


def test_the_page_names_an_internal_address(app, login):
    client = english(login("hq@demo.test"))
    refused = client.post(
        "/shop/ACME/hq/webhooks", data={"url": "https://169.254.169.254/latest/meta-data"}
    )
    assert refused.status_code == 422
    assert "169.254.169.254 is a link-local address" in refused.get_data(as_text=True)
    assert webhooks.list_endpoints(actor_for("hq@demo.test"), org("ACME")) == []


# -- on send -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "named"),
    [
        (["127.0.0.1"], "127.0.0.1 is a loopback address"),
        ([PUBLIC, "10.0.0.7"], "10.0.0.7 is a private address"),  # any one is enough
        (["::1"], "::1 is a loopback address"),
        (["169.254.169.254"], "169.254.169.254 is a link-local address"),
    ],
)
def test_a_name_that_resolves_inside_is_refused_at_send_and_recorded(
    shop, no_network, answers, named
):
    no_network.names["sneaky.example"] = answers
    endpoint = add(shop, "https://sneaky.example/hook")
    collect_and_send(shop)
    (delivery,) = deliveries(endpoint)
    assert delivery.status == DeliveryStatus.FAILED  # for good: asking again is refused again
    assert delivery.attempts == 1 and delivery.status_code is None
    assert delivery.error.startswith("Refused: sneaky.example resolves to a refused address")
    assert named in delivery.error
    assert no_network.connects == []


def test_the_socket_goes_to_the_address_that_was_checked(shop, no_network):
    """One lookup, and the connection to what it answered: a name answering differently the
    second time (DNS rebinding) gets no second chance."""
    no_network.names["hooks.example"] = [PUBLIC]
    endpoint = add(shop, "https://hooks.example/hook")
    collect_and_send(shop)
    assert no_network.lookups == ["hooks.example"]
    assert no_network.connects == [(PUBLIC, 443)]
    (delivery,) = deliveries(endpoint)
    assert delivery.error.startswith("ConnectionError")  # refused by the test, as recorded


def test_a_name_that_does_not_resolve_is_an_ordinary_failure(shop, no_network):
    endpoint = add(shop, "https://gone.example/hook")
    collect_and_send(shop)
    (delivery,) = deliveries(endpoint)
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 1
    assert delivery.error.startswith("ConnectionError") and "gone.example" in delivery.error
    assert no_network.connects == []


def test_an_endpoint_saved_under_laxer_rules_is_refused_when_sent_to(app, shop, monkeypatch):
    endpoint = add(shop, "http://hooks.example/hook")  # accepted while testing
    monkeypatch.setitem(app.config, "PORTAL_ENV", "production")
    collect_and_send(shop)
    (delivery,) = deliveries(endpoint)
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.error == "Refused: Give a full https:// address: plain http:// is not accepted."


@pytest.fixture
def redirecting() -> Iterator[tuple[str, list[str]]]:
    """A server on 127.0.0.1 answering every POST with a redirect to /elsewhere."""
    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the name http.server calls
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            paths.append(self.path)
            self.send_response(307)
            self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", paths
    finally:
        server.shutdown()
        server.server_close()


def test_an_allowed_network_is_reached_and_a_redirect_is_not_followed(
    app, shop, monkeypatch, redirecting
):
    url, paths = redirecting
    with pytest.raises(ValidationFailed):
        add(shop, url)
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOWED_NETWORKS", "10.0.0.0/8, 127.0.0.1/32")
    endpoint = add(shop, url)
    collect_and_send(shop)
    (delivery,) = deliveries(endpoint)
    assert paths == ["/hook"]  # asked once, and not again at /elsewhere
    assert (delivery.status_code, delivery.error) == (307, "HTTP 307")


def test_a_bad_allowed_network_is_a_configuration_error(app, shop, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOWED_NETWORKS", "10.0.0.0/33")
    with pytest.raises(RuntimeError, match="WEBHOOK_ALLOWED_NETWORKS"):
        add(shop, "https://10.1.2.3/hook")
