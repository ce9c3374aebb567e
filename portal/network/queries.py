"""Scoped reads of the network: every function takes an Actor and returns only what it may see."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, false, func, or_, select
from sqlalchemy.orm import aliased

from portal.core.access import Actor, OrgKind, links_below, org_visible
from portal.core.errors import NotFound
from portal.core.pagination import Page, paginate
from portal.extensions import db
from portal.network.models import (
    ChannelLink,
    Invitation,
    Membership,
    Organization,
    OrgStatus,
    User,
)


def visible_orgs(
    actor: Actor,
    *,
    kind: str | None = None,
    brand_id: int | None = None,
    status: str | None = None,
    q: str | None = None,
) -> Select[Any]:
    stmt = select(Organization).where(org_visible(actor, Organization.id))
    if kind:
        stmt = stmt.where(Organization.kind == kind)
    if status:
        stmt = stmt.where(Organization.status == status)
    if brand_id is not None:
        # Only the actor's own part of that brand's tree, not orgs seen through another brand.
        prefix = actor.path_for(brand_id) or (f"/{brand_id}/" if actor.is_system else None)
        if prefix is None:
            return stmt.where(false())
        in_brand = select(ChannelLink.id).where(
            ChannelLink.brand_id == brand_id,
            ChannelLink.buyer_org_id == Organization.id,
            ChannelLink.path.startswith(prefix),
        )
        own = Organization.id == actor.org_id
        stmt = stmt.where(or_(Organization.id == brand_id, own, in_brand.exists()))
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(Organization.code.ilike(like), Organization.name.ilike(like)))
    return stmt.order_by(Organization.kind, Organization.code)


def list_orgs(actor: Actor, *, page: int = 1, per_page: int = 50, **filters: Any) -> Page:
    return paginate(visible_orgs(actor, **filters), page, per_page)


def find_org(actor: Actor, code: str) -> Organization | None:
    stmt = select(Organization).where(
        Organization.code == code.strip().upper(), org_visible(actor, Organization.id)
    )
    return db.session.execute(stmt).scalar_one_or_none()


def get_org(actor: Actor, code: str) -> Organization:
    org = find_org(actor, code)
    if org is None:
        raise NotFound(f"No organization {code!r} in your network.")
    return org


def is_visible(actor: Actor, org: Organization) -> bool:
    stmt = select(Organization.id).where(
        Organization.id == org.id, org_visible(actor, Organization.id)
    )
    return db.session.execute(stmt).first() is not None


def get_org_by_id(actor: Actor, org_id: int) -> Organization:
    stmt = select(Organization).where(
        Organization.id == org_id, org_visible(actor, Organization.id)
    )
    org = db.session.execute(stmt).scalar_one_or_none()
    if org is None:
        raise NotFound()
    return org


def find_own_org(actor: Actor) -> Organization | None:
    """The org the actor works as (an actor always sees its own); None for the system."""
    if actor.org_id is None:
        return None
    return db.session.get(Organization, actor.org_id)


def get_own_org(actor: Actor) -> Organization:
    org = find_own_org(actor)
    if org is None:
        raise NotFound()
    return org


def links_of(actor: Actor, org: Organization) -> list[ChannelLink]:
    """The org's place in each brand tree the actor shares with it."""
    stmt = select(ChannelLink).where(ChannelLink.buyer_org_id == org.id)
    if not actor.is_system:
        own = ChannelLink.buyer_org_id == actor.org_id
        stmt = stmt.where(or_(own, links_below(actor, ChannelLink.brand_id, ChannelLink.path)))
    return list(db.session.execute(stmt.order_by(ChannelLink.brand_id)).scalars())


def find_link(actor: Actor, brand_id: int, org: Organization) -> ChannelLink | None:
    for link in links_of(actor, org):
        if link.brand_id == brand_id:
            return link
    return None


def brands_of(actor: Actor) -> list[Organization]:
    if not actor.brand_ids:
        return []
    stmt = select(Organization).where(Organization.id.in_(actor.brand_ids))
    return list(db.session.execute(stmt.order_by(Organization.code)).scalars())


def find_brand(actor: Actor, brand_id: int) -> Organization | None:
    """A brand whose tree the actor is part of (any brand for the system), else None."""
    if not (actor.is_system or brand_id in actor.brand_ids):
        return None
    brand = db.session.get(Organization, brand_id)
    return brand if brand is not None and brand.kind == OrgKind.BRAND else None


