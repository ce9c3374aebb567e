"""Pages: the role-scoped catalog with prices and "why this price", HQ's policies and their
reach, and every org's inbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import to_user_timezone, to_utc

from portal.catalog import queries as catalog_queries
from portal.catalog.models import Product
from portal.core import transaction
from portal.core.access import Actor, Permission, current_actor, require
from portal.core.errors import DomainError, NotFound, ValidationFailed
from portal.core.forms import apply_errors
from portal.core.money import to_cents
from portal.core.pagination import parse_page_args
from portal.network.models import Organization
from portal.policy import queries, services
from portal.policy.forms import PolicyForm
from portal.policy.models import Notification, PolicyVersion, Section

bp = Blueprint("policy", __name__)

RULES_SHOWN = 200  # per section on a policy's page; the API and the editor have them all


# -- loaders -------------------------------------------------------------------------------------


def _load_version(actor: Actor, version_id: int) -> PolicyVersion:
    return queries.get_version(actor, version_id)


def _load_notification(actor: Actor, notification_id: int) -> Notification:
    return queries.get_notification(actor, notification_id)


def _load_offer(actor: Actor, brand: str, code: str) -> tuple[Organization, Product, Any]:
    org = queries.get_buying_brand(actor, brand)
    buyer = queries.buyer_for(actor, org.id, request.args.get("as"))
    return org, queries.get_offer_product(actor, org.id, code, buyer), buyer


# -- catalog as a buyer sees it ------------------------------------------------------------------


@bp.get("/catalog")
@require(Permission.CATALOG_VIEW)
def browse():
    actor = current_actor()
    brand = queries.get_buying_brand(actor, request.args.get("brand"))
    as_org = (request.args.get("as") or "").strip().upper() or None
    buyer = queries.buyer_for(actor, brand.id, as_org)
    page, per_page = parse_page_args(request.args, default_per_page=24)
    result = queries.browse(
        actor,
        brand.id,
        buyer=buyer,
        q=request.args.get("q") or None,
        category=request.args.get("category") or None,
        season=request.args.get("season") or None,
        page=page,
        per_page=per_page,
    )
    return render_template(
        "policy/browse.html",
        brand=brand,
        brands=queries.buying_brands(actor),
        result=result,
        buyer=buyer,
        as_org=as_org,
        categories=catalog_queries.list_categories(brand.id),
        seasons=catalog_queries.list_seasons(brand.id),
        terms=queries.order_terms(buyer, versions=result.versions) if buyer else None,
    )


@bp.get("/catalog/<brand>/<code>")
@require(Permission.CATALOG_VIEW, load=_load_offer)
def offer(loaded: tuple[Organization, Product, Any]):
    brand, product, buyer = loaded
    terms = queries.resolve(buyer, product.variants) if buyer else {}
    grid = catalog_queries.variant_grid(product)
    return render_template(
        "policy/offer.html",
        brand=brand,
        product=product,
        buyer=buyer,
        terms=terms,
        grid=grid,
        as_org=request.args.get("as"),
        can_order=queries.buys_as(current_actor(), buyer),
    )


@bp.get("/catalog/<brand>/<code>/image")
@require(Permission.CATALOG_VIEW, load=_load_offer)
def offer_image(loaded: tuple[Organization, Product, Any]):
    from portal.catalog.services import image_file

    _brand_org, product, _buyer = loaded
    path = image_file(product)
    if path is None or not path.is_file():
        raise NotFound()
    return send_file(path, max_age=3600)


@bp.get("/catalog/<brand>/sku/<sku>/why")
@require(Permission.CATALOG_VIEW)
def why(brand: str, sku: str):
    actor = current_actor()
    org = queries.get_buying_brand(actor, brand)
    buyer = queries.buyer_for(actor, org.id, request.args.get("as"))
    if buyer is None:
        flash(_("Choose whose price to explain with “as seen by”."), "info")
        return redirect(url_for("policy.browse", brand=org.code))
    variant, explanation = queries.get_explanation(actor, org.id, buyer, sku)
    return render_template(
        "policy/why.html",
        brand=org,
        variant=variant,
        buyer=buyer,
        x=explanation,
        as_org=request.args.get("as"),
    )


# -- HQ: policies --------------------------------------------------------------------------------


@bp.get("/policies")
@require(Permission.POLICY_VIEW)
def policy_list():
    actor = current_actor()
    page, per_page = parse_page_args(request.args)
    status = request.args.get("status") or None
    result = queries.list_versions(
        actor, status=status, q=request.args.get("q") or None, page=page, per_page=per_page
    )
    return render_template("policy/list.html", page=result)


def _to_utc(value: datetime | None) -> datetime | None:
    """People type times in the portal's time zone; the database keeps UTC."""
    return to_utc(value).replace(tzinfo=UTC) if value is not None else None


