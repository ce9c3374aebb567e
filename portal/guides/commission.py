"""The commission ledger's writes (DESIGN §7, "Commission is a ledger"): what a guide earns when
a sale they brought in is completed, what a return takes back, the new-member bonus and HQ's
corrections; and a guide's balances.

Rules:
- An order earns when it is completed (handed over or delivered), once, what its attribution
  carries (`Attribution.commission_cents`, counted at checkout) less the share of the order
  already refunded; the earning is pending until the return window (CONSUMER_RETURN_DAYS, the
  points' window) closes after completion.
- A refund after completion takes back the commission in proportion to the order's value
  refunded. The reversal is counted cumulatively: after it, what the order keeps earning is
  `commission * (total - refunded) // total`, so partial reversals add up exactly to the earning
  once everything has come back, and a refund before completion needs no entry (the earning
  leaves it out). Divisions floor to the fen: a guide is never paid a fen the sale did not earn.
- A till sale earns at once when it is attributed, pending until the window closes after the
  sale; its refunds reverse the same way.
- Each entry is written once: `(guide, kind, reference)` is unique, and a repeat of a listener's
  call finds the first entry.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, exists, func, select
from sqlalchemy.exc import IntegrityError

from portal.core.access import Actor, Permission
from portal.core.db import utcnow
from portal.core.errors import NotFound, ValidationFailed
from portal.extensions import db
from portal.guides.models import (
    Attribution,
    CommissionEntry,
    CommissionKind,
    CommissionSettled,
    Guide,
)
from portal.members.ledger_models import PosSale
from portal.policy.consumer_terms import terms_for
from portal.storefront.hooks import RefundRequest
from portal.storefront.models import ConsumerOrder
from portal.storefront.transitions import Action
from portal.storefront.words import say

COMPLETING = frozenset({Action.HAND_OVER.value, Action.DELIVER.value})


def return_window() -> timedelta:
    return timedelta(days=current_app.config["CONSUMER_RETURN_DAYS"])


def _kept(commission_cents: int, total_cents: int, refunded_cents: int) -> int:
    """What a sale still earns once `refunded_cents` of its `total_cents` went back (floored)."""
    if total_cents <= 0:
        return commission_cents if refunded_cents <= 0 else 0
    left = max(0, total_cents - max(0, refunded_cents))
    return commission_cents * left // total_cents


def _find(guide_id: int, kind: str, reference: str) -> CommissionEntry | None:
    return db.session.execute(
        select(CommissionEntry).where(
            CommissionEntry.guide_id == guide_id,
            CommissionEntry.kind == kind,
            CommissionEntry.reference == reference,
        )
    ).scalar_one_or_none()


def _write(
    *,
    brand_id: int,
    guide_id: int,
    org_id: int,
    kind: CommissionKind,
    amount_cents: int,
    reference: str,
    matures_at: datetime,
    attribution_id: int | None = None,
    basis_cents: int = 0,
    currency: str = "CNY",
    note: str = "",
    actor_user_id: int | None = None,
) -> CommissionEntry:
    """One ledger entry, or the one already written under the same reference."""
    earlier = _find(guide_id, kind, reference)
    if earlier is not None:
        return earlier
    entry = CommissionEntry(
        brand_id=brand_id,
        guide_id=guide_id,
        org_id=org_id,
        kind=kind,
        amount_cents=amount_cents,
        currency=currency,
        reference=reference,
        attribution_id=attribution_id,
        basis_cents=basis_cents,
        matures_at=matures_at,
        note=note,
        actor_user_id=actor_user_id,
    )
    try:
        with db.session.begin_nested():
            db.session.add(entry)
            db.session.flush()
    except IntegrityError:  # written meanwhile by a repeat of the same call
        found = _find(guide_id, kind, reference)
        if found is None:
            raise
        return found
    return entry


def _earning(attribution: Attribution, reference: str) -> CommissionEntry | None:
    return _find(attribution.guide_id, CommissionKind.EARN, reference)


def _reversed_cents(attribution: Attribution) -> int:
    """What reversals took back of an attribution's earning so far (negative or 0)."""
    return db.session.execute(
        select(func.coalesce(func.sum(CommissionEntry.amount_cents), 0)).where(
            CommissionEntry.attribution_id == attribution.id,
            CommissionEntry.kind == CommissionKind.REVERSE,
        )
    ).scalar_one()


