"""Live-sale events (issue 22, "Events"): the brand streams on a platform of its choice; the
portal shows the event's page (`/shop/<brand>/live/<code>`: the schedule, a link to the live
room, the featured items with their event prices, coupons or group buys) and every guide shares
their own entry link to it (`LinkTarget.LIVE`, ref = the event's code), so the orders that follow
are attributed as any guide link's are.

HQ (`CAMPAIGNS_MANAGE`, the brand's own HQ; anyone else's event is a 404) writes an event
(`create_event`, `update_event`), features products with at most one offer each (`add_item`), then
publishes it (`publish_event`) or cancels it (`cancel_event`). Nothing of it is written, and no
page shows, unless the brand's programme terms turn live events on
(`terms_for(brand).campaigns.live_events`): a refusal names that setting.

Event prices (`adjust_prices`, a storefront price adjuster registered by `plug`): on the official
storefront, every SKU of a product featured with an event price in a published event whose
window holds now costs the event price when that is lower, never below the SKU's retail floor.
Listing, product page, cart and checkout all price through the adjusters, so they agree. It runs
on every priced page: one query a request per brand (`running_prices`, kept in `flask.g`), and
nothing more when the brand has no event running.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask import g, has_request_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import String, cast, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from portal.campaigns import add_once, campaigns
from portal.campaigns.models import Campaign, EventStatus, GroupBuy, LiveEvent, LiveEventItem
from portal.catalog.models import Product, Variant
from portal.core import audit
from portal.core.access import Actor, Permission
from portal.core.db import utcnow
from portal.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from portal.extensions import db
from portal.guides.models import Guide, GuideVisit, LinkTarget
from portal.members.coupon_models import CouponTemplate, Distribution, TemplateStatus
from portal.network.models import Organization, User
from portal.policy.consumer_terms import terms_for
from portal.storefront import catalog, hooks
from portal.storefront.catalog import LinePrice
from portal.storefront.models import Consumer, Tier
from portal.storefront.words import say, say_money

CODE = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,31}\Z")
MAX_NAME = 120
MAX_DESCRIPTION = 500
MAX_URL = 500
MAX_SCHEDULE = 30  # lines of the programme
MAX_TITLE = 120  # of one line
MAX_ITEMS = 50
MAX_CENTS = 10**10
SETTING = "campaigns.live_events"  # where the brand turns live events on (programme terms)
STATUS_NAMES = {
    EventStatus.DRAFT: _l("Draft"),
    EventStatus.PUBLISHED: _l("Published"),
    EventStatus.CANCELLED: _l("Cancelled"),
}
# flask.g key: brand id -> {product id: event price} of the events running now (this request).
_RUNNING = "campaign_event_prices"


class LiveEventsOff(DomainError):
    """The brand's terms do not turn live events on."""

    code = "live_events_off"
    status = 409


class EventState:
    COMING = "coming"
    LIVE = "live"
    ENDED = "ended"


@dataclass(frozen=True)
class ScheduleLine:
    at: datetime | None  # UTC
    title: str


@dataclass(frozen=True)
class EventInput:
    code: str
    name: str
    starts_at: datetime | None
    ends_at: datetime | None
    room_url: str = ""
    description: str = ""
    schedule: Sequence[ScheduleLine] = ()
    campaign_code: str = ""  # empty: no campaign


@dataclass(frozen=True)
class ItemInput:
    product_code: str
    event_price_cents: int | None = None
    coupon_code: str = ""  # a coupon template's code
    group_buy_code: str = ""


# -- the brand's switch ---------------------------------------------------------------------------


def live_events_on(brand_id: int) -> bool:
    return terms_for(brand_id).campaigns.live_events


def ensure_live_events_on(brand_id: int) -> None:
    if not live_events_on(brand_id):
        raise LiveEventsOff(
            say(
                _l(
                    "Live events are off for this brand: turn on the setting %(setting)s in "
                    "the brand's programme terms (its retail policy) first."
                ),
                setting=SETTING,
            )
        )


# -- who and which event --------------------------------------------------------------------------


def get_event(actor: Actor, code: str) -> LiveEvent:
    """The event of that code of the actor's own brand (HQ), items loaded; anyone else's: 404.
    A scoped loader (`@require(..., load=get_event)`)."""
    if not actor.is_hq or actor.org_id is None:
        raise NotFound()
    event = _find(actor.org_id, code)
    if event is None:
        raise NotFound()
    return event


