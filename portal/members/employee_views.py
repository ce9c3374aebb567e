"""The employee store's pages (DESIGN §7).

For consumers, under the brand's shop (the listing itself, `/shop/<brand>/employee/`, is the
storefront's):

- `/shop/<brand>/employee/join`: may I enter, and why; join with an invite code (`?code=` fills
  it in: the link a friend is given), or prove a work address with a code sent by e-mail;
- `/shop/<brand>/employee/invites`: an employee's invite codes, their quota, and their friends
  with what each bought.

For HQ, `/shop/<brand>/hq/employee-store`: the invite funnel, the HR list, partner companies and
every entitlement with its source (revocable). The brand's own HQ only: anyone else, 404.
"""

from __future__ import annotations

from typing import Any, BinaryIO, cast

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.core import staged, transaction
from portal.core.access import Permission, current_actor, require
from portal.core.db import utcnow
from portal.core.errors import DomainError, NotFound
from portal.core.pagination import parse_page_args
from portal.members import (
    employee_admin,
    employee_hr,
    employee_proofs,
    employee_queries,
    entitlement,
    invites,
    membership,
)
from portal.members.employee_models import EntitlementKind
from portal.network.models import Organization
from portal.storefront import look
from portal.storefront.auth import consumer_required, current_consumer, signed_in_consumer
from portal.storefront.shops import shop_brand

bp = Blueprint("employee_store", __name__)

SHOWN_ERRORS = 20


def _client_address() -> str:
    return request.remote_addr or "unknown"


def mask_phone(phone: str | None) -> str:
    """+8613812345678 -> 138****5678: enough for an inviter to know a friend, no more."""
    if not phone:
        return ""
    digits = phone[3:] if phone.startswith("+86") else phone.lstrip("+")
    return digits[:3] + "****" + digits[-4:] if len(digits) >= 8 else "****"


def _store_url(brand: Organization) -> str:
    return url_for("storefront.home", brand_code=brand.code, tier="employee")


def _shop_page(template: str, brand: Organization, status: int = 200, **context: Any):
    context.setdefault("errors", {})
    settings = look.find_look(brand.id)
    return render_template(
        f"members/employee/{template}",
        brand=brand,
        shop=settings,
        title=look.shop_title(brand, settings),
        shop_consumer=current_consumer(brand),
        **context,
    ), status


# -- joining -----------------------------------------------------------------------------------


def _join_page(brand: Organization, status: int = 200, **context: Any):
    consumer = signed_in_consumer()
    context.setdefault("code", invites.normalize_code(request.values.get("code")))
    context.setdefault("email", "")
    return _shop_page(
        "join.html",
        brand,
        status,
        entry=entitlement.entry_status(brand, consumer),
        store_url=_store_url(brand),
        **context,
    )


@bp.get("/shop/<brand_code>/employee/join")
@consumer_required
def join(brand_code: str):
    return _join_page(shop_brand(brand_code))


@bp.post("/shop/<brand_code>/employee/join")
@consumer_required
def join_with_code(brand_code: str):
    brand = shop_brand(brand_code)
    try:
        invites.redeem(brand, signed_in_consumer(), request.form.get("code", ""))
    except invites.AlreadyEntitled as error:
        transaction.discard()
        flash(error.message, "info")
        return redirect(_store_url(brand))
    except DomainError as error:
        transaction.discard()
        return _join_page(brand, 422, errors=error.fields, alert=error.message)
    flash(_("Welcome to the employee store."), "success")
    return redirect(_store_url(brand))


@bp.post("/shop/<brand_code>/employee/verify")
@consumer_required
def verify_email(brand_code: str):
    brand = shop_brand(brand_code)
    email = request.form.get("email", "")
    try:
        sent = employee_proofs.request_email_code(
            brand, signed_in_consumer(), email, address=_client_address()
        )
    except employee_proofs.EmailCodeThrottled as error:
        transaction.discard()
        return _shop_page("email_code.html", brand, 429, email=email.strip(), alert=error.message)
    except DomainError as error:
        transaction.discard()
        return _join_page(brand, 422, email=email, errors=error.fields)
    shown = sent.code if current_app.config["SMS_SHOW_CODE"] else None
    return _shop_page("email_code.html", brand, email=sent.email, code_shown=shown, sent=True)


@bp.post("/shop/<brand_code>/employee/verify/confirm")
@consumer_required
def verify_email_confirm(brand_code: str):
    brand = shop_brand(brand_code)
    email = request.form.get("email", "")
    try:
        employee_proofs.verify_email_code(
            brand, signed_in_consumer(), email, request.form.get("code", "")
        )
    except employee_proofs.WrongEmailCode as error:
        transaction.keep()  # the wrong try counts toward the code's limit
        return _shop_page("email_code.html", brand, 422, email=email, errors=error.fields)
    except DomainError as error:
        transaction.discard()
        return _shop_page("email_code.html", brand, 422, email=email, errors=error.fields)
    flash(_("Your address is confirmed: welcome to the employee store."), "success")
    return redirect(_store_url(brand))


