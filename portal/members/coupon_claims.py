"""A member's side of coupons (the coupons door, portal/members/coupons.py, says the rules):
claiming one on the coupon page or through a shared link, the templates a consumer could claim
now, and the coupons a member holds as their pages and the API show them.

`claim_listeners`: callables `(coupon, consumer) -> None`, told, in order, of each coupon that
`claim()` gives (a claim on the coupon page, by the template's link, or through the API), in the
claim's transaction, right after the coupon is written; one that raises undoes the claim. The
campaigns layer registers one there (portal/campaigns/tasks.py: whose guide link a claim came
through). `give_claimed()` is the claim without the link and the listeners: a claimed coupon of
a template for a member under the same rules, for callers that record their own source (a red
packet, portal/campaigns/red_packets.py, writes its own claim and source rows).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from portal.core.db import utcnow
from portal.core.errors import DomainError, NotFound
from portal.extensions import db
from portal.members import membership
from portal.members.coupon_issuing import giving_refusal, lock_template, new_coupon
from portal.members.coupon_models import (
    Coupon,
    CouponSource,
    CouponStatus,
    CouponTemplate,
    CouponValidity,
    Distribution,
    TemplateStatus,
)
from portal.members.coupon_templates import label, templates_by_id, where_it_counts
from portal.members.models import Member
from portal.network.models import Organization
from portal.storefront.models import Consumer, ConsumerOrder
from portal.storefront.words import say


class CouponRefused(DomainError):
    """A claim the rules do not allow now (not a member, none left, the member's limit)."""

    code = "coupon_refused"
    status = 422
    message = "This coupon cannot be claimed."


# Told of each coupon `claim()` gives, in order, in its transaction (see the module's docstring).
claim_listeners: list[Callable[[Coupon, Consumer], None]] = []


# -- claiming ------------------------------------------------------------------------------------


def find_claimable(brand_id: int, code: str) -> CouponTemplate | None:
    """The template a claim link names: claimed on a page or by link (an issued-only template
    has no claim page)."""
    code = (code or "").strip()
    if not code or len(code) > 32:
        return None
    return db.session.execute(
        select(CouponTemplate).where(
            CouponTemplate.brand_id == brand_id,
            CouponTemplate.code == code,
            CouponTemplate.distribution.in_([Distribution.CLAIM, Distribution.LINK]),
        )
    ).scalar_one_or_none()


def _held_count(template_id: int, member_id: int) -> int:
    return db.session.execute(
        select(func.count())
        .select_from(Coupon)
        .where(Coupon.template_id == template_id, Coupon.member_id == member_id)
    ).scalar_one()


def member_of_shop(brand: Organization, consumer: Consumer | None) -> Member | None:
    """The consumer's member, when they joined the programme of this brand's shop."""
    return membership.member_in(brand, consumer)


def claim_refusal(
    brand: Organization, consumer: Consumer | None, template: CouponTemplate
) -> str | None:
    """Why this consumer may not claim a coupon of the template now, in words, or None."""
    if consumer is None:
        return say(_l("Sign in to claim this coupon."))
    return _refusal(template, member_of_shop(brand, consumer))


def member_refusal(template: CouponTemplate, member: Member) -> str | None:
    """Why the member may not be given a claimed coupon of the template now (no longer given
    out, none left, their limit), in words, or None: what `give_claimed` checks first."""
    return _refusal(template, member)


def _refusal(template: CouponTemplate, member: Member | None) -> str | None:
    if member is None:
        return say(_l("Only members can claim coupons: join the membership first."))
    refusal = giving_refusal(template, utcnow())
    if refusal:
        return refusal
    if template.total_limit is not None and template.given_count >= template.total_limit:
        return say(_l("All of these coupons have been claimed."))
    held = _held_count(template.id, member.id)
    if held >= template.per_member_limit:
        return _limit_message(template)
    return None


def _limit_message(template: CouponTemplate) -> str:
    return say(
        _l("You already hold %(count)d of these coupons, as many as one member may."),
        count=template.per_member_limit,
    )


def claim(consumer: Consumer, brand: Organization, code: str) -> Coupon:
    """A coupon of the template the link names, for the consumer's member. Raises NotFound for
    no such claimable template, CouponRefused saying why not (not a member, no longer given
    out, none left, the member's limit). Concurrent claims queue on the template's row: the
    total and per-member limits hold however many claim at once. Tells `claim_listeners`."""
    template = find_claimable(brand.id, code)
    if template is None:
        raise NotFound()
    member = member_of_shop(brand, consumer)
    if member is None:
        _refuse(_refusal(template, None))
    coupon = give_claimed(template, member)
    for listener in list(claim_listeners):
        listener(coupon, consumer)
    return coupon


def _refuse(message: str | None) -> NoReturn:
    text = message or CouponRefused.message
    raise CouponRefused(text, fields={"code": text})


def give_claimed(template: CouponTemplate, member: Member) -> Coupon:
    """A claimed coupon of the template for the member (any distribution), under the claim's
    rules: the template still given out, its total limit and the member's limit, which hold
    however many claim at once (they queue on the template's row). Raises CouponRefused saying
    why not. Tells no `claim_listeners`: the caller records where the claim came from."""
    refusal = _refusal(template, member)
    if refusal:
        _refuse(refusal)
    taken = db.session.execute(
        update(CouponTemplate)
        .where(
            CouponTemplate.id == template.id,
            CouponTemplate.status == TemplateStatus.ACTIVE,
            or_(
                CouponTemplate.total_limit.is_(None),
                CouponTemplate.given_count < CouponTemplate.total_limit,
            ),
        )
        .values(given_count=CouponTemplate.given_count + 1)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        _refuse(say(_l("All of these coupons have been claimed.")))
    # The row is ours until commit: a claim of the same member before us has committed.
    template = lock_template(template.id)
    top = db.session.execute(
        select(func.count(), func.coalesce(func.max(Coupon.seq), 0)).where(
            Coupon.template_id == template.id, Coupon.member_id == member.id
        )
    ).one()
    if top[0] >= template.per_member_limit:
        _refuse(_limit_message(template))
    try:
        with db.session.begin_nested():
            coupon = new_coupon(
                template, member.id, int(top[1]) + 1, CouponSource.CLAIMED, utcnow()
            )
            db.session.flush()
    except IntegrityError as error:
        message = _limit_message(template)
        raise CouponRefused(message, fields={"code": message}) from error
    return coupon


# -- a member's coupons --------------------------------------------------------------------------


@dataclass(frozen=True)
class HeldCoupon:
    """One of the member's coupons as their pages and the API show it."""

    id: int
    template_id: int
    name: str
    label: str
    description: str
    where: str
    state: str  # usable | upcoming | used | expired
    valid_from: datetime
    valid_until: datetime  # exclusive
    is_stackable: bool
    tiers: tuple[str, ...]
    order_number: str | None = None
    discount_cents: int = 0
    used_at: datetime | None = None


def _state(coupon: Coupon, now: datetime) -> str:
    if coupon.status == CouponStatus.USED:
        return "used"
    if coupon.valid_until <= now:
        return "expired"
    if coupon.valid_from > now:
        return "upcoming"
    return "usable"


def member_coupons(
    member: Member, brand_id: int, *, now: datetime | None = None, limit: int = 200
) -> list[HeldCoupon]:
    """The member's coupons of this brand, newest first (at most `limit`)."""
    now = now or utcnow()
    rows = db.session.execute(
        select(Coupon, ConsumerOrder.number)
        .outerjoin(ConsumerOrder, ConsumerOrder.id == Coupon.order_id)
        .where(Coupon.member_id == member.id, Coupon.brand_id == brand_id)
        .order_by(Coupon.id.desc())
        .limit(limit)
    ).all()
    templates = templates_by_id({coupon.template_id for coupon, _number in rows})
    return [_held(coupon, templates[coupon.template_id], number, now) for coupon, number in rows]


def _held(
    coupon: Coupon, template: CouponTemplate, order_number: str | None, now: datetime
) -> HeldCoupon:
    return HeldCoupon(
        id=coupon.id,
        template_id=template.id,
        name=template.name,
        label=label(template),
        description=template.description,
        where=where_it_counts(template),
        state=_state(coupon, now),
        valid_from=coupon.valid_from,
        valid_until=coupon.valid_until,
        is_stackable=template.is_stackable,
        tiers=tuple(template.tiers),
        order_number=order_number if coupon.status == CouponStatus.USED else None,
        discount_cents=coupon.discount_cents,
        used_at=coupon.used_at,
    )


def describe(coupon: Coupon) -> HeldCoupon:
    """A coupon just claimed (or loaded) as the member's pages show it."""
    template = templates_by_id([coupon.template_id])[coupon.template_id]
    number = None
    if coupon.order_id is not None:
        number = db.session.execute(
            select(ConsumerOrder.number).where(ConsumerOrder.id == coupon.order_id)
        ).scalar_one_or_none()
    return _held(coupon, template, number, utcnow())


def claimable_templates(brand: Organization, consumer: Consumer | None) -> list[CouponTemplate]:
    """The brand's templates given out on the coupon page that this consumer could claim now
    (`claim_refusal` says None to each), counting what the member holds in one query."""
    member = member_of_shop(brand, consumer)
    if member is None:
        return []
    now = utcnow()
    rows = db.session.execute(
        select(CouponTemplate)
        .where(
            CouponTemplate.brand_id == brand.id,
            CouponTemplate.distribution == Distribution.CLAIM,
            CouponTemplate.status == TemplateStatus.ACTIVE,
            or_(
                CouponTemplate.validity == CouponValidity.DAYS,
                CouponTemplate.valid_until > now,
            ),
            or_(
                CouponTemplate.total_limit.is_(None),
                CouponTemplate.given_count < CouponTemplate.total_limit,
            ),
        )
        .order_by(CouponTemplate.id.desc())
        .limit(50)
    ).scalars()
    templates = [t for t in rows if giving_refusal(t, now) is None]
    held = {
        template_id: count
        for template_id, count in db.session.execute(
            select(Coupon.template_id, func.count())
            .where(
                Coupon.member_id == member.id,
                Coupon.template_id.in_([t.id for t in templates] or [0]),
            )
            .group_by(Coupon.template_id)
        ).all()
    }
    return [t for t in templates if held.get(t.id, 0) < t.per_member_limit]