def _find(brand_id: int, code: str) -> LiveEvent | None:
    return db.session.execute(
        select(LiveEvent)
        .where(LiveEvent.brand_id == brand_id, LiveEvent.code == (code or "").strip().upper()[:32])
        .options(selectinload(LiveEvent.items).selectinload(LiveEventItem.product))
    ).scalar_one_or_none()


def list_events(actor: Actor) -> list[LiveEvent]:
    """The actor's brand's events, newest first (HQ only)."""
    brand = campaigns.hq_brand(actor)
    actor.ensure(Permission.CAMPAIGNS_MANAGE)
    return list(
        db.session.execute(
            select(LiveEvent)
            .where(LiveEvent.brand_id == brand.id)
            .order_by(LiveEvent.starts_at.desc(), LiveEvent.id.desc())
        ).scalars()
    )


def state(event: LiveEvent, now: datetime | None = None) -> str:
    """Whether the event is still to start, running or over (by its window)."""
    now = now or utcnow()
    if now < event.starts_at:
        return EventState.COMING
    if now < event.ends_at:
        return EventState.LIVE
    return EventState.ENDED


def schedule_of(event: LiveEvent) -> list[ScheduleLine]:
    """The programme as times and titles, in order."""
    lines = []
    for entry in event.schedule or []:
        try:
            at = datetime.fromisoformat(str(entry.get("at")))
        except (TypeError, ValueError):
            continue
        lines.append(ScheduleLine(at, str(entry.get("title", ""))))
    return sorted(lines, key=lambda line: line.at or event.starts_at)


# -- checking what HQ typed -----------------------------------------------------------------------


def valid_room_url(raw: str) -> bool:
    """An absolute http(s) address with a host: the live room on the brand's platform."""
    if not raw or len(raw) > MAX_URL or any(ch.isspace() for ch in raw):
        return False
    try:
        parts = urlsplit(raw)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _check_event(brand: Organization, data: EventInput, *, new: bool) -> dict[str, Any]:
    """The event's column values, or ValidationFailed naming every wrong field."""
    errors: dict[str, str] = {}
    code = (data.code or "").strip().upper()
    if new and not CODE.match(code):
        errors["code"] = say(_l("Letters, digits, - and _, at most 32."))
    name = (data.name or "").strip()
    if not name or len(name) > MAX_NAME:
        errors["name"] = say(_l("A name of at most %(count)d characters."), count=MAX_NAME)
    description = (data.description or "").strip()
    if len(description) > MAX_DESCRIPTION:
        errors["description"] = say(_l("At most %(count)d characters."), count=MAX_DESCRIPTION)
    starts, ends = data.starts_at, data.ends_at
    if starts is None:
        errors["starts_at"] = say(_l("When the event starts."))
    if ends is None:
        errors["ends_at"] = say(_l("When the event ends."))
    elif starts is not None and ends <= starts:
        errors["ends_at"] = say(_l("The event must end after it starts."))
    elif new and ends <= utcnow():
        errors["ends_at"] = say(_l("The end must be in the future."))
    room_url = (data.room_url or "").strip()
    if room_url and not valid_room_url(room_url):
        errors["room_url"] = say(
            _l("The live room's full address, starting with http:// or https://.")
        )
    schedule = _check_schedule(data.schedule, starts, ends, errors)
    campaign_id = _campaign_id(brand, data.campaign_code, errors)
    if errors:
        raise ValidationFailed(say(_l("The event has mistakes.")), fields=errors)
    values: dict[str, Any] = {
        "name": name,
        "description": description,
        "starts_at": starts,
        "ends_at": ends,
        "room_url": room_url,
        "schedule": schedule,
        "campaign_id": campaign_id,
    }
    if new:
        values["code"] = code
    return values


def _check_schedule(
    lines: Sequence[ScheduleLine],
    starts: datetime | None,
    ends: datetime | None,
    errors: dict[str, str],
) -> list[dict[str, str]]:
    """The programme as stored (in time order), or its mistakes on `schedule`, by line."""
    if len(lines) > MAX_SCHEDULE:
        errors["schedule"] = say(_l("At most %(count)d lines."), count=MAX_SCHEDULE)
        return []
    problems = []
    for number, line in enumerate(lines, start=1):
        title = (line.title or "").strip()
        if line.at is None:
            problems.append(say(_l("Line %(line)d: a time."), line=number))
        elif starts is not None and ends is not None and not starts <= line.at <= ends:
            problems.append(
                say(_l("Line %(line)d: the time is outside the event's window."), line=number)
            )
        if not title or len(title) > MAX_TITLE:
            problems.append(
                say(
                    _l("Line %(line)d: a title of at most %(count)d characters."),
                    line=number,
                    count=MAX_TITLE,
                )
            )
    if problems:
        errors["schedule"] = " ".join(problems)
        return []
    ordered = sorted(lines, key=lambda line: line.at or datetime.min)
    return [{"at": line.at.isoformat(), "title": line.title.strip()} for line in ordered if line.at]