def _local(value: datetime | None) -> datetime | None:
    return to_user_timezone(value).replace(tzinfo=None) if value is not None else None


def _cents(value: Decimal | None) -> int | None:
    return None if value is None else to_cents(value)


def _input_from(form: PolicyForm) -> services.PolicyInput:
    """Form fields to the service's input; the rule text areas are parsed line by line, and
    every bad line of every area is reported at once."""
    rules = []
    errors: dict[str, str] = {}
    for section, name, label in (
        (Section.PRICE, "prices", "prices"),
        (Section.ORDER, "order_rules", "order_rules"),
        (Section.FLOOR, "floors", "floors"),
        (Section.EXCLUDE, "exclusions", "exclusions"),
        (Section.OFFICIAL, "official_prices", "official_prices"),
        (Section.OUTLET, "outlet_prices", "outlet_prices"),
        (Section.EMPLOYEE, "employee_prices", "employee_prices"),
    ):
        try:
            rules += services.parse_rule_lines(section, getattr(form, name).data or "", label=label)
        except ValidationFailed as error:
            errors.update(error.fields)
    try:
        rebates = services.parse_rebate_lines(form.rebates.data or "")
    except ValidationFailed as error:
        errors.update(error.fields)
    member_terms: dict[str, Any] = {}
    text = (form.member_terms.data or "").strip()
    if text:
        try:
            member_terms = json.loads(text)
        except ValueError as error:
            errors["member_terms"] = _("Not valid JSON: %(problem)s", problem=str(error))
        else:
            if not isinstance(member_terms, dict):
                errors["member_terms"] = _('An object of sections, {"levels": [...], ...}.')
                member_terms = {}
    if errors:
        raise ValidationFailed(fields=errors)
    return services.PolicyInput(
        code=form.code.data or "",
        name=form.name.data or "",
        audience_kind=form.audience_kind.data,
        audience_values=[
            v.strip() for v in (form.audience_values.data or "").replace(";", ",").split(",")
        ],
        effective_from=_to_utc(form.effective_from.data),
        effective_to=_to_utc(form.effective_to.data),
        note=form.note.data or "",
        min_order_cents=_cents(form.min_order.data),
        order_window_start=_to_utc(form.order_window_start.data),
        order_window_end=_to_utc(form.order_window_end.data),
        credit_limit_cents=_cents(form.credit_limit.data),
        payment_terms_days=form.payment_terms_days.data,
        member_terms=member_terms,
        rebates=rebates,
        rules=rules,
    )


def _apply_line_errors(form: PolicyForm, error: DomainError) -> None:
    """Errors named "prices line 3" go on the prices field, keeping the line in the text."""
    fields: dict[str, str] = {}
    for name, message in error.fields.items():
        head = name.split(" ", 1)[0].split(".", 1)[0]
        if name != head and hasattr(form, head):
            line = f"{name.replace('_', ' ')}: {message}"
            fields[head] = f"{fields[head]} {line}" if head in fields else line
        else:
            fields[name] = message
    error.fields = fields
    apply_errors(form, error)


