"""Red-packet pages (portal/campaigns/red_packets.py says the rules).

- HQ's (`CAMPAIGNS_MANAGE`, the brand's own HQ; anyone else a 404): `/campaigns/red-packets/`,
  the plans with packets sent, coupons claimed and used and the discount they gave, and a new
  plan; one plan by sender (`/campaigns/red-packets/<id>`); stopping a plan.
- A guide's (`GUIDES_USE`, phone first): `/guides/me/red-packets`, the plans guides may send,
  sending one, and their packets with what was claimed, the share link (their signed guide
  link to the packet, which opens the packet's page and counts as their visit), the packet's
  own address and a QR code.
- A member's (the signed-in consumer of the shop): `/shop/<brand>/account/red-packets`, the same
  for the plans members may send.
- The packet's page, for anyone (`/shop/<brand>/red-packets/<code>`): who sent it, what one
  coupon takes off, how many are left; a signed-in member claims one there (a consumer not yet
  signed in, or not a member, is sent to sign in or to join and comes back to it).
"""

from __future__ import annotations

import base64
from dataclasses import fields
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import SelectChoice, SelectField, StringField
from wtforms.validators import Length

from portal.campaigns import campaigns, red_packets
from portal.campaigns.models import RedPacket, RedPacketPlan
from portal.core import transaction
from portal.core.access import Actor, Permission, current_actor, public, require
from portal.core.errors import DomainError, NotFound
from portal.core.forms import PortalForm, apply_errors
from portal.guides import links, qr, roster, visits
from portal.guides.models import Guide, LinkTarget
from portal.members import coupons, membership
from portal.network.models import Organization
from portal.storefront.auth import consumer_required, current_consumer, signed_in_consumer
from portal.storefront.shops import shop_brand

bp = Blueprint("campaign_packets", __name__)


@bp.app_template_global()
def members_send_red_packets(brand: Organization) -> bool:
    """Whether the brand's members have a red-packet plan to send (the shop's account page)."""
    return bool(red_packets.sendable_plans(brand.id, red_packets.Senders.MEMBERS))


# The guides' browser cookie (portal/guides/link_views.py): a link opened before signing in
# still finds its visit when the same browser claims.


@bp.context_processor
def _shop_nav() -> dict[str, Any]:
    """The shop's nav (storefront/base.html) shows who is signed in on the consumer pages."""
    brand_code = (request.view_args or {}).get("brand_code")
    if not brand_code:
        return {}
    try:
        return {"shop_consumer": current_consumer(shop_brand(brand_code))}
    except DomainError:
        return {"shop_consumer": None}


def _absolute(path: str) -> str:
    return str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/") + path


def packet_url(brand: Organization, code: str) -> str:
    """The packet's own address (anyone may share it)."""
    return _absolute(url_for("campaign_packets.packet_page", brand_code=brand.code, code=code))


def _qr(url: str) -> str:
    """The QR code of `url` as a data URI (the page embeds it; a long press saves it)."""
    return "data:image/png;base64," + base64.b64encode(qr.qr_png(url, scale=6)).decode("ascii")


# -- HQ ------------------------------------------------------------------------------------------


class PlanForm(PortalForm):
    name = StringField(_l("Name"), validators=[Length(max=120)])
    code = StringField(_l("Code"), validators=[Length(max=32)])
    packet = StringField(_l("Sum of one packet (yuan)"), render_kw={"inputmode": "decimal"})
    coupons = StringField(_l("Coupons in one packet"), render_kw={"inputmode": "numeric"})
    min_spend = StringField(
        _l("Minimum spend for a coupon (yuan, optional)"), render_kw={"inputmode": "decimal"}
    )
    valid_days = StringField(
        _l("Days a coupon counts after it is claimed"),
        default="7",
        render_kw={"inputmode": "numeric"},
    )
    senders = SelectField(
        _l("Who sends"),
        choices=[SelectChoice(k, v) for k, v in red_packets.SENDER_NAMES.items()],
        default=red_packets.Senders.GUIDES,
        validate_choice=False,  # the service names a wrong one
    )
    packets_total = StringField(_l("Packets in all"), render_kw={"inputmode": "numeric"})
    packets_per_sender = StringField(
        _l("Packets one sender may send"), default="1", render_kw={"inputmode": "numeric"}
    )
    per_member_limit = StringField(
        _l("Coupons of this plan one member may hold"),
        default="1",
        render_kw={"inputmode": "numeric"},
    )
    campaign_id = SelectField(_l("Campaign (optional)"), validate_choice=False)


