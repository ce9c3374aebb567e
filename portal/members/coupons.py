"""Coupons: HQ's templates, giving them out (issued to members or a segment, claimed on a page or
through a shared link), redeeming them at checkout, and what happens to them when an order is
called off or refunded.

Giving out. A member holds at most `per_member_limit` coupons of a template (used ones count);
everyone together at most `total_limit`. Issuing is idempotent per (template, member): an issue
gives a member one coupon of the template, never a second (a repeated issue, a retried job, a
second submit of the form pass over them), and none to a member who already holds the
per-member limit through claims. Claims give one coupon per claim, up to the limit. Both raise
the template's `given_count` by a conditional UPDATE (or under its row lock), so the total limit
holds whatever runs at once. Big segments are issued by a job, in batches, each committed whole.

Redeeming (`after_place`, a checkout step). The member's own coupons, under the member's row lock
(`membership.lock_member`, as every spend): each must be unused, within its validity, valid in
the order's storefront and apply to some of its lines; its minimum spend counts the lines it
applies to, at their price; an exclusive coupon goes alone, and one order takes one coupon of a
template. Amount coupons take off first, then percentage ones, each from what the lines still
cost; a coupon never takes more than its lines are worth. Its discount is spread over its lines
in proportion, the rounding remainder to the largest line (`ConsumerOrderLine.discount_cents`).
Any refusal names the coupon (`coupon_ids.<i>`) and nothing is spent.

The coupon rule on calling off and refunds:
- an order cancelled or expired before payment gives its coupons back (`order_moved`);
- a full refund (an order called off after payment) gives its coupons back too (`on_refund`);
- a partial refund (some lines returned) keeps them used: what comes back is the returned units'
  price after their share of the discount (the storefront refunds units net of
  `discount_cents`), so the discount stays with the units kept.
A coupon given back is the member's again, unused; one whose validity ended meanwhile comes back
expired and is never usable again. Giving back twice finds nothing left to give (a repeated
refund reference does nothing).
"""

from __future__ import annotations

import bisect
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, has_request_context
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from portal.catalog.models import Category, Product, Variant
from portal.core import audit, jobs
from portal.core.access import Actor, Permission
from portal.core.db import utcnow
from portal.core.errors import DomainError, NotFound, ValidationFailed
from portal.core.inputs import parse_day, text_problem
from portal.core.money import format_money, percent_of, to_cents
from portal.extensions import db
from portal.members import membership, segments
from portal.members.coupon_models import (
    Coupon,
    CouponIssue,
    CouponKind,
    CouponScope,
    CouponSource,
    CouponStatus,
    CouponTemplate,
    CouponValidity,
    Distribution,
    TemplateStatus,
)
from portal.members.models import Member, MemberStatus
from portal.network.models import Organization
from portal.storefront.consumer_fields import normalize_phone
from portal.storefront.hooks import CheckoutContext, RefundRequest
from portal.storefront.models import (
    Consumer,
    ConsumerOrder,
    ConsumerOrderLine,
    ConsumerOrderStatus,
    Tier,
)
from portal.storefront.transitions import Action
from portal.storefront.words import say

MAX_NAME = 120
MAX_DESCRIPTION = 500
MAX_CODES = 200  # categories or products one template names
MAX_YUAN = 1_000_000  # an amount off or a minimum spend, in yuan
MAX_VALID_DAYS = 3650
MAX_PER_MEMBER = 100
MAX_TOTAL = 100_000_000
MAX_LIST = 1000  # members typed into one issue; more: a segment, issued by a job
MAX_PER_ORDER = 10  # coupons on one order
ISSUE_BATCH = 500
# An order that used a coupon counts toward its revenue while it is paid and not refunded.
PAID_STATUSES = (
    ConsumerOrderStatus.PAID,
    ConsumerOrderStatus.PREPARING,
    ConsumerOrderStatus.READY_FOR_PICKUP,
    ConsumerOrderStatus.SHIPPED,
    ConsumerOrderStatus.COMPLETED,
)

TIER_NAMES = {
    Tier.OFFICIAL.value: _l("Official store"),
    Tier.OUTLET.value: _l("Outlet"),
    Tier.EMPLOYEE.value: _l("Employee store"),
}
KIND_NAMES = {
    CouponKind.AMOUNT.value: _l("Amount off"),
    CouponKind.PERCENT.value: _l("Percentage off"),
    CouponKind.THRESHOLD.value: _l("Amount off above a minimum spend"),
}
DISTRIBUTION_NAMES = {
    Distribution.ISSUE.value: _l("Issued by HQ to members"),
    Distribution.CLAIM.value: _l("Claimed on the members' coupon page (and by link)"),
    Distribution.LINK.value: _l("Claimed through a shared link only"),
}


