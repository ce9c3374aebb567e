"""Counting a task's results and paying its rewards (portal/campaigns/tasks.py says what a task
is), all set-based: each step is one INSERT ... SELECT whatever the number of guides, visits or
orders, skipping rows already there, the same SQL on SQLite and PostgreSQL.

- `assign`: the guides the task reaches (its owner's part of the brand's tree, its audience),
  one `TaskAssignment` each; run when the task is published and again by every count, so a
  guide who joins a matching store later is reached too.
- `count`: what the portal already recorded for the assigned guides inside the task's window,
  one `TaskResult` per source, never typed in. A source counts once per task (unique
  `(task_id, source)`), for the guide it came through first:
  - share: a signed-in consumer who opened the guide's link to the task's target ("PC<id>"); a
    browser alone is not counted (anyone can be a new browser on every request);
  - event_visitors: a signed-in consumer who opened the guide's link to the live event in the
    task's window and before the event ended ("PC<id>");
  - coupon_claims: a coupon of the task's template claimed through the guide's coupon link
    (`ClaimSource`) or from a red packet the guide sent ("C<coupon id>");
  - new_members: a member the guide signed up, as the guides' new-member bonus knows it (its
    ledger entry; else the store person who enrolled them; else the guide whose code bound them
    at registration) ("M<member id>");
  - orders: a paid order attributed to the guide (not their own purchase, not wholly refunded;
    a group buy's order counts once paid, while its group fills) ("O<order id>"). An order
    wholly refunded after it was counted no longer counts (`standing`).
- `close`: the last count, the task closed, and each guide's reward written to the commission
  ledger (`CommissionKind.REWARD`, reference "T<task id>", maturing at once: the month-end
  settlement pays it with the commission): min(results x reward, cap); none for nothing. The
  ledger's unique (guide, kind, reference) makes a second close write nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from portal.campaigns.models import (
    ClaimSource,
    GuideTask,
    LiveEvent,
    RedPacket,
    RedPacketClaim,
    RedPacketPlan,
    TaskAssignment,
    TaskKind,
    TaskResult,
    TaskStatus,
)
from portal.core.db import UTCDateTime, utcnow
from portal.extensions import db
from portal.guides.models import (
    Attribution,
    BindingMode,
    CommissionEntry,
    CommissionKind,
    Guide,
    GuideBinding,
    GuideStatus,
    GuideVisit,
    LinkTarget,
)
from portal.inventory.models import Location
from portal.members.coupon_models import Coupon, CouponTemplate
from portal.members.models import Member
from portal.network.models import ChannelLink, Organization, OrgStatus, User
from portal.storefront.models import Consumer, ConsumerOrder, ConsumerOrderStatus

A, R = TaskAssignment, TaskResult


def reward_reference(task: GuideTask) -> str:
    """The commission ledger's reference of a task's rewards."""
    return f"T{task.id}"


def split_ref(ref: str) -> tuple[str, str]:
    """("product", "TEE") from "product:TEE"; ("", "") for none."""
    target, _sep, code = (ref or "").partition(":")
    return target, code


# -- the statement every step runs -----------------------------------------------------------------


def _insert_skipping(model: Any, columns: list[Any], rows: Select[Any]) -> int:
    """INSERT ... SELECT that skips rows whose unique key is taken (ON CONFLICT DO NOTHING on
    both backends); how many were written. `rows` always has a WHERE (SQLite's parser needs one
    before an upsert clause)."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = model.__table__
    statement = (
        insert(table)
        .from_select([column.key for column in columns], rows)
        .on_conflict_do_nothing()
        .returning(literal(1))  # counted so: the session reports -1 rows here on PostgreSQL
    )
    return len(db.session.execute(statement).all())


def _stamp(moment: datetime) -> Any:
    return literal(moment, UTCDateTime())


def _text(prefix: str, value: Any) -> Any:
    return literal(prefix, String) + cast(value, String)


# -- who a task reaches ----------------------------------------------------------------------------


def owner_path(task: GuideTask) -> str | None:
    """The owner's path in the brand's tree (HQ: the brand's root); None when the owner is no
    longer in it (a task of nobody's guides)."""
    if task.owner_org_id == task.brand_id:
        return f"/{task.brand_id}/"
    return db.session.execute(
        select(ChannelLink.path).where(
            ChannelLink.brand_id == task.brand_id, ChannelLink.buyer_org_id == task.owner_org_id
        )
    ).scalar_one_or_none()


