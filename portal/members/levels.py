"""Member levels from the rolling 12 months' spend, and the outlet prices they give.

**Spend** of a member, as of a moment `now`, over the window `now - 365 days`:

- consumer orders of the member (any brand of the programme) paid in the window and not called
  off (paid, being prepared, ready, shipped, completed): what the goods cost after coupons
  (`total_cents - delivery_cents`; points and wallet money count, delivery fees do not),
- less what refunded returns of those orders paid back (`ConsumerReturn.refund_cents`),
- plus the member's till sales reported by stores (`PosSale`: `amount_cents - refunded_cents`,
  by `occurred_at`) once that table exists (portal/members/ledger_models.py; until then none).

**Level**: the highest of the programme's levels (`terms.levels`, from the lead brand's
published policy) whose `min_spend_cents` the spend reaches. Levels go down as well as up: the
window rolls. Every change writes a `LevelChange` (never edited).

When: one member when an order of theirs completes or is refunded (`order_moved`), and every
member nightly (`level_jobs.recount_levels`, in batches of members, a fixed number of queries per
batch whatever the number of orders). A partial return changes no order's status: the nightly
run counts it.

**Outlet prices** (`adjust_prices`, a storefront price adjuster): a member's level takes its
`outlet_discount_bp` off each outlet price, rounded to the fen in the member's favour, never
below the SKU's retail floor (a price already under the floor is left as it is).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from portal.core.db import utcnow
from portal.extensions import db
from portal.members.membership import find_program, lock_member, member_of, terms_of
from portal.members.models import LevelChange, Member, MemberStatus
from portal.policy.consumer_terms import ProgramTerms, terms_for
from portal.storefront.catalog import LinePrice
from portal.storefront.models import Consumer, ConsumerOrder, ConsumerOrderStatus, Tier
from portal.storefront.return_models import ConsumerReturn, ReturnStatus

S = ConsumerOrderStatus
WINDOW = timedelta(days=365)
# An order counts while it stands paid: not before payment, not once called off.
COUNTED = (S.PAID, S.PREPARING, S.READY_FOR_PICKUP, S.SHIPPED, S.COMPLETED)
# The moves after which one member is recounted at once.
RECOUNT_ON = ("hand_over", "deliver", "refund")


def _pos_sale_model() -> Any:
    """helper A's `PosSale` (portal/members/ledger_models.py), or None while it does not exist:
    till sales then count nothing."""
    try:
        module = importlib.import_module("portal.members.ledger_models")
    except ImportError:
        return None
    return getattr(module, "PosSale", None)


def spend_by_member(member_ids: Sequence[int], now: datetime) -> dict[int, int]:
    """Each member's spend in the 12 months up to `now` (members without any: absent). Three
    grouped queries whatever the number of members or orders."""
    if not member_ids:
        return {}
    ids = list(member_ids)
    since = now - WINDOW
    counted = (
        ConsumerOrder.member_id.in_(ids),
        ConsumerOrder.paid_at >= since,
        ConsumerOrder.paid_at <= now,
        ConsumerOrder.status.in_([s.value for s in COUNTED]),
    )
    spend: dict[int, int] = {}
    for member_id, cents in db.session.execute(
        select(
            ConsumerOrder.member_id,
            func.sum(ConsumerOrder.total_cents - ConsumerOrder.delivery_cents),
        )
        .where(*counted)
        .group_by(ConsumerOrder.member_id)
    ):
        spend[member_id] = int(cents or 0)
    for member_id, cents in db.session.execute(
        select(ConsumerOrder.member_id, func.sum(ConsumerReturn.refund_cents))
        .join(ConsumerReturn, ConsumerReturn.order_id == ConsumerOrder.id)
        .where(*counted, ConsumerReturn.status == ReturnStatus.REFUNDED)
        .group_by(ConsumerOrder.member_id)
    ):
        spend[member_id] = spend.get(member_id, 0) - int(cents or 0)
    pos = _pos_sale_model()
    if pos is not None:
        for member_id, cents in db.session.execute(
            select(pos.member_id, func.sum(pos.amount_cents - pos.refunded_cents))
            .where(pos.member_id.in_(ids), pos.occurred_at >= since, pos.occurred_at <= now)
            .group_by(pos.member_id)
        ):
            spend[member_id] = spend.get(member_id, 0) + int(cents or 0)
    return {member_id: max(0, cents) for member_id, cents in spend.items()}


def _apply(terms: ProgramTerms, members: Sequence[Member], now: datetime) -> list[LevelChange]:
    """Set each member's spend and level as of `now`; the changes written, one per member whose
    level moved."""
    spend = spend_by_member([m.id for m in members], now)
    changes: list[LevelChange] = []
    for member in members:
        cents = spend.get(member.id, 0)
        level = terms.level_for_spend(cents).code
        if member.spend_12m_cents != cents:
            member.spend_12m_cents = cents
        if member.level != level:
            changes.append(
                LevelChange(
                    member_id=member.id,
                    program_id=member.program_id,
                    from_level=member.level or "",
                    to_level=level,
                    spend_12m_cents=cents,
                    created_at=now,
                )
            )
            member.level = level
            member.level_since = now
    db.session.add_all(changes)
    db.session.flush()
    return changes


def recount(member: Member, *, now: datetime | None = None) -> LevelChange | None:
    """Recount one member now, under their lock; the change written, if the level moved."""
    locked = lock_member(member.id)
    if locked.status != MemberStatus.ACTIVE:
        return None
    changes = _apply(terms_of(locked), [locked], now or utcnow())
    return changes[0] if changes else None


@dataclass(frozen=True)
class BatchResult:
    members: int  # members read
    changed: int  # levels that moved
    last_id: int  # the cursor of the next batch


def recount_batch(program_id: int, *, after: int, limit: int, now: datetime) -> BatchResult:
    """The next `limit` active members of the programme after member id `after`, recounted
    under their locks (a checkout of one of them waits for this batch, not the other way)."""
    members = list(
        db.session.execute(
            select(Member)
            .where(
                Member.program_id == program_id,
                Member.status == MemberStatus.ACTIVE,
                Member.id > after,
            )
            .order_by(Member.id)
            .limit(limit)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalars()
    )
    if not members:
        return BatchResult(0, 0, after)
    program = members[0].program
    changes = _apply(terms_for(program.lead_brand_id), members, now)
    return BatchResult(len(members), len(changes), members[-1].id)


def order_moved(order: ConsumerOrder, action: str) -> None:
    """A member's order completed or was refunded: their level follows at once."""
    if order.member_id is None or action not in RECOUNT_ON:
        return
    member = db.session.execute(
        select(Member).where(Member.id == order.member_id)
    ).scalar_one_or_none()
    if member is not None:
        recount(member)


