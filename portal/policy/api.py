"""/api/v1/prices, /policies and /notifications: the caller's own prices,
why a price is what it is, HQ's policies, and every org's inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apiflask import APIBlueprint, Schema
from apiflask.fields import Boolean, Dict, Integer, List, Nested, Raw, String
from apiflask.validators import Length, OneOf, Range
from flask import url_for

from portal.core.access import Actor, Permission, current_actor, require
from portal.core.errors import NotFound
from portal.core.inputs import AwareDateTime
from portal.core.pagination import MAX_PAGE
from portal.policy import queries, services
from portal.policy.models import (
    AudienceKind,
    Notification,
    PolicyVersion,
    Scope,
    Section,
    VersionStatus,
)

bp = APIBlueprint("api_policy", __name__, url_prefix="/api/v1", tag="Catalog and policy")

# @require sits right under the route: access (404, then 403) is decided before the body or the
# query string is validated, so a caller learns nothing about objects it may not touch.


MAX_CENTS = 10**15  # a bigint holds more; no price or limit needs more

# -- schemas -------------------------------------------------------------------------------------


class PriceQuery(Schema):
    brand = String(load_default=None, validate=Length(max=32))
    as_org = String(load_default=None, data_key="as", validate=Length(max=32))


class PriceOut(Schema):
    sku = String()
    price_cents = Integer(allow_none=True)
    currency = String()
    authorized = Boolean()
    explanation = Raw(metadata={"description": "policy, version, rule, base and result"})


class RuleIn(Schema):
    section = String(required=True, validate=OneOf([s.value for s in Section]))
    scope = String(required=True, validate=OneOf([s.value for s in Scope]))
    target = String(load_default="", validate=Length(max=64))
    # Upper bounds here; the rules' own checks (≥ 0, MOQ ≥ 1 ...) name the rule in the error.
    price_cents = Integer(load_default=None, allow_none=True, validate=Range(max=MAX_CENTS))
    percent_bp = Integer(
        load_default=None,
        allow_none=True,
        validate=Range(max=100_000),
        metadata={"description": "basis points of MSRP"},
    )
    moq = Integer(load_default=None, allow_none=True, validate=Range(max=1_000_000))
    multiple = Integer(load_default=None, allow_none=True, validate=Range(max=1_000_000))


class RebateIn(Schema):
    threshold_cents = Integer(required=True, validate=Range(min=0, max=MAX_CENTS))
    percent_bp = Integer(required=True, validate=Range(min=1, max=10_000))
    period = String(required=True, validate=OneOf(list(services.REBATE_PERIODS)))


class PolicyIn(Schema):
    code = String(required=True, validate=Length(min=1, max=40))
    name = String(required=True, validate=Length(min=1, max=200))
    audience_kind = String(load_default="all", validate=OneOf([a.value for a in AudienceKind]))
    audience_values = List(String(validate=Length(max=40)), load_default=list)
    effective_from = AwareDateTime(required=True)
    effective_to = AwareDateTime(load_default=None, allow_none=True)
    note = String(load_default="", validate=Length(max=5000))
    min_order_cents = Integer(load_default=None, allow_none=True, validate=Range(0, MAX_CENTS))
    order_window_start = AwareDateTime(load_default=None, allow_none=True)
    order_window_end = AwareDateTime(load_default=None, allow_none=True)
    credit_limit_cents = Integer(load_default=None, allow_none=True, validate=Range(0, MAX_CENTS))
    payment_terms_days = Integer(load_default=None, allow_none=True, validate=Range(0, 3650))
    # the consumer programme's terms: levels, points, invites, limits, tier_moves (README)
    member_terms = Dict(load_default=dict)
    rebates = List(Nested(RebateIn), load_default=list)
    rules = List(Nested(RuleIn), load_default=list)


class PolicyListQuery(Schema):
    status = String(load_default=None, validate=OneOf([s.value for s in VersionStatus]))
    q = String(load_default=None, validate=Length(max=100))
    page = Integer(load_default=1, validate=Range(min=1, max=MAX_PAGE))
    per_page = Integer(load_default=50, validate=Range(min=1, max=200))


class PolicyOut(Schema):
    id = Integer()
    code = String()
    name = String()
    version = Integer()
    status = String()
    audience_kind = String()
    audience_values = List(String())
    effective_from = String()
    effective_to = String(allow_none=True)
    published_at = String(allow_none=True)
    targeted = Integer()
    terms = Dict()
    rules = List(Dict())
    versions = List(Dict())


class PolicyItem(PolicyOut):
    """A list entry (the same fields; a separate name keeps the OpenAPI references distinct)."""


class PolicyPage(Schema):
    items = List(Nested(PolicyItem))
    page = Integer()
    per_page = Integer()
    total = Integer()


class Accepted(Schema):
    id = Integer()
    status = String()
    job_id = String()
    job_url = String()


class NotificationQuery(Schema):
    unread = Boolean(load_default=False)
    page = Integer(load_default=1, validate=Range(min=1, max=MAX_PAGE))
    per_page = Integer(load_default=50, validate=Range(min=1, max=200))


class NotificationOut(Schema):
    id = Integer()
    brand = String()
    policy = String()
    name = String()
    version = Integer()
    effective_from = String()
    effective_to = String(allow_none=True)
    received_at = String()
    read_at = String(allow_none=True)
    acknowledged_at = String(allow_none=True)


class NotificationItem(NotificationOut):
    """A list entry (a separate name keeps the OpenAPI references distinct)."""


class NotificationPage(Schema):
    items = List(Nested(NotificationItem))
    page = Integer()
    per_page = Integer()
    total = Integer()


# -- helpers -------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _version_json(version: PolicyVersion, *, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": version.id,
        "code": version.policy.code,
        "name": version.policy.name,
        "version": version.number,
        "status": version.status,
        "audience_kind": version.audience_kind,
        "audience_values": queries.audience_values(version)
        if version.audience_kind != AudienceKind.ALL
        else [],
        "effective_from": _iso(version.effective_from),
        "effective_to": _iso(version.effective_to),
        "published_at": _iso(version.published_at),
        "targeted": version.targeted_count,
    }
    if full:
        data["terms"] = {
            "min_order_cents": version.min_order_cents,
            "order_window_start": _iso(version.order_window_start),
            "order_window_end": _iso(version.order_window_end),
            "credit_limit_cents": version.credit_limit_cents,
            "payment_terms_days": version.payment_terms_days,
            "member_terms": version.member_terms or {},
            "rebates": version.rebates or [],
            "note": version.note,
        }
        targets = queries.rule_targets(version.rules)
        data["rules"] = [
            {
                "section": r.section,
                "scope": r.scope,
                "target": targets[r.id],
                "price_cents": r.price_cents,
                "percent_bp": r.percent_bp,
                "moq": r.moq,
                "multiple": r.multiple,
            }
            for r in version.rules
        ]
        data["versions"] = [
            {"id": v.id, "version": v.number, "status": v.status}
            for v in sorted(version.policy.versions, key=lambda v: v.number)
        ]
    return data


def _policy_input(body: dict[str, Any]) -> services.PolicyInput:
    rules = [
        services.RuleInput(
            section=r["section"],
            scope=r["scope"],
            target=r.get("target") or "",
            price_cents=r.get("price_cents"),
            percent_bp=r.get("percent_bp"),
            moq=r.get("moq"),
            multiple=r.get("multiple"),
            where=f"rules.{index}",
        )
        for index, r in enumerate(body.get("rules") or [])
    ]
    fields = {k: v for k, v in body.items() if k not in ("rules",)}
    return services.PolicyInput(**fields, rules=rules)


def _notification_json(actor: Actor, n: Notification) -> dict[str, Any]:
    version = n.version
    return {
        "id": n.id,
        "brand": queries.get_notification_brand(actor, n).code,
        "policy": version.policy.code,
        "name": version.policy.name,
        "version": version.number,
        "effective_from": _iso(version.effective_from),
        "effective_to": _iso(version.effective_to),
        "received_at": _iso(n.created_at),
        "read_at": _iso(n.read_at),
        "acknowledged_at": _iso(n.acknowledged_at),
    }


def _load_version(actor: Actor, version_id: int) -> PolicyVersion:
    return queries.get_version(actor, version_id)


def _load_notification(actor: Actor, notification_id: int) -> Notification:
    return queries.get_notification(actor, notification_id)


# -- catalog and prices --------------------------------------------------------------------------


@bp.get("/prices/<sku>")
@require(Permission.CATALOG_VIEW)
@bp.input(PriceQuery, location="query", arg_name="query")
@bp.output(PriceOut)
@bp.doc(summary="The caller's price for one SKU, and why", security="BearerAuth")
def price(sku: str, query: dict[str, Any]):
    actor = current_actor()
    brand_id = queries.get_buying_brand(actor, query["brand"]).id
    buyer = queries.buyer_for(actor, brand_id, query["as_org"])
    if buyer is None:
        raise NotFound()  # HQ: say whose price, with `as`
    _variant, explanation = queries.get_explanation(actor, brand_id, buyer, sku)
    return {
        "sku": explanation["sku"],
        "price_cents": explanation["price_cents"],
        "currency": explanation["currency"],
        "authorized": explanation["authorized"],
        "explanation": explanation,
    }


# -- policies (HQ) -------------------------------------------------------------------------------


@bp.get("/policies")
@require(Permission.POLICY_VIEW)
@bp.input(PolicyListQuery, location="query", arg_name="query")
@bp.output(PolicyPage)
@bp.doc(summary="The brand's policies (latest version of each)", security="BearerAuth")
def list_policies(query: dict[str, Any]):
    result = queries.list_versions(
        current_actor(),
        status=query["status"],
        q=query["q"],
        page=query["page"],
        per_page=query["per_page"],
    )
    return result.as_json([_version_json(v) for v in result.items])


@bp.post("/policies")
@require(Permission.POLICY_MANAGE)
@bp.input(PolicyIn, arg_name="body")
@bp.output(PolicyOut, status_code=201)
@bp.doc(summary="Write a new policy as a draft (version 1)", security="BearerAuth")
def create_policy(body: dict[str, Any]):
    actor = current_actor()
    if actor.org_id is None:  # a brand's HQ writes its policies; an actor without an org has none
        raise NotFound()
    version = services.create_policy(actor, actor.org_id, _policy_input(body))
    return _version_json(version, full=True)


@bp.get("/policies/<int:version_id>")
@require(Permission.POLICY_VIEW, load=_load_version)
@bp.output(PolicyOut)
@bp.doc(summary="One policy version with its rules and terms", security="BearerAuth")
def get_policy(version: PolicyVersion):
    return _version_json(version, full=True)


@bp.put("/policies/<int:version_id>")
@require(Permission.POLICY_MANAGE, load=_load_version)
@bp.input(PolicyIn, arg_name="body")
@bp.output(PolicyOut)
@bp.doc(
    summary="Replace a draft's content (published versions never change: 409)",
    security="BearerAuth",
)
def update_policy(version: PolicyVersion, body: dict[str, Any]):
    services.update_draft(current_actor(), version, _policy_input(body))
    return _version_json(version, full=True)


@bp.post("/policies/<int:version_id>/publish")
@require(Permission.POLICY_PUBLISH, load=_load_version)
@bp.output(Accepted, status_code=202)
@bp.doc(summary="Publish a draft; delivery to the network runs as a job", security="BearerAuth")
def publish_policy(version: PolicyVersion):
    services.publish_policy(current_actor(), version)
    job_id = version.fanout_job_id
    return {
        "id": version.id,
        "status": version.status,
        "job_id": job_id,
        "job_url": url_for("api_jobs.get", job_id=job_id),
    }


# -- notifications (everyone) --------------------------------------------------------------------


@bp.get("/notifications")
@require(Permission.INBOX_VIEW)
@bp.input(NotificationQuery, location="query", arg_name="query")
@bp.output(NotificationPage)
@bp.doc(summary="The caller's org's inbox", security="BearerAuth")
def list_notifications(query: dict[str, Any]):
    actor = current_actor()
    result = queries.list_notifications(
        actor, unread=query["unread"], page=query["page"], per_page=query["per_page"]
    )
    return result.as_json([_notification_json(actor, n) for n in result.items])


@bp.post("/notifications/<int:notification_id>/ack")
@require(Permission.INBOX_ACK, load=_load_notification)
@bp.output(NotificationOut)
@bp.doc(
    summary="Acknowledge a policy on the org's behalf (repeating is harmless)",
    security="BearerAuth",
)
def ack_notification(notification: Notification):
    actor = current_actor()
    services.acknowledge(actor, notification)
    return _notification_json(actor, notification)
