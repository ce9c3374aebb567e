"""TODO(helper): pages."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("coupons", __name__)
