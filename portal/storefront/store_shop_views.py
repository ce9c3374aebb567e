"""A store's own shop in the browser, `/shop/<brand>/s/<store code>/`: the store's name, hours,
address and map position with the products it can send at its prices; a product's colour x
size grid saying what the store (and, if the owner allows, the warehouse) can send; the shop's
own cart (apart from the official one) and its checkout: pickup at the store or delivery to one
of the consumer's addresses, through `checkout.checkout` with the store as `shop_org_id`, then
the storefront's pay page."""

from __future__ import annotations

import secrets
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.core import transaction
from portal.core.access import public
from portal.core.errors import DomainError
from portal.storefront import consumers, look, store_shops
from portal.storefront.auth import consumer_required, signed_in_consumer
from portal.storefront.checkout import CheckoutLine
from portal.storefront.checkout import checkout as place_order
from portal.storefront.checkout_views import browser_id
from portal.storefront.hooks import CheckoutExtras
from portal.storefront.models import Fulfilment, Tier
from portal.storefront.shared_views import bp, shop_brand
from portal.storefront.store_shop_models import StoreShop


def _shop(brand_code: str, store_code: str) -> tuple[Any, StoreShop]:
    brand = shop_brand(brand_code)
    return brand, store_shops.open_shop(brand, store_code)


def _home_url(brand: Any, shop: StoreShop) -> str:
    return url_for("storefront.store_shop", brand_code=brand.code, store_code=shop.org.code)


def _int(name: str) -> int | None:
    raw = (request.form.get(name) or "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


@bp.get("/s/<store_code>/")
@public
def store_shop(brand_code: str, store_code: str):
    brand, shop = _shop(brand_code, store_code)
    settings = look.find_look(brand.id)
    return render_template(
        "storefront/store_shop/home.html",
        brand=brand,
        shop=settings,
        store_shop=shop,
        title=look.shop_title(brand, settings),
        products=store_shops.list_shop_products(shop),
    )


@bp.get("/s/<store_code>/p/<code>")
@public
def store_shop_product(brand_code: str, store_code: str, code: str):
    brand, shop = _shop(brand_code, store_code)
    settings = look.find_look(brand.id)
    return render_template(
        "storefront/store_shop/product.html",
        brand=brand,
        shop=settings,
        store_shop=shop,
        title=look.shop_title(brand, settings),
        offer=store_shops.shop_offer(shop, code),
    )


@bp.post("/s/<store_code>/cart/add")
@consumer_required
def store_shop_cart_add(brand_code: str, store_code: str):
    brand, shop = _shop(brand_code, store_code)
    qty = _int("qty")
    try:
        store_shops.add_to_cart(
            signed_in_consumer(), shop, _int("variant_id") or 0, qty if qty is not None else -1
        )
    except DomainError as error:
        transaction.discard()
        flash(next(iter(error.fields.values()), error.message), "error")
        product = (request.form.get("product") or "").strip()[:40]
        if product:
            return redirect(
                url_for(
                    "storefront.store_shop_product",
                    brand_code=brand.code,
                    store_code=shop.org.code,
                    code=product,
                )
            )
        return redirect(_home_url(brand, shop))
    flash(_("Added to your cart."), "success")
    return redirect(
        url_for("storefront.store_shop_cart", brand_code=brand.code, store_code=shop.org.code)
    )


@bp.post("/s/<store_code>/cart/lines/<int:line_id>/remove")
@consumer_required
def store_shop_cart_remove(brand_code: str, store_code: str, line_id: int):
    brand, shop = _shop(brand_code, store_code)
    store_shops.remove_from_cart(signed_in_consumer(), shop, line_id)
    return redirect(
        url_for("storefront.store_shop_cart", brand_code=brand.code, store_code=shop.org.code)
    )


def _cart_page(brand: Any, shop: StoreShop, form: dict[str, str], status: int = 200, **more: Any):
    consumer = signed_in_consumer()
    settings = look.find_look(brand.id)
    more.setdefault("errors", {})
    more.setdefault("alert", None)
    return (
        render_template(
            "storefront/store_shop/cart.html",
            brand=brand,
            shop=settings,
            store_shop=shop,
            title=look.shop_title(brand, settings),
            cart=store_shops.shop_cart(consumer, shop),
            addresses=consumers.list_addresses(consumer),
            form=form,
            token=form.get("checkout_token") or secrets.token_urlsafe(32),
            **more,
        ),
        status,
    )


@bp.get("/s/<store_code>/cart")
@consumer_required
def store_shop_cart(brand_code: str, store_code: str):
    brand, shop = _shop(brand_code, store_code)
    return _cart_page(brand, shop, {"fulfilment": Fulfilment.PICKUP.value})


@bp.post("/s/<store_code>/checkout")
@consumer_required
def store_shop_checkout(brand_code: str, store_code: str):
    brand, shop = _shop(brand_code, store_code)
    consumer = signed_in_consumer()
    form = {
        name: (request.form.get(name) or "").strip()[:80]
        for name in ("fulfilment", "address_id", "checkout_token", "guide_code")
    }
    cart = store_shops.shop_cart(consumer, shop)
    try:
        order = place_order(
            consumer,
            brand,
            Tier.OFFICIAL,
            [CheckoutLine(row.variant.id, row.qty) for row in cart.rows if row.cents is not None],
            fulfilment=form["fulfilment"],
            checkout_token=form["checkout_token"],
            address_id=_int("address_id"),
            shop_org_id=shop.org_id,
            # Who sold it: a guide's code typed here, else the links this browser opened.
            extras=CheckoutExtras(guide_code=form["guide_code"] or None, visitor=browser_id()),
        )
    except DomainError as error:
        transaction.discard()
        errors = dict(error.fields)
        alert = error.message if not errors or "lines" in next(iter(errors)) else None
        if alert and errors:
            alert = f"{alert} {next(iter(errors.values()))}"
        return _cart_page(brand, shop, form, 422, errors=errors, alert=alert)
    store_shops.clear_cart(consumer, shop)
    return redirect(url_for("storefront.pay", brand_code=brand.code, number=order.number))
