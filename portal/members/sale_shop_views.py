"""The employee store's people's private-sale pages (`/shop/<brand>/employee/sales/`): the sales
open or coming for their audience; a sale's page counts down to its opening, then lists its items
at event prices with what is left of the stock and of the person's limits, and buys them at once
("buy now": `checkout.checkout` in the sale, then on to the pay page). Routes join the
`private_sales` blueprint (sale_views gathers them)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from flask import redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.core import transaction
from portal.core.errors import DomainError, ValidationFailed
from portal.members import limits
from portal.members import private_sales as sales
from portal.members.sale_models import PrivateSale, PrivateSaleItem, SaleAudience
from portal.members.sale_shared_views import bp
from portal.network.models import Organization
from portal.storefront import carts, consumers
from portal.storefront.auth import consumer_required, signed_in_consumer
from portal.storefront.checkout import CheckoutLine, checkout
from portal.storefront.hooks import CheckoutExtras
from portal.storefront.models import Consumer, Fulfilment, Tier
from portal.storefront.shops import shop_brand

MAX_BUY = 99  # units of one item in one order (checkout's own cap)


def _closed(brand: Organization, message: str):
    return render_template("members/sales/closed.html", brand=brand, message=message), 403


def _may_enter(brand: Organization, consumer: Consumer) -> bool:
    return bool(sales.entitlement_kinds(brand, consumer))


@bp.get("/shop/<brand_code>/employee/sales/")
@consumer_required
def shop_sales(brand_code: str):
    brand = shop_brand(brand_code)
    consumer = signed_in_consumer()
    if not _may_enter(brand, consumer):
        return _closed(brand, _("Private sales are for the employee store's people."))
    found = sales.sales_for(brand, consumer)
    return render_template(
        "members/sales/shop_list.html",
        brand=brand,
        open_sales=[sale for sale in found if sales.is_open(sale)],
        coming=[sale for sale in found if sales.is_coming(sale)],
    )


@dataclass(frozen=True)
class ItemRow:
    item: PrivateSaleItem
    name: str
    left: int  # of the sale's stock
    limit: int | None  # the item's own per-person limit
    may_buy: int  # what this person may still buy of it (stock and limits)
    event_only: bool


def _rows(brand: Organization, consumer: Consumer, sale: PrivateSale) -> list[ItemRow]:
    names = sales.product_names(sale.items)
    only = sales.event_only(brand, sale.items)
    allowed = limits.allowance(brand, consumer, [item.variant_id for item in sale.items], sale)
    rows = []
    for item in sale.items:
        left = item.left if sales.is_open(sale) else 0
        mine = allowed.units.get(item.variant_id)
        rows.append(
            ItemRow(
                item=item,
                name=names.get(item.variant_id, ""),
                left=left,
                limit=item.limit_per_person,
                may_buy=max(0, min(left, MAX_BUY, mine if mine is not None else MAX_BUY)),
                event_only=item.variant_id in only,
            )
        )
    return rows


def _sale_page(
    brand: Organization,
    consumer: Consumer,
    sale: PrivateSale,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    alert: str | None = None,
    status: int = 200,
):
    online = {o.location_id: o for o, _location in sales.sale_locations(brand)}
    where = online.get(sale.location_id)
    form = form or {}
    allowed = limits.allowance(brand, consumer, [], sale)
    return render_template(
        "members/sales/shop_sale.html",
        brand=brand,
        sale=sale,
        rows=_rows(brand, consumer, sale),
        is_open=sales.is_open(sale),
        is_coming=sales.is_coming(sale),
        money_left=allowed.cents,
        currency=sale.items[0].variant.product.currency if sale.items else "CNY",
        pickup=bool(where and where.pickup),
        delivery=bool(where and where.delivery),
        addresses=consumers.list_addresses(consumer),
        form=form,
        errors=errors or {},
        alert=alert,
        token=form.get("checkout_token") or secrets.token_urlsafe(32),
        audience=sales.AUDIENCE_NAMES[SaleAudience(sale.audience)],
    ), status


def _shop_sale(brand: Organization, consumer: Consumer, code: str) -> PrivateSale | Any:
    """The sale, or a page saying why the consumer may not see it."""
    if not _may_enter(brand, consumer):
        return _closed(brand, _("Private sales are for the employee store's people."))
    sale = sales.find_published(brand, code)
    if not sales.in_audience(sale, sales.entitlement_kinds(brand, consumer)):
        audience = str(sales.AUDIENCE_NAMES[SaleAudience(sale.audience)]).lower()
        return _closed(
            brand, _("%(sale)s is open to: %(audience)s.", sale=sale.name, audience=audience)
        )
    return sale


@bp.get("/shop/<brand_code>/employee/sales/<code>")
@consumer_required
def shop_sale(brand_code: str, code: str):
    brand = shop_brand(brand_code)
    consumer = signed_in_consumer()
    found = _shop_sale(brand, consumer, code)
    if not isinstance(found, PrivateSale):
        return found
    return _sale_page(brand, consumer, found)


def _wanted(sale: PrivateSale, form: Any) -> tuple[list[CheckoutLine], list[int], dict[str, str]]:
    """The lines the form asks for, the item id of each line, and errors by item field."""
    lines: list[CheckoutLine] = []
    item_ids: list[int] = []
    errors: dict[str, str] = {}
    for item in sale.items:
        raw = (form.get(f"qty-{item.id}") or "0").strip()
        if not raw.isdigit() or len(raw) > 3 or int(raw) > MAX_BUY:
            errors[f"item-{item.id}"] = _("A quantity from 0 to %(max)d.", max=MAX_BUY)
            continue
        if int(raw) > 0:
            lines.append(CheckoutLine(item.variant_id, int(raw), item.grade))
            item_ids.append(item.id)
    if not lines and not errors:
        errors["lines"] = _("Choose how many you want of at least one item.")
    return lines, item_ids, errors


def _item_errors(error: DomainError, item_ids: list[int]) -> dict[str, str]:
    """A checkout's errors with `lines.<i>` named by the item of that line."""
    named: dict[str, str] = {}
    for name, message in error.fields.items():
        index = name.split(".", 1)[1] if name.startswith("lines.") else ""
        if index.isdigit() and int(index) < len(item_ids):
            named[f"item-{item_ids[int(index)]}"] = message
        else:
            named[name] = message
    return named