def _reached(task: GuideTask) -> list[ColumnElement[bool]]:
    """Conditions on Guide (joined to its org and, outer, its channel link in the brand) for a
    guide the task reaches."""
    G, L = Guide, ChannelLink
    audience = task.audience or {}
    path = owner_path(task)
    if path is None:
        return [literal(False)]
    conditions: list[ColumnElement[bool]] = [
        G.brand_id == task.brand_id,
        G.status == GuideStatus.ACTIVE,
        Organization.status == OrgStatus.ACTIVE,
    ]
    if task.owner_org_id != task.brand_id:  # a distributor's: the guides of the stores below it
        conditions += [L.path.startswith(path, autoescape=True), G.org_id != task.owner_org_id]
    if audience.get("regions"):
        conditions.append(L.region.in_(audience["regions"]))
    if audience.get("levels"):
        conditions.append(L.level.in_(audience["levels"]))
    if audience.get("store_ids"):
        conditions.append(G.org_id.in_(audience["store_ids"]))
    if audience.get("kinds"):
        conditions.append(G.kind.in_(audience["kinds"]))
    return conditions


def assign(task: GuideTask, *, now: datetime | None = None) -> int:
    """Reach every guide the task's audience names now (those reached before stay); how many
    were added."""
    now = now or utcnow()
    G, L = Guide, ChannelLink
    rows = (
        select(literal(task.id), G.id, G.org_id, _stamp(now))
        .join(Organization, Organization.id == G.org_id)
        .outerjoin(L, and_(L.brand_id == G.brand_id, L.buyer_org_id == G.org_id))
        .where(*_reached(task))
    )
    return _insert_skipping(A, [A.task_id, A.guide_id, A.org_id, A.assigned_at], rows)


# -- counting --------------------------------------------------------------------------------------


def _assigned(task: GuideTask, guide_id: Any) -> Any:
    return and_(A.task_id == task.id, A.guide_id == guide_id)


def _in_window(task: GuideTask, column: Any, now: datetime) -> ColumnElement[bool]:
    return and_(column >= task.starts_at, column < min(task.ends_at, now))


def _results(rows: Select[Any], *, with_order: bool = False) -> int:
    """Insert `rows` (task id, guide id, source, happened at, counted at[, order id]) as
    results, skipping sources already counted."""
    columns = [R.task_id, R.guide_id, R.source, R.happened_at, R.counted_at]
    if with_order:
        columns.append(R.order_id)
    return _insert_skipping(R, columns, rows)


def _people(task: GuideTask, visits: ColumnElement[bool], now: datetime) -> int:
    """Each signed-in consumer among the assigned guides' visits matching `visits`, counted once,
    for the guide whose link they opened first. A browser that never signed in is not counted:
    its id is whatever the browser sends (a link opened without cookies makes a new one), so it
    would let anyone open a link in a loop for a reward."""
    V = GuideVisit
    person = _text("PC", V.consumer_id)
    ranked = (
        select(
            V.guide_id.label("guide_id"),
            person.label("source"),
            V.opened_at.label("opened_at"),
            func.row_number().over(partition_by=person, order_by=(V.opened_at, V.id)).label("nth"),
        )
        .join(A, _assigned(task, V.guide_id))
        .where(V.brand_id == task.brand_id, V.consumer_id.is_not(None), visits)
        .subquery()
    )
    rows = select(
        literal(task.id), ranked.c.guide_id, ranked.c.source, ranked.c.opened_at, _stamp(now)
    ).where(ranked.c.nth == 1)
    return _results(rows)


def _plan(task: GuideTask, code: str) -> RedPacketPlan | None:
    return db.session.execute(
        select(RedPacketPlan).where(
            RedPacketPlan.brand_id == task.brand_id, RedPacketPlan.code == code
        )
    ).scalar_one_or_none()


def _count_shares(task: GuideTask, now: datetime) -> int:
    target, code = split_ref(task.ref)
    V = GuideVisit
    which: ColumnElement[bool]
    if target == LinkTarget.RED_PACKET:  # a packet's link names the packet: any of the plan's
        plan = _plan(task, code)
        packets = select(RedPacket.code).where(RedPacket.plan_id == (plan.id if plan else 0))
        which = V.ref.in_(packets)
    else:
        which = V.ref == code
    return _people(task, and_(V.target == target, which, _in_window(task, V.opened_at, now)), now)


