"""Coupons at checkout and after (the coupons door, portal/members/coupons.py, says the rules):
what a checkout page offers (`usable`) and what the chosen coupons would take off (`preview`),
the checkout step that takes their discount and marks them used (`after_place`), and giving
them back when the order is called off before payment or refunded whole."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.catalog.models import Category, Product, Variant
from portal.core.db import utcnow
from portal.core.errors import ValidationFailed
from portal.core.money import percent_of
from portal.extensions import db
from portal.members import membership
from portal.members.coupon_claims import member_of_shop
from portal.members.coupon_models import (
    Coupon,
    CouponKind,
    CouponScope,
    CouponStatus,
    CouponTemplate,
)
from portal.members.coupon_templates import (
    label,
    last_moment,
    templates_by_id,
    where_it_counts,
    zone,
)
from portal.members.models import Member
from portal.storefront.hooks import CheckoutContext, RefundRequest
from portal.storefront.models import ConsumerOrder, ConsumerOrderLine
from portal.storefront.transitions import Action
from portal.storefront.words import say, say_money

MAX_PER_ORDER = 10  # coupons on one order


@dataclass(frozen=True)
class UsableCoupon:
    """A coupon the member may choose at checkout now (checkout pages show `label`)."""

    id: int
    label: str
    name: str
    template_id: int
    kind: str
    amount_cents: int
    percent_off: int
    cap_cents: int | None
    min_spend_cents: int
    is_stackable: bool
    valid_until: datetime  # exclusive
    where: str


def usable(member: Member | None, brand_id: int, tier: str) -> list[UsableCoupon]:
    """The member's coupons that count in this brand's `tier` storefront now, soonest to
    expire first: what a checkout page offers. Whether one fits the basket (its items, its
    minimum spend) checkout says (`preview`)."""
    if member is None:
        return []
    now = utcnow()
    rows = db.session.execute(
        select(Coupon)
        .where(
            Coupon.member_id == member.id,
            Coupon.brand_id == brand_id,
            Coupon.status == CouponStatus.HELD,
            Coupon.valid_from <= now,
            Coupon.valid_until > now,
        )
        .order_by(Coupon.valid_until, Coupon.id)
        .limit(200)
    ).scalars()
    coupons = list(rows)
    templates = templates_by_id({c.template_id for c in coupons})
    offered = []
    for coupon in coupons:
        template = templates[coupon.template_id]
        if tier not in template.tiers:
            continue
        offered.append(
            UsableCoupon(
                id=coupon.id,
                label=label(template),
                name=template.name,
                template_id=template.id,
                kind=template.kind,
                amount_cents=template.amount_cents,
                percent_off=template.percent_off,
                cap_cents=template.cap_cents,
                min_spend_cents=template.min_spend_cents,
                is_stackable=template.is_stackable,
                valid_until=coupon.valid_until,
                where=where_it_counts(template),
            )
        )
    return offered


# -- checkout ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    key: int  # the order line's id (or, in a preview, the variant's)
    cents: int  # what the line costs before coupons
    product_code: str
    category_code: str


@dataclass
class _Plan:
    errors: dict[str, str] = field(default_factory=dict)
    # coupon id -> line key -> fen off
    shares: dict[int, dict[int, int]] = field(default_factory=dict)

    @property
    def discount_cents(self) -> int:
        return sum(sum(by_line.values()) for by_line in self.shares.values())


def _applies(template: CouponTemplate, line: _Line) -> bool:
    if template.scope == CouponScope.CATEGORIES:
        return line.category_code in template.scope_codes
    if template.scope == CouponScope.PRODUCTS:
        return line.product_code in template.scope_codes
    return True


def _spread(amount: int, rooms: dict[int, int]) -> dict[int, int]:
    """`amount` over the lines in proportion to what each still costs (rounded down), the
    remainder to the largest line (and on, should it not fit there). amount <= sum(rooms)."""
    total = sum(rooms.values())
    shares = {key: amount * room // total for key, room in rooms.items()}
    left = amount - sum(shares.values())
    for key in sorted(rooms, key=lambda k: (-rooms[k], k)):
        if left <= 0:
            break
        extra = min(left, rooms[key] - shares[key])
        shares[key] += extra
        left -= extra
    return shares


def _plan(
    asked: Sequence[Any],
    coupons: Mapping[int, Coupon],
    templates: Mapping[int, CouponTemplate],
    lines: Sequence[_Line],
    *,
    brand_id: int,
    tier: str,
    now: datetime,
) -> _Plan:
    """Check every coupon asked for (`asked[i]`: its id) against the order's lines and each
    other, and work out what each takes off which line."""
    plan = _Plan()
    found: list[tuple[int, Coupon, CouponTemplate]] = []
    seen: set[int] = set()
    if len(asked) > MAX_PER_ORDER:
        plan.errors["coupon_ids"] = say(
            _l("At most %(count)d coupons on one order."), count=MAX_PER_ORDER
        )
        return plan
    for i, raw in enumerate(asked):
        where = f"coupon_ids.{i}"
        coupon = coupons.get(raw) if isinstance(raw, int) and not isinstance(raw, bool) else None
        if coupon is None:
            plan.errors[where] = say(_l("This is not one of your coupons."))
            continue
        if coupon.id in seen:
            plan.errors[where] = say(_l("This coupon is listed twice."))
            continue
        seen.add(coupon.id)
        template = templates[coupon.template_id]
        problem = None
        if coupon.brand_id != brand_id:
            problem = say(_l("This coupon is for another brand's shop."))
        elif coupon.status == CouponStatus.USED:
            problem = say(_l("This coupon has already been used."))
        elif coupon.valid_until <= now:
            problem = say(
                _l("This coupon expired on %(day)s."),
                day=_day(last_moment(coupon.valid_until)),
            )
        elif coupon.valid_from > now:
            problem = say(_l("This coupon counts from %(day)s."), day=_day(coupon.valid_from))
        elif tier not in template.tiers:
            problem = say(_l("This coupon does not count in this storefront."))
        else:
            eligible = [line for line in lines if _applies(template, line)]
            spent = sum(line.cents for line in eligible)
            if not eligible:
                problem = say(_l("This coupon does not apply to any item in this order."))
            elif spent < template.min_spend_cents:
                problem = say(
                    _l("Spend %(min)s on the items it applies to (%(spent)s so far)."),
                    min=say_money(template.min_spend_cents),
                    spent=say_money(spent),
                )
        if problem:
            plan.errors[where] = problem
            continue
        found.append((i, coupon, template))
    if len(found) > 1:
        by_template: set[int] = set()
        for i, _coupon, template in found:
            where = f"coupon_ids.{i}"
            if not template.is_stackable:
                plan.errors[where] = say(_l("This coupon cannot be combined with other coupons."))
            elif template.id in by_template:
                plan.errors[where] = say(_l("One order takes one coupon of this kind."))
            by_template.add(template.id)
    if plan.errors:
        return plan
    # Amounts first, then percentages, each from what the lines still cost.
    left = {line.key: line.cents for line in lines}
    ordered = sorted(found, key=lambda item: (item[2].kind == CouponKind.PERCENT, item[0]))
    for i, coupon, template in ordered:
        rooms = {
            line.key: left[line.key]
            for line in lines
            if _applies(template, line) and left[line.key] > 0
        }
        value = sum(rooms.values())
        if template.kind == CouponKind.PERCENT:
            off = percent_of(value, template.percent_off * 100)
            if template.cap_cents is not None:
                off = min(off, template.cap_cents)
        else:
            off = template.amount_cents
        off = min(off, value)
        if off <= 0:
            plan.errors[f"coupon_ids.{i}"] = say(_l("Nothing is left for this coupon to take off."))
            continue
        shares = _spread(off, rooms)
        for key, cents in shares.items():
            left[key] -= cents
        plan.shares[coupon.id] = shares
    return plan


def _day(moment: datetime) -> str:
    return moment.astimezone(zone()).date().isoformat()


def _line_codes(variant_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """variant id -> (product code, category code)."""
    ids = list(set(variant_ids))
    if not ids:
        return {}
    return {
        variant_id: (product_code, category_code)
        for variant_id, product_code, category_code in db.session.execute(
            select(Variant.id, Product.code, Category.code)
            .join(Product, Product.id == Variant.product_id)
            .join(Category, Category.id == Product.category_id)
            .where(Variant.id.in_(ids))
        ).all()
    }


def _refused(plan: _Plan) -> ValidationFailed:
    return ValidationFailed(
        say(_l("Some coupons cannot be used on this order.")), fields=plan.errors
    )


def after_place(context: CheckoutContext, order: ConsumerOrder) -> None:
    """The checkout step: the coupons in `context.extras.coupon_ids` take their discount off
    the order and its lines and are marked used by it, under the member's row lock (of two
    checkouts racing for one coupon, the second finds it used). Raises ValidationFailed naming
    each coupon that cannot be used (`coupon_ids.<i>`); nothing is spent then."""
    asked = list(context.extras.coupon_ids or ())
    if not asked:
        return
    member = member_of_shop(context.brand, context.consumer)
    if member is None:
        message = say(_l("Only members use coupons."))
        raise ValidationFailed(message, fields={"coupon_ids.0": message})
    membership.lock_member(member.id)
    ids = [c for c in asked if isinstance(c, int) and not isinstance(c, bool) and 0 < c < 2**62]
    coupons = {
        c.id: c
        for c in db.session.execute(
            select(Coupon)
            .where(Coupon.id.in_(ids or [0]), Coupon.member_id == member.id)
            .order_by(Coupon.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalars()
    }
    templates = templates_by_id({c.template_id for c in coupons.values()})
    codes = _line_codes(line.variant_id for line in order.lines)
    by_key: dict[int, ConsumerOrderLine] = {}
    lines = []
    for line in order.lines:
        product_code, category_code = codes.get(line.variant_id, ("", ""))
        lines.append(_Line(line.id, line.line_cents, product_code, category_code))
        by_key[line.id] = line
    now = utcnow()
    plan = _plan(
        asked, coupons, templates, lines, brand_id=order.brand_id, tier=order.tier, now=now
    )
    if plan.errors:
        raise _refused(plan)
    for coupon_id, shares in plan.shares.items():
        coupon = coupons[coupon_id]
        coupon.status, coupon.order_id, coupon.used_at = CouponStatus.USED, order.id, now
        coupon.discount_cents = sum(shares.values())
        for key, cents in shares.items():
            by_key[key].discount_cents = (by_key[key].discount_cents or 0) + cents
    order.discount_cents = (order.discount_cents or 0) + plan.discount_cents
    db.session.flush()


@dataclass(frozen=True)
class CouponPreview:
    discount_cents: int
    errors: dict[str, str]  # coupon_ids.<i> -> why that coupon cannot be used


def preview(
    member: Member | None,
    brand_id: int,
    tier: str,
    lines: Mapping[int, int],
    coupon_ids: Sequence[int],
) -> CouponPreview:
    """What these coupons would take off a basket (`lines`: variant id -> what the line costs,
    as priced now), with checkout's own rules, spending nothing: for a checkout page."""
    if not coupon_ids:
        return CouponPreview(0, {})
    if member is None:
        return CouponPreview(0, {"coupon_ids.0": say(_l("Only members use coupons."))})
    ids = [c for c in coupon_ids if isinstance(c, int) and not isinstance(c, bool)]
    coupons = {
        c.id: c
        for c in db.session.execute(
            select(Coupon).where(Coupon.id.in_(ids or [0]), Coupon.member_id == member.id)
        ).scalars()
    }
    codes = _line_codes(lines)
    basket = [
        _Line(variant_id, cents, *codes.get(variant_id, ("", "")))
        for variant_id, cents in lines.items()
    ]
    plan = _plan(
        list(coupon_ids),
        coupons,
        templates_by_id({c.template_id for c in coupons.values()}),
        basket,
        brand_id=brand_id,
        tier=tier,
        now=utcnow(),
    )
    return CouponPreview(0 if plan.errors else plan.discount_cents, plan.errors)


