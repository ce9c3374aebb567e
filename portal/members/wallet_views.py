"""TODO(helper): pages."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("member_wallet", __name__)