def _count_event_visitors(task: GuideTask, now: datetime) -> int:
    _target, code = split_ref(task.ref)
    V = GuideVisit
    event = db.session.execute(
        select(LiveEvent.starts_at, LiveEvent.ends_at).where(
            LiveEvent.brand_id == task.brand_id, LiveEvent.code == code
        )
    ).one_or_none()
    when = _in_window(task, V.opened_at, now)
    if event is not None:  # brought in by the event's end, within the task's own window
        when = and_(when, V.opened_at < event[1])
    return _people(task, and_(V.target == LinkTarget.LIVE, V.ref == code, when), now)


def _count_claims(task: GuideTask, now: datetime) -> int:
    target, code = split_ref(task.ref)
    plan = _plan(task, code) if target == LinkTarget.RED_PACKET else None
    if plan is not None:
        template_id: int | None = plan.template_id
    else:
        template_id = db.session.execute(
            select(CouponTemplate.id).where(
                CouponTemplate.brand_id == task.brand_id, CouponTemplate.code == code
            )
        ).scalar_one_or_none()
    if template_id is None:
        return 0
    S = ClaimSource
    through_links = (
        select(literal(task.id), S.guide_id, _text("C", S.coupon_id), S.claimed_at, _stamp(now))
        .join(A, _assigned(task, S.guide_id))
        .join(Coupon, Coupon.id == S.coupon_id)
        .where(Coupon.template_id == template_id, _in_window(task, S.claimed_at, now))
    )
    done = _results(through_links)
    if plan is not None:  # and the packets the guides sent themselves
        P, C = RedPacket, RedPacketClaim
        from_packets = (
            select(literal(task.id), P.guide_id, _text("C", C.coupon_id), C.claimed_at, _stamp(now))
            .join(P, P.id == C.packet_id)
            .join(A, _assigned(task, P.guide_id))
            .where(P.plan_id == plan.id, _in_window(task, C.claimed_at, now))
        )
        done += _results(from_packets)
    return done


def _count_members(task: GuideTask, now: datetime) -> int:
    E, M = CommissionEntry, Member
    # 1. The new-member bonus the guides' ledger wrote (reference "M<member id>").
    bonus = (
        select(literal(task.id), E.guide_id, E.reference, E.created_at, _stamp(now))
        .join(A, _assigned(task, E.guide_id))
        .where(E.kind == CommissionKind.NEW_MEMBER, _in_window(task, E.created_at, now))
    )
    done = _results(bonus)
    joined = and_(M.joined_brand_id == task.brand_id, _in_window(task, M.joined_at, now))
    # 2. Enrolled at a store by one of its people (a guide there).
    at_store = (
        select(literal(task.id), Guide.id, _text("M", M.id), M.joined_at, _stamp(now))
        .join(Location, Location.id == M.joined_location_id)
        .join(
            Guide,
            and_(
                Guide.user_id == M.joined_by_user_id,
                Guide.org_id == Location.org_id,
                Guide.brand_id == task.brand_id,
            ),
        )
        .join(A, _assigned(task, Guide.id))
        .where(joined, M.joined_by_user_id.is_not(None))
    )
    done += _results(at_store)
    # 3. Else bound to the guide by the code they gave when their account was made.
    B = GuideBinding
    by_code = (
        select(literal(task.id), B.guide_id, _text("M", M.id), M.joined_at, _stamp(now))
        .join(Consumer, and_(Consumer.member_id == M.id, Consumer.brand_id == task.brand_id))
        .join(B, and_(B.consumer_id == Consumer.id, B.brand_id == task.brand_id))
        .join(A, _assigned(task, B.guide_id))
        .where(
            joined,
            or_(M.joined_by_user_id.is_(None), M.joined_location_id.is_(None)),
            B.mode == BindingMode.REGISTRATION,
            B.bound_at <= M.joined_at,
            or_(B.ended_at.is_(None), B.ended_at > M.joined_at),
        )
    )
    return done + _results(by_code)


def _wholly_refunded(order: Any) -> ColumnElement[bool]:
    return or_(
        order.status == ConsumerOrderStatus.REFUNDED,
        and_(order.total_cents > 0, order.refunded_cents >= order.total_cents),
    )


