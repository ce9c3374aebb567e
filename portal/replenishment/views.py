"""Pages: suggested orders, replenishment rules, runs and HQ's overview."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.catalog import queries as catalog_queries
from portal.core import idempotency
from portal.core import jobs as core_jobs
from portal.core.access import Actor, OrgKind, Permission, current_actor, require
from portal.core.db import utcnow
from portal.core.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from portal.core.forms import apply_errors
from portal.core.idempotency import IdempotencyInProgress
from portal.core.inputs import date_problem
from portal.core.jobs import JobRun, JobStatus
from portal.extensions import db
from portal.inventory import queries as inventory_queries
from portal.inventory import services as stock
from portal.network import queries as network_queries
from portal.network.models import ChannelLink, Organization
from portal.ordering import queries as ordering_queries
from portal.replenishment import jobs, queries, services
from portal.replenishment.forms import DefaultRuleForm, LocationRuleForm, SubmitSuggestionForm
from portal.replenishment.models import (
    ReplenishmentRule,
    Suggestion,
    SuggestionLine,
    SuggestionStatus,
)

bp = Blueprint("replenishment", __name__)

STATUS_LABELS = {
    SuggestionStatus.OPEN: _l("Waiting"),
    SuggestionStatus.SUBMITTED: _l("Submitted"),
    SuggestionStatus.DISMISSED: _l("Dismissed"),
}
RUN_LABELS = {
    JobStatus.QUEUED: _l("Queued"),
    JobStatus.STARTED: _l("Running"),
    JobStatus.FINISHED: _l("Finished"),
    JobStatus.FAILED: _l("Failed"),
}


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {"suggestion_labels": STATUS_LABELS, "run_labels": RUN_LABELS}


def _today() -> date:
    return utcnow().date()


def _day(text: str | None) -> date | None:
    try:
        day = date.fromisoformat((text or "").strip())
    except ValueError:
        return None
    return None if date_problem(day) else day


def _new_token() -> str:
    return str(uuid.uuid4())


def _buying_link(actor: Actor, brand_code: str) -> ChannelLink:
    """The actor's org's link for a brand it buys; any other brand is a 404."""
    for link in ordering_queries.buyer_links(actor):
        if link.brand.code == brand_code:
            return link
    raise NotFound()


# -- reasons in words ----------------------------------------------------------------------------


def _number(value: Any, pattern: str = "#,##0.##") -> str:
    return format_decimal(value or 0, pattern)


def rule_words(rule: dict[str, Any]) -> str:
    """A rule (a line's reason, or a rule row's figures) as the buyer reads it."""
    if rule.get("cover_days") is not None:
        return _(
            "%(cover)s days of cover, %(lead)s days lead time, safety stock %(safety)s",
            cover=rule["cover_days"],
            lead=rule.get("lead_days") or 0,
            safety=rule.get("safety") or 0,
        )
    if rule.get("min") is not None:
        return _("Min %(min)s, max %(max)s", min=rule["min"], max=rule.get("max"))
    return _("Up to %(max)s", max=rule.get("max"))


def _rule_figures(rule: ReplenishmentRule) -> dict[str, Any]:
    return {
        "min": rule.min_qty,
        "max": rule.max_qty,
        "cover_days": rule.cover_days,
        "lead_days": rule.lead_days,
        "safety": rule.safety_qty,
    }


def reason_words(line: SuggestionLine) -> list[str]:
    """Why the run proposed this line: rule, sales velocity, stock position, target, caps."""
    reason = line.reason or {}
    words = [
        rule_words(reason),
        _("Sells %(velocity)s a day", velocity=_number(reason.get("velocity"))),
        _(
            "On hand %(on_hand)s, reserved %(reserved)s, inbound %(inbound)s: "
            "position %(position)s",
            on_hand=reason.get("on_hand", 0),
            reserved=reason.get("reserved", 0),
            inbound=reason.get("inbound", 0),
            position=reason.get("position", 0),
        ),
        _("Target %(target)s", target=_number(reason.get("target"), "#,##0.#")),
    ]
    needed = reason.get("needed")
    if reason.get("capped"):
        if reason.get("capped_by") == "quota":
            words.append(_("Capped by the quota"))
        else:
            words.append(_("Capped by the supplier's stock"))
    elif needed is not None and line.suggested_qty > needed:
        words.append(
            _(
                "%(needed)s needed, rounded up to whole case packs and order multiples",
                needed=needed,
            )
        )
    return words


def _below_min(line: SuggestionLine) -> bool:
    reason = line.reason or {}
    floor = reason.get("min")
    if floor is None:
        floor = reason.get("reorder_point")
    return floor is not None and reason.get("position", 0) < floor


# -- suggested orders ----------------------------------------------------------------------------


def _asked_run(actor: Actor) -> dict[str, Any]:
    """The run the page was opened for (`?job=`, after "compute now"), with its progress."""
    job_id = request.args.get("job")
    if not job_id:
        return {"run": None}
    try:
        job_run = core_jobs.get_run(actor, job_id)
    except NotFound:
        return {"run": None}
    progress, message = core_jobs.live_progress(job_run)
    return {"run": job_run, "progress": progress, "message": message}


@dataclass
class SuggestionRow:
    suggestion: Suggestion
    brand: Organization | None
    lines: int
    units: int


def _rows(suggestions: list[Suggestion]) -> list[SuggestionRow]:
    totals = queries.line_totals([s.id for s in suggestions])
    brands = queries.orgs_by_id(s.brand_id for s in suggestions)
    return [
        SuggestionRow(s, brands.get(s.brand_id), *totals.get(s.id, (0, 0))) for s in suggestions
    ]


@dataclass
class BrandSection:
    """One brand the actor's org buys: its open suggestions and whether it may compute now."""

    link: ChannelLink
    open: list[SuggestionRow] = field(default_factory=list)


