"""Points: a ledger per member (ledger_models.PointsEntry), earned, maturing, redeemed, expiring
and reversed; and the sales stores' tills report, which earn on the same balance.

**Earning.** An order earns when it completes (collected, or delivered). Its earning value is
what was paid for the goods with money or wallet after coupons: `goods - discount - points'
worth` (the delivery fee earns nothing), shared over the lines in proportion to each line's value
after its coupon share (the rounding remainder on the largest line). Each line's share is weighted
by its product category's `category_multiplier_bp` (10000 when the category has none), then

    points = ⌊ ⌊Σ share × category_bp / 10000 / 100⌋ × per_yuan[tier] × level_bp / 10000 ⌋

with `per_yuan` and the level's `points_multiplier_bp` (the member's level now) from the
programme's terms. A till's sale earns the same way on its whole amount, at the official tier's
rate, with no category (a till reports an amount, not lines).

**Maturing.** Earned points are pending until the return window closes: CONSUMER_RETURN_DAYS after
the order completed (or the till's sale happened). The hourly job `mature_points` moves what is
left of each lot (after any reversal) to available.

**Expiry.** Points earned in year Y (in PORTAL_TIMEZONE, the portal's local time, by when they were
earned) expire at the end of year Y + `expire_after_years`. Spending takes the oldest points
first, so what expires is what is left of the due years' lots after every debit so far:
`max(0, matured in those years - (spent + reversed from available + expired - given back))`.
The daily job `expire_points` writes it.

**Redeeming.** At checkout a member may pay with available points, at most `redeem_cap_bp` of the
goods after coupons, each worth `cents_per_point`. Any member may redeem in any storefront
(official, outlet, employee); a consumer who has not joined may not.

**Reversal.** Goods coming back take back the points they earned, in proportion to the refunded
value (of the goods after coupons; a whole refund takes back all): from the lot's pending points
first, then from available points down to 0. Points the member already spent are not clawed
back: the entry records what was due (`points`) and notes the part that could not be taken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from portal.core.access import Actor
from portal.core.db import utcnow
from portal.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from portal.core.money import format_percent
from portal.extensions import db
from portal.inventory.models import Location
from portal.members import membership
from portal.members.ledger_models import PointsEntry, PointsKind, PosSale
from portal.members.models import JoinChannel, Member, MemberStatus
from portal.network.models import Organization
from portal.policy.consumer_terms import ProgramTerms
from portal.storefront import consumers
from portal.storefront.consumer_fields import normalize_phone
from portal.storefront.hooks import CheckoutContext
from portal.storefront.models import Consumer, ConsumerOrder, Tier
from portal.storefront.transitions import Action
from portal.storefront.words import say

K = PointsKind
LOTS = (K.EARN, K.POS_EARN)
FULL_BP = 10_000
MAX_SALE_CENTS = 10**10  # a hundred million yuan at one till: anything above is a mistake
POS_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,39}$")
FUTURE_SLACK = timedelta(minutes=5)  # a till's clock a little ahead of ours is taken as it is


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
    return min(balance(member).available, _cap(goods_after_discount_cents, terms))


def _cap(goods_after_discount_cents: int, terms: ProgramTerms) -> int:
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
    left = _left_of_lots(member.id, cutoff)
    return min(left, balance(member).available), date(year, 12, 31)


def _left_of_lots(member_id: int, cutoff_year: int) -> int:
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


def _written(member_id: int, kind: str, reference: str) -> PointsEntry | None:
    return db.session.execute(
        select(PointsEntry).where(
            PointsEntry.member_id == member_id,
            PointsEntry.kind == kind,
            PointsEntry.reference == reference,
        )
    ).scalar_one_or_none()


def _write(
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


def _whole(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationFailed(fields={field: say(_l("A whole number, 0 or more."))})
    return value


def _member_at_checkout(context: CheckoutContext, field: str) -> Member:
    if not membership.is_member(context.brand, context.consumer):
        raise ValidationFailed(
            fields={field: say(_l("Join the membership to pay with points or the wallet."))}
        )
    member = membership.member_of(context.consumer)
    assert member is not None
    return member


# -- checkout ------------------------------------------------------------------------------------


def lock_spender(context: CheckoutContext) -> None:
    """A checkout that spends points, wallet money or coupons takes the member's row lock before
    the order is written: the order's row refers to the member, and that reference holds a key
    share of the member's row until the end; two checkouts of one member each holding one could
    then never both take the lock (a deadlock on PostgreSQL)."""
    extras = context.extras
    if not (extras.points or extras.wallet_cents or extras.coupon_ids):
        return
    if context.consumer.member_id is not None:
        membership.lock_member(context.consumer.member_id)


def after_place(context: CheckoutContext, order: ConsumerOrder) -> None:
    """Redeem `context.extras.points` on the placed order (after coupons): sets
    `order.points_used` and `order.points_cents`. Raises ValidationFailed naming `points` when
    they are more than the member holds or than the cap allows, or not a whole number."""
    wanted = _whole(context.extras.points, "points")
    if wanted == 0:
        return
    member = membership.lock_member(_member_at_checkout(context, "points").id)
    terms = membership.terms_of(member)
    held = balance(member).available
    cap = _cap(order.goods_cents - order.discount_cents, terms)
    if wanted > held:
        raise ValidationFailed(
            fields={"points": say(_l("You have %(held)d points to use."), held=held)}
        )
    if wanted > cap:
        raise ValidationFailed(
            fields={
                "points": say(
                    _l("Points pay at most %(share)s of the goods: %(cap)d points on this order."),
                    share=format_percent(terms.points.redeem_cap_bp),
                    cap=cap,
                )
            }
        )
    cents = wanted * terms.points.cents_per_point
    _write(
        member,
        K.REDEEM,
        order.number,
        available_delta=-wanted,
        value_cents=cents,
        order_id=order.id,
    )
    order.points_used, order.points_cents = wanted, cents


# -- the order's moves ---------------------------------------------------------------------------


def order_moved(order: ConsumerOrder, action: str) -> None:
    """Completed (collected or delivered): the order earns, pending. Cancelled or expired
    before payment: the points it redeemed come back."""
    if action in (Action.HAND_OVER, Action.DELIVER):
        earn_for_order(order)
    elif action in (Action.CANCEL, Action.EXPIRE) and order.points_used and order.member_id:
        member = membership.lock_member(order.member_id)
        if _written(member.id, K.RELEASE, order.number) is None:
            give_back(member, order, order.points_used, kind=K.RELEASE, reference=order.number)


def give_back(
    member: Member, order: ConsumerOrder, points: int, *, kind: str, reference: str
) -> None:
    """Redeemed points back to available (an unpaid order called off, or a refund). The caller
    holds the member's lock and checked the reference is new."""
    if points <= 0:
        return
    worth = points * order.points_cents // max(order.points_used, 1)
    _write(member, kind, reference, available_delta=points, value_cents=worth, order_id=order.id)


