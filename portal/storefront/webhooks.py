"""The available-to-sell feed pushed: HQ's webhook endpoints hear when SKUs' online availability
changes, so a marketplace connector need not poll the feed (portal/storefront/feed_api.py).

The round: a periodic job (`collect_changes`) asks the feed, per active endpoint, which SKUs may
have changed since that endpoint's last look (`stock.feed_page(updated_since=...)`) and writes
one delivery per page of them (at most PAGE SKUs); the job queues one send per delivery on the
push queue. Deliveries go through the job outbox (portal/core/jobs.py): recorded in the
transaction that found the changes, sent after it commits, retried by the queue's policy
(JOB_RETRIES_PUSH, JOB_RETRY_INTERVALS_PUSH), and marked failed once the retries are spent.

A delivery holds which SKUs changed, not their numbers: each attempt reads them anew, so a retry
that lands after a later delivery never tells the connector an older availability. Every body is
signed: `X-Portal-Signature: sha256=<hex HMAC-SHA256 of the raw body with the endpoint's
secret>`; `X-Portal-Delivery` is the delivery's id, the same on every attempt, for de-duplicating.

Each look starts SETTLE before the previous one ended: a stock move written by a transaction
still open when the last look ran is seen by the next, at the price of an SKU that changed in
those seconds being sent twice (harmless: the numbers are absolute).

Where the portal may be sent (the request is made from inside the portal's network, so an
address HQ types must not reach what only that network can): an endpoint's URL is https://
(plain http:// only while PORTAL_ENV is development or testing), carries no user name or
password, and does not name a host that is an IP address (or `localhost`) in a loopback,
private, link-local, multicast, reserved or otherwise non-public range, IPv4 or IPv6; this is
checked on save, with the reason on the `url` field. On every send the host is resolved again
and the connection refused if any address it resolves to is such a one; the socket then goes to
an address that was checked (not to a second lookup, which a DNS name could answer differently),
with TLS still verified against the host name. Redirects are not followed, proxies from the
environment are not used. A refused send is a failed delivery, not retried, with the reason as
its error. WEBHOOK_ALLOWED_NETWORKS (CIDRs, comma-separated; none by default) lists networks an
installation does allow, e.g. a connector inside its own network.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import current_app
from flask_babel import lazy_gettext as _l
from requests.adapters import HTTPAdapter
from sqlalchemy import select, update
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from portal.catalog.models import Variant
from portal.core.access import Actor, OrgKind, Permission
from portal.core.db import in_ids, utcnow
from portal.core.errors import NotFound, ValidationFailed
from portal.extensions import db
from portal.inventory.models import Grade
from portal.network.models import Organization
from portal.storefront import stock
from portal.storefront.webhook_models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from portal.storefront.words import say

EVENT = "availability.changed"
PAGE = 500  # SKUs per delivery: a connector's request stays small however much moved
SETTLE = timedelta(seconds=30)
TIMEOUT_SECONDS = 10
MAX_ENDPOINTS = 10  # per brand


class WebhookFailed(Exception):
    """An attempt got no 2xx answer; the job fails so that the queue retries it."""


def _ensure_hq(actor: Actor, brand: Organization) -> None:
    # Only the brand's own HQ sees its endpoints; anyone else learns nothing of them (404).
    actor.ensure(Permission.SHOP_MANAGE)
    if actor.is_system:
        return
    if actor.org_id != brand.id or actor.org_kind != OrgKind.BRAND:
        raise NotFound()


# -- where the portal may send -------------------------------------------------------------------

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
PLAIN_HTTP_ENVS = ("development", "testing")
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # an IPv4 address behind a NAT64 gateway


class RefusedAddress(Exception):
    """The endpoint's URL, or an address its host resolves to, is not one the portal calls."""


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    raw = str(current_app.config.get("WEBHOOK_ALLOWED_NETWORKS") or "")
    try:
        return [
            ipaddress.ip_network(part.strip(), strict=False)
            for part in raw.split(",")
            if part.strip()
        ]
    except ValueError as error:
        raise RuntimeError(f"WEBHOOK_ALLOWED_NETWORKS: {error}") from None