def _fill_form(form: PolicyForm, version: PolicyVersion) -> None:
    from portal.core.money import from_cents

    form.code.data = version.policy.code
    form.name.data = version.policy.name
    form.audience_kind.data = version.audience_kind
    form.audience_values.data = (
        "" if version.audience_kind == "all" else ", ".join(queries.audience_values(version))
    )
    form.effective_from.data = _local(version.effective_from)
    form.effective_to.data = _local(version.effective_to)
    form.prices.data = services.format_rule_lines(version, Section.PRICE)
    form.order_rules.data = services.format_rule_lines(version, Section.ORDER)
    form.floors.data = services.format_rule_lines(version, Section.FLOOR)
    form.exclusions.data = services.format_rule_lines(version, Section.EXCLUDE)
    form.official_prices.data = services.format_rule_lines(version, Section.OFFICIAL)
    form.outlet_prices.data = services.format_rule_lines(version, Section.OUTLET)
    form.employee_prices.data = services.format_rule_lines(version, Section.EMPLOYEE)
    form.min_order.data = (
        from_cents(version.min_order_cents) if version.min_order_cents is not None else None
    )
    form.order_window_start.data = _local(version.order_window_start)
    form.order_window_end.data = _local(version.order_window_end)
    form.credit_limit.data = (
        from_cents(version.credit_limit_cents) if version.credit_limit_cents is not None else None
    )
    form.payment_terms_days.data = version.payment_terms_days
    form.member_terms.data = (
        json.dumps(version.member_terms, indent=2, ensure_ascii=False)
        if version.member_terms
        else ""
    )
    form.rebates.data = services.format_rebate_lines(version)
    form.note.data = version.note


@bp.route("/policies/new", methods=["GET", "POST"])
@require(Permission.POLICY_MANAGE)
def policy_new():
    actor = current_actor()
    form = PolicyForm()
    if request.method == "GET":
        form.effective_from.data = _local(datetime.now(UTC).replace(second=0, microsecond=0))
    if form.validate_on_submit():
        try:
            version = services.create_policy(actor, actor.org_id, _input_from(form))
            flash(_("Draft saved. Review it, then publish."), "success")
            return redirect(url_for("policy.policy_detail", version_id=version.id))
        except DomainError as error:
            transaction.discard()
            _apply_line_errors(form, error)
    return render_template("policy/edit.html", form=form, version=None), (
        422 if form.errors or request.method == "POST" else 200
    )


@bp.get("/policies/<int:version_id>")
@require(Permission.POLICY_VIEW, load=_load_version)
def policy_detail(version: PolicyVersion):
    audience_size = queries.count_audience(version)
    sections = {s: [r for r in version.rules if r.section == s] for s in tuple(Section)}
    shown = {s: rules[:RULES_SHOWN] for s, rules in sections.items()}
    return render_template(
        "policy/detail.html",
        version=version,
        sections=shown,
        totals={s: len(rules) for s, rules in sections.items()},
        targets=queries.rule_targets(r for rules in shown.values() for r in rules),
        audience_size=audience_size,
        audience_values=queries.audience_values(version),
        summary=queries.change_summary(version),
        versions=sorted(version.policy.versions, key=lambda v: v.number, reverse=True),
    )


@bp.route("/policies/<int:version_id>/edit", methods=["GET", "POST"])
@require(Permission.POLICY_MANAGE, load=_load_version)
def policy_edit(version: PolicyVersion):
    actor = current_actor()
    if not version.is_draft:
        return redirect(url_for("policy.policy_detail", version_id=version.id))
    form = PolicyForm()
    if request.method == "GET":
        _fill_form(form, version)
    form.code.data = version.policy.code  # the code never changes
    if form.validate_on_submit():
        try:
            services.update_draft(actor, version, _input_from(form))
            flash(_("Draft saved."), "success")
            return redirect(url_for("policy.policy_detail", version_id=version.id))
        except DomainError as error:
            transaction.discard()
            _apply_line_errors(form, error)
    status = 422 if request.method == "POST" else 200
    return render_template("policy/edit.html", form=form, version=version), status


