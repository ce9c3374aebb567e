"""Keeping shelves stocked from the centre: replenishment rules, sales velocity from the stock
ledger and sell-out reports, suggested orders upstream, and the jobs that compute them."""
