"""Pages: a buyer's suggested orders per brand (a distributor's also those it supplies), HQ's
overview of its network's day, and computing suggestions now."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import format_decimal
from flask_babel import gettext as _

from portal.core import jobs as core_jobs
from portal.core.access import Actor, OrgKind, Permission, current_actor, require
from portal.core.errors import NotFound, ValidationFailed
from portal.core.inputs import parse_day
from portal.core.jobs import JobRun, JobStatus
from portal.network import queries as network_queries
from portal.network.models import ChannelLink, Organization
from portal.ordering import queries as ordering_queries
from portal.replenishment import jobs, queries, services
from portal.replenishment.models import Suggestion, SuggestionStatus
from portal.replenishment.shared_views import bp, buying_link, today

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
    brand = network_queries.get_own_org(actor)
    try:
        day = parse_day(request.args.get("date"), field="date") or today()
    except ValidationFailed as error:
        flash(error.message, "error")
        day = today()
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


# -- runs ----------------------------------------------------------------------------------------


@bp.post("/replenishment/run")
@require(Permission.REPLENISHMENT_MANAGE)
def run():
    """Compute today's suggestions now: a buyer's admin for its own location and one brand;
    HQ for one region or its whole brand. The job page shows the progress."""
    actor = current_actor()
    code = (request.form.get("brand") or "").strip().upper()
    if actor.is_hq:
        brand = network_queries.get_own_org(actor)
        if code and code != brand.code:
            raise NotFound()
        scope = request.form.get("scope") or ""
        asked = (request.form.get("region") or "").strip() if scope == "region" else ""
    else:
        link = buying_link(actor, code)
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
    # Without Redis the run happens right after the request commits, before the redirect is sent.
    return redirect(url_for("replenishment.suggestions", job=job_run.id))
