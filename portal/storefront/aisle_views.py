"""The endless aisle's page for store staff, `/shop-orders/aisle` (`shop.fulfil`, a store's
people): choose a product and size of the official collection, find the walk-in customer by
phone, have it delivered to the address they give (with its map position) or picked up at
another store; the order then shows its number and the pay page's link, as text and as a QR
code the customer scans to pay on their phone. An order placed by someone else is a 404."""

from __future__ import annotations

import secrets
from typing import Any

import segno
from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from portal.core import transaction
from portal.core.access import Permission, current_actor, require
from portal.core.errors import DomainError, NotFound
from portal.network.models import Organization
from portal.storefront import aisle
from portal.storefront.models import ConsumerOrder, Fulfilment

bp = Blueprint("aisle", __name__)

ADDRESS_FIELDS = ("recipient", "province", "city", "district", "line", "latitude", "longitude")


def _page(brand: Organization, form: dict[str, str], *, errors=None, alert=None, status=200):
    actor = current_actor()
    skus: list[aisle.AisleSku] = []
    product = form.get("product", "")
    product_errors = {}
    if product:
        try:
            skus = aisle.product_skus(brand, product, shop_org_id=actor.org_id)
        except NotFound:
            product_errors["product"] = _("No product of the official collection has this code.")
    return render_template(
        "shop_orders/aisle.html",
        brand=brand,
        form=form,
        skus=skus,
        stores=aisle.pickup_stores(brand),
        errors={**product_errors, **(errors or {})},
        alert=alert,
        token=form.get("checkout_token") or secrets.token_urlsafe(24),
    ), status


@bp.get("/shop-orders/aisle")
@require(Permission.SHOP_FULFIL)
def aisle_form():
    brand = aisle.staff_brand(current_actor(), request.args.get("brand"))
    form = {"product": (request.args.get("product") or "").strip()[:40]}
    form["fulfilment"] = Fulfilment.DELIVERY.value
    return _page(brand, form)


def _int(raw: str) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


@bp.post("/shop-orders/aisle")
@require(Permission.SHOP_FULFIL)
def aisle_place():
    actor = current_actor()
    brand = aisle.staff_brand(actor, request.args.get("brand"))
    names = ("product", "variant_id", "qty", "phone", "name", "fulfilment", "pickup_location_id")
    form = {name: (request.form.get(name) or "").strip()[:120] for name in names}
    form["checkout_token"] = (request.form.get("checkout_token") or "").strip()[:64]
    address = {
        name: (request.form.get(f"address.{name}") or "").strip()[:255] for name in ADDRESS_FIELDS
    }
    form.update({f"address.{name}": value for name, value in address.items()})
    try:
        consumer = aisle.find_or_make_consumer(brand, form["phone"], form["name"])
        order = aisle.place_for_walk_in(
            actor,
            brand,
            consumer,
            aisle.AisleOrder(
                variant_id=_int(form["variant_id"]) or 0,
                qty=_int(form["qty"]) or 1,
                fulfilment=form["fulfilment"],
                pickup_location_id=_int(form["pickup_location_id"]),
                address={**address, "phone": consumer.phone or ""},
                checkout_token=form["checkout_token"],
            ),
        )
    except DomainError as error:
        transaction.discard()
        errors = {_field(name): message for name, message in error.fields.items()}
        return _page(brand, form, errors=errors, alert=error.message, status=422)
    return redirect(url_for("aisle.aisle_order", number=order.number))


def _field(name: str) -> str:
    """Checkout's field names as this form has them."""
    if name.startswith("lines."):
        return "variant_id"
    if name == "address_id":
        return "address.latitude"
    if name == "address.phone":
        return "phone"
    return name


def pay_url(brand_code: str, number: str) -> str:
    path = url_for("storefront.pay", brand_code=brand_code, number=number)
    return str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/") + path


@bp.get("/shop-orders/aisle/<number>")
@require(Permission.SHOP_FULFIL, load=aisle.get_placed_order)
def aisle_order(order: ConsumerOrder):
    url = pay_url(order.brand.code, order.number)
    qr: Any = Markup(segno.make(url, error="m").svg_inline(scale=5))
    return render_template("shop_orders/aisle_order.html", order=order, pay_url=url, qr=qr)