@bp.post("/policies/<int:version_id>/revise")
@require(Permission.POLICY_MANAGE, load=_load_version)
def policy_revise(version: PolicyVersion):
    draft = services.revise_policy(current_actor(), version)
    flash(_("Version %(n)s started as a draft.", n=draft.number), "success")
    return redirect(url_for("policy.policy_edit", version_id=draft.id))


@bp.post("/policies/<int:version_id>/publish")
@require(Permission.POLICY_PUBLISH, load=_load_version)
def policy_publish(version: PolicyVersion):
    try:
        services.publish_policy(current_actor(), version)
    except DomainError as error:
        transaction.discard()
        messages = [error.message, *error.fields.values()]
        flash(" ".join(dict.fromkeys(messages)), "error")
        return redirect(url_for("policy.policy_detail", version_id=version.id))
    flash(_("Published. Delivery to the network is under way."), "success")
    return redirect(url_for("policy.policy_reach", version_id=version.id))


@bp.get("/policies/<int:version_id>/reach")
@require(Permission.POLICY_VIEW, load=_load_version)
def policy_reach(version: PolicyVersion):
    from portal.core import jobs

    page, per_page = parse_page_args(request.args)
    run = jobs.get_run(current_actor(), version.fanout_job_id) if version.fanout_job_id else None
    progress = jobs.live_progress(run) if run else (0, "")
    rows = queries.reach(version)
    totals = {
        "delivered": sum(r.delivered for r in rows),
        "read": sum(r.read for r in rows),
        "acknowledged": sum(r.acknowledged for r in rows),
    }
    return render_template(
        "policy/reach.html",
        version=version,
        rows=rows,
        totals=totals,
        pending=queries.unacknowledged(version, page=page, per_page=per_page),
        run=run,
        progress=progress[0],
        message=progress[1],
    )


@bp.post("/policies/<int:version_id>/remind")
@require(Permission.POLICY_PUBLISH, load=_load_version)
def policy_remind(version: PolicyVersion):
    try:
        run = services.remind(current_actor(), version)
    except DomainError as error:
        transaction.discard()
        flash(error.message, "error")
        return redirect(url_for("policy.policy_reach", version_id=version.id))
    flash(_("Reminders are being sent."), "success")
    return redirect(url_for("core.job_detail", job_id=run.id))


# -- inbox ---------------------------------------------------------------------------------------


@bp.get("/inbox")
@require(Permission.INBOX_VIEW)
def inbox():
    actor = current_actor()
    page, per_page = parse_page_args(request.args)
    result = queries.list_notifications(
        actor, unread=request.args.get("unread") == "1", page=page, per_page=per_page
    )
    return render_template("policy/inbox.html", page=result)


@bp.get("/inbox/<int:notification_id>")
@require(Permission.INBOX_VIEW, load=_load_notification)
def inbox_item(notification: Notification):
    """Opening an item marks it read for the org."""
    actor = current_actor()
    services.mark_read(actor, notification)
    version = notification.version
    buyer = queries.buyer_for(actor, version.brand_id)
    return render_template(
        "policy/inbox_item.html",
        n=notification,
        version=version,
        changes=queries.buyer_changes(buyer, version) if buyer else None,
        terms=queries.order_terms(buyer) if buyer else None,
        brand=queries.get_notification_brand(actor, notification),
    )


@bp.post("/inbox/<int:notification_id>/ack")
@require(Permission.INBOX_ACK, load=_load_notification)
def inbox_ack(notification: Notification):
    services.acknowledge(current_actor(), notification)
    flash(_("Acknowledged."), "success")
    return redirect(url_for("policy.inbox_item", notification_id=notification.id))
