"""Red packets (红包), where the brand turns them on (`terms_for(brand).campaigns.red_packets`).

HQ (CAMPAIGNS_MANAGE) writes a plan: one packet is a sum split into `coupons_per_packet` equal
coupons (between the terms' `red_packet_min_coupons` and `_max_coupons`; a sum that does not
split evenly is refused), with a minimum spend, a validity in days from the claim, who may send
(guides, members or both), how many packets in all and per sender, and a per-member limit.
Writing the plan makes its coupon template in the members' coupons (amount off, or amount off
above the minimum spend; `total_limit` = packets x coupons), so each claim is an ordinary coupon
(source "claimed"): the same validity, limits, checkout and figures as every other. The template
is given out through its packets only: it has no claim page or link of its own (distribution
"issue", which guides' pages do not list), so nobody takes its coupons past the packets.

Sending: a guide (an active guide or sharer of the brand) or a member of the brand's shop sends
a packet of a live plan. Under the plan's row lock: the plan's packets in all and the sender's
own stay within their limits. The packet's code (16 random URL-safe characters) is its link:
`/shop/<brand>/red-packets/<code>`; a guide may share it as their signed guide link
(`LinkTarget.RED_PACKET`), which opens the same page and records the visit.

Claiming: a signed-in member of the brand's shop takes one coupon. Under the packet's row lock
(then the template's, through the members' `give_claimed`, always in that order): the packet
has coupons left, the member has none from this packet (a unique row too) and is not its
sender, and the template's own rules hold (still given out, its total and per-member limits).
It writes the coupon (source "claimed"), the `RedPacketClaim` and, for a guide's packet, a
`ClaimSource` naming the guide (and their visit of the packet's link, if any), which the
guides' coupon-claim tasks count. A refusal writes nothing.

Stopping a plan sends no new packets; packets already sent stay claimable until they are empty
(their coupons were promised to whoever the sender shared them with). HQ ends even those by
stopping the plan's coupon template on the members' coupon pages: then every claim is refused.
Turning red packets off in the terms refuses new plans, sending and claiming alike; coupons
already claimed stay the members'.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, or_, select
from sqlalchemy.exc import IntegrityError

from portal.campaigns import campaigns
from portal.campaigns.models import (
    Campaign,
    ClaimSource,
    PlanStatus,
    RedPacket,
    RedPacketClaim,
    RedPacketPlan,
)
from portal.core import audit
from portal.core.access import Actor, Permission
from portal.core.db import utcnow
from portal.core.errors import DomainError, NotFound, ValidationFailed
from portal.core.inputs import text_problem
from portal.extensions import db
from portal.guides import attribution
from portal.guides.models import Guide, GuideVisit, LinkTarget
from portal.members import coupons, membership
from portal.members.coupon_claims import give_claimed, member_refusal
from portal.members.coupon_models import (
    Coupon,
    CouponKind,
    CouponScope,
    CouponStatus,
    CouponTemplate,
    CouponValidity,
    Distribution,
    TemplateStatus,
)
from portal.members.coupon_templates import templates_by_id
from portal.members.models import Member
from portal.network.models import Organization, User
from portal.policy.consumer_terms import CampaignTerms, terms_for
from portal.storefront.models import Consumer, Tier
from portal.storefront.words import say, say_money

MAX_NAME = 120
CODE = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,31}\Z")
PACKET_CODE = re.compile(r"[A-Za-z0-9_-]{16}\Z")
MAX_YUAN = 1_000_000  # one packet's sum, in yuan
MAX_VALID_DAYS = 3650
MAX_PACKETS = 1_000_000
MAX_PER_MEMBER = 100


class Senders:
    GUIDES = "guides"
    MEMBERS = "members"
    BOTH = "both"
    ALL = (GUIDES, MEMBERS, BOTH)


SENDER_NAMES = {
    Senders.GUIDES: _l("Guides"),
    Senders.MEMBERS: _l("Members"),
    Senders.BOTH: _l("Guides and members"),
}
STATUS_NAMES = {PlanStatus.ACTIVE.value: _l("Active"), PlanStatus.STOPPED.value: _l("Stopped")}


class RedPacketsOff(DomainError):
    """The brand does not use red packets (its programme terms)."""

    code = "red_packets_off"
    status = 422
    message = "This brand does not offer red packets."


class PacketRefused(DomainError):
    """A send or a claim the rules do not allow now; the message says why."""

    code = "red_packet_refused"
    status = 422
    message = "This red packet cannot be used."


def _refuse(message: str, field: str = "code") -> NoReturn:
    raise PacketRefused(message, fields={field: message})


def campaign_terms(brand_id: int) -> CampaignTerms:
    return terms_for(brand_id).campaigns


def _ensure_on(brand_id: int) -> CampaignTerms:
    terms = campaign_terms(brand_id)
    if not terms.red_packets:
        message = say(_l("This brand does not offer red packets."))
        raise RedPacketsOff(message, fields={"red_packets": message})
    return terms


# -- plans ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanInput:
    """A plan as HQ types it: text as the form sends it, checked by `create_plan`."""

    name: str = ""
    code: str = ""
    packet: str = ""  # yuan: one packet's sum
    coupons: str = ""  # coupons in one packet
    min_spend: str = ""  # yuan; empty or 0: none
    valid_days: str = "7"  # a coupon counts this many days after its claim
    senders: str = Senders.GUIDES
    packets_total: str = ""
    packets_per_sender: str = "1"
    per_member_limit: str = "1"  # coupons of the plan one member may hold
    campaign_id: str = ""  # optional


def _whole(raw: Any, name: str, errors: dict[str, str], low: int, high: int) -> int | None:
    text = str(raw if raw is not None else "").strip()
    if not text:
        errors[name] = say(_l("Required."))
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 12 or not low <= int(text) <= high:
        errors[name] = say(_l("A whole number from %(low)d to %(high)d."), low=low, high=high)
        return None
    return int(text)


def _yuan(raw: Any, name: str, errors: dict[str, str], *, required: bool) -> int | None:
    """Yuan as typed ("10", "10.5", "10.50") in fen; more than two decimals, a sign or anything
    but a number is the field's error."""
    text = str(raw if raw is not None else "").strip().replace(",", "")
    if not text:
        if required:
            errors[name] = say(_l("Required."))
        return None
    try:
        value = Decimal(text) if len(text) <= 20 else None
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        errors[name] = say(_l("An amount in yuan, like 10 or 10.50."))
        return None
    if value <= 0:
        errors[name] = say(_l("More than zero."))
        return None
    if value.as_tuple().exponent < -2:  # type: ignore[operator]
        errors[name] = say(_l("At most two decimals."))
        return None
    if value > MAX_YUAN:
        errors[name] = say(_l("At most %(max)s."), max=say_money(MAX_YUAN * 100))
        return None
    return int(value * 100)


