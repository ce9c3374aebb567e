"""Pages: replenishment rules. HQ sets its defaults per store level and category; an owner sets
its own per SKU where HQ lets it, and turns auto-submit on or off per brand."""

from __future__ import annotations

from dataclasses import dataclass

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.catalog import queries as catalog_queries
from portal.core import transaction
from portal.core.access import Actor, Permission, current_actor, require
from portal.core.errors import DomainError, PermissionDenied
from portal.core.forms import apply_errors
from portal.inventory import queries as inventory_queries
from portal.inventory import services as stock
from portal.network import queries as network_queries
from portal.network.models import ChannelLink
from portal.ordering import queries as ordering_queries
from portal.replenishment import queries, services
from portal.replenishment.forms import DefaultRuleForm, LocationRuleForm
from portal.replenishment.models import ReplenishmentRule
from portal.replenishment.shared_views import bp, buying_link, rule_figures, rule_words


@dataclass
class RuleView:
    rule: ReplenishmentRule
    words: str


def _rule_views(rules: list[ReplenishmentRule]) -> list[RuleView]:
    return [RuleView(rule, rule_words(rule_figures(rule))) for rule in rules]


@bp.route("/replenishment/rules", methods=["GET", "POST"])
@require(Permission.REPLENISHMENT_MANAGE)
def rules():
    """HQ: its defaults per store level and category. An owner: its rules per SKU at its own
    location, where HQ lets owners override, and auto-submit per brand."""
    actor = current_actor()
    if actor.is_hq:
        return _hq_rules(actor)
    return _owner_rules(actor)


def _hq_rules(actor: Actor):
    brand = network_queries.get_own_org(actor)
    categories = catalog_queries.list_categories(brand.id)
    form = DefaultRuleForm()
    form.level.choices = [("", _("Every level"))] + [(lv, lv) for lv in queries.levels(brand.id)]
    form.category.choices = [("", _("Every category"))] + [
        (str(c.id), f"{c.code} · {c.name}") for c in categories
    ]
    if form.validate_on_submit():
        category = next((c for c in categories if str(c.id) == form.category.data), None)
        try:
            services.set_default_rule(
                actor,
                brand,
                level=form.level.data or "",
                category=category,
                data=form.rule_input(owners_may_override=form.owners_may_override.data),
            )
        except DomainError as error:
            transaction.discard()
            apply_errors(form, error)
        else:
            flash(_("Default rule saved."), "success")
            return redirect(url_for("replenishment.rules"))
    return render_template(
        "replenishment/rules.html",
        hq=True,
        brand=brand,
        form=form,
        defaults=_rule_views(queries.default_rules(brand.id)),
    ), 422 if request.method == "POST" else 200


@dataclass
class BuyingView:
    """A brand the owner buys: whether it may override HQ, auto-submit, and HQ's defaults."""

    link: ChannelLink
    may_override: bool
    auto_submit: bool
    defaults: list[RuleView]


def _owner_rules(actor: Actor):
    org = network_queries.get_own_org(actor)
    location = queries.find_default_location(org.id)  # made on the first rule saved
    form = LocationRuleForm()
    status = 200
    if form.validate_on_submit():
        location = location or stock.default_location(org)
        variant = inventory_queries.find_stockable_variant(location, form.sku.data or "")
        if variant is None:
            form.sku.errors = [
                *form.sku.errors,
                _("No SKU %(sku)s among the brands you carry.", sku=form.sku.data),
            ]
            status = 404
        else:
            try:
                services.set_location_rule(actor, location, variant, form.rule_input())
            except PermissionDenied as error:
                # HQ keeps this brand's rules to itself: said beside the SKU, not as a bare 403
                # page, so the owner sees which brand's rules it cannot change.
                transaction.discard()
                form.sku.errors = [*form.sku.errors, error.message]
                status = 403
            except DomainError as error:
                transaction.discard()
                apply_errors(form, error)
                status = 422
            else:
                flash(_("Rule for %(sku)s saved.", sku=variant.sku), "success")
                return redirect(url_for("replenishment.rules"))
    elif request.method == "POST":
        status = 422
    buying = []
    for link in ordering_queries.buyer_links(actor):
        defaults = [r for r in queries.default_rules(link.brand_id) if r.level in ("", link.level)]
        buying.append(
            BuyingView(
                link,
                services.may_override(actor, location, link.brand_id) if location else True,
                queries.auto_submit_of(location, link.brand_id) if location else False,
                _rule_views(defaults),
            )
        )
    overrides = queries.location_rules(location) if location else []
    return render_template(
        "replenishment/rules.html",
        hq=False,
        org=org,
        location=location,
        form=form,
        buying=buying,
        overrides=_rule_views(overrides),
    ), status


@bp.post("/replenishment/rules/auto-submit")
@require(Permission.REPLENISHMENT_MANAGE)
def auto_submit():
    """Turn auto-submit on or off for one brand at the owner's own location."""
    actor = current_actor()
    code = (request.form.get("brand") or "").strip().upper()
    link = buying_link(actor, code)
    on = request.form.get("on") == "1"
    location = stock.default_location(network_queries.get_own_org(actor))
    services.set_auto_submit(actor, location, link.brand_id, on=on)
    if on:
        flash(
            _(
                "Auto-submit is on for %(brand)s: each run places your suggested order itself.",
                brand=link.brand.code,
            ),
            "success",
        )
    else:
        flash(
            _(
                "Auto-submit is off for %(brand)s: you submit each suggestion.",
                brand=link.brand.code,
            ),
            "success",
        )
    return redirect(url_for("replenishment.rules"))