def _plan_form(brand: Organization) -> PlanForm:
    form = PlanForm()
    form.campaign_id.choices = [SelectChoice("", _("None"))] + [
        SelectChoice(str(c.id), f"{c.code} · {c.name}")
        for c in red_packets.list_campaigns(brand.id)
    ]
    return form


def _index_page(brand: Organization, form: PlanForm, status: int = 200):
    plans = red_packets.list_plans(brand.id)
    return render_template(
        "campaigns/packets/index.html",
        brand=brand,
        plans=plans,
        figures=red_packets.plan_figures(plans),
        templates=red_packets.templates_of(plans),
        stats=coupons.template_stats([p.template_id for p in plans]),
        terms=red_packets.campaign_terms(brand.id),
        form=form,
        sender_names=red_packets.SENDER_NAMES,
        status_names=red_packets.STATUS_NAMES,
        coupon_cents=red_packets.coupon_cents,
    ), status


@bp.get("/campaigns/red-packets/")
@require(Permission.CAMPAIGNS_MANAGE)
def index():
    brand = campaigns.hq_brand(current_actor())
    return _index_page(brand, _plan_form(brand))


@bp.post("/campaigns/red-packets/")
@require(Permission.CAMPAIGNS_MANAGE)
def create():
    actor = current_actor()
    brand = campaigns.hq_brand(actor)
    form = _plan_form(brand)
    if not form.validate_on_submit():
        return _index_page(brand, form, 422)
    data = red_packets.PlanInput(
        **{f.name: str(getattr(form, f.name).data or "") for f in fields(red_packets.PlanInput)}
    )
    try:
        plan = red_packets.create_plan(actor, brand, data)
    except DomainError as error:
        transaction.discard()
        apply_errors(form, error)
        return _index_page(brand, form, 422)
    flash(_("Red-packet plan “%(name)s” created.", name=plan.name), "success")
    return redirect(url_for("campaign_packets.plan", plan_id=plan.id))


@bp.get("/campaigns/red-packets/<int:plan_id>")
@require(Permission.CAMPAIGNS_MANAGE, load=red_packets.get_plan)
def plan(found: RedPacketPlan):
    brand = campaigns.hq_brand(current_actor())
    template = red_packets.templates_of([found])[found.template_id]
    return render_template(
        "campaigns/packets/plan.html",
        brand=brand,
        plan=found,
        template=template,
        label=coupons.label(template),
        figures=red_packets.plan_figures([found])[found.id],
        stats=coupons.template_stats([found.template_id])[found.template_id],
        lines=red_packets.sender_lines(found),
        sender_names=red_packets.SENDER_NAMES,
        status_names=red_packets.STATUS_NAMES,
        coupon_cents=red_packets.coupon_cents(found),
    )


@bp.post("/campaigns/red-packets/<int:plan_id>/stop")
@require(Permission.CAMPAIGNS_MANAGE, load=red_packets.get_plan)
def stop(found: RedPacketPlan):
    found = red_packets.stop_plan(current_actor(), found)
    flash(
        _("“%(name)s” sends no new packets; those already sent stay claimable.", name=found.name),
        "success",
    )
    return redirect(url_for("campaign_packets.plan", plan_id=found.id))


# -- a guide -------------------------------------------------------------------------------------


def _guide_brand(actor: Actor) -> tuple[Organization, list[Organization]]:
    return roster.my_brands(actor, request.values.get("brand"))


def _my_guide(actor: Actor, brand: Organization) -> Guide:
    return roster.my_guide(actor, brand)


def _guide_share(guide: Guide, brand: Organization, sent: red_packets.SentPacket) -> dict:
    link = links.share_url(brand.code, links.make_token(guide, LinkTarget.RED_PACKET, sent.code))
    return {"packet": sent, "link": link, "page": packet_url(brand, sent.code), "qr": _qr(link)}


def _guide_page(
    actor: Actor, brand: Organization, brands: list, errors: dict | None = None, status=200
):
    guide = _my_guide(actor, brand)
    sent = red_packets.sent_packets(guide_id=guide.id, brand_id=brand.id, limit=20)
    return render_template(
        "campaigns/packets/guide.html",
        brand=brand,
        brands=brands,
        guide=guide,
        is_on=red_packets.campaign_terms(brand.id).red_packets,
        plans=red_packets.sendable_plans(brand.id, red_packets.Senders.GUIDES)
        if guide.is_active
        else [],
        shares=[_guide_share(guide, brand, s) for s in sent] if guide.is_active else [],
        sent=sent,
        errors=errors or {},
        coupon_cents=red_packets.coupon_cents,
    ), status


@bp.get("/guides/me/red-packets")
@require(Permission.GUIDES_USE)
def my_packets():
    actor = current_actor()
    brand, brands = _guide_brand(actor)
    return _guide_page(actor, brand, brands)


