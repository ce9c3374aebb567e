"""How a shop's URL finds its brand: every page under /shop/<brand_code>/, the storefront's own
and those of the packages above it (members), asks here."""

from __future__ import annotations

from flask import g, has_request_context
from sqlalchemy import select

from portal.core.access import OrgKind
from portal.core.errors import NotFound
from portal.extensions import db
from portal.network.models import Organization, OrgStatus

# flask.g key: brand code -> the brand this request found (cleared as each request starts,
# shared_views.forget_shop_brands, since tests run many requests in one app context).
REMEMBERED = "shop_brands"


def shop_brand(brand_code: str) -> Organization:
    """The brand whose shop the URL names: an active brand, or 404 (the storefront is public,
    so this is the one load that needs no actor). Loaded once per request: the route's
    decorator, the view and the context processors all ask."""
    code = brand_code.upper()
    known: dict[str, Organization] = g.setdefault(REMEMBERED, {}) if has_request_context() else {}
    brand = known.get(code)
    if brand is None:
        brand = db.session.execute(
            select(Organization).where(
                Organization.code == code,
                Organization.kind == OrgKind.BRAND,
                Organization.status == OrgStatus.ACTIVE,
            )
        ).scalar_one_or_none()
        if brand is None:
            raise NotFound()
        known[code] = brand
    return brand


def forget_shop_brands() -> None:
    g.pop(REMEMBERED, None)
