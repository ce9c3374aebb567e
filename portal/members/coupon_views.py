"""Coupon pages. HQ's, under the brand's shop URL like its other shop pages (only the brand's own
HQ sees them; anyone else gets a 404): the templates with what they gave out, used and earned
(`/shop/<brand>/hq/coupons`), a new template, giving one out to members or a segment, and
stopping one. The consumer's: their coupons (`/shop/<brand>/member/coupons`) and a template's
claim page, which a shared link opens (`/shop/<brand>/coupons/<code>`)."""

from __future__ import annotations

import secrets
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from portal.core import transaction
from portal.core.access import Permission, current_actor, public, require
from portal.core.errors import DomainError, NotFound, ValidationFailed
from portal.members import coupons, segments
from portal.members.coupon_models import CouponTemplate
from portal.network.models import Organization
from portal.storefront.auth import consumer_required, current_consumer, signed_in_consumer
from portal.storefront.shops import shop_brand

bp = Blueprint("coupons", __name__)

TEMPLATE_FIELDS = (
    "name",
    "description",
    "kind",
    "amount",
    "percent_off",
    "cap",
    "min_spend",
    "scope",
    "scope_codes",
    "validity",
    "valid_from",
    "valid_until",
    "valid_days",
    "per_member_limit",
    "total_limit",
    "distribution",
)


@bp.context_processor
def _nav() -> dict[str, Any]:
    """The shop's nav (cart, orders, account or sign-in) needs the signed-in consumer."""
    brand_code = (request.view_args or {}).get("brand_code")
    if not brand_code or "/hq/" in request.path:
        return {}
    try:
        return {"shop_consumer": current_consumer(shop_brand(brand_code))}
    except DomainError:
        return {"shop_consumer": None}


def _absolute(path: str) -> str:
    return str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/") + path


def claim_link(brand: Organization, template: CouponTemplate) -> str:
    """The link HQ (and later guides) share: the template's claim page."""
    return _absolute(url_for("coupons.claim_page", brand_code=brand.code, code=template.code))


# -- HQ ------------------------------------------------------------------------------------------


def _hq_brand(brand_code: str) -> Organization:
    actor = current_actor()
    brand = shop_brand(brand_code)
    if not (actor.is_hq and actor.org_id == brand.id):
        raise NotFound()
    return brand


@bp.get("/shop/<brand_code>/hq/coupons")
@require(Permission.MEMBERS_VIEW)
def hq_templates(brand_code: str):
    brand = _hq_brand(brand_code)
    templates = coupons.list_templates(brand.id)
    return render_template(
        "members/coupons/hq_list.html",
        brand=brand,
        templates=templates,
        stats=coupons.template_stats([t.id for t in templates]),
        can_manage=current_actor().can(Permission.MEMBERS_MANAGE),
        label=coupons.label,
    )


def _form_input() -> coupons.TemplateInput:
    values = {name: request.form.get(name, "") for name in TEMPLATE_FIELDS}
    return coupons.TemplateInput(
        **values,
        tiers=tuple(request.form.getlist("tiers")),
        stackable=request.form.get("stackable") in ("1", "on", "y", "true"),
    )


@bp.route("/shop/<brand_code>/hq/coupons/new", methods=["GET", "POST"])
@require(Permission.MEMBERS_MANAGE)
def hq_template_new(brand_code: str):
    actor = current_actor()
    brand = _hq_brand(brand_code)
    if request.method == "GET":
        data = coupons.TemplateInput()
        return _new_page(brand, data)
    data = _form_input()
    try:
        template = coupons.create_template(actor, brand, data)
    except DomainError as error:
        transaction.discard()
        return _new_page(brand, data, errors=error.fields, status=422)
    flash(_("Coupon “%(name)s” created.", name=template.name), "success")
    return redirect(url_for("coupons.hq_template", brand_code=brand.code, template_id=template.id))


def _new_page(
    brand: Organization,
    data: coupons.TemplateInput,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
):
    return render_template(
        "members/coupons/hq_new.html",
        brand=brand,
        form=data,
        errors=errors or {},
        tier_names=coupons.TIER_NAMES,
        kind_names=coupons.KIND_NAMES,
        distribution_names=coupons.DISTRIBUTION_NAMES,
    ), status


def _detail_page(
    brand: Organization,
    template: CouponTemplate,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
):
    actor = current_actor()
    return render_template(
        "members/coupons/hq_detail.html",
        brand=brand,
        template=template,
        label=coupons.label(template),
        where=coupons.where_it_counts(template),
        stats=coupons.template_stats([template.id])[template.id],
        issues=coupons.list_issues(template),
        segments=segments.list_segments(brand.id),
        link=claim_link(brand, template) if template.distribution != "issue" else None,
        can_manage=actor.can(Permission.MEMBERS_MANAGE),
        token=secrets.token_urlsafe(16),
        errors=errors or {},
        form=form or {},
        tier_names=coupons.TIER_NAMES,
        distribution_names=coupons.DISTRIBUTION_NAMES,
        last_moment=coupons.last_moment,
    ), status