def _reverse_to(
    attribution: Attribution, earned: CommissionEntry, keep_cents: int, reference: str
) -> CommissionEntry | None:
    """A reversal bringing the attribution's net earning down to `keep_cents` (none if it is
    there already). A repeat of the same refund finds its first reversal."""
    earlier = _find(earned.guide_id, CommissionKind.REVERSE, reference)
    if earlier is not None:
        return earlier
    net = earned.amount_cents + _reversed_cents(attribution)
    take = net - max(0, keep_cents)
    if take <= 0:
        return None
    return _write(
        brand_id=earned.brand_id,
        guide_id=earned.guide_id,
        org_id=earned.org_id,
        kind=CommissionKind.REVERSE,
        amount_cents=-take,
        currency=earned.currency,
        reference=reference,
        attribution_id=attribution.id,
        basis_cents=earned.basis_cents,
        # Settled with its earning: a return in the window nets against what is still pending.
        matures_at=max(utcnow(), earned.matures_at),
    )


def _earn(
    attribution: Attribution,
    *,
    total_cents: int,
    refunded_cents: int,
    currency: str,
    reference: str,
    since: datetime,
) -> CommissionEntry | None:
    """The attribution's earning for a sale of `total_cents` (less what was refunded of it),
    pending until the return window closes after `since`; none when it earns nothing."""
    if not attribution.earns or attribution.commission_cents <= 0:
        return None
    amount = _kept(attribution.commission_cents, total_cents, refunded_cents)
    if amount <= 0:
        return None
    return _write(
        brand_id=attribution.brand_id,
        guide_id=attribution.guide_id,
        org_id=attribution.guide_org_id,
        kind=CommissionKind.EARN,
        amount_cents=amount,
        currency=currency,
        reference=reference,
        attribution_id=attribution.id,
        basis_cents=attribution.basis_cents,
        matures_at=since + return_window(),
    )


# -- consumer orders -----------------------------------------------------------------------------


def order_attribution(order_id: int) -> Attribution | None:
    return db.session.execute(
        select(Attribution).where(Attribution.consumer_order_id == order_id)
    ).scalar_one_or_none()


def order_moved(order: ConsumerOrder, action: str) -> None:
    """Status listener (storefront hooks.status_listeners): a completed order earns its guide's
    commission, pending until the return window closes."""
    if action not in COMPLETING:
        return
    attribution = order_attribution(order.id)
    if attribution is None:
        return
    _earn(
        attribution,
        total_cents=order.total_cents,
        refunded_cents=order.refunded_cents,
        currency=order.currency,
        reference=f"O{order.id}",
        since=order.completed_at or utcnow(),
    )


def order_refunded(request: RefundRequest) -> None:
    """Refund listener (storefront hooks.refund_listeners), told after the refund is counted in
    `order.refunded_cents`: after completion, the commission goes back in proportion; before
    it, nothing was earned and nothing is written."""
    order = request.order
    attribution = order_attribution(order.id)
    if attribution is None:
        return
    earned = _earning(attribution, f"O{order.id}")
    if earned is None:
        return
    everything = request.full or order.refunded_cents >= order.total_cents
    keep = (
        0
        if everything
        else _kept(attribution.commission_cents, order.total_cents, order.refunded_cents)
    )
    _reverse_to(attribution, earned, keep, f"O{order.id}-{request.reference}")


# -- till sales ----------------------------------------------------------------------------------


def pos_sale_attributed(attribution: Attribution, sale: PosSale) -> CommissionEntry | None:
    """A till sale was attributed to a guide: it earns at once, pending until the return window
    closes after the sale (less what was refunded of it already)."""
    return _earn(
        attribution,
        total_cents=sale.amount_cents,
        refunded_cents=sale.refunded_cents,
        currency=sale.currency,
        reference=f"P{sale.id}",
        since=sale.occurred_at,
    )


