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
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import requests
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

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


# -- endpoints -----------------------------------------------------------------------------------


def _checked_url(raw: str) -> str:
    url = (raw or "").strip()
    parts = urlsplit(url)
    if len(url) > 500 or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed(fields={"url": say(_l("Give a full http:// or https:// address."))})
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
    moved is a failure HQ should see). Raises requests' errors when no answer came."""
    response = requests.post(
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
