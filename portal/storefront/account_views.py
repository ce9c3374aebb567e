"""A consumer's account pages in a brand's shop, under /shop/<brand>/account/: sign-in by mobile
number and code or by e-mail and password, sign-up, sign-out, the address book, and the
person's data: a copy to download, and erasure."""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.core import transaction
from portal.core.access import public
from portal.core.errors import DomainError
from portal.network.models import Organization
from portal.storefront import consumers
from portal.storefront.auth import (
    consumer_required,
    current_consumer,
    shop_next,
    sign_in_browser,
    sign_out_browser,
    signed_in_consumer,
)
from portal.storefront.shared_views import bp, shop_brand

ADDRESS_FIELDS = (
    "recipient",
    "phone",
    "province",
    "city",
    "district",
    "line",
    "latitude",
    "longitude",
    "is_default",
)


def _client_address() -> str:
    return request.remote_addr or "unknown"


def _page(template: str, brand: Organization, status: int = 200, **context: Any):
    context.setdefault("errors", {})
    context.setdefault("next", request.values.get("next", ""))
    return render_template(f"storefront/account/{template}", brand=brand, **context), status


def _failed(error: DomainError) -> tuple[dict[str, str], str | None]:
    """The error's field messages, and its message when no field names what went wrong."""
    return error.fields, (None if error.fields else error.message)


# -- signing in and out ------------------------------------------------------------------------


@bp.get("/account/sign-in")
@public
def sign_in(brand_code: str):
    brand = shop_brand(brand_code)
    if current_consumer(brand) is not None:
        return redirect(shop_next(brand, request.args.get("next")))
    return _page("sign_in.html", brand, phone="")


@bp.post("/account/sign-in/code")
@public
def sign_in_code(brand_code: str):
    brand = shop_brand(brand_code)
    phone = request.form.get("phone", "")
    try:
        sent = consumers.request_sign_in_code(brand, phone, address=_client_address())
    except consumers.CodeThrottled as error:
        transaction.discard()
        # A code sent a moment ago may still be on its way: the code form stays usable.
        return _page("code.html", brand, 429, phone=phone, alert=error.message, code_shown=None)
    except DomainError as error:
        transaction.discard()
        errors, alert = _failed(error)
        return _page("sign_in.html", brand, 422, phone=phone, errors=errors, alert=alert)
    shown = sent.code if current_app.config["SMS_SHOW_CODE"] else None
    return _page("code.html", brand, phone=sent.phone, code_shown=shown, sent=True)


@bp.post("/account/sign-in/verify")
@public
def sign_in_verify(brand_code: str):
    brand = shop_brand(brand_code)
    phone = request.form.get("phone", "")
    guide_code = request.form.get("guide_code", "")
    try:
        consumer = consumers.sign_in_with_code(
            brand, phone, request.form.get("code", ""), guide_code=guide_code
        )
    except consumers.InvalidCode as error:
        transaction.keep()  # the wrong try counts toward the code's limit
        return _page(
            "code.html",
            brand,
            422,
            phone=phone,
            errors=error.fields,
            code_shown=None,
            guide_code=guide_code,
        )
    except DomainError as error:
        transaction.discard()
        errors, alert = _failed(error)
        return _page(
            "code.html", brand, 422, phone=phone, errors=errors, alert=alert, guide_code=guide_code
        )
    sign_in_browser(consumer)
    flash(_("You are signed in."), "success")
    return redirect(shop_next(brand, request.form.get("next")))


@bp.route("/account/sign-in/email", methods=["GET", "POST"])
@public
def sign_in_email(brand_code: str):
    brand = shop_brand(brand_code)
    email = request.form.get("email", "")
    if request.method == "GET":
        return _page("email.html", brand, email=email)
    try:
        consumer = consumers.sign_in_with_password(
            brand, email, request.form.get("password", ""), address=_client_address()
        )
    except consumers.InvalidCredentials as error:
        transaction.keep()  # the wrong password is counted by the throttle
        return _page("email.html", brand, error.status, email=email, errors=error.fields)
    except DomainError as error:
        transaction.discard()
        page, status = _page("email.html", brand, error.status, email=email, errors=error.fields)
        retry_after = getattr(error, "retry_after", None)
        return page, status, ({"Retry-After": str(retry_after)} if retry_after else {})
    sign_in_browser(consumer)
    flash(_("You are signed in."), "success")
    return redirect(shop_next(brand, request.form.get("next")))


