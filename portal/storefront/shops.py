"""How a shop's URL finds its brand: every page under /shop/<brand_code>/, the storefront's own
and those of the packages above it (members), asks here."""

from __future__ import annotations

from sqlalchemy import select

from portal.core.access import OrgKind
from portal.core.errors import NotFound
from portal.extensions import db
from portal.network.models import Organization, OrgStatus


def shop_brand(brand_code: str) -> Organization:
    """The brand whose shop the URL names: an active brand, or 404 (the storefront is public,
    so this is the one load that needs no actor)."""
    brand = db.session.execute(
        select(Organization).where(
            Organization.code == brand_code.upper(),
            Organization.kind == OrgKind.BRAND,
            Organization.status == OrgStatus.ACTIVE,
        )
    ).scalar_one_or_none()
    if brand is None:
        raise NotFound()
    return brand
