"""Checkout in a shop: the cart as it stands, pickup at a store (nearest first, from the
consumer's default address or a chosen city, each saying whether it has every line) or delivery to
one of their addresses (by parcel, or by same-city courier when a store near it has everything),
then `checkout.checkout` and on to the pay page.

Members may also spend points, wallet money and their coupons (what they may is asked of the
hooks the members package fills: `hooks.spend_options`); checkout takes them as
`CheckoutExtras`, and a wrong amount comes back named on its field.

The form carries a one-time token (a double submit finds the order the first one placed), and
what the consumer was shown: a price that changed since, or a cart changed in another tab, is
refused and shown again rather than bought unseen.

Buying one SKU in a group buy (`?group_buy=<code>[&group=<code>]&variant=<id>&qty=<n>`, from the
group buy's pages) is the same page without the cart: the line is priced as checkout will price
it (`checkout.quote`: the hooks of the layer that runs group buys say the price, or refuse), and
the order is placed with `CheckoutExtras(group_buy=..., group=...)`; the cart is left as it is.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.core import transaction
from portal.core.errors import DomainError, ValidationFailed
from portal.core.money import format_money, to_cents
from portal.inventory.models import Grade
from portal.network.models import Organization
from portal.storefront import carts, consumers, couriers, hooks, stock
from portal.storefront.auth import consumer_required, signed_in_consumer
from portal.storefront.browse_views import TIER_NAMES
from portal.storefront.cart_views import tier_url
from portal.storefront.checkout import CheckoutLine, quote
from portal.storefront.checkout import checkout as place_order
from portal.storefront.models import Consumer, Fulfilment, Tier
from portal.storefront.shared_views import bp, shop_brand

FORM_FIELDS = (
    "fulfilment",
    "pickup_location_id",
    "address_id",
    "city",
    "delivery_method",
    "points",
    "wallet",
    "guide_code",
)
POINTS_TYPED = re.compile(r"[0-9]{1,12}\Z")
# Yuan as typed: "25", "25.5", "25.50", "1,234.50" (commas only between groups of three).
YUAN_TYPED = re.compile(r"(?:[0-9]{1,9}|[0-9]{1,3}(?:,[0-9]{3}){1,2})(?:\.[0-9]{1,2})?\Z")
ID_TYPED = re.compile(r"[0-9]{1,18}\Z")
MAX_COUPONS = 10
# The browser's own id that the guides' link page gives it (portal/guides/link_views.py): links
# opened before signing in count at checkout. Read by name, as the storefront imports no guides.
VISITOR_COOKIE = "gv"
VISITOR_TYPED = re.compile(r"[A-Za-z0-9_-]{16,40}\Z")


@dataclass(frozen=True)
class BuyNow:
    """One SKU bought in a group buy, without the cart (see the module's docstring)."""

    group_buy: str
    group: str
    variant_id: int | None
    qty: int

    def line(self) -> CheckoutLine:
        return CheckoutLine(self.variant_id or 0, self.qty)

    def hidden(self) -> dict[str, str]:
        """What the page's forms carry again."""
        return {
            "group_buy": self.group_buy,
            "group": self.group,
            "variant": str(self.variant_id or ""),
            "qty": str(self.qty),
        }


def _buy_now(source: Any) -> BuyNow | None:
    """The group buy a query or form names (None: a checkout of the cart)."""
    group_buy = (source.get("group_buy") or "").strip()[:32]
    group = (source.get("group") or "").strip()[:16]
    if not group_buy and not group:
        return None
    raw_qty = str(source.get("qty") or "1").strip()
    qty = int(raw_qty) if raw_qty.isdigit() and len(raw_qty) <= 3 else 0
    return BuyNow(group_buy, group, _int(source.get("variant")), qty)


def _buy_now_cart(
    consumer: Consumer, brand: Organization, tier: str, buy: BuyNow
) -> carts.PricedCart:
    """The one line as checkout will price it; DomainError as checkout would refuse it."""
    prices = quote(
        consumer,
        brand,
        tier,
        [buy.line()],
        extras=hooks.CheckoutExtras(group_buy=buy.group_buy or None, group=buy.group or None),
    )
    price = prices.get(buy.variant_id or 0)
    if price is None:
        raise ValidationFailed(fields={"lines.0": _("Not sold in this storefront now.")})
    row = carts.CartRow(0, price.variant, Grade.A, buy.qty, price.cents, buy.qty)
    return carts.PricedCart(tier, [row], currency=price.variant.product.currency)


def _extras(
    form: dict[str, str], coupon_ids: list[str], buy: BuyNow | None = None
) -> hooks.CheckoutExtras:
    """What the consumer asked to spend besides money. Raises ValidationFailed naming the
    field of an amount that is not one (checkout checks what may be spent): `points`, `wallet`,
    or `coupon_ids.<i>` for a coupon that is not a coupon's number."""
    errors = {}
    points = form.get("points", "")
    if points and not POINTS_TYPED.match(points):
        errors["points"] = _("Whole points, or leave it empty.")
    wallet_cents = 0
    wallet = form.get("wallet", "")
    if wallet and not YUAN_TYPED.match(wallet):
        errors["wallet"] = _("An amount like 25.50, or leave it empty.")
    elif wallet:
        wallet_cents = to_cents(wallet)
    if len(coupon_ids) > MAX_COUPONS:
        errors["coupon_ids"] = _("At most %(count)d coupons on one order.", count=MAX_COUPONS)
    for i, raw in enumerate(coupon_ids[:MAX_COUPONS]):
        if not ID_TYPED.match(raw):
            errors[f"coupon_ids.{i}"] = _("This is not one of your coupons.")
    if errors:
        raise ValidationFailed(fields=errors)
    return hooks.CheckoutExtras(
        points=int(points) if points else 0,
        wallet_cents=wallet_cents,
        coupon_ids=tuple(int(raw) for raw in coupon_ids),
        guide_code=form.get("guide_code") or None,
        visitor=browser_id(),
        group_buy=(buy.group_buy or None) if buy is not None else None,
        group=(buy.group or None) if buy is not None else None,
    )


def browser_id() -> str | None:
    """The browser id the guides' link page gave this browser, if it looks like one."""
    visitor = request.cookies.get(VISITOR_COOKIE, "")
    return visitor if VISITOR_TYPED.match(visitor) else None


def _spend_errors(
    errors: dict[str, str], coupon_ids: list[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Checkout's refusals as the page shows them: the wallet's under its field here (`wallet`,
    in yuan, where checkout names `wallet_cents`), and each coupon's by the coupon it is about
    (`coupon_ids.<i>` is the i-th coupon sent), apart."""
    shown: dict[str, str] = {}
    by_coupon: dict[str, str] = {}
    for name, message in errors.items():
        head, _dot, index = name.partition(".")
        if name == "wallet_cents":
            shown["wallet"] = message
        elif head == "coupon_ids" and index.isdigit() and int(index) < len(coupon_ids):
            by_coupon[coupon_ids[int(index)]] = message
        else:
            shown[name] = message
    return shown, by_coupon


def _int(value: Any) -> int | None:
    raw = str(value or "").strip()
    return int(raw) if ID_TYPED.match(raw) else None


def _origin(
    brand: Organization, consumer: Consumer, addresses: list[Any], city: str
) -> tuple[tuple[float, float] | None, str, dict[str, tuple[float, float]]]:
    """Where pickup stores are measured from: the chosen city, else the default (or first)
    address with coordinates, else the first city that has pickup stores."""
    cities = carts.pickup_cities(brand)
    if city in cities:
        return cities[city], city, cities
    located = [a for a in addresses if a.latitude is not None and a.longitude is not None]
    located.sort(key=lambda a: not a.is_default)
    if located:
        return (located[0].latitude, located[0].longitude), "", cities
    if cities:
        first = next(iter(cities))
        return cities[first], first, cities
    return None, "", cities


def _page(brand: Organization, tier: str, form: dict[str, str], status: int = 200, **context: Any):
    consumer = signed_in_consumer()
    cart = context.pop("cart", None) or carts.priced_cart(consumer, brand, tier)
    context.setdefault("buy_now", None)
    context.setdefault("blocked", False)
    addresses = consumers.list_addresses(consumer)
    point, city, cities = _origin(brand, consumer, addresses, form.get("city", ""))
    stores: list[stock.NearbyStore] = []
    if point is not None and not cart.is_empty:
        wanted: dict[tuple[int, str], int] = {}
        for row in cart.rows:
            key = (row.variant.id, row.grade)
            wanted[key] = wanted.get(key, 0) + row.qty
        stores = stock.stores_near(brand, point[0], point[1], wanted)
    context.setdefault("errors", {})
    context.setdefault("alert", None)
    context.setdefault("chosen_coupons", [])
    form.setdefault("fulfilment", Fulfilment.PICKUP.value)
    spend = hooks.spend_options(consumer, brand, tier, cart.total_cents)
    # A coupon's refusal beside the coupon; one no longer offered (used meanwhile, or never the
    # consumer's) under the list.
    by_coupon = context.pop("coupon_errors", {})
    offered = {str(coupon.id) for coupon in spend.coupons}
    coupon_other = [message for cid, message in by_coupon.items() if cid not in offered]
    if "coupon_ids" in context["errors"]:
        coupon_other.append(context["errors"]["coupon_ids"])
    return (
        render_template(
            "storefront/checkout.html",
            brand=brand,
            tier=tier,
            tier_name=TIER_NAMES[Tier(tier)],
            cart=cart,
            addresses=addresses,
            stores=stores,
            cities=list(cities),
            city=city,
            form=form,
            token=form.get("checkout_token") or secrets.token_urlsafe(32),
            tier_url=tier_url,
            same_city_km=current_app.config["SAME_CITY_MAX_KM"],
            same_city_fee=couriers.same_city_fee_cents(),
            spend=spend,
            coupon_beside={cid: m for cid, m in by_coupon.items() if cid in offered},
            coupon_other=coupon_other,
            **context,
        ),
        status,
    )


@bp.get("/checkout", defaults={"tier": Tier.OFFICIAL.value})
@bp.get("/<any(outlet, employee):tier>/checkout")
@consumer_required
def checkout(brand_code: str, tier: str):
    brand = shop_brand(brand_code)
    buy = _buy_now(request.args)
    if buy is not None:
        return _buy_now_page(brand, tier, buy, {"city": (request.args.get("city") or "")[:60]})
    if carts.priced_cart(signed_in_consumer(), brand, tier).is_empty:
        flash(_("Your cart is empty."), "error")
        return redirect(tier_url("storefront.cart", brand, tier))
    form = {"city": (request.args.get("city") or "").strip()[:60]}
    return _page(brand, tier, form)


def _buy_now_page(
    brand: Organization,
    tier: str,
    buy: BuyNow,
    form: dict[str, str],
    status: int = 200,
    **context: Any,
):
    """The checkout page for one SKU of a group buy; a refusal of the line or the group (full,
    closed, beyond a limit) is said at the top, with nothing to place."""
    try:
        cart = _buy_now_cart(signed_in_consumer(), brand, tier, buy)
    except DomainError as error:
        transaction.discard()
        context["alert"] = context.get("alert") or error.message
        return _page(
            brand,
            tier,
            form,
            status if status != 200 else (409 if error.status == 409 else 422),
            cart=carts.PricedCart(tier),
            buy_now=buy,
            blocked=True,
            **context,
        )
    return _page(brand, tier, form, status, cart=cart, buy_now=buy, **context)


def _place_buy_now(
    brand: Organization,
    tier: str,
    consumer: Consumer,
    form: dict[str, str],
    coupon_ids: list[str],
    buy: BuyNow,
):
    """Place the group buy's order; the price charged must be the one the page showed."""
    seen = _seen(request.form.get("seen", "")).get(0)
    try:
        extras = _extras(form, coupon_ids, buy)
        order = place_order(
            consumer,
            brand,
            tier,
            [buy.line()],
            fulfilment=form["fulfilment"],
            checkout_token=form["checkout_token"],
            pickup_location_id=_int(form["pickup_location_id"]),
            address_id=_int(form["address_id"]),
            delivery_method=form["delivery_method"] or None,
            extras=extras,
        )
        charged = order.lines[0].unit_price_cents
        if seen != charged:
            raise ValidationFailed(
                _("Something in your order changed. Nothing was ordered."),
                fields={
                    "lines.0": _(
                        "The price is now %(price)s: check it and place the order again.",
                        price=format_money(charged, order.currency),
                    )
                },
            )
    except DomainError as error:
        transaction.discard()
        errors, by_coupon = _spend_errors(dict(error.fields), coupon_ids)
        named = errors or by_coupon
        alert = error.message if not isinstance(error, ValidationFailed) or not named else None
        return _buy_now_page(
            brand,
            tier,
            buy,
            form,
            409 if error.status == 409 else 422,
            errors=errors,
            alert=alert,
            chosen_coupons=coupon_ids,
            coupon_errors=by_coupon,
        )
    return redirect(_pay_url(brand, order.number))


def _seen(raw: str) -> dict[int, int | None]:
    """The prices the page showed, by cart line ("line:cents,..."); unreadable parts are
    dropped (the line then counts as unseen)."""
    seen: dict[int, int | None] = {}
    for part in raw.split(",")[: carts.MAX_LINES]:
        line, _sep, cents = part.partition(":")
        if line.isdigit():
            seen[int(line)] = int(cents) if cents.isdigit() else None
    return seen


def _unseen_changes(cart: carts.PricedCart, form: dict[str, str]) -> dict[str, str]:
    """Lines whose price or presence differs from what the page showed, by `lines.<i>`."""
    seen = _seen(form.get("seen", ""))
    errors = {}
    for i, row in enumerate(cart.rows):
        if not row.is_listed:
            errors[f"lines.{i}"] = _("No longer sold in this storefront: remove it.")
        elif row.line_id not in seen:
            errors[f"lines.{i}"] = _("Added after this page was shown: check it.")
        elif seen[row.line_id] != row.cents:
            errors[f"lines.{i}"] = _(
                "The price is now %(price)s: check it and place the order again.",
                price=format_money(row.cents or 0, cart.currency),
            )
    if not errors and form.get("fingerprint") != cart.fingerprint():
        errors["lines"] = _("Your cart changed since this page was shown: check it again.")
    return errors


@bp.post("/checkout", defaults={"tier": Tier.OFFICIAL.value})
@bp.post("/<any(outlet, employee):tier>/checkout")
@consumer_required
def checkout_place(brand_code: str, tier: str):
    brand = shop_brand(brand_code)
    consumer = signed_in_consumer()
    form = {name: (request.form.get(name) or "").strip()[:80] for name in FORM_FIELDS}
    coupon_ids = [raw.strip()[:20] for raw in request.form.getlist("coupon_ids")[: MAX_COUPONS + 1]]
    form["checkout_token"] = (request.form.get("checkout_token") or "").strip()[:64]
    placed = carts.find_placed(consumer, form["checkout_token"])
    if placed is not None:  # the same form sent twice: one order
        return redirect(_pay_url(brand, placed.number))
    buy = _buy_now(request.form)
    if buy is not None:
        return _place_buy_now(brand, tier, consumer, form, coupon_ids, buy)
    cart = carts.priced_cart(consumer, brand, tier)
    if not cart.is_empty:
        changed = _unseen_changes(
            cart, {"seen": request.form.get("seen", ""), "fingerprint": request.form.get("fp", "")}
        )
        if changed:
            alert = _("Something in your cart changed. Nothing was ordered.")
            return _page(
                brand, tier, form, 409, errors=changed, alert=alert, chosen_coupons=coupon_ids
            )
    try:
        extras = _extras(form, coupon_ids)
        order = place_order(
            consumer,
            brand,
            tier,
            cart.checkout_lines(),
            fulfilment=form["fulfilment"],
            checkout_token=form["checkout_token"],
            pickup_location_id=_int(form["pickup_location_id"]),
            address_id=_int(form["address_id"]),
            delivery_method=form["delivery_method"] or None,
            extras=extras,
        )
    except DomainError as error:
        transaction.discard()
        errors, by_coupon = _spend_errors(dict(error.fields), coupon_ids)
        named = errors or by_coupon
        alert = error.message if not isinstance(error, ValidationFailed) or not named else None
        if cart.is_empty:
            alert = _("Your cart is empty: add something first.")
        return _page(
            brand,
            tier,
            form,
            422,
            errors=errors,
            alert=alert,
            chosen_coupons=coupon_ids,
            coupon_errors=by_coupon,
        )
    carts.clear(consumer, tier)
    return redirect(_pay_url(brand, order.number))


def _pay_url(brand: Organization, number: str) -> str:
    return url_for("storefront.pay", brand_code=brand.code, number=number)
