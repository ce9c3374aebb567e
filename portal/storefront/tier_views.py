"""HQ's pages for SKU tiers: a product's SKUs with their current tier, moving or pinning them, and
each SKU's tier history (`/shop/<brand>/hq/tiers`); and what the nightly job moved by the
brand's policy, run by run (`/shop/<brand>/hq/tier-moves`). Org pages (HQ signs in to the
portal), under the brand's shop URL because they decide what the shop lists.

The portal's inbox (policy notifications) carries policy versions only, so the job tells HQ
here: the tiers page links to the latest run."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, SelectChoice, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length

from portal.catalog import queries as catalog_queries
from portal.catalog.models import Product, Variant
from portal.core import transaction
from portal.core.access import Permission, current_actor, require
from portal.core.errors import DomainError, NotFound
from portal.core.forms import PortalForm, apply_errors
from portal.core.pagination import parse_page_args
from portal.network.models import Organization
from portal.policy.consumer_terms import terms_for
from portal.storefront import aging, tiers
from portal.storefront.models import Tier
from portal.storefront.shared_views import bp, shop_brand

TIER_NAMES = {
    Tier.OFFICIAL.value: _l("Official store"),
    Tier.OUTLET.value: _l("Outlet"),
    Tier.EMPLOYEE.value: _l("Employee store"),
}
REASON_NAMES = {
    tiers.HQ_REASON: _l("HQ"),
    aging.AGING: _l("Time since launch"),
    aging.SELL_THROUGH: _l("Low sell-through"),
    aging.OUTLET_AGE: _l("Time in the outlet"),
}


class TierMoveForm(PortalForm):
    variants = SelectMultipleField(_l("SKUs"), coerce=int, validators=[DataRequired()])
    tier = SelectField(
        _l("Move to"), choices=[SelectChoice(value, name) for value, name in TIER_NAMES.items()]
    )
    pinned = BooleanField(_l("Pin: automatic moves leave these SKUs here"))
    note = StringField(_l("Note"), validators=[Length(max=tiers.MAX_NOTE)])


def _hq_brand(brand_code: str) -> Organization:
    """The brand whose tiers the page shows: only its own HQ sees it (anyone else: 404)."""
    actor = current_actor()
    brand = shop_brand(brand_code)
    if not (actor.is_hq and actor.org_id == brand.id):
        raise NotFound()
    return brand


def _product(brand: Organization, code: str) -> Product:
    found = catalog_queries.find_product_by_code(brand.id, code.strip().upper())
    if found is None:
        raise NotFound()
    return found


@bp.get("/hq/tiers")
@require(Permission.CATALOG_MANAGE)
def tier_search(brand_code: str):
    brand = _hq_brand(brand_code)
    code = (request.args.get("product") or "").strip()
    if code:
        return redirect(url_for("storefront.tier_product", brand_code=brand.code, code=code))
    return render_template("storefront/tiers.html", brand=brand, product=None, **_latest_run(brand))


def _latest_run(brand: Organization) -> dict:
    """For the tiers page: the nightly job's latest run for the brand, when HQ may read it."""
    if not current_actor().can(Permission.SHOP_MANAGE):
        return {"latest_run": None, "can_see_runs": False}
    runs = aging.recent_runs(brand.id, limit=1)
    return {"latest_run": runs[0] if runs else None, "can_see_runs": True}


@bp.route("/hq/tiers/<code>", methods=["GET", "POST"])
@require(Permission.CATALOG_MANAGE)
def tier_product(brand_code: str, code: str):
    actor = current_actor()
    brand = _hq_brand(brand_code)
    product = _product(brand, code)
    variants: list[Variant] = list(product.variants)
    form = TierMoveForm()
    form.variants.choices = [SelectChoice(v.id, v.sku) for v in variants]
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            chosen = [v for v in variants if v.id in set(form.variants.data or [])]
            try:
                moved = tiers.move_tier(
                    actor,
                    chosen,
                    form.tier.data,
                    pinned=bool(form.pinned.data),
                    reason=tiers.HQ_REASON,
                    note=form.note.data or "",
                )
            except DomainError as error:
                transaction.discard()
                apply_errors(form, error)
            else:
                flash(_("%(n)s SKUs moved.", n=len(moved)), "success")
                return redirect(
                    url_for("storefront.tier_product", brand_code=brand.code, code=product.code)
                )
        status = 422
    current = tiers.current_tiers([v.id for v in variants])
    return render_template(
        "storefront/tiers.html",
        brand=brand,
        product=product,
        variants=variants,
        current=current,
        moves=tiers.history([v.id for v in variants]),
        skus={v.id: v.sku for v in variants},
        form=form,
        tier_names=TIER_NAMES,
        reason_names=REASON_NAMES,
        **_latest_run(brand),
    ), status


@bp.get("/hq/tier-moves")
@require(Permission.SHOP_MANAGE)
def tier_moves(brand_code: str):
    """The nightly job's latest runs for the brand, and one run's moves (the latest unless
    `run` names another by its first move), by reason, a page at a time."""
    brand = _hq_brand(brand_code)
    page_no, per_page = parse_page_args(request.args, default_per_page=100)
    runs = aging.recent_runs(brand.id)
    run = runs[0] if runs else None
    wanted = request.args.get("run", "").strip()
    if wanted:
        if not wanted.isdigit() or len(wanted) > 18:  # a move id, within a bigint
            raise NotFound()
        run = aging.find_run(brand.id, int(wanted))
        if run is None:
            raise NotFound()
    reason = request.args.get("reason", "").strip()
    reason = reason if reason in aging.REASONS else ""
    page = (
        aging.run_moves(brand.id, run, reason=reason or None, page=page_no, per_page=per_page)
        if run
        else None
    )
    return render_template(
        "storefront/hq/tier_moves.html",
        brand=brand,
        runs=runs,
        run=run,
        reason=reason,
        page=page,
        settings=terms_for(brand.id).tier_moves,
        last_checked=aging.last_checked(),
        reasons=aging.REASONS,
        from_tier=aging.FROM_TIER,
        tier_names=TIER_NAMES,
        reason_names=REASON_NAMES,
    )
