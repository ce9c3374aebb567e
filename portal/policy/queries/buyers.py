"""Who buys: a buyer link seen as a member of its price group, and which brands' catalogs an
actor may browse and as whom."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from portal.core.access import Actor, Permission
from portal.core.errors import NotFound
from portal.extensions import db
from portal.network.models import ChannelLink, Organization


@dataclass(frozen=True)
class Buyer:
    """One buyer link seen as a price group member: brand, level, region and the org itself."""

    brand_id: int
    org_id: int
    org_code: str
    level: str
    region: str
    link_id: int
    supplier_org_id: int
    credit_limit_cents: int
    payment_terms_days: int

    @classmethod
    def of(cls, link: ChannelLink, org_code: str) -> Buyer:
        return cls(
            brand_id=link.brand_id,
            org_id=link.buyer_org_id,
            org_code=org_code,
            level=link.level,
            region=link.region,
            link_id=link.id,
            supplier_org_id=link.supplier_org_id,
            credit_limit_cents=link.credit_limit_cents,
            payment_terms_days=link.payment_terms_days,
        )

    @classmethod
    def for_link(cls, link: ChannelLink) -> Buyer:
        return cls.of(link, link.buyer.code)


def buys_as(actor: Actor, buyer: Buyer | None) -> bool:
    """Whether the catalog shown is the actor's own org's, with a role that orders from it (HQ
    looking "as" another org browses, it does not order)."""
    return buyer is not None and buyer.org_id == actor.org_id and actor.can(Permission.ORDER_PLACE)


def is_brand_hq(actor: Actor, brand_id: int) -> bool:
    return actor.is_system or (actor.is_hq and actor.org_id == brand_id)


def buyer_for(actor: Actor, brand_id: int, as_org: str | None = None) -> Buyer | None:
    """The buyer whose prices the actor sees in a brand.

    A distributor or store sees its own link (404 when it does not buy from the brand). HQ sees
    everything (None) or, with `as_org`, the catalog as that org of its brand sees it.
    """
    if is_brand_hq(actor, brand_id):
        if not as_org:
            return None
        row = db.session.execute(
            select(ChannelLink, Organization.code)
            .join(Organization, Organization.id == ChannelLink.buyer_org_id)
            .where(ChannelLink.brand_id == brand_id, Organization.code == as_org.strip().upper())
        ).first()
    else:
        if as_org and as_org.strip().upper() != actor.org_code:
            raise NotFound()
        row = db.session.execute(
            select(ChannelLink, Organization.code)
            .join(Organization, Organization.id == ChannelLink.buyer_org_id)
            .where(ChannelLink.brand_id == brand_id, ChannelLink.buyer_org_id == actor.org_id)
        ).first()
    if row is None:
        raise NotFound()
    return Buyer.of(row[0], row[1])


def buying_brands(actor: Actor) -> list[Organization]:
    """Brands whose catalog the actor may browse: its own (HQ) or those it buys from."""
    if actor.is_hq:
        own = db.session.get(Organization, actor.org_id) if actor.org_id is not None else None
        return [own] if own is not None else []
    stmt = (
        select(Organization)
        .join(ChannelLink, ChannelLink.brand_id == Organization.id)
        .where(ChannelLink.buyer_org_id == actor.org_id)
        .order_by(Organization.code)
    )
    return list(db.session.execute(stmt).scalars())


def get_buying_brand(actor: Actor, code: str | None = None) -> Organization:
    """A brand whose catalog the actor may browse, by code (the first one without a code);
    any other brand is a 404."""
    brands = buying_brands(actor)
    if code:
        brands = [b for b in brands if b.code == code.strip().upper()]
    if not brands:
        raise NotFound()
    return brands[0]
