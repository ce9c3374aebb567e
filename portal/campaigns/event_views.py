"""Live-sale event pages (portal/campaigns/events.py).

- HQ's (`CAMPAIGNS_MANAGE`, the brand's own HQ; another brand's event is a 404):
  `/campaigns/events/` lists the brand's events with the openings of the guides' entry links;
  `/campaigns/events/new` writes one; an event's page edits it, features items, publishes and
  cancels it, and shows each guide's entries.
- The public page, `/shop/<brand>/live/<code>` (anyone): phone first, in the shop's look: the
  schedule, the link to the live room, the state (starts in / live now / ended), the featured
  items with list and event prices, a coupon's claim link, a group buy's link. A draft, a
  cancelled event or an event of a brand with live events off is a 404.
- A guide's (and a sharer's, `GUIDES_USE`): `/guides/me/events`, the brand's published events not
  over yet, each with the guide's own entry link (the guide link route with target `live` and the
  event's code), its QR code and a poster.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_datetime, to_user_timezone, to_utc
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import DateTimeLocalField, DecimalField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from portal.campaigns import campaigns, events
from portal.campaigns.models import LiveEvent
from portal.core import transaction
from portal.core.access import Actor, Permission, current_actor, public, require
from portal.core.errors import DomainError, NotFound
from portal.core.forms import PortalForm, apply_errors
from portal.core.money import to_cents
from portal.guides import links, qr, roster
from portal.guides.models import Guide, LinkTarget
from portal.members import coupons
from portal.network.models import Organization
from portal.storefront import look
from portal.storefront.auth import current_consumer
from portal.storefront.shops import shop_brand

bp = Blueprint("campaign_events", __name__)
# Each request reads the running events' prices afresh (events.running_prices keeps them in g).
bp.before_app_request(events.forget_running)

FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
# A schedule line: "2026-05-20 20:00 Opening" or "20:00 Opening" (the event's first day).
SCHEDULE_LINE = re.compile(
    r"^\s*(?:(?P<day>\d{4}-\d{2}-\d{2})[ T])?(?P<hour>\d{1,2}):(?P<minute>\d{2})\s+(?P<title>.+)$"
)


# -- forms ----------------------------------------------------------------------------------------


class EventForm(PortalForm):
    code = StringField(_l("Code"), validators=[Length(max=32)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    description = TextAreaField(_l("What viewers read"), validators=[Length(max=500)])
    starts_at = DateTimeLocalField(_l("Starts"), format=FORMATS, validators=[DataRequired()])
    ends_at = DateTimeLocalField(_l("Ends"), format=FORMATS, validators=[DataRequired()])
    room_url = StringField(
        _l("Live room address (http:// or https://)"), validators=[Length(max=500)]
    )
    schedule = TextAreaField(
        _l("Schedule: one line each, a time then a title (20:00 Opening)"),
        validators=[Length(max=6000)],
    )
    campaign = StringField(_l("Campaign code (optional)"), validators=[Length(max=32)])


class ItemForm(PortalForm):
    product_code = StringField(_l("Product code"), validators=[DataRequired(), Length(max=64)])
    event_price = DecimalField(
        _l("Event price"),
        places=2,
        validators=[Optional(), NumberRange(min=Decimal("0.01"), max=Decimal(10**8))],
    )
    coupon_code = StringField(_l("or a coupon's code"), validators=[Length(max=32)])
    group_buy_code = StringField(_l("or a group buy's code"), validators=[Length(max=32)])


def _utc(value: datetime | None) -> datetime | None:
    """People type times in the portal's time zone; the database keeps UTC."""
    return to_utc(value).replace(tzinfo=UTC) if value is not None else None


def _local(value: datetime) -> datetime:
    return to_user_timezone(value).replace(tzinfo=None)


def _schedule_text(event: LiveEvent) -> str:
    return "\n".join(
        f"{_local(line.at):%Y-%m-%d %H:%M} {line.title}"
        for line in events.schedule_of(event)
        if line.at is not None
    )