def _plan_id() -> int:
    raw = (request.form.get("plan_id") or "").strip()
    if not (raw.isascii() and raw.isdigit() and len(raw) < 12):
        raise NotFound()
    return int(raw)


@bp.post("/guides/me/red-packets")
@require(Permission.GUIDES_USE)
def guide_send():
    actor = current_actor()
    brand, brands = _guide_brand(actor)
    guide = _my_guide(actor, brand)
    try:
        plan_row = red_packets.find_sendable(brand.id, _plan_id())
        red_packets.send_as_guide(actor, guide, plan_row)
    except NotFound:
        raise
    except DomainError as error:
        transaction.discard()
        return _guide_page(actor, brand, brands, errors={"plan_id": error.message}, status=422)
    flash(_("Red packet ready: share its link or QR code below."), "success")
    return redirect(url_for("campaign_packets.my_packets", brand=brand.code))


# -- a member ------------------------------------------------------------------------------------


def _member_page(brand: Organization, errors: dict | None = None, status: int = 200):
    consumer = signed_in_consumer()
    member = membership.member_in(brand, consumer)
    sent = (
        red_packets.sent_packets(member_id=member.id, brand_id=brand.id, limit=20)
        if member is not None
        else []
    )
    shares = [
        {"packet": s, "page": packet_url(brand, s.code), "qr": _qr(packet_url(brand, s.code))}
        for s in sent
    ]
    return render_template(
        "campaigns/packets/member.html",
        brand=brand,
        member=member,
        is_on=red_packets.campaign_terms(brand.id).red_packets,
        plans=red_packets.sendable_plans(brand.id, red_packets.Senders.MEMBERS)
        if member is not None
        else [],
        shares=shares,
        errors=errors or {},
        coupon_cents=red_packets.coupon_cents,
    ), status


@bp.get("/shop/<brand_code>/account/red-packets")
@consumer_required
def member_packets(brand_code: str):
    return _member_page(shop_brand(brand_code))


@bp.post("/shop/<brand_code>/account/red-packets")
@consumer_required
def member_send(brand_code: str):
    brand = shop_brand(brand_code)
    try:
        plan_row = red_packets.find_sendable(brand.id, _plan_id())
        red_packets.send_as_member(signed_in_consumer(), brand, plan_row)
    except NotFound:
        raise
    except DomainError as error:
        transaction.discard()
        return _member_page(brand, errors={"plan_id": error.message}, status=422)
    flash(_("Red packet ready: share its link or QR code below."), "success")
    return redirect(url_for("campaign_packets.member_packets", brand_code=brand.code))


# -- the packet's page ---------------------------------------------------------------------------


def _packet(brand: Organization, code: str) -> RedPacket:
    found = red_packets.find_packet(brand.id, code)
    if found is None:
        raise NotFound()
    return found


def _packet_page(brand: Organization, packet: RedPacket, status: int = 200, **context: Any):
    consumer = current_consumer(brand)
    template = red_packets.templates_of([packet.plan])[packet.plan.template_id]
    mine = red_packets.claimed_coupon(packet, consumer, brand)
    if mine is None:
        context.setdefault("refusal", red_packets.packet_refusal(brand, consumer, packet))
    else:
        context.setdefault("refusal", None)
    return render_template(
        "campaigns/packets/packet.html",
        brand=brand,
        packet=packet,
        plan=packet.plan,
        template=template,
        label=coupons.label(template),
        sender=red_packets.sender_name(packet),
        from_guide=packet.guide_id is not None,
        left=max(packet.coupons - packet.claimed, 0),
        consumer=consumer,
        is_on=red_packets.campaign_terms(brand.id).red_packets,
        is_member=membership.member_in(brand, consumer) is not None,
        mine=mine,
        last_moment=coupons.last_moment,
        **context,
    ), status


@bp.get("/shop/<brand_code>/red-packets/<code>")
@public
def packet_page(brand_code: str, code: str):
    brand = shop_brand(brand_code)
    return _packet_page(brand, _packet(brand, code))


@bp.post("/shop/<brand_code>/red-packets/<code>/claim")
@consumer_required
def claim(brand_code: str, code: str):
    brand = shop_brand(brand_code)
    try:
        red_packets.claim_packet(
            signed_in_consumer(), brand, code, visitor=visits.browser_visitor() or ""
        )
    except NotFound:
        raise
    except DomainError as error:
        transaction.discard()
        return _packet_page(brand, _packet(brand, code), 422, refusal=error.message)
    flash(_("The coupon is yours: it is waiting under My coupons."), "success")
    return redirect(url_for("campaign_packets.packet_page", brand_code=brand.code, code=code))
