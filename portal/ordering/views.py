"""Pages: carts, the order grid, orders and their timeline, the supplier's queue."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("ordering", __name__)
