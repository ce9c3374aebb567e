"""Same-city delivery: a delivery order whose routed store is within `SAME_CITY_MAX_KM` of the
address may go by courier (for `SAME_CITY_FEE_CENTS`) instead of by parcel, when the consumer
asks for it at checkout; the store then sends a courier for it through a courier backend.

Couriers are an outside service, so they sit behind `Courier` (request a pickup, cancel, ask the
status); `COURIER_BACKEND` names the one in use. The built-in `manual` backend calls nobody:
store staff book a courier themselves (by phone, an app) and type in who came, and the portal
records that. A real courier company's adapter is one more entry in `BACKENDS`, chosen by
configuration; the demo and the tests use `manual` and make no network calls.

Every courier sent is a `CourierDispatch` row (backend, the backend's id for it, the courier's
name and phone, distance, times), shown to the store and on the consumer's order page.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.core.access import Actor
from portal.core.db import utcnow
from portal.core.errors import ValidationFailed
from portal.extensions import db
from portal.storefront.consumer_fields import normalize_phone
from portal.storefront.geo import haversine_km
from portal.storefront.models import (
    ConsumerOrder,
    CourierDispatch,
    DeliveryMethod,
    DispatchStatus,
)
from portal.storefront.words import say

NAME_CHARS = 60


@dataclass(frozen=True)
class PickupRequest:
    """What a courier needs: where from, where to, how far, and (for the manual backend) the
    courier the store has already booked."""

    order_number: str
    location_id: int
    from_name: str
    to_address: dict[str, Any]
    distance_km: float | None
    courier_name: str = ""
    courier_phone: str = ""


class Courier(Protocol):
    name: str

    def request_pickup(self, request: PickupRequest) -> str:
        """Send a courier; returns the backend's id for this dispatch."""
        ...

    def cancel(self, dispatch_ref: str) -> None:
        """Call the courier off."""
        ...

    def status(self, dispatch_ref: str) -> str:
        """A `DispatchStatus` value."""
        ...


class ManualCourier:
    """Store staff book the courier themselves; the portal only keeps the record."""

    name = "manual"

    def request_pickup(self, request: PickupRequest) -> str:
        return f"M-{request.order_number}-{secrets.token_hex(3).upper()}"

    def cancel(self, dispatch_ref: str) -> None:
        # Nobody to tell: the staff who booked the courier call it off themselves.
        return None

    def status(self, dispatch_ref: str) -> str:
        row = db.session.execute(
            select(CourierDispatch.status).where(
                CourierDispatch.backend == self.name, CourierDispatch.dispatch_ref == dispatch_ref
            )
        ).scalar_one_or_none()
        return row or DispatchStatus.CANCELLED


BACKENDS: dict[str, type] = {"manual": ManualCourier}


def courier_for(name: str | None = None) -> Courier:
    """The configured backend (`COURIER_BACKEND`), or the one named."""
    name = name or current_app.config.get("COURIER_BACKEND", "manual")
    try:
        return BACKENDS[name]()
    except KeyError:
        raise RuntimeError(f"COURIER_BACKEND {name!r} is not one of {sorted(BACKENDS)}") from None


# -- checkout ------------------------------------------------------------------------------------


def is_same_city(distance_km: float | None) -> bool:
    """Whether a courier may take an order this far from the store (a location without a map
    position, such as a warehouse, is never same-city)."""
    limit = float(current_app.config.get("SAME_CITY_MAX_KM", 10))
    return distance_km is not None and distance_km <= limit


def same_city_fee_cents() -> int:
    return int(current_app.config.get("SAME_CITY_FEE_CENTS", 0))


def choose_method(requested: str | None, distance_km: float | None) -> str:
    """The delivery method of an order routed `distance_km` from its store: the one asked for,
    parcel when none is (a consumer opts into the courier and its fee). Raises ValidationFailed
    naming `delivery_method` for an unknown method or a same-city order beyond the distance."""
    wanted = (requested or "").strip()
    if not wanted:
        return DeliveryMethod.PARCEL
    if wanted not in tuple(DeliveryMethod):
        raise ValidationFailed(
            fields={"delivery_method": say(_l("Choose same-city courier or parcel delivery."))}
        )
    if wanted == DeliveryMethod.SAME_CITY and not is_same_city(distance_km):
        raise ValidationFailed(
            fields={
                "delivery_method": say(
                    _l("No store within %(km)s km has everything: choose parcel delivery."),
                    km=f"{float(current_app.config.get('SAME_CITY_MAX_KM', 10)):g}",
                )
            }
        )
    return wanted


# -- the store sends a courier -------------------------------------------------------------------


def _distance(order: ConsumerOrder) -> float | None:
    org = order.location.org
    lat, lon, store_lat, store_lon = order.latitude, order.longitude, org.latitude, org.longitude
    if lat is None or lon is None or store_lat is None or store_lon is None:
        return None
    return round(haversine_km(lat, lon, store_lat, store_lon), 3)


def check_courier(courier_name: str, courier_phone: str) -> tuple[str, str]:
    """The courier the staff typed in: a name and a mobile number. Raises ValidationFailed
    naming `courier_name` and/or `courier_phone`."""
    name = (courier_name or "").strip()
    fields = {}
    if not name or len(name) > NAME_CHARS:
        fields["courier_name"] = say(
            _l("Name the courier (at most %(count)d characters)."), count=NAME_CHARS
        )
    phone = ""
    try:
        phone = normalize_phone(courier_phone, field="courier_phone")
    except ValidationFailed:
        # The sign-in wording talks of SMS codes; the store needs a number to call the courier.
        fields["courier_phone"] = say(
            _l("Enter the courier's mobile number, such as 139 0013 9001.")
        )
    if fields:
        raise ValidationFailed(fields=fields)
    return name, phone


def dispatch(
    actor: Actor, order: ConsumerOrder, *, courier_name: str, courier_phone: str
) -> CourierDispatch:
    """Send a courier for a same-city order through the configured backend and record it. The
    caller (orders.dispatch_courier) checks the order's state and the actor's right."""
    name, phone = check_courier(courier_name, courier_phone)
    courier = courier_for()
    distance = _distance(order)
    ref = courier.request_pickup(
        PickupRequest(
            order_number=order.number,
            location_id=order.location_id,
            from_name=order.location.name,
            to_address=dict(order.address or {}),
            distance_km=distance,
            courier_name=name,
            courier_phone=phone,
        )
    )
    row = CourierDispatch(
        order=order,
        brand_id=order.brand_id,
        location_id=order.location_id,
        backend=courier.name,
        dispatch_ref=ref,
        courier_name=name,
        courier_phone=phone,
        distance_km=distance,
        status=DispatchStatus.DISPATCHED,
        actor_user_id=actor.user_id,
        dispatched_at=utcnow(),
    )
    db.session.add(row)
    db.session.flush()
    return row


def cancel_dispatch(row: CourierDispatch) -> CourierDispatch:
    """Call a courier off (the row stays, marked cancelled)."""
    if row.status == DispatchStatus.CANCELLED:
        return row
    courier_for(row.backend).cancel(row.dispatch_ref)
    row.status, row.cancelled_at = DispatchStatus.CANCELLED, utcnow()
    db.session.flush()
    return row


def current_dispatch(order: ConsumerOrder) -> CourierDispatch | None:
    """The courier now carrying the order, if any."""
    live = [d for d in order.dispatches if d.status == DispatchStatus.DISPATCHED]
    return live[-1] if live else None
