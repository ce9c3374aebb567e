"""Commission ledger fixtures of their own (no checkout attribution needed): guides of a retail
shop's stores, attributions written by hand, and entries written straight into the ledger."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select

from portal.core.access import Actor, Role
from portal.extensions import db
from portal.guides.models import (
    Attribution,
    AttributionRule,
    CommissionEntry,
    CommissionKind,
    Guide,
)
from portal.network import people
from portal.network.models import Organization, User


def person(org: Organization, role: Role = Role.STORE_STAFF, *, name: str = "") -> User:
    user = people.create_user(
        email=f"g-{secrets.token_hex(4)}@commission.test",
        name=name or f"Guide of {org.code}",
        password="guide-pass-1234",
    )
    people.add_member(Actor.system(), org, user, role)
    return user


def make_guide(brand_id: int, org: Organization, *, user: User | None = None) -> Guide:
    user = user or person(org)
    guide = Guide(
        brand_id=brand_id, org_id=org.id, user_id=user.id, code=secrets.token_hex(4).upper()
    )
    db.session.add(guide)
    db.session.flush()
    return guide


def attribute(
    guide: Guide,
    *,
    order_id: int | None = None,
    sale_id: int | None = None,
    commission_cents: int,
    basis_cents: int = 0,
    earns: bool = True,
) -> Attribution:
    row = Attribution(
        brand_id=guide.brand_id,
        guide_id=guide.id,
        guide_org_id=guide.org_id,
        consumer_order_id=order_id,
        pos_sale_id=sale_id,
        rule=AttributionRule.CODE,
        earns=earns,
        basis_cents=basis_cents,
        commission_cents=commission_cents if earns else 0,
    )
    db.session.add(row)
    db.session.flush()
    return row


def entry(
    guide: Guide,
    amount_cents: int,
    matures_at: datetime,
    *,
    kind: CommissionKind = CommissionKind.EARN,
    reference: str | None = None,
) -> CommissionEntry:
    row = CommissionEntry(
        brand_id=guide.brand_id,
        guide_id=guide.id,
        org_id=guide.org_id,
        kind=kind,
        amount_cents=amount_cents,
        reference=reference or f"T{secrets.token_hex(5)}",
        matures_at=matures_at,
    )
    db.session.add(row)
    db.session.flush()
    return row


def entries_of(guide: Guide) -> list[CommissionEntry]:
    return list(
        db.session.execute(
            select(CommissionEntry)
            .where(CommissionEntry.guide_id == guide.id)
            .order_by(CommissionEntry.id)
        ).scalars()
    )