def _count_orders(task: GuideTask, now: datetime) -> int:
    Ord, T = ConsumerOrder, Attribution
    rows = (
        select(literal(task.id), T.guide_id, _text("O", Ord.id), Ord.paid_at, _stamp(now), Ord.id)
        .join(Ord, Ord.id == T.consumer_order_id)
        .join(A, _assigned(task, T.guide_id))
        .where(
            # Placed at most a day before the window (an order is paid within minutes or
            # expires), so the guides' attributions are read by their index, not all of them.
            T.created_at >= task.starts_at - timedelta(days=1),
            T.own_purchase.is_(False),
            Ord.paid_at.is_not(None),
            _in_window(task, Ord.paid_at, now),
            ~_wholly_refunded(Ord),  # a group buy's order counts once paid; refunded, it drops
        )
    )
    return _results(rows, with_order=True)


COUNTERS = {
    TaskKind.SHARE: _count_shares,
    TaskKind.EVENT_VISITORS: _count_event_visitors,
    TaskKind.COUPON_CLAIMS: _count_claims,
    TaskKind.NEW_MEMBERS: _count_members,
    TaskKind.ORDERS: _count_orders,
}


def count(task: GuideTask, *, now: datetime | None = None) -> int:
    """Count the task's new results up to `now` (at most its end); how many were added."""
    now = now or utcnow()
    if now <= task.starts_at:
        return 0
    added = COUNTERS[TaskKind(task.kind)](task, now)
    task.counted_at = now
    db.session.flush()
    return added


# -- what each guide has -------------------------------------------------------------------------


def standing() -> ColumnElement[bool]:
    """A result that still counts: not an order wholly refunded since it was counted."""
    Ord = ConsumerOrder
    refunded = exists().where(Ord.id == R.order_id, _wholly_refunded(Ord))
    return or_(R.order_id.is_(None), ~refunded)


def reward_of(task: GuideTask, results: int) -> int:
    """What `results` earn a guide: so much each, at most the cap."""
    amount = max(0, results) * task.reward_cents
    return amount if task.cap_cents is None else min(amount, task.cap_cents)


def results_by_guide(task: GuideTask, guide_ids: list[int] | None = None) -> dict[int, int]:
    stmt = (
        select(R.guide_id, func.count(R.id))
        .where(R.task_id == task.id, standing())
        .group_by(R.guide_id)
    )
    if guide_ids is not None:
        stmt = stmt.where(R.guide_id.in_(guide_ids or [0]))
    return {guide_id: int(n) for guide_id, n in db.session.execute(stmt).all()}


def written_by_guide(task: GuideTask, guide_ids: list[int] | None = None) -> dict[int, int]:
    """Each guide's reward entry in the commission ledger (once the task closed)."""
    E = CommissionEntry
    stmt = select(E.guide_id, E.amount_cents).where(
        E.kind == CommissionKind.REWARD, E.reference == reward_reference(task)
    )
    if guide_ids is not None:
        stmt = stmt.where(E.guide_id.in_(guide_ids or [0]))
    return {guide_id: int(amount) for guide_id, amount in db.session.execute(stmt).all()}


# -- closing ---------------------------------------------------------------------------------------


def _write_rewards(task: GuideTask, now: datetime) -> int:
    """Each assigned guide's reward as one REWARD entry (none for nothing), in one statement;
    entries already written are skipped by the ledger's unique key."""
    E, G = CommissionEntry, Guide
    counts = (
        select(R.guide_id.label("guide_id"), func.count(R.id).label("n"))
        .where(R.task_id == task.id, standing())
        .group_by(R.guide_id)
        .subquery()
    )
    earned = counts.c.n * task.reward_cents
    amount: Any = earned
    if task.cap_cents is not None:
        amount = case((earned > task.cap_cents, literal(task.cap_cents)), else_=earned)
    amount = cast(amount, BigInteger)
    currency = db.session.execute(
        select(Organization.currency).where(Organization.id == task.brand_id)
    ).scalar_one()
    note = f"{task.code}: {task.title}"[:300]
    rows = (
        select(
            G.brand_id,
            G.id,
            G.org_id,
            literal(CommissionKind.REWARD.value),
            amount,
            literal(currency),
            literal(reward_reference(task)),
            literal(0),
            _stamp(now),
            literal(note),
            _stamp(now),
        )
        .join(counts, counts.c.guide_id == G.id)
        .join(A, _assigned(task, G.id))
        .where(amount > 0)
    )
    columns = [
        E.brand_id,
        E.guide_id,
        E.org_id,
        E.kind,
        E.amount_cents,
        E.currency,
        E.reference,
        E.basis_cents,
        E.matures_at,
        E.note,
        E.created_at,
    ]
    return _insert_skipping(E, columns, rows)


