"""/api/v1/shop/<brand_code>: browsing through the mini-program: a storefront's catalog, a
product with what sells online (and near the shopper), availability, and pickup stores near a
point. Public where the storefront is (the official one); the outlet answers a signed-in consumer
of the brand only (`entry`). Prices are the bearer's own when a consumer's token is sent (a
member level's outlet price), as checkout charges them. The cart, checkout and orders are in
`shop_order_api`."""

from __future__ import annotations

from typing import Any

from flask import url_for

from portal.core.access import public
from portal.core.errors import DomainError, PermissionDenied, ValidationFailed
from portal.inventory.models import Grade
from portal.network.models import Organization
from portal.storefront import catalog, checkout, stock
from portal.storefront.api import bp
from portal.storefront.auth import current_consumer
from portal.storefront.entry import may_enter
from portal.storefront.models import (
    Consumer,
    ConsumerOrderStatus,
    Tier,
)
from portal.storefront.shared_views import shop_brand
from portal.storefront.shop_schemas import (
    ShopAvailabilityOut,
    ShopAvailabilityQuery,
    ShopCatalogOut,
    ShopCatalogQuery,
    ShopPointQuery,
    ShopProductOut,
    ShopStoresIn,
    ShopStoresOut,
)

S = ConsumerOrderStatus
# The pickup code is shown once the order is paid and until it is collected or called off.
CODE_SHOWN = (S.PAID, S.PREPARING, S.READY_FOR_PICKUP)


class PaymentUnavailable(DomainError):
    code = "payment_unavailable"
    status = 503
    message = "Payment is not available in this shop right now."


# -- helpers -------------------------------------------------------------------------------------


def iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def entered(brand_code: str, tier: str, consumer: Consumer | None = None) -> Organization:
    brand = shop_brand(brand_code)
    if not may_enter(brand, tier, consumer):
        raise PermissionDenied("This storefront is not open to you.")
    return brand


def _image_url(brand: Organization, code: str, has_image: bool) -> str | None:
    if not has_image:
        return None
    return url_for("storefront.product_image", brand_code=brand.code, code=code)


def _point(query: dict[str, Any]) -> tuple[float, float] | None:
    lat, lon = query.get("lat"), query.get("lon")
    if lat is None and lon is None:
        return None
    if lat is None or lon is None:
        missing = "lon" if lon is None else "lat"
        raise ValidationFailed(fields={missing: "Send both lat and lon, or neither."})
    return float(lat), float(lon)


def _grades(tier: str) -> list[str]:
    # Grade-B units sell in the employee store only (checkout refuses them elsewhere).
    return [Grade.A.value, Grade.B.value] if tier == Tier.EMPLOYEE else [Grade.A.value]


def _stock_json(found: stock.VariantAvailability, grade: str) -> dict[str, Any]:
    return {
        "grade": grade,
        "sellable": found.sellable,
        "stores": found.stores,
        "stores_near": found.stores_near,
    }


# -- browsing ------------------------------------------------------------------------------------


@bp.get("/catalog")
@public
@bp.input(ShopCatalogQuery, location="query", arg_name="query")
@bp.output(ShopCatalogOut)
@bp.doc(
    summary="One page of a storefront's products, newest first",
    description="Filters: category code, colour, size, price range in fen, `q` (name or code). "
    "Pages are keyed: send `next_after` as `after`. The outlet answers a bearer token of the "
    "brand's consumers only (403 otherwise).",
    responses=[403, 404, 422],
)
def list_catalog(brand_code: str, query: dict[str, Any]):
    brand = entered(brand_code, query["tier"])
    filters = catalog.Filters(
        category=query["category"],
        color=query["color"],
        size=query["size"],
        min_cents=query["min_cents"],
        max_cents=query["max_cents"],
        q=query["q"],
    )
    page = catalog.shop_page(
        brand.id, query["tier"], filters, after=query["after"], consumer=current_consumer(brand)
    )
    return {
        "tier": page.tier,
        "items": [
            {
                "id": item.id,
                "code": item.code,
                "name": item.name,
                "image_url": _image_url(brand, item.code, item.has_image),
                "currency": item.currency,
                "msrp_cents": item.msrp_cents,
                "min_cents": item.min_cents,
                "max_cents": item.max_cents,
                "colors": item.colors,
            }
            for item in page.items
        ],
        "next_after": page.next_after,
    }


