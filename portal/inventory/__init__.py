"""Stock: locations, levels per SKU and grade, the append-only ledger every change goes through,
reservations that never oversell, adjustments, and the check that proves levels match the ledger."""