class CouponRefused(DomainError):
    """A claim the rules do not allow now (not a member, none left, the member's limit)."""

    code = "coupon_refused"
    status = 422
    message = "This coupon cannot be claimed."


def _money(cents: int) -> str:
    """Money in the page's language in a request; in English elsewhere (jobs, services called
    from tests), as `say` words messages (the locale selector needs a request)."""
    if has_request_context():
        return format_money(cents)
    with force_locale("en"):
        return format_money(cents)


# -- templates -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateInput:
    """A template as HQ types it: text as the form sends it, checked by `create_template`."""

    name: str = ""
    description: str = ""
    kind: str = CouponKind.AMOUNT
    amount: str = ""  # yuan: amount and threshold coupons
    percent_off: str = ""  # percent coupons: 1..99
    cap: str = ""  # yuan, percent coupons: at most this off (empty: no cap)
    min_spend: str = ""  # yuan on the eligible items (threshold: required)
    tiers: tuple[str, ...] = (Tier.OFFICIAL,)
    scope: str = CouponScope.ALL
    scope_codes: str = ""  # category or product codes, by commas, spaces or lines
    validity: str = CouponValidity.DATES
    valid_from: str = ""  # YYYY-MM-DD, the portal's time zone
    valid_until: str = ""  # YYYY-MM-DD, the last day it counts
    valid_days: str = ""  # days after a member receives it
    per_member_limit: str = "1"
    total_limit: str = ""  # empty: no limit
    stackable: bool = True
    distribution: str = Distribution.ISSUE


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


def _start_of(day: date) -> datetime:
    """The first moment of a day in the portal's time zone, in UTC."""
    return datetime.combine(day, time(), _zone()).astimezone(UTC)


