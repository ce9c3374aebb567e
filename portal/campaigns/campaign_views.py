"""HQ's campaign pages (the brand's own HQ; another brand's campaign is a 404).

- `/campaigns/` (TASKS_MANAGE): the campaigns landing. HQ with CAMPAIGNS_MANAGE sees the
  brand's campaigns (status, window, orders and revenue) and drafts one; everyone who may manage
  tasks finds the links to the other campaign pages (tasks, events, group buys, red packets,
  sharers) there, each shown once its pages exist.
- `/campaigns/<id>` (CAMPAIGNS_MANAGE): a campaign's settings, what names it, start and close.
- `/campaigns/<id>/report` and `/campaigns/<id>/report.csv` (CAMPAIGNS_MANAGE): reach, orders,
  revenue, cost and ROI, whole and by channel, guide, store and sharer (reports.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import to_user_timezone, to_utc
from wtforms import DateTimeLocalField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from portal.campaigns import campaigns, reports
from portal.campaigns.models import Campaign, CampaignStatus
from portal.core import transaction
from portal.core.access import Permission, current_actor, require
from portal.core.errors import DomainError
from portal.core.forms import PortalForm, apply_errors
from portal.core.spreadsheets import csv_bytes
from portal.policy.consumer_terms import terms_for

bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")

FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
# The other campaign pages HQ reaches from the landing, each shown once its blueprint is there,
# with the brand's switch of that tool in its programme terms (CampaignTerms), if it has one.
ADMIN_PAGES = (
    ("campaign_tasks.index", _l("Tasks for guides"), Permission.TASKS_MANAGE, ""),
    ("campaign_events.index", _l("Live events"), Permission.CAMPAIGNS_MANAGE, "live_events"),
    ("campaign_groups.index", _l("Group buys"), Permission.CAMPAIGNS_MANAGE, "group_buys"),
    ("campaign_packets.index", _l("Red packets"), Permission.CAMPAIGNS_MANAGE, "red_packets"),
    ("campaign_sharers.index", _l("Sharers"), Permission.CAMPAIGNS_MANAGE, ""),
)


class CampaignForm(PortalForm):
    code = StringField(_l("Code"), validators=[Length(max=32)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=campaigns.NAME_MAX)])
    description = TextAreaField(
        _l("What it is about"), validators=[Length(max=campaigns.DESCRIPTION_MAX)]
    )
    starts_at = DateTimeLocalField(_l("Starts"), format=FORMATS, validators=[DataRequired()])
    ends_at = DateTimeLocalField(_l("Ends"), format=FORMATS, validators=[DataRequired()])


def _utc(value: datetime | None) -> datetime | None:
    """People type times in the portal's time zone; the database keeps UTC."""
    return to_utc(value).replace(tzinfo=UTC) if value is not None else None


def _local(value: datetime) -> datetime:
    return to_user_timezone(value).replace(tzinfo=None)


def _form(campaign: Campaign | None = None) -> CampaignForm:
    """The settings form: as posted, or (a GET of a campaign's page) as the campaign stands."""
    form = CampaignForm()
    if campaign is not None and request.method == "GET":
        form.code.data, form.name.data = campaign.code, campaign.name
        form.description.data = campaign.description
        form.starts_at.data = _local(campaign.starts_at)
        form.ends_at.data = _local(campaign.ends_at)
    return form


def _input(form: CampaignForm) -> campaigns.CampaignInput:
    return campaigns.CampaignInput(
        code=form.code.data or "",
        name=form.name.data or "",
        description=form.description.data or "",
        starts_at=_utc(form.starts_at.data),
        ends_at=_utc(form.ends_at.data),
    )


# -- the landing and the list ----------------------------------------------------------------------


@dataclass(frozen=True)
class AdminLink:
    url: str
    label: Any
    is_off: bool  # the brand has the tool switched off in its programme terms


def _admin_links() -> list[AdminLink]:
    actor = current_actor()
    switches = terms_for(actor.org_id).campaigns if actor.is_hq and actor.org_id else None
    return [
        AdminLink(
            url_for(endpoint),
            label,
            bool(switch and switches is not None and not getattr(switches, switch)),
        )
        for endpoint, label, permission, switch in ADMIN_PAGES
        if actor.can(permission)
    ]


def _index_page(form: CampaignForm | None = None, status: int = 200):
    actor = current_actor()
    manages = actor.is_hq and actor.can(Permission.CAMPAIGNS_MANAGE)
    rows = campaigns.list_campaigns(actor) if manages else []
    brand = campaigns.hq_brand(actor) if manages else None
    return render_template(
        "campaigns/campaigns/index.html",
        manages=manages,
        campaigns=rows,
        figures=reports.headlines(brand.id, [c.id for c in rows]) if brand else {},
        currency=brand.currency if brand else "CNY",
        form=form or _form(),
        links=_admin_links(),
        status_names=campaigns.STATUS_NAMES,
    ), status


@bp.get("/")
@require(Permission.TASKS_MANAGE)
def index():
    return _index_page()


@bp.post("/")
@require(Permission.CAMPAIGNS_MANAGE)
def create():
    campaigns.hq_brand(current_actor())  # HQ only: anyone else finds nothing here
    form = _form()
    if form.validate_on_submit():
        try:
            campaign = campaigns.create_campaign(current_actor(), _input(form))
        except DomainError as error:
            transaction.discard()
            apply_errors(form, error)
        else:
            flash(
                _("Campaign %(code)s drafted: name it on tasks, events, group buys and red "
                  "packets, then start it.", code=campaign.code),
                "success",
            )  # fmt: skip
            return redirect(url_for("campaigns.detail", campaign_id=campaign.id))
    return _index_page(form, 422)


