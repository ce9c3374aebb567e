from flask_babel import lazy_gettext as _l
from wtforms import (
    DateTimeLocalField,
    DecimalField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from portal.core.forms import PortalForm

AMOUNT = NumberRange(min=0, max=100_000_000_000)  # major units; refuses NaN and infinity
PERCENT = NumberRange(min=0, max=100)
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]


class PolicyForm(PortalForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=40)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    audience_kind = SelectField(
        _l("Audience"),
        choices=[
            SelectChoice("all", _l("Every distributor and store")),
            SelectChoice("level", _l("By level")),
            SelectChoice("region", _l("By region")),
            SelectChoice("orgs", _l("Named organizations")),
        ],
    )
    audience_values = StringField(
        _l("Levels, regions or org codes (comma separated)"), validators=[Length(max=2000)]
    )
    effective_from = DateTimeLocalField(
        _l("Effective from"), format=DATETIME_FORMATS, validators=[DataRequired()]
    )
    effective_to = DateTimeLocalField(
        _l("Effective until (empty: open-ended)"),
        format=DATETIME_FORMATS,
        validators=[Optional()],
    )
    prices = TextAreaField(_l("Wholesale prices"), validators=[Length(max=200_000)])
    order_rules = TextAreaField(_l("Order rules (MOQ, multiple)"), validators=[Length(max=200_000)])
    floors = TextAreaField(_l("Retail price floors"), validators=[Length(max=200_000)])
    exclusions = TextAreaField(_l("Not authorized"), validators=[Length(max=50_000)])
    official_prices = TextAreaField(
        _l("Official storefront prices"), validators=[Length(max=200_000)]
    )
    outlet_prices = TextAreaField(_l("Outlet prices"), validators=[Length(max=200_000)])
    employee_prices = TextAreaField(_l("Employee prices"), validators=[Length(max=200_000)])
    min_order = DecimalField(_l("Minimum order amount"), places=2, validators=[Optional(), AMOUNT])
    order_window_start = DateTimeLocalField(
        _l("Ordering window opens"), format=DATETIME_FORMATS, validators=[Optional()]
    )
    order_window_end = DateTimeLocalField(
        _l("Ordering window closes"), format=DATETIME_FORMATS, validators=[Optional()]
    )
    credit_limit = DecimalField(_l("Credit limit"), places=2, validators=[Optional(), AMOUNT])
    payment_terms_days = IntegerField(
        _l("Payment terms (days)"), validators=[Optional(), NumberRange(0, 365)]
    )
    member_terms = TextAreaField(
        _l("Consumer programme terms (JSON)"), validators=[Length(max=20_000)]
    )
    rebates = TextAreaField(_l("Volume rebates"), validators=[Length(max=5000)])
    note = TextAreaField(_l("Note to the network"), validators=[Length(max=5000)])
