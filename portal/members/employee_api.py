"""The employee store for the mini-program, under /api/v1/shop/<brand_code>/employee/: may I
enter and why, my invite quota; make an invite code; join with one; prove a work address by a
code sent by e-mail. The consumer's bearer token of the brand's shop (portal/storefront/api.py)."""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from apiflask.fields import Boolean, Integer, List, Nested, String
from apiflask.validators import Length
from flask import current_app, jsonify, request

from portal.core import transaction
from portal.core.errors import DomainError, error_body
from portal.members import employee_proofs, entitlement, invites
from portal.members.api import bp
from portal.members.employee_models import Entitlement, InviteCode
from portal.network.models import Organization
from portal.storefront.auth import consumer_required, signed_in_consumer
from portal.storefront.shops import shop_brand

__all__ = ["bp"]

TAG = "Employee store"
# @consumer_required sits right under the route: who may ask is decided before the body is read.


class ReasonOut(Schema):
    kind = String(metadata={"description": "employee, partner or friend"})
    source = String(
        metadata={"description": "hr_list, portal_user, partner_list, partner_domain or invite"}
    )
    since = String()
    partner = String(allow_none=True, metadata={"description": "the partner company's name"})
    invited_by = String(allow_none=True, metadata={"description": "the inviter's name"})


class QuotaOut(Schema):
    per_year = Integer()
    joined_this_year = Integer()
    open_uses = Integer()
    left = Integer()


class EmployeeStatusOut(Schema):
    may_enter = Boolean()
    is_member = Boolean()
    may_invite = Boolean()
    reasons = List(Nested(ReasonOut))
    quota = Nested(QuotaOut, allow_none=True)
    join_url = String(metadata={"description": "the page to join with a code or an address"})


class InviteOut(Schema):
    code = String()
    link = String(metadata={"description": "the join page with the code filled in"})
    uses_allowed = Integer()
    uses_left = Integer()
    expires_at = String()


class JoinIn(Schema):
    code = String(required=True, validate=Length(min=1, max=32))


class EmailCodeIn(Schema):
    email = String(required=True, validate=Length(min=1, max=254))


class EmailCodeOut(Schema):
    email = String()
    expires_at = String()
    resend_after_seconds = Integer()
    demo_code = String(
        allow_none=True,
        metadata={"description": "the code itself, only when the portal runs in demo mode"},
    )


class EmailVerifyIn(Schema):
    email = String(required=True, validate=Length(min=1, max=254))
    code = String(required=True, validate=Length(min=1, max=12))


def _answer(error: DomainError, **headers: str):
    response = jsonify(error_body(error.code, error.message, error.fields))
    response.status_code = error.status
    response.headers.update(headers)
    return response


def _reason(record: Entitlement) -> dict[str, Any]:
    return {
        "kind": record.kind,
        "source": record.source,
        "since": record.granted_at.isoformat(),
        "partner": record.partner.name if record.partner is not None else None,
        "invited_by": record.inviter.name if record.inviter is not None else None,
    }


def _status(brand: Organization) -> dict[str, Any]:
    consumer = signed_in_consumer()
    entry = entitlement.entry_status(brand, consumer)
    quota = None
    if entry.member is not None and entry.may_invite:
        counted = invites.quota_of(brand.id, entry.member)
        quota = {
            "per_year": counted.per_year,
            "joined_this_year": counted.joined_this_year,
            "open_uses": counted.open_uses,
            "left": counted.left,
        }
    path = f"/shop/{brand.code}/employee/join"
    return {
        "may_enter": entry.may_enter,
        "is_member": entry.member is not None,
        "may_invite": entry.may_invite,
        "reasons": [_reason(e) for e in entry.entitlements],
        "quota": quota,
        "join_url": current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path,
    }


def _invite(brand: Organization, code: InviteCode) -> dict[str, Any]:
    return {
        "code": code.code,
        "link": invites.invite_link(brand, code),
        "uses_allowed": code.uses_allowed,
        "uses_left": code.uses_left,
        "expires_at": code.expires_at.isoformat(),
    }