def history(member: Member, limit: int = 50) -> list[LevelChange]:
    return list(
        db.session.execute(
            select(LevelChange)
            .where(LevelChange.member_id == member.id)
            .order_by(LevelChange.id.desc())
            .limit(limit)
        ).scalars()
    )


# -- outlet prices -------------------------------------------------------------------------------


def discount_bp(brand_id: int, consumer: Consumer | None) -> int:
    """What the consumer's level takes off outlet prices of this brand (0: nothing)."""
    member = member_of(consumer)
    if member is None or consumer is None or consumer.brand_id != brand_id:
        return 0
    program = find_program(brand_id)
    if program is None or program.id != member.program_id:
        return 0
    return terms_of(member).level(member.level).outlet_discount_bp


def member_price(cents: int, bp: int, floor_cents: int | None) -> int:
    """An outlet price less a level's discount (the discount rounded down: the member never pays
    a fen more than the rate), never below the floor unless the price already was."""
    lowered = cents - cents * bp // 10000
    if floor_cents is None:
        return lowered
    return min(cents, max(lowered, floor_cents))


def adjust_prices(
    brand_id: int, tier: str, consumer: Consumer | None, prices: dict[int, LinePrice]
) -> None:
    if tier != Tier.OUTLET or consumer is None or not prices:
        return
    bp = discount_bp(brand_id, consumer)
    if bp <= 0:
        return
    for variant_id, line in prices.items():
        cents = member_price(line.cents, bp, line.floor_cents)
        if cents != line.cents:
            prices[variant_id] = replace(line, cents=cents)
