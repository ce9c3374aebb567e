"""Demo coupons of a brand (after its demo consumers joined the membership): a welcome coupon
issued to the programme's first members, a "¥50 off ¥300" coupon shared by link
(/shop/<brand>/coupons/SHARE50), and a 10%-off outlet coupon members claim on their coupons page
(/shop/<brand>/member/coupons). Through the same rules as HQ's own; idempotent (a second run
adds nothing)."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from portal.core.access import Actor
from portal.core.db import utcnow
from portal.extensions import db
from portal.members import coupons, membership
from portal.members.coupon_models import CouponTemplate
from portal.members.models import Member, MemberStatus
from portal.network.models import Organization

WELCOME = "WELCOME20"
SHARED = "SHARE50"
OUTLET = "OUTLET10"
DEMO_MEMBERS = 5


def _templates(today: str, in_90_days: str) -> dict[str, coupons.TemplateInput]:
    return {
        WELCOME: coupons.TemplateInput(
            name="新会员礼券",
            description="欢迎加入会员：全场立减 20 元",
            kind="amount",
            amount="20",
            tiers=("official", "outlet"),
            scope="all",
            validity="days",
            valid_days="30",
            per_member_limit="1",
            stackable=True,
            distribution="issue",
        ),
        SHARED: coupons.TemplateInput(
            name="满 300 减 50",
            description="导购分享券：正价店满 300 元立减 50 元",
            kind="threshold",
            amount="50",
            min_spend="300",
            tiers=("official",),
            scope="all",
            validity="dates",
            valid_from=today,
            valid_until=in_90_days,
            per_member_limit="1",
            total_limit="1000",
            stackable=False,
            distribution="link",
        ),
        OUTLET: coupons.TemplateInput(
            name="奥莱 9 折券",
            description="会员奥莱店 9 折，最多减 100 元",
            kind="percent",
            percent_off="10",
            cap="100",
            tiers=("outlet",),
            scope="all",
            validity="days",
            valid_days="14",
            per_member_limit="2",
            stackable=True,
            distribution="claim",
        ),
    }


def seed_coupons(brand: Organization) -> int:
    """The brand's demo coupon templates, and the welcome coupon for the programme's first
    members; returns how many things were created now."""
    system = Actor.system()
    zone = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    today = utcnow().astimezone(zone).date()
    created = 0
    made: dict[str, CouponTemplate] = {}
    for code, data in _templates(
        today.isoformat(), (today + timedelta(days=90)).isoformat()
    ).items():
        found = db.session.execute(
            select(CouponTemplate).where(
                CouponTemplate.brand_id == brand.id, CouponTemplate.code == code
            )
        ).scalar_one_or_none()
        if found is None:
            found = coupons.create_template(system, brand, data, code=code)
            created += 1
        made[code] = found
    program = membership.find_program(brand.id)
    if program is None:
        return created
    member_ids = list(
        db.session.execute(
            select(Member.id)
            .where(Member.program_id == program.id, Member.status == MemberStatus.ACTIVE)
            .order_by(Member.id)
            .limit(DEMO_MEMBERS)
        ).scalars()
    )
    if member_ids:
        welcome = made[WELCOME]
        before = welcome.given_count
        # The same token every run: a second run finds the first issue and writes nothing.
        coupons.issue(system, welcome, member_ids, token="demo-seed", audience="demo members")
        created += welcome.given_count - before
    db.session.flush()
    return created