@bp.get("/replenishment")
@require(Permission.REPLENISHMENT_VIEW)
def suggestions():
    """A buyer's suggested orders per brand (a distributor also its stores'); HQ's overview."""
    actor = current_actor()
    if actor.is_hq:
        return _overview(actor)
    sections = {link.brand_id: BrandSection(link) for link in ordering_queries.buyer_links(actor)}
    open_page = queries.list_suggestions(
        actor, own_only=True, status=SuggestionStatus.OPEN, per_page=100
    )
    orphans = []
    for row in _rows(open_page.items):
        section = sections.get(row.suggestion.brand_id)
        if section is None:  # a brand the org no longer buys: still its suggestion
            orphans.append(row)
        else:
            section.open.append(row)
    recent = [
        s
        for s in queries.list_suggestions(actor, own_only=True, per_page=25).items
        if s.status != SuggestionStatus.OPEN
    ]
    supplied = None
    if actor.org_kind == OrgKind.DISTRIBUTOR:
        supplied = _rows(queries.list_supplied_suggestions(actor, per_page=50).items)
    return render_template(
        "replenishment/suggestions.html",
        sections=list(sections.values()),
        orphans=orphans,
        recent=_rows(recent),
        supplied=supplied,
        may_run=actor.can(Permission.REPLENISHMENT_MANAGE),
        **_asked_run(actor),
    )


@dataclass
class OverviewView:
    label: str
    row: queries.OverviewRow
    below: queries.BelowMin


@dataclass
class RunView:
    run: JobRun
    scope: str
    duration: str
    error: str | None
    may_retry: bool


def _overview_rows(brand: Organization, day: date, by: str) -> list[OverviewView]:
    rows = queries.overview(brand.id, day, by=by)
    below = queries.below_min(brand.id, day, by=by)
    names: dict[str, str] = {}
    if by == "supplier":
        orgs = queries.orgs_by_id(int(r.key) for r in rows if r.key.isdigit())
        names = {str(org_id): org.code for org_id, org in orgs.items()}
    none = queries.BelowMin(0, 0)
    return [
        OverviewView(names.get(r.key, r.key) or _("(no region)"), r, below.get(r.key, none))
        for r in rows
    ]


def _duration(run: JobRun) -> str:
    if run.started_at is None or run.finished_at is None:
        return ""
    seconds = (run.finished_at - run.started_at).total_seconds()
    if seconds < 60:
        return _("%(seconds)s s", seconds=format_decimal(round(seconds, 1), "#,##0.#"))
    return _("%(minutes)s min", minutes=format_decimal(round(seconds / 60, 1), "#,##0.#"))


def _scope_label(run: JobRun) -> str:
    args = list(run.args or [])
    scope, code = (args[1], args[2]) if len(args) >= 3 else ("", "")
    if scope == "brand":
        return _("Whole brand")
    if scope == "region":
        return _("Region %(region)s", region=code)
    return _("Location of %(org)s", org=code) if code else run.title


def _run_views(actor: Actor, brand_id: int) -> list[RunView]:
    admin = actor.can(Permission.JOBS_ADMIN)  # errors and retries, as on the job pages
    return [
        RunView(
            run,
            _scope_label(run),
            _duration(run),
            run.error if admin and run.status == JobStatus.FAILED else None,
            admin and run.status == JobStatus.FAILED,
        )
        for run in queries.recent_runs(brand_id)
    ]