def address_refusal(address: IPAddress) -> str | None:
    """Why the portal does not connect to `address` (None: it may): loopback, private,
    link-local, multicast, reserved and every other non-public range, an IPv4 address inside an
    IPv6 one judged as the IPv4 one, unless WEBHOOK_ALLOWED_NETWORKS allows it."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is None and address in NAT64:
            inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is not None:
            return address_refusal(inner)
    if any(address in network for network in _allowed_networks()):
        return None
    for test, message in (
        (address.is_unspecified, _l("%(address)s is the unspecified address.")),
        (address.is_loopback, _l("%(address)s is a loopback address.")),
        (address.is_link_local, _l("%(address)s is a link-local address.")),
        (address.is_multicast, _l("%(address)s is a multicast address.")),
        (address.is_private, _l("%(address)s is a private address.")),
        (address.is_reserved, _l("%(address)s is a reserved address.")),
        (not address.is_global, _l("%(address)s is not a public address.")),
    ):
        if test:
            return say(message, address=str(address))
    return None


def _literal_address(host: str) -> IPAddress | None:
    """The address a host name spells, in any form a resolver reads as one ("127.1",
    "2130706433", "0x7f.0.0.1", "[::1]"); None for a DNS name."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def url_problem(url: str) -> str | None:
    """What is wrong with an endpoint's URL, in words for HQ (None: nothing). No lookup is
    made: a DNS name is checked when it is sent to (`send`)."""
    parts = urlsplit(url)
    schemes: tuple[str, ...] = ("https",)
    if current_app.config.get("PORTAL_ENV") in PLAIN_HTTP_ENVS:
        schemes = ("https", "http")
    try:
        host, _port = parts.hostname, parts.port  # a port that is not a number raises
    except ValueError:
        host = None
    if len(url) > 500 or parts.scheme not in schemes or not host:
        if "http" in schemes:
            return say(
                _l(
                    "Give a full https:// address (plain http:// is accepted only while "
                    "PORTAL_ENV is development or testing)."
                )
            )
        return say(_l("Give a full https:// address: plain http:// is not accepted."))
    if parts.username is not None or parts.password is not None:
        return say(
            _l("Leave the user name and password out of the address: the signature is the proof.")
        )
    host = host.rstrip(".").lower()
    address = _literal_address(host)
    if address is None and (host == "localhost" or host.endswith(".localhost")):
        address = ipaddress.ip_address("127.0.0.1")
    if address is not None:
        refusal = address_refusal(address)
        if refusal is not None:
            return f"{refusal} " + say(_l("Give the public address of the connector."))
    return None


