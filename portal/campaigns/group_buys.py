"""Group buys (拼团, issue 22): an item at a group price when enough people join in time.

HQ (`CAMPAIGNS_MANAGE`, the brand's own HQ) writes an offer (`GroupBuy`: a product, its group
price, never below the product's retail floor, the group's size, the hours a group has to fill,
units per order and groups per person, a window, optionally a campaign) and starts or stops it,
only while the brand's programme terms turn group buys on (`campaigns.group_buys`).

Joining is an ordinary checkout on the official storefront with `CheckoutExtras(group_buy=...,
group=...)` (a group's code to join one, none to open one):

- `before_place`: the buyer's row lock first (before the order's row refers to them, as the
  members' steps do), then the checks that need no group lock: the lines are SKUs of the offer's
  product only, at most `units_per_person` units; to open a group the offer is live and in its
  window; to join one, the group is open, not past its time, not full, and the buyer not in it
  yet (an offer HQ stopped, or whose window ended, still fills the groups already open: they run
  out their time); the buyer is in fewer than `groups_per_person` groups of the offer (groups
  they left or that failed do not count). The lines then cost the group price (never below a
  SKU's floor, should the floor have risen since).
- `after_place`: a new group (the buyer leads it; it expires `hours_to_fill` after it opens, even
  past the offer's end, since the offer promised that time), or the joined group's row locked and
  its `seats_taken` raised only while below the size, else "the group is full" and nothing of the
  checkout stays; a held seat, and the order held (`ConsumerOrder.on_hold`): it is paid and holds
  its units like any other, but no store takes it on until the group is complete.
- `order_moved` (status listener): paid -> the seat is paid; when every place of the group is
  paid the group is FILLED and each of its orders released to its store (`orders.release_hold`:
  a "Group complete" event on its timeline). Called off (cancelled, expired, refunded) while the
  group is open -> the seat is given back (`seats_taken`, and `seats_paid` if it was paid, drop).

A group still open when its time runs out FAILS (`settle_group`, run by the job every minute):
its paid orders are refunded in full through the payment provider and its unpaid ones cancelled
(the storefront's own call-off: the units go back through the stock ledger), its seats given back.

Locks, in this order everywhere: the buyer (checkout), then each order's payment and row (in id
order), then the group's row. A payment's notice holds its order when the listener comes to the
group; the job locks a group's orders before the group; a checkout holds only its new order. When
the group fills, its other orders are released only if no one else holds them right now
(`orders.lock_order_if_free`); any left held are released by the job's next pass.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from portal.campaigns import add_once, campaigns
from portal.campaigns.models import (
    BuyGroup,
    Campaign,
    GroupBuy,
    GroupBuyStatus,
    GroupSeat,
    GroupStatus,
    SeatStatus,
)
from portal.catalog.models import Variant
from portal.catalog.queries import sort_sizes
from portal.core import audit
from portal.core.access import Actor
from portal.core.db import utcnow
from portal.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from portal.extensions import db
from portal.guides.attribution import attribution_of_order
from portal.inventory.models import Grade
from portal.members.private_sales import lock_person
from portal.network.models import Organization
from portal.policy.consumer_terms import terms_for
from portal.storefront import catalog, hooks, orders
from portal.storefront.catalog import LinePrice
from portal.storefront.checkout import MAX_QTY
from portal.storefront.hooks import CheckoutContext
from portal.storefront.models import Consumer, ConsumerOrder, ConsumerOrderStatus, Tier
from portal.storefront.transitions import Action
from portal.storefront.words import say, say_money

CODE = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,31}\Z")
GROUP_CODE = re.compile(r"[A-Z0-9]{4,16}\Z")
GROUP_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read out or typed from a poster
GROUP_CODE_CHARS = 10
MAX_HOURS = 720  # a group's time to fill: 30 days at most
MAX_GROUPS_PER_PERSON = 100
MAX_CENTS = 10**10
OPEN_GROUPS_SHOWN = 20
NOT_FILLED = "the group did not fill in time"  # the call-off's reason on the order
SETTING = "campaigns.group_buys"  # the programme terms' switch, as HQ finds it in the policy

STATUS_NAMES = {
    GroupBuyStatus.DRAFT: _l("Draft"),
    GroupBuyStatus.LIVE: _l("Live"),
    GroupBuyStatus.STOPPED: _l("Stopped"),
}
GROUP_STATUS_NAMES = {
    GroupStatus.OPEN: _l("Open"),
    GroupStatus.FILLED: _l("Complete"),
    GroupStatus.FAILED: _l("Not filled: refunded"),
}
CALL_OFFS = frozenset({Action.CANCEL.value, Action.EXPIRE.value, Action.REFUND.value})


class GroupBuysOff(DomainError):
    code = "group_buys_off"
    status = 409
    message = "Group buys are off for this brand."


class GroupFull(Conflict):
    code = "group_full"
    message = "The group is full."


@dataclass(frozen=True)
class GroupBuyInput:
    code: str
    name: str
    product_code: str
    price_cents: int | None
    group_size: int | None
    hours_to_fill: int | None
    units_per_person: int | None
    groups_per_person: int | None
    starts_at: datetime | None
    ends_at: datetime | None
    campaign_id: int | None = None


def _off_message() -> str:
    return say(
        _l(
            "Group buys are off for this brand: HQ turns them on in the programme terms "
            "(%(setting)s)."
        ),
        setting=SETTING,
    )


def switched_on(brand_id: int) -> bool:
    return terms_for(brand_id).campaigns.group_buys


def _ensure_switched_on(brand_id: int, field: str) -> None:
    if not switched_on(brand_id):
        message = _off_message()
        raise GroupBuysOff(message, fields={field: message}, setting=SETTING)


# -- HQ: offers ------------------------------------------------------------------------------------


def _int_in(value: Any, low: int, high: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return None
    return value


def _check(brand: Organization, data: GroupBuyInput) -> dict[str, Any]:
    """The offer's column values, or ValidationFailed naming every wrong field."""
    errors: dict[str, str] = {}
    code = (data.code or "").strip().upper()
    if not CODE.match(code):
        errors["code"] = say(_l("Letters, digits, - and _, at most 32."))
    name = (data.name or "").strip()
    if not name or len(name) > 120:
        errors["name"] = say(_l("A name of at most %(count)d characters."), count=120)
    product = catalog.find_active_product(brand.id, (data.product_code or "")[:64])
    prices = catalog.price_product(brand.id, Tier.OFFICIAL, product.id) if product else {}
    if product is None or not prices:
        errors["product_code"] = say(_l("A product code the official shop sells now."))
    price = _int_in(data.price_cents, 1, MAX_CENTS)
    if price is None:
        errors["price"] = say(_l("A group price above zero."))
    elif prices:
        floor = catalog.highest_floor(prices)
        highest = max(p.cents for p in prices.values())
        currency = product.currency if product is not None else "CNY"
        if floor is not None and price < floor:
            errors["price"] = say(
                _l("At least %(floor)s: the brand's floor for this product."),
                floor=say_money(floor, currency),
            )
        elif price >= highest:
            errors["price"] = say(
                _l("Below the shop's price (%(price)s): a group buys for less."),
                price=say_money(highest, currency),
            )
    largest = terms_for(brand.id).campaigns.group_size_max
    if _int_in(data.group_size, 2, max(2, largest)) is None:
        errors["group_size"] = say(
            _l("From 2 to %(max)d people (the programme terms' most)."), max=max(2, largest)
        )
    if _int_in(data.hours_to_fill, 1, MAX_HOURS) is None:
        errors["hours_to_fill"] = say(_l("From 1 to %(max)d hours."), max=MAX_HOURS)
    if _int_in(data.units_per_person, 1, MAX_QTY) is None:
        errors["units_per_person"] = say(_l("From 1 to %(max)d."), max=MAX_QTY)
    if _int_in(data.groups_per_person, 1, MAX_GROUPS_PER_PERSON) is None:
        errors["groups_per_person"] = say(_l("From 1 to %(max)d."), max=MAX_GROUPS_PER_PERSON)
    if data.starts_at is None:
        errors["starts_at"] = say(_l("When groups may start opening."))
    if data.ends_at is None:
        errors["ends_at"] = say(_l("When the offer ends."))
    elif data.ends_at <= utcnow():
        errors["ends_at"] = say(_l("The end must be in the future."))
    elif data.starts_at is not None and data.ends_at <= data.starts_at:
        errors["ends_at"] = say(_l("The offer must end after it starts."))
    if data.campaign_id is not None:
        campaign = db.session.execute(
            select(Campaign.id).where(
                Campaign.id == data.campaign_id, Campaign.brand_id == brand.id
            )
        ).scalar_one_or_none()
        if campaign is None:
            errors["campaign_id"] = say(_l("One of the brand's campaigns, or none."))
    if errors:
        raise ValidationFailed(say(_l("The group buy has mistakes.")), fields=errors)
    assert product is not None
    return {
        "code": code,
        "name": name,
        "product_id": product.id,
        "price_cents": price,
        "group_size": data.group_size,
        "hours_to_fill": data.hours_to_fill,
        "units_per_person": data.units_per_person,
        "groups_per_person": data.groups_per_person,
        "starts_at": data.starts_at,
        "ends_at": data.ends_at,
        "campaign_id": data.campaign_id,
    }


