"""Task pages (portal/campaigns/tasks.py says the rules).

- HQ and distributors (`TASKS_MANAGE`): `/campaigns/tasks/` lists the brand's tasks (a
  distributor only its own) and drafts one; `/campaigns/tasks/<id>` edits a draft, publishes
  and closes it, and shows completion by region, by store and by guide; `.../completion.csv`.
- A store's owner (`GUIDES_MANAGE`): `/guides/store/tasks`, the tasks that reached the store's
  guides and how far each guide is (HQ is sent to its own list).
- A guide or sharer (`GUIDES_USE`): `/guides/me/tasks`, a phone page: each task's progress,
  the reward earned so far (pending until the task closes), the time left, and the guide's own
  link and QR code for what the task is about.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import format_timedelta, ngettext, to_user_timezone, to_utc
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from wtforms import (
    DateTimeLocalField,
    DecimalField,
    HiddenField,
    IntegerField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from portal.campaigns import campaigns, task_counting, tasks
from portal.campaigns.models import GuideTask, TaskAssignment, TaskStatus
from portal.core import transaction
from portal.core.access import Permission, current_actor, require
from portal.core.db import utcnow
from portal.core.errors import DomainError, NotFound
from portal.core.forms import PortalForm, apply_errors
from portal.core.money import from_cents, to_cents
from portal.core.spreadsheets import csv_bytes
from portal.extensions import db
from portal.guides import links, qr
from portal.network.models import Organization

bp = Blueprint("campaign_tasks", __name__)

FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
SHOWN_GUIDES = 300  # on the task's page; the CSV has them all


def _split(text: str | None) -> tuple[str, ...]:
    parts = (text or "").replace("，", ",").split(",")
    return tuple(part.strip() for part in parts if part.strip())


class TaskForm(PortalForm):
    brand = HiddenField()
    code = StringField(_l("Code (empty: one is made up)"), validators=[Length(max=32)])
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=120)])
    description = TextAreaField(_l("What the guides read"), validators=[Length(max=500)])
    kind = SelectField(
        _l("What it asks for"),
        choices=[SelectChoice(value, name) for value, name in tasks.KIND_NAMES.items()],
    )
    ref = StringField(
        _l("About (product:CODE, live:CODE, group_buy:CODE, red_packet:CODE or coupon:CODE)"),
        validators=[Length(max=100)],
    )
    starts_at = DateTimeLocalField(_l("Starts"), format=FORMATS, validators=[DataRequired()])
    ends_at = DateTimeLocalField(_l("Ends"), format=FORMATS, validators=[DataRequired()])
    target = IntegerField(_l("Target per guide (results)"), validators=[Optional()])
    reward = DecimalField(_l("Reward per result"), places=2, validators=[Optional()])
    cap = DecimalField(
        _l("Cap per guide (required with a reward)"), places=2, validators=[Optional()]
    )
    campaign_id = SelectField(_l("Campaign"), coerce=int, choices=[])
    regions = StringField(_l("Regions, comma-separated (empty: all)"), [Length(max=2000)])
    stores = StringField(_l("Store codes, comma-separated (empty: all)"), [Length(max=4000)])
    levels = StringField(_l("Store levels, comma-separated (empty: all)"), [Length(max=2000)])
    kinds = SelectMultipleField(
        _l("Who (none chosen: guides and sharers)"),
        choices=[SelectChoice(value, name) for value, name in tasks.GUIDE_KIND_NAMES.items()],
        validate_choice=False,
    )


def _utc(value: datetime | None) -> datetime | None:
    """People type times in the portal's time zone; the database keeps UTC."""
    return to_utc(value).replace(tzinfo=UTC) if value is not None else None


def _local(value: datetime) -> datetime:
    return to_user_timezone(value).replace(tzinfo=None)


def _cents(value: Decimal | None, currency: str) -> int | None:
    return to_cents(value, currency) if value is not None else None


