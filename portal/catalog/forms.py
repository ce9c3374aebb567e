from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, DecimalField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from portal.core.forms import PortalForm

# In major units; NumberRange also refuses NaN and infinity.
MSRP_RANGE = NumberRange(min=0, max=100_000_000_000)
CASE_PACK_RANGE = NumberRange(min=1, max=100_000)


class ProductFieldsForm(PortalForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    category_code = StringField(_l("Category code"), validators=[DataRequired(), Length(max=40)])
    season = StringField(_l("Season"), validators=[Length(max=20)])
    launch_date = DateField(_l("Launch date"), validators=[Optional()])
    msrp = DecimalField(_l("MSRP"), places=2, validators=[DataRequired(), MSRP_RANGE])
    description = TextAreaField(_l("Description"), validators=[Length(max=5000)])


class ProductForm(ProductFieldsForm):
    code = StringField(_l("Product code"), validators=[DataRequired(), Length(max=40)])
    colors = StringField(
        _l("Colors (comma separated)"), validators=[DataRequired(), Length(max=2000)]
    )
    sizes = StringField(
        _l("Sizes (comma separated)"), validators=[DataRequired(), Length(max=2000)]
    )
    case_pack = IntegerField(_l("Case pack"), default=1, validators=[Optional(), CASE_PACK_RANGE])


class AddVariantsForm(PortalForm):
    colors = StringField(_l("Colors to add"), validators=[Length(max=2000)])
    sizes = StringField(_l("Sizes to add"), validators=[Length(max=2000)])
    case_pack = IntegerField(_l("Case pack"), default=1, validators=[Optional(), CASE_PACK_RANGE])


class ImageForm(PortalForm):
    image = FileField(_l("Image (PNG, JPEG or WebP, at most 5 MB)"), validators=[FileRequired()])


class ImportForm(PortalForm):
    file = FileField(_l("Catalog file (.csv or .xlsx)"), validators=[FileRequired()])
