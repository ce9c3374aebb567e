from flask_babel import lazy_gettext as _l
from wtforms import (
    EmailField,
    HiddenField,
    PasswordField,
    SelectChoice,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, Length

from portal.core.access import API_KEY_SCOPES, OrgKind, Permission, api_key_scopes
from portal.core.forms import PortalForm

# What each scope lets a key do, shown beside its code when a key is created.
SCOPE_LABELS = {
    Permission.NETWORK_VIEW: _l("see the network below the org"),
    Permission.JOBS_VIEW: _l("follow jobs"),
    Permission.CATALOG_VIEW: _l("read the catalogue and prices"),
    Permission.INBOX_VIEW: _l("read policy notifications"),
    Permission.INBOX_ACK: _l("acknowledge policy notifications"),
    Permission.POLICY_VIEW: _l("read the brand's policies"),
    Permission.STOCK_VIEW: _l("read locations and stock"),
    Permission.STOCK_ADJUST: _l("adjust and upload stock, report sales"),
    Permission.ORDER_VIEW: _l("read orders"),
    Permission.ORDER_PLACE: _l("place, cancel and receive orders"),
    Permission.ORDER_FULFIL: _l("approve, reject and ship orders as the supplier"),
    Permission.FINANCE_VIEW: _l("read accounts, balances and ledger entries"),
    Permission.FINANCE_MANAGE: _l("record payments and adjustments as the supplier"),
    Permission.REPLENISHMENT_VIEW: _l("read suggested replenishment orders"),
    Permission.REPLENISHMENT_MANAGE: _l("run replenishment"),
    Permission.MEMBERS_ENROL: _l("enrol members and report till sales for points"),
}


def scope_choices(kind: OrgKind) -> list[SelectChoice]:
    """The scopes an org of `kind` may give its keys, each with what it allows (in a request)."""
    return [SelectChoice(s.value, f"{s.value}: {SCOPE_LABELS[s]}") for s in api_key_scopes(kind)]


class LoginForm(PortalForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])
    next = HiddenField()


class AcceptInvitationForm(PortalForm):
    name = StringField(_l("Your name"), validators=[Length(max=120)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(min=8, max=200)])
    confirm = PasswordField(_l("Repeat password"))


class ApiKeyForm(PortalForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=80)])
    scopes = SelectMultipleField(
        _l("Scopes"),
        # The view offers only the org's own (`scope_choices`).
        choices=[SelectChoice(s.value) for s in API_KEY_SCOPES],
        validators=[DataRequired()],
    )


class PasswordForm(PortalForm):
    current_password = PasswordField(
        _l("Current password"), validators=[DataRequired(), Length(max=200)]
    )
    new_password = PasswordField(
        _l("New password"), validators=[DataRequired(), Length(min=8, max=200)]
    )
    confirm = PasswordField(_l("Repeat the new password"))