# -- orders called off ---------------------------------------------------------------------------


def _give_back(order: ConsumerOrder) -> int:
    """The coupons the order used are the member's again, unused (expired if their validity
    ended meanwhile). Returns how many; a second call finds none."""
    if order.member_id is None:
        return 0
    used = list(
        db.session.execute(
            select(Coupon.id).where(Coupon.order_id == order.id, Coupon.status == CouponStatus.USED)
        ).scalars()
    )
    if not used:
        return 0
    membership.lock_member(order.member_id)  # as every spend: the member first, then coupons
    now = utcnow()
    given = 0
    for coupon in db.session.execute(
        select(Coupon)
        .where(
            Coupon.id.in_(used),
            Coupon.order_id == order.id,
            Coupon.status == CouponStatus.USED,
        )
        .order_by(Coupon.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalars():
        coupon.status, coupon.order_id, coupon.used_at = CouponStatus.HELD, None, None
        coupon.discount_cents, coupon.returned_at = 0, now
        given += 1
    db.session.flush()
    return given


def order_moved(order: ConsumerOrder, action: str) -> None:
    """An order cancelled or expired before payment gives its coupons back."""
    if action in (Action.CANCEL, Action.EXPIRE):
        _give_back(order)


def on_refund(request: RefundRequest) -> None:
    """The coupon rule on a refund (called by refunds.refund_rest): a full refund gives the
    order's coupons back; a partial one keeps them used (the refunded units are already net of
    their discount share). Safe to repeat: a second call finds nothing used by the order."""
    if request.full:
        _give_back(request.order)
