"""Group buys' pages (portal/campaigns/group_buys.py).

- The offer's public page, `/shop/<brand>/group-buys/<code>` (anyone; phone first, in the shop's
  look): the product, the group price beside the shop's, the group's size and time to fill, the
  groups one may still join (places left, time left), and "start a group": a colour and size,
  then the storefront's checkout (`?group_buy=<code>&variant=<id>&qty=<n>`).
- A group's public page, `/shop/<brand>/groups/<code>` (its share link): members by their
  initials only, places left, the time left, the link to share, and "join" (the same checkout
  with `group=<code>`).
- The same as JSON for the mini-program: `GET /api/v1/shop/<brand>/group-buys/<code>` and
  `GET /api/v1/shop/<brand>/groups/<code>` (public).
- HQ's (`CAMPAIGNS_MANAGE`, the brand's own HQ; another brand's offer is a 404):
  `/campaigns/group-buys/` lists the offers with their groups by status and writes a new one;
  an offer's page starts and stops it and lists its groups.

A draft offer, and everything of a brand whose terms turn group buys off, is a 404 to the public.
The storefront's order page asks `order_hold(order)` (a template global) what a held order waits
for; the storefront itself knows nothing of groups.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import to_utc
from sqlalchemy import select
from wtforms import (
    DateTimeLocalField,
    DecimalField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from portal.campaigns import campaigns, group_buys
from portal.campaigns.models import BuyGroup, Campaign, GroupBuy, GroupBuyStatus
from portal.core import transaction
from portal.core.access import Actor, Permission, current_actor, public, require
from portal.core.db import utcnow
from portal.core.errors import DomainError
from portal.core.forms import PortalForm, apply_errors
from portal.core.money import format_money, to_cents
from portal.extensions import db
from portal.network.models import Organization
from portal.policy.consumer_terms import terms_for
from portal.storefront import look
from portal.storefront.auth import current_consumer
from portal.storefront.models import ConsumerOrder, ConsumerOrderStatus
from portal.storefront.shops import shop_brand

bp = Blueprint("campaign_groups", __name__)

FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
NO_CAMPAIGN = 0


# -- the public pages ------------------------------------------------------------------------------


def time_left(until: datetime, now: datetime | None = None) -> str:
    """ "2 h 05 min" (or "0 min"): what a static page can say of a countdown."""
    seconds = max(0, int((until - (now or utcnow())).total_seconds()))
    hours, minutes = seconds // 3600, (seconds % 3600) // 60
    if hours >= 48:
        return _("%(days)d days %(hours)d h", days=hours // 24, hours=hours % 24)
    if hours:
        return _("%(hours)d h %(minutes)02d min", hours=hours, minutes=minutes)
    return _("%(minutes)d min", minutes=minutes)


def _shop_context(brand: Organization) -> dict[str, Any]:
    settings = look.find_look(brand.id)
    return {
        "brand": brand,
        "shop": settings,
        "title": look.shop_title(brand, settings),
        "shop_consumer": current_consumer(brand),
    }


def _group_url(brand: Organization, group: BuyGroup, *, external: bool = False) -> str:
    path = url_for("campaign_groups.group_page", brand_code=brand.code, group_code=group.code)
    if external:
        return str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/") + path
    return path


@bp.get("/shop/<brand_code>/group-buys/<code>")
@public
def offer_page(brand_code: str, code: str):
    brand = shop_brand(brand_code)
    offer = group_buys.find_offer(brand, code)
    skus = group_buys.offer_prices(offer)
    return render_template(
        "campaigns/groups/offer.html",
        **_shop_context(brand),
        offer=offer,
        skus=skus,
        is_open=group_buys.is_open(offer),
        groups=group_buys.open_groups(offer),
        seats_left=group_buys.seats_left,
        time_left=time_left,
        group_url=lambda group: _group_url(brand, group),
        list_from=min((sku.list_cents for sku in skus), default=None),
        group_from=min((sku.group_cents for sku in skus), default=None),
    )


@bp.get("/shop/<brand_code>/groups/<group_code>")
@public
def group_page(brand_code: str, group_code: str):
    brand = shop_brand(brand_code)
    group = group_buys.find_group(brand, group_code)
    offer = group.group_buy
    consumer = current_consumer(brand)
    skus = group_buys.offer_prices(offer)
    return render_template(
        "campaigns/groups/group.html",
        **_shop_context(brand),
        offer=offer,
        group=group,
        skus=skus,
        members=group_buys.members_of(group),
        left=group_buys.seats_left(group),
        joinable=group_buys.is_joinable(group),
        is_member=group_buys.is_member(group, consumer),
        time_left=time_left(group.expires_at),
        share_url=_group_url(brand, group, external=True),
        status_names=group_buys.GROUP_STATUS_NAMES,
    )


@bp.app_template_global("order_hold")
def order_hold(order: ConsumerOrder) -> dict[str, Any] | None:
    """What a held order waits for, for the storefront's order page: a sentence and its
    group's page (None when it waits for no group)."""
    waiting = group_buys.waiting_for(order)
    if waiting is None:
        return None
    group = waiting.group
    left = time_left(group.expires_at)
    if order.status == ConsumerOrderStatus.AWAITING_PAYMENT:
        text = _(
            "Pay to keep your place: the group needs %(count)d more paid places and has "
            "%(time)s left.",
            count=waiting.more,
            time=left,
        )
    else:
        text = _(
            "Waiting for %(count)d more to join and pay: your group has %(time)s left. "
            "If it does not fill in time, you are refunded in full.",
            count=waiting.more,
            time=left,
        )
    return {
        "more": waiting.more,
        "text": text,
        "url": url_for(
            "campaign_groups.group_page", brand_code=order.brand.code, group_code=group.code
        ),
    }


