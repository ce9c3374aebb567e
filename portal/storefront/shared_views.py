"""What the storefront pages share: their blueprint (`storefront`, every brand's shops under
`/shop/<brand_code>/`) and how a page finds its brand (`shops.shop_brand`). The routes live in
the `*_views` modules that `views` gathers. (Named `_views` so the import contract keeps other
packages out of it.)
"""

from __future__ import annotations

from flask import Blueprint

from portal.storefront.shops import forget_shop_brands, shop_brand

bp = Blueprint("storefront", __name__, url_prefix="/shop/<brand_code>")
# Every request starts without the brands an earlier one found (shops.shop_brand).
bp.before_app_request(forget_shop_brands)

__all__ = ["bp", "shop_brand"]