# -- one campaign ----------------------------------------------------------------------------------


def _detail_page(campaign: Campaign, form: CampaignForm | None = None, status: int = 200):
    return render_template(
        "campaigns/campaigns/detail.html",
        campaign=campaign,
        form=form or _form(campaign),
        named=campaigns.named_by(campaign),
        status_names=campaigns.STATUS_NAMES,
        is_draft=campaign.status == CampaignStatus.DRAFT,
        is_closed=campaign.status == CampaignStatus.CLOSED,
    ), status


@bp.get("/<int:campaign_id>")
@require(Permission.CAMPAIGNS_MANAGE, load=campaigns.get_campaign)
def detail(campaign: Campaign):
    return _detail_page(campaign)


@bp.post("/<int:campaign_id>")
@require(Permission.CAMPAIGNS_MANAGE, load=campaigns.get_campaign)
def update(campaign: Campaign):
    campaign_id = campaign.id
    form = _form(campaign)
    if form.validate_on_submit():
        try:
            campaigns.update_campaign(current_actor(), campaign, _input(form))
        except DomainError as error:
            transaction.discard()
            apply_errors(form, error)
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("campaigns.detail", campaign_id=campaign_id))
    return _detail_page(campaigns.get_campaign(current_actor(), campaign_id), form, 422)


def _step(campaign: Campaign, step: Any, done: str):
    campaign_id = campaign.id
    try:
        step(current_actor(), campaign)
    except DomainError as error:
        transaction.discard()
        flash(" ".join([error.message, *error.fields.values()]), "error")
        return _detail_page(campaigns.get_campaign(current_actor(), campaign_id), None, 409)
    flash(done, "success")
    return redirect(url_for("campaigns.detail", campaign_id=campaign_id))


@bp.post("/<int:campaign_id>/start")
@require(Permission.CAMPAIGNS_MANAGE, load=campaigns.get_campaign)
def start(campaign: Campaign):
    return _step(campaign, campaigns.start_campaign, _("The campaign is live."))


@bp.post("/<int:campaign_id>/close")
@require(Permission.CAMPAIGNS_MANAGE, load=campaigns.get_campaign)
def close(campaign: Campaign):
    return _step(campaign, campaigns.close_campaign, _("The campaign is closed; its report stays."))


# -- the report ------------------------------------------------------------------------------------


def roi_text(roi: Any) -> str:
    return _("no cost") if roi is None else f"{roi:.2f}"


@bp.get("/<int:campaign_id>/report")
@require(Permission.CAMPAIGNS_MANAGE, load=campaigns.get_campaign)
def report(campaign: Campaign):
    return render_template(
        "campaigns/campaigns/report.html",
        campaign=campaign,
        report=reports.campaign_report(campaign),
        channel_names=reports.CHANNEL_NAMES,
        kind_names=reports.KIND_NAMES,
        status_names=campaigns.STATUS_NAMES,
        roi_text=roi_text,
    )


CSV_HEADER = (
    "section", "code", "name", "store", "views", "claims", "participants", "orders",
    "charged_cents", "refunded_cents", "revenue_cents", "coupon_cents", "reward_cents",
    "cost_cents", "net_cents", "roi",
)  # fmt: skip


def _csv_figures(section: str, code: str, name: str, f: reports.Figures) -> tuple:
    return (
        section, code, name, "", "", "", "", f.orders, f.charged_cents, f.refunded_cents,
        f.revenue_cents, f.coupon_cents, f.reward_cents, f.cost_cents, f.net_cents,
        "no cost" if f.roi is None else f"{f.roi:.2f}",
    )  # fmt: skip


def _csv_person(section: str, p: reports.PersonLine) -> tuple:
    return (
        section, p.code, p.name, p.store_code, p.views, p.claims, "", p.orders, "", "",
        p.revenue_cents, "", p.reward_cents, "", "", "",
    )  # fmt: skip


def report_rows(report: reports.CampaignReport) -> list[tuple]:
    """The report as one table: a row per figure line, its section first (campaign, channel,
    across_channels, guide, no_guide, store, sharer); amounts in cents."""
    c, reach, total = report.campaign, report.reach, report.total
    summary = list(_csv_figures("campaign", c.code, c.name, total))
    summary[4:7] = [reach.views, reach.claims, reach.participants]
    rows: list[tuple] = [CSV_HEADER, tuple(summary)]
    rows += [
        _csv_figures("channel", line.channel, str(reports.CHANNEL_NAMES[line.channel]), line)
        for line in report.channels
    ]
    if not report.across.is_empty:
        rows.append(_csv_figures("across_channels", "", "", report.across))
    rows += [_csv_person("guide", p) for p in report.guides]
    if report.unattributed.orders:
        rows.append(_csv_figures("no_guide", "", "", report.unattributed))
    rows += [
        (
            "store",
            s.code,
            s.name,
            s.code,
            s.views,
            s.claims,
            "",
            s.orders,
            "",
            "",
            s.revenue_cents,
            "",
            s.reward_cents,
            "",
            "",
            "",
        )  # fmt: skip
        for s in report.stores
    ]
    rows += [_csv_person("sharer", p) for p in report.sharers]
    return rows


@bp.get("/<int:campaign_id>/report.csv")
@require(Permission.CAMPAIGNS_MANAGE, load=campaigns.get_campaign)
def report_csv(campaign: Campaign):
    body = csv_bytes(report_rows(reports.campaign_report(campaign)))
    response = Response(body, mimetype="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="campaign-{campaign.code}-report.csv"'
    )
    return response