def create_group_buy(actor: Actor, brand: Organization, data: GroupBuyInput) -> GroupBuy:
    """A draft offer of the brand. Raises GroupBuysOff (naming the programme terms' setting)
    while the brand's terms turn group buys off, ValidationFailed naming each wrong field (a
    code the brand already uses, a price below the floor, a group larger than the terms
    allow)."""
    campaigns.ensure_hq(actor, brand.id)
    _ensure_switched_on(brand.id, "code")
    values = _check(brand, data)
    offer = GroupBuy(brand_id=brand.id, created_by_user_id=actor.user_id, **values)
    try:
        with db.session.begin_nested():
            db.session.add(offer)
            db.session.flush()
    except IntegrityError:
        raise ValidationFailed(
            say(_l("The group buy has mistakes.")),
            fields={"code": say(_l("Another group buy of the brand has this code."))},
        ) from None
    audit.record(actor, "campaigns.group_buy_created", brand_id=brand.id, code=offer.code)
    return offer


def _lock_offer(offer: GroupBuy) -> GroupBuy:
    return db.session.execute(
        select(GroupBuy)
        .where(GroupBuy.id == offer.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def start_group_buy(actor: Actor, offer: GroupBuy) -> GroupBuy:
    """A draft or stopped offer goes live: groups may open while its window is open. Refused
    (GroupBuysOff) while the brand's terms turn group buys off, and (Conflict) once it ended."""
    campaigns.ensure_hq(actor, offer.brand_id)
    _ensure_switched_on(offer.brand_id, "status")
    offer = _lock_offer(offer)
    if offer.status == GroupBuyStatus.LIVE:
        raise Conflict(say(_l("%(code)s is live already."), code=offer.code))
    if offer.ends_at <= utcnow():
        raise Conflict(say(_l("%(code)s has ended: it cannot start again."), code=offer.code))
    offer.status = GroupBuyStatus.LIVE
    db.session.flush()
    audit.record(actor, "campaigns.group_buy_started", brand_id=offer.brand_id, code=offer.code)
    return offer


def stop_group_buy(actor: Actor, offer: GroupBuy) -> GroupBuy:
    """A live offer stops: no group opens any more; the open ones run out their time."""
    campaigns.ensure_hq(actor, offer.brand_id)
    offer = _lock_offer(offer)
    if offer.status != GroupBuyStatus.LIVE:
        raise Conflict(say(_l("%(code)s is not live."), code=offer.code))
    offer.status = GroupBuyStatus.STOPPED
    db.session.flush()
    audit.record(actor, "campaigns.group_buy_stopped", brand_id=offer.brand_id, code=offer.code)
    return offer


def list_group_buys(actor: Actor, brand: Organization) -> list[GroupBuy]:
    campaigns.ensure_hq(actor, brand.id)
    return list(
        db.session.execute(
            select(GroupBuy)
            .where(GroupBuy.brand_id == brand.id)
            .options(joinedload(GroupBuy.product))
            .order_by(GroupBuy.starts_at.desc(), GroupBuy.id.desc())
        ).scalars()
    )


def get_group_buy(actor: Actor, brand: Organization, code: str) -> GroupBuy:
    """The brand's offer of that code; another brand's (or none) is a 404."""
    campaigns.ensure_hq(actor, brand.id)
    return _offer_of(brand.id, code)


def _offer_of(brand_id: int, code: str) -> GroupBuy:
    found = db.session.execute(
        select(GroupBuy)
        .where(GroupBuy.brand_id == brand_id, GroupBuy.code == (code or "").strip().upper()[:32])
        .options(joinedload(GroupBuy.product))
    ).scalar_one_or_none()
    if found is None:
        raise NotFound()
    return found


def group_counts(offers: Iterable[GroupBuy]) -> dict[int, dict[str, int]]:
    """Per offer: how many of its groups are open, complete, failed."""
    ids = [offer.id for offer in offers]
    counts: dict[int, dict[str, int]] = {i: {str(s): 0 for s in GroupStatus} for i in ids}
    if not ids:
        return counts
    for offer_id, status, count in db.session.execute(
        select(BuyGroup.group_buy_id, BuyGroup.status, func.count(BuyGroup.id))
        .where(BuyGroup.group_buy_id.in_(ids))
        .group_by(BuyGroup.group_buy_id, BuyGroup.status)
    ).all():
        counts[offer_id][status] = int(count)
    return counts


def list_groups(actor: Actor, offer: GroupBuy, *, limit: int = 200) -> list[BuyGroup]:
    """The offer's groups, newest first."""
    campaigns.ensure_hq(actor, offer.brand_id)
    return list(
        db.session.execute(
            select(BuyGroup)
            .where(BuyGroup.group_buy_id == offer.id)
            .order_by(BuyGroup.opened_at.desc(), BuyGroup.id.desc())
            .limit(limit)
        ).scalars()
    )


# -- what consumers see ----------------------------------------------------------------------------


def is_open(offer: GroupBuy, now: datetime | None = None) -> bool:
    """Whether a new group may open now."""
    now = now or utcnow()
    return offer.status == GroupBuyStatus.LIVE and offer.starts_at <= now < offer.ends_at


def find_offer(brand: Organization, code: str) -> GroupBuy:
    """An offer a consumer may see: started once (a draft is no offer: 404), of a brand whose
    terms turn group buys on (else 404 too)."""
    offer = _offer_of(brand.id, code)
    if offer.status == GroupBuyStatus.DRAFT or not switched_on(brand.id):
        raise NotFound()
    return offer


def find_group(brand: Organization, code: str) -> BuyGroup:
    """A group of the brand by its code (in its share link); 404 for none, for another brand's
    and for a group of an offer the brand's terms have turned off."""
    wanted = (code or "").strip().upper()
    group = None
    if GROUP_CODE.match(wanted):
        group = db.session.execute(
            select(BuyGroup)
            .where(BuyGroup.code == wanted, BuyGroup.brand_id == brand.id)
            .options(joinedload(BuyGroup.group_buy).joinedload(GroupBuy.product))
        ).scalar_one_or_none()
    if group is None or not switched_on(brand.id):
        raise NotFound()
    return group


@dataclass(frozen=True)
class SkuPrice:
    variant: Variant
    list_cents: int  # the official storefront's price
    group_cents: int  # what a group member pays


def offer_prices(offer: GroupBuy) -> list[SkuPrice]:
    """Each SKU of the offer's product the official storefront sells now: its price there and
    its group price, by colour then size."""
    prices = catalog.price_product(offer.brand_id, Tier.OFFICIAL, offer.product_id)
    rows = [
        SkuPrice(line.variant, line.cents, group_price(offer, line)) for line in prices.values()
    ]
    sizes = sort_sizes(list({row.variant.size for row in rows}))
    rows.sort(key=lambda row: (row.variant.color, sizes.index(row.variant.size), row.variant.id))
    return rows


def group_price(offer: GroupBuy, line: LinePrice) -> int:
    """The group price of one SKU: the offer's, never below the SKU's floor."""
    if line.floor_cents is not None:
        return max(offer.price_cents, line.floor_cents)
    return offer.price_cents


def seats_left(group: BuyGroup) -> int:
    return max(0, group.group_buy.group_size - group.seats_taken)


def is_joinable(group: BuyGroup, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return group.status == GroupStatus.OPEN and group.expires_at > now and seats_left(group) > 0


def open_groups(offer: GroupBuy, *, now: datetime | None = None) -> list[BuyGroup]:
    """Groups one may still join, the soonest to run out first."""
    now = now or utcnow()
    return list(
        db.session.execute(
            select(BuyGroup)
            .where(
                BuyGroup.group_buy_id == offer.id,
                BuyGroup.status == GroupStatus.OPEN,
                BuyGroup.expires_at > now,
                BuyGroup.seats_taken < offer.group_size,
            )
            .options(joinedload(BuyGroup.group_buy))
            .order_by(BuyGroup.expires_at, BuyGroup.id)
            .limit(OPEN_GROUPS_SHOWN)
        ).scalars()
    )


def short_name(name: str | None) -> str:
    """What others see of a member: initials ("H. M.") or a name's first character, never the
    whole name ("" when there is none)."""
    words = (name or "").split()
    if not words:
        return ""
    if len(words) > 1:
        return " ".join(f"{word[0].upper()}." for word in words[:3])
    return words[0][0].upper() + "*" * min(len(words[0]) - 1, 2)


@dataclass(frozen=True)
class GroupMember:
    label: str
    is_leader: bool
    has_paid: bool


def members_of(group: BuyGroup) -> list[GroupMember]:
    """The group's members who have not left, in the order they joined (short names only)."""
    rows = db.session.execute(
        select(GroupSeat.consumer_id, GroupSeat.status, Consumer.name)
        .join(Consumer, Consumer.id == GroupSeat.consumer_id)
        .where(GroupSeat.group_id == group.id, GroupSeat.status != SeatStatus.RELEASED)
        .order_by(GroupSeat.joined_at, GroupSeat.id)
    ).all()
    return [
        GroupMember(
            short_name(name),
            consumer_id == group.leader_consumer_id,
            status == SeatStatus.PAID,
        )
        for consumer_id, status, name in rows
    ]


def seat_of(order: ConsumerOrder) -> GroupSeat | None:
    return db.session.execute(
        select(GroupSeat).where(GroupSeat.order_id == order.id)
    ).scalar_one_or_none()


def is_member(group: BuyGroup, consumer: Consumer | None) -> bool:
    if consumer is None:
        return False
    return _in_group(group.id, consumer.id)


def _in_group(group_id: int, consumer_id: int) -> bool:
    return (
        db.session.execute(
            select(GroupSeat.id).where(
                GroupSeat.group_id == group_id,
                GroupSeat.consumer_id == consumer_id,
                GroupSeat.status != SeatStatus.RELEASED,
            )
        ).first()
        is not None
    )


@dataclass(frozen=True)
class Waiting:
    """A held order's group as the order's page says it: how many paid places are missing."""

    group: BuyGroup
    more: int


def waiting_for(order: ConsumerOrder) -> Waiting | None:
    """The open group a held order waits for (None: it waits for none)."""
    if not order.on_hold:
        return None
    seat = seat_of(order)
    if seat is None or seat.status == SeatStatus.RELEASED:
        return None
    group = seat.group
    if group.status != GroupStatus.OPEN:
        return None
    return Waiting(group, max(0, group.group_buy.group_size - group.seats_paid))


# -- checkout --------------------------------------------------------------------------------------


def _asked(context: CheckoutContext) -> tuple[str, str]:
    extras = context.extras
    return (extras.group_buy or "").strip().upper()[:32], (extras.group or "").strip().upper()[:16]


def _refuse(field: str, message: Any, **values: Any) -> ValidationFailed:
    text = say(message, **values)
    return ValidationFailed(text, fields={field: text})


def _checkout_offer(
    context: CheckoutContext, code: str, group_code: str
) -> tuple[GroupBuy, BuyGroup | None]:
    """The offer (and the group to join) a checkout names, checked the brand's and on."""
    brand = context.brand
    group = None
    if group_code:
        found = db.session.execute(
            select(BuyGroup).where(BuyGroup.code == group_code, BuyGroup.brand_id == brand.id)
        ).scalar_one_or_none()
        if found is None or (code and found.group_buy.code != code):
            raise _refuse("group", _l("There is no such group in this group buy."))
        group = found
        offer = found.group_buy
    else:
        named = db.session.execute(
            select(GroupBuy).where(GroupBuy.brand_id == brand.id, GroupBuy.code == code)
        ).scalar_one_or_none()
        if named is None or named.status == GroupBuyStatus.DRAFT:
            raise _refuse("group_buy", _l("There is no such group buy."))
        offer = named
    _ensure_switched_on(brand.id, "group_buy")
    return offer, group


def _ensure_may_open(offer: GroupBuy, now: datetime) -> None:
    if offer.status == GroupBuyStatus.LIVE and now < offer.starts_at:
        raise _refuse(
            "group_buy", _l("%(name)s starts later: no group opens yet."), name=offer.name
        )
    if not is_open(offer, now):
        raise _refuse(
            "group_buy",
            _l("%(name)s has closed: no new group opens. Join a group that is still open."),
            name=offer.name,
        )


def _ensure_may_join(group: BuyGroup, consumer: Consumer, now: datetime) -> None:
    """What a group must be for this consumer to join it (checked again under its lock)."""
    if group.status == GroupStatus.FILLED:
        raise GroupFull(
            say(_l("The group is full.")), fields={"group": say(_l("The group is full."))}
        )
    if group.status != GroupStatus.OPEN or group.expires_at <= now:
        raise _refuse("group", _l("This group has closed: its time to fill ran out."))
    if seats_left(group) <= 0:
        message = say(_l("The group is full."))
        raise GroupFull(message, fields={"group": message})
    if _in_group(group.id, consumer.id):
        raise _refuse("group", _l("You are in this group already."))


def _groups_joined(offer: GroupBuy, consumer: Consumer) -> int:
    """Groups of the offer the consumer holds a place in (left and failed ones do not count)."""
    return db.session.execute(
        select(func.count(func.distinct(GroupSeat.group_id)))
        .join(BuyGroup, BuyGroup.id == GroupSeat.group_id)
        .where(
            BuyGroup.group_buy_id == offer.id,
            GroupSeat.consumer_id == consumer.id,
            GroupSeat.status != SeatStatus.RELEASED,
        )
    ).scalar_one()


def new_group_code() -> str:
    return "".join(secrets.choice(GROUP_ALPHABET) for _ in range(GROUP_CODE_CHARS))


def before_place(context: CheckoutContext) -> None:
    """A group buy's checkout: checked (see the module's docstring) and priced at the group
    price. Raises ValidationFailed naming `group_buy`, `group`, `coupon_ids` or the line,
    GroupFull, GroupBuysOff; a checkout that names no group buy passes untouched."""
    code, group_code = _asked(context)
    if not code and not group_code:
        return
    consumer = context.consumer
    lock_person(consumer)  # first: before the order's row refers to the buyer (points.py)
    offer, group = _checkout_offer(context, code, group_code)
    if (
        context.tier != Tier.OFFICIAL
        or context.shop_org_id is not None
        or context.placed_by_user_id is not None
    ):
        raise _refuse("group_buy", _l("A group buy is bought in the brand's official shop."))
    if context.extras.event_code:
        raise _refuse("group_buy", _l("A group buy and a private sale cannot share an order."))
    if context.extras.coupon_ids:
        raise _refuse("coupon_ids", _l("Coupons do not apply to a group price."))
    now = utcnow()
    if group is None:
        _ensure_may_open(offer, now)
    else:
        _ensure_may_join(group, consumer, now)
    _check_lines(context, offer)
    joined = _groups_joined(offer, consumer)
    if joined >= offer.groups_per_person:
        raise _refuse(
            "group_buy",
            _l("You are in %(joined)d group(s) of %(name)s already: at most %(most)d per person."),
            joined=joined,
            name=offer.name,
            most=offer.groups_per_person,
        )
    context.prices = {
        variant_id: LinePrice(line.variant, group_price(offer, line), None, line.floor_cents)
        for variant_id, line in context.prices.items()
    }
    context.details["group_buy"] = offer.code
    context.details["group"] = group.code if group is not None else new_group_code()


def _check_lines(context: CheckoutContext, offer: GroupBuy) -> None:
    """Only SKUs of the offer's product, grade A, at most `units_per_person` units in all."""
    ids = sorted({variant_id for variant_id, _grade in context.wanted})
    products = {
        variant_id: product_id
        for variant_id, product_id in db.session.execute(
            select(Variant.id, Variant.product_id).where(Variant.id.in_(ids))
        ).all()
    }
    problems = {}
    for (variant_id, grade), _qty in sorted(context.wanted.items()):
        if products.get(variant_id) != offer.product_id or grade != Grade.A:
            problems[context.where[(variant_id, grade)]] = say(
                _l("Only %(product)s is in this group buy."), product=offer.product.name
            )
    if problems:
        raise ValidationFailed(say(_l("Some lines are not in this group buy.")), fields=problems)
    units = sum(context.wanted.values())
    if units > offer.units_per_person:
        first = context.where[min(context.wanted)]
        message = say(
            _l("At most %(most)d per person in this group buy (you asked for %(units)d)."),
            most=offer.units_per_person,
            units=units,
        )
        raise ValidationFailed(message, fields={first: message}, most=offer.units_per_person)


def _lock_group(group_id: int) -> BuyGroup:
    return db.session.execute(
        select(BuyGroup)
        .where(BuyGroup.id == group_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def after_place(context: CheckoutContext, order: ConsumerOrder) -> None:
    """The placed order takes its place: in a new group it leads, or in the joined group under
    its row lock (GroupFull when the last place went meanwhile); it is held until the group is
    complete."""
    code = context.details.get("group_buy")
    if not code or "group" not in context.details:
        return
    consumer, now = context.consumer, utcnow()
    group_code = str(context.details["group"])
    if not _asked(context)[1]:  # no group named (as before_place read it): a new one
        offer = _offer_of(context.brand.id, str(code))
        attribution = attribution_of_order(order.id)
        group = BuyGroup(
            brand_id=offer.brand_id,
            group_buy_id=offer.id,
            group_buy=offer,
            code=group_code,
            leader_consumer_id=consumer.id,
            guide_id=attribution.guide_id if attribution is not None else None,
            status=GroupStatus.OPEN,
            seats_taken=1,
            seats_paid=0,
            opened_at=now,
            expires_at=now + timedelta(hours=offer.hours_to_fill),
        )
        db.session.add(group)
        db.session.flush()
    else:
        found = db.session.execute(
            select(BuyGroup.id).where(
                BuyGroup.code == group_code, BuyGroup.brand_id == context.brand.id
            )
        ).scalar_one()
        group = _lock_group(found)
        _ensure_may_join(group, consumer, now)
        group.seats_taken += 1
    db.session.add(
        GroupSeat(
            group_id=group.id,
            consumer_id=consumer.id,
            order_id=order.id,
            status=SeatStatus.HELD,
            joined_at=now,
        )
    )
    order.on_hold = True
    db.session.flush()


# -- the group follows its orders ------------------------------------------------------------------


def order_moved(order: ConsumerOrder, action: str) -> None:
    """Status listener (storefront hooks): a held order's seat follows the order (see the
    module's docstring). Orders not held are no group's concern any more."""
    if not order.on_hold or (action != Action.PAY and action not in CALL_OFFS):
        return
    seat = seat_of(order)
    if seat is None:
        return
    group = _lock_group(seat.group_id)
    if action == Action.PAY:
        if seat.status != SeatStatus.HELD:
            return
        seat.status = SeatStatus.PAID
        if group.status == GroupStatus.OPEN:
            group.seats_paid += 1
            # Complete only in time: paid after the group's time ran out (a place taken just
            # before), it is failed and refunded by the job like the rest.
            if group.seats_paid >= group.group_buy.group_size and group.expires_at > utcnow():
                _fill(group, order)
        elif group.status == GroupStatus.FILLED:
            orders.release_hold(order, group=group.code)
        # FAILED: the settling job refunds it (its seat is still taken).
    elif seat.status != SeatStatus.RELEASED:
        was_paid = seat.status == SeatStatus.PAID
        seat.status = SeatStatus.RELEASED
        if group.status == GroupStatus.OPEN:
            group.seats_taken -= 1
            if was_paid:
                group.seats_paid -= 1
    db.session.flush()


def lock_before_call_off(order: ConsumerOrder) -> None:
    """A held order about to be called off: its group's row is locked now, before the call-off
    releases its units, so every path takes the group before the stock rows, as a checkout that
    joins the group does (else a cancel and a join deadlock on PostgreSQL)."""
    if not order.on_hold:
        return
    seat = seat_of(order)
    if seat is not None:
        _lock_group(seat.group_id)


def _fill(group: BuyGroup, paying: ConsumerOrder) -> None:
    """Every place is paid: the group is complete and its orders go to their stores. The order
    being paid is locked by its notice; the others are released here when no one holds them
    right now, else by the job's next pass (`release_filled`)."""
    group.status = GroupStatus.FILLED
    group.settled_at = utcnow()
    db.session.flush()
    orders.release_hold(paying, group=group.code)
    others = db.session.execute(
        select(GroupSeat.order_id)
        .where(
            GroupSeat.group_id == group.id,
            GroupSeat.status == SeatStatus.PAID,
            GroupSeat.order_id != paying.id,
        )
        .order_by(GroupSeat.order_id)
    ).scalars()
    for order_id in list(others):
        order = orders.lock_order_if_free(order_id)
        if order is not None:
            orders.release_hold(order, group=group.code)


# -- settling: groups that ran out of time, and complete groups' orders still held -----------------


def due_groups(*, now: datetime | None = None, limit: int = 100) -> list[int]:
    """Groups to settle: open ones past their time, and failed ones with a place not yet given
    back (an order a run could not lock, or paid after its group failed), oldest first."""
    now = now or utcnow()
    open_place = exists().where(
        GroupSeat.group_id == BuyGroup.id, GroupSeat.status != SeatStatus.RELEASED
    )
    expired = db.session.execute(
        select(BuyGroup.id)
        .where(BuyGroup.status == GroupStatus.OPEN, BuyGroup.expires_at <= now)
        .order_by(BuyGroup.expires_at, BuyGroup.id)
        .limit(limit)
    ).scalars()
    leftover = db.session.execute(
        select(BuyGroup.id)
        .where(BuyGroup.status == GroupStatus.FAILED, open_place)
        .order_by(BuyGroup.id)
        .limit(limit)
    ).scalars()
    return list(dict.fromkeys([*expired, *leftover]))[:limit]


def settle_group(group_id: int, *, now: datetime | None = None) -> int:
    """Fail one group past its time (or finish failing one): each of its orders still holding a
    place is called off by the storefront (paid: refunded in full through the provider; unpaid:
    cancelled; the units go back either way) and its place given back. Locks its orders before
    the group (the module's order of locks). Safe to run twice, or beside itself: a second run
    finds the group failed and every place given back. Returns the orders called off."""
    now = now or utcnow()
    placed = list(
        db.session.execute(
            select(GroupSeat.order_id)
            .where(GroupSeat.group_id == group_id, GroupSeat.status != SeatStatus.RELEASED)
            .order_by(GroupSeat.order_id)
        ).scalars()
    )
    locked = {order_id: orders.lock_order(order_id) for order_id in placed}
    group = _lock_group(group_id)
    if group.status == GroupStatus.OPEN and group.expires_at <= now:
        group.status = GroupStatus.FAILED
        group.settled_at = now
        db.session.flush()
    elif group.status != GroupStatus.FAILED:
        return 0
    done = 0
    seats = db.session.execute(
        select(GroupSeat)
        .where(GroupSeat.group_id == group.id, GroupSeat.status != SeatStatus.RELEASED)
        .order_by(GroupSeat.order_id)
    ).scalars()
    for seat in list(seats):
        # A place taken after the read above (a checkout that locked the group first): locked
        # only if free, else left to the next run.
        order = locked.get(seat.order_id) or orders.lock_order_if_free(seat.order_id)
        if order is None:
            continue
        if orders.call_off_for_system(order, reason=NOT_FILLED):
            done += 1
        seat.status = SeatStatus.RELEASED  # (the listener has, unless it was called off before)
    db.session.flush()
    return done


def held_in_filled_groups(*, limit: int = 100) -> list[int]:
    """Paid orders still held though their group is complete (the fill could not lock them)."""
    return list(
        db.session.execute(
            select(ConsumerOrder.id)
            .join(GroupSeat, GroupSeat.order_id == ConsumerOrder.id)
            .join(BuyGroup, BuyGroup.id == GroupSeat.group_id)
            .where(
                BuyGroup.status == GroupStatus.FILLED,
                ConsumerOrder.on_hold.is_(True),
                ConsumerOrder.status == ConsumerOrderStatus.PAID,
            )
            .order_by(ConsumerOrder.id)
            .limit(limit)
        ).scalars()
    )


def release_filled(order_id: int) -> bool:
    """Release one paid order of a complete group (under its lock; a complete group stays so)."""
    order = orders.lock_order(order_id)
    if order is None:
        return False
    seat = seat_of(order)
    if seat is None or seat.group.status != GroupStatus.FILLED:
        return False
    return orders.release_hold(order, group=seat.group.code)


def plug() -> None:
    """Register this module's hooks (portal/campaigns/plugs.py calls it once per app)."""
    add_once(hooks.checkout_before_place, before_place)
    add_once(hooks.checkout_after_place, after_place)
    add_once(hooks.status_listeners, order_moved)
    add_once(hooks.before_call_off, lock_before_call_off)