def _parse_schedule(text: str, first_day: date | None) -> tuple[list[events.ScheduleLine], str]:
    """The typed programme as lines in UTC, and what could not be read (by line)."""
    lines: list[events.ScheduleLine] = []
    problems: list[str] = []
    for number, raw in enumerate((text or "").splitlines(), start=1):
        if not raw.strip():
            continue
        found = SCHEDULE_LINE.match(raw)
        at: datetime | None = None
        if found is not None:
            try:
                day = date.fromisoformat(found["day"]) if found["day"] else first_day
                clock = time(int(found["hour"]), int(found["minute"]))
            except ValueError:
                day = None
            if day is not None:
                at = _utc(datetime.combine(day, clock))
        if found is None or at is None:
            problems.append(
                _("Line %(line)d: a time (20:00 or 2026-05-20 20:00), then a title.", line=number)
            )
            continue
        lines.append(events.ScheduleLine(at, found["title"].strip()))
    return lines, " ".join(problems)


def _event_form(event: LiveEvent | None = None) -> EventForm:
    """The settings form: as posted, or (a GET of an event's page) as the event stands."""
    form = EventForm()
    if event is not None and request.method == "GET":
        form.code.data, form.name.data = event.code, event.name
        form.description.data = event.description
        form.starts_at.data, form.ends_at.data = _local(event.starts_at), _local(event.ends_at)
        form.room_url.data = event.room_url
        form.schedule.data = _schedule_text(event)
        form.campaign.data = event.campaign.code if event.campaign is not None else ""
    return form


def _event_input(form: EventForm) -> events.EventInput | None:
    """What the form asks for, or None (the schedule's field says why) when its schedule
    cannot be read."""
    starts = form.starts_at.data
    lines, problems = _parse_schedule(form.schedule.data or "", starts.date() if starts else None)
    if problems:
        form.schedule.errors = [*list(form.schedule.errors or []), problems]
        return None
    return events.EventInput(
        code=form.code.data or "",
        name=form.name.data or "",
        description=form.description.data or "",
        starts_at=_utc(form.starts_at.data),
        ends_at=_utc(form.ends_at.data),
        room_url=form.room_url.data or "",
        schedule=lines,
        campaign_code=form.campaign.data or "",
    )


# -- HQ -------------------------------------------------------------------------------------------


def _status_names() -> dict[str, Any]:
    return {str(status): name for status, name in events.STATUS_NAMES.items()}


def _new_page(brand: Organization, form: EventForm, status: int = 200):
    return render_template(
        "campaigns/events/hq_new.html",
        brand=brand,
        form=form,
        is_on=events.live_events_on(brand.id),
        setting=events.SETTING,
    ), status


@bp.get("/campaigns/events/")
@require(Permission.CAMPAIGNS_MANAGE)
def index():
    actor = current_actor()
    brand = campaigns.hq_brand(actor)
    found = events.list_events(actor)
    return render_template(
        "campaigns/events/hq_list.html",
        brand=brand,
        events=found,
        views=events.views_by_event(brand.id, [event.code for event in found]),
        states={event.id: events.state(event) for event in found},
        status_names=_status_names(),
        is_on=events.live_events_on(brand.id),
        setting=events.SETTING,
    )


@bp.get("/campaigns/events/new")
@require(Permission.CAMPAIGNS_MANAGE)
def new():
    brand = campaigns.hq_brand(current_actor())
    return _new_page(brand, _event_form())


@bp.post("/campaigns/events/new")
@require(Permission.CAMPAIGNS_MANAGE)
def create():
    actor = current_actor()
    brand = campaigns.hq_brand(actor)
    form = _event_form()
    if form.validate_on_submit():
        data = _event_input(form)
        if data is not None:
            try:
                event = events.create_event(actor, brand, data)
            except DomainError as error:
                transaction.discard()
                apply_errors(form, error)
            else:
                flash(_("Event %(code)s drafted: feature its items, then publish it.",
                        code=event.code), "success")  # fmt: skip
                return redirect(_detail_url(event))
    return _new_page(brand, form, 422)


def _detail_url(event: LiveEvent) -> str:
    return url_for("campaign_events.detail", code=event.code)


