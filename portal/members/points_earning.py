"""Points earned, maturing and expiring (the rules: portal/members/points.py): what a
completed order earns and its lot, pending until the return window closes; the hourly maturing
of lots and the yearly expiry, one batch at a time (the jobs in points_jobs.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from portal.core.db import utcnow
from portal.extensions import db
from portal.members import membership
from portal.members.ledger_models import PointsEntry, PointsKind
from portal.members.models import Member, MemberStatus
from portal.members.points_ledger import (
    FULL_BP,
    balance,
    left_of_lots,
    local_year,
    pending_left,
    write_entry,
    written,
    zone,
)
from portal.policy.consumer_terms import ProgramTerms
from portal.storefront.models import ConsumerOrder

K = PointsKind
LOTS = (K.EARN, K.POS_EARN)


def earning_value(order: ConsumerOrder) -> tuple[int, dict[int, int]]:
    """What the order paid for its goods with money or wallet, and its share per line id."""
    goods = order.goods_cents - order.discount_cents
    paid = max(goods - order.points_cents, 0)
    nets = {line.id: max(line.line_cents - line.discount_cents, 0) for line in order.lines}
    if paid == 0 or goods <= 0 or not nets:
        return 0, {}
    shares = {line_id: paid * net // goods for line_id, net in nets.items()}
    largest = max(nets, key=lambda line_id: (nets[line_id], -line_id))
    shares[largest] += paid - sum(shares.values())
    return paid, shares


def points_for_order(order: ConsumerOrder, member: Member, terms: ProgramTerms) -> tuple[int, int]:
    """(points, earning value) of the order by the rule in points.py's docstring."""
    paid, shares = earning_value(order)
    per_yuan = terms.points.per_yuan.get(order.tier, 0)
    if paid == 0 or per_yuan == 0:
        return 0, paid
    categories = terms.points.category_multiplier_bp
    weighted = 0
    for line in order.lines:
        code = line.variant.product.category.code
        weighted += shares.get(line.id, 0) * categories.get(code, FULL_BP)
    yuan = weighted // (FULL_BP * 100)
    return points_for_yuan(yuan, per_yuan, member, terms), paid


def points_for_yuan(yuan: int, per_yuan: int, member: Member, terms: ProgramTerms) -> int:
    return yuan * per_yuan * terms.level(member.level).points_multiplier_bp // FULL_BP


def earn_for_order(order: ConsumerOrder) -> PointsEntry | None:
    """The completed order's points, pending until its return window closes; once per order.
    The buyer's membership at checkout earns, or the one they joined since."""
    member_id = order.member_id
    if member_id is None and order.consumer is not None:
        joined = membership.member_of(order.consumer)
        member_id = joined.id if joined is not None else None
    if member_id is None:
        return None
    member = membership.lock_member(member_id)
    if member.status != MemberStatus.ACTIVE or written(member.id, K.EARN, order.number):
        return None
    points, paid = points_for_order(order, member, membership.terms_of(member))
    if points <= 0:
        return None
    completed = order.completed_at or utcnow()
    return write_entry(
        member,
        K.EARN,
        order.number,
        pending_delta=points,
        value_cents=paid,
        lot_year=local_year(completed),
        due_at=completed + timedelta(days=current_app.config["CONSUMER_RETURN_DAYS"]),
        order_id=order.id,
    )


def order_lot(order: ConsumerOrder) -> PointsEntry | None:
    return db.session.execute(
        select(PointsEntry).where(PointsEntry.order_id == order.id, PointsEntry.kind == K.EARN)
    ).scalar_one_or_none()


def mature_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Lots whose return window has closed: what is left of each moves to available. Returns
    how many lots were looked at (each is matured once: a second run finds none)."""
    now = now or utcnow()
    matured = aliased(PointsEntry)
    lots = list(
        db.session.execute(
            select(PointsEntry)
            .where(
                PointsEntry.kind.in_(LOTS),
                PointsEntry.due_at <= now,
                ~select(matured.id)
                .where(matured.lot_id == PointsEntry.id, matured.kind == K.MATURE)
                .exists(),
            )
            .order_by(PointsEntry.member_id, PointsEntry.id)  # locks in key order
            .limit(limit)
        ).scalars()
    )
    for lot in lots:  # append-only: read before the lock, it is what it was
        member = membership.lock_member(lot.member_id)
        reference = f"L{lot.id}"
        if written(member.id, K.MATURE, reference) is not None:
            continue
        left = pending_left(lot)
        write_entry(
            member,
            K.MATURE,
            reference,
            pending_delta=-left,
            available_delta=left,
            lot_id=lot.id,
            lot_year=lot.lot_year,
            order_id=lot.order_id,
            pos_sale_id=lot.pos_sale_id,
        )
    db.session.flush()
    return len(lots)


@dataclass
class ExpiryRun:
    """Where an expiry run has got to (it walks the members in id order)."""

    now: datetime
    after_member_id: int = 0
    expired_points: int = 0
    members: int = 0


def expire_due(run: ExpiryRun, *, limit: int = 500) -> int:
    """One batch of members holding available points from a year that has ended: each one's
    expiring points (see points.py's docstring) go. Returns how many members were looked at."""
    year = local_year(run.now)
    latest = (
        select(func.max(PointsEntry.id).label("id"))
        .where(PointsEntry.member_id > run.after_member_id)
        .group_by(PointsEntry.member_id)
        .subquery()
    )
    old = aliased(PointsEntry)
    candidates = list(
        db.session.execute(
            select(PointsEntry.member_id)
            .join(latest, latest.c.id == PointsEntry.id)
            .where(
                PointsEntry.available_after > 0,
                select(old.id)
                .where(
                    old.member_id == PointsEntry.member_id,
                    old.kind == K.MATURE,
                    old.lot_year < year,
                )
                .exists(),
            )
            .order_by(PointsEntry.member_id)
            .limit(limit)
        ).scalars()
    )
    terms_by_program: dict[int, ProgramTerms] = {}
    stamp = run.now.astimezone(zone()).strftime("%Y%m%d")
    for member_id in candidates:
        run.after_member_id = member_id
        member = membership.lock_member(member_id)
        if member.program_id not in terms_by_program:
            terms_by_program[member.program_id] = membership.terms_of(member)
        cutoff = year - terms_by_program[member.program_id].points.expire_after_years - 1
        reference = f"Y{cutoff}-{stamp}"
        if written(member.id, K.EXPIRE, reference) is not None:
            continue
        due = min(left_of_lots(member.id, cutoff), balance(member).available)
        if due <= 0:
            continue
        write_entry(member, K.EXPIRE, reference, available_delta=-due, lot_year=cutoff)
        run.expired_points += due
        run.members += 1
    db.session.flush()
    return len(candidates)
