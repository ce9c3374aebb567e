"""Every org's inbox: the notifications of the policies that reached it, its own and no one
else's."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from portal.core.access import Actor
from portal.core.errors import NotFound
from portal.core.pagination import Page, paginate
from portal.extensions import db
from portal.network.models import Organization
from portal.policy.models import Notification, PolicyVersion


def list_notifications(
    actor: Actor, *, unread: bool = False, page: int = 1, per_page: int = 50
) -> Page:
    stmt = (
        select(Notification)
        .where(Notification.org_id == actor.org_id)
        .options(selectinload(Notification.version).selectinload(PolicyVersion.policy))
        .order_by(Notification.created_at.desc(), Notification.id.desc())
    )
    if unread:
        stmt = stmt.where(Notification.read_at.is_(None))
    return paginate(stmt, page, per_page)


def count_unread(actor: Actor) -> int:
    if actor.org_id is None:
        return 0
    stmt = select(func.count(Notification.id)).where(
        Notification.org_id == actor.org_id, Notification.read_at.is_(None)
    )
    return db.session.execute(stmt).scalar_one()


def get_notification(actor: Actor, notification_id: int) -> Notification:
    """An inbox item is its org's own: anyone else (HQ included) gets a 404."""
    notification = db.session.get(Notification, notification_id)
    if notification is None or notification.org_id != actor.org_id:
        raise NotFound()
    return notification


def get_notification_brand(actor: Actor, notification: Notification) -> Organization:
    """The brand that sent an inbox item: an org always sees who wrote to it, even after its
    link to that brand has gone."""
    if notification.org_id != actor.org_id:
        raise NotFound()
    brand = db.session.get(Organization, notification.brand_id)
    if brand is None:
        raise NotFound()
    return brand
