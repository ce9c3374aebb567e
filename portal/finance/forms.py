"""Finance forms: a payment received and a correction, amounts typed in major units (1234.50)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import DataRequired, Length, Optional

from portal.core.forms import PortalForm


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class PaymentForm(PortalForm):
    # Text, parsed by core.money.to_cents in the view: "1,234.50" is an amount, a float is not.
    amount = StringField(
        _l("Amount received"), validators=[DataRequired(), Length(max=30)], filters=[_strip]
    )
    reference = StringField(
        _l("Reference (bank transfer, receipt)"),
        validators=[DataRequired(), Length(max=80)],
        filters=[_strip],
    )
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)], filters=[_strip])


class AdjustmentForm(PortalForm):
    amount = StringField(
        _l("Amount (+ buyer owes more, − owes less)"),
        validators=[DataRequired(), Length(max=30)],
        filters=[_strip],
    )
    note = StringField(
        _l("Note (why)"), validators=[DataRequired(), Length(max=500)], filters=[_strip]
    )