def _task_form(brand: Organization, task: GuideTask | None = None) -> TaskForm:
    """The settings form: as posted, or (a GET of a task's page) as the task stands."""
    form = TaskForm()
    form.campaign_id.choices = [SelectChoice(0, _("None"))] + [
        SelectChoice(c.id, f"{c.code} · {c.name}") for c in campaigns.open_campaigns(brand.id)
    ]
    if (
        task is not None
        and task.campaign is not None
        and task.campaign_id not in {choice.value for choice in form.campaign_id.choices}
    ):
        form.campaign_id.choices.append(
            SelectChoice(task.campaign.id, f"{task.campaign.code} · {task.campaign.name}")
        )
    if request.method == "GET":
        form.brand.data = brand.code
        if task is not None:
            audience = task.audience or {}
            form.code.data, form.title.data = task.code, task.title
            form.description.data, form.kind.data, form.ref.data = (
                task.description,
                task.kind,
                task.ref,
            )
            form.starts_at.data, form.ends_at.data = _local(task.starts_at), _local(task.ends_at)
            form.target.data = task.target
            form.reward.data = from_cents(task.reward_cents, brand.currency)
            if task.cap_cents is not None:
                form.cap.data = from_cents(task.cap_cents, brand.currency)
            form.campaign_id.data = task.campaign_id or 0
            form.regions.data = ", ".join(audience.get("regions") or [])
            form.stores.data = ", ".join(tasks.audience_store_codes(task))
            form.levels.data = ", ".join(audience.get("levels") or [])
            form.kinds.data = list(audience.get("kinds") or [])
    return form


def _task_input(form: TaskForm, brand: Organization) -> tasks.TaskInput:
    return tasks.TaskInput(
        code=form.code.data or "",
        title=form.title.data or "",
        description=form.description.data or "",
        kind=form.kind.data or "",
        ref=form.ref.data or "",
        starts_at=_utc(form.starts_at.data),
        ends_at=_utc(form.ends_at.data),
        target=form.target.data,
        reward_cents=_cents(form.reward.data, brand.currency),
        cap_cents=_cents(form.cap.data, brand.currency),
        campaign_id=form.campaign_id.data or None,
        regions=_split(form.regions.data),
        stores=_split(form.stores.data),
        levels=_split(form.levels.data),
        kinds=tuple(form.kinds.data or ()),
    )


def _chosen_brand() -> tuple[Organization, list[Organization]]:
    """The brand the page is about (`?brand=` or the form's), among the actor's."""
    brands = tasks.task_brands(current_actor())
    if not brands:
        raise NotFound()
    wanted = (request.values.get("brand") or "").strip().upper()
    return next((b for b in brands if b.code == wanted), brands[0]), brands


def _reached_counts(task_ids: list[int]) -> dict[int, int]:
    return dict(
        db.session.execute(
            select(TaskAssignment.task_id, func.count())
            .where(TaskAssignment.task_id.in_(task_ids or [0]))
            .group_by(TaskAssignment.task_id)
        )
        .tuples()
        .all()
    )


def _names() -> dict[str, Any]:
    return {
        "kind_names": tasks.KIND_NAMES,
        "status_names": tasks.STATUS_NAMES,
        "guide_kind_names": tasks.GUIDE_KIND_NAMES,
    }


# -- HQ's and distributors' pages ---------------------------------------------------------------


def _list_page(brand: Organization, brands: list[Organization], form: TaskForm, status: int = 200):
    rows = tasks.list_tasks(current_actor(), brand)
    return render_template(
        "campaigns/tasks/index.html",
        brand=brand,
        brands=brands,
        tasks=rows,
        reached=_reached_counts([t.id for t in rows]),
        form=form,
        **_names(),
    ), status


@bp.get("/campaigns/tasks/")
@require(Permission.TASKS_MANAGE)
def index():
    brand, brands = _chosen_brand()
    return _list_page(brand, brands, _task_form(brand))


@bp.post("/campaigns/tasks/")
@require(Permission.TASKS_MANAGE)
def create():
    brand, brands = _chosen_brand()
    form = _task_form(brand)
    if form.validate_on_submit():
        try:
            task = tasks.create_task(current_actor(), brand, _task_input(form, brand))
        except DomainError as error:
            transaction.discard()
            apply_errors(form, error)
        else:
            flash(_("Task %(code)s drafted: publish it to send it to the guides.", code=task.code))
            return redirect(url_for("campaign_tasks.detail", task_id=task.id))
    return _list_page(brand, brands, form, 422)


def _detail_page(task: GuideTask, *, form: TaskForm | None = None, status: int = 200):
    brand = tasks.task_brand(task)
    done = task_counting.completion(task)
    return render_template(
        "campaigns/tasks/detail.html",
        brand=brand,
        task=task,
        form=form or _task_form(brand, task),
        is_draft=task.status == TaskStatus.DRAFT,
        is_published=task.status == TaskStatus.PUBLISHED,
        completion=done,
        shown=done.guides[:SHOWN_GUIDES],
        stores=tasks.audience_store_codes(task),
        owner=db.session.execute(
            select(Organization).where(Organization.id == task.owner_org_id)
        ).scalar_one(),
        **_names(),
    ), status


