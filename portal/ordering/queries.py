"""Orders an actor may see: those its org placed or supplies, and (read-only) those of the orgs
below it in a brand. Everything else is a 404."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import selectinload

from portal.catalog.models import Variant
from portal.core.access import Actor, org_visible, trade_visible
from portal.core.db import in_ids
from portal.core.errors import NotFound
from portal.core.pagination import Page, paginate
from portal.extensions import db
from portal.inventory import allocations
from portal.inventory.models import Allocation, AllocationStatus, Grade, Location, StockLevel
from portal.network.models import ChannelLink, Organization
from portal.ordering.models import (
    Cart,
    CartLine,
    Order,
    OrderEvent,
    OrderLine,
    OrderTemplate,
    ReturnRequest,
    Shipment,
)


def visible_orders(actor: Actor) -> Select[Any]:
    return select(Order).where(
        trade_visible(actor, Order.supplier_org_id, Order.buyer_org_id, Order.brand_id)
    )


def list_orders(
    actor: Actor,
    *,
    side: str = "",
    status: str | None = None,
    statuses: Sequence[str] | None = None,
    buyer: str | None = None,
    brand_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    number: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page:
    """`side`: "buying" (the actor's own orders), "selling" (orders it supplies), or all it can
    see."""
    stmt = visible_orders(actor).options(
        selectinload(Order.buyer), selectinload(Order.supplier), selectinload(Order.brand)
    )
    if side == "buying":
        stmt = stmt.where(Order.buyer_org_id == actor.org_id)
    elif side == "selling":
        stmt = stmt.where(Order.supplier_org_id == actor.org_id)
    if status:
        stmt = stmt.where(Order.status == status)
    if statuses:
        stmt = stmt.where(Order.status.in_(list(statuses)))
    if buyer:
        code = buyer.strip().upper()
        stmt = stmt.where(
            Order.buyer_org_id.in_(select(Organization.id).where(Organization.code == code))
        )
    if brand_id:
        stmt = stmt.where(Order.brand_id == brand_id)
    if since:
        stmt = stmt.where(Order.submitted_at >= since)
    if until:
        stmt = stmt.where(Order.submitted_at < until)
    if number:
        stmt = stmt.where(Order.number.contains(number.strip().upper(), autoescape=True))
    return paginate(stmt.order_by(Order.id.desc()), page, per_page)


def find_order(actor: Actor, number: str) -> Order | None:
    return db.session.execute(
        visible_orders(actor)
        .where(Order.number == (number or "").strip().upper())
        .options(selectinload(Order.lines).selectinload(OrderLine.variant))
    ).scalar_one_or_none()


def get_order(actor: Actor, number: str) -> Order:
    order = find_order(actor, number)
    if order is None:
        raise NotFound()
    return order


def get_orders(actor: Actor, numbers: Iterable[str]) -> list[Order]:
    """Several visible orders by number (those not visible are left out)."""
    wanted = [n.strip().upper() for n in numbers if n and n.strip()]
    if not wanted:
        return []
    stmt = visible_orders(actor).where(Order.number.in_(wanted)).order_by(Order.id)
    return list(db.session.execute(stmt).scalars())


def order_events(order: Order) -> list[OrderEvent]:
    return list(
        db.session.execute(
            select(OrderEvent)
            .where(OrderEvent.order_id == order.id)
            .options(selectinload(OrderEvent.actor_user), selectinload(OrderEvent.actor_org))
            .order_by(OrderEvent.id)
        ).scalars()
    )


def shipments(order: Order) -> list[Shipment]:
    return list(
        db.session.execute(
            select(Shipment)
            .where(Shipment.order_id == order.id)
            .options(selectinload(Shipment.lines))
            .order_by(Shipment.seq)
        ).scalars()
    )


def get_shipment(order: Order, seq: int) -> Shipment:
    shipment = db.session.execute(
        select(Shipment).where(Shipment.order_id == order.id, Shipment.seq == seq)
    ).scalar_one_or_none()
    if shipment is None:
        raise NotFound()
    return shipment


def returns(order: Order) -> list[ReturnRequest]:
    return list(
        db.session.execute(
            select(ReturnRequest)
            .where(ReturnRequest.order_id == order.id)
            .options(selectinload(ReturnRequest.lines))
            .order_by(ReturnRequest.seq)
        ).scalars()
    )


def get_return(order: Order, seq: int) -> ReturnRequest:
    ret = db.session.execute(
        select(ReturnRequest).where(ReturnRequest.order_id == order.id, ReturnRequest.seq == seq)
    ).scalar_one_or_none()
    if ret is None:
        raise NotFound()
    return ret


@dataclass(frozen=True)
class PickRow:
    sku: str
    color: str
    size: str
    product: str
    qty: int
    orders: list[str]


def pick_list(orders: Sequence[Order]) -> list[PickRow]:
    """What to take off the shelves for these orders: open quantities per SKU, in SKU order."""
    rows: dict[str, dict[str, Any]] = {}
    for order in orders:
        if not order.is_open:  # closed short: what is left will never ship
            continue
        for line in order.lines:
            if line.open_qty <= 0:
                continue
            row = rows.setdefault(
                line.sku,
                {
                    "sku": line.sku,
                    "color": line.variant.color,
                    "size": line.variant.size,
                    "product": line.variant.product.name,
                    "qty": 0,
                    "orders": [],
                },
            )
            row["qty"] += line.open_qty
            row["orders"].append(order.number)
    return [PickRow(**rows[sku]) for sku in sorted(rows)]


# -- buying --------------------------------------------------------------------------------------


def buyer_links(actor: Actor) -> list[ChannelLink]:
    """The links the actor's org buys through (one per brand)."""
    if actor.org_id is None:
        return []
    return list(
        db.session.execute(
            select(ChannelLink)
            .where(ChannelLink.buyer_org_id == actor.org_id)
            .options(selectinload(ChannelLink.brand), selectinload(ChannelLink.supplier))
            .order_by(ChannelLink.brand_id)
        ).scalars()
    )


def get_link(actor: Actor, link_id: int) -> ChannelLink:
    """A channel link whose buyer is the actor's org or below it in the link's brand; any other
    is a 404."""
    link = db.session.execute(
        select(ChannelLink).where(
            ChannelLink.id == link_id,
            org_visible(actor, ChannelLink.buyer_org_id, ChannelLink.brand_id),
        )
    ).scalar_one_or_none()
    if link is None:
        raise NotFound()
    return link


def find_cart(actor: Actor, link: ChannelLink) -> Cart | None:
    """The actor's org's cart for the link's brand and its current supplier."""
    return (
        db.session.execute(
            select(Cart)
            .where(
                Cart.buyer_org_id == actor.org_id,
                Cart.brand_id == link.brand_id,
                Cart.supplier_org_id == link.supplier_org_id,
            )
            .options(
                selectinload(Cart.lines)
                .selectinload(CartLine.variant)
                .selectinload(Variant.product)
            )
            .order_by(Cart.id.desc())
        )
        .scalars()
        .first()
    )


def cart_sizes(actor: Actor) -> dict[int, int]:
    """Units in each of the actor's org's carts, by brand."""
    stmt = (
        select(Cart.brand_id, func.coalesce(func.sum(CartLine.qty), 0))
        .join(CartLine, CartLine.cart_id == Cart.id)
        .where(Cart.buyer_org_id == actor.org_id)
        .group_by(Cart.brand_id)
    )
    return {brand_id: int(units) for brand_id, units in db.session.execute(stmt)}


def list_templates(actor: Actor, brand_id: int) -> list[OrderTemplate]:
    return list(
        db.session.execute(
            select(OrderTemplate)
            .where(OrderTemplate.buyer_org_id == actor.org_id, OrderTemplate.brand_id == brand_id)
            .order_by(OrderTemplate.name)
        ).scalars()
    )


def get_template(actor: Actor, template_id: int) -> OrderTemplate:
    template = db.session.execute(
        select(OrderTemplate).where(
            OrderTemplate.id == template_id, OrderTemplate.buyer_org_id == actor.org_id
        )
    ).scalar_one_or_none()
    if template is None:
        raise NotFound()
    return template


def supplier_location(link: ChannelLink) -> Location | None:
    return db.session.execute(
        select(Location).where(
            Location.org_id == link.supplier_org_id, Location.is_default.is_(True)
        )
    ).scalar_one_or_none()


def free_at(location: Location, variant_ids: Sequence[int]) -> dict[int, int]:
    """Grade-A units on hand and not reserved at a location, per SKU (0 when none)."""
    rows = db.session.execute(
        select(StockLevel.variant_id, StockLevel.on_hand - StockLevel.reserved).where(
            StockLevel.location_id == location.id,
            in_ids(StockLevel.variant_id, variant_ids),
            StockLevel.grade == Grade.A,
        )
    ).tuples()
    free: dict[int, int | None] = dict(rows.all())
    return {variant_id: max(int(free.get(variant_id) or 0), 0) for variant_id in variant_ids}


def orderable_at(
    location: Location,
    buyer_org_id: int,
    variant_ids: Sequence[int],
    *,
    held: tuple[set[int], dict[int, list[Allocation]]] | None = None,
) -> dict[int, tuple[bool, int]]:
    """Per SKU, whether it is allocated stock at the location and how many units the buyer may
    order there now: free grade-A stock, or for an allocated SKU what one line may draw from
    its own quotas. `held`: `allocations.quotas_at` for these SKUs, when the caller has it."""
    free = free_at(location, variant_ids)
    allocated, quotas = held or allocations.quotas_at(location.id, buyer_org_id, variant_ids)
    result = {}
    for variant_id in variant_ids:
        if variant_id in allocated or variant_id in quotas:
            result[variant_id] = (True, allocations.drawable(quotas.get(variant_id, [])))
        else:
            result[variant_id] = (False, free[variant_id])
    return result


def available_to(link: ChannelLink, variant_ids: Sequence[int]) -> dict[int, int]:
    """What the buyer of `link` can order now of each SKU from its supplier's location."""
    if not variant_ids:
        return {}
    location = supplier_location(link)
    if location is None:
        return {variant_id: 0 for variant_id in variant_ids}
    orderable = orderable_at(location, link.buyer_org_id, variant_ids)
    return {variant_id: units for variant_id, (_allocated, units) in orderable.items()}


def list_quotas(actor: Actor, *, brand_id: int | None = None, active_only: bool = True) -> list:
    """Quotas the actor's org holds, or (HQ) has set aside for others."""
    stmt = select(Allocation).options(
        selectinload(Allocation.variant), selectinload(Allocation.recipient)
    )
    if actor.is_hq:
        stmt = stmt.where(Allocation.brand_id == actor.org_id)
    else:
        stmt = stmt.where(Allocation.recipient_org_id == actor.org_id)
    if brand_id:
        stmt = stmt.where(Allocation.brand_id == brand_id)
    if active_only:
        stmt = stmt.where(Allocation.status == AllocationStatus.ACTIVE)
    return list(db.session.execute(stmt.order_by(Allocation.expires_at, Allocation.id)).scalars())


# -- pages (read-only helpers for the ordering views) --------------------------------------------


def supplies_anyone(actor: Actor) -> bool:
    """Whether the actor's org is the supplier on any channel link (it has a selling side)."""
    if actor.org_id is None:
        return False
    return (
        db.session.execute(
            select(ChannelLink.id).where(ChannelLink.supplier_org_id == actor.org_id).limit(1)
        ).first()
        is not None
    )


def get_supplied_orders(actor: Actor, numbers: Iterable[str]) -> list[Order]:
    """Orders by number that the actor's org supplies (others are left out), with their lines'
    SKUs and products loaded: the supplier's pick list."""
    wanted = [n.strip().upper() for n in numbers if n and n.strip()]
    if not wanted or actor.org_id is None:
        return []
    stmt = (
        select(Order)
        .where(Order.supplier_org_id == actor.org_id, Order.number.in_(wanted))
        .options(
            selectinload(Order.lines).selectinload(OrderLine.variant).selectinload(Variant.product)
        )
        .order_by(Order.id)
    )
    return list(db.session.execute(stmt).scalars())


def version_labels(order: Order) -> dict[int, str]:
    """Labels ("ACME-BASE v2") of the policy versions that priced an order and its lines."""
    from portal.policy.models import Policy, PolicyVersion

    ids = {order.policy_version_id, *(line.policy_version_id for line in order.lines)} - {None}
    if not ids:
        return {}
    rows = db.session.execute(
        select(PolicyVersion.id, Policy.code, PolicyVersion.number)
        .join(Policy, Policy.id == PolicyVersion.policy_id)
        .where(PolicyVersion.id.in_(ids), PolicyVersion.brand_id == order.brand_id)
    ).all()
    return {version_id: f"{code} v{number}" for version_id, code, number in rows}
