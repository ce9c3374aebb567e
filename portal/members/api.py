"""The members API. TODO(helper A): POS sales; balances."""

from __future__ import annotations

from apiflask import APIBlueprint

bp = APIBlueprint("api_members", __name__, url_prefix="/api/v1")