@dataclass(frozen=True)
class Closing:
    counted: int
    rewards: int  # entries written
    closed: bool  # False: someone closed it first


def close(task: GuideTask, *, now: datetime | None = None) -> Closing:
    """Count a last time (up to the end, or now if earlier), close the published task and write
    its rewards, in the caller's transaction. A task closed already is left as it is."""
    now = now or utcnow()
    if task.status != TaskStatus.PUBLISHED:
        return Closing(0, 0, False)
    counted = count(task, now=now)
    moved = db.session.execute(
        update(GuideTask)
        .where(GuideTask.id == task.id, GuideTask.status == TaskStatus.PUBLISHED)
        .values(status=TaskStatus.CLOSED, closed_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return Closing(counted, 0, False)
    db.session.refresh(task)
    return Closing(counted, _write_rewards(task, now), True)


# -- completion, for HQ, distributors and store owners ---------------------------------------------


@dataclass(frozen=True)
class GuideLine:
    guide_id: int
    code: str
    name: str
    kind: str
    org_id: int
    store_code: str
    store_name: str
    region: str
    results: int
    done: bool
    reward_cents: int  # what the results earn (pending until the task closes)
    written_cents: int | None  # the ledger entry, once written


@dataclass(frozen=True)
class CompletionRow:
    key: str  # the store's code, or the region
    name: str
    guides: int
    done: int
    results: int
    reward_cents: int
    written_cents: int


@dataclass(frozen=True)
class Completion:
    guides: list[GuideLine]
    stores: list[CompletionRow]
    regions: list[CompletionRow]
    total: CompletionRow


def _rollup(key: str, name: str, lines: list[GuideLine]) -> CompletionRow:
    return CompletionRow(
        key=key,
        name=name,
        guides=len(lines),
        done=sum(1 for line in lines if line.done),
        results=sum(line.results for line in lines),
        reward_cents=sum(line.reward_cents for line in lines),
        written_cents=sum(line.written_cents or 0 for line in lines),
    )


def completion(task: GuideTask, *, org_id: int | None = None) -> Completion:
    """The guides the task reached (of one store, with `org_id`), their results and rewards,
    and the same by store and by region."""
    G, L, E = Guide, ChannelLink, CommissionEntry
    counts = (
        select(R.guide_id.label("guide_id"), func.count(R.id).label("n"))
        .where(R.task_id == task.id, standing())
        .group_by(R.guide_id)
        .subquery()
    )
    written = (
        select(E.guide_id.label("guide_id"), E.amount_cents.label("amount"))
        .where(E.kind == CommissionKind.REWARD, E.reference == reward_reference(task))
        .subquery()
    )
    stmt = (
        select(
            A.guide_id,
            G.code,
            User.name,
            G.kind,
            A.org_id,
            Organization.code,
            Organization.name,
            func.coalesce(L.region, ""),
            func.coalesce(counts.c.n, 0),
            written.c.amount,
        )
        .join(G, G.id == A.guide_id)
        .join(User, User.id == G.user_id)
        .join(Organization, Organization.id == A.org_id)
        .outerjoin(L, and_(L.brand_id == task.brand_id, L.buyer_org_id == A.org_id))
        .outerjoin(counts, counts.c.guide_id == A.guide_id)
        .outerjoin(written, written.c.guide_id == A.guide_id)
        .where(A.task_id == task.id, A.org_id == org_id if org_id is not None else true())
        .order_by(Organization.code, G.code)
    )
    lines = [
        GuideLine(
            guide_id=guide_id,
            code=code,
            name=name,
            kind=kind,
            org_id=store_id,
            store_code=store_code,
            store_name=store_name,
            region=region,
            results=int(n),
            done=int(n) >= task.target,
            reward_cents=reward_of(task, int(n)),
            written_cents=None if amount is None else int(amount),
        )
        for (
            guide_id,
            code,
            name,
            kind,
            store_id,
            store_code,
            store_name,
            region,
            n,
            amount,
        ) in db.session.execute(stmt).all()
    ]
    by_store: dict[str, list[GuideLine]] = {}
    by_region: dict[str, list[GuideLine]] = {}
    for line in lines:
        by_store.setdefault(line.store_code, []).append(line)
        by_region.setdefault(line.region, []).append(line)
    stores = [_rollup(code, group[0].store_name, group) for code, group in by_store.items()]
    regions = [_rollup(region, region, by_region[region]) for region in sorted(by_region)]
    return Completion(lines, stores, regions, _rollup("", "", lines))
