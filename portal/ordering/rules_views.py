"""The page where a buyer org's admin sets its own buyers' limits: an amount above which an order
waits for approval, and a monthly limit per buyer."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.core import transaction
from portal.core.access import Permission, current_actor, require
from portal.core.errors import DomainError, ValidationFailed
from portal.core.forms import apply_errors
from portal.core.money import MINOR_UNITS, from_cents, to_cents
from portal.network import queries as network_queries
from portal.ordering import services
from portal.ordering.forms import PurchasingRuleForm
from portal.ordering.shared_views import bp


@bp.route("/orders/rules", methods=["GET", "POST"])
@require(Permission.ORDER_APPROVE)
def purchasing_rules():
    """The org's own limits for its buyers: an approval amount and a monthly limit each."""
    actor = current_actor()
    org = network_queries.get_org_by_id(actor, actor.org_id)
    rule = services.find_purchasing_rule(org.id)
    form = PurchasingRuleForm()
    if form.validate_on_submit():
        try:
            amounts = {}
            for name in ("approval_above", "monthly_limit"):
                text = getattr(form, name).data
                try:
                    amounts[name] = to_cents(text, org.currency) if text else None
                except ValidationFailed as exc:
                    raise ValidationFailed(
                        fields={name: _("Not an amount: %(value)s.", value=text[:20])}
                    ) from exc
            services.set_purchasing_rule(
                actor,
                org,
                approval_above_cents=amounts["approval_above"],
                monthly_limit_cents=amounts["monthly_limit"],
            )
        except DomainError as error:
            transaction.discard()
            apply_errors(form, error)
        else:
            flash(_("Purchasing rules saved."), "success")
            return redirect(url_for("ordering.purchasing_rules"))
    elif request.method == "GET" and rule is not None:
        form.approval_above.data = _major(rule.approval_above_cents, org.currency)
        form.monthly_limit.data = _major(rule.monthly_limit_cents, org.currency)
    return render_template(
        "ordering/rules.html", form=form, rule=rule, org=org
    ), 422 if request.method == "POST" else 200


def _major(cents: int | None, currency: str) -> str:
    digits = MINOR_UNITS.get(currency, 2)
    return "" if cents is None else f"{from_cents(cents, currency):.{digits}f}"
