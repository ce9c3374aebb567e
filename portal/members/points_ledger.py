"""The points ledger (the rules: portal/members/points.py): a member's balances, pending and
available, are their latest entry's running totals; every change is one entry written on top
of it under the member's row lock (`write_entry`), at most once per (kind, reference). Here: the
reads (balance, history, what may be redeemed, what expires this year), the writing, and the two
moves that others compose (redeemed points given back; a lot's points taken back)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select

from portal.core.db import utcnow
from portal.extensions import db
from portal.members.ledger_models import PointsEntry, PointsKind
from portal.members.models import Member
from portal.policy.consumer_terms import ProgramTerms
from portal.storefront.models import ConsumerOrder

K = PointsKind
FULL_BP = 10_000


@dataclass(frozen=True)
class PointsBalance:
    pending: int
    available: int


# -- reads ---------------------------------------------------------------------------------------


def _latest(member_id: int) -> PointsEntry | None:
    return db.session.execute(
        select(PointsEntry)
        .where(PointsEntry.member_id == member_id)
        .order_by(PointsEntry.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def balance(member: Member) -> PointsBalance:
    """The member's points now: their latest entry's running balances."""
    latest = _latest(member.id)
    if latest is None:
        return PointsBalance(0, 0)
    return PointsBalance(latest.pending_after, latest.available_after)


def history(member: Member, limit: int = 50) -> list[PointsEntry]:
    """The member's entries, newest first (entries that moved no points are left out)."""
    return list(
        db.session.execute(
            select(PointsEntry)
            .where(
                PointsEntry.member_id == member.id,
                (PointsEntry.pending_delta != 0) | (PointsEntry.available_delta != 0),
            )
            .order_by(PointsEntry.id.desc())
            .limit(limit)
        ).scalars()
    )


def max_redeemable(member: Member, goods_after_discount_cents: int, terms: ProgramTerms) -> int:
    """How many points the member may redeem on goods worth this much after coupons: what they
    hold, within the cap."""
    return min(balance(member).available, redeem_cap(goods_after_discount_cents, terms))


def redeem_cap(goods_after_discount_cents: int, terms: ProgramTerms) -> int:
    share = max(goods_after_discount_cents, 0) * terms.points.redeem_cap_bp // FULL_BP
    return share // terms.points.cents_per_point


def zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


def local_year(moment: datetime) -> int:
    return moment.astimezone(zone()).year


def expiring(
    member: Member, terms: ProgramTerms, *, now: datetime | None = None
) -> tuple[int, date]:
    """The points that expire at the end of this year (local time) unless spent first, and
    that day (the last one they can be used)."""
    year = local_year(now or utcnow())
    cutoff = year - terms.points.expire_after_years
    left = left_of_lots(member.id, cutoff)
    return min(left, balance(member).available), date(year, 12, 31)


def left_of_lots(member_id: int, cutoff_year: int) -> int:
    """What is left of the lots earned up to `cutoff_year` after every debit (FIFO)."""
    credited = db.session.execute(
        select(func.coalesce(func.sum(PointsEntry.available_delta), 0)).where(
            PointsEntry.member_id == member_id,
            PointsEntry.kind == K.MATURE,
            PointsEntry.lot_year <= cutoff_year,
        )
    ).scalar_one()
    others = db.session.execute(
        select(func.coalesce(func.sum(PointsEntry.available_delta), 0)).where(
            PointsEntry.member_id == member_id, PointsEntry.kind != K.MATURE
        )
    ).scalar_one()
    return max(0, int(credited) + int(others))


# -- writing -------------------------------------------------------------------------------------


def written(member_id: int, kind: str, reference: str) -> PointsEntry | None:
    return db.session.execute(
        select(PointsEntry).where(
            PointsEntry.member_id == member_id,
            PointsEntry.kind == kind,
            PointsEntry.reference == reference,
        )
    ).scalar_one_or_none()


def write_entry(
    member: Member,
    kind: str,
    reference: str,
    *,
    pending_delta: int = 0,
    available_delta: int = 0,
    points: int | None = None,
    **columns: Any,
) -> PointsEntry:
    """One entry on top of the member's latest. The caller holds the member's row lock and has
    checked that the balances stay at 0 or above (the database checks it again)."""
    now = balance(member)
    pending, available = now.pending + pending_delta, now.available + available_delta
    if pending < 0 or available < 0:
        raise ValueError(f"member {member.id}: {kind} {reference} would overdraw the points")
    entry = PointsEntry(
        member_id=member.id,
        program_id=member.program_id,
        kind=kind,
        reference=reference,
        points=abs(pending_delta + available_delta) if points is None else points,
        pending_delta=pending_delta,
        available_delta=available_delta,
        pending_after=pending,
        available_after=available,
        created_at=utcnow(),
        **columns,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


# -- giving redeemed points back, taking earned points back --------------------------------------


def give_back(
    member: Member, order: ConsumerOrder, points: int, *, kind: str, reference: str
) -> None:
    """Redeemed points back to available (an unpaid order called off, or a refund). The caller
    holds the member's lock and checked the reference is new."""
    if points <= 0:
        return
    worth = points * order.points_cents // max(order.points_used, 1)
    write_entry(
        member, kind, reference, available_delta=points, value_cents=worth, order_id=order.id
    )


def given_back(order: ConsumerOrder) -> int:
    """Redeemed points of the order that came back so far."""
    return int(
        db.session.execute(
            select(func.coalesce(func.sum(PointsEntry.available_delta), 0)).where(
                PointsEntry.order_id == order.id, PointsEntry.kind.in_((K.RELEASE, K.REFUND))
            )
        ).scalar_one()
    )


def pending_left(lot: PointsEntry) -> int:
    since = db.session.execute(
        select(func.coalesce(func.sum(PointsEntry.pending_delta), 0)).where(
            PointsEntry.lot_id == lot.id
        )
    ).scalar_one()
    return max(lot.pending_delta + int(since), 0)


def reverse_lot(
    member: Member,
    lot: PointsEntry,
    *,
    kind: str,
    reference: str,
    value_cents: int,
    base_cents: int,
    full: bool,
) -> PointsEntry | None:
    """Take back a lot's points for `value_cents` refunded of `base_cents` (all that is left of
    them when `full`): due = lot × refunded so far ÷ base, less what earlier reversals took;
    from the lot's pending points first, then available down to 0. The caller holds the
    member's lock. Once per reference."""
    if written(member.id, kind, reference) is not None:
        return None
    earlier = db.session.execute(
        select(
            func.coalesce(func.sum(PointsEntry.points), 0),
            func.coalesce(func.sum(PointsEntry.value_cents), 0),
        ).where(PointsEntry.lot_id == lot.id, PointsEntry.kind == kind)
    ).one()
    taken, refunded = int(earlier[0]), int(earlier[1]) + value_cents
    if full or base_cents <= 0:
        target = lot.points
    else:
        target = lot.points * min(refunded, base_cents) // base_cents
    due = max(target - taken, 0)
    from_pending = min(due, pending_left(lot))
    from_available = min(due - from_pending, balance(member).available)
    short = due - from_pending - from_available
    return write_entry(
        member,
        kind,
        reference,
        pending_delta=-from_pending,
        available_delta=-from_available,
        points=due,
        value_cents=value_cents,
        lot_id=lot.id,
        order_id=lot.order_id,
        pos_sale_id=lot.pos_sale_id,
        note=f"{short} points had been spent: not taken back" if short else "",
    )