# -- the same as JSON ------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _group_json(brand: Organization, group: BuyGroup) -> dict[str, Any]:
    return {
        "code": group.code,
        "group_buy": group.group_buy.code,
        "status": group.status,
        "group_size": group.group_buy.group_size,
        "seats_taken": group.seats_taken,
        "seats_paid": group.seats_paid,
        "seats_left": group_buys.seats_left(group),
        "opened_at": _iso(group.opened_at),
        "expires_at": _iso(group.expires_at),
        "joinable": group_buys.is_joinable(group),
        "share_url": _group_url(brand, group, external=True),
    }


@bp.get("/api/v1/shop/<brand_code>/group-buys/<code>")
@public
def offer_json(brand_code: str, code: str):
    brand = shop_brand(brand_code)
    offer = group_buys.find_offer(brand, code)
    return {
        "code": offer.code,
        "name": offer.name,
        "status": offer.status,
        "open": group_buys.is_open(offer),
        "product": {"code": offer.product.code, "name": offer.product.name},
        "currency": offer.product.currency,
        "price_cents": offer.price_cents,
        "group_size": offer.group_size,
        "hours_to_fill": offer.hours_to_fill,
        "units_per_person": offer.units_per_person,
        "groups_per_person": offer.groups_per_person,
        "starts_at": _iso(offer.starts_at),
        "ends_at": _iso(offer.ends_at),
        "skus": [
            {
                "variant_id": sku.variant.id,
                "sku": sku.variant.sku,
                "color": sku.variant.color,
                "size": sku.variant.size,
                "list_cents": sku.list_cents,
                "group_cents": sku.group_cents,
            }
            for sku in group_buys.offer_prices(offer)
        ],
        "open_groups": [_group_json(brand, group) for group in group_buys.open_groups(offer)],
    }


@bp.get("/api/v1/shop/<brand_code>/groups/<group_code>")
@public
def group_json(brand_code: str, group_code: str):
    brand = shop_brand(brand_code)
    group = group_buys.find_group(brand, group_code)
    return {
        **_group_json(brand, group),
        "members": [
            {"name": member.label, "leader": member.is_leader, "paid": member.has_paid}
            for member in group_buys.members_of(group)
        ],
    }


# -- HQ --------------------------------------------------------------------------------------------


class GroupBuyForm(PortalForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=32)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    product_code = StringField(_l("Product code"), validators=[DataRequired(), Length(max=64)])
    price = DecimalField(
        _l("Group price"),
        places=2,
        validators=[DataRequired(), NumberRange(min=Decimal("0.01"), max=Decimal(10**8))],
    )
    group_size = IntegerField(
        _l("People in a group"), default=2, validators=[DataRequired(), NumberRange(2, 1000)]
    )
    hours_to_fill = IntegerField(
        _l("Hours a group has to fill"),
        default=24,
        validators=[DataRequired(), NumberRange(1, group_buys.MAX_HOURS)],
    )
    units_per_person = IntegerField(
        _l("Items per person in an order"), default=1, validators=[DataRequired(), NumberRange(1)]
    )
    groups_per_person = IntegerField(
        _l("Groups per person"), default=1, validators=[DataRequired(), NumberRange(1)]
    )
    starts_at = DateTimeLocalField(_l("Starts"), format=FORMATS, validators=[DataRequired()])
    ends_at = DateTimeLocalField(_l("Ends"), format=FORMATS, validators=[DataRequired()])
    campaign_id = SelectField(_l("Campaign"), coerce=int, validators=[Optional()], choices=[])


def _utc(value: datetime | None) -> datetime | None:
    """People type times in the portal's time zone; the database keeps UTC."""
    return to_utc(value).replace(tzinfo=UTC) if value is not None else None


def _form(brand: Organization) -> GroupBuyForm:
    form = GroupBuyForm()
    campaigns = db.session.execute(
        select(Campaign.id, Campaign.code, Campaign.name)
        .where(Campaign.brand_id == brand.id)
        .order_by(Campaign.starts_at.desc())
    ).all()
    form.campaign_id.choices = [
        SelectChoice(NO_CAMPAIGN, _("None")),
        *(SelectChoice(cid, f"{code} · {name}") for cid, code, name in campaigns),
    ]
    return form