def _overview(actor: Actor):
    """HQ: the day's suggestions per region and per distributor, and the latest runs."""
    brand = network_queries.get_org_by_id(actor, actor.org_id)
    day = _day(request.args.get("date")) or _today()
    manage = actor.can(Permission.REPLENISHMENT_MANAGE)
    by_region = _overview_rows(brand, day, "region") if manage else []
    by_supplier = _overview_rows(brand, day, "supplier") if manage else []
    network = queries.list_suggestions(actor, brand_id=brand.id, business_date=day, per_page=50)
    return render_template(
        "replenishment/overview.html",
        brand=brand,
        day=day,
        manage=manage,
        by_region=by_region,
        by_supplier=by_supplier,
        runs=_run_views(actor, brand.id) if manage else [],
        regions=queries.regions(brand.id) if manage else [],
        network=_rows(network.items),
        network_total=network.total,
        **_asked_run(actor),
    )


# -- one suggestion ------------------------------------------------------------------------------


@dataclass
class LineView:
    line: SuggestionLine
    reason: list[str]
    below_min: bool
    value: str  # what the quantity box shows
    error: str | None
    problems: list[str]


def _render_suggestion(
    suggestion: Suggestion,
    *,
    typed: dict[int, str] | None = None,
    qty_errors: dict[str, str] | None = None,
    problems: list[dict[str, Any]] | None = None,
    status: int = 200,
):
    actor = current_actor()
    typed = typed or {}
    qty_errors = qty_errors or {}
    lines = queries.lines_of(suggestion)
    # A refused submit names lines by their position in the suggestion.
    by_line: dict[int, list[str]] = defaultdict(list)
    for problem in problems or []:
        index = problem.get("line")
        if index is not None and 0 <= index < len(lines):
            by_line[lines[index].id].append(problem["message"])
    views = [
        LineView(
            line,
            reason_words(line),
            _below_min(line),
            typed.get(line.id, str(line.qty)),
            qty_errors.get(f"qty_{line.id}"),
            by_line.get(line.id, []),
        )
        for line in lines
    ]
    orgs = queries.orgs_by_id(
        [suggestion.brand_id, suggestion.buyer_org_id, suggestion.supplier_org_id]
    )
    brand = orgs[suggestion.brand_id]
    body = render_template(
        "replenishment/suggestion.html",
        suggestion=suggestion,
        brand=brand,
        buyer=orgs.get(suggestion.buyer_org_id),
        supplier=orgs.get(suggestion.supplier_org_id),
        currency=brand.currency,
        lines=views,
        total_units=sum(line.qty for line in lines),
        order_number=queries.order_numbers([suggestion]).get(suggestion.id),
        may_order=services.may_order(actor, suggestion),
        form=SubmitSuggestionForm(formdata=None, submit_token=_new_token()),
    )
    return body, status


def _detail_url(suggestion: Suggestion) -> str:
    return url_for("replenishment.suggestion_detail", suggestion_id=suggestion.id)


def _typed(suggestion: Suggestion) -> dict[int, str]:
    """The quantities typed on the page, per line id; an emptied box drops the line (0)."""
    typed = {}
    for line in suggestion.lines:
        name = f"qty_{line.id}"
        if name in request.form:
            typed[line.id] = (request.form.get(name) or "").strip() or "0"
    return typed


@bp.get("/replenishment/suggestions/<bigint:suggestion_id>")
@require(Permission.REPLENISHMENT_VIEW, load=queries.get_suggestion)
def suggestion_detail(suggestion: Suggestion):
    return _render_suggestion(suggestion)


@bp.post("/replenishment/suggestions/<bigint:suggestion_id>/update")
@require(Permission.ORDER_PLACE, load=queries.get_suggestion)
def suggestion_update(suggestion: Suggestion):
    typed = _typed(suggestion)
    try:
        services.edit_suggestion(current_actor(), suggestion, dict(typed))
    except PermissionDenied:
        raise
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _render_suggestion(suggestion, typed=typed, qty_errors=error.fields, status=422)
    db.session.commit()
    flash(_("Quantities saved."), "success")
    return redirect(_detail_url(suggestion))