def _campaign_id(brand: Organization, code: str, errors: dict[str, str]) -> int | None:
    code = (code or "").strip().upper()
    if not code:
        return None
    found = db.session.execute(
        select(Campaign.id).where(Campaign.brand_id == brand.id, Campaign.code == code[:32])
    ).scalar_one_or_none()
    if found is None:
        errors["campaign"] = say(_l("No campaign of the brand has this code."))
    return found


# -- writing an event -----------------------------------------------------------------------------


def _forget_running(brand_id: int) -> None:
    """A change to the brand's events: this request's prices are read again."""
    if has_request_context():
        g.get(_RUNNING, {}).pop(brand_id, None)


def _ensure_changeable(event: LiveEvent) -> None:
    if event.status == EventStatus.CANCELLED:
        raise Conflict(say(_l("A cancelled event no longer changes.")))


def create_event(actor: Actor, brand: Organization, data: EventInput) -> LiveEvent:
    """A draft event of the brand. Refused (LiveEventsOff) while the brand's terms keep live
    events off; ValidationFailed naming each wrong field (a code the brand already uses, a room
    address that is not http(s), a schedule line outside the window)."""
    campaigns.ensure_hq(actor, brand.id)
    ensure_live_events_on(brand.id)
    values = _check_event(brand, data, new=True)
    event = LiveEvent(brand_id=brand.id, created_by_user_id=actor.user_id, **values)
    try:
        with db.session.begin_nested():
            db.session.add(event)
            db.session.flush()
    except IntegrityError:
        raise ValidationFailed(
            say(_l("The event has mistakes.")),
            fields={"code": say(_l("Another event of the brand has this code."))},
        ) from None
    audit.record(actor, "campaigns.event_created", brand_id=brand.id, code=event.code)
    return event


def update_event(actor: Actor, event: LiveEvent, data: EventInput) -> LiveEvent:
    """Change a draft's or a published event's settings (its code stays). Refused for a
    cancelled event, and as `create_event` refuses."""
    campaigns.ensure_hq(actor, event.brand_id)
    ensure_live_events_on(event.brand_id)
    _ensure_changeable(event)
    values = _check_event(_brand_of(event), data, new=False)
    for name, value in values.items():
        setattr(event, name, value)
    db.session.flush()
    _forget_running(event.brand_id)
    audit.record(actor, "campaigns.event_updated", brand_id=event.brand_id, code=event.code)
    return event


def _brand_of(event: LiveEvent) -> Organization:
    return db.session.execute(
        select(Organization).where(Organization.id == event.brand_id)
    ).scalar_one()