def pos_sale_refunded(sale: PosSale, amount_cents: int, reference: str) -> CommissionEntry | None:
    """A till refund of `amount_cents` (already counted in `sale.refunded_cents`): the sale's
    commission goes back in proportion. `reference` is the refund's own (unique per sale)."""
    if amount_cents <= 0:
        return None
    attribution = db.session.execute(
        select(Attribution).where(Attribution.pos_sale_id == sale.id)
    ).scalar_one_or_none()
    if attribution is None:
        return None
    earned = _earning(attribution, f"P{sale.id}")
    if earned is None:
        return None
    keep = _kept(attribution.commission_cents, sale.amount_cents, sale.refunded_cents)
    return _reverse_to(attribution, earned, keep, f"P{sale.id}-{reference}")


# -- bonus and corrections -----------------------------------------------------------------------


def member_joined(member: object, guide: Guide) -> CommissionEntry | None:
    """A member joined with the guide's code: the brand's new-member bonus, if it pays one
    (usable at once: a sign-up has nothing to return)."""
    bonus = terms_for(guide.brand_id).commission.new_member_bonus_cents
    member_id = getattr(member, "id", None)
    if bonus <= 0 or member_id is None:
        return None
    return _write(
        brand_id=guide.brand_id,
        guide_id=guide.id,
        org_id=guide.org_id,
        kind=CommissionKind.NEW_MEMBER,
        amount_cents=bonus,
        reference=f"M{member_id}",
        matures_at=utcnow(),
    )


def adjust(actor: Actor, guide: Guide, amount_cents: int, note: str) -> CommissionEntry:
    """HQ's correction of a guide's commission (either sign, with the reason), counted in the
    next settlement. Raises PermissionDenied without COMMISSION_APPROVE, NotFound for a guide of
    another brand, ValidationFailed for a zero amount or no note."""
    actor.ensure(Permission.COMMISSION_APPROVE)
    if not actor.is_system and guide.brand_id not in actor.paths:
        raise NotFound()
    fields = {}
    if not amount_cents:
        fields["amount"] = say(_l("An adjustment is an amount other than zero."))
    note = (note or "").strip()
    if not note:
        fields["note"] = say(_l("Say why the commission is corrected."))
    if fields:
        raise ValidationFailed(fields=fields)
    return _write(
        brand_id=guide.brand_id,
        guide_id=guide.id,
        org_id=guide.org_id,
        kind=CommissionKind.ADJUST,
        amount_cents=amount_cents,
        reference=f"A{utcnow():%Y%m%d%H%M%S}-{secrets.token_hex(4)}",
        matures_at=utcnow(),
        note=note[:300],
        actor_user_id=actor.user_id,
    )


# -- balances ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Balance:
    pending_cents: int  # the return window is still open
    available_cents: int  # matured, in no statement yet: the next settlement takes it
    settled_cents: int  # in a statement


def balances(guide_ids: list[int], *, now: datetime | None = None) -> dict[int, Balance]:
    """Each guide's commission by where it stands, in one query."""
    now = now or utcnow()
    if not guide_ids:
        return {}
    settled = exists().where(CommissionSettled.entry_id == CommissionEntry.id)
    amount = CommissionEntry.amount_cents

    def total(condition):
        return func.coalesce(func.sum(case((condition, amount), else_=0)), 0)

    rows = db.session.execute(
        select(
            CommissionEntry.guide_id,
            total(and_(CommissionEntry.matures_at > now, ~settled)),
            total(and_(CommissionEntry.matures_at <= now, ~settled)),
            total(settled),
        )
        .where(CommissionEntry.guide_id.in_(guide_ids))
        .group_by(CommissionEntry.guide_id)
    ).all()
    found = {row[0]: Balance(int(row[1]), int(row[2]), int(row[3])) for row in rows}
    return {gid: found.get(gid, Balance(0, 0, 0)) for gid in guide_ids}


def balance(guide: Guide, *, now: datetime | None = None) -> Balance:
    return balances([guide.id], now=now)[guide.id]
