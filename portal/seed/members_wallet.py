"""Demo points and wallet money for the members of a brand's programme (after they joined:
portal/seed/members.py): each gets a paid top-up of ¥200 and a sale at one of the brand's stores
a month ago, whose points have matured. Through the same ledgers and rules as real ones;
idempotent (a second run adds nothing)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal.core.access import Actor, OrgKind
from portal.core.db import utcnow
from portal.extensions import db
from portal.inventory.services import default_location
from portal.members import membership, points, wallet
from portal.members.ledger_models import PosSale
from portal.members.models import Member, MemberStatus
from portal.network.models import ChannelLink, Organization, OrgStatus

TOP_UP_CENTS = 20_000
SALE_CENTS = 38_000
DEMO_MEMBERS = 5


def seed_wallets(brand: Organization) -> int:
    """Give the brand programme's first members some wallet money and usable points; returns
    how many members got them now."""
    program = membership.find_program(brand.id)
    store = _first_store(brand)
    if program is None:
        return 0
    members = db.session.execute(
        select(Member)
        .where(Member.program_id == program.id, Member.status == MemberStatus.ACTIVE)
        .order_by(Member.id)
        .limit(DEMO_MEMBERS)
    ).scalars()
    created = 0
    for member in list(members):
        wallet.credit_seed_top_up(member, brand, TOP_UP_CENTS, f"WDEMO{member.id}")
        if store is None or not member.phone:
            continue
        location = default_location(store)
        reference = f"DEMO-{member.number}"
        # One demo sale per member, whichever brand of a shared programme seeds first.
        known = db.session.execute(
            select(PosSale.id).where(PosSale.member_id == member.id, PosSale.reference == reference)
        ).first()
        if known is not None:
            continue
        points.record_pos_sale(
            Actor.system(),
            brand,
            location,
            phone=member.phone,
            amount_cents=SALE_CENTS,
            reference=reference,
            occurred_at=utcnow() - timedelta(days=30),
        )
        created += 1
    points.mature_due(now=utcnow())
    db.session.flush()
    return created


def _first_store(brand: Organization) -> Organization | None:
    return db.session.execute(
        select(Organization)
        .join(ChannelLink, ChannelLink.buyer_org_id == Organization.id)
        .where(
            ChannelLink.brand_id == brand.id,
            Organization.kind == OrgKind.STORE,
            Organization.status == OrgStatus.ACTIVE,
        )
        .order_by(Organization.code)
        .limit(1)
    ).scalar_one_or_none()