@bp.get("/products/<code>")
@public
@bp.input(ShopPointQuery, location="query", arg_name="query")
@bp.output(ShopProductOut)
@bp.doc(
    summary="A product of a storefront: its SKUs as a colour x size grid, priced, with stock",
    description="Per SKU: units sellable online and the stores holding them; with `lat` and "
    "`lon`, also how many pickup stores near that point hold them. A product the storefront "
    "does not sell is 404.",
    responses=[403, 404, 422],
)
def get_product(brand_code: str, code: str, query: dict[str, Any]):
    tier = query["tier"]
    brand = entered(brand_code, tier)
    near = _point(query)
    offer = catalog.get_offer(brand.id, tier, code, consumer=current_consumer(brand))
    variants = list(offer.grid.cells.values())
    found = {
        grade: stock.availability(brand, variants, grade=grade, near=near)
        for grade in _grades(tier)
    }
    product = offer.product
    return {
        "tier": tier,
        "code": product.code,
        "name": product.name,
        "description": product.description or "",
        "image_url": _image_url(brand, product.code, bool(product.image_path)),
        "currency": offer.currency,
        "msrp_cents": product.msrp_cents,
        "min_cents": offer.min_cents,
        "colors": offer.grid.colors,
        "sizes": offer.grid.sizes,
        "variants": [
            {
                "id": v.id,
                "sku": v.sku,
                "color": v.color,
                "size": v.size,
                "price_cents": offer.prices[v.id],
                "stock": [_stock_json(found[g][v.id], g) for g in found],
            }
            for v in sorted(variants, key=lambda v: v.id)
        ],
    }


@bp.get("/availability")
@public
@bp.input(ShopAvailabilityQuery, location="query", arg_name="query")
@bp.output(ShopAvailabilityOut)
@bp.doc(
    summary="What sells online of some SKUs, and near a point",
    description="Per SKU asked (another brand's or an unknown one: 0): units sellable online "
    "after safety stock, enabled stores holding some and, with `lat` and `lon`, pickup stores "
    "near that point holding some.",
    responses=[403, 404, 422],
)
def availability(brand_code: str, query: dict[str, Any]):
    tier, grade = query["tier"], query["grade"]
    brand = entered(brand_code, tier)
    if grade not in _grades(tier):
        raise ValidationFailed(fields={"grade": "Grade-B items are sold in the employee store."})
    found = stock.availability(brand, query["variant_id"], grade=grade, near=_point(query))
    return {
        "items": [
            {"variant_id": variant_id, **_stock_json(item, grade)}
            for variant_id, item in found.items()
        ]
    }


@bp.post("/pickup-stores")
@public
@bp.input(ShopStoresIn, arg_name="body")
@bp.output(ShopStoresOut)
@bp.doc(
    summary="Pickup stores nearest a point, each saying whether it has every line",
    description="A question, not a change (POST for its list of lines). Stores are the brand's "
    "enabled pickup stores, nearest first by great-circle distance; `lines` tells what each "
    "can sell of every line after its safety stock.",
    responses=[404, 422],
)
def pickup_stores(brand_code: str, body: dict[str, Any]):
    brand = shop_brand(brand_code)
    wanted: dict[tuple[int, str], int] = {}
    for line in body["lines"]:
        key = (line["variant_id"], line["grade"])
        wanted[key] = wanted.get(key, 0) + line["qty"]
    if any(qty > checkout.MAX_QTY for qty in wanted.values()):
        raise ValidationFailed(fields={"lines": f"At most {checkout.MAX_QTY} of one item."})
    found = stock.stores_near(brand, body["lat"], body["lon"], wanted, limit=body["limit"])
    return {
        "items": [
            {
                "location_id": store.location_id,
                "name": store.name,
                "address": store.address or "",
                "latitude": store.latitude,
                "longitude": store.longitude,
                "distance_km": store.distance_km,
                "has_all": store.has_all,
                "lines": [
                    {"variant_id": variant_id, "grade": grade, "free": free}
                    for (variant_id, grade), free in store.free.items()
                ],
            }
            for store in found
        ]
    }
