"""Stock forms: adjust, count and mark damaged, each for one SKU typed by its code; and the stock
file upload."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import IntegerField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from portal.core.forms import PortalForm
from portal.inventory.models import Grade, MoveReason
from portal.inventory.services import MAX_QUANTITY


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def _grades() -> list[SelectChoice]:
    return [
        SelectChoice(Grade.A, _l("A (sellable)")),
        SelectChoice(Grade.B, _l("B (slightly damaged)")),
    ]


class _SkuNoteForm(PortalForm):
    sku = StringField(_l("SKU"), validators=[DataRequired(), Length(max=64)], filters=[_strip])
    note = StringField(
        _l("Note (why)"), validators=[DataRequired(), Length(max=500)], filters=[_strip]
    )


class AdjustForm(_SkuNoteForm):
    delta = IntegerField(
        _l("Units (+ in, − out)"),
        validators=[InputRequired(), NumberRange(min=-MAX_QUANTITY, max=MAX_QUANTITY)],
    )
    reason = SelectField(
        _l("Reason"),
        choices=[
            SelectChoice(MoveReason.ADJUSTMENT, _l("Adjustment")),
            SelectChoice(MoveReason.FOUND, _l("Found")),
            SelectChoice(MoveReason.RECEIPT, _l("Receipt")),
        ],
        default=MoveReason.ADJUSTMENT,
    )
    grade = SelectField(_l("Grade"), choices=_grades(), default=Grade.A)


class CountForm(_SkuNoteForm):
    counted = IntegerField(
        _l("Counted units"),
        validators=[InputRequired(), NumberRange(min=0, max=MAX_QUANTITY)],
    )
    grade = SelectField(_l("Grade"), choices=_grades(), default=Grade.A)


class DamageForm(_SkuNoteForm):
    qty = IntegerField(
        _l("Units damaged (grade A → B)"),
        validators=[InputRequired(), NumberRange(min=1, max=MAX_QUANTITY)],
    )


class StockUploadForm(PortalForm):
    file = FileField(_l("Stock file (.csv or .xlsx)"), validators=[FileRequired()])
