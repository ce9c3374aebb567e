"""HQ's page for selling online: the brand's warehouses and stores with their points on the map,
which of them sell online (pickup, delivery) and the safety stock each keeps back; one location
at a time or a whole region at once. An org page under the brand's shop URL, like the tiers:
`/shop/<brand>/hq/online-locations`. Only the brand's own HQ sees it (anyone else: 404)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from portal.core import transaction
from portal.core.access import Permission, current_actor, require
from portal.core.errors import NotFound, ValidationFailed
from portal.core.pagination import parse_page_args
from portal.network.models import Organization
from portal.storefront import stock
from portal.storefront.shared_views import bp, shop_brand


def _hq_brand(brand_code: str) -> Organization:
    actor = current_actor()
    brand = shop_brand(brand_code)
    if not (actor.is_hq and actor.org_id == brand.id):
        raise NotFound()
    return brand


def _checked(name: str) -> bool:
    return request.form.get(name) in ("1", "on", "y", "true")


def _page(brand: Organization, *, errors: dict[str, Any] | None = None, status: int = 200):
    actor = current_actor()
    page_no, per_page = parse_page_args(request.args)
    q = (request.args.get("q") or "").strip()[:100]
    region = (request.args.get("region") or "").strip()[:40]
    page = stock.list_online_locations(
        actor, brand, q=q, region=region, page=page_no, per_page=per_page
    )
    return render_template(
        "storefront/hq/online_locations.html",
        brand=brand,
        page=page,
        regions=stock.list_regions(actor, brand),
        q=q,
        region=region,
        can_switch=actor.can(Permission.STOCK_PUSH),
        errors=errors or {},
        form=request.form if errors else {},
    ), status


def _back(brand: Organization):
    args: dict[str, Any] = {k: v for k, v in request.args.items() if k in ("q", "region", "page")}
    return redirect(url_for("storefront.online_locations", brand_code=brand.code, **args))


@bp.get("/hq/online-locations")
@require(Permission.STOCK_VIEW)
def online_locations(brand_code: str):
    return _page(_hq_brand(brand_code))


@bp.post("/hq/online-locations/<code>")
@require(Permission.STOCK_PUSH)
def online_location_update(brand_code: str, code: str):
    actor = current_actor()
    brand = _hq_brand(brand_code)
    location = stock.get_network_location(actor, brand, code)
    try:
        row = stock.set_online_location(
            actor,
            brand,
            location,
            enabled=_checked("enabled"),
            pickup=_checked("pickup"),
            delivery=_checked("delivery"),
            safety_stock=request.form.get("safety_stock", "0"),
        )
    except ValidationFailed as error:
        transaction.discard()
        return _page(brand, errors={"location": location.code, "fields": error.fields}, status=422)
    if row.is_enabled:
        flash(_("%(code)s sells online.", code=location.code), "success")
    else:
        flash(_("%(code)s no longer sells online.", code=location.code), "success")
    return _back(brand)


@bp.post("/hq/online-locations/by-region")
@require(Permission.STOCK_PUSH)
def online_region(brand_code: str):
    actor = current_actor()
    brand = _hq_brand(brand_code)
    try:
        result = stock.enable_region(
            actor,
            brand,
            request.form.get("region", ""),
            pickup=_checked("pickup"),
            delivery=_checked("delivery"),
            safety_stock=request.form.get("safety_stock", "0"),
        )
    except ValidationFailed as error:
        transaction.discard()
        return _page(brand, errors={"location": "region", "fields": error.fields}, status=422)
    flash(
        ngettext("%(num)s store sells online.", "%(num)s stores sell online.", result.enabled),
        "success",
    )
    if result.skipped:
        flash(
            _(
                "Skipped for want of coordinates: %(codes)s.",
                codes=", ".join(result.skipped),
            ),
            "warning",
        )
    return _back(brand)