@bp.get("/shop/<brand_code>/hq/coupons/<int:template_id>")
@require(Permission.MEMBERS_VIEW)
def hq_template(brand_code: str, template_id: int):
    brand = _hq_brand(brand_code)
    return _detail_page(brand, coupons.get_template(current_actor(), brand, template_id))


@bp.post("/shop/<brand_code>/hq/coupons/<int:template_id>/issue")
@require(Permission.MEMBERS_MANAGE)
def hq_template_issue(brand_code: str, template_id: int):
    actor = current_actor()
    brand = _hq_brand(brand_code)
    template = coupons.get_template(actor, brand, template_id)
    form = {
        "audience": request.form.get("audience", "members"),
        "members": request.form.get("members", ""),
        "segment_id": request.form.get("segment_id", ""),
    }
    token = request.form.get("token", "")
    try:
        if form["audience"] == "segment":
            raw = form["segment_id"].strip()
            segment_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 12 else 0
            made = coupons.issue_to_segment(actor, template, segment_id, token=token)
            flash(
                _(
                    "Coupons go out to %(segment)s in the background: the list below shows how "
                    "far it got.",
                    segment=made.audience,
                ),
                "success",
            )
        else:
            member_ids, errors = coupons.find_members(brand.id, form["members"])
            if errors:
                raise ValidationFailed(fields=errors)
            made = coupons.issue(actor, template, member_ids, token=token, audience=_("typed list"))
            flash(
                _(
                    "%(issued)s coupons issued; %(skipped)s members passed over.",
                    issued=made.issued_count,
                    skipped=sum((made.skipped or {}).values()),
                ),
                "success",
            )
    except DomainError as error:
        transaction.discard()
        template = coupons.get_template(actor, brand, template_id)
        return _detail_page(brand, template, errors=error.fields, form=form, status=422)
    return redirect(url_for("coupons.hq_template", brand_code=brand.code, template_id=template.id))


@bp.post("/shop/<brand_code>/hq/coupons/<int:template_id>/stop")
@require(Permission.MEMBERS_MANAGE)
def hq_template_stop(brand_code: str, template_id: int):
    actor = current_actor()
    brand = _hq_brand(brand_code)
    template = coupons.stop_template(actor, coupons.get_template(actor, brand, template_id))
    flash(_("“%(name)s” is no longer given out.", name=template.name), "success")
    return redirect(url_for("coupons.hq_template", brand_code=brand.code, template_id=template.id))


# -- the consumer --------------------------------------------------------------------------------


@bp.get("/shop/<brand_code>/member/coupons")
@consumer_required
def my_coupons(brand_code: str):
    brand = shop_brand(brand_code)
    consumer = signed_in_consumer()
    member = coupons.member_of_shop(brand, consumer)
    held = coupons.member_coupons(member, brand.id) if member is not None else []
    return render_template(
        "members/coupons/mine.html",
        brand=brand,
        member=member,
        usable=[c for c in held if c.state in ("usable", "upcoming")],
        used=[c for c in held if c.state == "used"],
        expired=[c for c in held if c.state == "expired"],
        claimable=coupons.claimable_templates(brand, consumer) if member is not None else [],
        label=coupons.label,
        last_moment=coupons.last_moment,
    )


def _claim_page(brand: Organization, template: CouponTemplate, status: int = 200, **context: Any):
    consumer = current_consumer(brand)
    context.setdefault("refusal", coupons.claim_refusal(brand, consumer, template))
    return render_template(
        "members/coupons/claim.html",
        brand=brand,
        template=template,
        consumer=consumer,
        label=coupons.label(template),
        where=coupons.where_it_counts(template),
        last_moment=coupons.last_moment,
        **context,
    ), status


@bp.get("/shop/<brand_code>/coupons/<code>")
@public
def claim_page(brand_code: str, code: str):
    brand = shop_brand(brand_code)
    template = coupons.find_claimable(brand.id, code)
    if template is None:
        raise NotFound()
    return _claim_page(brand, template)


@bp.post("/shop/<brand_code>/coupons/<code>/claim")
@consumer_required
def claim(brand_code: str, code: str):
    brand = shop_brand(brand_code)
    try:
        coupons.claim(signed_in_consumer(), brand, code)
    except coupons.CouponRefused as error:
        transaction.discard()
        template = coupons.find_claimable(brand.id, code)
        if template is None:
            raise NotFound() from error
        return _claim_page(brand, template, 422, refusal=error.message)
    flash(_("The coupon is yours: it is waiting under My coupons."), "success")
    return redirect(url_for("coupons.my_coupons", brand_code=brand.code))