def checked_addresses(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, once each, when every one of them may be connected
    to; raises RefusedAddress naming the first that may not (socket.gaierror: no such name)."""
    found: list[str] = []
    for *_kind, sockaddr in socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM):
        text = str(sockaddr[0]).split("%", 1)[0]  # an IPv6 scope ("fe80::1%eth0") is no part
        refusal = address_refusal(ipaddress.ip_address(text))
        if refusal is not None:
            raise RefusedAddress(f"{host} resolves to a refused address: {refusal}")
        if text not in found:
            found.append(text)
    return found


class _CheckedConnection(HTTPConnection):
    """Resolves its host itself, refuses it if any address is not allowed, and connects to a
    checked address (urllib3's own connection would look the name up again)."""

    def _new_conn(self) -> socket.socket:
        try:
            addresses = checked_addresses(self._dns_host, self.port)
        except socket.gaierror as error:
            raise NameResolutionError(self.host, self, error) from error
        last: OSError = OSError(f"{self.host} resolves to no address")
        for address in addresses:
            try:
                return urllib3_connection.create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except OSError as error:
                last = error
        if isinstance(last, TimeoutError):
            raise ConnectTimeoutError(
                self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
            ) from last
        raise NewConnectionError(self, f"Failed to establish a new connection: {last}") from last


class _CheckedHTTPSConnection(_CheckedConnection, HTTPSConnection):
    """TLS on a checked socket, still verified against the host name."""


class _CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _CheckedConnection


class _CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


class _CheckedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _CheckedHTTPPool,
            "https": _CheckedHTTPSPool,
        }


# -- endpoints -----------------------------------------------------------------------------------


def _checked_url(raw: str) -> str:
    url = (raw or "").strip()
    problem = url_problem(url)
    if problem is not None:
        raise ValidationFailed(fields={"url": problem})
    return url


def add_endpoint(
    actor: Actor, brand: Organization, *, url: str, description: str = ""
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint of the brand and its signing secret, which is shown this once. It hears of
    changes from now on (the feed's JSON API gives the whole picture to start from)."""
    _ensure_hq(actor, brand)
    checked = _checked_url(url)
    if len(list_endpoints(actor, brand)) >= MAX_ENDPOINTS:
        raise ValidationFailed(
            fields={"url": say(_l("A brand has at most %(num)d endpoints."), num=MAX_ENDPOINTS)}
        )
    secret = secrets.token_urlsafe(32)
    endpoint = WebhookEndpoint(
        brand_id=brand.id,
        url=checked,
        description=(description or "").strip()[:100],
        secret=secret,
        grade=Grade.A,
        changes_since=utcnow(),
        created_by_user_id=actor.user_id,
    )
    db.session.add(endpoint)
    db.session.flush()
    return endpoint, secret


def list_endpoints(actor: Actor, brand: Organization) -> list[WebhookEndpoint]:
    _ensure_hq(actor, brand)
    return list(
        db.session.execute(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.brand_id == brand.id, WebhookEndpoint.is_active.is_(True))
            .order_by(WebhookEndpoint.id)
        ).scalars()
    )


def get_endpoint(actor: Actor, brand: Organization, endpoint_id: int) -> WebhookEndpoint:
    _ensure_hq(actor, brand)
    endpoint = db.session.execute(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id,
            WebhookEndpoint.brand_id == brand.id,
            WebhookEndpoint.is_active.is_(True),
        )
    ).scalar_one_or_none()
    if endpoint is None:
        raise NotFound()
    return endpoint


def remove_endpoint(actor: Actor, endpoint: WebhookEndpoint) -> None:
    """The endpoint hears nothing more; deliveries still waiting are given up."""
    endpoint.is_active = False
    endpoint.removed_at = utcnow()
    db.session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint.id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
        )
        .values(status=DeliveryStatus.FAILED, error="endpoint removed")
    )
    db.session.flush()


def list_deliveries(actor: Actor, brand: Organization, *, limit: int = 50) -> list[WebhookDelivery]:
    """The brand's latest deliveries, newest first."""
    _ensure_hq(actor, brand)
    return list(
        db.session.execute(
            select(WebhookDelivery)
            .where(WebhookDelivery.brand_id == brand.id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        ).scalars()
    )


# -- finding changes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class NewDelivery:
    delivery_id: int
    brand_id: int


def collect_changes(*, now: datetime | None = None) -> list[NewDelivery]:
    """Per active endpoint, the SKUs whose online availability may have changed since its last
    look, written as deliveries of at most PAGE SKUs each; the endpoint's next look starts
    SETTLE before `now`. Endpoints another pass holds are skipped (it does them)."""
    now = now or utcnow()
    endpoints = db.session.execute(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.is_active.is_(True))
        .order_by(WebhookEndpoint.id)
        .with_for_update(skip_locked=True)
    ).scalars()
    brands: dict[int, Organization] = {}
    made: list[WebhookDelivery] = []
    for endpoint in list(endpoints):
        brand = brands.get(endpoint.brand_id)
        if brand is None:
            brand = db.session.execute(
                select(Organization).where(Organization.id == endpoint.brand_id)
            ).scalar_one()
            brands[brand.id] = brand
        after = 0
        while True:
            items, cursor = stock.feed_page(
                brand,
                grade=endpoint.grade,
                updated_since=endpoint.changes_since,
                after=after,
                limit=PAGE,
            )
            if items:
                delivery = WebhookDelivery(
                    endpoint_id=endpoint.id,
                    brand_id=brand.id,
                    variant_ids=[item.variant_id for item in items],
                    item_count=len(items),
                    status=DeliveryStatus.PENDING,
                    created_at=now,
                )
                db.session.add(delivery)
                made.append(delivery)
            if cursor is None:
                break
            after = cursor
        endpoint.changes_since = max(endpoint.changes_since, now - SETTLE)
    db.session.flush()
    return [NewDelivery(d.id, d.brand_id) for d in made]


