"""Tasks and rewards for guides (issue 22): HQ, or a distributor for the stores below it, asks
the guides (and sharers) it chooses to do something in a window (share an item or an event,
bring people to a live event, get a coupon claimed, sign up members, sell) and pays a reward per
counted result, at most a cap per guide.

- Who: `TASKS_MANAGE` at the brand's HQ (its whole brand; it sees and manages its distributors'
  tasks too) or at a distributor (its own tasks, for the guides of the stores below it). Anyone
  else's task is a 404.
- What: `ref` names the task's target as "<target>:<code>" (product, live, group_buy, red_packet,
  coupon); share needs one, event_visitors a live event, coupon_claims a coupon template or a
  red-packet plan; new_members and orders name nothing.
- Audience: the guides of the owner's part of the tree, narrowed by the stores' regions and
  levels in the brand's channel tree, by stores, and by guide kind (guides, sharers); empty:
  everyone there.
- Life: a draft changes freely; publishing reaches the guides (task_counting.assign) and the
  five-minute job (task_jobs) counts results and reaches guides who joined later; a task past
  its end is closed by the job, or earlier by its manager, and the rewards go to the commission
  ledger (task_counting.close). Closing a draft cancels it (nothing was counted).
- Claims: a coupon claimed by a consumer (or browser) who opened a guide's link to that coupon
  within the guides' window records the guide (`ClaimSource`), for coupon_claims tasks.

Every error names its field and leaves nothing written.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError

from portal.campaigns import add_once, campaigns, task_counting
from portal.campaigns.models import (
    ClaimSource,
    GroupBuy,
    GuideTask,
    LiveEvent,
    RedPacketPlan,
    TaskAssignment,
    TaskKind,
    TaskResult,
    TaskStatus,
)
from portal.core import audit
from portal.core.access import Actor, OrgKind, Permission
from portal.core.db import utcnow
from portal.core.errors import Conflict, NotFound, ValidationFailed
from portal.extensions import db
from portal.guides import visits
from portal.guides.models import (
    CommissionEntry,
    CommissionKind,
    Guide,
    GuideKind,
    GuideStatus,
    GuideVisit,
    LinkTarget,
)
from portal.members import coupon_claims
from portal.members.coupon_models import Coupon, CouponTemplate
from portal.network.models import ChannelLink, Organization, OrgStatus
from portal.policy.consumer_terms import terms_for
from portal.storefront import catalog
from portal.storefront.models import Consumer
from portal.storefront.words import say

CODE = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,31}\Z")
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
TITLE_MAX = 120
DESCRIPTION_MAX = 500
MAX_CENTS = 10**9  # ¥10,000,000: far above any reward, below what a typo makes
MAX_TARGET = 1_000_000
MAX_AUDIENCE = 500  # regions, stores or levels named
RECENT_DAYS = 30  # a closed task stays on the guides' and stores' pages this long

KIND_NAMES = {
    TaskKind.SHARE: _l("Share"),
    TaskKind.EVENT_VISITORS: _l("Bring people to a live event"),
    TaskKind.COUPON_CLAIMS: _l("Get coupons claimed"),
    TaskKind.NEW_MEMBERS: _l("Sign up new members"),
    TaskKind.ORDERS: _l("Orders"),
}
STATUS_NAMES = {
    TaskStatus.DRAFT: _l("Draft"),
    TaskStatus.PUBLISHED: _l("Published"),
    TaskStatus.CLOSED: _l("Closed"),
}
GUIDE_KIND_NAMES = {
    GuideKind.GUIDE: _l("Guides"),
    GuideKind.COMMUNITY_OPERATOR: _l("Community operators"),
    GuideKind.STYLIST: _l("Stylists"),
    GuideKind.CUSTOMER_SERVICE: _l("Customer service"),
}
# What each kind of task may name in `ref` (none: it names nothing).
KIND_TARGETS: dict[str, tuple[str, ...]] = {
    TaskKind.SHARE: (
        LinkTarget.PRODUCT,
        LinkTarget.LIVE,
        LinkTarget.GROUP_BUY,
        LinkTarget.RED_PACKET,
        LinkTarget.COUPON,
    ),
    TaskKind.EVENT_VISITORS: (LinkTarget.LIVE,),
    TaskKind.COUPON_CLAIMS: (LinkTarget.COUPON, LinkTarget.RED_PACKET),
    TaskKind.NEW_MEMBERS: (),
    TaskKind.ORDERS: (),
}


@dataclass(frozen=True)
class TaskInput:
    title: str
    kind: str
    starts_at: datetime | None
    ends_at: datetime | None
    target: int | None
    reward_cents: int | None
    cap_cents: int | None = None
    ref: str = ""
    description: str = ""
    code: str = ""  # empty: one is made up
    campaign_id: int | None = None
    regions: tuple[str, ...] = ()
    stores: tuple[str, ...] = ()  # store codes
    levels: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()  # GuideKind values


# -- who -------------------------------------------------------------------------------------------


def task_brands(actor: Actor) -> list[Organization]:
    """The brands the actor may give tasks in: HQ its own, a distributor each brand it sells."""
    if actor.org_id is None or actor.org_kind not in (OrgKind.BRAND, OrgKind.DISTRIBUTOR):
        return []
    ids = [actor.org_id] if actor.is_hq else sorted(actor.paths)
    return list(
        db.session.execute(
            select(Organization)
            .where(
                Organization.id.in_(ids or [0]),
                Organization.kind == OrgKind.BRAND,
                Organization.status == OrgStatus.ACTIVE,
            )
            .order_by(Organization.code)
        ).scalars()
    )


def _may_see(actor: Actor, task: GuideTask) -> bool:
    if actor.is_system:
        return True
    if task.brand_id not in actor.paths:
        return False
    return task.owner_org_id == actor.org_id or (actor.is_hq and actor.org_id == task.brand_id)


def get_task(actor: Actor, task_id: int) -> GuideTask:
    """A task the actor's org owns (HQ: any of its brand's); anyone else's is a 404."""
    task = db.session.execute(select(GuideTask).where(GuideTask.id == task_id)).scalar_one_or_none()
    if task is None or not _may_see(actor, task):
        raise NotFound()
    return task


