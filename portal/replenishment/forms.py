"""Replenishment forms: HQ's default rules, an owner's rule for one SKU, the submit token.
Suggested quantities are one input per line (`qty_<line id>`) and are read by the views."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from portal.core.forms import PortalForm
from portal.replenishment.services import RuleInput


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class _RuleFields(PortalForm):
    """The figures of a rule; the service checks their ranges (max not below min, ...)."""

    min_qty = IntegerField(_l("Minimum (units)"), validators=[Optional()])
    max_qty = IntegerField(_l("Maximum (units)"), validators=[Optional()])
    cover_days = IntegerField(_l("Days of cover"), validators=[Optional()])
    lead_days = IntegerField(_l("Lead time (days)"), default=0, validators=[InputRequired()])
    safety_qty = IntegerField(_l("Safety stock (units)"), default=0, validators=[InputRequired()])
    review_days = IntegerField(_l("Review every (days)"), default=7, validators=[InputRequired()])

    def rule_input(self, *, owners_may_override: bool = True) -> RuleInput:
        return RuleInput(
            min_qty=self.min_qty.data,
            max_qty=self.max_qty.data,
            cover_days=self.cover_days.data,
            lead_days=self.lead_days.data,
            safety_qty=self.safety_qty.data,
            review_days=self.review_days.data,
            owners_may_override=owners_may_override,
        )


class DefaultRuleForm(_RuleFields):
    """HQ's default for a store level ("" = every level) and a category ("" = every one)."""

    level = SelectField(_l("Store level"), choices=[], validate_choice=True)
    category = SelectField(_l("Category"), choices=[], validate_choice=True)
    owners_may_override = BooleanField(_l("Owners may override"), default=True)


class LocationRuleForm(_RuleFields):
    """An owner's rule for one SKU at its own location."""

    sku = StringField(_l("SKU"), validators=[DataRequired(), Length(max=64)], filters=[_strip])


class SubmitSuggestionForm(PortalForm):
    # One per rendering of the page: a second click (or a replayed POST) finds the first order.
    submit_token = HiddenField(validators=[DataRequired(), Length(min=32, max=36)])
