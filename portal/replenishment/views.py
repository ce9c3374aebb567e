"""Pages: suggested orders, replenishment rules, runs and HQ's overview."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("replenishment", __name__)
