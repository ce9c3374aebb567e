from flask_babel import lazy_gettext as _l
from wtforms import (
    DecimalField,
    EmailField,
    FloatField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from portal.core.forms import PortalForm

# In major units; NumberRange also refuses NaN and infinity.
CREDIT_RANGE = NumberRange(min=0, max=100_000_000_000)


class OrgForm(PortalForm):
    kind = SelectField(
        _l("Kind"),
        choices=[
            SelectChoice("distributor", _l("Distributor")),
            SelectChoice("store", _l("Store")),
        ],
    )
    supplier = SelectField(_l("Supplier"), choices=[], validators=[DataRequired()])
    code = StringField(_l("Code"), validators=[DataRequired(), Length(min=2, max=32)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    level = StringField(_l("Level"), validators=[Length(max=20)])
    region = StringField(_l("Region"), validators=[Length(max=40)])
    address = StringField(_l("Address"), validators=[Length(max=255)])
    latitude = FloatField(_l("Latitude"), validators=[Optional(), NumberRange(-90, 90)])
    longitude = FloatField(_l("Longitude"), validators=[Optional(), NumberRange(-180, 180)])
    credit_limit = DecimalField(
        _l("Credit limit"), places=2, default=0, validators=[Optional(), CREDIT_RANGE]
    )
    payment_terms_days = IntegerField(
        _l("Payment terms (days)"), default=0, validators=[Optional(), NumberRange(0, 365)]
    )


class OrgDetailsForm(PortalForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    region = StringField(_l("Region"), validators=[Length(max=40)])
    address = StringField(_l("Address"), validators=[Length(max=255)])
    latitude = FloatField(_l("Latitude"), validators=[Optional(), NumberRange(-90, 90)])
    longitude = FloatField(_l("Longitude"), validators=[Optional(), NumberRange(-180, 180)])


class LinkForm(PortalForm):
    level = StringField(_l("Level"), validators=[Length(max=20)])
    region = StringField(_l("Region"), validators=[Length(max=40)])
    credit_limit = DecimalField(
        _l("Credit limit"), places=2, default=0, validators=[Optional(), CREDIT_RANGE]
    )
    payment_terms_days = IntegerField(
        _l("Payment terms (days)"), default=0, validators=[Optional(), NumberRange(0, 365)]
    )


class MoveForm(PortalForm):
    supplier = SelectField(_l("New supplier"), choices=[], validators=[DataRequired()])


class SuspendForm(PortalForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=500)])


class InviteForm(PortalForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    role = SelectField(_l("Role"), choices=[])


class RoleForm(PortalForm):
    role = SelectField(_l("Role"), choices=[])
