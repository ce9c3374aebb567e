"""Coupon templates (the coupons door, portal/members/coupons.py, says the rules): what HQ
types and how it is checked, stopping a template, reading templates, the words that describe one
("¥50.00 off orders of ¥300.00", where it counts) and per-template figures (issued, claimed,
used, expired, the orders and revenue that used one)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select

from portal.catalog.models import Category, Product
from portal.core import audit
from portal.core.access import Actor, Permission
from portal.core.db import utcnow
from portal.core.errors import NotFound, ValidationFailed
from portal.core.inputs import parse_day, text_problem
from portal.core.money import to_cents
from portal.extensions import db
from portal.members.coupon_models import (
    Coupon,
    CouponKind,
    CouponScope,
    CouponSource,
    CouponStatus,
    CouponTemplate,
    CouponValidity,
    Distribution,
    TemplateStatus,
)
from portal.network.models import Organization
from portal.storefront.models import ConsumerOrder, ConsumerOrderStatus, Tier
from portal.storefront.words import say, say_money

MAX_NAME = 120
MAX_DESCRIPTION = 500
MAX_CODES = 200  # categories or products one template names
MAX_YUAN = 1_000_000  # an amount off or a minimum spend, in yuan
MAX_VALID_DAYS = 3650
MAX_PER_MEMBER = 100
MAX_TOTAL = 100_000_000
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


def zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


def _start_of(day: date) -> datetime:
    """The first moment of a day in the portal's time zone, in UTC."""
    return datetime.combine(day, time(), zone()).astimezone(UTC)


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
            low=say_money(low),
            high=say_money(MAX_YUAN * 100),
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


def ensure_hq(actor: Actor, brand_id: int) -> None:
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
    ensure_hq(actor, brand.id)
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
    ensure_hq(actor, template.brand_id)
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
    amount = say_money(template.amount_cents)
    minimum = say_money(template.min_spend_cents)
    if template.kind == CouponKind.PERCENT:
        if template.min_spend_cents and template.cap_cents:
            return say(
                _l("%(percent)d%% off orders of %(min)s, up to %(cap)s"),
                percent=template.percent_off,
                min=minimum,
                cap=say_money(template.cap_cents),
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
                cap=say_money(template.cap_cents),
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


def templates_by_id(ids: Iterable[int]) -> dict[int, CouponTemplate]:
    wanted = list(ids)
    if not wanted:
        return {}
    rows = db.session.execute(select(CouponTemplate).where(CouponTemplate.id.in_(wanted)))
    return {t.id: t for t in rows.scalars()}
