"""Membership through the API: a consumer's card and joining (`/api/v1/shop/<brand>/member`, the
consumer's bearer token, like the shop API), and a store's till or app joining a walk-in
customer (`POST /api/v1/members`, `members.enrol`)."""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from apiflask.fields import Boolean, Integer, List, Nested, String
from apiflask.validators import Length, Range

from portal.core.access import Permission, current_actor, require
from portal.core.errors import NotFound
from portal.core.inputs import MAX_INT_ID
from portal.members import member_queries, membership
from portal.members.api import bp
from portal.members.models import JoinChannel, Member
from portal.network.models import Organization
from portal.storefront.auth import consumer_required, signed_in_consumer
from portal.storefront.shops import shop_brand

__all__ = ["bp"]


class MemberLevelOut(Schema):
    code = String()
    name = String()
    min_spend_cents = Integer()
    outlet_discount_bp = Integer()


class MemberNextLevelOut(MemberLevelOut):
    """The level above: how much more spend reaches it."""

    remaining_cents = Integer()


class MemberCardOut(Schema):
    number = String(metadata={"description": "shown on the member card"})
    level = Nested(MemberLevelOut)
    level_since = String()
    spend_12m_cents = Integer(metadata={"description": "as of the last recount"})
    next_level = Nested(MemberNextLevelOut, allow_none=True)
    joined_at = String()
    program = String(metadata={"description": "the programme's code"})
    brands = List(String(), metadata={"description": "the brands sharing the programme"})


class JoinedOut(MemberCardOut):
    """The card of the member just joined (its own name: apispec takes a schema once)."""


class JoinIn(Schema):
    location_id = Integer(
        load_default=None,
        allow_none=True,
        validate=Range(min=1, max=MAX_INT_ID),
        metadata={"description": "the store of registration: a pickup store of the shop"},
    )


class EnrolIn(Schema):
    brand = String(required=True, validate=Length(min=1, max=32))
    phone = String(required=True, validate=Length(min=1, max=40))
    name = String(required=True, validate=Length(min=1, max=120))


class EnrolOut(Schema):
    number = String()
    level = String()
    already = Boolean(metadata={"description": "a member before: nothing changed"})


def _level_json(level: Any) -> dict[str, Any]:
    return {
        "code": level.code,
        "name": level.name,
        "min_spend_cents": level.min_spend_cents,
        "outlet_discount_bp": level.outlet_discount_bp,
    }


def card_json(member: Member) -> dict[str, Any]:
    card = member_queries.card(member)
    nxt = None
    if card.next_level is not None:
        nxt = {**_level_json(card.next_level), "remaining_cents": card.remaining_cents}
    return {
        "number": member.number,
        "level": _level_json(card.level),
        "level_since": member.level_since.isoformat(),
        "spend_12m_cents": member.spend_12m_cents,
        "next_level": nxt,
        "joined_at": member.joined_at.isoformat(),
        "program": member.program.code,
        "brands": [b.code for b in card.brands],
    }


def _own_member(brand: Organization) -> Member | None:
    return membership.member_in(brand, signed_in_consumer())


@bp.get("/shop/<brand_code>/member")
@consumer_required
@bp.output(MemberCardOut)
@bp.doc(
    summary="The signed-in consumer's member card",
    description="Level, spend of the last 12 months, the next level and what it takes, the "
    "member number. 404 `not_found` when the consumer has not joined.",
    responses=[404],
    security="BearerAuth",
    tags=["Shop"],
)
def get_member(brand_code: str):
    member = _own_member(shop_brand(brand_code))
    if member is None:
        raise NotFound("Not a member yet: join first.")
    return card_json(member)


@bp.post("/shop/<brand_code>/member")
@consumer_required
@bp.input(JoinIn, arg_name="body")
@bp.output(JoinedOut, status_code=201)
@bp.doc(
    summary="Join the shop's membership",
    description="The consumer joins the programme the brand belongs to: one already known by "
    "their mobile number (joined through another brand of the group, or at a store) is linked "
    "to this account, keeping their level and balances. 201 on joining; 200 with the same card "
    "when already a member. 422 naming `phone` for an account with neither mobile nor e-mail, "
    "`location_id` for a store that is not one of the shop's pickup stores.",
    responses={
        200: "A member already: the same card",
        422: "Refused, naming the field",
    },
    security="BearerAuth",
    tags=["Shop"],
)
def join_member(brand_code: str, body: dict[str, Any]):
    brand = shop_brand(brand_code)
    already = _own_member(brand)
    if already is not None:
        return card_json(already), 200
    location_id = membership.check_store(brand, body["location_id"])
    member = membership.join(
        signed_in_consumer(), channel=JoinChannel.ONLINE, location_id=location_id
    )
    return card_json(member), 201


@bp.post("/members")
@require(Permission.MEMBERS_ENROL)
@bp.input(EnrolIn, arg_name="body")
@bp.output(EnrolOut, status_code=201)
@bp.doc(
    summary="Join a walk-in customer at the caller's store",
    description="By mobile number and name, to a brand the caller's org sells: the brand's "
    "account for the number is made if missing, and the store of registration is the caller's "
    "store. 201 on joining; 200 with `already` true when the number is a member already. 404 "
    "for a brand the caller does not sell; 422 naming `phone` or `name`.",
    responses={
        200: "A member already: nothing changed (`already` true)",
        404: "Not a brand the caller sells",
        422: "Refused, naming the field",
    },
    security="BearerAuth",
)
def enrol_member(body: dict[str, Any]):
    actor = current_actor()
    code = body["brand"].strip().upper()
    brand = next((b for b in member_queries.brands_of(actor) if b.code == code), None)
    if brand is None:
        raise NotFound()
    done = membership.enrol_at_store(actor, brand, body["phone"], body["name"])
    answer = {"number": done.member.number, "level": done.member.level, "already": done.already}
    return answer, 200 if done.already else 201
