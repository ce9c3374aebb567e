"""Demo orders: a few in every status along the ACME network, one waiting for credit approval,
one held for the buyer org's own approval, a quota for D1 and a payment. Written through the
ordering services, as the demo users, so the timelines, stock ledger and accounts are real.
Idempotent: nothing is added once the demo orders exist."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal.catalog.models import Product, Variant
from portal.core.access import Actor
from portal.core.db import utcnow
from portal.extensions import db
from portal.finance import services as finance
from portal.network.models import ChannelLink, Organization
from portal.ordering import queries, services
from portal.ordering.models import Order
from portal.policy import queries as policy
from portal.seed.lookup import actor as _actor

MARK = "DEMO-"  # the PO numbers of the demo's orders


def _link(org_code: str, brand_code: str = "ACME") -> ChannelLink:
    brand_id = select(Organization.id).where(Organization.code == brand_code).scalar_subquery()
    return db.session.execute(
        select(ChannelLink)
        .join(Organization, Organization.id == ChannelLink.buyer_org_id)
        .where(Organization.code == org_code, ChannelLink.brand_id == brand_id)
    ).scalar_one()


def _basket(link: ChannelLink, *, lines: int, skip: int, above_cents: int) -> list[tuple[str, int]]:
    """SKUs the buyer may order one by one with stock at its supplier, `skip` of them passed
    over (so orders differ), enough units to clear `above_cents`."""
    variants = list(
        db.session.execute(
            select(Variant)
            .join(Product, Product.id == Variant.product_id)
            .where(Variant.brand_id == link.brand_id, Product.status == "active")
            .order_by(Variant.sku)
        ).scalars()
    )
    terms = policy.resolve(policy.Buyer.for_link(link), variants)
    available = queries.available_to(link, [v.id for v in variants])
    usable = [
        (v, price)
        for v in variants
        if (price := terms[v.id].price_cents) is not None  # as `authorized` asks too
        and terms[v.id].authorized
        and terms[v.id].moq == 1
        and terms[v.id].multiple == 1
        and available[v.id] >= 12
    ][skip:]
    basket, total = [], 0
    for variant, price in usable:
        qty = min(available[variant.id] // 3, 12)
        basket.append((variant.sku, qty))
        total += qty * price
        if len(basket) >= lines and total > above_cents:
            break
    return basket


def _place(actor: Actor, link: ChannelLink, basket, label: str) -> Order:
    return services.place_order(
        actor, link, services.parse_lines(basket), po_number=f"{MARK}{label}"
    )


def seed_orders() -> int:
    """Returns how many orders were written (0 when the demo already has them)."""
    if db.session.execute(select(Order.id).where(Order.po_number.startswith(MARK))).first():
        return 0
    store1, staff1 = _actor("store1@demo.test", "S1"), _actor("staff1@demo.test", "S1")
    dist1, hq = _actor("dist1@demo.test", "D1"), _actor("hq@demo.test", "ACME")
    chain1 = _actor("chain1@demo.test", "C1")
    s1, d1, c1 = _link("S1"), _link("D1"), _link("C1")
    minimum = policy.order_terms(policy.Buyer.for_link(s1)).min_order_cents or 0
    above = minimum + 10_000
    orders = []

    def s1_order(label: str, skip: int, actor: Actor = store1) -> Order:
        order = _place(actor, s1, _basket(s1, lines=2, skip=skip, above_cents=above), label)
        orders.append(order)
        return order

    s1_order("S1-NEW", 0)  # submitted: waiting for D1
    services.approve_order(dist1, s1_order("S1-CONFIRMED", 2))
    partly = s1_order("S1-PARTLY", 4)
    services.approve_order(dist1, partly)
    first = partly.lines[0]
    services.ship_order(
        dist1, partly, {first.sku: max(first.qty // 2, 1)}, carrier="SF", tracking_number="SF100"
    )
    done = s1_order("S1-RECEIVED", 6)
    services.approve_order(dist1, done)
    shipment = services.ship_order(
        dist1, done, {line.sku: line.qty for line in done.lines}, tracking_number="SF101"
    )
    services.receive_shipment(store1, done, shipment)
    services.cancel_order(store1, s1_order("S1-CANCELLED", 8), reason="ordered twice")
    services.set_purchasing_rule(
        store1, s1.buyer, approval_above_cents=above, monthly_limit_cents=None
    )
    s1_order("S1-NEEDS-OWNER", 10, actor=staff1)  # above the owner's limit for staff

    d1_new = _place(dist1, d1, _basket(d1, lines=3, skip=0, above_cents=above), "D1-NEW")
    d1_shipped = _place(dist1, d1, _basket(d1, lines=3, skip=3, above_cents=above), "D1-SHIPPED")
    services.approve_order(hq, d1_shipped)
    services.ship_order(
        hq,
        d1_shipped,
        {line.sku: line.qty for line in d1_shipped.lines},
        carrier="JD",
        tracking_number="JD200",
    )
    finance.record_payment(
        hq,
        finance.ensure_account(d1),
        amount_cents=d1_shipped.total_cents // 2,
        reference="BANK-DEMO-001",
        note="half now, half on delivery",
    )
    # C1 has no credit line: its order waits for HQ's approval instead of being refused.
    c1_order = _place(chain1, c1, _basket(c1, lines=2, skip=1, above_cents=above), "C1-CREDIT")
    orders += [d1_new, d1_shipped, c1_order]

    quota_sku = _basket(d1, lines=1, skip=12, above_cents=0)[0][0]
    services.push_stock(
        hq,
        d1.brand,
        [services.PushRow("D1", quota_sku, 24, 1)],
        as_quotas=True,
        expires_at=utcnow() + timedelta(days=14),
    )
    db.session.flush()
    return len(orders)
