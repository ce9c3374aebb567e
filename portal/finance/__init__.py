"""Money between a buyer and its supplier: one account per channel link, its append-only ledger,
open balance, credit available and statements."""
