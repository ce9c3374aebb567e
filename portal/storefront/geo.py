"""Great-circle distances between points on the earth, and the check that a point is one.

Distances are computed in Python, never in SQL: SQLite has no trigonometry unless it was built
with it, and sorting the few thousand stores of a brand by distance costs about a millisecond.
Where SQL must narrow by distance (a count of stores near a point), `near_condition` uses the
equirectangular approximation, plain arithmetic both backends run, accurate to well under 1% at
the radii a shopper means by "near".
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import ColumnElement, and_

from portal.core.errors import ValidationFailed

EARTH_RADIUS_KM = 6371.0088  # the mean radius (IUGG)
KM_PER_DEGREE = math.pi * EARTH_RADIUS_KM / 180


class CoordinatesOutOfRange(ValidationFailed):
    code = "coordinates_out_of_range"
    message = "The coordinates are not a point on the earth."


def check_point(
    latitude: Any, longitude: Any, *, fields: tuple[str, str] = ("latitude", "longitude")
) -> tuple[float, float]:
    """The point as two floats, or CoordinatesOutOfRange naming the bad field(s): latitude
    within [-90, 90], longitude within [-180, 180], both finite numbers."""
    problems: dict[str, str] = {}
    point = []
    for value, name, limit in ((latitude, fields[0], 90.0), (longitude, fields[1], 180.0)):
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if isinstance(value, bool) or not math.isfinite(number):
            problems[name] = "Not a number."
        elif not -limit <= number <= limit:
            problems[name] = f"Must be between {-limit:g} and {limit:g}."
        point.append(number)
    if problems:
        raise CoordinatesOutOfRange(fields=problems)
    return point[0], point[1]


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two points given in degrees."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def near_condition(
    lat_col: Any, lon_col: Any, latitude: float, longitude: float, radius_km: float
) -> ColumnElement[bool]:
    """SQL condition: the row's point lies within about `radius_km` of the given one. A bounding
    box first (an index on the coordinates could use it), then the equirectangular distance."""
    dlat = radius_km / KM_PER_DEGREE
    scale = max(math.cos(math.radians(latitude)), 1e-6)
    dlon = min(180.0, dlat / scale)
    dy = lat_col - latitude
    dx = (lon_col - longitude) * scale
    return and_(
        lat_col.isnot(None),
        lon_col.isnot(None),
        lat_col.between(latitude - dlat, latitude + dlat),
        lon_col.between(longitude - dlon, longitude + dlon),
        dy * dy + dx * dx <= dlat * dlat,
    )