def suppliers_for(actor: Actor, brand_id: int) -> list[Organization]:
    """Orgs that may supply a new store in this brand: the brand and its visible distributors."""
    stmt = (
        select(Organization)
        .join(ChannelLink, ChannelLink.buyer_org_id == Organization.id)
        .where(
            ChannelLink.brand_id == brand_id,
            Organization.kind == OrgKind.DISTRIBUTOR,
            Organization.status == OrgStatus.ACTIVE,
            org_visible(actor, Organization.id),
        )
        .order_by(Organization.code)
    )
    distributors = list(db.session.execute(stmt).scalars())
    if actor.is_hq and brand_id in actor.brand_ids or actor.is_system:
        brand = db.session.get(Organization, brand_id)
        return [brand, *distributors] if brand else distributors
    return distributors


@dataclass
class TreeNode:
    org: Organization
    link: ChannelLink | None
    members: int = 0
    children: list[TreeNode] = field(default_factory=list)

    @property
    def store_count(self) -> int:
        return sum(1 for c in self.walk() if c.org.kind == OrgKind.STORE)

    def walk(self):
        for child in self.children:
            yield child
            yield from child.walk()


def network_tree(actor: Actor, brand_id: int) -> TreeNode:
    """The actor's part of one brand's tree, with member counts: two queries, any size."""
    root_path = actor.path_for(brand_id)
    if root_path is None and not actor.is_system:
        raise NotFound()
    root_path = root_path or f"/{brand_id}/"
    buyer = aliased(Organization)
    rows = db.session.execute(
        select(ChannelLink, buyer)
        .join(buyer, ChannelLink.buyer_org_id == buyer.id)
        .where(ChannelLink.brand_id == brand_id, ChannelLink.path.startswith(root_path))
        .order_by(ChannelLink.path)
    ).all()
    root_id = int(root_path.rstrip("/").rsplit("/", 1)[-1])
    root_org = db.session.get(Organization, root_id)
    if root_org is None:
        raise NotFound()
    org_ids = [root_id, *(org.id for _link, org in rows)]
    counts = Counter(
        dict(
            db.session.execute(
                select(Membership.org_id, func.count())
                .where(Membership.org_id.in_(org_ids))
                .group_by(Membership.org_id)
            )
            .tuples()
            .all()
        )
    )
    nodes: dict[int, TreeNode] = {}
    root_link = next((link for link, org in rows if org.id == root_id), None)
    root = TreeNode(root_org, root_link, counts[root_id])
    nodes[root_id] = root
    for link, org in rows:
        if org.id == root_id:
            continue
        node = TreeNode(org, link, counts[org.id])
        nodes[org.id] = node
        parent = nodes.get(link.supplier_org_id)
        (parent or root).children.append(node)
    return root


def list_members(actor: Actor, org: Organization) -> list[Membership]:
    get_org_by_id(actor, org.id)  # the org itself must be visible
    stmt = (
        select(Membership)
        .join(User, Membership.user_id == User.id)
        .where(Membership.org_id == org.id)
        .order_by(User.email)
    )
    return list(db.session.execute(stmt).scalars())


def get_membership(actor: Actor, membership_id: int) -> Membership:
    stmt = select(Membership).where(
        Membership.id == membership_id, org_visible(actor, Membership.org_id)
    )
    membership = db.session.execute(stmt).scalar_one_or_none()
    if membership is None:
        raise NotFound()
    return membership


def find_invitation(actor: Actor, invitation_id: int) -> Invitation | None:
    """An invitation to an org the actor can see."""
    stmt = select(Invitation).where(
        Invitation.id == invitation_id, org_visible(actor, Invitation.org_id)
    )
    return db.session.execute(stmt).scalar_one_or_none()


def count_orgs_by_kind(actor: Actor, brand_id: int | None = None) -> dict[str, int]:
    sub = visible_orgs(actor, brand_id=brand_id).order_by(None).subquery()
    rows = db.session.execute(select(sub.c.kind, func.count()).group_by(sub.c.kind)).all()
    return {kind: n for kind, n in rows}


def actor_names(rows: Sequence[Any]) -> dict[int, str]:
    """Who wrote each ledger row of a page (stock moves, account entries), by row id: the
    person's name, else the org whose API key it was; system rows (jobs, seeds) are left out."""
    user_ids = {r.actor_user_id for r in rows if r.actor_user_id is not None}
    org_ids = {r.actor_org_id for r in rows if r.actor_org_id is not None}
    users: dict[int, str] = {}
    orgs: dict[int, str] = {}
    if user_ids:
        users = dict(
            db.session.execute(select(User.id, User.name).where(User.id.in_(user_ids)))
            .tuples()
            .all()
        )
    if org_ids:
        orgs = dict(
            db.session.execute(
                select(Organization.id, Organization.code).where(Organization.id.in_(org_ids))
            )
            .tuples()
            .all()
        )
    names = {}
    for row in rows:
        if row.actor_user_id in users:
            names[row.id] = users[row.actor_user_id]
        elif row.actor_org_id in orgs:
            names[row.id] = orgs[row.actor_org_id]
    return names
