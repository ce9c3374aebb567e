"""The consumer's cart in a shop: `/shop/<brand>/cart` (official) and `/shop/<brand>/<tier>/cart`,
filled from the product page's "add to cart" forms, with today's prices and what can still be
sold online. Also the storefront nav's knowledge of who is signed in."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.core import transaction
from portal.core.errors import DomainError
from portal.network.models import Organization
from portal.storefront import carts
from portal.storefront.auth import consumer_required, current_consumer, signed_in_consumer
from portal.storefront.browse_views import TIER_NAMES
from portal.storefront.models import Tier
from portal.storefront.shared_views import bp, shop_brand


@bp.context_processor
def _nav() -> dict[str, Any]:
    """The nav's cart and account links need the signed-in consumer, if any (read once)."""
    brand_code = (request.view_args or {}).get("brand_code")
    consumer = None
    if brand_code:
        try:
            consumer = current_consumer(shop_brand(brand_code))
        except DomainError:
            consumer = None
    return {"shop_consumer": consumer}


def tier_url(endpoint: str, brand: Organization, tier: str, **values: Any) -> str:
    """The address of a tiered page: the official shop has no tier in its path."""
    if tier != Tier.OFFICIAL:
        values["tier"] = tier
    return url_for(endpoint, brand_code=brand.code, **values)


def _int(name: str, default: int | None = None) -> int | None:
    raw = (request.form.get(name) or "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 10 else default


def _cart_page(brand: Organization, tier: str, status: int = 200, **context: Any):
    consumer = signed_in_consumer()
    context.setdefault("errors", {})
    return (
        render_template(
            "storefront/cart.html",
            brand=brand,
            tier=tier,
            tier_name=TIER_NAMES[Tier(tier)],
            cart=carts.priced_cart(consumer, brand, tier),
            tier_url=tier_url,
            **context,
        ),
        status,
    )


@bp.get("/cart", defaults={"tier": Tier.OFFICIAL.value})
@bp.get("/<any(outlet, employee):tier>/cart")
@consumer_required
def cart(brand_code: str, tier: str):
    return _cart_page(shop_brand(brand_code), tier)


@bp.post("/cart/add", defaults={"tier": Tier.OFFICIAL.value})
@bp.post("/<any(outlet, employee):tier>/cart/add")
@consumer_required
def cart_add(brand_code: str, tier: str):
    brand = shop_brand(brand_code)
    variant_id = _int("variant_id", 0) or 0
    qty = _int("qty", 1)
    product = (request.form.get("product") or "").strip()[:40]
    try:
        carts.add(signed_in_consumer(), brand, tier, variant_id, qty if qty is not None else -1)
    except DomainError as error:
        transaction.discard()
        flash(next(iter(error.fields.values()), error.message), "error")
        if product:
            return redirect(tier_url("storefront.product", brand, tier, code=product))
        return redirect(tier_url("storefront.cart", brand, tier))
    flash(_("Added to your cart."), "success")
    return redirect(tier_url("storefront.cart", brand, tier))


@bp.post("/cart/lines/<int:line_id>", defaults={"tier": Tier.OFFICIAL.value})
@bp.post("/<any(outlet, employee):tier>/cart/lines/<int:line_id>")
@consumer_required
def cart_line(brand_code: str, tier: str, line_id: int):
    """Set a line's quantity (0 or the remove button takes it out)."""
    brand = shop_brand(brand_code)
    consumer = signed_in_consumer()
    try:
        if request.form.get("remove"):
            carts.remove(consumer, brand, tier, line_id)
        else:
            qty = _int("qty")
            carts.set_qty(consumer, brand, tier, line_id, qty if qty is not None else -1)
    except DomainError as error:
        if error.status == 404:
            raise
        transaction.discard()
        errors = {f"qty.{line_id}": next(iter(error.fields.values()), error.message)}
        return _cart_page(brand, tier, 422, errors=errors)
    return redirect(tier_url("storefront.cart", brand, tier))