def _text(raw: Any, name: str, errors: dict[str, str], limit: int) -> str:
    value = str(raw if raw is not None else "").strip()
    problem = text_problem(value)
    if problem:
        errors[name] = problem
    elif not value:
        errors[name] = say(_l("Required."))
    elif len(value) > limit:
        errors[name] = say(_l("At most %(count)d characters."), count=limit)
    return value


def _as_yuan(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _campaign(brand_id: int, raw: str, errors: dict[str, str]) -> int | None:
    text = (raw or "").strip()
    if not text:
        return None
    found = None
    if text.isascii() and text.isdigit() and len(text) < 12:
        found = db.session.execute(
            select(Campaign.id).where(Campaign.id == int(text), Campaign.brand_id == brand_id)
        ).scalar_one_or_none()
    if found is None:
        errors["campaign_id"] = say(_l("Choose one of the brand's campaigns, or none."))
    return found


def check_plan(brand: Organization, data: PlanInput) -> tuple[dict[str, Any], dict[str, str]]:
    """The plan's values, and the message of every field that is wrong."""
    terms = campaign_terms(brand.id)
    errors: dict[str, str] = {}
    name = _text(data.name, "name", errors, MAX_NAME)
    code = str(data.code or "").strip().upper()
    if not CODE.match(code):
        errors["code"] = say(
            _l("1 to 32 letters, digits, hyphens or underscores, starting with a letter or digit.")
        )
    elif db.session.execute(
        select(RedPacketPlan.id).where(
            RedPacketPlan.brand_id == brand.id, RedPacketPlan.code == code
        )
    ).first():
        errors["code"] = say(_l("Another red-packet plan has this code."))
    packet = _yuan(data.packet, "packet", errors, required=True)
    low, high = terms.red_packet_min_coupons, terms.red_packet_max_coupons
    count = None
    raw_count = str(data.coupons or "").strip()
    if raw_count.isascii() and raw_count.isdigit() and len(raw_count) <= 6:
        count = int(raw_count)
        if count < low:
            errors["coupons"] = say(_l("At least %(count)d coupons in a packet."), count=low)
        elif count > high:
            errors["coupons"] = say(_l("At most %(count)d coupons in a packet."), count=high)
    else:
        errors["coupons"] = say(_l("A whole number from %(low)d to %(high)d."), low=low, high=high)
    each = None
    if packet is not None and "coupons" not in errors and count:
        if packet % count:
            errors["packet"] = say(
                _l("%(sum)s does not split into %(count)d equal coupons."),
                sum=say_money(packet),
                count=count,
            )
        else:
            each = packet // count
    min_spend = None
    if str(data.min_spend or "").strip() not in ("", "0", "0.0", "0.00"):
        min_spend = _yuan(data.min_spend, "min_spend", errors, required=False)
        if min_spend is not None and each is not None and min_spend <= each:
            errors["min_spend"] = say(
                _l("The minimum spend must be more than one coupon's %(amount)s."),
                amount=say_money(each),
            )
    valid_days = _whole(data.valid_days, "valid_days", errors, 1, MAX_VALID_DAYS)
    senders = str(data.senders or "")
    if senders not in Senders.ALL:
        errors["senders"] = say(_l("Choose guides, members or both."))
    total = _whole(data.packets_total, "packets_total", errors, 1, MAX_PACKETS)
    if total is not None and count and total * count > coupons.MAX_TOTAL:
        errors["packets_total"] = say(
            _l("At most %(count)d coupons in all."), count=coupons.MAX_TOTAL
        )
    per_sender = _whole(data.packets_per_sender, "packets_per_sender", errors, 1, MAX_PACKETS)
    if per_sender is not None and total is not None and per_sender > total:
        errors["packets_per_sender"] = say(_l("At most the packets in all."))
    per_member = _whole(data.per_member_limit, "per_member_limit", errors, 1, MAX_PER_MEMBER)
    campaign_id = _campaign(brand.id, str(data.campaign_id or ""), errors)
    values = {
        "name": name,
        "code": code,
        "packet_cents": packet,
        "coupons_per_packet": count,
        "coupon_cents": each,
        "min_spend_cents": min_spend or 0,
        "valid_days": valid_days,
        "senders": senders,
        "packets_total": total,
        "packets_per_sender": per_sender,
        "per_member_limit": per_member,
        "campaign_id": campaign_id,
    }
    return values, errors


def create_plan(actor: Actor, brand: Organization, data: PlanInput) -> RedPacketPlan:
    """A new red-packet plan of the brand and its coupon template. Raises RedPacketsOff when
    the brand's terms have red packets off, ValidationFailed naming every wrong field (fewer or
    more coupons than the terms allow, a sum that does not split evenly, zero or negative
    amounts, ...); nothing is written then. NotFound for another brand's HQ."""
    campaigns.ensure_hq(actor, brand.id)
    _ensure_on(brand.id)
    values, errors = check_plan(brand, data)
    if errors:
        raise ValidationFailed(say(_l("Some fields are not valid.")), fields=errors)
    template = _make_template(actor, brand, values)
    plan = RedPacketPlan(
        brand_id=brand.id,
        campaign_id=values["campaign_id"],
        code=values["code"],
        name=values["name"],
        packet_cents=values["packet_cents"],
        coupons_per_packet=values["coupons_per_packet"],
        template_id=template.id,
        packets_total=values["packets_total"],
        packets_sent=0,
        packets_per_sender=values["packets_per_sender"],
        senders=values["senders"],
        status=PlanStatus.ACTIVE,
        created_by_user_id=actor.user_id,
    )
    try:
        with db.session.begin_nested():
            db.session.add(plan)
            db.session.flush()
    except IntegrityError as error:  # the same code written at the same moment
        message = say(_l("Another red-packet plan has this code."))
        raise ValidationFailed(message, fields={"code": message}) from error
    audit.record(
        actor,
        "campaigns.red_packet_plan_created",
        brand_id=brand.id,
        plan_id=plan.id,
        template_id=template.id,
        code=plan.code,
    )
    return plan


# What the members' template check names, as the plan's form names it.
_TEMPLATE_FIELDS = {
    "name": "name",
    "amount": "packet",
    "min_spend": "min_spend",
    "valid_days": "valid_days",
    "per_member_limit": "per_member_limit",
    "total_limit": "packets_total",
}


def _make_template(actor: Actor, brand: Organization, values: dict[str, Any]) -> CouponTemplate:
    """The plan's coupon template, written through the members' own check. HQ's campaigns
    permission covers it (the template is the plan's), so the members' permission is lent for
    this one call; the audit still names the person."""
    minimum = values["min_spend_cents"]
    data = coupons.TemplateInput(
        name=values["name"],
        description=say(_l("Red packet %(code)s"), code=values["code"]),
        kind=CouponKind.THRESHOLD if minimum else CouponKind.AMOUNT,
        amount=_as_yuan(values["coupon_cents"]),
        min_spend=_as_yuan(minimum) if minimum else "",
        tiers=(Tier.OFFICIAL,),
        scope=CouponScope.ALL,
        validity=CouponValidity.DAYS,
        valid_days=str(values["valid_days"]),
        per_member_limit=str(values["per_member_limit"]),
        total_limit=str(values["packets_total"] * values["coupons_per_packet"]),
        stackable=True,
        # Not "link" nor "claim": those have a claim page of their own and are listed on every
        # guide's page, so anyone could take the coupons past the packets. Claims come through
        # `give_claimed`, which takes a template of any distribution.
        distribution=Distribution.ISSUE,
    )
    lent = actor
    if not actor.is_system:
        lent = dataclasses.replace(
            actor, permissions=actor.permissions | {Permission.MEMBERS_MANAGE}
        )
    try:
        return coupons.create_template(lent, brand, data)
    except ValidationFailed as error:  # checked above; named as the plan's form names them
        fields = {_TEMPLATE_FIELDS.get(k, "name"): v for k, v in error.fields.items()}
        raise ValidationFailed(error.message, fields=fields) from error


def stop_plan(actor: Actor, plan: RedPacketPlan) -> RedPacketPlan:
    """No new packets of the plan; packets already sent stay claimable until they are empty."""
    campaigns.ensure_hq(actor, plan.brand_id)
    plan = _lock_plan(plan.id)
    if plan.status != PlanStatus.STOPPED:
        plan.status = PlanStatus.STOPPED
        audit.record(
            actor, "campaigns.red_packet_plan_stopped", brand_id=plan.brand_id, plan_id=plan.id
        )
        db.session.flush()
    return plan


def get_plan(actor: Actor, plan_id: int) -> RedPacketPlan:
    """A plan of the actor's own brand (HQ); anything else is a 404."""
    found = db.session.execute(
        select(RedPacketPlan).where(RedPacketPlan.id == plan_id)
    ).scalar_one_or_none()
    if found is None or not (actor.is_system or (actor.is_hq and actor.org_id == found.brand_id)):
        raise NotFound()
    return found


def list_plans(brand_id: int, *, limit: int = 200) -> list[RedPacketPlan]:
    return list(
        db.session.execute(
            select(RedPacketPlan)
            .where(RedPacketPlan.brand_id == brand_id)
            .order_by(RedPacketPlan.id.desc())
            .limit(limit)
        ).scalars()
    )


def list_campaigns(brand_id: int) -> list[Campaign]:
    """The brand's campaigns a plan may name."""
    return list(
        db.session.execute(
            select(Campaign)
            .where(Campaign.brand_id == brand_id)
            .order_by(Campaign.starts_at.desc())
            .limit(100)
        ).scalars()
    )


def templates_of(plans: Sequence[RedPacketPlan]) -> dict[int, CouponTemplate]:
    return templates_by_id({p.template_id for p in plans})


def coupon_cents(plan: RedPacketPlan) -> int:
    return plan.packet_cents // plan.coupons_per_packet


def _lock_plan(plan_id: int) -> RedPacketPlan:
    return db.session.execute(
        select(RedPacketPlan)
        .where(RedPacketPlan.id == plan_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


# -- sending -------------------------------------------------------------------------------------


def sendable_plans(brand_id: int, sender: str) -> list[RedPacketPlan]:
    """The brand's live plans that a sender of this kind ("guides" or "members") may send, with
    packets left (empty while the brand has red packets off)."""
    if not campaign_terms(brand_id).red_packets:
        return []
    return list(
        db.session.execute(
            select(RedPacketPlan)
            .join(CouponTemplate, CouponTemplate.id == RedPacketPlan.template_id)
            .where(
                RedPacketPlan.brand_id == brand_id,
                RedPacketPlan.status == PlanStatus.ACTIVE,
                RedPacketPlan.senders.in_([sender, Senders.BOTH]),
                RedPacketPlan.packets_sent < RedPacketPlan.packets_total,
                CouponTemplate.status == TemplateStatus.ACTIVE,
            )
            .order_by(RedPacketPlan.id.desc())
            .limit(50)
        ).scalars()
    )


def find_sendable(brand_id: int, plan_id: int) -> RedPacketPlan:
    """A plan of the brand by id (a sender's form names it); another brand's is a 404."""
    found = db.session.execute(
        select(RedPacketPlan).where(RedPacketPlan.id == plan_id, RedPacketPlan.brand_id == brand_id)
    ).scalar_one_or_none()
    if found is None:
        raise NotFound()
    return found


def send_as_guide(actor: Actor, guide: Guide, plan: RedPacketPlan) -> RedPacket:
    """A packet of the plan sent by the actor's own guide (guides.use, an active guide of the
    plan's brand). Raises PacketRefused saying why not (see `_send`), RedPacketsOff, NotFound
    for another brand's plan or someone else's guide."""
    actor.ensure(Permission.GUIDES_USE)
    if actor.user_id != guide.user_id or guide.brand_id != plan.brand_id:
        raise NotFound()
    if not guide.is_active:
        _refuse(say(_l("Your guide code is stopped: you cannot send red packets.")), "plan_id")
    return _send(plan, Senders.GUIDES, guide_id=guide.id)


def send_as_member(consumer: Consumer, brand: Organization, plan: RedPacketPlan) -> RedPacket:
    """A packet of the plan sent by the consumer's member (of this brand's shop). Raises
    PacketRefused saying why not, RedPacketsOff, NotFound for another brand's plan."""
    if plan.brand_id != brand.id:
        raise NotFound()
    member = membership.member_in(brand, consumer)
    if member is None:
        _refuse(say(_l("Only members send red packets: join the membership first.")), "plan_id")
    return _send(plan, Senders.MEMBERS, member_id=member.id)


def _send(
    plan: RedPacketPlan, kind: str, *, guide_id: int | None = None, member_id: int | None = None
) -> RedPacket:
    """Under the plan's row lock: a live plan this kind of sender may send, its coupons still
    given out, packets left in all and for this sender."""
    _ensure_on(plan.brand_id)
    plan = _lock_plan(plan.id)
    if plan.status != PlanStatus.ACTIVE:
        _refuse(say(_l("This red-packet offer has stopped.")), "plan_id")
    if plan.senders not in (kind, Senders.BOTH):
        if kind == Senders.GUIDES:
            _refuse(say(_l("Only members send this red packet.")), "plan_id")
        _refuse(say(_l("Only guides send this red packet.")), "plan_id")
    template = templates_by_id([plan.template_id])[plan.template_id]
    if template.status != TemplateStatus.ACTIVE:
        _refuse(say(_l("This red-packet offer has stopped.")), "plan_id")
    if plan.packets_sent >= plan.packets_total:
        _refuse(say(_l("All of this offer's red packets have been sent.")), "plan_id")
    mine = RedPacket.guide_id == guide_id if guide_id else RedPacket.member_id == member_id
    sent = db.session.execute(
        select(func.count()).select_from(RedPacket).where(RedPacket.plan_id == plan.id, mine)
    ).scalar_one()
    if sent >= plan.packets_per_sender:
        _refuse(
            say(
                _l("You have sent %(count)d of these red packets, as many as one sender may."),
                count=plan.packets_per_sender,
            ),
            "plan_id",
        )
    packet = RedPacket(
        brand_id=plan.brand_id,
        plan_id=plan.id,
        code=secrets.token_urlsafe(12),  # 16 characters, 96 random bits
        guide_id=guide_id,
        member_id=member_id,
        coupons=plan.coupons_per_packet,
        claimed=0,
        sent_at=utcnow(),
    )
    db.session.add(packet)
    plan.packets_sent += 1
    db.session.flush()
    return packet


@dataclass(frozen=True)
class SentPacket:
    """One of a sender's packets as their page shows it."""

    code: str
    plan_name: str
    coupon_cents: int
    coupons: int
    claimed: int
    sent_at: Any


def sent_packets(
    *, guide_id: int | None = None, member_id: int | None = None, brand_id: int, limit: int = 50
) -> list[SentPacket]:
    """A guide's or a member's packets of the brand, newest first."""
    mine = RedPacket.guide_id == guide_id if guide_id else RedPacket.member_id == member_id
    rows = db.session.execute(
        select(RedPacket, RedPacketPlan)
        .join(RedPacketPlan, RedPacketPlan.id == RedPacket.plan_id)
        .where(RedPacket.brand_id == brand_id, mine)
        .order_by(RedPacket.id.desc())
        .limit(limit)
    ).all()
    return [
        SentPacket(
            code=packet.code,
            plan_name=plan.name,
            coupon_cents=coupon_cents(plan),
            coupons=packet.coupons,
            claimed=packet.claimed,
            sent_at=packet.sent_at,
        )
        for packet, plan in rows
    ]


# -- claiming ------------------------------------------------------------------------------------


def find_packet(brand_id: int, code: str) -> RedPacket | None:
    """The brand's packet of this code (another brand's, or no such code: None)."""
    code = (code or "").strip()
    if not PACKET_CODE.match(code):
        return None
    return db.session.execute(
        select(RedPacket).where(RedPacket.code == code, RedPacket.brand_id == brand_id)
    ).scalar_one_or_none()


def _lock_packet(packet_id: int) -> RedPacket:
    return db.session.execute(
        select(RedPacket)
        .where(RedPacket.id == packet_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def _claimed_by(packet_id: int, member_id: int) -> RedPacketClaim | None:
    return db.session.execute(
        select(RedPacketClaim).where(
            RedPacketClaim.packet_id == packet_id, RedPacketClaim.member_id == member_id
        )
    ).scalar_one_or_none()


def claimed_coupon(
    packet: RedPacket, consumer: Consumer | None, brand: Organization
) -> coupons.HeldCoupon | None:
    """The coupon this consumer's member took from the packet, as their pages show it, or None."""
    member = membership.member_in(brand, consumer)
    if member is None:
        return None
    claim = _claimed_by(packet.id, member.id)
    if claim is None:
        return None
    coupon = db.session.execute(select(Coupon).where(Coupon.id == claim.coupon_id)).scalar_one()
    return coupons.describe(coupon)


def packet_refusal(brand: Organization, consumer: Consumer | None, packet: RedPacket) -> str | None:
    """Why this consumer may not claim from the packet now, in words, or None (read without
    locks: the claim checks again under them)."""
    if not campaign_terms(brand.id).red_packets:
        return say(_l("This shop does not offer red packets now."))
    if consumer is None:
        return say(_l("Sign in to claim a coupon from this red packet."))
    member = membership.member_in(brand, consumer)
    if member is None:
        return say(_l("Only members can claim red packets: join the membership first."))
    return _rule_refusal(packet, member, check_template=True)


def _guides_own(packet: RedPacket, member: Member) -> bool:
    """A guide's packet claimed by the guide themself (their member account is theirs by the
    guides' own-purchase rule): it would count for their own coupon-claim task."""
    if packet.guide_id is None:
        return False
    guide = db.session.execute(select(Guide).where(Guide.id == packet.guide_id)).scalar_one()
    emails = db.session.execute(
        select(Consumer.email).where(Consumer.member_id == member.id)
    ).scalars()  # the member's shop accounts (one per brand of the programme)
    return attribution.is_own_purchase(guide, member.email, *emails, member_id=member.id)


def _rule_refusal(packet: RedPacket, member: Member, *, check_template: bool) -> str | None:
    if packet.member_id == member.id or _guides_own(packet, member):
        return say(_l("This is your own red packet: share it with friends."))
    if _claimed_by(packet.id, member.id) is not None:
        return say(_l("You have already claimed a coupon from this red packet."))
    if packet.claimed >= packet.coupons:
        return say(_l("No coupons left in this red packet."))
    if check_template:
        template = templates_by_id([packet.plan.template_id])[packet.plan.template_id]
        return member_refusal(template, member)
    return None


def claim_packet(
    consumer: Consumer, brand: Organization, code: str, *, visitor: str = ""
) -> Coupon:
    """One coupon of the packet for the consumer's member. Raises NotFound for no packet of
    this code in the brand's shop, RedPacketsOff when the brand has them off, PacketRefused
    saying why not (not a member, their own packet, already claimed from it, none left, the
    template's rules). Claims of one packet queue on its row, so it never gives more than its
    coupons however many claim at once; a refusal writes nothing. `visitor`: the browser's
    guide-link cookie, to find the guide's visit of the packet's link."""
    packet = find_packet(brand.id, code)
    if packet is None:
        raise NotFound()
    _ensure_on(brand.id)
    member = membership.member_in(brand, consumer)
    if member is None:
        _refuse(say(_l("Only members can claim red packets: join the membership first.")))
    packet = _lock_packet(packet.id)
    refusal = _rule_refusal(packet, member, check_template=False)
    if refusal:
        _refuse(refusal)
    template = templates_by_id([packet.plan.template_id])[packet.plan.template_id]
    try:
        with db.session.begin_nested():  # a refusal of the template's rules leaves nothing
            coupon = give_claimed(template, member)
            db.session.add(
                RedPacketClaim(
                    packet_id=packet.id,
                    member_id=member.id,
                    coupon_id=coupon.id,
                    claimed_at=coupon.created_at,
                )
            )
            db.session.flush()
    except coupons.CouponRefused as error:
        _refuse(error.message)
    except IntegrityError as error:  # the same member at the same moment (SQLite has no lock)
        message = say(_l("You have already claimed a coupon from this red packet."))
        raise PacketRefused(message, fields={"code": message}) from error
    packet.claimed += 1
    if packet.guide_id is not None:
        visit = _guide_visit(brand.id, packet, consumer, visitor)
        db.session.add(
            ClaimSource(
                coupon_id=coupon.id,
                guide_id=packet.guide_id,
                visit_id=visit,
                claimed_at=coupon.created_at,
            )
        )
    db.session.flush()
    return coupon


def _guide_visit(brand_id: int, packet: RedPacket, consumer: Consumer, visitor: str) -> int | None:
    """The consumer's (or this browser's) newest visit of the guide's link to this packet within
    the attribution window, if they came through it."""
    since = utcnow() - timedelta(days=terms_for(brand_id).guides.window_days)
    who = [GuideVisit.consumer_id == consumer.id]
    if visitor:
        who.append(GuideVisit.visitor == visitor[:40])
    return db.session.execute(
        select(GuideVisit.id)
        .where(
            GuideVisit.brand_id == brand_id,
            GuideVisit.guide_id == packet.guide_id,
            GuideVisit.target == LinkTarget.RED_PACKET,
            GuideVisit.ref == packet.code,
            GuideVisit.opened_at >= since,
            or_(*who),
        )
        .order_by(GuideVisit.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def sender_name(packet: RedPacket) -> str:
    """Who sent the packet, as its page shows them: a first name and an initial ("Han M."), or
    a family name and stars ("王**"); never the whole name."""
    if packet.guide_id is not None:
        name = db.session.execute(
            select(User.name)
            .join(Guide, Guide.user_id == User.id)
            .where(Guide.id == packet.guide_id)
        ).scalar_one_or_none()
    else:
        name = db.session.execute(
            select(Member.name).where(Member.id == packet.member_id)
        ).scalar_one_or_none()
    return short_name(name or "")


def short_name(name: str) -> str:
    words = name.split()
    if not words:
        return ""
    if len(words) > 1:
        return f"{words[0]} {words[-1][0]}."
    word = words[0]
    if word.isascii() or len(word) < 2:
        return word
    return word[0] + "*" * min(len(word) - 1, 2)


# -- figures -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PacketFigures:
    packets: int = 0
    claimed: int = 0  # coupons taken from the packets
    used: int = 0  # of those, used by an order
    discount_cents: int = 0  # what the used ones took off


def _claim_figures(group: Any, *conditions: Any) -> dict[Any, PacketFigures]:
    used = Coupon.status == CouponStatus.USED
    rows = db.session.execute(
        select(
            *group,
            func.count(RedPacketClaim.id),
            func.coalesce(func.sum(case((used, 1), else_=0)), 0),
            func.coalesce(func.sum(case((used, Coupon.discount_cents), else_=0)), 0),
        )
        .select_from(RedPacket)
        .join(RedPacketClaim, RedPacketClaim.packet_id == RedPacket.id)
        .join(Coupon, Coupon.id == RedPacketClaim.coupon_id)
        .where(*conditions)
        .group_by(*group)
    ).all()
    return {
        tuple(row[: len(group)]): PacketFigures(
            claimed=int(row[-3]), used=int(row[-2]), discount_cents=int(row[-1])
        )
        for row in rows
    }


def plan_figures(plans: Sequence[RedPacketPlan]) -> dict[int, PacketFigures]:
    """Per plan: packets sent, coupons claimed from them, used, and the discount they gave."""
    ids = [p.id for p in plans]
    if not ids:
        return {}
    claims = _claim_figures((RedPacket.plan_id,), RedPacket.plan_id.in_(ids))
    return {
        p.id: dataclasses.replace(claims.get((p.id,), PacketFigures()), packets=p.packets_sent)
        for p in plans
    }


@dataclass(frozen=True)
class SenderLine:
    kind: str  # guide | member
    code: str  # the guide's code or the member's number
    name: str
    store: str  # the guide's store code ("" for a member)
    figures: PacketFigures


def sender_lines(plan: RedPacketPlan) -> list[SenderLine]:
    """The plan's senders with their packets, coupons claimed, used and discount, most
    claimed first."""
    packets = db.session.execute(
        select(RedPacket.guide_id, RedPacket.member_id, func.count())
        .where(RedPacket.plan_id == plan.id)
        .group_by(RedPacket.guide_id, RedPacket.member_id)
    ).all()
    claims = _claim_figures((RedPacket.guide_id, RedPacket.member_id), RedPacket.plan_id == plan.id)
    guide_ids = [g for g, _m, _n in packets if g is not None]
    member_ids = [m for _g, m, _n in packets if m is not None]
    guides = {
        gid: (code, name, store)
        for gid, code, name, store in db.session.execute(
            select(Guide.id, Guide.code, User.name, Organization.code)
            .join(User, User.id == Guide.user_id)
            .join(Organization, Organization.id == Guide.org_id)
            .where(Guide.id.in_(guide_ids or [0]))
        ).all()
    }
    members = {
        mid: (number, name)
        for mid, number, name in db.session.execute(
            select(Member.id, Member.number, Member.name).where(Member.id.in_(member_ids or [0]))
        ).all()
    }
    lines = []
    for guide_id, member_id, count in packets:
        figures = dataclasses.replace(
            claims.get((guide_id, member_id), PacketFigures()), packets=int(count)
        )
        if guide_id is not None:
            code, name, store = guides.get(guide_id, ("", "", ""))
            lines.append(SenderLine("guide", code, name, store, figures))
        else:
            number, name = members.get(member_id, ("", ""))
            lines.append(SenderLine("member", number, name, "", figures))
    lines.sort(key=lambda line: (-line.figures.claimed, -line.figures.packets, line.code))
    return lines


def plug() -> None:
    """Red packets hook into nothing below: their claims write their own coupon, claim and
    source rows (no `claim_listeners`), and the campaign channel of an order that used a
    packet's coupon is read by portal/campaigns/sharers.py from `RedPacketClaim`."""