def list_tasks(actor: Actor, brand: Organization) -> list[GuideTask]:
    """The brand's tasks the actor sees, newest window first."""
    stmt = select(GuideTask).where(GuideTask.brand_id == brand.id)
    if not actor.is_system and not (actor.is_hq and actor.org_id == brand.id):
        stmt = stmt.where(GuideTask.owner_org_id == (actor.org_id or 0))
    return list(
        db.session.execute(
            stmt.order_by(GuideTask.starts_at.desc(), GuideTask.id.desc()).limit(500)
        ).scalars()
    )


def _ensure_brand(actor: Actor, brand: Organization) -> None:
    if actor.is_system:
        return
    if brand.id not in {b.id for b in task_brands(actor)}:
        raise NotFound()
    actor.ensure(Permission.TASKS_MANAGE)


def _lock(task: GuideTask) -> GuideTask:
    return db.session.execute(
        select(GuideTask)
        .where(GuideTask.id == task.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def task_brand(task: GuideTask) -> Organization:
    return db.session.execute(
        select(Organization).where(Organization.id == task.brand_id)
    ).scalar_one()


# -- checking what was typed ----------------------------------------------------------------------


def _check_ref(brand_id: int, kind: str, raw: str) -> tuple[str, str | None]:
    """The reference as stored ("live:SPRING") and the error, if any."""
    raw = (raw or "").strip()
    allowed = KIND_TARGETS.get(kind, ())
    if not allowed:
        if raw:
            return "", say(_l("This kind of task names nothing: leave it empty."))
        return "", None
    target, _sep, code = raw.partition(":")
    target, code = target.strip().lower(), code.strip()
    if target not in allowed or not code:
        return "", say(
            _l("Name what the task is about as %(forms)s."),
            forms=", ".join(f"{t}:CODE" for t in allowed),
        )
    found = _find_target(brand_id, target, code)
    if found is None:
        return "", say(
            _l("The brand has no %(target)s of code %(code)s."), target=target, code=code
        )
    return f"{target}:{found}", None


def _find_target(brand_id: int, target: str, code: str) -> str | None:
    """The code as the brand stores it, or None when it has no such thing."""
    if len(code) > 48:
        return None
    if target == LinkTarget.PRODUCT:
        product = catalog.find_active_product(brand_id, code)
        return product.code if product is not None else None
    if target == LinkTarget.COUPON:
        template = coupon_claims.find_claimable(brand_id, code)
        return template.code if template is not None else None
    models: dict[str, Any] = {
        LinkTarget.LIVE: LiveEvent,
        LinkTarget.GROUP_BUY: GroupBuy,
        LinkTarget.RED_PACKET: RedPacketPlan,
    }
    model = models[target]
    return db.session.execute(
        select(model.code)
        .where(model.brand_id == brand_id, model.code.in_({code, code.upper()}))
        .order_by((model.code == code).desc())
        .limit(1)
    ).scalar_one_or_none()


def _words(values: tuple[str, ...], *, upper: bool = False) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        word = (value or "").strip()
        if word:
            seen[word.upper() if upper else word] = None
    return list(seen)


def _check_audience(
    brand_id: int, path: str, owner_id: int, data: TaskInput, errors: dict[str, str]
) -> dict[str, list[Any]]:
    """The audience as stored; each name that nothing below the owner has is an error."""
    L = ChannelLink
    below = and_(
        L.brand_id == brand_id,
        L.path.startswith(path, autoescape=True),
        L.buyer_org_id != owner_id,
    )
    audience: dict[str, list[Any]] = {}
    for field, column in (("regions", L.region), ("levels", L.level)):
        wanted = _words(getattr(data, field))
        if len(wanted) > MAX_AUDIENCE:
            errors[field] = say(_l("At most %(count)d."), count=MAX_AUDIENCE)
            continue
        known = set(db.session.execute(select(column).where(below, column.in_(wanted))).scalars())
        if missing := [w for w in wanted if w not in known]:
            errors[field] = say(_l("No store below you has: %(names)s."), names=", ".join(missing))
        elif wanted:
            audience[field] = wanted
    codes = _words(data.stores, upper=True)
    if len(codes) > MAX_AUDIENCE:
        errors["stores"] = say(_l("At most %(count)d."), count=MAX_AUDIENCE)
    elif codes:
        stores = dict(
            db.session.execute(
                select(Organization.code, Organization.id)
                .join(L, L.buyer_org_id == Organization.id)
                .where(below, Organization.kind == OrgKind.STORE, Organization.code.in_(codes))
            )
            .tuples()
            .all()
        )
        if missing := [c for c in codes if c not in stores]:
            errors["stores"] = say(
                _l("Not a store below you: %(codes)s."), codes=", ".join(missing)
            )
        else:
            audience["store_ids"] = [stores[c] for c in codes]
    kinds = _words(data.kinds)
    if any(k not in tuple(GuideKind) for k in kinds):
        errors["kinds"] = say(_l("Choose guides or kinds of sharers."))
    elif kinds:
        audience["kinds"] = kinds
    return audience


def _check(
    brand: Organization, path: str, owner_id: int, data: TaskInput, *, new: bool
) -> dict[str, Any]:
    """The task's column values, or ValidationFailed naming every wrong field."""
    errors: dict[str, str] = {}
    title = (data.title or "").strip()
    if not title or len(title) > TITLE_MAX:
        errors["title"] = say(_l("A title of at most %(count)d characters."), count=TITLE_MAX)
    description = (data.description or "").strip()
    if len(description) > DESCRIPTION_MAX:
        errors["description"] = say(_l("At most %(count)d characters."), count=DESCRIPTION_MAX)
    code = (data.code or "").strip().upper()
    if new and code and not CODE.match(code):
        errors["code"] = say(_l("Letters, digits, - and _, at most 32."))
    ref = ""
    if data.kind not in tuple(TaskKind):
        errors["kind"] = say(_l("Choose what the task asks for."))
    else:
        ref, problem = _check_ref(brand.id, data.kind, data.ref)
        if problem:
            errors["ref"] = problem
    if data.starts_at is None:
        errors["starts_at"] = say(_l("When the task starts."))
    if data.ends_at is None:
        errors["ends_at"] = say(_l("When the task ends."))
    elif data.starts_at is not None and data.ends_at <= data.starts_at:
        errors["ends_at"] = say(_l("The task must end after it starts."))
    elif data.ends_at <= utcnow():
        errors["ends_at"] = say(_l("The end must be in the future."))
    if data.target is None or not 1 <= data.target <= MAX_TARGET:
        errors["target"] = say(_l("A whole number of results from 1 to %(max)d."), max=MAX_TARGET)
    reward, cap = data.reward_cents, data.cap_cents
    if reward is None or reward < 0:
        errors["reward"] = say(_l("A reward of zero or more for each result."))
    elif reward > MAX_CENTS:
        errors["reward"] = say(_l("That reward is too large."))
    elif cap is None and reward > 0:
        errors["cap"] = say(_l("A rewarded task needs a cap per guide."))
    elif cap is not None and cap < reward:
        errors["cap"] = say(_l("The cap per guide cannot be below one result's reward."))
    elif cap is not None and cap > MAX_CENTS:
        errors["cap"] = say(_l("That cap is too large."))
    if data.campaign_id is not None and campaigns.find_campaign(brand.id, data.campaign_id) is None:
        errors["campaign_id"] = say(_l("Choose one of the brand's campaigns."))
    audience = _check_audience(brand.id, path, owner_id, data, errors)
    if errors:
        raise ValidationFailed(say(_l("The task has mistakes.")), fields=errors)
    values: dict[str, Any] = {
        "title": title,
        "description": description,
        "kind": data.kind,
        "ref": ref,
        "starts_at": data.starts_at,
        "ends_at": data.ends_at,
        "target": data.target,
        "reward_cents": reward,
        "cap_cents": cap,
        "campaign_id": data.campaign_id,
        "audience": audience,
    }
    if new:
        values["code"] = code or "T" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(7))
    return values


# -- writing ---------------------------------------------------------------------------------------


def create_task(actor: Actor, brand: Organization, data: TaskInput) -> GuideTask:
    """A draft task of the actor's org (HQ or a distributor) in the brand. Raises NotFound for a
    brand the actor does not work in, PermissionDenied without TASKS_MANAGE, ValidationFailed
    naming each wrong field (a code the brand already uses included)."""
    _ensure_brand(actor, brand)
    owner_id = brand.id if actor.is_system or actor.org_id is None else actor.org_id
    path = f"/{brand.id}/" if owner_id == brand.id else actor.paths[brand.id]
    values = _check(brand, path, owner_id, data, new=True)
    task = GuideTask(
        brand_id=brand.id, owner_org_id=owner_id, created_by_user_id=actor.user_id, **values
    )
    try:
        with db.session.begin_nested():
            db.session.add(task)
            db.session.flush()
    except IntegrityError:
        raise ValidationFailed(
            say(_l("The task has mistakes.")),
            fields={"code": say(_l("Another task of the brand has this code."))},
        ) from None
    audit.record(actor, "campaigns.task_created", brand_id=brand.id, code=task.code)
    return task


def _ensure_manager(actor: Actor, task: GuideTask) -> None:
    if not _may_see(actor, task):
        raise NotFound()
    actor.ensure(Permission.TASKS_MANAGE)


def update_task(actor: Actor, task: GuideTask, data: TaskInput) -> GuideTask:
    """Change a draft (its code stays). Raises Conflict once it is published."""
    _ensure_manager(actor, task)
    task = _lock(task)
    if task.status != TaskStatus.DRAFT:
        raise Conflict(say(_l("A published task can no longer be changed: close it instead.")))
    path = task_counting.owner_path(task) or f"/{task.brand_id}/"
    for name, value in _check(task_brand(task), path, task.owner_org_id, data, new=False).items():
        setattr(task, name, value)
    db.session.flush()
    return task


def publish_task(actor: Actor, task: GuideTask) -> int:
    """Publish a draft: the guides it names see it and their results count from now on. How
    many guides it reached. Raises Conflict for a task not in draft or whose end has passed."""
    _ensure_manager(actor, task)
    task = _lock(task)
    if task.status != TaskStatus.DRAFT:
        raise Conflict(say(_l("Only a draft can be published.")))
    now = utcnow()
    if task.ends_at <= now:
        raise Conflict(say(_l("The task's window is over: change its end first.")))
    task.status, task.published_at = TaskStatus.PUBLISHED, now
    db.session.flush()
    reached = task_counting.assign(task, now=now)
    audit.record(actor, "campaigns.task_published", brand_id=task.brand_id, code=task.code)
    return reached


def close_task(actor: Actor, task: GuideTask) -> task_counting.Closing:
    """Close a task now: a published one is counted a last time and its rewards written to the
    commission ledger; a draft is cancelled. Closing a closed task changes nothing."""
    _ensure_manager(actor, task)
    task = _lock(task)
    if task.status == TaskStatus.DRAFT:
        task.status, task.closed_at = TaskStatus.CLOSED, utcnow()
        db.session.flush()
        return task_counting.Closing(0, 0, True)
    closing = task_counting.close(task)
    if closing.closed:
        audit.record(actor, "campaigns.task_closed", brand_id=task.brand_id, code=task.code)
    return closing


def run_task(task_id: int, *, now: datetime | None = None) -> dict[str, int]:
    """The job's turn on one published task (under its row lock, so two runs take turns): past
    its end, close it; else reach guides who joined since and count new results."""
    now = now or utcnow()
    task = db.session.execute(
        select(GuideTask)
        .where(GuideTask.id == task_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if task is None or task.status != TaskStatus.PUBLISHED:
        return {"assigned": 0, "counted": 0, "closed": 0, "rewards": 0}
    if task.ends_at <= now:
        closing = task_counting.close(task, now=now)
        return {
            "assigned": 0,
            "counted": closing.counted,
            "closed": int(closing.closed),
            "rewards": closing.rewards,
        }
    assigned = task_counting.assign(task, now=now)
    counted = task_counting.count(task, now=now)
    return {"assigned": assigned, "counted": counted, "closed": 0, "rewards": 0}


def published_task_ids() -> list[int]:
    return list(
        db.session.execute(
            select(GuideTask.id)
            .where(GuideTask.status == TaskStatus.PUBLISHED)
            .order_by(GuideTask.ends_at, GuideTask.id)
        ).scalars()
    )


# -- what guides and store owners see -------------------------------------------------------------


@dataclass(frozen=True)
class MyTask:
    """One task as a guide sees it."""

    task: GuideTask
    guide: Guide
    brand: Organization
    results: int
    reward_cents: int  # earned so far: pending until the task closes
    written_cents: int | None  # in the commission ledger, once closed

    @property
    def is_open(self) -> bool:
        return self.task.status == TaskStatus.PUBLISHED

    @property
    def link(self) -> tuple[str, str] | None:
        """The guide's link for the task: (LinkTarget, ref); None for a red packet (the guide
        sends a packet of their own)."""
        target, code = task_counting.split_ref(self.task.ref)
        if not target:
            return LinkTarget.HOME.value, ""
        if target == LinkTarget.RED_PACKET:
            return None
        return target, code


def _recent(now: datetime) -> Any:
    return or_(
        GuideTask.status == TaskStatus.PUBLISHED,
        and_(
            GuideTask.status == TaskStatus.CLOSED,
            GuideTask.closed_at >= now - timedelta(days=RECENT_DAYS),
        ),
    )


def my_tasks(actor: Actor) -> list[MyTask]:
    """The tasks that reached the actor as a guide or sharer (of any brand, at the actor's
    org): open ones, and those closed in the last 30 days."""
    if actor.user_id is None or actor.org_id is None:
        return []
    now = utcnow()
    rows = db.session.execute(
        select(GuideTask, Guide, Organization)
        .join(TaskAssignment, TaskAssignment.task_id == GuideTask.id)
        .join(Guide, Guide.id == TaskAssignment.guide_id)
        .join(Organization, Organization.id == GuideTask.brand_id)
        .where(Guide.user_id == actor.user_id, Guide.org_id == actor.org_id, _recent(now))
        .order_by(GuideTask.status.desc(), GuideTask.ends_at, GuideTask.id)
        .limit(100)
    ).all()
    if not rows:
        return []
    task_ids = [task.id for task, _guide, _brand in rows]
    guide_ids = sorted({guide.id for _task, guide, _brand in rows})
    counts = dict(
        ((task_id, guide_id), int(n))
        for task_id, guide_id, n in db.session.execute(
            select(TaskResult.task_id, TaskResult.guide_id, func.count(TaskResult.id))
            .where(
                TaskResult.task_id.in_(task_ids),
                TaskResult.guide_id.in_(guide_ids),
                task_counting.standing(),
            )
            .group_by(TaskResult.task_id, TaskResult.guide_id)
        ).all()
    )
    written = dict(
        ((reference, guide_id), int(amount))
        for reference, guide_id, amount in db.session.execute(
            select(
                CommissionEntry.reference, CommissionEntry.guide_id, CommissionEntry.amount_cents
            ).where(
                CommissionEntry.guide_id.in_(guide_ids),
                CommissionEntry.kind == CommissionKind.REWARD,
                CommissionEntry.reference.in_([f"T{task_id}" for task_id in task_ids]),
            )
        ).all()
    )
    found = []
    for task, guide, brand in rows:
        results = counts.get((task.id, guide.id), 0)
        found.append(
            MyTask(
                task=task,
                guide=guide,
                brand=brand,
                results=results,
                reward_cents=task_counting.reward_of(task, results),
                written_cents=written.get((task_counting.reward_reference(task), guide.id)),
            )
        )
    return found


def store_tasks(actor: Actor) -> list[tuple[GuideTask, task_counting.Completion]]:
    """For a store's owner: the tasks that reached the store's guides (open, or closed in the
    last 30 days), with their completion among those guides only."""
    if actor.org_id is None or actor.org_kind != OrgKind.STORE:
        raise NotFound()
    reached = (
        select(TaskAssignment.task_id)
        .where(TaskAssignment.org_id == actor.org_id)
        .distinct()
        .scalar_subquery()
    )
    tasks = db.session.execute(
        select(GuideTask)
        .where(GuideTask.id.in_(reached), _recent(utcnow()))
        .order_by(GuideTask.status.desc(), GuideTask.ends_at, GuideTask.id)
        .limit(50)
    ).scalars()
    return [(task, task_counting.completion(task, org_id=actor.org_id)) for task in tasks]


def audience_store_codes(task: GuideTask) -> list[str]:
    ids = (task.audience or {}).get("store_ids") or []
    if not ids:
        return []
    codes = dict(
        db.session.execute(
            select(Organization.id, Organization.code).where(Organization.id.in_(ids))
        )
        .tuples()
        .all()
    )
    return [codes[i] for i in ids if i in codes]


# -- whose link a claimed coupon came through ------------------------------------------------------


def record_claim_source(coupon: Coupon, consumer: Consumer) -> ClaimSource | None:
    """coupon_claims.claim_listeners: the coupon came through the guide (or sharer) whose link
    to this coupon the consumer, or before signing in this browser, opened last within the
    guides' window (`guides.window_days`). None when no such link was opened."""
    existing = db.session.execute(
        select(ClaimSource).where(ClaimSource.coupon_id == coupon.id)
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    code = db.session.execute(
        select(CouponTemplate.code).where(CouponTemplate.id == coupon.template_id)
    ).scalar_one()
    now = utcnow()
    window = terms_for(coupon.brand_id).guides.window_days
    V = GuideVisit
    whose = [V.consumer_id == consumer.id]
    visitor = visits.browser_visitor()
    if visitor:
        whose.append(
            and_(V.visitor == visitor, or_(V.consumer_id.is_(None), V.consumer_id == consumer.id))
        )
    visit = db.session.execute(
        select(V)
        .join(Guide, Guide.id == V.guide_id)
        .where(
            V.brand_id == coupon.brand_id,
            V.target == LinkTarget.COUPON,
            V.ref == code,
            V.opened_at >= now - timedelta(days=window),
            V.opened_at <= now,
            Guide.status == GuideStatus.ACTIVE,
            or_(*whose),
        )
        .order_by(V.opened_at.desc(), V.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if visit is None:
        return None
    source = ClaimSource(
        coupon_id=coupon.id, guide_id=visit.guide_id, visit_id=visit.id, claimed_at=now
    )
    db.session.add(source)
    db.session.flush()
    return source


def plug() -> None:
    """Register this module's hooks: the coupon claims' listener."""
    add_once(coupon_claims.claim_listeners, record_claim_source)
