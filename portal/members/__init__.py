"""Members, points, wallet, coupons and the employee store (DESIGN §7), on top of the storefront.

The storefront never imports this package: `plugs.register()` (called by create_app) puts this
package's rules into the storefront's hooks (portal/storefront/hooks.py).
"""
