"""Counting the campaigns' rows a test made: the demo seed (every test database has it) gives
ACME a campaign of its own (portal/seed/campaigns.py), which "nothing was written" must not see."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.campaigns.models import GuideTask, LiveEvent, LiveEventItem, TaskAssignment
from portal.extensions import db
from portal.network.models import Organization

DEMO_BRANDS = ("ACME", "LUMI")


def count(model, *conditions) -> int:
    """Rows of `model` matching `conditions`, leaving out the demo brands' own."""
    demo = select(Organization.id).where(Organization.code.in_(DEMO_BRANDS))
    query = select(func.count()).select_from(model).where(*conditions)
    if model is LiveEventItem:
        query = query.join(LiveEvent, LiveEvent.id == LiveEventItem.event_id)
        query = query.where(LiveEvent.brand_id.not_in(demo))
    elif model is TaskAssignment:
        query = query.join(GuideTask, GuideTask.id == TaskAssignment.task_id)
        query = query.where(GuideTask.brand_id.not_in(demo))
    elif hasattr(model, "brand_id"):
        query = query.where(model.brand_id.not_in(demo))
    return db.session.execute(query).scalar_one()