@bp.get("/campaigns/tasks/<int:task_id>")
@require(Permission.TASKS_MANAGE, load=tasks.get_task)
def detail(task: GuideTask):
    return _detail_page(task)


@bp.post("/campaigns/tasks/<int:task_id>")
@require(Permission.TASKS_MANAGE, load=tasks.get_task)
def update(task: GuideTask):
    brand = tasks.task_brand(task)
    form = _task_form(brand, task)
    if form.validate_on_submit():
        try:
            tasks.update_task(current_actor(), task, _task_input(form, brand))
        except DomainError as error:
            transaction.discard()
            apply_errors(form, error)
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("campaign_tasks.detail", task_id=task.id))
    return _detail_page(tasks.get_task(current_actor(), task.id), form=form, status=422)


def _step(task: GuideTask, step: Any) -> Any:
    try:
        return step(current_actor(), task)
    except DomainError as error:
        if error.status == 404:
            raise
        transaction.discard()
        flash(" ".join([error.message, *error.fields.values()]), "error")
        return None


@bp.post("/campaigns/tasks/<int:task_id>/publish")
@require(Permission.TASKS_MANAGE, load=tasks.get_task)
def publish(task: GuideTask):
    reached = _step(task, tasks.publish_task)
    if reached is not None:
        flash(
            ngettext(
                "Published: it reached %(num)d guide.",
                "Published: it reached %(num)d guides.",
                reached,
            ),
            "success",
        )
    return redirect(url_for("campaign_tasks.detail", task_id=task.id))


@bp.post("/campaigns/tasks/<int:task_id>/close")
@require(Permission.TASKS_MANAGE, load=tasks.get_task)
def close(task: GuideTask):
    was_draft = task.status == TaskStatus.DRAFT
    closing = _step(task, tasks.close_task)
    if closing is not None and was_draft:
        flash(_("The draft is cancelled."), "success")
    elif closing is not None:
        flash(
            ngettext(
                "Closed: %(num)d reward written to the commission ledger.",
                "Closed: %(num)d rewards written to the commission ledger.",
                closing.rewards,
            ),
            "success",
        )
    return redirect(url_for("campaign_tasks.detail", task_id=task.id))


@bp.get("/campaigns/tasks/<int:task_id>/completion.csv")
@require(Permission.TASKS_MANAGE, load=tasks.get_task)
def completion_csv(task: GuideTask):
    done = task_counting.completion(task)
    body = csv_bytes(  # a name that would run as a spreadsheet formula stays text
        [
            (
                "task", "region", "store", "guide_code", "guide", "kind", "results", "target",
                "done", "reward_cents", "written_cents",
            ),
            *(
                (
                    task.code, line.region, line.store_code, line.code, line.name, line.kind,
                    line.results, task.target, int(line.done), line.reward_cents,
                    "" if line.written_cents is None else line.written_cents,
                )
                for line in done.guides
            ),
        ]
    )  # fmt: skip
    response = Response(body, mimetype="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="task-{task.code}.csv"'
    return response


# -- a store owner's page --------------------------------------------------------------------------


@bp.get("/guides/store/tasks")
@require(Permission.GUIDES_MANAGE)
def store_tasks():
    actor = current_actor()
    if actor.is_hq:
        return redirect(url_for("campaign_tasks.index"))
    rows = [
        (task, completion, tasks.task_brand(task).currency)
        for task, completion in tasks.store_tasks(actor)
    ]
    return render_template("campaigns/tasks/store.html", rows=rows, **_names())


# -- a guide's page --------------------------------------------------------------------------------


def _share(item: tasks.MyTask) -> dict[str, str] | None:
    """The guide's link for the task and its QR code (an SVG as a data address: no second
    request, and the page's policy allows data images)."""
    link = item.link
    if link is None or not item.guide.is_active:
        return None
    target, ref = link
    url = links.share_url(item.brand.code, links.make_token(item.guide, target, ref))
    svg = qr.qr_svg(url, scale=5, title=item.task.title)
    return {
        "url": url,
        "qr": "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode(),
    }


@bp.get("/guides/me/tasks")
@require(Permission.GUIDES_USE)
def my_tasks():
    now = utcnow()
    items = tasks.my_tasks(current_actor())
    return render_template(
        "campaigns/tasks/mine.html",
        items=[
            {
                "item": item,
                "share": _share(item) if item.is_open else None,
                "left": format_timedelta(item.task.ends_at - now, threshold=1.1)
                if item.is_open and item.task.ends_at > now
                else "",
            }
            for item in items
        ],
        packets_url=url_for("campaign_packets.my_packets"),
        **_names(),
    )
