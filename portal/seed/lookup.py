"""What the demo seeds look up by the names they are written with: an org by its code, a person
acting as their membership of an org."""

from __future__ import annotations

from sqlalchemy import select

from portal.auth.services import actor_for_membership
from portal.core.access import Actor
from portal.extensions import db
from portal.network.models import Membership, Organization, User


def org(code: str) -> Organization:
    return db.session.execute(select(Organization).where(Organization.code == code)).scalar_one()


def actor(email: str, org_code: str) -> Actor:
    membership = db.session.execute(
        select(Membership)
        .join(User, User.id == Membership.user_id)
        .join(Organization, Organization.id == Membership.org_id)
        .where(User.email == email, Organization.code == org_code)
    ).scalar_one()
    return actor_for_membership(membership)
