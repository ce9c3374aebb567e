"""(stub: being written)"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("campaign_sharers", __name__)
