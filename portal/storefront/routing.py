"""Where a delivery order ships from.

The rule: (1) the nearest enabled delivery store (great-circle distance from the delivery
address to the store org's coordinates) that can sell every line in full after its safety
stock; else (2) a warehouse of the brand (an enabled online location of the brand's own org)
that can; else (3), only when `ROUTING_ALLOW_SPLIT` is on, a split over several locations
chosen greedily: each step takes the location that can ship the most units still missing (the
nearer one on a tie, stores before warehouses), until every unit is placed; else the order is
refused, naming per SKU how many units could be sold. Locations in `exclude` (those an order
was already offered to) are skipped, so re-routing moves on to the next one.

`plan_route` is the rule on plain values (tested on a fixture of stores at known points);
`route_delivery` applies it to the locations that can ship the whole order, read in one query,
and reads every location holding any line only when it must split or explain a refusal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select

from portal.catalog.models import Variant
from portal.extensions import db
from portal.inventory.errors import InsufficientStock
from portal.inventory.models import Grade, StockLevel
from portal.network.models import Organization
from portal.storefront.geo import check_point, haversine_km
from portal.storefront.stock import LineKey, free_units, line_quantities, online_levels
from portal.storefront.words import say


class CannotRoute(InsufficientStock):
    """No location (or, when allowed, set of locations) can ship every line. `fields` name each
    SKU that is short and how many units of it can be sold; `available` has the numbers."""

    code = "cannot_route"
    message = "Not enough stock online to deliver this order."


@dataclass(frozen=True)
class Candidate:
    """A location that delivers the brand online, with what it can sell of the order's lines."""

    location_id: int
    is_warehouse: bool  # held by the brand's own org
    distance_km: float | None  # None: no coordinates (a store is then never chosen by distance)
    free: Mapping[LineKey, int]

    def has_all(self, lines: Mapping[LineKey, int]) -> bool:
        return all(self.free.get(key, 0) >= qty for key, qty in lines.items())


@dataclass(frozen=True)
class Leg:
    location_id: int
    distance_km: float | None
    is_warehouse: bool
    lines: dict[LineKey, int]


@dataclass(frozen=True)
class RoutePlan:
    legs: list[Leg] = field(default_factory=list)

    @property
    def is_split(self) -> bool:
        return len(self.legs) > 1

    @property
    def location_id(self) -> int:
        """The one location of an unsplit plan."""
        if self.is_split:
            raise ValueError("a split plan has several locations")
        return self.legs[0].location_id


def _leg(candidate: Candidate, lines: Mapping[LineKey, int]) -> Leg:
    return Leg(candidate.location_id, candidate.distance_km, candidate.is_warehouse, dict(lines))


def _nearest_first(candidate: Candidate) -> tuple[int, float, int]:
    distance = math.inf if candidate.distance_km is None else candidate.distance_km
    return (1 if candidate.is_warehouse else 0, distance, candidate.location_id)


def plan_route(
    candidates: Iterable[Candidate], lines: Mapping[LineKey, int], *, allow_split: bool
) -> RoutePlan | None:
    """The rule of this module's docstring on plain values; None when nothing can ship it."""
    pool = list(candidates)
    stores = sorted(
        (c for c in pool if not c.is_warehouse and c.distance_km is not None), key=_nearest_first
    )
    for store in stores:
        if store.has_all(lines):
            return RoutePlan([_leg(store, lines)])
    for warehouse in sorted((c for c in pool if c.is_warehouse), key=_nearest_first):
        if warehouse.has_all(lines):
            return RoutePlan([_leg(warehouse, lines)])
    if not allow_split:
        return None
    missing = dict(lines)
    left = stores + sorted((c for c in pool if c.is_warehouse), key=_nearest_first)
    legs = []
    while missing and left:
        # The most units still missing; on a tie the list's order (nearest store first) wins.
        _gain, _order, best = max(
            (sum(min(c.free.get(k, 0), q) for k, q in missing.items()), -i, c)
            for i, c in enumerate(left)
        )
        take = {k: min(best.free.get(k, 0), q) for k, q in missing.items()}
        take = {k: q for k, q in take.items() if q > 0}
        if not take:
            break
        legs.append(_leg(best, take))
        for key, qty in take.items():
            missing[key] -= qty
            if missing[key] == 0:
                del missing[key]
        left.remove(best)
    return RoutePlan(legs) if not missing else None


def sellable_per_line(
    candidates: Iterable[Candidate], lines: Mapping[LineKey, int], *, allow_split: bool
) -> dict[LineKey, int]:
    """How many units of each line could be sold: summed over the locations when a split is
    allowed, else the most any one location (that counts: stores with a point, warehouses)
    holds."""
    pool = [c for c in candidates if c.is_warehouse or c.distance_km is not None]
    if allow_split:
        return {key: sum(c.free.get(key, 0) for c in pool) for key in lines}
    return {key: max((c.free.get(key, 0) for c in pool), default=0) for key in lines}


