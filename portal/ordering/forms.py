"""Ordering forms. Grid, cart and shipping quantities are one input per SKU (`qty_<id>` or
`qty_<sku>`) and are read by the views; these forms hold the fixed fields around them."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from portal.core.forms import PortalForm
from portal.ordering.upload import MAX_PASTE_CHARS


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class SubmitCartForm(PortalForm):
    po_number = StringField(
        _l("PO number"), validators=[Optional(), Length(max=64)], filters=[_strip]
    )
    note = TextAreaField(
        _l("Note to the supplier"), validators=[Optional(), Length(max=500)], filters=[_strip]
    )
    # One per rendering of the cart: a second click (or a replayed POST) finds the first answer.
    submit_token = HiddenField(validators=[DataRequired(), Length(min=32, max=36)])


class QuickOrderForm(PortalForm):
    lines = TextAreaField(
        _l("SKU and quantity, one per line"),
        validators=[DataRequired(), Length(max=MAX_PASTE_CHARS)],
    )


class OrderFileForm(PortalForm):
    file = FileField(_l("Order file (.csv or .xlsx)"), validators=[FileRequired()])


class TemplateForm(PortalForm):
    name = StringField(
        _l("Template name"), validators=[DataRequired(), Length(max=80)], filters=[_strip]
    )


class ReasonForm(PortalForm):
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=500)], filters=[_strip])


class NoteForm(PortalForm):
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)], filters=[_strip])


class ShipForm(PortalForm):
    carrier = StringField(_l("Carrier"), validators=[Optional(), Length(max=60)], filters=[_strip])
    tracking_number = StringField(
        _l("Tracking number"), validators=[Optional(), Length(max=80)], filters=[_strip]
    )


class PurchasingRuleForm(PortalForm):
    approval_above = StringField(
        _l("Orders above this amount wait for an admin's approval"),
        validators=[Optional(), Length(max=20)],
        filters=[_strip],
    )
    monthly_limit = StringField(
        _l("Each buyer may order at most this much per calendar month"),
        validators=[Optional(), Length(max=20)],
        filters=[_strip],
    )