@bp.get("/shop/<brand_code>/employee/status")
@consumer_required
@bp.output(EmployeeStatusOut)
@bp.doc(
    summary="May I enter the employee store, why, and my invite quota",
    description="A consumer of the brand who is a member and an employee, a partner company's"
    " employee or a friend invited by one may enter. Employees and partner employees see their"
    " invite quota for the calendar year.",
    tags=[TAG],
    security="BearerAuth",
    responses=[404],
)
def employee_status(brand_code: str):
    return _status(shop_brand(brand_code))


@bp.post("/shop/<brand_code>/employee/invites")
@consumer_required
@bp.output(InviteOut, status_code=201)
@bp.doc(
    summary="Make an invite code for friends",
    description="Employees and partner employees only (else 403 `not_an_employee`). The code"
    " lets in as many friends as the programme's terms say, within the yearly quota (used up:"
    " 422 naming `quota`).",
    tags=[TAG],
    security="BearerAuth",
    responses=[403, 404, 422],
)
def employee_invite(brand_code: str):
    brand = shop_brand(brand_code)
    return _invite(brand, invites.make_code(brand, signed_in_consumer()))


@bp.post("/shop/<brand_code>/employee/join")
@consumer_required
@bp.input(JoinIn, arg_name="body")
@bp.output(EmployeeStatusOut, status_code=201)
@bp.doc(
    summary="Join the employee store with an invite code",
    description="Joins the membership if needed. An unknown, expired, withdrawn or used-up"
    " code is 422 `invite_refused` naming `code`; one who may enter already gets 409"
    " `already_entitled`. Nothing changes then.",
    tags=[TAG],
    security="BearerAuth",
    responses=[404, 409, 422],
)
def employee_join(brand_code: str, body: dict):
    brand = shop_brand(brand_code)
    invites.redeem(brand, signed_in_consumer(), body["code"])
    return _status(brand)


@bp.post("/shop/<brand_code>/employee/email-code")
@consumer_required
@bp.input(EmailCodeIn, arg_name="body")
@bp.output(EmailCodeOut, status_code=202)
@bp.doc(
    summary="Send a code to a work address",
    description="The address must be a portal user's of the brand, on its HR list, or at a"
    " partner company's domain (else 422 naming `email`). Throttled like sign-in codes: 429"
    " `rate_limited` with `Retry-After`.",
    tags=[TAG],
    security="BearerAuth",
    responses=[404, 422, 429],
)
def employee_email_code(brand_code: str, body: dict):
    brand = shop_brand(brand_code)
    try:
        sent = employee_proofs.request_email_code(
            brand, signed_in_consumer(), body["email"], address=request.remote_addr or "unknown"
        )
    except employee_proofs.EmailCodeThrottled as error:
        return _answer(error, **{"Retry-After": str(error.retry_after)})
    return {
        "email": sent.email,
        "expires_at": sent.expires_at.isoformat(),
        "resend_after_seconds": sent.resend_after,
        "demo_code": sent.code if current_app.config["SMS_SHOW_CODE"] else None,
    }


@bp.post("/shop/<brand_code>/employee/email-code/verify")
@consumer_required
@bp.input(EmailVerifyIn, arg_name="body")
@bp.output(EmployeeStatusOut, status_code=201)
@bp.doc(
    summary="Confirm a work address with its code, and enter",
    description="Joins the membership if needed. A wrong code is 422 `invalid_code` (five"
    " tries); an expired one 422 naming `code`.",
    tags=[TAG],
    security="BearerAuth",
    responses=[404, 422],
)
def employee_email_verify(brand_code: str, body: dict):
    brand = shop_brand(brand_code)
    try:
        employee_proofs.verify_email_code(brand, signed_in_consumer(), body["email"], body["code"])
    except employee_proofs.WrongEmailCode as error:
        transaction.keep()  # the wrong try counts toward the code's limit
        return _answer(error)
    return _status(brand)
