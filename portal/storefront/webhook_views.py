"""HQ's page of stock webhooks: where the brand's available-to-sell changes are pushed
(portal/storefront/webhooks.py), each endpoint's secret shown once when it is added, and the
latest deliveries with their answers. Under the brand's shop URL beside the online locations:
`/shop/<brand>/hq/webhooks`. Only the brand's own HQ sees it (anyone else: 404). An address the
portal does not send to (not https:// outside development and testing, credentials in it, an
internal network's address: `webhooks.url_problem`) is refused with the reason on the field."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.core import transaction
from portal.core.access import Permission, current_actor, require
from portal.core.errors import ValidationFailed
from portal.network.models import Organization
from portal.storefront import webhooks
from portal.storefront.shared_views import bp, shop_brand


def _page(
    brand: Organization,
    *,
    status: int = 200,
    errors: dict[str, Any] | None = None,
    form: Any = None,
    secret: str | None = None,
):
    actor = current_actor()
    return render_template(
        "storefront/hq/webhooks.html",
        brand=brand,
        endpoints=webhooks.list_endpoints(actor, brand),
        deliveries=webhooks.list_deliveries(actor, brand),
        errors=errors or {},
        form=form or {},
        secret=secret,
    ), status


@bp.get("/hq/webhooks")
@require(Permission.SHOP_MANAGE)
def webhook_list(brand_code: str):
    return _page(shop_brand(brand_code))


@bp.post("/hq/webhooks")
@require(Permission.SHOP_MANAGE)
def webhook_add(brand_code: str):
    brand = shop_brand(brand_code)
    try:
        endpoint, secret = webhooks.add_endpoint(
            current_actor(),
            brand,
            url=request.form.get("url", ""),
            description=request.form.get("description", ""),
        )
    except ValidationFailed as error:
        transaction.discard()
        return _page(brand, status=422, errors=error.fields, form=request.form)
    flash(_("Stock changes now go to %(url)s.", url=endpoint.url), "success")
    # Answered with the page, not a redirect: the secret is shown here and never again.
    return _page(brand, secret=secret)


@bp.post("/hq/webhooks/<int:endpoint_id>/remove")
@require(Permission.SHOP_MANAGE)
def webhook_remove(brand_code: str, endpoint_id: int):
    actor = current_actor()
    brand = shop_brand(brand_code)
    endpoint = webhooks.get_endpoint(actor, brand, endpoint_id)
    webhooks.remove_endpoint(actor, endpoint)
    flash(_("%(url)s hears of stock changes no more.", url=endpoint.url), "success")
    return redirect(url_for("storefront.webhook_list", brand_code=brand.code))
