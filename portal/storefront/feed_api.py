"""/api/v1/shop/<brand_code>/feed: the available-to-sell feed that marketplace connectors (Tmall,
JD) read to keep their listings in step with the brand's one stock pool.

Who may read it: a bearer token of the brand's own HQ org (a member's token, or an API key) with
`stock.view`. The feed tells what the whole network holds online, so no org below HQ reads it;
for them, and for other brands, the brand is a 404. Pages are keyed (`cursor`), not numbered, so
a page is as fast at the end of 600,000 SKUs as at the start; `as_of` of a first page is the
`updated_since` of the next round.
"""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint, Schema
from apiflask.fields import Integer, List, Nested, String
from apiflask.validators import OneOf, Range, Regexp

from portal.core.access import Permission, current_actor, require
from portal.core.db import utcnow
from portal.core.errors import NotFound
from portal.core.inputs import AwareDateTime
from portal.inventory.models import Grade
from portal.network.models import Organization
from portal.storefront import stock
from portal.storefront.shared_views import shop_brand

bp = APIBlueprint(
    "api_shop_feed", __name__, url_prefix="/api/v1/shop/<brand_code>/feed", tag="Shop feed"
)

MAX_CURSOR = 2**63 - 1


class FeedQuery(Schema):
    updated_since = AwareDateTime(
        load_default=None,
        metadata={
            "description": "only SKUs whose sellable units may have changed since then "
            "(ISO 8601 with offset); the `as_of` of an earlier round"
        },
    )
    cursor = String(
        load_default=None,
        validate=Regexp(r"^[0-9]{1,19}$", error="Not a cursor of this feed."),
        metadata={"description": "`next_cursor` of the previous page"},
    )
    grade = String(load_default=Grade.A.value, validate=OneOf([g.value for g in Grade]))
    limit = Integer(load_default=200, validate=Range(min=1, max=500))


class FeedItemOut(Schema):
    sku = String()
    grade = String()
    available = Integer(
        metadata={"description": "units sellable online over every enabled location"}
    )
    delivery = Integer(
        metadata={"description": "of those, at locations that deliver: what to list"}
    )


class FeedPageOut(Schema):
    brand = String()
    grade = String()
    as_of = String(metadata={"description": "when this page was read (UTC)"})
    items = List(Nested(FeedItemOut))
    next_cursor = String(allow_none=True, metadata={"description": "null on the last page"})


def _hq_brand(brand_code: str) -> Organization:
    actor = current_actor()
    brand = shop_brand(brand_code)
    if not (actor.is_hq and actor.org_id == brand.id):
        raise NotFound()
    return brand


@bp.get("/availability")
@require(Permission.STOCK_VIEW)
@bp.input(FeedQuery, location="query", arg_name="query")
@bp.output(FeedPageOut)
@bp.doc(
    summary="Units sellable online per SKU (the available-to-sell feed)",
    description="Per SKU of the brand, in a fixed order: the units its enabled online "
    "locations can sell after their safety stock (zero included, so a listing can be "
    "withdrawn). The brand's own HQ only; any other caller gets a 404.",
    security="BearerAuth",
)
def availability(brand_code: str, query: dict[str, Any]):
    brand = _hq_brand(brand_code)
    as_of = utcnow()
    after = int(query["cursor"]) if query["cursor"] else 0
    if after > MAX_CURSOR:
        after = MAX_CURSOR
    items, next_cursor = stock.feed_page(
        brand,
        grade=query["grade"],
        updated_since=query["updated_since"],
        after=after,
        limit=query["limit"],
    )
    return {
        "brand": brand.code,
        "grade": query["grade"],
        "as_of": as_of.isoformat(),
        "items": [
            {
                "sku": item.sku,
                "grade": item.grade,
                "available": item.available,
                "delivery": item.delivery,
            }
            for item in items
        ],
        "next_cursor": str(next_cursor) if next_cursor is not None else None,
    }
