"""The store owner's pages for the store's own shop, under `/my-shop/` (`shop.sell`; the actor's
own store only: anyone else's org has no shop here, 404): this month's online sales with links
to the pickup and ship queues and to the guides' page, the shop's settings (on or off, hours,
address, map position, warehouse shipping, the receiver account for profit sharing) and its
prices (official price, floor, the store's own; one below the floor is refused on the spot).
A store selling for several brands picks one with `?brand=<code>`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.core import transaction
from portal.core.access import Permission, current_actor, require
from portal.core.errors import ValidationFailed
from portal.network.models import Organization
from portal.storefront import store_shops
from portal.storefront.store_shops import ShopSettings

bp = Blueprint("my_shop", __name__, url_prefix="/my-shop")


def _owner() -> tuple[Organization, Organization]:
    return store_shops.own_store(current_actor(), request.args.get("brand"))


def _url(endpoint: str, brand: Organization, **values: Any) -> str:
    return url_for(endpoint, brand=brand.code, **values)


@bp.get("/")
@require(Permission.SHOP_SELL)
def home():
    actor = current_actor()
    brand, store = _owner()
    return render_template(
        "my_shop/home.html",
        brand=brand,
        store=store,
        store_shop=store_shops.shop_for_owner(actor, brand, store),
        sales=store_shops.month_sales(actor, brand, store),
    )


def _settings_page(brand, store, shop, form: dict[str, Any], errors=None, status=200):
    return render_template(
        "my_shop/settings.html",
        brand=brand,
        store=store,
        store_shop=shop,
        form=form,
        errors=errors or {},
    ), status


def _form_of(shop) -> dict[str, Any]:
    return {
        "enabled": shop.is_enabled,
        "hours": shop.hours,
        "address": shop.address,
        "latitude": "" if shop.latitude is None else shop.latitude,
        "longitude": "" if shop.longitude is None else shop.longitude,
        "ship_from_warehouse": shop.ship_from_warehouse,
        "profit_share_account": shop.profit_share_account,
    }


@bp.get("/settings")
@require(Permission.SHOP_SELL)
def settings():
    brand, store = _owner()
    shop = store_shops.shop_for_owner(current_actor(), brand, store)
    return _settings_page(brand, store, shop, _form_of(shop))


@bp.post("/settings")
@require(Permission.SHOP_SELL)
def save_settings():
    actor = current_actor()
    brand, store = _owner()
    text = {
        name: (request.form.get(name) or "")[:400]
        for name in ("hours", "address", "latitude", "longitude", "profit_share_account")
    }
    wanted = ShopSettings(
        enabled=bool(request.form.get("enabled")),
        ship_from_warehouse=bool(request.form.get("ship_from_warehouse")),
        **text,
    )
    try:
        store_shops.save_settings(actor, brand, store, wanted)
    except ValidationFailed as error:
        transaction.discard()
        shop = store_shops.shop_for_owner(actor, brand, store)
        form = {
            **text,
            "enabled": wanted.enabled,
            "ship_from_warehouse": wanted.ship_from_warehouse,
        }
        return _settings_page(brand, store, shop, form, dict(error.fields), 422)
    flash(_("The shop's settings are saved."), "success")
    return redirect(_url("my_shop.settings", brand))


def _prices_page(brand, store, errors=None, typed=None, status=200):
    return render_template(
        "my_shop/prices.html",
        brand=brand,
        store=store,
        rows=store_shops.price_table(current_actor(), brand, store),
        errors=errors or {},
        typed=typed or {},
    ), status


@bp.get("/prices")
@require(Permission.SHOP_SELL)
def prices():
    brand, store = _owner()
    return _prices_page(brand, store)


@bp.post("/prices/<code>")
@require(Permission.SHOP_SELL)
def set_price(code: str):
    actor = current_actor()
    brand, store = _owner()
    price = (request.form.get("price") or "").strip()[:20]
    try:
        row = store_shops.set_price(actor, brand, store, code, price)
    except ValidationFailed as error:
        transaction.discard()
        message = error.fields.get("price", error.message)
        return _prices_page(brand, store, {code.upper(): message}, {code.upper(): price}, 422)
    if row.price_cents is None:
        flash(_("%(code)s: back to the official price.", code=code.upper()), "success")
    else:
        flash(_("%(code)s: the store's price is saved.", code=code.upper()), "success")
    return redirect(_url("my_shop.prices", brand))