@bp.route("/account/sign-up", methods=["GET", "POST"])
@public
def sign_up(brand_code: str):
    brand = shop_brand(brand_code)
    form = {name: request.form.get(name, "") for name in ("email", "name", "guide_code")}
    if request.method == "GET":
        return _page("sign_up.html", brand, form=form)
    try:
        consumer = consumers.sign_up_with_password(
            brand,
            form["email"],
            request.form.get("password", ""),
            name=form["name"],
            guide_code=form["guide_code"],
        )
    except DomainError as error:
        transaction.discard()
        return _page("sign_up.html", brand, 422, form=form, errors=error.fields)
    sign_in_browser(consumer)
    flash(_("Welcome! Your account is ready."), "success")
    return redirect(shop_next(brand, request.form.get("next")))


@bp.post("/account/sign-out")
@public
def sign_out(brand_code: str):
    brand = shop_brand(brand_code)
    sign_out_browser(brand)
    flash(_("You are signed out."), "success")
    return redirect(url_for("storefront.home", brand_code=brand.code))


# -- the account and its addresses -------------------------------------------------------------


def _account_page(brand: Organization, status: int = 200, **context: Any):
    consumer = signed_in_consumer()
    context.setdefault("form", {})
    return _page(
        "account.html",
        brand,
        status,
        consumer=consumer,
        addresses=consumers.list_addresses(consumer),
        **context,
    )


def _address_form() -> dict[str, Any]:
    return {name: request.form.get(name, "") for name in ADDRESS_FIELDS}


@bp.get("/account/")
@consumer_required
def account(brand_code: str):
    return _account_page(shop_brand(brand_code))


@bp.post("/account/addresses")
@consumer_required
def address_add(brand_code: str):
    brand = shop_brand(brand_code)
    form = _address_form()
    try:
        consumers.add_address(signed_in_consumer(), form)
    except DomainError as error:
        transaction.discard()
        return _account_page(brand, 422, form=form, errors=error.fields)
    flash(_("Address saved."), "success")
    return redirect(url_for("storefront.account", brand_code=brand.code))


@bp.route("/account/addresses/<int:address_id>/edit", methods=["GET", "POST"])
@consumer_required
def address_edit(brand_code: str, address_id: int):
    brand = shop_brand(brand_code)
    consumer = signed_in_consumer()
    address = consumers.get_address(consumer, address_id)
    if request.method == "GET":
        return _page("address_edit.html", brand, address=address, form=address_form(address))
    form = _address_form()
    try:
        consumers.update_address(consumer, address, form)
    except DomainError as error:
        transaction.discard()
        address = consumers.get_address(consumer, address_id)
        return _page(
            "address_edit.html", brand, 422, address=address, form=form, errors=error.fields
        )
    flash(_("Address saved."), "success")
    return redirect(url_for("storefront.account", brand_code=brand.code))


def address_form(address: Any) -> dict[str, Any]:
    values = consumers.address_dict(address)
    for name in ("latitude", "longitude"):
        values[name] = "" if values[name] is None else values[name]
    return values


@bp.post("/account/addresses/<int:address_id>/delete")
@consumer_required
def address_delete(brand_code: str, address_id: int):
    brand = shop_brand(brand_code)
    consumer = signed_in_consumer()
    consumers.delete_address(consumer, consumers.get_address(consumer, address_id))
    flash(_("Address removed."), "success")
    return redirect(url_for("storefront.account", brand_code=brand.code))


# -- the person's data -------------------------------------------------------------------------


@bp.get("/account/export.json")
@consumer_required
def account_export(brand_code: str):
    brand = shop_brand(brand_code)
    data = consumers.export_consumer(signed_in_consumer())
    body = json.dumps(data, ensure_ascii=False, indent=2)
    return current_app.response_class(
        body,
        mimetype="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{brand.code.lower()}-my-data.json"',
            "Cache-Control": "no-store",
        },
    )


@bp.route("/account/delete", methods=["GET", "POST"])
@consumer_required
def account_delete(brand_code: str):
    brand = shop_brand(brand_code)
    if request.method == "GET":
        return _page("delete.html", brand)
    if request.form.get("confirm") != "yes":
        errors = {"confirm": _("Tick the box to confirm that your account is to be deleted.")}
        return _page("delete.html", brand, 422, errors=errors)
    consumers.erase_consumer(signed_in_consumer())
    sign_out_browser(brand)
    flash(_("Your account and your personal data have been deleted."), "success")
    return redirect(url_for("storefront.home", brand_code=brand.code))