def _input(form: GroupBuyForm) -> group_buys.GroupBuyInput:
    price = form.price.data
    campaign = form.campaign_id.data
    return group_buys.GroupBuyInput(
        code=form.code.data or "",
        name=form.name.data or "",
        product_code=form.product_code.data or "",
        price_cents=to_cents(price) if price is not None else None,
        group_size=form.group_size.data,
        hours_to_fill=form.hours_to_fill.data,
        units_per_person=form.units_per_person.data,
        groups_per_person=form.groups_per_person.data,
        starts_at=_utc(form.starts_at.data),
        ends_at=_utc(form.ends_at.data),
        campaign_id=campaign if campaign and campaign != NO_CAMPAIGN else None,
    )


def _index_page(actor: Actor, brand: Organization, form: GroupBuyForm, status: int = 200):
    offers = group_buys.list_group_buys(actor, brand)
    return render_template(
        "campaigns/groups/index.html",
        brand=brand,
        offers=offers,
        counts=group_buys.group_counts(offers),
        form=form,
        switched_on=terms_for(brand.id).campaigns.group_buys,
        setting=group_buys.SETTING,
        status_names=group_buys.STATUS_NAMES,
        group_status_names=group_buys.GROUP_STATUS_NAMES,
        live=GroupBuyStatus.LIVE,
        format_money=format_money,
    ), status


@bp.get("/campaigns/group-buys/")
@require(Permission.CAMPAIGNS_MANAGE)
def index():
    actor = current_actor()
    brand = campaigns.hq_brand(actor)
    return _index_page(actor, brand, _form(brand))


@bp.post("/campaigns/group-buys/")
@require(Permission.CAMPAIGNS_MANAGE)
def create():
    actor = current_actor()
    brand = campaigns.hq_brand(actor)
    form = _form(brand)
    if form.validate_on_submit():
        try:
            offer = group_buys.create_group_buy(actor, brand, _input(form))
        except DomainError as error:
            transaction.discard()
            apply_errors(form, error)
        else:
            flash(_("Group buy %(code)s drafted: start it when it should open.", code=offer.code))
            return redirect(url_for("campaign_groups.detail", code=offer.code))
    return _index_page(actor, brand, form, 422)


def _load_offer(actor: Actor, code: str) -> GroupBuy:
    """The route's offer, of the actor's own brand (the scoped loader: anyone else a 404)."""
    return group_buys.get_group_buy(actor, campaigns.hq_brand(actor), code)


def _offer(offer: GroupBuy) -> tuple[Actor, Organization, GroupBuy]:
    actor = current_actor()
    return actor, campaigns.hq_brand(actor), offer


def _detail_page(actor: Actor, brand: Organization, offer: GroupBuy, status: int = 200):
    return render_template(
        "campaigns/groups/detail.html",
        brand=brand,
        offer=offer,
        groups=group_buys.list_groups(actor, offer),
        counts=group_buys.group_counts([offer])[offer.id],
        status_names=group_buys.STATUS_NAMES,
        group_status_names=group_buys.GROUP_STATUS_NAMES,
        page_url=url_for("campaign_groups.offer_page", brand_code=brand.code, code=offer.code),
        group_url=lambda group: _group_url(brand, group),
        format_money=format_money,
    ), status


@bp.get("/campaigns/group-buys/<code>")
@require(Permission.CAMPAIGNS_MANAGE, load=_load_offer)
def detail(found: GroupBuy):
    actor, brand, offer = _offer(found)
    return _detail_page(actor, brand, offer)


@bp.post("/campaigns/group-buys/<code>/start")
@require(Permission.CAMPAIGNS_MANAGE, load=_load_offer)
def start(found: GroupBuy):
    actor, brand, offer = _offer(found)
    try:
        group_buys.start_group_buy(actor, offer)
    except DomainError as error:
        transaction.discard()
        flash(error.message, "error")
        return _detail_page(actor, brand, group_buys.get_group_buy(actor, brand, offer.code), 409)
    flash(_("Group buy %(code)s is live.", code=offer.code), "success")
    return redirect(url_for("campaign_groups.detail", code=offer.code))


@bp.post("/campaigns/group-buys/<code>/stop")
@require(Permission.CAMPAIGNS_MANAGE, load=_load_offer)
def stop(found: GroupBuy):
    actor, brand, offer = _offer(found)
    try:
        group_buys.stop_group_buy(actor, offer)
    except DomainError as error:
        transaction.discard()
        flash(error.message, "error")
        return _detail_page(actor, brand, group_buys.get_group_buy(actor, brand, offer.code), 409)
    flash(_("Group buy %(code)s stopped: open groups run out their time.", code=offer.code))
    return redirect(url_for("campaign_groups.detail", code=offer.code))
