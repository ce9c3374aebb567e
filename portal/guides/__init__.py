"""Shopping guides, their signed links and customers, attribution of consumer sales, the
commission ledger and its month-end settlement, and the split of each sale's money (DESIGN §7).

The storefront never imports this package: `plugs.register()` (called by create_app) puts its
rules into the storefront's hooks (portal/storefront/hooks.py), after the members' own.
"""
