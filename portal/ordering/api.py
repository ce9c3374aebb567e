"""/api/v1/orders: place orders (idempotently), read them, move them along."""

from __future__ import annotations

from apiflask import APIBlueprint

bp = APIBlueprint("api_ordering", __name__, url_prefix="/api/v1", tag="Orders")
