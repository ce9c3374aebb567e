"""/api/v1: a member's points and wallet for the mini-program (a consumer's token), and sales a
store's till reports for a member's phone (an org's key or session with `members.enrol`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from apiflask import Schema
from apiflask.fields import Boolean, Integer, List, Nested, String
from apiflask.validators import Length, Range
from sqlalchemy import select

from portal.core.access import Permission, current_actor, require
from portal.core.errors import PermissionDenied
from portal.core.inputs import AwareDateTime
from portal.extensions import db
from portal.inventory import queries as inventory_queries
from portal.inventory.models import Location
from portal.inventory.services import default_location
from portal.members import membership, points, wallet
from portal.members.api import bp
from portal.members.ledger_models import PointsEntry, PosSale, WalletEntry
from portal.members.models import Member
from portal.network.models import Organization
from portal.policy.queries import get_buying_brand
from portal.storefront.auth import consumer_required, signed_in_consumer
from portal.storefront.shops import shop_brand

__all__ = ["bp"]

HISTORY = 50

# @require and @consumer_required sit right under the route: who may ask is decided before the
# body is validated.


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# -- a member's balances (the consumer's token) --------------------------------------------------


class PointsEntryOut(Schema):
    kind = String(
        metadata={
            "description": "earn, pos_earn, mature, redeem, release, refund, reverse, "
            "pos_reverse, expire"
        }
    )
    reference = String(metadata={"description": "order number, sale or expiry the entry is for"})
    pending_delta = Integer()
    available_delta = Integer()
    pending_after = Integer()
    available_after = Integer()
    due_at = String(allow_none=True, metadata={"description": "when earned points mature"})
    note = String()
    created_at = String()


class MemberPointsOut(Schema):
    member_number = String(allow_none=True, metadata={"description": "null: not a member"})
    pending = Integer(metadata={"description": "earned, usable once the return window closes"})
    available = Integer()
    cents_per_point = Integer()
    expiring = Integer(metadata={"description": "points that expire at the end of this year"})
    expiring_on = String(allow_none=True, metadata={"description": "the last day they count"})
    entries = List(Nested(PointsEntryOut))


class WalletEntryOut(Schema):
    kind = String(metadata={"description": "top_up, pay, release, refund"})
    reference = String()
    amount_cents = Integer(metadata={"description": "in: positive; out: negative"})
    balance_after_cents = Integer()
    created_at = String()


class MemberWalletOut(Schema):
    member_number = String(allow_none=True, metadata={"description": "null: not a member"})
    balance_cents = Integer()
    currency = String()
    entries = List(Nested(WalletEntryOut))


def _member(brand_code: str) -> Member | None:
    brand = shop_brand(brand_code)
    consumer = signed_in_consumer()
    return membership.member_in(brand, consumer)


def _points_entry(entry: PointsEntry) -> dict[str, Any]:
    return {
        "kind": entry.kind,
        "reference": entry.reference,
        "pending_delta": entry.pending_delta,
        "available_delta": entry.available_delta,
        "pending_after": entry.pending_after,
        "available_after": entry.available_after,
        "due_at": _iso(entry.due_at),
        "note": entry.note,
        "created_at": _iso(entry.created_at),
    }


def _wallet_entry(entry: WalletEntry) -> dict[str, Any]:
    return {
        "kind": entry.kind,
        "reference": entry.reference,
        "amount_cents": entry.amount_cents,
        "balance_after_cents": entry.balance_after_cents,
        "created_at": _iso(entry.created_at),
    }


@bp.get("/shop/<brand_code>/member/points")
@consumer_required
@bp.output(MemberPointsOut)
@bp.doc(
    summary="The signed-in member's points",
    description="Pending and available points, what expires at the end of this year, and the "
    f"latest {HISTORY} entries, newest first. A consumer who has not joined gets zeros and no "
    "member number.",
    security="BearerAuth",
    tags=["Members"],
)
def member_points(brand_code: str):
    member = _member(brand_code)
    if member is None:
        return {"member_number": None, "pending": 0, "available": 0, "cents_per_point": 0,
                "expiring": 0, "expiring_on": None, "entries": []}  # fmt: skip
    terms = membership.terms_of(member)
    held = points.balance(member)
    soon, last_day = points.expiring(member, terms)
    return {
        "member_number": member.number,
        "pending": held.pending,
        "available": held.available,
        "cents_per_point": terms.points.cents_per_point,
        "expiring": soon,
        "expiring_on": last_day.isoformat() if soon else None,
        "entries": [_points_entry(e) for e in points.history(member, HISTORY)],
    }


@bp.get("/shop/<brand_code>/member/wallet")
@consumer_required
@bp.output(MemberWalletOut)
@bp.doc(
    summary="The signed-in member's wallet",
    description=f"The balance and the latest {HISTORY} entries, newest first. Money comes in "
    "by top-ups paid through the payment provider and goes out only to pay orders: it is never "
    "paid out. A consumer who has not joined gets 0 and no member number.",
    security="BearerAuth",
    tags=["Members"],
)
def member_wallet(brand_code: str):
    member = _member(brand_code)
    if member is None:
        return {"member_number": None, "balance_cents": 0, "currency": wallet.CURRENCY,
                "entries": []}  # fmt: skip
    return {
        "member_number": member.number,
        "balance_cents": wallet.balance_cents(member),
        "currency": wallet.CURRENCY,
        "entries": [_wallet_entry(e) for e in wallet.history(member, HISTORY)],
    }


# -- sales at a store's till (an org's key or session) -------------------------------------------


class PosSaleIn(Schema):
    brand = String(
        required=True,
        validate=Length(min=1, max=40),
        metadata={"description": "code of the brand whose programme the member belongs to"},
    )
    phone = String(
        required=True,
        validate=Length(min=1, max=40),
        metadata={"description": "the member's mobile number; without a country code, Chinese"},
    )
    amount_cents = Integer(
        required=True, strict=True, validate=Range(min=1, max=points.MAX_SALE_CENTS)
    )
    reference = String(
        required=True,
        validate=Length(min=1, max=40),
        metadata={"description": "the till's own number of the sale, unique per store"},
    )
    occurred_at = AwareDateTime(
        load_default=None, metadata={"description": "when it was sold (default: now)"}
    )
    location = String(
        load_default=None,
        validate=Length(min=1, max=40),
        metadata={"description": "code of one's own location (default: the org's own)"},
    )
    guide_code = String(
        load_default=None,
        allow_none=True,
        validate=Length(max=40),
        metadata={
            "description": "the code of the shopping guide who sold it (any store's guide of "
            "the brand); unknown, stopped or another brand's is 422 naming `guide_code`"
        },
    )


class PosRefundIn(Schema):
    amount_cents = Integer(
        required=True, strict=True, validate=Range(min=1, max=points.MAX_SALE_CENTS)
    )
    reference = String(
        load_default=None,
        validate=Length(min=1, max=40),
        metadata={"description": "the till's number of this refund: a retry with it is one refund"},
    )


class PosSaleOut(Schema):
    reference = String()
    brand = String()
    location = String()
    member_number = String()
    joined = Boolean(metadata={"description": "the phone became a member with this sale"})
    amount_cents = Integer()
    refunded_cents = Integer()
    currency = String()
    points = Integer(metadata={"description": "earned by the sale (pending until it matures)"})
    points_reversed = Integer(metadata={"description": "taken back by its refunds"})
    occurred_at = String()
    replayed = Boolean(metadata={"description": "this was sent before: nothing changed now"})


def _sale_json(sale: PosSale, *, replayed: bool, joined: bool = False) -> dict[str, Any]:
    brand, location, member_number = db.session.execute(
        select(
            select(Organization.code).where(Organization.id == sale.brand_id).scalar_subquery(),
            select(Location.code).where(Location.id == sale.location_id).scalar_subquery(),
            select(Member.number).where(Member.id == sale.member_id).scalar_subquery(),
        )
    ).one()
    return {
        "reference": sale.reference,
        "brand": brand,
        "location": location,
        "member_number": member_number,
        "joined": joined,
        "amount_cents": sale.amount_cents,
        "refunded_cents": sale.refunded_cents,
        "currency": sale.currency,
        "points": sale.points,
        "points_reversed": points.pos_points_reversed(sale),
        "occurred_at": _iso(sale.occurred_at.astimezone(UTC)),
        "replayed": replayed,
    }


@bp.post("/members/pos-sales")
@require(Permission.MEMBERS_ENROL)
@bp.input(PosSaleIn, arg_name="body")
@bp.output(PosSaleOut, status_code=201)
@bp.doc(
    summary="Report a till's sale for a member's phone: it earns points",
    description="The store's own sale (its default location, or `location`, one of its own). "
    "The member is found by phone in the brand's programme; a phone the programme does not "
    "know joins with this sale (channel `pos`, at this store; `joined` says so). The sale earns "
    "points at the brand's official rate and the member's level, pending until the return "
    "window closes, like an online order's. Idempotent by `reference` (per store): the same "
    "sale again is 200 with `replayed` true and changes nothing; the same `reference` with "
    "other content is 409 `duplicate_sale`. Errors: 404 for a brand the store does not sell or "
    "a location it cannot see; 403 for another org's location; 422 naming `phone`, "
    "`amount_cents`, `reference` or `occurred_at` (in the future).",
    security="BearerAuth",
    tags=["Members"],
)
def record_pos_sale(body: dict[str, Any]):
    actor = current_actor()
    brand = get_buying_brand(actor, body["brand"])
    if body["location"]:
        location = inventory_queries.get_location(actor, body["location"])
        if location.org_id != actor.org_id:
            raise PermissionDenied("Sales are reported for one's own locations.")
    else:
        location = default_location(_own_org(actor.org_id))
    occurred = body["occurred_at"].astimezone(UTC) if body["occurred_at"] else None
    result = points.record_pos_sale(
        actor,
        brand,
        location,
        phone=body["phone"],
        amount_cents=body["amount_cents"],
        reference=body["reference"],
        occurred_at=occurred,
        guide_code=body["guide_code"] or None,
    )
    answer = _sale_json(result.sale, replayed=not result.created, joined=result.joined)
    return answer, 201 if result.created else 200


def _own_org(org_id: int | None) -> Organization:
    return db.session.execute(
        select(Organization).where(Organization.id == (org_id or 0))
    ).scalar_one()


@bp.post("/members/pos-sales/<reference>/refund")
@require(Permission.MEMBERS_ENROL)
@bp.input(PosRefundIn, arg_name="body")
@bp.output(PosSaleOut)
@bp.doc(
    summary="Report a refund of a till's sale: its points go in proportion",
    description="Points earned by the sale are taken back in proportion to the amount refunded "
    "(all of them once the whole sale is refunded): pending points first, then available ones "
    "down to 0 (points already spent are not taken back). With the refund's own `reference`, "
    "sending it again is 200 with `replayed` true; the same reference with another amount is "
    "409 `duplicate_sale`. Errors: 404 for a sale the org did not report; 422 naming "
    "`amount_cents` beyond what is left to refund.",
    security="BearerAuth",
    tags=["Members"],
)
def refund_pos_sale(reference: str, body: dict[str, Any]):
    sale, replayed = points.refund_pos_sale(
        current_actor(),
        reference,
        amount_cents=body["amount_cents"],
        refund_reference=body["reference"],
    )
    return _sale_json(sale, replayed=replayed)