# -- sending -------------------------------------------------------------------------------------


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: what a receiver computes with its copy of the secret."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def send(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST one body; the status code answered (redirects are not followed: an endpoint that
    moved is a failure HQ should see). Raises RefusedAddress for a URL the portal does not call
    (checked again here: the rules may have changed since it was saved) or a host that resolves
    to a refused address, and requests' errors when no answer came."""
    problem = url_problem(url)
    if problem is not None:
        raise RefusedAddress(problem)
    with requests.Session() as session:
        session.trust_env = False  # a proxy from the environment would hide the real peer
        session.mount("http://", _CheckedAdapter())
        session.mount("https://", _CheckedAdapter())
        response = session.post(
            url, data=body, headers=headers, timeout=TIMEOUT_SECONDS, allow_redirects=False
        )
        return response.status_code


def _body(delivery: WebhookDelivery, brand: Organization, endpoint: WebhookEndpoint) -> bytes:
    rows = db.session.execute(
        select(Variant.id, Variant.sku)
        .where(in_ids(Variant.id, delivery.variant_ids), Variant.brand_id == brand.id)
        .order_by(Variant.id)
    ).all()
    items = stock.feed_items(brand, [(row[0], row[1]) for row in rows], grade=endpoint.grade)
    payload = {
        "event": EVENT,
        "delivery": str(delivery.id),
        "brand": brand.code,
        "grade": endpoint.grade,
        "as_of": utcnow().isoformat(),
        "items": [
            {"sku": i.sku, "grade": i.grade, "available": i.available, "delivery": i.delivery}
            for i in items
        ],
    }
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def _find(delivery_id: int) -> WebhookDelivery | None:
    return db.session.execute(
        select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
    ).scalar_one_or_none()


def deliver(delivery_id: int) -> str:
    """One attempt at a delivery: its status afterwards. A 2xx answer delivers it; anything else
    (another status, no answer) is recorded on the delivery, which stays pending, and raises
    WebhookFailed. The caller (the job) commits the record before it lets the failure through,
    so the queue's retry, and HQ's page, see every attempt."""
    delivery = _find(delivery_id)
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return delivery.status if delivery is not None else DeliveryStatus.FAILED
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        delivery.status, delivery.error = DeliveryStatus.FAILED, "endpoint removed"
        return delivery.status
    brand = db.session.execute(
        select(Organization).where(Organization.id == delivery.brand_id)
    ).scalar_one()
    body = _body(delivery, brand, endpoint)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "portal-webhooks/1",
        "X-Portal-Event": EVENT,
        "X-Portal-Delivery": str(delivery.id),
        "X-Portal-Signature": sign(endpoint.secret, body),
    }
    delivery.attempts += 1
    delivery.attempted_at = utcnow()
    try:
        code: int | None = send(endpoint.url, body, headers)
        error = None if 200 <= (code or 0) < 300 else f"HTTP {code}"
    except RefusedAddress as exc:
        # Not the endpoint's failure to answer: asking again would be refused again.
        delivery.status_code = None
        delivery.status, delivery.error = DeliveryStatus.FAILED, f"Refused: {exc}"[:500]
        return delivery.status
    except requests.RequestException as exc:
        code, error = None, f"{type(exc).__name__}: {exc}"[:500]
    delivery.status_code = code
    delivery.error = error
    if error is None:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = delivery.attempted_at
        return delivery.status
    raise WebhookFailed(f"delivery {delivery.id} to endpoint {endpoint.id}: {error}")


def give_up(delivery_id: int, *, reason: str = "") -> None:
    """Every attempt the queue allows has failed: the delivery is failed for good (the job
    runner calls this when it fails the run). The last attempt's error stays as it was."""
    delivery = _find(delivery_id)
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return
    delivery.status = DeliveryStatus.FAILED
    if not delivery.error:
        delivery.error = reason[:500] or "failed"
