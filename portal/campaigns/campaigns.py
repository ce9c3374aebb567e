"""Campaigns: HQ's plan over a window, which tasks, live events, group buys and red packets name
(their `campaign_id`), so that HQ reads reach, orders, revenue and cost per campaign
(reports.py).

A campaign is the brand's own (CAMPAIGNS_MANAGE, the brand's HQ; anyone else's is a 404). It is
drafted with a code (unique in the brand), a name, a description and a window; started (live:
the other pages offer it to name their things) and closed (the report stays). A draft may
change everything; a live campaign everything but its code; a closed one nothing.

For the other campaign services: `find_campaign` (a campaign of the brand, or None, to check
a `campaign_id` a form sent) and `open_campaigns` (those a new thing may name).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.campaigns.models import (
    Campaign,
    CampaignStatus,
    GroupBuy,
    GuideTask,
    LiveEvent,
    RedPacketPlan,
)
from portal.core import audit
from portal.core.access import Actor, OrgKind, Permission
from portal.core.db import utcnow
from portal.core.errors import Conflict, NotFound, ValidationFailed
from portal.extensions import db
from portal.network.models import Organization, OrgStatus
from portal.storefront.words import say

CODE = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,31}\Z")
NAME_MAX = 120
DESCRIPTION_MAX = 500
STATUS_NAMES = {
    CampaignStatus.DRAFT: _l("Draft"),
    CampaignStatus.LIVE: _l("Live"),
    CampaignStatus.CLOSED: _l("Closed"),
}


@dataclass(frozen=True)
class CampaignInput:
    code: str
    name: str
    starts_at: datetime | None
    ends_at: datetime | None
    description: str = ""


# -- who and which brand ---------------------------------------------------------------------------


def ensure_hq(actor: Actor, brand_id: int) -> None:
    """The brand's own HQ with CAMPAIGNS_MANAGE (or the system); anyone else finds nothing (a
    404). Every campaigns service that writes or reads HQ's own things asks this."""
    if actor.is_system:
        return
    if not (actor.is_hq and actor.org_id == brand_id):
        raise NotFound()
    actor.ensure(Permission.CAMPAIGNS_MANAGE)


def hq_brand(actor: Actor) -> Organization:
    """The brand whose HQ the actor is (an active brand org: its campaigns, events, group buys,
    red packets and sharers are the ones they see); NotFound for anyone not at a brand's HQ."""
    if not actor.is_hq or actor.org_id is None:
        raise NotFound()
    brand = db.session.execute(
        select(Organization).where(
            Organization.id == actor.org_id,
            Organization.kind == OrgKind.BRAND,
            Organization.status == OrgStatus.ACTIVE,
        )
    ).scalar_one_or_none()
    if brand is None:
        raise NotFound()
    return brand


# -- reads -----------------------------------------------------------------------------------------


def list_campaigns(actor: Actor) -> list[Campaign]:
    """The actor's brand's campaigns, newest window first."""
    brand = hq_brand(actor)
    ensure_hq(actor, brand.id)
    return list(
        db.session.execute(
            select(Campaign)
            .where(Campaign.brand_id == brand.id)
            .order_by(Campaign.starts_at.desc(), Campaign.id.desc())
        ).scalars()
    )


def get_campaign(actor: Actor, campaign_id: int) -> Campaign:
    """The scoped loader: the campaign of the actor's own brand (HQ); any other is a 404."""
    if actor.is_system:
        found = db.session.execute(
            select(Campaign).where(Campaign.id == campaign_id)
        ).scalar_one_or_none()
    elif actor.is_hq and actor.org_id is not None:
        found = find_campaign(actor.org_id, campaign_id)
    else:
        found = None
    if found is None:
        raise NotFound()
    return found


def find_campaign(brand_id: int, campaign_id: int | None) -> Campaign | None:
    """The brand's campaign of that id, or None (another brand's, or none)."""
    if campaign_id is None:
        return None
    return db.session.execute(
        select(Campaign).where(Campaign.id == campaign_id, Campaign.brand_id == brand_id)
    ).scalar_one_or_none()


def open_campaigns(brand_id: int) -> list[Campaign]:
    """The brand's campaigns a new task, event, group buy or red packet may name: drafted or
    live, and not over."""
    return list(
        db.session.execute(
            select(Campaign)
            .where(
                Campaign.brand_id == brand_id,
                Campaign.status.in_((CampaignStatus.DRAFT, CampaignStatus.LIVE)),
                Campaign.ends_at > utcnow(),
            )
            .order_by(Campaign.starts_at, Campaign.id)
        ).scalars()
    )


@dataclass(frozen=True)
class Named:
    """What names a campaign: its tasks, live events, group buys and red-packet plans."""

    tasks: list[GuideTask]
    events: list[LiveEvent]
    group_buys: list[GroupBuy]
    plans: list[RedPacketPlan]

    @property
    def count(self) -> int:
        return len(self.tasks) + len(self.events) + len(self.group_buys) + len(self.plans)


def named_by(campaign: Campaign) -> Named:
    """Four queries: the brand's rows of each kind whose `campaign_id` is the campaign's."""

    def rows(model: Any, order: Any) -> list[Any]:
        return list(
            db.session.execute(
                select(model)
                .where(model.campaign_id == campaign.id, model.brand_id == campaign.brand_id)
                .order_by(order, model.id)
            ).scalars()
        )

    return Named(
        tasks=rows(GuideTask, GuideTask.starts_at),
        events=rows(LiveEvent, LiveEvent.starts_at),
        group_buys=rows(GroupBuy, GroupBuy.starts_at),
        plans=rows(RedPacketPlan, RedPacketPlan.code),
    )