def given_back(order: ConsumerOrder) -> int:
    """Redeemed points of the order that came back so far."""
    return int(
        db.session.execute(
            select(func.coalesce(func.sum(PointsEntry.available_delta), 0)).where(
                PointsEntry.order_id == order.id, PointsEntry.kind.in_((K.RELEASE, K.REFUND))
            )
        ).scalar_one()
    )


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
    """(points, earning value) of the order by the rule in this module's docstring."""
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
    return _scaled(yuan, per_yuan, member, terms), paid


def _scaled(yuan: int, per_yuan: int, member: Member, terms: ProgramTerms) -> int:
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
    if member.status != MemberStatus.ACTIVE or _written(member.id, K.EARN, order.number):
        return None
    points, paid = points_for_order(order, member, membership.terms_of(member))
    if points <= 0:
        return None
    completed = order.completed_at or utcnow()
    return _write(
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


def _pending_left(lot: PointsEntry) -> int:
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
    if _written(member.id, kind, reference) is not None:
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
    from_pending = min(due, _pending_left(lot))
    from_available = min(due - from_pending, balance(member).available)
    short = due - from_pending - from_available
    return _write(
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


# -- maturing and expiry (the jobs in points_jobs.py) --------------------------------------------


def mature_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Lots whose return window has closed: what is left of each moves to available. Returns
    how many lots were looked at (each is matured once: a second run finds none)."""
    now = now or utcnow()
    matured = aliased(PointsEntry)
    lots = list(
        db.session.execute(
            select(PointsEntry.id, PointsEntry.member_id)
            .where(
                PointsEntry.kind.in_(LOTS),
                PointsEntry.due_at <= now,
                ~select(matured.id)
                .where(matured.lot_id == PointsEntry.id, matured.kind == K.MATURE)
                .exists(),
            )
            .order_by(PointsEntry.member_id, PointsEntry.id)  # locks in key order
            .limit(limit)
        ).all()
    )
    for lot_id, member_id in lots:
        member = membership.lock_member(member_id)
        reference = f"L{lot_id}"
        if _written(member.id, K.MATURE, reference) is not None:
            continue
        lot = db.session.execute(select(PointsEntry).where(PointsEntry.id == lot_id)).scalar_one()
        left = _pending_left(lot)
        _write(
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
    expiring points (see the module docstring) go. Returns how many members were looked at."""
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
        if _written(member.id, K.EXPIRE, reference) is not None:
            continue
        due = min(_left_of_lots(member.id, cutoff), balance(member).available)
        if due <= 0:
            continue
        _write(member, K.EXPIRE, reference, available_delta=-due, lot_year=cutoff)
        run.expired_points += due
        run.members += 1
    db.session.flush()
    return len(candidates)


# -- sales at a store's till ---------------------------------------------------------------------


@dataclass(frozen=True)
class PosSaleResult:
    sale: PosSale
    created: bool  # False: the same sale sent again
    joined: bool = False  # the phone became a member with this sale


class DuplicatePosSale(Conflict):
    code = "duplicate_sale"


def _check_sale(amount_cents: object, reference: str, occurred_at: datetime | None) -> None:
    fields = {}
    if (
        isinstance(amount_cents, bool)
        or not isinstance(amount_cents, int)
        or not 0 < amount_cents <= MAX_SALE_CENTS
    ):
        fields["amount_cents"] = say(_l("A whole number of fen, more than 0."))
    if not POS_REFERENCE.match(reference or ""):
        fields["reference"] = say(_l("The till's own number: up to 40 letters, digits and - _ . :"))
    if occurred_at is not None and occurred_at > utcnow() + FUTURE_SLACK:
        fields["occurred_at"] = say(_l("The sale cannot be in the future."))
    if fields:
        raise ValidationFailed(fields=fields)


def _find_sale(org_id: int, reference: str) -> PosSale | None:
    return db.session.execute(
        select(PosSale).where(PosSale.org_id == org_id, PosSale.reference == reference)
    ).scalar_one_or_none()


def _same_sale(sale: PosSale, brand: Organization, location: Location, member_id: int | None,
               amount_cents: int, occurred_at: datetime | None) -> bool:  # fmt: skip
    return (
        sale.brand_id == brand.id
        and sale.location_id == location.id
        and sale.member_id == member_id
        and sale.amount_cents == amount_cents
        and (occurred_at is None or sale.occurred_at == occurred_at)
    )


def _pos_member(
    actor: Actor, brand: Organization, location: Location, phone: str
) -> tuple[Member, bool]:
    """The programme's member with this phone; one made now (joined at the store, channel pos,
    with a shop account of the brand) when there is none."""
    program = membership.program_of(brand)
    found = membership.find_member(program.id, phone=phone)
    if found is not None and found.status == MemberStatus.ACTIVE:
        return found, False
    consumer = consumers.find_consumer_by_phone(brand, phone)
    if consumer is None:
        try:
            with db.session.begin_nested():
                consumer = Consumer(brand_id=brand.id, phone=phone)
                db.session.add(consumer)
                db.session.flush()
        except IntegrityError:  # the same phone's first sale, reported twice at once
            consumer = consumers.find_consumer_by_phone(brand, phone)
            assert consumer is not None
    joined = membership.join(
        consumer, channel=JoinChannel.POS, location_id=location.id, by_user_id=actor.user_id
    )
    return joined, True


def record_pos_sale(
    actor: Actor,
    brand: Organization,
    location: Location,
    *,
    phone: str,
    amount_cents: int,
    reference: str,
    occurred_at: datetime | None = None,
) -> PosSaleResult:
    """A sale at the actor's own store for the member with this phone (joined now when the
    programme does not know the phone): it earns points, pending like an order's. The till's
    `reference` makes it retry-safe: the same sale again is the first answer; the reference with
    another sale's content is DuplicatePosSale (409). Raises ValidationFailed naming the field."""
    if not actor.is_system and location.org_id != actor.org_id:
        raise PermissionDenied(say(_l("Sales are reported for one's own stores.")))
    phone = normalize_phone(phone)
    _check_sale(amount_cents, reference, occurred_at)
    earlier = _find_sale(location.org_id, reference)
    if earlier is not None:
        return _replayed(earlier, brand, location, phone, amount_cents, occurred_at)
    found, joined = _pos_member(actor, brand, location, phone)
    # The member's lock comes before the sale's row, which references the member: that insert
    # holds a key-share lock on the member, and taking the row lock after it would deadlock with
    # a second till's sale for the same member.
    member = membership.lock_member(found.id)
    earlier = _find_sale(location.org_id, reference)  # reported meanwhile, by a retry
    if earlier is not None:
        return _replayed(earlier, brand, location, phone, amount_cents, occurred_at)
    sale = PosSale(
        brand_id=brand.id,
        program_id=member.program_id,
        member_id=member.id,
        location_id=location.id,
        org_id=location.org_id,
        reference=reference,
        amount_cents=amount_cents,
        refunded_cents=0,
        occurred_at=occurred_at or utcnow(),
        user_id=actor.user_id,
        api_key_id=actor.api_key_id,
        created_at=utcnow(),
    )
    try:
        with db.session.begin_nested():
            db.session.add(sale)
            db.session.flush()
    except IntegrityError:  # the same reference, reported at the same moment
        first = _find_sale(location.org_id, reference)
        if first is None:
            raise
        return _replayed(first, brand, location, phone, amount_cents, occurred_at)
    terms = membership.terms_of(member)
    points = _scaled(
        amount_cents // 100, terms.points.per_yuan.get(Tier.OFFICIAL, 0), member, terms
    )
    sale.points = points
    _write(
        member,
        K.POS_EARN,
        f"P{sale.id}",
        pending_delta=points,
        value_cents=amount_cents,
        lot_year=local_year(sale.occurred_at),
        due_at=(
            sale.occurred_at + timedelta(days=current_app.config["CONSUMER_RETURN_DAYS"])
            if points
            else None
        ),
        pos_sale_id=sale.id,
    )
    return PosSaleResult(sale, created=True, joined=joined)


def _replayed(sale: PosSale, brand: Organization, location: Location, phone: str,
              amount_cents: int, occurred_at: datetime | None) -> PosSaleResult:  # fmt: skip
    member = membership.find_member(sale.program_id, phone=phone)
    if not _same_sale(sale, brand, location, member.id if member else None, amount_cents,
                      occurred_at):  # fmt: skip
        raise DuplicatePosSale(
            say(
                _l("Sale %(reference)s was reported before with other details."),
                reference=sale.reference,
            )  # fmt: skip
        )
    return PosSaleResult(sale, created=False)


def get_pos_sale(actor: Actor, reference: str, *, lock: bool = False) -> PosSale:
    """A sale the actor's own org reported; anyone else's is a 404."""
    stmt = select(PosSale).where(PosSale.reference == reference)
    if not actor.is_system:
        stmt = stmt.where(PosSale.org_id == (actor.org_id or 0))
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    found = db.session.execute(stmt).scalar_one_or_none()
    if found is None:
        raise NotFound()
    return found


def pos_lot(sale: PosSale) -> PointsEntry | None:
    return db.session.execute(
        select(PointsEntry).where(
            PointsEntry.pos_sale_id == sale.id, PointsEntry.kind == K.POS_EARN
        )
    ).scalar_one_or_none()


def refund_pos_sale(
    actor: Actor, reference: str, *, amount_cents: int, refund_reference: str | None = None
) -> tuple[PosSale, bool]:
    """The till gave back `amount_cents` of the sale: its points go in proportion (pending
    first, then available down to 0). With a `refund_reference` a retry is the first answer
    (True: replayed); without one every call is a new refund. Raises NotFound for another org's
    sale, ValidationFailed naming `amount_cents` beyond what is left to refund, DuplicatePosSale
    for a refund reference used with another amount."""
    sale = get_pos_sale(actor, reference, lock=True)
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0:
        raise ValidationFailed(
            fields={"amount_cents": say(_l("A whole number of fen, more than 0."))}
        )
    if refund_reference is not None and not POS_REFERENCE.match(refund_reference):
        raise ValidationFailed(
            fields={"reference": say(_l("Up to 40 letters, digits and - _ . :"))}
        )
    member = membership.lock_member(sale.member_id)
    if refund_reference is None:
        count = db.session.execute(
            select(func.count(PointsEntry.id)).where(
                PointsEntry.pos_sale_id == sale.id, PointsEntry.kind == K.POS_REVERSE
            )
        ).scalar_one()
        refund_reference = f"R{count + 1}"
    key = f"P{sale.id}-{refund_reference}"
    earlier = _written(member.id, K.POS_REVERSE, key)
    if earlier is not None:
        if earlier.value_cents != amount_cents:
            raise DuplicatePosSale(
                say(
                    _l("Refund %(reference)s was reported before with another amount."),
                    reference=refund_reference,
                )  # fmt: skip
            )
        return sale, True
    left = sale.amount_cents - sale.refunded_cents
    if amount_cents > left:
        raise ValidationFailed(
            fields={
                "amount_cents": say(
                    _l("At most %(left)d fen of this sale is left to refund."), left=left
                )
            }
        )
    sale.refunded_cents += amount_cents
    lot = pos_lot(sale)
    assert isinstance(lot, PointsEntry)
    reverse_lot(
        member,
        lot,
        kind=K.POS_REVERSE,
        reference=key,
        value_cents=amount_cents,
        base_cents=sale.amount_cents,
        full=sale.refunded_cents == sale.amount_cents,
    )
    db.session.flush()
    return sale, False


def pos_points_reversed(sale: PosSale) -> int:
    return int(
        db.session.execute(
            select(func.coalesce(func.sum(PointsEntry.points), 0)).where(
                PointsEntry.pos_sale_id == sale.id, PointsEntry.kind == K.POS_REVERSE
            )
        ).scalar_one()
    )
