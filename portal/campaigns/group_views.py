"""(stub: being written)"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("campaign_groups", __name__)