# -- an employee's invitations -----------------------------------------------------------------


def _invites_page(brand: Organization, status: int = 200, **context: Any):
    consumer = signed_in_consumer()
    entry = entitlement.entry_status(brand, consumer)
    if entry.member is None or not entry.may_invite:
        return _shop_page("not_employee.html", brand, 403, join_url=_join_url(brand))
    member = entry.member
    return _shop_page(
        "invites.html",
        brand,
        status,
        quota=invites.quota_of(brand.id, member),
        terms=membership.terms_of(member).invites,
        codes=invites.list_codes(brand.id, member.id),
        friends=invites.list_friends(brand.id, member.id),
        tiers=invites.TIERS,
        link_of=lambda code: invites.invite_link(brand, code),
        mask_phone=mask_phone,
        now=utcnow(),
        **context,
    )


def _join_url(brand: Organization) -> str:
    return url_for("employee_store.join", brand_code=brand.code)


@bp.get("/shop/<brand_code>/employee/invites")
@consumer_required
def my_invites(brand_code: str):
    return _invites_page(shop_brand(brand_code))


@bp.post("/shop/<brand_code>/employee/invites")
@consumer_required
def invite_make(brand_code: str):
    brand = shop_brand(brand_code)
    try:
        code = invites.make_code(brand, signed_in_consumer())
    except invites.NotAnEmployee:
        transaction.discard()
        return _shop_page("not_employee.html", brand, 403, join_url=_join_url(brand))
    except DomainError as error:
        transaction.discard()
        return _invites_page(brand, 422, alert=error.message)
    flash(_("Your new invite code is %(code)s.", code=code.code), "success")
    return redirect(url_for("employee_store.my_invites", brand_code=brand.code))


@bp.post("/shop/<brand_code>/employee/invites/<int:code_id>/withdraw")
@consumer_required
def invite_withdraw(brand_code: str, code_id: int):
    brand = shop_brand(brand_code)
    code = invites.withdraw_code(brand, signed_in_consumer(), code_id)
    flash(_("Code %(code)s is withdrawn.", code=code.code), "success")
    return redirect(url_for("employee_store.my_invites", brand_code=brand.code))


# -- HQ ----------------------------------------------------------------------------------------


def _hq_brand(brand_code: str) -> Organization:
    actor = current_actor()
    brand = shop_brand(brand_code)
    if not (actor.is_hq and actor.org_id == brand.id):
        raise NotFound()
    return brand


def _hq_page(brand: Organization, status: int = 200, **context: Any):
    actor = current_actor()
    page_no, per_page = parse_page_args(request.args)
    funnel_page, _unused = parse_page_args({"page": request.args.get("fpage", 1)})
    kind = request.args.get("kind", "")
    kind = kind if kind in tuple(EntitlementKind) else ""
    state = request.args.get("state", "live")
    q = (request.args.get("q") or "").strip()[:100]
    live = {"live": True, "revoked": False}.get(state)
    uploads = employee_queries.list_uploads(brand.id)
    context.setdefault("errors", {})
    context.setdefault("form", {})
    return render_template(
        "members/employee/hq.html",
        brand=brand,
        funnel=employee_queries.invite_funnel(brand.id, page=funnel_page),
        hr_count=employee_queries.count_hr_entries(brand.id),
        uploads=uploads,
        shown_errors=SHOWN_ERRORS,
        partners=employee_queries.list_partners(brand.id),
        entitlements=employee_queries.list_entitlements(
            brand.id, kind=kind, live=live, q=q, page=page_no, per_page=per_page
        ),
        kind=kind,
        state=state,
        q=q,
        kinds=tuple(EntitlementKind),
        can_manage=actor.can(Permission.MEMBERS_MANAGE),
        columns=employee_hr.COLUMNS,
        **context,
    ), status


def _back_to_hq(brand: Organization):
    return redirect(url_for("employee_store.hq_employee_store", brand_code=brand.code))


@bp.get("/shop/<brand_code>/hq/employee-store")
@require(Permission.MEMBERS_VIEW)
def hq_employee_store(brand_code: str):
    return _hq_page(_hq_brand(brand_code))


@bp.get("/shop/<brand_code>/hq/employee-store/hr-list/template.csv")
@require(Permission.MEMBERS_VIEW)
def hq_hr_template(brand_code: str):
    _hq_brand(brand_code)
    return staged.download(employee_hr.template_csv(), "hr-list-template.csv", staged.CSV_MIMETYPE)