# -- writes ----------------------------------------------------------------------------------------


def _mistakes(errors: dict[str, str]) -> ValidationFailed:
    return ValidationFailed(say(_l("The campaign has mistakes.")), fields=errors)


def _check(data: CampaignInput, *, with_code: bool) -> dict[str, object]:
    """The campaign's column values, or ValidationFailed naming every wrong field."""
    errors: dict[str, str] = {}
    code = (data.code or "").strip().upper()
    if with_code and not CODE.match(code):
        errors["code"] = say(_l("Letters, digits, - and _, at most 32."))
    name = (data.name or "").strip()
    if not name or len(name) > NAME_MAX:
        errors["name"] = say(_l("A name of at most %(count)d characters."), count=NAME_MAX)
    description = (data.description or "").strip()
    if len(description) > DESCRIPTION_MAX:
        errors["description"] = say(_l("At most %(count)d characters."), count=DESCRIPTION_MAX)
    if data.starts_at is None:
        errors["starts_at"] = say(_l("When the campaign starts."))
    if data.ends_at is None:
        errors["ends_at"] = say(_l("When the campaign ends."))
    elif data.starts_at is not None and data.ends_at <= data.starts_at:
        errors["ends_at"] = say(_l("The campaign must end after it starts."))
    if errors:
        raise _mistakes(errors)
    values: dict[str, object] = {
        "name": name,
        "description": description,
        "starts_at": data.starts_at,
        "ends_at": data.ends_at,
    }
    if with_code:
        values["code"] = code
    return values


def _code_taken(brand_id: int, code: str, but: int | None = None) -> bool:
    stmt = select(Campaign.id).where(Campaign.brand_id == brand_id, Campaign.code == code)
    if but is not None:
        stmt = stmt.where(Campaign.id != but)
    return db.session.execute(stmt.limit(1)).first() is not None


def _taken() -> ValidationFailed:
    return _mistakes({"code": say(_l("Another campaign of the brand has this code."))})


def _flush_unique(new: Campaign | None = None) -> None:
    """Flush in a savepoint: a code another request took meanwhile is the code's error."""
    try:
        with db.session.begin_nested():
            if new is not None:
                db.session.add(new)
            db.session.flush()
    except IntegrityError:
        raise _taken() from None


def create_campaign(actor: Actor, data: CampaignInput) -> Campaign:
    """A draft campaign of the actor's brand (HQ, CAMPAIGNS_MANAGE). Raises ValidationFailed
    naming the field: a code the brand already uses, an end not after the start."""
    brand = hq_brand(actor)
    ensure_hq(actor, brand.id)
    values = _check(data, with_code=True)
    if _code_taken(brand.id, str(values["code"])):
        raise _taken()
    campaign = Campaign(brand_id=brand.id, created_by_user_id=actor.user_id, **values)
    _flush_unique(campaign)
    audit.record(actor, "campaigns.created", brand_id=brand.id, code=campaign.code)
    return campaign


def _lock(campaign: Campaign) -> Campaign:
    """The campaign read again under its row lock: status changes take turns."""
    return db.session.execute(
        select(Campaign)
        .where(Campaign.id == campaign.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def update_campaign(actor: Actor, campaign: Campaign, data: CampaignInput) -> Campaign:
    """Change a campaign's name, description and window (and its code while a draft). Raises
    Conflict for a closed campaign, ValidationFailed naming the field."""
    ensure_hq(actor, campaign.brand_id)
    locked = _lock(campaign)
    if locked.status == CampaignStatus.CLOSED:
        raise Conflict(say(_l("A closed campaign can no longer be changed.")))
    values = _check(data, with_code=locked.status == CampaignStatus.DRAFT)
    code = values.get("code")
    if code is not None and _code_taken(locked.brand_id, str(code), but=locked.id):
        raise _taken()
    for name, value in values.items():
        setattr(locked, name, value)
    _flush_unique()
    audit.record(actor, "campaigns.updated", brand_id=locked.brand_id, code=locked.code)
    return locked


def start_campaign(actor: Actor, campaign: Campaign) -> Campaign:
    """Draft -> live. Raises Conflict unless a draft, ValidationFailed when its window is
    over."""
    ensure_hq(actor, campaign.brand_id)
    locked = _lock(campaign)
    if locked.status != CampaignStatus.DRAFT:
        raise Conflict(say(_l("Only a draft campaign can be started.")))
    if locked.ends_at <= utcnow():
        raise _mistakes(
            {"ends_at": say(_l("The campaign's window is over: move its end to start it."))}
        )
    locked.status = CampaignStatus.LIVE
    db.session.flush()
    audit.record(actor, "campaigns.started", brand_id=locked.brand_id, code=locked.code)
    return locked


def close_campaign(actor: Actor, campaign: Campaign) -> Campaign:
    """Draft or live -> closed: nothing new names it; its report stays. Closing a closed
    campaign again changes nothing."""
    ensure_hq(actor, campaign.brand_id)
    locked = _lock(campaign)
    if locked.status == CampaignStatus.CLOSED:
        return locked
    locked.status = CampaignStatus.CLOSED
    db.session.flush()
    audit.record(actor, "campaigns.closed", brand_id=locked.brand_id, code=locked.code)
    return locked
