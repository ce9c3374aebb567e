"""Browsing a brand's shops: the home page with the official storefront's products, the outlet
and employee storefronts, categories, search and filters, a product's page with its colour x
size grid, and the shop's look (stylesheet, logo) and product images.

Prices are the signed-in consumer's own (a member level's outlet price), as checkout charges
them. The product page says how many stores hold each SKU "near you": near `?lat=&lng=`, else
the city chosen (`?city=`), else the signed-in consumer's default address, within NEAR_YOU_KM;
with no point known, how many stores hold it at all."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Response, current_app, get_template_attribute, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from portal.catalog.services import image_file
from portal.core.access import public
from portal.core.errors import NotFound, ValidationFailed
from portal.core.money import to_cents
from portal.inventory.models import Grade
from portal.network.models import Organization
from portal.storefront import catalog, consumers, look, stock
from portal.storefront.auth import current_consumer
from portal.storefront.entry import may_enter
from portal.storefront.geo import check_point
from portal.storefront.models import Tier
from portal.storefront.shared_views import bp, shop_brand

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}
TIER_NAMES = {
    Tier.OFFICIAL: _l("Official store"),
    Tier.OUTLET: _l("Outlet"),
    Tier.EMPLOYEE: _l("Employee store"),
}


def _cents_arg(name: str) -> int | None:
    """A price bound typed as major units ("199" or "199.5"); anything else is ignored."""
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None
    if not value.is_finite() or value < 0 or value > 10**9:
        return None
    return to_cents(value)


def _filters() -> catalog.Filters:
    def text(name: str, limit: int) -> str | None:
        return (request.args.get(name) or "").strip()[:limit] or None

    return catalog.Filters(
        category=text("category", 40),
        color=text("color", 40),
        size=text("size", 20),
        min_cents=_cents_arg("min"),
        max_cents=_cents_arg("max"),
        q=text("q", 100),
    )


def _after() -> int | None:
    raw = request.args.get("after") or ""
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


def _enter(brand_code: str, tier: str) -> tuple[Organization, Any] | Response:
    """The brand and its look, or a page saying the storefront is closed to this visitor."""
    brand = shop_brand(brand_code)
    settings = look.find_look(brand.id)
    if not may_enter(brand, tier):
        page = render_template(
            "storefront/closed.html",
            brand=brand,
            shop=settings,
            title=look.shop_title(brand, settings),
            tier=tier,
            tier_name=TIER_NAMES[Tier(tier)],
        )
        return Response(page, status=403)
    return brand, settings


@bp.get("/", defaults={"tier": Tier.OFFICIAL.value})
@bp.get("/<any(outlet, employee):tier>/")
@public
def home(brand_code: str, tier: str):
    entered = _enter(brand_code, tier)
    if isinstance(entered, Response):
        return entered
    brand, settings = entered
    filters = _filters()
    consumer = current_consumer(brand)
    page = catalog.shop_page(brand.id, tier, filters, after=_after(), consumer=consumer)
    colors, sizes = catalog.shop_facets(brand.id)
    args = {k: v for k, v in request.args.items() if k != "after" and v}
    return render_template(
        "storefront/home.html",
        brand=brand,
        shop=settings,
        title=look.shop_title(brand, settings),
        tier=tier,
        tier_name=TIER_NAMES[Tier(tier)],
        page=page,
        filters=filters,
        args=args,
        categories=catalog.shop_categories(brand.id),
        colors=colors,
        sizes=sizes,
        products_html=None if consumer else _product_list(brand, tier, page, filters, args),
    )


# The rendered list of a kept page, by brand, tier, language and query: kept with the page it
# shows (`catalog.shop_page` hands out the same object while it keeps one), never longer.
_rendered: dict[tuple[Any, ...], tuple[catalog.ListingPage, Markup]] = {}


def _product_list(
    brand: Organization,
    tier: str,
    page: catalog.ListingPage,
    filters: catalog.Filters,
    args: dict[str, str],
) -> Markup | None:
    if catalog.cache_seconds() <= 0:
        return None
    key = (brand.id, tier, str(get_locale()), _after(), tuple(sorted(args.items())))
    found = _rendered.get(key)
    if found is not None and found[0] is page:
        return found[1]
    if tier == Tier.OFFICIAL:
        base = url_for("storefront.home", brand_code=brand.code)
    else:
        base = url_for("storefront.home", brand_code=brand.code, tier=tier)
    macro = get_template_attribute("storefront/_shop.html", "product_list")
    html = Markup(macro(brand, tier, page, filters, args, base))
    if len(_rendered) >= catalog.LIST_CACHE_SIZE:
        _rendered.clear()
    _rendered[key] = (page, html)
    return html


def _availability(
    brand: Organization, variants: list[Any], tier: str, near: tuple[float, float] | None
) -> dict[int, tuple[int, int, int | None]]:
    """Per SKU (units sellable online, enabled stores that have it, pickup stores near the point
    that have it: None without a point). The employee store also sells grade-B units, so they
    count there."""
    radius = float(current_app.config["NEAR_YOU_KM"])
    found = stock.availability(brand, variants, near=near, radius_km=radius)
    result = {v: (a.sellable, a.stores, a.stores_near) for v, a in found.items()}
    if tier == Tier.EMPLOYEE:
        grade_b = stock.availability(brand, variants, grade=Grade.B, near=near, radius_km=radius)
        for v, b in grade_b.items():
            units, stores, close = result.get(v, (0, 0, None))
            nearby = None if close is None else max(close, b.stores_near or 0)
            result[v] = (units + b.sellable, max(stores, b.stores), nearby)
    return result


def _near(brand: Organization, cities: list[stock.City]) -> tuple[tuple[float, float] | None, str]:
    """The point "near you" means on the product page and what it is: the coordinates asked
    (`lat`, `lng`), a city chosen (`city`), the signed-in consumer's default address; else none.
    Coordinates that are no point on the earth are passed over."""
    lat, lng = request.args.get("lat", "").strip(), request.args.get("lng", "").strip()
    if lat and lng:
        try:
            return check_point(lat, lng), "point"
        except ValidationFailed:
            pass
    city = request.args.get("city", "").strip()[:40]
    if city:
        found = stock.city_point(cities, city)
        if found is not None:
            return (found.latitude, found.longitude), found.name
    consumer = current_consumer(brand)
    if consumer is not None:
        for address in consumers.list_addresses(consumer):
            if address.is_default and None not in (address.latitude, address.longitude):
                return (float(address.latitude or 0), float(address.longitude or 0)), "address"
    return None, ""


@bp.get("/p/<code>", defaults={"tier": Tier.OFFICIAL.value})
@bp.get("/<any(outlet, employee):tier>/p/<code>")
@public
def product(brand_code: str, tier: str, code: str):
    entered = _enter(brand_code, tier)
    if isinstance(entered, Response):
        return entered
    brand, settings = entered
    offer = catalog.get_offer(brand.id, tier, code, consumer=current_consumer(brand))
    cities = stock.pickup_cities(brand)
    near, near_what = _near(brand, cities)
    availability = _availability(brand, list(offer.grid.cells.values()), tier, near)
    return render_template(
        "storefront/product.html",
        brand=brand,
        shop=settings,
        title=look.shop_title(brand, settings),
        tier=tier,
        tier_name=TIER_NAMES[Tier(tier)],
        offer=offer,
        stock=availability,
        near_what=near_what,
        cities=cities,
        city=request.args.get("city", "").strip()[:40],
    )


@bp.get("/p/<code>/image")
@public
def product_image(brand_code: str, code: str):
    """An active product's image: public, like the product page that shows it."""
    brand = shop_brand(brand_code)
    found = catalog.find_active_product(brand.id, code)
    path = image_file(found) if found is not None else None
    if path is None or not path.is_file():
        raise NotFound()
    return _file_response(path)


@bp.get("/theme.css")
@public
def theme_css(brand_code: str):
    brand = shop_brand(brand_code)
    response = Response(look.theme_css(look.find_look(brand.id)), mimetype="text/css")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/logo")
@public
def logo(brand_code: str):
    brand = shop_brand(brand_code)
    path = look.logo_file(look.find_look(brand.id))
    if path is None or not path.is_file():
        raise NotFound()
    return _file_response(path)


def _file_response(path: Any) -> Response:
    mimetype = IMAGE_TYPES.get(path.suffix.lower())
    if mimetype is None:
        raise NotFound()
    # Small files (at most 5 MB): read whole, so no file handle outlives the request.
    response = Response(path.read_bytes(), mimetype=mimetype)
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response