@bp.post("/shop/<brand_code>/employee/sales/<code>/buy")
@consumer_required
def shop_sale_buy(brand_code: str, code: str):
    brand = shop_brand(brand_code)
    consumer = signed_in_consumer()
    found = _shop_sale(brand, consumer, code)
    if not isinstance(found, PrivateSale):
        return found
    sale = found
    form = {
        name: (request.form.get(name) or "").strip()[:80]
        for name in ("fulfilment", "address_id", "checkout_token")
    }
    placed = carts.find_placed(consumer, form["checkout_token"])
    if placed is not None:  # the same form sent twice: one order
        return redirect(url_for("storefront.pay", brand_code=brand.code, number=placed.number))
    lines, item_ids, errors = _wanted(sale, request.form)
    if errors:
        alert = _("Nothing was ordered.")
        return _sale_page(brand, consumer, sale, form=form, errors=errors, alert=alert, status=422)
    address_id = form["address_id"]
    try:
        order = checkout(
            consumer,
            brand,
            Tier.EMPLOYEE,
            lines,
            fulfilment=form["fulfilment"],
            checkout_token=form["checkout_token"],
            pickup_location_id=sale.location_id
            if form["fulfilment"] == Fulfilment.PICKUP
            else None,
            address_id=int(address_id) if address_id.isdigit() and len(address_id) < 19 else None,
            extras=CheckoutExtras(event_code=sale.code),
        )
    except DomainError as error:
        transaction.discard()
        errors = _item_errors(error, item_ids)
        alert = error.message if not isinstance(error, ValidationFailed) or not errors else None
        return _sale_page(
            brand,
            consumer,
            sales.find_published(brand, code),
            form=form,
            errors=errors,
            alert=alert or _("Nothing was ordered."),
            status=422,
        )
    return redirect(url_for("storefront.pay", brand_code=brand.code, number=order.number))
