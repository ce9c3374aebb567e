"""Form helpers shared by every domain's views."""

from __future__ import annotations

from flask import flash
from flask_wtf import FlaskForm

from portal.core.errors import DomainError


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
