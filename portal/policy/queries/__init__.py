"""What a buyer may see and pay, decided here only: live policy versions, price resolution and its
explanation, the role-scoped catalog, HQ's reads of policies, audiences and reach, and the inbox.

This module is the policy domain's public read surface: other packages, the views and the API
import from `portal.policy.queries` (`queries.resolve(...)`), never from the modules below, which
are free to move things between them:

- `buyers`: a buyer link as a price group member, and whose catalog an actor browses;
- `resolution`: live versions, per-SKU terms (`resolve`, and `resolve_for_consumers` for the
  brand's storefronts), whole-order terms, credit limits;
- `explanation`: "why this price", and rules and audiences as people read them;
- `offers`: the role-scoped catalog page and a product's offer;
- `hq`: HQ's policy versions, audiences and reach;
- `inbox`: an org's notifications;
- `changes`: what a version changes, for HQ and for one buyer.

It is a package rather than one file so that each part stays readable; raw loads by id stay
allowed throughout it (tests/test_tenant_loads.py), since every function here answers the access
question itself.
"""

from __future__ import annotations

from portal.policy.queries.buyers import (
    Buyer,
    buyer_for,
    buying_brands,
    buys_as,
    get_buying_brand,
    is_brand_hq,
)
from portal.policy.queries.changes import (
    BuyerChanges,
    Change,
    PriceChange,
    buyer_changes,
    change_summary,
    previous_version,
)
from portal.policy.queries.explanation import (
    audience_label,
    audience_values,
    describe_rule,
    explain,
    explain_retail,
    find_variant,
    get_explanation,
    rule_targets,
)
from portal.policy.queries.hq import (
    ReachRow,
    audience_links,
    audience_links_by_values,
    count_audience,
    find_policy,
    find_version,
    get_version,
    list_versions,
    reach,
    unacknowledged,
    visible_versions,
)
from portal.policy.queries.inbox import (
    count_unread,
    get_notification,
    get_notification_brand,
    list_notifications,
)
from portal.policy.queries.offers import (
    CatalogPage,
    ProductOffer,
    authorized_clause,
    browse,
    get_offer_product,
)
from portal.policy.queries.resolution import (
    LIVE_STATUSES,
    ORDER_FIELDS,
    SCOPE_RANK,
    OrderTerms,
    SkuTerms,
    VersionsByBuyer,
    consumer_versions,
    credit_limits,
    live_condition,
    live_versions,
    order_terms,
    resolve,
    resolve_for_consumers,
    resolve_one,
)

__all__ = [
    "LIVE_STATUSES",
    "ORDER_FIELDS",
    "SCOPE_RANK",
    "Buyer",
    "BuyerChanges",
    "CatalogPage",
    "Change",
    "OrderTerms",
    "PriceChange",
    "ProductOffer",
    "ReachRow",
    "SkuTerms",
    "VersionsByBuyer",
    "audience_label",
    "audience_links",
    "audience_links_by_values",
    "audience_values",
    "authorized_clause",
    "browse",
    "buyer_changes",
    "buyer_for",
    "buying_brands",
    "buys_as",
    "change_summary",
    "count_audience",
    "count_unread",
    "consumer_versions",
    "credit_limits",
    "describe_rule",
    "explain",
    "explain_retail",
    "find_policy",
    "find_variant",
    "find_version",
    "get_buying_brand",
    "get_explanation",
    "get_notification",
    "get_notification_brand",
    "get_offer_product",
    "get_version",
    "is_brand_hq",
    "list_notifications",
    "list_versions",
    "live_condition",
    "live_versions",
    "order_terms",
    "previous_version",
    "reach",
    "resolve",
    "resolve_for_consumers",
    "resolve_one",
    "rule_targets",
    "unacknowledged",
    "visible_versions",
]
