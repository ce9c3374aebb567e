"""Opening a guide's link: the visit is written (for attribution's second rule, and binding on
first visit) and the browser is sent where the link points.

A link counts only when its token is correctly signed and unexpired (links.read_token), names
an active guide of the shop's own brand, and is opened in that brand's shop; anything else
records nothing and the visitor lands on the shop's home page. The browser's own random id
(`visitor`, a long-lived cookie) is kept with the visit, so a link opened before signing in still
counts once the same browser checks out. The same browser opening the same link again within
REOPEN_MINUTES (a reload, a second tap) finds its visit and writes no other.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import quote

from flask import has_request_context, request
from sqlalchemy import select

from portal.core.db import utcnow
from portal.extensions import db
from portal.guides import bindings
from portal.guides.links import LinkClaim, read_token
from portal.guides.models import BindingMode, Guide, GuideVisit, LinkTarget
from portal.network.models import Organization
from portal.policy.consumer_terms import terms_for
from portal.storefront.models import Consumer

VISITOR_COOKIE = "gv"  # the browser's own random id, set when it opens a guide's link
VISITOR_FORM = re.compile(r"[A-Za-z0-9_-]{16,40}\Z")


def browser_visitor() -> str | None:
    """This browser's own id from its cookie, when in a request and well-formed (checkout's
    `CheckoutExtras.visitor`, a coupon or red-packet claim's guide visit)."""
    if not has_request_context():
        return None
    raw = request.cookies.get(VISITOR_COOKIE, "")
    return raw if VISITOR_FORM.match(raw) else None


MAX_VISITOR = 40  # GuideVisit.visitor
REOPEN_MINUTES = 10


def valid_claim(brand: Organization, token: str) -> tuple[LinkClaim, Guide] | None:
    """The token's claim and its guide, when the link counts in this brand's shop."""
    claim = read_token(token)
    if claim is None:
        return None
    guide = db.session.execute(
        select(Guide).where(Guide.code == claim.guide_code)
    ).scalar_one_or_none()
    if guide is None or not guide.is_active or guide.brand_id != brand.id:
        return None
    return claim, guide


def record_visit(
    brand: Organization, token: str, *, consumer: Consumer | None, visitor: str = ""
) -> GuideVisit | None:
    """Write the visit of a link that counts (see `valid_claim`), by the signed-in consumer if
    any and this browser, and bind the consumer when the brand binds on first visit. None, and
    nothing written, for a link that does not count."""
    found = valid_claim(brand, token)
    if found is None:
        return None
    claim, guide = found
    if consumer is not None and consumer.brand_id != brand.id:
        consumer = None
    now = utcnow()
    again = _recent_visit(brand.id, guide.id, claim, consumer, visitor, now)
    if again is not None:
        return again  # the same browser opening the same link again: one visit, not a flood
    visit = GuideVisit(
        brand_id=brand.id,
        guide_id=guide.id,
        consumer_id=consumer.id if consumer is not None else None,
        visitor=(visitor or "")[:MAX_VISITOR],
        target=claim.target,
        ref=claim.ref,
        opened_at=now,
    )
    db.session.add(visit)
    db.session.flush()
    if consumer is not None:
        terms = terms_for(brand.id).guides
        bindings.bind(terms, brand.id, consumer, guide, BindingMode.FIRST_VISIT, at=now)
    return visit


def _recent_visit(
    brand_id: int,
    guide_id: int,
    claim: LinkClaim,
    consumer: Consumer | None,
    visitor: str,
    now: datetime,
) -> GuideVisit | None:
    """This browser's (and signed-in consumer's) visit of the same link within REOPEN_MINUTES:
    a reload or a second tap counts once (the window moves by minutes at most)."""
    if not visitor:
        return None
    return db.session.execute(
        select(GuideVisit)
        .where(
            GuideVisit.brand_id == brand_id,
            GuideVisit.visitor == visitor[:MAX_VISITOR],
            GuideVisit.guide_id == guide_id,
            GuideVisit.target == claim.target,
            GuideVisit.ref == claim.ref,
            GuideVisit.consumer_id.is_(None)
            if consumer is None
            else GuideVisit.consumer_id == consumer.id,
            GuideVisit.opened_at >= now - timedelta(minutes=REOPEN_MINUTES),
        )
        .order_by(GuideVisit.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def target_path(brand: Organization, target: str, ref: str) -> str:
    """Where a link to `target` with `ref` opens in the brand's shop (its home page when the
    link names nothing)."""
    home = f"/shop/{quote(brand.code, safe='')}/"
    part = quote(ref, safe="")
    if not part or target == LinkTarget.HOME:
        return home
    if target == LinkTarget.PRODUCT:
        return f"{home}p/{part}"
    if target == LinkTarget.SHOP:
        return f"{home}s/{part}/"
    if target == LinkTarget.EVENT:
        return f"{home}employee/sales/{part}"
    if target == LinkTarget.COUPON:
        return f"{home}coupons/{part}"
    if target == LinkTarget.LIVE:  # the campaigns' pages (portal/campaigns)
        return f"{home}live/{part}"
    if target == LinkTarget.GROUP_BUY:
        return f"{home}group-buys/{part}"
    if target == LinkTarget.RED_PACKET:
        return f"{home}red-packets/{part}"
    return home
