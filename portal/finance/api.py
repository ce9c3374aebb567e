"""/api/v1/accounts: balances, credit and ledger entries for an ERP."""

from __future__ import annotations

from apiflask import APIBlueprint

bp = APIBlueprint("api_finance", __name__, url_prefix="/api/v1", tag="Finance")