def _whole(raw: Any, name: str, errors: dict[str, str], low: int, high: int) -> int | None:
    text = str(raw if raw is not None else "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 12 or not low <= int(text) <= high:
        errors[name] = say(_l("A whole number from %(low)d to %(high)d."), low=low, high=high)
        return None
    return int(text)


def _yuan(raw: Any, name: str, errors: dict[str, str], *, positive: bool = True) -> int | None:
    text = str(raw if raw is not None else "").strip()
    if not text:
        return None
    try:
        cents = to_cents(text)
    except ValidationFailed:
        cents = -1
    low = 1 if positive else 0
    if not low <= cents <= MAX_YUAN * 100:
        errors[name] = say(
            _l("An amount in yuan from %(low)s to %(high)s."),
            low=_money(low),
            high=_money(MAX_YUAN * 100),
        )
        return None
    return cents


def _codes(brand_id: int, scope: str, raw: str, errors: dict[str, str]) -> list[str]:
    """The category or product codes HQ typed, as the catalog spells them; unknown ones named."""
    if scope == CouponScope.ALL:
        return []
    problem = text_problem(raw)
    if problem:
        errors["scope_codes"] = problem
        return []
    typed = [c for c in raw.replace(",", " ").replace("，", " ").split() if c]
    wanted = list(dict.fromkeys(c.upper() for c in typed))
    if not wanted:
        errors["scope_codes"] = say(_l("Name at least one code."))
        return []
    if len(wanted) > MAX_CODES or any(len(c) > 40 for c in wanted):
        errors["scope_codes"] = say(_l("At most %(count)d codes."), count=MAX_CODES)
        return []
    model = Category if scope == CouponScope.CATEGORIES else Product
    found = {
        upper: code
        for upper, code in db.session.execute(
            select(func.upper(model.code), model.code).where(
                model.brand_id == brand_id, func.upper(model.code).in_(wanted)
            )
        ).all()
    }
    unknown = [c for c in wanted if c not in found]
    if unknown:
        message = (
            _l("No such category: %(codes)s.")
            if scope == CouponScope.CATEGORIES
            else _l("No such product: %(codes)s.")
        )
        errors["scope_codes"] = say(message, codes=", ".join(unknown[:10]))
        return []
    return [found[c] for c in wanted]


def _text(raw: Any, name: str, errors: dict[str, str], limit: int, *, required: bool) -> str:
    value = str(raw if raw is not None else "").strip()
    problem = text_problem(value)
    if problem:
        errors[name] = problem
    elif required and not value:
        errors[name] = say(_l("Required."))
    elif len(value) > limit:
        errors[name] = say(_l("At most %(count)d characters."), count=limit)
    return value


def _ensure_hq(actor: Actor, brand_id: int) -> None:
    """The brand's own HQ (or the system) with members.manage; anyone else: 404."""
    if actor.is_system:
        return
    if not (actor.is_hq and actor.org_id == brand_id):
        raise NotFound()
    actor.ensure(Permission.MEMBERS_MANAGE)


def create_template(
    actor: Actor, brand: Organization, data: TemplateInput, *, code: str | None = None
) -> CouponTemplate:
    """A new coupon template of the brand, as HQ typed it. Raises ValidationFailed naming every
    field that is wrong (nothing is written then); NotFound for another brand's HQ. `code` is
    for the demo seed's fixed links; HQ's templates get a random one."""
    _ensure_hq(actor, brand.id)
    errors: dict[str, str] = {}
    name = _text(data.name, "name", errors, MAX_NAME, required=True)
    description = _text(data.description, "description", errors, MAX_DESCRIPTION, required=False)
    kind = str(data.kind or "")
    if kind not in tuple(CouponKind):
        errors["kind"] = say(_l("Choose amount off, percentage off or a minimum-spend offer."))
    amount = percent = cap = None
    if kind in (CouponKind.AMOUNT, CouponKind.THRESHOLD):
        amount = _yuan(data.amount, "amount", errors)
        if amount is None and "amount" not in errors:
            errors["amount"] = say(_l("Say how much the coupon takes off."))
    if kind == CouponKind.PERCENT:
        percent = _whole(data.percent_off, "percent_off", errors, 1, 99)
        if percent is None and "percent_off" not in errors:
            errors["percent_off"] = say(_l("Say what percentage the coupon takes off (1 to 99)."))
        cap = _yuan(data.cap, "cap", errors)
    min_spend = _yuan(data.min_spend, "min_spend", errors, positive=False) or 0
    if kind == CouponKind.THRESHOLD and "min_spend" not in errors:
        if not min_spend:
            errors["min_spend"] = say(_l("Say what the eligible items must add up to."))
        elif amount is not None and amount >= min_spend:
            errors["min_spend"] = say(_l("The minimum spend must be more than the amount off."))
    tiers = [t for t in Tier if t in set(data.tiers or ())]
    if not tiers or len(set(data.tiers)) != len(tiers):
        errors["tiers"] = say(_l("Choose the storefronts it counts in."))
    scope = str(data.scope or "")
    codes: list[str] = []
    if scope not in tuple(CouponScope):
        errors["scope"] = say(_l("Choose everything, categories or products."))
    else:
        codes = _codes(brand.id, scope, str(data.scope_codes or ""), errors)
    validity = str(data.validity or "")
    valid_from = valid_until = None
    valid_days = None
    if validity == CouponValidity.DATES:
        first = last = None
        try:
            first = parse_day(data.valid_from, field="valid_from")
        except ValidationFailed as error:
            errors.update(error.fields)
        try:
            last = parse_day(data.valid_until, field="valid_until")
        except ValidationFailed as error:
            errors.update(error.fields)
        if first is None and "valid_from" not in errors:
            errors["valid_from"] = say(_l("Say from which day it counts."))
        if last is None and "valid_until" not in errors:
            errors["valid_until"] = say(_l("Say the last day it counts."))
        if first is not None and last is not None:
            if last < first:
                errors["valid_until"] = say(_l("The last day comes before the first."))
            elif _start_of(last + timedelta(days=1)) <= utcnow():
                errors["valid_until"] = say(_l("That day has passed."))
            else:
                valid_from, valid_until = _start_of(first), _start_of(last + timedelta(days=1))
    elif validity == CouponValidity.DAYS:
        valid_days = _whole(data.valid_days, "valid_days", errors, 1, MAX_VALID_DAYS)
        if valid_days is None and "valid_days" not in errors:
            errors["valid_days"] = say(_l("Say for how many days a coupon counts."))
    else:
        errors["validity"] = say(_l("Choose dates, or a number of days after receiving it."))
    per_member = _whole(data.per_member_limit, "per_member_limit", errors, 1, MAX_PER_MEMBER)
    if per_member is None and "per_member_limit" not in errors:
        errors["per_member_limit"] = say(_l("Say how many one member may hold."))
    total = _whole(data.total_limit, "total_limit", errors, 1, MAX_TOTAL)
    distribution = str(data.distribution or "")
    if distribution not in tuple(Distribution):
        errors["distribution"] = say(_l("Choose how it is given out."))
    if errors:
        raise ValidationFailed(say(_l("Some fields are not valid.")), fields=errors)
    template = CouponTemplate(
        brand_id=brand.id,
        code=code or secrets.token_urlsafe(9),
        name=name,
        description=description,
        kind=kind,
        amount_cents=amount or 0,
        percent_off=percent or 0,
        cap_cents=cap,
        min_spend_cents=min_spend,
        tiers=[str(t) for t in tiers],
        scope=scope,
        scope_codes=codes,
        validity=validity,
        valid_from=valid_from,
        valid_until=valid_until,
        valid_days=valid_days,
        per_member_limit=per_member or 1,
        total_limit=total,
        given_count=0,
        is_stackable=bool(data.stackable),
        distribution=distribution,
        status=TemplateStatus.ACTIVE,
        created_by_user_id=actor.user_id,
    )
    db.session.add(template)
    db.session.flush()
    audit.record(
        actor,
        "members.coupon_template_created",
        brand_id=brand.id,
        template_id=template.id,
        name=template.name,
    )
    return template


def stop_template(actor: Actor, template: CouponTemplate) -> CouponTemplate:
    """No more coupons of it are given out (claims and issues refused); those held still count."""
    _ensure_hq(actor, template.brand_id)
    if template.status != TemplateStatus.STOPPED:
        template.status = TemplateStatus.STOPPED
        template.stopped_at = utcnow()
        audit.record(
            actor, "members.coupon_template_stopped", brand_id=template.brand_id, id=template.id
        )
        db.session.flush()
    return template


def find_template(brand_id: int, template_id: int) -> CouponTemplate | None:
    return db.session.execute(
        select(CouponTemplate).where(
            CouponTemplate.id == template_id, CouponTemplate.brand_id == brand_id
        )
    ).scalar_one_or_none()


def get_template(actor: Actor, brand: Organization, template_id: int) -> CouponTemplate:
    """The brand's template for its own HQ (members.view); anything else is a 404."""
    if not actor.is_system and not (actor.is_hq and actor.org_id == brand.id):
        raise NotFound()
    found = find_template(brand.id, template_id)
    if found is None:
        raise NotFound()
    return found


def list_templates(brand_id: int, *, limit: int = 200) -> list[CouponTemplate]:
    return list(
        db.session.execute(
            select(CouponTemplate)
            .where(CouponTemplate.brand_id == brand_id)
            .order_by(CouponTemplate.id.desc())
            .limit(limit)
        ).scalars()
    )


def label(template: CouponTemplate) -> str:
    """What the coupon takes off, in a few words: "¥50.00 off orders of ¥300.00", "15% off"."""
    amount = _money(template.amount_cents)
    minimum = _money(template.min_spend_cents)
    if template.kind == CouponKind.PERCENT:
        if template.min_spend_cents and template.cap_cents:
            return say(
                _l("%(percent)d%% off orders of %(min)s, up to %(cap)s"),
                percent=template.percent_off,
                min=minimum,
                cap=_money(template.cap_cents),
            )
        if template.min_spend_cents:
            return say(
                _l("%(percent)d%% off orders of %(min)s"),
                percent=template.percent_off,
                min=minimum,
            )
        if template.cap_cents:
            return say(
                _l("%(percent)d%% off, up to %(cap)s"),
                percent=template.percent_off,
                cap=_money(template.cap_cents),
            )
        return say(_l("%(percent)d%% off"), percent=template.percent_off)
    if template.min_spend_cents:
        return say(_l("%(amount)s off orders of %(min)s"), amount=amount, min=minimum)
    return say(_l("%(amount)s off"), amount=amount)


def where_it_counts(template: CouponTemplate) -> str:
    """The storefronts and the items it counts for, in a line."""
    tiers = ", ".join(say(TIER_NAMES[t]) for t in template.tiers if t in TIER_NAMES)
    codes = ", ".join(template.scope_codes)
    if template.scope == CouponScope.CATEGORIES:
        return say(_l("%(tiers)s; categories %(codes)s"), tiers=tiers, codes=codes)
    if template.scope == CouponScope.PRODUCTS:
        return say(_l("%(tiers)s; products %(codes)s"), tiers=tiers, codes=codes)
    return say(_l("%(tiers)s; every item"), tiers=tiers)


def last_moment(until: datetime) -> datetime:
    """The last moment an exclusive end still counts, for showing ("valid until 30 June")."""
    return until - timedelta(seconds=1)


@dataclass(frozen=True)
class TemplateStats:
    issued: int = 0
    claimed: int = 0
    used: int = 0
    expired: int = 0  # held, unused, past their validity
    orders: int = 0  # paid, not refunded orders that used it
    revenue_cents: int = 0  # those orders' totals


def template_stats(
    template_ids: Sequence[int], *, now: datetime | None = None
) -> dict[int, TemplateStats]:
    """Per template: how many coupons were issued and claimed, used and left to expire, and the
    paid orders that used one (their number and totals)."""
    if not template_ids:
        return {}
    now = now or utcnow()
    ids = list(template_ids)
    counts: dict[int, dict[str, int]] = {i: {} for i in ids}
    expired = case(
        (
            (Coupon.status == CouponStatus.HELD) & (Coupon.valid_until <= now),
            1,
        ),
        else_=0,
    )
    rows = db.session.execute(
        select(
            Coupon.template_id,
            Coupon.source,
            Coupon.status,
            func.count(),
            func.coalesce(func.sum(expired), 0),
        )
        .where(Coupon.template_id.in_(ids))
        .group_by(Coupon.template_id, Coupon.source, Coupon.status)
    ).all()
    for template_id, source, status, count, expired_count in rows:
        bucket = counts[template_id]
        bucket[source] = bucket.get(source, 0) + count
        if status == CouponStatus.USED:
            bucket["used"] = bucket.get("used", 0) + count
        bucket["expired"] = bucket.get("expired", 0) + int(expired_count)
    revenue = {
        template_id: (orders, int(total or 0))
        for template_id, orders, total in db.session.execute(
            select(
                Coupon.template_id,
                func.count(ConsumerOrder.id),
                func.sum(ConsumerOrder.total_cents),
            )
            .join(ConsumerOrder, ConsumerOrder.id == Coupon.order_id)
            .where(
                Coupon.template_id.in_(ids),
                Coupon.status == CouponStatus.USED,
                ConsumerOrder.status.in_([str(s) for s in PAID_STATUSES]),
            )
            .group_by(Coupon.template_id)
        ).all()
    }
    return {
        i: TemplateStats(
            issued=counts[i].get(CouponSource.ISSUED, 0),
            claimed=counts[i].get(CouponSource.CLAIMED, 0),
            used=counts[i].get("used", 0),
            expired=counts[i].get("expired", 0),
            orders=revenue.get(i, (0, 0))[0],
            revenue_cents=revenue.get(i, (0, 0))[1],
        )
        for i in ids
    }


# -- giving out ----------------------------------------------------------------------------------


def _giving_refusal(template: CouponTemplate, now: datetime) -> str | None:
    """Why no coupon of the template may be given out now (to anyone), or None."""
    if template.status != TemplateStatus.ACTIVE:
        return say(_l("This coupon is no longer given out."))
    if template.validity == CouponValidity.DATES and (
        template.valid_until is None or template.valid_until <= now
    ):
        return say(_l("This coupon's validity has ended."))
    return None


def _validity(template: CouponTemplate, now: datetime) -> tuple[datetime, datetime]:
    if template.validity == CouponValidity.DAYS:
        return now, now + timedelta(days=template.valid_days or 1)
    assert template.valid_from is not None and template.valid_until is not None
    return template.valid_from, template.valid_until


def _new_coupon(
    template: CouponTemplate,
    member_id: int,
    seq: int,
    source: str,
    now: datetime,
    issue_id: int | None = None,
) -> Coupon:
    valid_from, valid_until = _validity(template, now)
    coupon = Coupon(
        brand_id=template.brand_id,
        template_id=template.id,
        member_id=member_id,
        seq=seq,
        source=source,
        issue_id=issue_id,
        status=CouponStatus.HELD,
        valid_from=valid_from,
        valid_until=valid_until,
        discount_cents=0,
        created_at=now,
    )
    db.session.add(coupon)
    return coupon


def _lock_template(template_id: int) -> CouponTemplate:
    return db.session.execute(
        select(CouponTemplate)
        .where(CouponTemplate.id == template_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def _programme_members(brand_id: int, member_ids: Iterable[int]) -> set[int]:
    """Which of these ids are active members of the programme the brand's consumers join."""
    program = membership.find_program(brand_id)
    ids = list(member_ids)
    if program is None or not ids:
        return set()
    return set(
        db.session.execute(
            select(Member.id).where(
                Member.id.in_(ids),
                Member.program_id == program.id,
                Member.status == MemberStatus.ACTIVE,
            )
        ).scalars()
    )


def _give(template_id: int, member_ids: Sequence[int], issue: CouponIssue) -> dict[str, int]:
    """Issue one coupon of the template to each member who has none issued yet and holds fewer
    than the per-member limit, while the total limit lasts. Under the template's row lock, so
    claims and other issues wait. Returns how many were issued and passed over, by reason."""
    counts = {"issued": 0, "already": 0, "limit": 0, "total": 0, "stopped": 0}
    if not member_ids:
        return counts
    template = _lock_template(template_id)
    now = utcnow()
    if _giving_refusal(template, now):
        counts["stopped"] = len(member_ids)
        return counts
    ids = list(dict.fromkeys(member_ids))
    issued_before = set(
        db.session.execute(
            select(Coupon.member_id).where(
                Coupon.template_id == template.id,
                Coupon.member_id.in_(ids),
                Coupon.source == CouponSource.ISSUED,
            )
        ).scalars()
    )
    held = {
        member_id: (count, top)
        for member_id, count, top in db.session.execute(
            select(Coupon.member_id, func.count(), func.max(Coupon.seq))
            .where(Coupon.template_id == template.id, Coupon.member_id.in_(ids))
            .group_by(Coupon.member_id)
        ).all()
    }
    room = None if template.total_limit is None else template.total_limit - template.given_count
    for member_id in ids:
        count, top = held.get(member_id, (0, 0))
        if member_id in issued_before:
            counts["already"] += 1
        elif count >= template.per_member_limit:
            counts["limit"] += 1
        elif room is not None and room <= 0:
            counts["total"] += 1
        else:
            _new_coupon(template, member_id, top + 1, CouponSource.ISSUED, now, issue.id)
            counts["issued"] += 1
            if room is not None:
                room -= 1
    template.given_count += counts["issued"]
    db.session.flush()
    return counts


def _record(issue: CouponIssue, counts: Mapping[str, int], not_members: int = 0) -> None:
    issue.issued_count += counts.get("issued", 0)
    skipped = dict(issue.skipped or {})  # a new dict: the JSON column sees a new value
    for reason in ("already", "limit", "total", "stopped"):
        if counts.get(reason):
            skipped[reason] = skipped.get(reason, 0) + counts[reason]
    if not_members:
        skipped["not_member"] = skipped.get("not_member", 0) + not_members
    issue.skipped = skipped


def _new_issue(
    actor: Actor,
    template: CouponTemplate,
    token: str | None,
    *,
    segment_id: int | None,
    audience: str,
    member_count: int,
) -> tuple[CouponIssue, bool]:
    """The issue this form's token makes (or made before: then False)."""
    token = (token or "").strip()[:64] or secrets.token_urlsafe(16)
    stmt = select(CouponIssue).where(
        CouponIssue.template_id == template.id, CouponIssue.token == token
    )
    earlier = db.session.execute(stmt).scalar_one_or_none()
    if earlier is not None:
        return earlier, False
    issue = CouponIssue(
        brand_id=template.brand_id,
        template_id=template.id,
        token=token,
        segment_id=segment_id,
        audience=audience[:200],
        status="queued",
        member_count=member_count,
        issued_count=0,
        skipped={},
        last_member_id=0,
        created_by_user_id=actor.user_id,
    )
    try:
        with db.session.begin_nested():
            db.session.add(issue)
            db.session.flush()
    except IntegrityError:  # the same form sent twice at once: the first one's issue
        return db.session.execute(stmt).scalar_one(), False
    return issue, True


def _ensure_givable(template: CouponTemplate) -> None:
    refusal = _giving_refusal(template, utcnow())
    if refusal:
        raise ValidationFailed(refusal, fields={"template": refusal})


def issue(
    actor: Actor,
    template: CouponTemplate,
    member_ids: Sequence[int],
    *,
    token: str | None = None,
    audience: str = "",
) -> CouponIssue:
    """Give a coupon of the template to each of these members of the brand's programme, now
    (at most MAX_LIST: a bigger audience is a segment, issued by a job). Members who already
    had one issued, or hold the per-member limit, are passed over, as are all once the total
    limit is reached (the issue says how many, and why). The same `token` again returns the
    first issue and gives nothing more. Raises ValidationFailed naming `member_ids.<i>` for an
    id that is no member of the programme, NotFound for another brand's HQ."""
    _ensure_hq(actor, template.brand_id)
    _ensure_givable(template)
    ids = list(dict.fromkeys(int(m) for m in member_ids))
    if not ids:
        raise ValidationFailed(fields={"member_ids": say(_l("Name at least one member."))})
    if len(ids) > MAX_LIST:
        raise ValidationFailed(
            fields={
                "member_ids": say(
                    _l("At most %(count)d members at once: issue to a segment instead."),
                    count=MAX_LIST,
                )
            }
        )
    known = _programme_members(template.brand_id, ids)
    unknown = {
        f"member_ids.{i}": say(_l("Not a member of this brand's programme."))
        for i, member_id in enumerate(member_ids)
        if int(member_id) not in known
    }
    if unknown:
        raise ValidationFailed(say(_l("Some are not members.")), fields=unknown)
    made, new = _new_issue(
        actor, template, token, segment_id=None, audience=audience, member_count=len(ids)
    )
    if not new:
        return made
    made.status = "running"
    _record(made, _give(template.id, ids, made))
    made.status, made.finished_at, made.last_member_id = "done", utcnow(), max(ids)
    audit.record(
        actor,
        "members.coupons_issued",
        brand_id=template.brand_id,
        template_id=template.id,
        issued=made.issued_count,
    )
    db.session.flush()
    return made


def find_members(brand_id: int, typed: str) -> tuple[list[int], dict[str, str]]:
    """Members typed by HQ, one per line (member number, or mobile number in E.164): their ids,
    and `members` naming the lines that are no member of the brand's programme."""
    lines = [line.strip() for line in (typed or "").splitlines() if line.strip()]
    if not lines:
        return [], {"members": say(_l("Type at least one member number or mobile number."))}
    if len(lines) > MAX_LIST:
        return [], {
            "members": say(
                _l("At most %(count)d members at once: issue to a segment instead."),
                count=MAX_LIST,
            )
        }
    program = membership.find_program(brand_id)
    phones = {line: _as_phone(line) for line in lines}
    found: dict[str, int] = {}
    if program is not None:
        by_number: dict[str, int] = {}
        by_phone: dict[str, int] = {}
        for member_id, number, phone in db.session.execute(
            select(Member.id, Member.number, Member.phone).where(
                Member.program_id == program.id,
                Member.status == MemberStatus.ACTIVE,
                or_(
                    Member.number.in_(lines),
                    Member.phone.in_([p for p in phones.values() if p]),
                ),
            )
        ).all():
            by_number[number] = member_id
            if phone:
                by_phone[phone] = member_id
        for line in lines:
            member_id = by_number.get(line) or by_phone.get(phones[line] or "")
            if member_id is not None:
                found[line] = member_id
    missing = [i + 1 for i, line in enumerate(lines) if line not in found]
    if missing:
        shown = ", ".join(str(n) for n in missing[:20])
        return [], {"members": say(_l("No member on line(s) %(lines)s."), lines=shown)}
    return list(dict.fromkeys(found[line] for line in lines)), {}


def _as_phone(typed: str) -> str | None:
    """A typed mobile number in E.164 (a Chinese one without its +86 too), or None."""
    try:
        return normalize_phone(typed)
    except ValidationFailed:
        return None


def issue_to_segment(
    actor: Actor, template: CouponTemplate, segment_id: int, *, token: str | None = None
) -> CouponIssue:
    """Give a coupon of the template to every member of one of the brand's segments, by a job
    (`issue_coupons_to_segment`) in batches, after this transaction commits. The same form
    `token` again is the same issue. Raises ValidationFailed naming `segment_id` for a segment
    the brand does not have."""
    _ensure_hq(actor, template.brand_id)
    _ensure_givable(template)
    chosen = next(
        (s for s in segments.list_segments(template.brand_id) if s.id == segment_id), None
    )
    if chosen is None:
        raise ValidationFailed(
            fields={"segment_id": say(_l("Choose one of the brand's segments."))}
        )
    made, new = _new_issue(
        actor,
        template,
        token,
        segment_id=chosen.id,
        audience=chosen.name,
        member_count=chosen.members,
    )
    if new:
        jobs.enqueue(
            issue_coupons_to_segment,
            made.id,
            brand_id=template.brand_id,
            user_id=actor.user_id,
            title=f"Coupons {template.name} to {chosen.name}"[:200],
        )
        audit.record(
            actor,
            "members.coupons_issued_to_segment",
            brand_id=template.brand_id,
            template_id=template.id,
            segment_id=chosen.id,
        )
    return made


def _issue_row(issue_id: int) -> CouponIssue | None:
    return db.session.execute(
        select(CouponIssue).where(CouponIssue.id == issue_id)
    ).scalar_one_or_none()


def _issue_given_up(issue_id: int, *, reason: str) -> None:
    """The job failed for good: the issue says so (what it gave out so far stays given)."""
    run = _issue_row(issue_id)
    if run is not None and run.status != "done":
        run.status, run.error, run.finished_at = "failed", reason[:500], utcnow()


@jobs.job(queue=jobs.QUEUE_PUSH, title="Issue coupons to a segment", on_give_up=_issue_given_up)
def issue_coupons_to_segment(issue_id: int) -> dict[str, int]:
    """Works through the segment's members in id order, ISSUE_BATCH at a time, each batch
    committed whole with how far it got; a retry (or a second run) goes on from there, and the
    per-member rule passes over anyone it reached before."""
    found = _issue_row(issue_id)
    if found is None or found.status == "done" or found.segment_id is None:
        return {}
    brand_id, segment_id = found.brand_id, found.segment_id
    try:
        member_ids = sorted(set(segments.segment_member_ids(brand_id, segment_id)))
    except NotFound:
        found.status, found.error = "failed", "the segment no longer exists"
        found.finished_at = utcnow()
        return {}
    found.status, found.member_count = "running", len(member_ids)
    jobs.checkpoint()

    def step(size: int) -> int:
        run = _issue_row(issue_id)
        assert run is not None
        start = bisect.bisect_right(member_ids, run.last_member_id)
        batch = member_ids[start : start + size]
        if not batch:
            return 0
        members = _programme_members(brand_id, batch)
        in_programme = [m for m in batch if m in members]
        _record(run, _give(run.template_id, in_programme, run), len(batch) - len(in_programme))
        run.last_member_id = batch[-1]
        db.session.flush()
        jobs.report_progress(start + len(batch), len(member_ids))
        return len(batch)

    jobs.in_batches(step, ISSUE_BATCH)
    run = _issue_row(issue_id)
    assert run is not None
    run.status, run.finished_at = "done", utcnow()
    return {"issued": run.issued_count, "members": run.member_count}


def list_issues(template: CouponTemplate, *, limit: int = 20) -> list[CouponIssue]:
    return list(
        db.session.execute(
            select(CouponIssue)
            .where(CouponIssue.template_id == template.id)
            .order_by(CouponIssue.id.desc())
            .limit(limit)
        ).scalars()
    )


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
    if consumer is None or not membership.is_member(brand, consumer):
        return None
    return membership.member_of(consumer)


def claim_refusal(
    brand: Organization, consumer: Consumer | None, template: CouponTemplate
) -> str | None:
    """Why this consumer may not claim a coupon of the template now, in words, or None."""
    if consumer is None:
        return say(_l("Sign in to claim this coupon."))
    member = member_of_shop(brand, consumer)
    if member is None:
        return say(_l("Only members can claim coupons: join the membership first."))
    refusal = _giving_refusal(template, utcnow())
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
    total and per-member limits hold however many claim at once."""
    template = find_claimable(brand.id, code)
    if template is None:
        raise NotFound()
    refusal = claim_refusal(brand, consumer, template)
    if refusal:
        raise CouponRefused(refusal, fields={"code": refusal})
    member = member_of_shop(brand, consumer)
    assert member is not None
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
        message = say(_l("All of these coupons have been claimed."))
        raise CouponRefused(message, fields={"code": message})
    # The row is ours until commit: a claim of the same member before us has committed.
    template = _lock_template(template.id)
    top = db.session.execute(
        select(func.count(), func.coalesce(func.max(Coupon.seq), 0)).where(
            Coupon.template_id == template.id, Coupon.member_id == member.id
        )
    ).one()
    if top[0] >= template.per_member_limit:
        message = _limit_message(template)
        raise CouponRefused(message, fields={"code": message})
    try:
        with db.session.begin_nested():
            coupon = _new_coupon(
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
    templates = _templates({coupon.template_id for coupon, _number in rows})
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
    template = _templates([coupon.template_id])[coupon.template_id]
    number = None
    if coupon.order_id is not None:
        number = db.session.execute(
            select(ConsumerOrder.number).where(ConsumerOrder.id == coupon.order_id)
        ).scalar_one_or_none()
    return _held(coupon, template, number, utcnow())


def _templates(ids: Iterable[int]) -> dict[int, CouponTemplate]:
    wanted = list(ids)
    if not wanted:
        return {}
    rows = db.session.execute(select(CouponTemplate).where(CouponTemplate.id.in_(wanted)))
    return {t.id: t for t in rows.scalars()}


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
    templates = _templates({c.template_id for c in coupons})
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


def claimable_templates(brand: Organization, consumer: Consumer | None) -> list[CouponTemplate]:
    """The brand's templates given out on the coupon page that this consumer could claim now."""
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
    return [t for t in rows if claim_refusal(brand, consumer, t) is None]


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
                    min=_money(template.min_spend_cents),
                    spent=_money(spent),
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
    return moment.astimezone(_zone()).date().isoformat()


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
    templates = _templates({c.template_id for c in coupons.values()})
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
        _templates({c.template_id for c in coupons.values()}),
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
