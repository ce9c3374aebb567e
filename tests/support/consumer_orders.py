"""Consumer orders as checkout leaves them (units reserved at their location, a payment, for
delivery the first route offer), paid the way a provider's notice pays them: for tests of what
happens after checkout, without a storefront's prices and cart in the way."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from portal.catalog.models import Variant
from portal.core.access import Actor
from portal.core.db import utcnow
from portal.extensions import db
from portal.inventory.ledger import MoveLine, apply_moves
from portal.inventory.models import Location, MoveReason, StockLevel
from portal.network.models import Organization
from portal.storefront import orders, rerouting, transitions
from portal.storefront.checkout import new_order_number
from portal.storefront.models import (
    Consumer,
    ConsumerOrder,
    ConsumerOrderLine,
    ConsumerOrderRoute,
    Fulfilment,
    Tier,
)
from portal.storefront.payments import services as payments
from portal.storefront.payments.models import PayableKind, PaymentStatus
from portal.storefront.transitions import Who
from tests.support.services import org

SHANGHAI = (31.2290, 121.4560)  # a delivery address's point


def consumer_of(brand: Organization, *, name: str = "Li Lei", phone: str = "") -> Consumer:
    phone = phone or f"+86138{secrets.randbelow(10**8):08d}"
    consumer = Consumer(brand_id=brand.id, phone=phone, name=name)
    db.session.add(consumer)
    db.session.flush()
    return consumer


def place(
    brand: Organization,
    location: Location,
    lines: dict[int, int],
    *,
    fulfilment: str = Fulfilment.PICKUP,
    point: tuple[float, float] | None = None,
    consumer: Consumer | None = None,
    keep: int = 0,
    paid: bool = True,
    paid_at: datetime | None = None,
    unit_cents: int = 9900,
) -> ConsumerOrder:
    """An order holding `lines` ({variant_id: qty}, grade A) at `location`, paid unless told."""
    consumer = consumer or consumer_of(brand)
    number = new_order_number()
    apply_moves(
        Actor.system(),
        [MoveLine(location.id, v, reserved_delta=q, keep=keep) for v, q in lines.items()],
        reason=MoveReason.RESERVE,
        reference=number,
    )
    order = ConsumerOrder(
        number=number,
        brand_id=brand.id,
        consumer_id=consumer.id,
        tier=Tier.OFFICIAL,
        fulfilment=fulfilment,
        location_id=location.id,
        checkout_token=secrets.token_hex(8),
        currency="CNY",
        contact_name=consumer.name,
        contact_phone=consumer.phone or "",
        expires_at=utcnow() + timedelta(minutes=15),
    )
    for variant_id, qty in lines.items():
        order.lines.append(
            ConsumerOrderLine(
                brand_id=brand.id,
                variant_id=variant_id,
                qty=qty,
                unit_price_cents=unit_cents,
                line_cents=unit_cents * qty,
            )
        )
    order.goods_cents = order.total_cents = sum(line.line_cents for line in order.lines)
    order.total_qty = sum(lines.values())
    if fulfilment == Fulfilment.DELIVERY:
        order.latitude, order.longitude = point
        order.address = {"recipient": consumer.name, "city": "Shanghai", "line": "1 Test Rd"}
    db.session.add(order)
    transitions.create(order, Who.CONSUMER, location=location.id)
    db.session.flush()
    if fulfilment == Fulfilment.DELIVERY:
        rerouting.offer_first(order)
    payment = payments.create_payment(
        brand_id=brand.id,
        payable_kind=PayableKind.CONSUMER_ORDER,
        payable_id=order.id,
        amount_cents=order.total_cents,
        currency="CNY",
        provider="test",
        expires_at=order.expires_at,
    )
    order.payment_id = payment.id
    db.session.flush()
    if paid:
        payment.status, payment.paid_at = PaymentStatus.PAID, utcnow()
        payment.provider_transaction_id = f"T{secrets.token_hex(6)}"
        orders.order_paid(payment)
    if paid_at is not None:
        back_date(order, paid_at)
    db.session.flush()
    return order


def back_date(order: ConsumerOrder, when: datetime) -> None:
    """As if the order had been paid (and its routes offered) at `when`."""
    order.paid_at = when
    for route in db.session.query(ConsumerOrderRoute).filter_by(order_id=order.id):
        route.offered_at = min(route.offered_at, when)
    db.session.flush()


# -- a shop of the demo brand ---------------------------------------------------------------------


@dataclass
class Shop:
    brand: Organization
    variant: Variant
    s1: Location
    s2: Location
    opening: dict[int, tuple[int, int]]

    def on_hand(self, location: Location) -> tuple[int, int]:
        """On hand and reserved, counted from 10 and 0 after build_shop's receipt (the demo
        stock before it does not count)."""
        on_hand, reserved = self.level(location)
        start_on_hand, start_reserved = self.opening[location.id]
        return 10 + on_hand - start_on_hand, reserved - start_reserved

    def level(self, location: Location) -> tuple[int, int]:
        level = db.session.execute(
            select(StockLevel).where(
                StockLevel.location_id == location.id,
                StockLevel.variant_id == self.variant.id,
                StockLevel.grade == "A",
            )
        ).scalar_one()
        db.session.refresh(level)
        return level.on_hand, level.reserved


def default_location(code: str) -> Location:
    return db.session.execute(
        select(Location).where(Location.org_id == org(code).id, Location.is_default.is_(True))
    ).scalar_one()


def build_shop() -> Shop:
    """ACME with 10 more units of one SKU at the stores S1 and S2."""
    brand = org("ACME")
    variant = db.session.execute(
        select(Variant).where(Variant.brand_id == brand.id).order_by(Variant.id).limit(1)
    ).scalar_one()
    s1, s2 = default_location("S1"), default_location("S2")
    apply_moves(
        Actor.system(),
        [MoveLine(s1.id, variant.id, 10), MoveLine(s2.id, variant.id, 10)],
        reason=MoveReason.RECEIPT,
        reference="staff-views",
    )
    shop = Shop(brand, variant, s1, s2, {})
    shop.opening = {loc.id: shop.level(loc) for loc in (s1, s2)}
    return shop


def pay_by_notice(order: ConsumerOrder) -> payments.NoticeResult:
    """Pay the order as the test gateway's signed notice would: recorded once, order paid."""
    from portal.storefront.payments.base import Notice, NoticeStatus
    from portal.storefront.payments.models import Payment

    payment = db.session.get(Payment, order.payment_id)
    assert payment is not None
    result = payments.record_notice(
        Notice(
            "test",
            f"N-{order.number}",
            payment.reference,
            f"T-{order.number}",
            payment.amount_cents,
            payment.currency,
            NoticeStatus.PAID,
        )
    )
    orders.order_paid(result.payment)
    return result