def load_candidates(
    brand_id: int,
    lines: Mapping[LineKey, int],
    latitude: float,
    longitude: float,
    *,
    exclude: Iterable[int] = (),
) -> list[Candidate]:
    """The brand's enabled delivery locations holding any of the lines, with what they can sell
    of each, in one query (locations holding none of them never come back from it)."""
    skip = set(exclude)
    levels = online_levels(
        brand_id, [v for v, _g in lines], [g for _v, g in lines], channel="delivery"
    )
    if skip:
        levels = levels.where(StockLevel.location_id.notin_(sorted(skip)))
    free: dict[int, dict[LineKey, int]] = {}
    places: dict[int, tuple[int, float | None, float | None]] = {}
    for location_id, org_id, variant_id, grade, units, lat, lon, _pickup in db.session.execute(
        levels
    ):
        if (variant_id, grade) not in lines:
            continue
        free.setdefault(location_id, {})[(variant_id, grade)] = int(units)
        places[location_id] = (org_id, lat, lon)
    candidates = []
    for location_id, held in free.items():
        org_id, lat, lon = places[location_id]
        distance = None
        if lat is not None and lon is not None:
            distance = round(haversine_km(latitude, longitude, lat, lon), 3)
        candidates.append(Candidate(location_id, org_id == brand_id, distance, held))
    return candidates


def load_complete(
    brand_id: int,
    lines: Mapping[LineKey, int],
    latitude: float,
    longitude: float,
    *,
    exclude: Iterable[int] = (),
) -> list[Candidate]:
    """Only the delivery locations that can ship every line in full: SQL keeps each level that
    covers its line and the locations where all of them do, so the common case reads a handful
    of rows, not every store holding one of the SKUs."""
    levels = online_levels(
        brand_id, [v for v, _g in lines], [g for _v, g in lines], channel="delivery"
    )
    covers = or_(
        *(
            and_(StockLevel.variant_id == v, StockLevel.grade == g, free_units() >= q)
            for (v, g), q in lines.items()
        )
    )
    levels = levels.where(covers)
    if exclude:
        levels = levels.where(StockLevel.location_id.notin_(sorted(set(exclude))))
    sub = levels.subquery()
    stmt = (
        select(sub.c.location_id, sub.c.org_id, sub.c.latitude, sub.c.longitude)
        .group_by(sub.c.location_id, sub.c.org_id, sub.c.latitude, sub.c.longitude)
        .having(func.count() == len(lines))
    )
    candidates = []
    for location_id, org_id, lat, lon in db.session.execute(stmt):
        distance = None
        if lat is not None and lon is not None:
            distance = round(haversine_km(latitude, longitude, lat, lon), 3)
        candidates.append(Candidate(location_id, org_id == brand_id, distance, dict(lines)))
    return candidates


def _lines_of(lines: Any) -> dict[LineKey, int]:
    """Mapping ({variant_id: qty} or {(variant_id, grade): qty}) or objects with variant_id,
    qty and grade (cart or order lines)."""
    if isinstance(lines, Mapping):
        return line_quantities(lines)
    merged: dict[tuple[int, str], int] = {}
    for line in lines:
        key = (line.variant_id, getattr(line, "grade", Grade.A) or Grade.A)
        merged[key] = merged.get(key, 0) + line.qty
    return line_quantities(merged)


def route_delivery(
    brand: Organization | int,
    lines: Any,
    latitude: Any,
    longitude: Any,
    *,
    exclude: Iterable[int] = (),
    allow_split: bool | None = None,
) -> RoutePlan:
    """Route a delivery order by the rule of this module's docstring. `allow_split` None reads
    the app's `ROUTING_ALLOW_SPLIT` (default off). Raises CoordinatesOutOfRange for a point off
    the earth, ValidationFailed for a bad line, CannotRoute naming what is short."""
    brand_id = brand if isinstance(brand, int) else brand.id
    lat, lon = check_point(latitude, longitude)
    wanted = _lines_of(lines)
    if allow_split is None:
        allow_split = bool(has_app_context() and current_app.config.get("ROUTING_ALLOW_SPLIT"))
    plan = plan_route(
        load_complete(brand_id, wanted, lat, lon, exclude=exclude), wanted, allow_split=False
    )
    if plan is not None:
        return plan
    candidates = load_candidates(brand_id, wanted, lat, lon, exclude=exclude)
    if allow_split:
        plan = plan_route(candidates, wanted, allow_split=True)
        if plan is not None:
            return plan
    raise _cannot_route(candidates, wanted, allow_split=allow_split)


def _cannot_route(
    candidates: list[Candidate], lines: dict[LineKey, int], *, allow_split: bool
) -> CannotRoute:
    can_sell = sellable_per_line(candidates, lines, allow_split=allow_split)
    skus: dict[int, str] = {
        variant_id: sku
        for variant_id, sku in db.session.execute(
            select(Variant.id, Variant.sku).where(Variant.id.in_({v for v, _g in lines}))
        )
    }

    def name(key: LineKey) -> str:
        variant_id, grade = key
        sku = skus.get(variant_id, str(variant_id))
        return sku if grade == Grade.A else f"{sku} ({grade})"

    short = {key: can_sell[key] for key, qty in lines.items() if can_sell[key] < qty}
    if short:
        fields = {
            name(k): say(_l("Only %(count)d can be sold."), count=n) for k, n in short.items()
        }
        each = "; ".join(
            say(_l("%(sku)s only %(count)d"), sku=name(k), count=n) for k, n in short.items()
        )
        message = say(_l("Not enough stock online: %(lines)s"), lines=each)
    else:
        # Every line is in stock somewhere, but no one location has them all (and no split).
        apart = say(_l("In stock, but not with the order's other lines."))
        fields = {name(k): apart for k in lines}
        message = say(_l("No single location can ship every line of this order."))
    return CannotRoute(message, fields=fields, available={name(k): can_sell[k] for k in lines})
