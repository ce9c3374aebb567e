"""/api/v1/auth and /api/v1/me: bearer tokens for users, and who the caller is."""

from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.fields import Integer, List, Nested, String
from apiflask.validators import Length
from flask import jsonify

from portal.auth import services, web
from portal.core import transaction
from portal.core.access import Permission, current_actor, public, require
from portal.core.db import utcnow
from portal.core.errors import error_body
from portal.extensions import db
from portal.network import queries as network_queries
from portal.network.models import User

bp = APIBlueprint("api_auth", __name__, url_prefix="/api/v1", tag="Auth")


class TokenIn(Schema):
    email = String(required=True, validate=Length(min=3, max=254))
    password = String(required=True, validate=Length(min=1, max=200))
    org = String(
        load_default=None, metadata={"description": "org code; default: the first active one"}
    )


class FailedSignInsOut(Schema):
    count = Integer(metadata={"description": "failed sign-ins since the last successful one"})
    last_address = String()
    last_at = String()


class TokenOut(Schema):
    token = String()
    expires_at = String()
    org = String()
    failed_sign_ins = Nested(
        FailedSignInsOut,
        allow_none=True,
        metadata={"description": "set when sign-ins failed from elsewhere since the last one"},
    )


class OrgRef(Schema):
    code = String()
    kind = String()
    name = String()


class MeOut(Schema):
    user = Nested(Schema.from_dict({"email": String(), "name": String()})(), allow_none=True)
    org = Nested(OrgRef)
    role = String(allow_none=True)
    scopes = List(String())
    brands = List(String())


@bp.post("/auth/token")
@public
@bp.input(TokenIn, arg_name="body")
@bp.output(TokenOut)
@bp.doc(
    summary="Exchange e-mail and password for a bearer token",
    description="Failed sign-ins are throttled per account and per client address with growing"
    " delays: while one applies, the answer is 429 `rate_limited` with `Retry-After`.",
    responses=[401, 403, 422, 429],
)
def issue_token(body: dict):
    email = body["email"]
    try:
        membership, failed = services.sign_in_with_password(
            email, body["password"], web.sign_in_client(email), org_code=body.get("org")
        )
    except services.SignInThrottled as error:
        response = jsonify(error_body(error.code, error.message, {}))
        response.status_code = 429
        response.headers["Retry-After"] = str(error.retry_after)
        return response
    except services.InvalidCredentials as error:
        # The failure is counted by the throttle, so this answer keeps what the request wrote:
        # answered here, not raised, as the error handler would undo the count.
        transaction.keep()
        response = jsonify(error_body(error.code, error.message, error.fields))
        response.status_code = error.status
        return response
    token, expires_at = services.issue_session_token(membership.user, membership)
    membership.user.last_login_at = utcnow()
    web.remember_device(email)
    return {
        "token": token,
        "expires_at": expires_at.isoformat(),
        "org": membership.org.code,
        "failed_sign_ins": None
        if failed is None
        else {
            "count": failed.count,
            "last_address": failed.last_address,
            "last_at": failed.last_at.isoformat(),
        },
    }


@bp.get("/me")
@bp.output(MeOut)
@bp.doc(summary="The caller: user, current org, role, brands", security="BearerAuth")
@require(Permission.ACCOUNT_USE)
def me():
    actor = current_actor()
    org = network_queries.get_own_org(actor)
    user = db.session.get(User, actor.user_id) if actor.user_id else None
    brands = network_queries.brands_of(actor)
    return {
        "user": {"email": user.email, "name": user.name} if user else None,
        "org": {"code": org.code, "kind": org.kind, "name": org.name},
        "role": actor.role.value if actor.role else None,
        "scopes": sorted(p.value for p in actor.permissions),
        "brands": [b.code for b in brands],
    }
