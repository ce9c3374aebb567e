"""(stub: being written)"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("campaign_events", __name__)
