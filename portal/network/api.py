"""/api/v1/orgs: the caller's part of the network."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint, Schema
from apiflask.fields import Float, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range
from flask import request

from portal.core.access import Permission, current_actor, require
from portal.core.pagination import MAX_PAGE, parse_page_args
from portal.network import queries
from portal.network.models import Organization, OrgStatus

bp = APIBlueprint("api_network", __name__, url_prefix="/api/v1/orgs", tag="Network")


class OrgQuery(Schema):
    kind = String(load_default=None, validate=OneOf(["brand", "distributor", "store"]))
    status = String(load_default=None, validate=OneOf([s.value for s in OrgStatus]))
    brand = String(load_default=None, validate=Length(max=32))
    q = String(load_default=None, validate=Length(max=100))
    page = Integer(load_default=1, validate=Range(min=1, max=MAX_PAGE))
    per_page = Integer(load_default=50, validate=Range(min=1, max=200))


class LinkOut(Schema):
    brand = String()
    supplier = String()
    level = String()
    region = String()
    credit_limit_cents = Integer()
    payment_terms_days = Integer()


class OrgSummary(Schema):
    code = String()
    kind = String()
    name = String()
    region = String()
    address = String()
    latitude = Float(allow_none=True)
    longitude = Float(allow_none=True)
    status = String()


class OrgOut(OrgSummary):
    links = List(Nested(LinkOut))


class OrgPage(Schema):
    items = List(Nested(OrgSummary))
    page = Integer()
    per_page = Integer()
    total = Integer()


def org_json(org: Organization, *, with_links: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "code": org.code,
        "kind": org.kind,
        "name": org.name,
        "region": org.region,
        "address": org.address,
        "latitude": org.latitude,
        "longitude": org.longitude,
        "status": org.status,
    }
    if with_links:
        data["links"] = [
            {
                "brand": link.brand.code,
                "supplier": link.supplier.code,
                "level": link.level,
                "region": link.region,
                "credit_limit_cents": link.credit_limit_cents,
                "payment_terms_days": link.payment_terms_days,
            }
            for link in queries.links_of(current_actor(), org)
        ]
    return data


@bp.get("")
@bp.input(OrgQuery, location="query", arg_name="query")
@bp.output(OrgPage)
@bp.doc(summary="Organizations the caller can see", security="BearerAuth")
@require(Permission.NETWORK_VIEW)
def list_orgs(query: dict):
    actor = current_actor()
    brand_id = None
    if query["brand"]:
        brand = next(
            (b for b in queries.brands_of(actor) if b.code == query["brand"].upper()), None
        )
        brand_id = brand.id if brand else -1
    page, per_page = parse_page_args(request.args)
    result = queries.list_orgs(
        actor,
        page=page,
        per_page=per_page,
        kind=query["kind"],
        status=query["status"],
        brand_id=brand_id,
        q=query["q"],
    )
    return result.as_json([org_json(o) for o in result.items])


@bp.get("/<code>")
@bp.output(OrgOut)
@bp.doc(summary="One organization, with its channel links", security="BearerAuth")
@require(Permission.NETWORK_VIEW, load=queries.get_org)
def get_org(org: Organization):
    return org_json(org, with_links=True)