@bp.post("/replenishment/suggestions/<bigint:suggestion_id>/submit")
@require(Permission.ORDER_PLACE, load=queries.get_suggestion)
def suggestion_submit(suggestion: Suggestion):
    """Place the suggestion (with the quantities on the page) as a replenishment order, once per
    rendered page: its one-time token is the idempotency key, so a double click finds the first
    order. A refusal names every problem and leaves the suggestion as it was."""
    actor = current_actor()
    services.ensure_buyer(actor, suggestion)  # a 403 for anyone else, whatever the form holds
    form = SubmitSuggestionForm()
    try:
        token = str(uuid.UUID(form.submit_token.data or "")) if form.validate_on_submit() else ""
    except ValueError:
        token = ""
    if not token:
        flash(_("The form expired: check the quantities and submit again."), "error")
        return redirect(_detail_url(suggestion))
    typed = _typed(suggestion)

    def work() -> tuple[int, dict[str, Any], int | None]:
        if typed:
            services.edit_suggestion(actor, suggestion, dict(typed))
        order = services.submit_suggestion(actor, suggestion)
        return 303, {"number": order.number}, order.id

    payload = {"suggestion": suggestion.id, "quantities": {str(k): v for k, v in typed.items()}}
    try:
        response = idempotency.run_once(actor.org_id, f"web:suggestion:{token}", payload, work)
    except IdempotencyInProgress:  # a second click while the first is still being placed
        db.session.rollback()
        flash(_("Your order is being placed: it will be in your orders in a moment."), "info")
        return redirect(url_for("ordering.order_list", tab="buying"))
    except DomainError as error:  # the token of another page's form
        db.session.rollback()
        flash(error.message, "error")
        return redirect(_detail_url(suggestion))
    db.session.commit()
    if response.status < 400:
        number = response.body["number"]
        if response.replayed:
            flash(_("Order %(number)s was already placed.", number=number), "info")
        else:
            flash(_("Order %(number)s placed.", number=number), "success")
        return redirect(url_for("ordering.order_detail", number=number))
    error = response.body.get("error") or {}
    problems = error.get("problems") or []
    for problem in problems:
        flash(problem["message"], "error")
    fields = error.get("fields") or {}
    if not problems:
        flash(error.get("message") or _("The order cannot be placed."), "error")
        for name, message in fields.items():
            if not name.startswith("qty_"):
                flash(message, "error")
    return _render_suggestion(
        suggestion, typed=typed, qty_errors=fields, problems=problems, status=422
    )


@bp.post("/replenishment/suggestions/<bigint:suggestion_id>/dismiss")
@require(Permission.ORDER_PLACE, load=queries.get_suggestion)
def suggestion_dismiss(suggestion: Suggestion):
    try:
        services.dismiss_suggestion(current_actor(), suggestion)
    except PermissionDenied:
        raise
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(_detail_url(suggestion))
    db.session.commit()
    flash(_("Suggestion dismissed: nothing was ordered."), "success")
    return redirect(url_for("replenishment.suggestions"))


# -- runs ----------------------------------------------------------------------------------------


@bp.post("/replenishment/run")
@require(Permission.REPLENISHMENT_MANAGE)
def run():
    """Compute today's suggestions now: a buyer's admin for its own location and one brand;
    HQ for one region or its whole brand. The job page shows the progress."""
    actor = current_actor()
    code = (request.form.get("brand") or "").strip().upper()
    if actor.is_hq:
        brand = network_queries.get_org_by_id(actor, actor.org_id)
        if code and code != brand.code:
            raise NotFound()
        scope = request.form.get("scope") or ""
        asked = (request.form.get("region") or "").strip() if scope == "region" else ""
    else:
        link = _buying_link(actor, code)
        brand, scope, asked = link.brand, "location", actor.org_code
    try:
        if scope not in ("region", "brand", "location"):
            raise ValidationFailed(fields={"scope": "Choose a scope."})
        scope_code = services.run_code(actor, brand, scope, asked)  # who may run what
    except (NotFound, ValidationFailed):
        flash(_("Choose a region of your network, or the whole brand."), "error")
        return redirect(url_for("replenishment.suggestions"))
    job_run = jobs.request_run(
        brand.id, scope, scope_code, user_id=actor.user_id, org_id=actor.org_id
    )
    if job_run.status == JobStatus.FINISHED:
        flash(
            _("Today's suggestions were computed already; the next run is tomorrow's."),
            "info",
        )
    core_jobs.commit()  # without Redis the run happens here, before the redirect
    return redirect(url_for("replenishment.suggestions", job=job_run.id))


# -- rules ---------------------------------------------------------------------------------------


@dataclass
class RuleView:
    rule: ReplenishmentRule
    words: str


def _rule_views(rules: list[ReplenishmentRule]) -> list[RuleView]:
    return [RuleView(rule, rule_words(_rule_figures(rule))) for rule in rules]


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
    brand = network_queries.get_org_by_id(actor, actor.org_id)
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
        except PermissionDenied:
            raise
        except DomainError as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
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
    org = network_queries.get_org_by_id(actor, actor.org_id)
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
            except PermissionDenied as error:  # HQ keeps this brand's rules to itself
                db.session.rollback()
                form.sku.errors = [*form.sku.errors, error.message]
                status = 403
            except DomainError as error:
                db.session.rollback()
                apply_errors(form, error)
                status = 422
            else:
                db.session.commit()
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
    link = _buying_link(actor, code)
    on = request.form.get("on") == "1"
    location = stock.default_location(network_queries.get_org_by_id(actor, actor.org_id))
    services.set_auto_submit(actor, location, link.brand_id, on=on)
    db.session.commit()
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
