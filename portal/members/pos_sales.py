"""Sales at a store's till (the rules: portal/members/points.py): a till reports a sale for a
phone number, which earns points on the member's balance (the phone joins the programme when it
is new) pending like an order's; the till's reference makes a report safe to repeat; a refund at
the till takes back the sale's points in proportion."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal.core.access import Actor
from portal.core.db import utcnow
from portal.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.inventory.models import Location
from portal.members import membership
from portal.members.ledger_models import PointsEntry, PointsKind, PosSale
from portal.members.models import JoinChannel, Member, MemberStatus
from portal.members.points_earning import points_for_yuan
from portal.members.points_ledger import local_year, reverse_lot, write_entry, written
from portal.network.models import Organization
from portal.storefront import consumers
from portal.storefront.consumer_fields import normalize_phone
from portal.storefront.models import Consumer, Tier
from portal.storefront.words import say

K = PointsKind
MAX_SALE_CENTS = 10**10  # a hundred million yuan at one till: anything above is a mistake
POS_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,39}$")
FUTURE_SLACK = timedelta(minutes=5)  # a till's clock a little ahead of ours is taken as it is
# Told of each NEW sale, in its transaction, with the guide code the till sent (or None): the
# guides package attributes it (portal/guides/plugs.py). What a listener refuses undoes the sale.
sale_listeners: list[Callable[[PosSale, str | None], None]] = []
# Told of each NEW refund of a sale (amount in fen, the refund's own reference), in its
# transaction, after the sale's points went back: the guide's commission follows it.
refund_listeners: list[Callable[[PosSale, int, str], None]] = []


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
    guide_code: str | None = None,
) -> PosSaleResult:
    """A sale at the actor's own store for the member with this phone (joined now when the
    programme does not know the phone): it earns points, pending like an order's. The till's
    `reference` makes it retry-safe: the same sale again is the first answer; the reference with
    another sale's content is DuplicatePosSale (409). Raises ValidationFailed naming the field.
    `guide_code` goes to `sale_listeners` with a new sale (a repeat is not attributed again)."""
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
    points = points_for_yuan(
        amount_cents // 100, terms.points.per_yuan.get(Tier.OFFICIAL, 0), member, terms
    )
    sale.points = points
    write_entry(
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
    for listener in sale_listeners:
        listener(sale, guide_code)
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
    earlier = written(member.id, K.POS_REVERSE, key)
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
    for listener in refund_listeners:
        listener(sale, amount_cents, refund_reference)
    return sale, False


def pos_points_reversed(sale: PosSale) -> int:
    return int(
        db.session.execute(
            select(func.coalesce(func.sum(PointsEntry.points), 0)).where(
                PointsEntry.pos_sale_id == sale.id, PointsEntry.kind == K.POS_REVERSE
            )
        ).scalar_one()
    )
