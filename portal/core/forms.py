"""Form helpers shared by every domain's views."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal
from typing import Any

from flask import flash
from flask_wtf import FlaskForm
from wtforms import Field

from portal.core.errors import DomainError
from portal.core.inputs import NUMBER_MESSAGE, date_problem, say, text_problem, unguarded

MAX_FORM_INT = 2**31 - 1  # quantities and days are 32-bit columns
MAX_FORM_NUMBER = 10**15  # amounts: what a BIGINT of cents holds, with room


def _field_problem(field: Field) -> str | None:
    for value in field.raw_data or ():
        if isinstance(value, str) and (problem := text_problem(value)):
            return problem
    data = field.data
    if isinstance(data, date):
        return date_problem(data)
    if isinstance(data, bool) or data is None:
        return None
    if isinstance(data, int) and abs(data) > MAX_FORM_INT:
        return say(NUMBER_MESSAGE)
    if isinstance(data, float | Decimal) and (
        not math.isfinite(data) or abs(float(data)) > MAX_FORM_NUMBER
    ):
        return say(NUMBER_MESSAGE)
    return None


class PortalForm(FlaskForm):
    """The base of the portal's forms: a NUL character or invalid Unicode in any field, a date
    outside MIN_DATE..MAX_DATE or a number no column holds is that field's error, so the form
    is shown again with the message (never a 500)."""

    class Meta(FlaskForm.Meta):
        def wrap_formdata(self, form: Any, formdata: Any) -> Any:
            # The request's form answers 400 for a bad value read directly; this form reports
            # it on the field instead (portal/core/inputs.py).
            return unguarded(super().wrap_formdata(form, formdata))

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        for field in self:
            problem = _field_problem(field)
            if problem:
                field.errors = [problem]
                valid = False
        return valid


def apply_errors(form: FlaskForm, error: DomainError) -> None:
    """Show a service's field errors on the form's fields; anything else as a message."""
    unplaced = []
    for name, message in error.fields.items():
        field = getattr(form, name, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*list(field.errors or []), message]
        else:
            unplaced.append(message)
    if unplaced or not error.fields:
        flash(" ".join([error.message, *unplaced]), "error")
