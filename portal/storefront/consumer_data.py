"""A consumer's own data: the address book, and the person's rights over it (PIPL): a copy of
everything kept about them (account, addresses, orders, returns), and erasure that keeps their
orders without the person."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select, update
from sqlalchemy.orm import selectinload

from portal.core.db import utcnow
from portal.core.errors import NotFound, ValidationFailed
from portal.extensions import db
from portal.storefront import hooks
from portal.storefront.consumer_fields import invalid, normalize_phone
from portal.storefront.models import (
    Consumer,
    ConsumerAddress,
    ConsumerCart,
    ConsumerOrder,
    ConsumerOrderLine,
    ConsumerSession,
    ConsumerStatus,
    SignInCode,
)
from portal.storefront.return_models import ConsumerReturn, ConsumerReturnLine
from portal.storefront.words import say

# -- addresses ---------------------------------------------------------------------------------

ADDRESS_TEXT = (
    ("recipient", 120, True),
    ("province", 40, True),
    ("city", 40, True),
    ("district", 40, False),
    ("line", 255, True),
)


def _coordinate(fields: dict[str, str], name: str, value: Any, bound: float) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not (-bound <= number <= bound):  # also refuses NaN
        fields[name] = say(
            _l("Enter a number between %(low)d and %(high)d."), low=-bound, high=bound
        )
        return None
    return number


def _address_values(data: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name, limit, required in ADDRESS_TEXT:
        text = str(data.get(name) or "").strip()
        if required and not text:
            fields[name] = say(_l("This field is required."))
        elif len(text) > limit:
            fields[name] = say(_l("At most %(count)d characters."), count=limit)
        values[name] = text
    try:
        values["phone"] = normalize_phone(str(data.get("phone") or ""))
    except ValidationFailed as error:
        fields.update(error.fields)
    values["latitude"] = _coordinate(fields, "latitude", data.get("latitude"), 90)
    values["longitude"] = _coordinate(fields, "longitude", data.get("longitude"), 180)
    if not fields and (values["latitude"] is None) != (values["longitude"] is None):
        missing = "latitude" if values["latitude"] is None else "longitude"
        fields[missing] = say(_l("Give both coordinates, or neither."))
    if fields:
        raise invalid(fields)
    values["is_default"] = bool(data.get("is_default"))
    return values


def list_addresses(consumer: Consumer) -> list[ConsumerAddress]:
    return list(
        db.session.execute(
            select(ConsumerAddress)
            .where(ConsumerAddress.consumer_id == consumer.id)
            .order_by(ConsumerAddress.is_default.desc(), ConsumerAddress.id)
        ).scalars()
    )


def get_address(consumer: Consumer, address_id: int) -> ConsumerAddress:
    """One of the consumer's own addresses; anyone else's is a 404."""
    address = db.session.execute(
        select(ConsumerAddress).where(
            ConsumerAddress.id == address_id,
            ConsumerAddress.consumer_id == consumer.id,
            ConsumerAddress.brand_id == consumer.brand_id,
        )
    ).scalar_one_or_none()
    if address is None:
        raise NotFound()
    return address


def _make_only_default(consumer: Consumer, address: ConsumerAddress) -> None:
    db.session.execute(
        update(ConsumerAddress)
        .where(ConsumerAddress.consumer_id == consumer.id, ConsumerAddress.id != address.id)
        .values(is_default=False)
        .execution_options(synchronize_session="fetch")
    )


def add_address(consumer: Consumer, data: dict[str, Any]) -> ConsumerAddress:
    """Add an address (recipient, phone, province, city, district, line, latitude, longitude,
    is_default). The first address is the default."""
    values = _address_values(data)
    first = not list_addresses(consumer)
    address = ConsumerAddress(brand_id=consumer.brand_id, consumer_id=consumer.id, **values)
    address.is_default = values["is_default"] or first
    db.session.add(address)
    db.session.flush()
    if address.is_default:
        _make_only_default(consumer, address)
    return address


def update_address(
    consumer: Consumer, address: ConsumerAddress, data: dict[str, Any]
) -> ConsumerAddress:
    values = _address_values(data)
    keep_default = address.is_default
    for name, value in values.items():
        setattr(address, name, value)
    address.is_default = values["is_default"] or keep_default
    db.session.flush()
    if address.is_default:
        _make_only_default(consumer, address)
    return address


def delete_address(consumer: Consumer, address: ConsumerAddress) -> None:
    """Remove an address (orders keep the copy made at checkout); the next one becomes the
    default if this one was."""
    was_default = address.is_default
    db.session.delete(address)
    db.session.flush()
    rest = list_addresses(consumer)
    if was_default and rest:
        rest[0].is_default = True
        db.session.flush()


# -- the person's rights (PIPL) ----------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def export_consumer(consumer: Consumer) -> dict[str, Any]:
    """Everything the brand holds about the person, as plain JSON-ready data."""
    orders = db.session.execute(
        select(ConsumerOrder)
        .where(
            ConsumerOrder.consumer_id == consumer.id, ConsumerOrder.brand_id == consumer.brand_id
        )
        .order_by(ConsumerOrder.id)
    ).scalars()
    return {
        "brand": consumer.brand.code,
        "account": {
            "phone": consumer.phone,
            "email": consumer.email,
            "name": consumer.name,
            "locale": consumer.locale,
            "has_password": bool(consumer.password_hash),
            "created_at": _iso(consumer.created_at),
            "last_sign_in_at": _iso(consumer.last_sign_in_at),
        },
        "addresses": [address_dict(a) for a in list_addresses(consumer)],
        "orders": [
            {
                "number": order.number,
                "storefront": order.tier,
                "status": order.status,
                "fulfilment": order.fulfilment,
                "currency": order.currency,
                "total_cents": order.total_cents,
                "contact_name": order.contact_name,
                "contact_phone": order.contact_phone,
                "address": order.address,
                "created_at": _iso(order.created_at),
                "lines": [
                    {
                        "sku": line.variant.sku,
                        "qty": line.qty,
                        "unit_price_cents": line.unit_price_cents,
                    }
                    for line in order.lines
                ],
            }
            for order in orders
        ],
        "returns": [return_dict(found) for found in _returns(consumer)],
        "exported_at": utcnow().isoformat(),
    }


def _returns(consumer: Consumer) -> list[ConsumerReturn]:
    return list(
        db.session.execute(
            select(ConsumerReturn)
            .where(
                ConsumerReturn.consumer_id == consumer.id,
                ConsumerReturn.brand_id == consumer.brand_id,
            )
            .options(
                selectinload(ConsumerReturn.order),
                selectinload(ConsumerReturn.lines)
                .selectinload(ConsumerReturnLine.order_line)
                .selectinload(ConsumerOrderLine.variant),
            )
            .order_by(ConsumerReturn.id)
        ).scalars()
    )


def return_dict(found: ConsumerReturn) -> dict[str, Any]:
    """One return as the person's data export shows it: what they asked back, and how the
    store answered."""
    return {
        "number": found.number,
        "order": found.order.number,
        "status": found.status,
        "reason": found.reason,
        "currency": found.currency,
        "value_cents": sum(line.value_cents for line in found.lines),
        "refund_cents": found.refund_cents,
        "reject_reason": found.reject_reason,
        "requested_at": _iso(found.requested_at),
        "received_at": _iso(found.received_at),
        "refunded_at": _iso(found.refunded_at),
        "rejected_at": _iso(found.rejected_at),
        "lines": [
            {
                "sku": line.order_line.variant.sku,
                "qty": line.qty,
                "unit_price_cents": line.unit_price_cents,
                "grade": line.grade,
            }
            for line in found.lines
        ],
    }


def address_dict(address: ConsumerAddress) -> dict[str, Any]:
    return {
        "id": address.id,
        "recipient": address.recipient,
        "phone": address.phone,
        "province": address.province,
        "city": address.city,
        "district": address.district,
        "line": address.line,
        "latitude": address.latitude,
        "longitude": address.longitude,
        "is_default": address.is_default,
    }


def erase_consumer(consumer: Consumer) -> None:
    """Erase the person on their request (PIPL): the row keeps its id, so their orders stay for
    the brand's books, but loses phone, e-mail, name and password; addresses, carts and pending
    codes go, every session ends, and the orders' copies of contact and address are blanked.
    Their membership goes with them (`hooks.consumer_erased`)."""
    for listener in hooks.consumer_erased:
        listener(consumer)
    now = utcnow()
    if consumer.phone:
        db.session.execute(
            delete(SignInCode).where(
                SignInCode.brand_id == consumer.brand_id, SignInCode.phone == consumer.phone
            )
        )
    db.session.execute(
        update(ConsumerSession)
        .where(ConsumerSession.consumer_id == consumer.id, ConsumerSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(ConsumerOrder)
        .where(ConsumerOrder.consumer_id == consumer.id)
        .values(contact_name="", contact_phone="", address={}, latitude=None, longitude=None)
        .execution_options(synchronize_session="fetch")
    )
    for cart in db.session.execute(
        select(ConsumerCart).where(ConsumerCart.consumer_id == consumer.id)
    ).scalars():
        db.session.delete(cart)
    consumer.addresses.clear()
    consumer.phone = None
    consumer.email = None
    consumer.password_hash = None
    consumer.name = ""
    consumer.status = ConsumerStatus.DELETED
    consumer.deleted_at = now
    db.session.flush()
