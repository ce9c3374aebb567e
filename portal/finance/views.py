"""Pages: accounts per channel link, their ledger and credit, statements and their export."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("finance", __name__)
