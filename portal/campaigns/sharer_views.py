"""The sharers' pages (portal/campaigns/sharers.py).

- HQ's (`CAMPAIGNS_MANAGE`, the brand's own HQ; anyone else a 404): `/campaigns/sharers`, every
  sharer of the brand with the month's views, people, orders and revenue, a form to make one of
  HQ's people a sharer of a kind, and stopping one; `/campaigns/sharers/<id>`, one sharer's month
  per share and per item.
- A sharer's own (phone first): `/campaigns/sharers/me`, their code, their links with QR codes
  (the brand's shop, a product found by code or name, the live events, group buys and red packets
  the brand runs) and their month's figures. Anyone who is no sharer finds nothing there (404).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import SelectChoice, SelectField

from portal.campaigns import campaigns, sharers
from portal.core import transaction
from portal.core.access import Actor, Permission, current_actor, require
from portal.core.errors import DomainError
from portal.core.forms import PortalForm, apply_errors
from portal.guides import reports
from portal.guides.models import Guide
from portal.policy.consumer_terms import terms_for

bp = Blueprint("campaign_sharers", __name__)


class SharerForm(PortalForm):
    user_id = SelectField(_l("Person of HQ"), coerce=int, choices=[])
    kind = SelectField(
        _l("Kind of sharer"),
        choices=[SelectChoice(str(kind), name) for kind, name in sharers.KIND_NAMES.items()],
    )


@bp.context_processor
def _names() -> dict[str, Any]:
    return {
        "kind_names": {str(kind): name for kind, name in sharers.KIND_NAMES.items()},
        "target_names": {
            "home": _l("The brand's shop"),
            "product": _l("Product"),
            "shop": _l("A store's shop"),
            "event": _l("Private sale"),
            "coupon": _l("Coupon"),
            "live": _l("Live event"),
            "group_buy": _l("Group buy"),
            "red_packet": _l("Red packet"),
            "": _l("Code typed at checkout"),
        },
    }


def _form(actor: Actor) -> SharerForm:
    form = SharerForm()
    form.user_id.choices = [
        SelectChoice(person.id, f"{person.name} · {person.email}")
        for person in sharers.hq_people(actor)
    ]
    return form


def _index_page(form: SharerForm, status: int = 200):
    actor = current_actor()
    brand = campaigns.hq_brand(actor)
    span = reports.period(request.args.get("period"))
    listed = sharers.list_sharers(actor)
    totals = sharers.sharer_totals(brand.id, span)
    return render_template(
        "campaigns/sharers/index.html",
        brand=brand,
        period=span,
        sharers=listed,
        totals={s.id: totals.get(s.id, sharers.Figures()) for s in listed},
        form=form,
    ), status


@bp.get("/campaigns/sharers")
@require(Permission.CAMPAIGNS_MANAGE)
def index():
    return _index_page(_form(current_actor()))


@bp.post("/campaigns/sharers")
@require(Permission.CAMPAIGNS_MANAGE)
def add():
    actor = current_actor()
    form = _form(actor)
    if form.validate_on_submit():
        try:
            sharer = sharers.add_sharer(actor, user_id=form.user_id.data, kind=form.kind.data)
        except DomainError as error:
            transaction.discard()
            apply_errors(form, error)
        else:
            flash(
                _(
                    "%(name)s is a sharer, with code %(code)s: their links and code count for "
                    "their own figures, never for a guide's sale or customer.",
                    name=sharer.user.name,
                    code=sharer.code,
                ),
                "success",
            )
            return redirect(url_for("campaign_sharers.index"))
    return _index_page(form, 422)


@bp.post("/campaigns/sharers/<int:sharer_id>/stop")
@require(Permission.CAMPAIGNS_MANAGE, load=sharers.get_sharer)
def stop(sharer: Guide):
    sharers.stop_sharer(current_actor(), sharer)
    flash(
        _("Sharer %(code)s is stopped: their code and links record nothing new.", code=sharer.code),
        "success",
    )
    return redirect(url_for("campaign_sharers.index"))


@bp.get("/campaigns/sharers/<int:sharer_id>")
@require(Permission.CAMPAIGNS_MANAGE, load=sharers.get_sharer)
def sharer(sharer: Guide):
    span = reports.period(request.args.get("period"))
    return render_template(
        "campaigns/sharers/sharer.html",
        brand=sharer.brand,
        sharer=sharer,
        report=sharers.sharer_report(sharer, span),
        endpoint="campaign_sharers.sharer",
        endpoint_args={"sharer_id": sharer.id},
    )


@bp.get("/campaigns/sharers/me")
@require(Permission.GUIDES_USE)
def me():
    actor = current_actor()
    sharer = sharers.my_sharer(actor)
    brand = sharer.brand
    span = reports.period(request.args.get("period"))
    q = (request.args.get("q") or "").strip()[:100]
    return render_template(
        "campaigns/sharers/me.html",
        brand=brand,
        sharer=sharer,
        shared=sharers.sharer_links(sharer, brand),
        found=sharers.product_links(sharer, brand, q),
        q=q,
        report=sharers.sharer_report(sharer, span),
        window_days=terms_for(brand.id).guides.window_days,
        endpoint="campaign_sharers.me",
        endpoint_args={},
    )