@bp.post("/shop/<brand_code>/hq/employee-store/hr-list")
@require(Permission.MEMBERS_MANAGE)
def hq_hr_upload(brand_code: str):
    brand = _hq_brand(brand_code)
    file = request.files.get("file")
    try:
        if file is None or not file.filename:
            raise employee_admin.HrFileRejected(fields={"file": _("Choose a CSV or XLSX file.")})
        employee_admin.start_hr_upload(
            current_actor(), brand, filename=file.filename, stream=cast(BinaryIO, file.stream)
        )
    except DomainError as error:
        transaction.discard()
        return _hq_page(brand, 422, errors={"hr": error.fields})
    flash(_("The HR list is being checked."), "success")
    return _back_to_hq(brand)


@bp.post("/shop/<brand_code>/hq/employee-store/hr-list/<int:upload_id>/confirm")
@require(Permission.MEMBERS_MANAGE)
def hq_hr_confirm(brand_code: str, upload_id: int):
    brand = _hq_brand(brand_code)
    upload = employee_queries.get_upload(brand.id, upload_id)
    try:
        employee_admin.confirm_hr_upload(current_actor(), brand, upload)
    except DomainError as error:
        transaction.discard()
        flash(error.message, "error")
        return _back_to_hq(brand)
    flash(_("The HR list is being applied."), "success")
    return _back_to_hq(brand)


@bp.post("/shop/<brand_code>/hq/employee-store/partners")
@require(Permission.MEMBERS_MANAGE)
def hq_partner_add(brand_code: str):
    brand = _hq_brand(brand_code)
    form = {k: request.form.get(k, "") for k in ("name", "email_domain", "phones")}
    try:
        partner = employee_admin.add_partner(current_actor(), brand, **form)
    except DomainError as error:
        transaction.discard()
        return _hq_page(brand, 422, errors={"partner": error.fields}, form=form)
    flash(_("%(name)s is a partner company.", name=partner.name), "success")
    return _back_to_hq(brand)


def _partner_page(brand: Organization, partner_id: int, status: int = 200, **context: Any):
    partner = employee_queries.get_partner(brand.id, partner_id)
    phones = employee_queries.list_partner_phones(partner)
    context.setdefault("errors", {})
    context.setdefault(
        "form", {"email_domain": partner.email_domain or "", "phones": "\n".join(phones)}
    )
    return render_template(
        "members/employee/hq_partner.html",
        brand=brand,
        partner=partner,
        phone_count=len(phones),
        can_manage=current_actor().can(Permission.MEMBERS_MANAGE),
        **context,
    ), status


@bp.get("/shop/<brand_code>/hq/employee-store/partners/<int:partner_id>")
@require(Permission.MEMBERS_VIEW)
def hq_partner(brand_code: str, partner_id: int):
    return _partner_page(_hq_brand(brand_code), partner_id)


@bp.post("/shop/<brand_code>/hq/employee-store/partners/<int:partner_id>")
@require(Permission.MEMBERS_MANAGE)
def hq_partner_update(brand_code: str, partner_id: int):
    brand = _hq_brand(brand_code)
    partner = employee_queries.get_partner(brand.id, partner_id)
    form = {k: request.form.get(k, "") for k in ("email_domain", "phones")}
    try:
        result = employee_admin.update_partner(current_actor(), brand, partner, **form)
    except DomainError as error:
        transaction.discard()
        return _partner_page(brand, partner_id, 422, errors=error.fields, form=form)
    flash(
        _(
            "Saved: %(added)d numbers added, %(removed)d removed, %(revoked)d people lost"
            " their entry.",
            **result,
        ),
        "success",
    )
    return redirect(
        url_for("employee_store.hq_partner", brand_code=brand.code, partner_id=partner_id)
    )


@bp.post("/shop/<brand_code>/hq/employee-store/partners/<int:partner_id>/end")
@require(Permission.MEMBERS_MANAGE)
def hq_partner_end(brand_code: str, partner_id: int):
    brand = _hq_brand(brand_code)
    partner = employee_queries.get_partner(brand.id, partner_id)
    revoked = employee_admin.end_partner(current_actor(), brand, partner)
    flash(
        _(
            "The partnership with %(name)s has ended (%(count)d entries revoked).",
            name=partner.name,
            count=revoked,
        ),
        "success",
    )
    return _back_to_hq(brand)


@bp.post("/shop/<brand_code>/hq/employee-store/entitlements/<int:entitlement_id>/revoke")
@require(Permission.MEMBERS_MANAGE)
def hq_entitlement_revoke(brand_code: str, entitlement_id: int):
    brand = _hq_brand(brand_code)
    record = employee_queries.get_entitlement(brand.id, entitlement_id)
    if employee_admin.revoke_entitlement(current_actor(), brand, record):
        flash(_("Entitlement revoked."), "success")
    args: dict[str, Any] = {
        k: v for k, v in request.args.items() if k in ("kind", "state", "q", "page")
    }
    return redirect(url_for("employee_store.hq_employee_store", brand_code=brand.code, **args))
