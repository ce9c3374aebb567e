"""HQ's reads of its policies: versions, the links an audience targets, and how far a published
version has reached (delivered, read, acknowledged)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, false, func, or_, select
from sqlalchemy.orm import aliased, selectinload

from portal.core.access import Actor
from portal.core.errors import NotFound
from portal.core.pagination import Page, paginate
from portal.extensions import db
from portal.network.models import ChannelLink, Organization, OrgStatus
from portal.policy.models import AudienceKind, Notification, Policy, PolicyVersion


def visible_versions(actor: Actor) -> Select[Any]:
    """Policies are HQ's documents: seen by the HQ of their brand (buyers see them through their
    inbox and price explanations)."""
    stmt = select(PolicyVersion).join(Policy, Policy.id == PolicyVersion.policy_id)
    if actor.is_system:
        return stmt
    if not actor.is_hq:
        return stmt.where(false())
    return stmt.where(PolicyVersion.brand_id == actor.org_id)


def list_versions(
    actor: Actor,
    *,
    status: str | None = None,
    q: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page:
    """The latest version of each policy (older versions are reached from it)."""
    newer = aliased(PolicyVersion)
    latest = select(func.max(newer.number)).where(newer.policy_id == Policy.id).scalar_subquery()
    stmt = visible_versions(actor).where(PolicyVersion.number == latest)
    if status:
        stmt = stmt.where(PolicyVersion.status == status)
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(Policy.code.ilike(like), Policy.name.ilike(like)))
    return paginate(stmt.order_by(PolicyVersion.effective_from.desc(), Policy.code), page, per_page)


def find_version(actor: Actor, version_id: int) -> PolicyVersion | None:
    return db.session.execute(
        visible_versions(actor).where(PolicyVersion.id == version_id)
    ).scalar_one_or_none()


def get_version(actor: Actor, version_id: int) -> PolicyVersion:
    version = find_version(actor, version_id)
    if version is None:
        raise NotFound()
    return version


def find_policy(brand_id: int, code: str) -> Policy | None:
    return db.session.execute(
        select(Policy).where(Policy.brand_id == brand_id, Policy.code == code.strip().upper())
    ).scalar_one_or_none()


def audience_links_by_values(brand_id: int, kind: str, values: Iterable[str]) -> Select[Any]:
    """Links of active buyers that an audience (kind, values) targets."""
    stmt = (
        select(ChannelLink)
        .join(Organization, Organization.id == ChannelLink.buyer_org_id)
        .where(ChannelLink.brand_id == brand_id, Organization.status == OrgStatus.ACTIVE)
    )
    values = list(values)
    if kind == AudienceKind.LEVEL:
        stmt = stmt.where(ChannelLink.level.in_(values))
    elif kind == AudienceKind.REGION:
        stmt = stmt.where(ChannelLink.region.in_(values))
    elif kind == AudienceKind.ORGS:
        stmt = stmt.where(ChannelLink.buyer_org_id.in_([int(v) for v in values]))
    return stmt


def audience_links(version: PolicyVersion) -> Select[Any]:
    values = [a.value for a in version.audience]
    return audience_links_by_values(version.brand_id, version.audience_kind, values)


def count_audience(version: PolicyVersion) -> int:
    stmt = audience_links(version).order_by(None).with_only_columns(func.count())
    return db.session.execute(stmt).scalar_one()


@dataclass
class ReachRow:
    level: str
    region: str
    delivered: int
    read: int
    acknowledged: int


def reach(version: PolicyVersion) -> list[ReachRow]:
    """Delivered / read / acknowledged per level and region of the targeted links."""
    stmt = (
        select(
            ChannelLink.level,
            ChannelLink.region,
            func.count(Notification.id),
            func.count(Notification.read_at),
            func.count(Notification.acknowledged_at),
        )
        .join(
            ChannelLink,
            and_(
                ChannelLink.brand_id == Notification.brand_id,
                ChannelLink.buyer_org_id == Notification.org_id,
            ),
        )
        .where(Notification.version_id == version.id)
        .group_by(ChannelLink.level, ChannelLink.region)
        .order_by(ChannelLink.level, ChannelLink.region)
    )
    return [ReachRow(*row) for row in db.session.execute(stmt)]


def unacknowledged(version: PolicyVersion, *, page: int = 1, per_page: int = 50) -> Page:
    stmt = (
        select(Notification)
        .join(Organization, Organization.id == Notification.org_id)
        .where(Notification.version_id == version.id, Notification.acknowledged_at.is_(None))
        .options(selectinload(Notification.org))
        .order_by(Organization.code)
    )
    return paginate(stmt, page, per_page)
