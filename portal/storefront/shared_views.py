"""What the storefront pages share: their blueprint (`storefront`, every brand's shops under
`/shop/<brand_code>/`) and how a page finds its brand. The routes live in the `*_views` modules
that `views` gathers. (Named `_views` so the import contract keeps other packages out of it.)
"""

from __future__ import annotations

from flask import Blueprint
from sqlalchemy import select

from portal.core.access import OrgKind
from portal.core.errors import NotFound
from portal.extensions import db
from portal.network.models import Organization, OrgStatus

bp = Blueprint("storefront", __name__, url_prefix="/shop/<brand_code>")


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
