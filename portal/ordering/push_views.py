"""Pages: HQ pushes new-season stock down the network (push orders or quotas), and everyone sees
the quotas that concern it."""

from __future__ import annotations

from datetime import UTC, datetime, time

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import DateField, RadioField, SelectChoice, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from portal.core import transaction
from portal.core.access import Permission, current_actor, require
from portal.core.errors import DomainError, PermissionDenied
from portal.core.forms import PortalForm, apply_errors
from portal.inventory import allocations
from portal.network import queries as network_queries
from portal.ordering import queries, services

bp = Blueprint("push", __name__)


class PushForm(PortalForm):
    mode = RadioField(
        _l("Send as"),
        choices=[
            SelectChoice("orders", _l("Push orders (we ship them now)")),
            SelectChoice("quotas", _l("Quotas (they order against them until the expiry)")),
        ],
        default="orders",
    )
    expires_on = DateField(_l("Quotas expire on"), validators=[Optional()])
    rows = TextAreaField(
        _l("Lines: recipient, SKU, quantity (one per line)"),
        validators=[DataRequired(), Length(max=200_000)],
        render_kw={"rows": 10, "placeholder": "D1 TEE-BLK-M 24\nS1\tTEE-BLK-L\t6"},
    )
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])


def _render(form: PushForm, status: int = 200):
    actor = current_actor()
    return (
        render_template(
            "ordering/push.html", form=form, quotas=queries.list_quotas(actor, active_only=True)
        ),
        status,
    )


@bp.route("/stock/push", methods=["GET", "POST"])
@require(Permission.STOCK_PUSH)
def push():
    actor = current_actor()
    if not allocations.may_push(actor):
        raise PermissionDenied(_("Only the brand's HQ pushes stock."))
    form = PushForm()
    if not form.validate_on_submit():
        return _render(form, 422 if form.is_submitted() else 200)
    brand = network_queries.get_org_by_id(actor, actor.org_id)
    expires_at = None
    if form.expires_on.data:
        expires_at = datetime.combine(form.expires_on.data, time(23, 59, 59), tzinfo=UTC)
    try:
        result = services.push_stock(
            actor,
            brand,
            services.parse_push_rows(form.rows.data),
            as_quotas=form.mode.data == "quotas",
            expires_at=expires_at,
            note=form.note.data or "",
        )
    except DomainError as error:
        transaction.discard()
        apply_errors(form, error)
        for message in error.fields.values():
            if message not in form.rows.errors:
                form.rows.errors = [*form.rows.errors, message]
        return _render(form, 422)
    if result.orders:
        flash(
            _(
                "%(count)s push orders created (%(units)s units): %(numbers)s",
                count=len(result.orders),
                units=result.units,
                numbers=", ".join(o.number for o in result.orders),
            ),
            "success",
        )
    else:
        flash(
            _(
                "%(count)s quotas set aside (%(units)s units).",
                count=len(result.quotas),
                units=result.units,
            ),
            "success",
        )
    return redirect(url_for("push.push"))


@bp.get("/stock/quotas")
@require(Permission.STOCK_VIEW)
def quotas():
    """The quotas the actor's org holds (or, for HQ, has set aside), open ones first."""
    return render_template(
        "ordering/quotas.html", quotas=queries.list_quotas(current_actor(), active_only=False)
    )
