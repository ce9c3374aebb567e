"""TODO(helper): pages."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("private_sales", __name__)
