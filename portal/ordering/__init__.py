"""Buying along the channel: carts, orders and their lines, approvals, shipments, receipts,
returns and the order timeline."""
