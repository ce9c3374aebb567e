"""Browsing a brand's shop: the home page, categories, search and a product's page."""

from __future__ import annotations

from flask import render_template

from portal.core.access import public
from portal.storefront.shared_views import bp, shop_brand


@bp.get("/")
@public
def home(brand_code: str):
    brand = shop_brand(brand_code)
    return render_template("storefront/home.html", brand=brand)