def _lock(event: LiveEvent) -> LiveEvent:
    """The event again under its row lock: status changes take turns."""
    return db.session.execute(
        select(LiveEvent)
        .where(LiveEvent.id == event.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def publish_event(actor: Actor, event: LiveEvent) -> LiveEvent:
    """Show a draft on its page and to the guides. Needs the live room's address and an end in
    the future (ValidationFailed naming the field); Conflict for an event not a draft."""
    campaigns.ensure_hq(actor, event.brand_id)
    ensure_live_events_on(event.brand_id)
    event = _lock(event)
    if event.status != EventStatus.DRAFT:
        raise Conflict(say(_l("Only a draft is published.")))
    errors: dict[str, str] = {}
    if not event.room_url:
        errors["room_url"] = say(_l("The live room's address: the page links to it."))
    if event.ends_at <= utcnow():
        errors["ends_at"] = say(_l("The event has ended already."))
    if errors:
        raise ValidationFailed(say(_l("The event cannot be published yet.")), fields=errors)
    event.status = EventStatus.PUBLISHED
    event.published_at = utcnow()
    db.session.flush()
    _forget_running(event.brand_id)
    audit.record(actor, "campaigns.event_published", brand_id=event.brand_id, code=event.code)
    return event


def cancel_event(actor: Actor, event: LiveEvent) -> LiveEvent:
    """Take a draft or a published event down: its page is gone and its prices stop at once.
    Conflict when it is cancelled already. (Allowed with live events off: it only takes down.)"""
    campaigns.ensure_hq(actor, event.brand_id)
    event = _lock(event)
    _ensure_changeable(event)
    event.status = EventStatus.CANCELLED
    db.session.flush()
    _forget_running(event.brand_id)
    audit.record(actor, "campaigns.event_cancelled", brand_id=event.brand_id, code=event.code)
    return event


# -- featured items -------------------------------------------------------------------------------


def _item_values(event: LiveEvent, data: ItemInput) -> dict[str, Any]:
    """The item's column values, or ValidationFailed naming every wrong field."""
    errors: dict[str, str] = {}
    product = catalog.find_active_product(event.brand_id, data.product_code or "")
    if product is None:
        errors["product_code"] = say(_l("No active product of the brand has this code."))
    elif any(item.product_id == product.id for item in event.items):
        errors["product_code"] = say(_l("Already featured: remove it first to change its offer."))
    coupon_code = (data.coupon_code or "").strip()
    group_code = (data.group_buy_code or "").strip().upper()
    offers = [
        name
        for name, given in (
            ("event_price", data.event_price_cents is not None),
            ("coupon_code", bool(coupon_code)),
            ("group_buy_code", bool(group_code)),
        )
        if given
    ]
    if len(offers) > 1:
        for name in offers:
            errors[name] = say(_l("One offer per item: an event price, a coupon or a group buy."))
        raise ValidationFailed(say(_l("The item has mistakes.")), fields=errors)
    values: dict[str, Any] = {}
    price = data.event_price_cents
    if price is not None:
        if isinstance(price, bool) or not isinstance(price, int) or not 0 < price < MAX_CENTS:
            errors["event_price"] = say(_l("An amount above zero."))
        elif product is not None:
            _check_price(event.brand_id, product, price, errors)
        values["event_price_cents"] = price
    if coupon_code:
        template = _coupon_template(event.brand_id, coupon_code)
        if template is None:
            errors["coupon_code"] = say(
                _l("No active coupon of the brand that members claim has this code.")
            )
        else:
            values["coupon_template_id"] = template.id
    if group_code:
        group_buy = db.session.execute(
            select(GroupBuy).where(
                GroupBuy.brand_id == event.brand_id, GroupBuy.code == group_code[:32]
            )
        ).scalar_one_or_none()
        if group_buy is None:
            errors["group_buy_code"] = say(_l("No group buy of the brand has this code."))
        elif product is not None and group_buy.product_id != product.id:
            errors["group_buy_code"] = say(_l("This group buy sells another product."))
        else:
            values["group_buy_id"] = group_buy.id
    if len(event.items) >= MAX_ITEMS:
        errors["product_code"] = say(_l("At most %(count)d items."), count=MAX_ITEMS)
    if errors:
        raise ValidationFailed(say(_l("The item has mistakes.")), fields=errors)
    assert product is not None
    values["product_id"] = product.id
    return values


def _check_price(brand_id: int, product: Product, price: int, errors: dict[str, str]) -> None:
    """An event price is below what the official shop charges and never below the floor."""
    lines = catalog.price_product(brand_id, Tier.OFFICIAL, product.id)
    if not lines:
        errors["product_code"] = say(_l("The official shop does not sell this product."))
        return
    floor = catalog.highest_floor(lines)
    if floor is not None and price < floor:
        errors["event_price"] = say(
            _l("At least %(floor)s: the brand's floor for this product."),
            floor=say_money(floor, product.currency),
        )
    elif price >= max(line.cents for line in lines.values()):
        errors["event_price"] = say(
            _l("Below the shop's price (%(price)s), or it changes nothing."),
            price=say_money(max(line.cents for line in lines.values()), product.currency),
        )


def _coupon_template(brand_id: int, code: str) -> CouponTemplate | None:
    """An active template of the brand that members claim (on their page or by its link)."""
    return db.session.execute(
        select(CouponTemplate).where(
            CouponTemplate.brand_id == brand_id,
            CouponTemplate.code == code[:32],
            CouponTemplate.status == TemplateStatus.ACTIVE,
            CouponTemplate.distribution.in_((Distribution.CLAIM, Distribution.LINK)),
        )
    ).scalar_one_or_none()


def add_item(actor: Actor, event: LiveEvent, data: ItemInput) -> LiveEventItem:
    """Feature a product of the brand, with at most one offer: an event price (above zero, not
    below the product's retail floor, below the official price), a coupon template members
    claim, or a group buy of that product. ValidationFailed naming the field; nothing written."""
    campaigns.ensure_hq(actor, event.brand_id)
    ensure_live_events_on(event.brand_id)
    _ensure_changeable(event)
    values = _item_values(event, data)
    position = max((item.position for item in event.items), default=0) + 1
    item = LiveEventItem(event_id=event.id, position=position, **values)
    try:
        with db.session.begin_nested():
            db.session.add(item)
            db.session.flush()
    except IntegrityError:
        raise ValidationFailed(
            say(_l("The item has mistakes.")),
            fields={"product_code": say(_l("Already featured: remove it first."))},
        ) from None
    db.session.refresh(event, attribute_names=["items"])
    _forget_running(event.brand_id)
    audit.record(
        actor,
        "campaigns.event_item_added",
        brand_id=event.brand_id,
        code=event.code,
        product_id=item.product_id,
    )
    return item


def remove_item(actor: Actor, event: LiveEvent, item_id: int) -> None:
    """Stop featuring one item (its offer goes with it). NotFound for another event's item."""
    campaigns.ensure_hq(actor, event.brand_id)
    _ensure_changeable(event)
    item = next((item for item in event.items if item.id == item_id), None)
    if item is None:
        raise NotFound()
    event.items.remove(item)
    db.session.flush()
    _forget_running(event.brand_id)
    audit.record(
        actor,
        "campaigns.event_item_removed",
        brand_id=event.brand_id,
        code=event.code,
        product_id=item.product_id,
    )


# -- event prices (a storefront price adjuster) ---------------------------------------------------


def _read_running_prices(brand_id: int) -> dict[int, int]:
    now = utcnow()
    rows = db.session.execute(
        select(LiveEventItem.product_id, func.min(LiveEventItem.event_price_cents))
        .join(LiveEvent, LiveEvent.id == LiveEventItem.event_id)
        .where(
            LiveEvent.brand_id == brand_id,
            LiveEvent.status == EventStatus.PUBLISHED,
            LiveEvent.starts_at <= now,
            LiveEvent.ends_at > now,
            LiveEventItem.event_price_cents.is_not(None),
        )
        .group_by(LiveEventItem.product_id)
    ).tuples()
    prices = {product_id: cents for product_id, cents in rows if cents is not None}
    if prices and not live_events_on(brand_id):
        return {}  # the brand turned events off: their pages are gone, and their prices
    return prices


def running_prices(brand_id: int) -> dict[int, int]:
    """Product id -> event price, of the brand's published events running now. Kept for the
    request (a page prices many times); read each time outside one."""
    if not has_request_context():
        return _read_running_prices(brand_id)
    kept: dict[int, dict[int, int]] = g.setdefault(_RUNNING, {})
    if brand_id not in kept:
        kept[brand_id] = _read_running_prices(brand_id)
    return kept[brand_id]


def forget_running() -> None:
    """Each request reads the running events afresh (tests run many in one app context)."""
    g.pop(_RUNNING, None)


def adjust_prices(
    brand_id: int, tier: str, consumer: Consumer | None, prices: dict[int, LinePrice]
) -> None:
    """The official storefront's price of a SKU featured with an event price in a running
    event: the event price when lower, never below the SKU's floor."""
    if tier != Tier.OFFICIAL or not prices:
        return
    running = running_prices(brand_id)
    if not running:
        return
    for variant_id, line in prices.items():
        cents = running.get(line.variant.product_id)
        if cents is None:
            continue
        if line.floor_cents is not None:
            cents = max(cents, line.floor_cents)
        if cents < line.cents:
            prices[variant_id] = dataclasses.replace(line, cents=cents)


def plug() -> None:
    """Register this module's hooks (idempotent)."""
    add_once(hooks.price_adjusters, adjust_prices)


# -- the public page and the guides' -------------------------------------------------------------


def find_public_event(brand: Organization, code: str) -> LiveEvent:
    """A published event of the brand while its terms turn live events on; a draft, a
    cancelled event or any event of a brand with live events off is a 404."""
    event = _find(brand.id, code)
    if event is None or event.status != EventStatus.PUBLISHED or not live_events_on(brand.id):
        raise NotFound()
    return event


@dataclass(frozen=True)
class Featured:
    """One featured item as the event's page shows it."""

    item: LiveEventItem
    product: Product
    list_cents: int  # the product's list price (MSRP)
    shop_cents: int | None  # the lowest the official shop charges now (None: not listed)
    event_cents: int | None  # the event price as charged (raised to the floor if need be)
    coupon: CouponTemplate | None = None
    group_buy: GroupBuy | None = None


def featured(event: LiveEvent, consumer: Consumer | None = None) -> list[Featured]:
    """The event's items with their prices, coupons and group buys, in order (a few queries
    for the whole list)."""
    items = [item for item in event.items if item.product.is_active]
    if not items:
        return []
    product_ids = [item.product_id for item in items]
    rows = db.session.execute(
        select(Variant.id, Variant.product_id).where(Variant.product_id.in_(product_ids))
    ).tuples()
    by_variant = {variant_id: product_id for variant_id, product_id in rows}
    prices = catalog.price_variants(
        event.brand_id, Tier.OFFICIAL, list(by_variant), consumer=consumer
    )
    lines: dict[int, dict[int, LinePrice]] = {}
    for variant_id, line in prices.items():
        lines.setdefault(by_variant[variant_id], {})[variant_id] = line
    coupons = _by_id(CouponTemplate, [i.coupon_template_id for i in items])
    group_buys = _by_id(GroupBuy, [i.group_buy_id for i in items])
    shown = []
    for item in sorted(items, key=lambda i: (i.position, i.id)):
        own = lines.get(item.product_id, {})
        event_cents = item.event_price_cents
        floor = catalog.highest_floor(own)
        if event_cents is not None and floor is not None:
            event_cents = max(event_cents, floor)
        shown.append(
            Featured(
                item=item,
                product=item.product,
                list_cents=item.product.msrp_cents,
                shop_cents=min((line.cents for line in own.values()), default=None),
                event_cents=event_cents,
                coupon=coupons.get(item.coupon_template_id or 0),
                group_buy=group_buys.get(item.group_buy_id or 0),
            )
        )
    return shown


def _by_id(model: Any, ids: list[int | None]) -> dict[int, Any]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    found = db.session.execute(select(model).where(model.id.in_(wanted))).scalars()
    return {row.id: row for row in found}


def shareable_events(brand_id: int) -> list[LiveEvent]:
    """The brand's published events that have not ended, soonest first, for its guides to
    share (none while its terms keep live events off)."""
    if not live_events_on(brand_id):
        return []
    return list(
        db.session.execute(
            select(LiveEvent)
            .where(
                LiveEvent.brand_id == brand_id,
                LiveEvent.status == EventStatus.PUBLISHED,
                LiveEvent.ends_at > utcnow(),
            )
            .order_by(LiveEvent.starts_at, LiveEvent.id)
        ).scalars()
    )


# -- what the guides' links brought ---------------------------------------------------------------


def views_by_event(brand_id: int, codes: Sequence[str]) -> dict[str, int]:
    """Event code -> the openings of guides' entry links to it."""
    if not codes:
        return {}
    rows = db.session.execute(
        select(GuideVisit.ref, func.count(GuideVisit.id))
        .where(
            GuideVisit.brand_id == brand_id,
            GuideVisit.target == LinkTarget.LIVE,
            GuideVisit.ref.in_(list(codes)),
        )
        .group_by(GuideVisit.ref)
    ).tuples()
    return {ref: total for ref, total in rows}


@dataclass(frozen=True)
class GuideEntries:
    guide_code: str
    guide_name: str
    org_name: str
    is_sharer: bool
    entries: int  # openings of the guide's entry link
    people: int  # distinct browsers (or signed-in consumers) among them


def entries_by_guide(event: LiveEvent) -> list[GuideEntries]:
    """Each guide (and sharer) whose entry link to the event was opened, most entries first."""
    # One person: the browser's id, else (a visit from the mini-program) the consumer's.
    person = func.coalesce(
        func.nullif(GuideVisit.visitor, ""), cast(GuideVisit.consumer_id, String)
    )
    rows = db.session.execute(
        select(
            Guide.code,
            User.name,
            Organization.name,
            Guide.kind,
            func.count(GuideVisit.id),
            func.count(func.distinct(person)),
        )
        .join(Guide, Guide.id == GuideVisit.guide_id)
        .join(User, User.id == Guide.user_id)
        .join(Organization, Organization.id == Guide.org_id)
        .where(
            GuideVisit.brand_id == event.brand_id,
            GuideVisit.target == LinkTarget.LIVE,
            GuideVisit.ref == event.code,
        )
        .group_by(Guide.code, User.name, Organization.name, Guide.kind)
        .order_by(func.count(GuideVisit.id).desc(), Guide.code)
    ).tuples()
    return [
        GuideEntries(code, name or "", org, kind != "guide", entries, people)
        for code, name, org, kind, entries, people in rows
    ]
