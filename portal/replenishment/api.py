"""/api/v1/replenishment and /api/v1/sales: suggestions, runs on demand, sell-out reports."""

from __future__ import annotations

from apiflask import APIBlueprint

bp = APIBlueprint("api_replenishment", __name__, url_prefix="/api/v1", tag="Replenishment")
