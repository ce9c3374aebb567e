"""/api/v1/auth and /api/v1/me: bearer tokens for users, and who the caller is."""

from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.fields import List, Nested, String
from apiflask.validators import Length

from portal.auth import services, web
from portal.core.access import Permission, current_actor, public, require
from portal.extensions import db, limiter
from portal.network import queries as network_queries
from portal.network.models import Organization, User

bp = APIBlueprint("api_auth", __name__, url_prefix="/api/v1", tag="Auth")


class TokenIn(Schema):
    email = String(required=True, validate=Length(min=3, max=254))
    password = String(required=True, validate=Length(min=1, max=200))
    org = String(
        load_default=None, metadata={"description": "org code; default: the first active one"}
    )


class TokenOut(Schema):
    token = String()
    expires_at = String()
    org = String()


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


def _token_failed(response) -> bool:
    return response.status_code != 200


@bp.post("/auth/token")
@public
@limiter.limit(web.account_limit, key_func=web.login_throttle_key, deduct_when=_token_failed)
@limiter.limit(web.ip_limit, deduct_when=_token_failed)
@bp.input(TokenIn, arg_name="body")
@bp.output(TokenOut)
@bp.doc(summary="Exchange e-mail and password for a bearer token", responses=[401, 403, 422])
def issue_token(body: dict):
    user = services.authenticate(body["email"], body["password"])
    membership = services.membership_for_sign_in(user, body.get("org"))
    token, expires_at = services.issue_session_token(user, membership)
    db.session.commit()
    return {"token": token, "expires_at": expires_at.isoformat(), "org": membership.org.code}


@bp.get("/me")
@bp.output(MeOut)
@bp.doc(summary="The caller: user, current org, role, brands", security="BearerAuth")
@require(Permission.ACCOUNT_USE)
def me():
    actor = current_actor()
    org = db.session.get(Organization, actor.org_id)
    user = db.session.get(User, actor.user_id) if actor.user_id else None
    brands = network_queries.brands_of(actor)
    return {
        "user": {"email": user.email, "name": user.name} if user else None,
        "org": {"code": org.code, "kind": org.kind, "name": org.name},
        "role": actor.role.value if actor.role else None,
        "scopes": sorted(p.value for p in actor.permissions),
        "brands": [b.code for b in brands],
    }
