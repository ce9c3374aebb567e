from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime, ngettext
from flask_babel import gettext as _
from flask_login import current_user

from portal.auth import queries, services, web
from portal.auth.forms import (
    AcceptInvitationForm,
    ApiKeyForm,
    LoginForm,
    PasswordForm,
    scope_choices,
)
from portal.auth.throttle import FailedSignIns
from portal.core import transaction
from portal.core.access import Permission, current_actor, public, require
from portal.core.db import utcnow
from portal.core.errors import DomainError
from portal.core.forms import apply_errors
from portal.extensions import db, login_manager
from portal.network import services as network_services
from portal.network.models import User

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return web.load_session_user(user_id)


def _safe_next(target: str | None) -> str:
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/"):
            return target
    return url_for("network.home")


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    form = LoginForm(next=request.args.get("next", ""))
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render_template("auth/login.html", form=form), status
    email = form.email.data
    try:
        membership, failed = services.sign_in_with_password(
            email, form.password.data, web.sign_in_client(email)
        )
    except services.SignInThrottled as error:
        message = _(
            "Too many failed sign-ins. Try again in %(seconds)s seconds.",
            seconds=error.retry_after,
        )
        page = render_template("auth/login.html", form=form, alert=message)
        return page, 429, {"Retry-After": str(error.retry_after)}
    except DomainError as error:
        transaction.keep()  # a wrong password is counted by the throttle
        form.password.errors = [*form.password.errors, error.message]
        return render_template("auth/login.html", form=form), 401
    user = membership.user
    web.sign_in(user, membership)
    web.remember_device(email)
    user.last_login_at = utcnow()
    if failed is not None:
        flash(_failed_notice(failed), "error")
    return redirect(_safe_next(form.next.data))


def _failed_notice(failed: FailedSignIns) -> str:
    return ngettext(
        "%(num)d failed sign-in attempt since your last sign-in, from %(address)s at %(time)s.",
        "%(num)d failed sign-in attempts since your last sign-in, the last from %(address)s"
        " at %(time)s.",
        failed.count,
        address=failed.last_address,
        time=format_datetime(failed.last_at),
    )


@bp.post("/logout")
@public
def logout():
    web.sign_out()
    return redirect(url_for("auth.login"))


@bp.post("/switch-org")
@require(Permission.ACCOUNT_USE)
def switch_org():
    try:
        membership_id = int(request.form.get("membership_id", ""))
    except ValueError:
        membership_id = -1
    membership = web.switch_membership(current_user, membership_id)
    flash(_("You are now working as %(org)s.", org=membership.org.name), "success")
    return redirect(url_for("network.home"))


@bp.post("/language")
@public
def set_language():
    user = current_user if current_user.is_authenticated else None
    try:
        web.set_locale(user, request.form.get("lang", ""))
    except DomainError as error:
        transaction.discard()
        flash(error.fields.get("lang", error.message), "error")
    return redirect(_safe_next(request.form.get("next")))


@bp.route("/invitations/<token>", methods=["GET", "POST"])
@public
def accept_invitation(token: str):
    try:
        invitation = network_services.load_invitation(token)
    except DomainError as error:
        transaction.discard()
        return render_template("auth/invitation_invalid.html", message=error.message), 400
    has_account = (
        db.session.query(User.id).filter(User.email == invitation.email).first() is not None
    )
    form = AcceptInvitationForm()
    if form.validate_on_submit():
        if not has_account and not (form.name.data or "").strip():
            form.name.errors = [_("Tell us your name.")]
        elif not has_account and form.confirm.data != form.password.data:
            form.confirm.errors = [_("The passwords do not match.")]
        else:
            try:
                membership = network_services.accept_invitation(
                    token, name=form.name.data or "", password=form.password.data
                )
            except DomainError as error:
                transaction.discard()
                apply_errors(form, error)
            else:
                web.sign_in(membership.user, membership)
                flash(_("Welcome to %(org)s.", org=membership.org.name), "success")
                return redirect(url_for("network.home"))
    status = 422 if request.method == "POST" else 200
    return (
        render_template(
            "auth/accept.html", form=form, invitation=invitation, has_account=has_account
        ),
        status,
    )


@bp.get("/account")
@require(Permission.ACCOUNT_USE)
def account():
    memberships = services.active_memberships(current_user)
    return render_template("auth/account.html", memberships=memberships)


@bp.route("/account/password", methods=["GET", "POST"])
@require(Permission.ACCOUNT_USE)
def change_password():
    form = PasswordForm()
    if form.validate_on_submit():
        if form.confirm.data != form.new_password.data:
            form.confirm.errors = [_("The passwords do not match.")]
        else:
            try:
                user = services.change_password(
                    current_actor(),
                    current_password=form.current_password.data,
                    new_password=form.new_password.data,
                )
            except DomainError as error:
                transaction.discard()
                apply_errors(form, error)
            else:
                web.renew_session(user)
                flash(
                    _("Your password is changed. You are signed out everywhere else."),
                    "success",
                )
                return redirect(url_for("auth.account"))
    status = 422 if request.method == "POST" else 200
    return render_template("auth/password.html", form=form), status


@bp.route("/settings/api-keys", methods=["GET", "POST"])
@require(Permission.API_KEYS_MANAGE)
def api_keys():
    actor = current_actor()
    form = ApiKeyForm()
    form.scopes.choices = scope_choices(actor.org_kind)
    new_token = None
    if form.validate_on_submit():
        try:
            _key, new_token = services.create_api_key(
                actor, name=form.name.data, scopes=form.scopes.data
            )
            form = ApiKeyForm(formdata=None)
            form.scopes.choices = scope_choices(actor.org_kind)
        except DomainError as error:
            transaction.discard()
            apply_errors(form, error)
    keys = queries.list_api_keys(actor)
    status = 422 if request.method == "POST" and new_token is None else 200
    return render_template("auth/api_keys.html", form=form, keys=keys, new_token=new_token), status


@bp.post("/settings/api-keys/<int:key_id>/revoke")
@require(Permission.API_KEYS_MANAGE, load=queries.get_api_key)
def revoke_api_key(key):
    services.revoke_api_key(current_actor(), key)
    flash(_("The key %(name)s no longer works.", name=key.name), "success")
    return redirect(url_for("auth.api_keys"))