def _detail_page(
    event: LiveEvent,
    *,
    form: EventForm | None = None,
    item_form: ItemForm | None = None,
    status: int = 200,
):
    brand = campaigns.hq_brand(current_actor())
    return render_template(
        "campaigns/events/hq_detail.html",
        brand=brand,
        event=event,
        form=form or _event_form(event),
        item_form=item_form or ItemForm(prefix="item"),
        featured=events.featured(event),
        schedule=events.schedule_of(event),
        state=events.state(event),
        views=events.views_by_event(brand.id, [event.code]).get(event.code, 0),
        guides=events.entries_by_guide(event),
        status_names=_status_names(),
        is_on=events.live_events_on(brand.id),
        setting=events.SETTING,
        page_url=url_for("campaign_events.event_page", brand_code=brand.code, code=event.code),
        group_url=_group_buy_url,
        coupon_label=coupons.label,
    ), status


@bp.get("/campaigns/events/<code>")
@require(Permission.CAMPAIGNS_MANAGE, load=events.get_event)
def detail(event: LiveEvent):
    return _detail_page(event)


@bp.post("/campaigns/events/<code>")
@require(Permission.CAMPAIGNS_MANAGE, load=events.get_event)
def update(event: LiveEvent):
    form = _event_form(event)
    if form.validate_on_submit():
        data = _event_input(form)
        if data is not None:
            try:
                events.update_event(current_actor(), event, data)
            except DomainError as error:
                transaction.discard()
                apply_errors(form, error)
            else:
                flash(_("Saved."), "success")
                return redirect(_detail_url(event))
    return _detail_page(events.get_event(current_actor(), event.code), form=form, status=422)


@bp.post("/campaigns/events/<code>/items")
@require(Permission.CAMPAIGNS_MANAGE, load=events.get_event)
def item_add(event: LiveEvent):
    form = ItemForm(prefix="item")
    if form.validate_on_submit():
        price = form.event_price.data
        try:
            events.add_item(
                current_actor(),
                event,
                events.ItemInput(
                    product_code=form.product_code.data or "",
                    event_price_cents=to_cents(price) if price is not None else None,
                    coupon_code=form.coupon_code.data or "",
                    group_buy_code=form.group_buy_code.data or "",
                ),
            )
        except DomainError as error:
            transaction.discard()
            apply_errors(form, error)
        else:
            flash(_("Item featured."), "success")
            return redirect(_detail_url(event))
    return _detail_page(events.get_event(current_actor(), event.code), item_form=form, status=422)


def _event_of_item(actor: Actor, code: str, **_item: int) -> LiveEvent:
    """The scoped loader of a route about one item of an event: the event (another brand's is
    a 404 before the role is asked)."""
    return events.get_event(actor, code)


@bp.post("/campaigns/events/<code>/items/<int:item_id>/remove")
@require(Permission.CAMPAIGNS_MANAGE, load=_event_of_item)
def item_remove(event: LiveEvent):
    actor = current_actor()
    item_id = int((request.view_args or {})["item_id"])
    try:
        events.remove_item(actor, event, item_id)
    except DomainError as error:
        if error.status == 404:
            raise
        transaction.discard()
        flash(error.message, "error")
        return _detail_page(events.get_event(actor, event.code), status=error.status)
    flash(_("Item removed."), "success")
    return redirect(_detail_url(event))


def _step(event: LiveEvent, step: Any, done: str):
    actor = current_actor()
    try:
        step(actor, event)
    except DomainError as error:
        if error.status == 404:
            raise
        transaction.discard()
        flash(" ".join([error.message, *error.fields.values()]), "error")
        return _detail_page(events.get_event(actor, event.code), status=error.status)
    flash(done, "success")
    return redirect(_detail_url(event))


@bp.post("/campaigns/events/<code>/publish")
@require(Permission.CAMPAIGNS_MANAGE, load=events.get_event)
def publish(event: LiveEvent):
    return _step(event, events.publish_event, _("Published: the page is open and guides share it."))


@bp.post("/campaigns/events/<code>/cancel")
@require(Permission.CAMPAIGNS_MANAGE, load=events.get_event)
def cancel(event: LiveEvent):
    return _step(event, events.cancel_event, _("Cancelled: the page and its prices are gone."))


# -- the public page ------------------------------------------------------------------------------


def _group_buy_url(brand: Organization, code: str) -> str:
    return url_for("campaign_groups.offer_page", brand_code=brand.code, code=code)


@bp.get("/shop/<brand_code>/live/<code>")
@public
def event_page(brand_code: str, code: str):
    brand = shop_brand(brand_code)
    event = events.find_public_event(brand, code)
    consumer = current_consumer(brand)
    settings = look.find_look(brand.id)
    return render_template(
        "campaigns/events/page.html",
        brand=brand,
        shop=settings,
        title=look.shop_title(brand, settings),
        shop_consumer=consumer,
        event=event,
        state=events.state(event),
        schedule=events.schedule_of(event),
        featured=events.featured(event, consumer),
        group_url=_group_buy_url,
        coupon_label=coupons.label,
    )


# -- a guide's entry links ------------------------------------------------------------------------


def _guide_brand(actor: Actor) -> tuple[Organization, list[Organization]]:
    return roster.my_brands(actor, request.args.get("brand"))


def _my_guide(actor: Actor, brand: Organization) -> Guide:
    return roster.my_guide(actor, brand)


def _entry_url(guide: Guide, brand: Organization, event: LiveEvent) -> str:
    return links.share_url(brand.code, links.make_token(guide, LinkTarget.LIVE, event.code))


@bp.get("/guides/me/events")
@require(Permission.GUIDES_USE)
def my_links():
    actor = current_actor()
    brand, brands = _guide_brand(actor)
    guide = _my_guide(actor, brand)
    shared = events.shareable_events(brand.id) if guide.is_active else []
    return render_template(
        "campaigns/events/my_links.html",
        brand=brand,
        brands=brands,
        guide=guide,
        rows=[(event, events.state(event), _entry_url(guide, brand, event)) for event in shared],
    )


def _my_event(code: str) -> tuple[Guide, Organization, LiveEvent, str]:
    """The guide, the brand, one of its shareable events and the guide's entry link to it."""
    actor = current_actor()
    brand, _brands = _guide_brand(actor)
    guide = _my_guide(actor, brand)
    wanted = (code or "").strip().upper()
    event = next((e for e in events.shareable_events(brand.id) if e.code == wanted), None)
    if not guide.is_active or event is None:
        raise NotFound()
    return guide, brand, event, _entry_url(guide, brand, event)


def _download(body: bytes | str, mimetype: str, name: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'inline; filename="{name}"'
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


@bp.get("/guides/me/events/<code>/qr.svg")
@require(Permission.GUIDES_USE)
def my_qr(code: str):
    guide, _brand, event, url = _my_event(code)
    body = qr.qr_svg(url, title=event.name)
    return _download(body, "image/svg+xml", f"{guide.code}-live-{event.code}-qr.svg")


def _poster(guide: Guide, brand: Organization, event: LiveEvent, url: str) -> qr.Poster:
    settings = look.find_look(brand.id)
    color = settings.primary_color if settings is not None else look.DEFAULT_PRIMARY
    return qr.Poster(
        url=url,
        color=color,
        brand=qr.Text(look.shop_title(brand, settings), brand.code),
        title=qr.Text(event.name, event.code),
        price=qr.Text(
            format_datetime(event.starts_at, "short"), f"{_local(event.starts_at):%Y-%m-%d %H:%M}"
        ),
        guide_code=guide.code,
        caption=qr.Text(_("Scan to watch and shop live"), "Scan to watch and shop live"),
        code_label=qr.Text(_("Guide code"), "Guide code"),
    )


@bp.get("/guides/me/events/<code>/poster.png")
@require(Permission.GUIDES_USE)
def my_poster_png(code: str):
    guide, brand, event, url = _my_event(code)
    font = current_app.config.get("POSTER_FONT_PATH") or None
    body = qr.poster_png(_poster(guide, brand, event, url), font_path=font)
    return _download(body, "image/png", f"{guide.code}-live-{event.code}-poster.png")


@bp.get("/guides/me/events/<code>/poster.svg")
@require(Permission.GUIDES_USE)
def my_poster_svg(code: str):
    guide, brand, event, url = _my_event(code)
    body = qr.poster_svg(_poster(guide, brand, event, url))
    return _download(body, "image/svg+xml", f"{guide.code}-live-{event.code}-poster.svg")
