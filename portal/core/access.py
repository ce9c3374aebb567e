"""Who may do what, and who may see which rows. The one place the visibility rule lives.

An actor sees a row of brand B only if it belongs to the actor's own org or to an org below it in
B's channel tree (materialized path prefix). HQ sees its whole brand; a distributor itself and its
stores; a store itself. Another org's row is a 404, never a 403.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import Flask, current_app, g, redirect, request, url_for
from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true

from portal.core.db import Base
from portal.core.errors import NotFound, PermissionDenied, Unauthorized, error_body, wants_json


class OrgKind(enum.StrEnum):
    BRAND = "brand"
    DISTRIBUTOR = "distributor"
    STORE = "store"


class Role(enum.StrEnum):
    HQ_ADMIN = "hq_admin"
    HQ_MERCHANDISER = "hq_merchandiser"
    DISTRIBUTOR_ADMIN = "distributor_admin"
    DISTRIBUTOR_BUYER = "distributor_buyer"
    STORE_OWNER = "store_owner"
    STORE_STAFF = "store_staff"


ROLES_BY_KIND: dict[OrgKind, tuple[Role, ...]] = {
    OrgKind.BRAND: (Role.HQ_ADMIN, Role.HQ_MERCHANDISER),
    OrgKind.DISTRIBUTOR: (Role.DISTRIBUTOR_ADMIN, Role.DISTRIBUTOR_BUYER),
    OrgKind.STORE: (Role.STORE_OWNER, Role.STORE_STAFF),
}

# The role that administers an org of each kind (invited first, manages the others).
ADMIN_ROLE: dict[OrgKind, Role] = {
    OrgKind.BRAND: Role.HQ_ADMIN,
    OrgKind.DISTRIBUTOR: Role.DISTRIBUTOR_ADMIN,
    OrgKind.STORE: Role.STORE_OWNER,
}


class Permission(enum.StrEnum):
    ACCOUNT_USE = "account.use"  # switch org, language, see own profile
    NETWORK_VIEW = "network.view"
    NETWORK_MANAGE = "network.manage"  # add, edit and move orgs below one's own
    NETWORK_SUSPEND = "network.suspend"
    PEOPLE_VIEW = "people.view"
    PEOPLE_MANAGE = "people.manage"  # invite, change roles, remove memberships
    API_KEYS_MANAGE = "api_keys.manage"
    JOBS_VIEW = "jobs.view"
    JOBS_ADMIN = "jobs.admin"  # queue overview and retries for the whole brand
    CATALOG_VIEW = "catalog.view"  # browse what one may buy, at one's own prices
    CATALOG_MANAGE = "catalog.manage"  # products, variants, imports (HQ)
    POLICY_VIEW = "policy.view"  # the brand's policies, versions and reach (HQ)
    POLICY_MANAGE = "policy.manage"  # write drafts
    POLICY_PUBLISH = "policy.publish"  # publish to the network, remind
    INBOX_VIEW = "inbox.view"
    INBOX_ACK = "inbox.ack"  # acknowledge a policy on the org's behalf
    STOCK_VIEW = "stock.view"  # one's own stock, and read-only the stock below one's org
    STOCK_ADJUST = "stock.adjust"  # counts, damage, found, uploads at one's own locations
    STOCK_PUSH = "stock.push"  # allocate new-season stock down the network (HQ)
    ORDER_VIEW = "orders.view"  # orders one's org placed or receives, and those below it
    ORDER_PLACE = "orders.place"  # carts, templates, submit, cancel, receive, request returns
    ORDER_APPROVE = "orders.approve"  # the buyer org's own approvals and purchasing rules
    ORDER_FULFIL = "orders.fulfil"  # the supplier's side: confirm, reject, ship, returns
    FINANCE_VIEW = "finance.view"  # accounts, balances, statements
    FINANCE_MANAGE = "finance.manage"  # record payments and adjustments (the supplier)
    REPLENISHMENT_VIEW = "replenishment.view"  # suggested orders one's org may see
    REPLENISHMENT_MANAGE = "replenishment.manage"  # rules, runs, auto-submit (HQ and owners)
    SHOP_MANAGE = "shop.manage"  # the storefronts: which stores sell online, tiers, looks (HQ)
    SHOP_FULFIL = "shop.fulfil"  # consumer orders at one's own locations: hand over, pack, ship
    MEMBERS_VIEW = "members.view"  # the brand's members, segments, funnels and exports (HQ)
    MEMBERS_MANAGE = "members.manage"  # tags, segments, coupons, employee lists, private sales
    MEMBERS_ENROL = "members.enrol"  # join a consumer at one's store; report till sales (POS)
    SHOP_SELL = "shop.sell"  # one's own store's shop: switch it on, hours, place, own prices
    GUIDES_USE = "guides.use"  # be a shopping guide: one's code, links, customers, commission
    GUIDES_MANAGE = "guides.manage"  # guides of one's org and below, their sales and commission
    COMMISSION_APPROVE = "commission.approve"  # approve and pay statements; set the guides (HQ)
    CAMPAIGNS_MANAGE = "campaigns.manage"  # campaigns, events, group buys, red packets, sharers
    TASKS_MANAGE = "tasks.manage"  # tasks and rewards for the guides of one's org and below


_EVERYONE = {
    Permission.ACCOUNT_USE,
    Permission.NETWORK_VIEW,
    Permission.JOBS_VIEW,
    Permission.CATALOG_VIEW,
    Permission.INBOX_VIEW,
    Permission.STOCK_VIEW,
    Permission.ORDER_VIEW,
    Permission.REPLENISHMENT_VIEW,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.HQ_ADMIN: frozenset(Permission),
    Role.HQ_MERCHANDISER: frozenset(
        _EVERYONE
        | {
            Permission.PEOPLE_VIEW,
            Permission.CATALOG_MANAGE,
            Permission.POLICY_VIEW,
            Permission.POLICY_MANAGE,
            Permission.INBOX_ACK,
            Permission.STOCK_PUSH,
            Permission.ORDER_FULFIL,
            Permission.FINANCE_VIEW,
            Permission.REPLENISHMENT_MANAGE,
            Permission.SHOP_MANAGE,
            Permission.SHOP_FULFIL,
            Permission.MEMBERS_VIEW,
            Permission.MEMBERS_ENROL,
            Permission.GUIDES_USE,
            Permission.GUIDES_MANAGE,
            Permission.CAMPAIGNS_MANAGE,
            Permission.TASKS_MANAGE,
        }
    ),
    Role.DISTRIBUTOR_ADMIN: frozenset(
        _EVERYONE
        | {
            Permission.NETWORK_MANAGE,
            Permission.NETWORK_SUSPEND,
            Permission.PEOPLE_VIEW,
            Permission.PEOPLE_MANAGE,
            Permission.API_KEYS_MANAGE,
            Permission.INBOX_ACK,
            Permission.STOCK_ADJUST,
            Permission.ORDER_PLACE,
            Permission.ORDER_APPROVE,
            Permission.ORDER_FULFIL,
            Permission.FINANCE_VIEW,
            Permission.FINANCE_MANAGE,
            Permission.REPLENISHMENT_MANAGE,
            Permission.TASKS_MANAGE,
        }
    ),
    Role.DISTRIBUTOR_BUYER: frozenset(
        _EVERYONE
        | {
            Permission.PEOPLE_VIEW,
            Permission.INBOX_ACK,
            Permission.ORDER_PLACE,
            Permission.ORDER_FULFIL,
            Permission.FINANCE_VIEW,
        }
    ),
    Role.STORE_OWNER: frozenset(
        _EVERYONE
        | {
            Permission.PEOPLE_VIEW,
            Permission.PEOPLE_MANAGE,
            Permission.API_KEYS_MANAGE,
            Permission.INBOX_ACK,
            Permission.STOCK_ADJUST,
            Permission.ORDER_PLACE,
            Permission.ORDER_APPROVE,
            Permission.FINANCE_VIEW,
            Permission.REPLENISHMENT_MANAGE,
            Permission.SHOP_FULFIL,
            Permission.MEMBERS_ENROL,
            Permission.SHOP_SELL,
            Permission.GUIDES_USE,
            Permission.GUIDES_MANAGE,
        }
    ),
    Role.STORE_STAFF: frozenset(
        _EVERYONE
        | {
            Permission.ORDER_PLACE,
            Permission.SHOP_FULFIL,
            Permission.MEMBERS_ENROL,
            Permission.GUIDES_USE,
        }
    ),
}

# What an org-level API key may be granted: read and integration scopes, never people or keys.
# A key never exceeds its org's admin role (see `api_key_scopes`).
API_KEY_SCOPES: tuple[Permission, ...] = (
    Permission.NETWORK_VIEW,
    Permission.JOBS_VIEW,
    Permission.CATALOG_VIEW,
    Permission.INBOX_VIEW,
    Permission.INBOX_ACK,
    Permission.POLICY_VIEW,
    Permission.STOCK_VIEW,
    Permission.STOCK_ADJUST,
    Permission.ORDER_VIEW,
    Permission.ORDER_PLACE,
    Permission.ORDER_FULFIL,
    Permission.FINANCE_VIEW,
    Permission.FINANCE_MANAGE,
    Permission.REPLENISHMENT_VIEW,
    Permission.MEMBERS_ENROL,
    Permission.REPLENISHMENT_MANAGE,
)


def api_key_scopes(kind: OrgKind) -> tuple[Permission, ...]:
    """The scopes a key of an org of `kind` may hold: those of API_KEY_SCOPES that the org's
    admin role (the role that creates its keys) has itself."""
    granted = ROLE_PERMISSIONS[ADMIN_ROLE[kind]]
    return tuple(s for s in API_KEY_SCOPES if s in granted)


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in member, an org's API key, or the system (jobs, CLI)."""

    org_id: int | None
    org_kind: OrgKind | None
    permissions: frozenset[Permission]
    # brand id -> materialized path of the actor's org in that brand's tree ("/1/7/")
    paths: Mapping[int, str] = field(default_factory=dict)
    user_id: int | None = None
    role: Role | None = None
    org_code: str = ""
    api_key_id: int | None = None
    is_system: bool = False
    locale: str | None = None

    @classmethod
    def system(cls) -> Actor:
        return cls(org_id=None, org_kind=None, permissions=frozenset(Permission), is_system=True)

    @property
    def brand_ids(self) -> tuple[int, ...]:
        return tuple(sorted(self.paths))

    @property
    def is_hq(self) -> bool:
        return self.org_kind == OrgKind.BRAND

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    def ensure(self, permission: Permission) -> None:
        if not self.can(permission):
            raise PermissionDenied()

    def path_for(self, brand_id: int) -> str | None:
        return self.paths.get(brand_id)

    def is_above(self, brand_id: int, path: str) -> bool:
        """True when a node with `path` in `brand_id`'s tree is strictly below the actor's org."""
        own = self.paths.get(brand_id)
        return self.is_system or (own is not None and path != own and path.startswith(own))


def _links_table():
    # Looked up by name so core need not import the network package (imports point one way).
    return Base.metadata.tables["channel_links"]


def org_visible(actor: Actor, org_id_col: Any, brand_id_col: Any = None) -> ColumnElement[bool]:
    """SQL condition: the org in `org_id_col` is the actor's own or below it in a shared brand.

    With `brand_id_col`, the row belongs to one brand and only that brand's tree counts.
    """
    if actor.is_system:
        return true()
    if actor.org_id is None:
        return false()
    links = _links_table().alias("scope_links")  # aliased: callers may query links too
    below = []
    for brand_id, path in actor.paths.items():
        cond = and_(links.c.brand_id == brand_id, links.c.path.startswith(path, autoescape=True))
        if brand_id_col is not None:
            cond = and_(cond, brand_id_col == brand_id)
        below.append(cond)
    own = org_id_col == actor.org_id
    if not below:
        return own
    return or_(own, exists(select(1).where(links.c.buyer_org_id == org_id_col, or_(*below))))


def links_below(actor: Actor, brand_id_col: Any, path_col: Any) -> ColumnElement[bool]:
    """SQL condition on channel-link rows: the link lies in the actor's own part of its brand's
    tree (the actor's link and every link under it)."""
    if actor.is_system:
        return true()
    below = [
        and_(brand_id_col == brand_id, path_col.startswith(path, autoescape=True))
        for brand_id, path in actor.paths.items()
    ]
    return or_(*below) if below else false()


def trade_visible(
    actor: Actor, supplier_org_id_col: Any, buyer_org_id_col: Any, brand_id_col: Any
) -> ColumnElement[bool]:
    """SQL condition on a row between a buyer and its supplier (an order, an account): the
    supplier sees it, and so do the buyer and every org above the buyer in that brand."""
    if actor.is_system:
        return true()
    return or_(
        supplier_org_id_col == actor.org_id,
        org_visible(actor, buyer_org_id_col, brand_id_col),
    )


# -- request integration -------------------------------------------------------------------------

ActorLoader = Callable[[], "Actor | None"]


def find_actor() -> Actor | None:
    """Who is asking, or None on a public page nobody signed in to."""
    return g.get("actor")


def current_actor() -> Actor:
    """Who is asking, in a route that requires someone (`@require` has already checked)."""
    actor = find_actor()
    if actor is None:
        raise Unauthorized()
    return actor


def require(permission: Permission, *, load: Callable[..., Any] | None = None) -> Callable:
    """Declare and enforce a route's permission.

    With `load`, the route's object is fetched through a scoped loader first, so another org's
    object is a 404 whatever the caller's role; an object of one's own that the role may not act
    on is a 403. The loaded object is passed to the view as its only argument.
    """

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            actor = current_actor()
            if load is not None:
                # The loader takes the URL's arguments; anything else (an API body parsed by
                # an input decorator) goes on to the view beside the loaded object.
                url_args = request.view_args or {}
                obj = load(actor, **{k: v for k, v in kwargs.items() if k in url_args})
                actor.ensure(permission)
                return view(obj, **{k: v for k, v in kwargs.items() if k not in url_args})
            actor.ensure(permission)
            return view(*args, **kwargs)

        wrapped._access = ("require", permission)  # type: ignore[attr-defined]
        return wrapped

    return decorator


def public(view: Callable) -> Callable:
    """Declare a route open to anyone (login page, health checks, invitations)."""
    view._access = ("public", None)  # type: ignore[attr-defined]
    return view


def route_access(app: Flask, endpoint: str) -> tuple[str, Permission | None] | None:
    view = app.view_functions.get(endpoint)
    return getattr(view, "_access", None)


_RULE_ARG = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def document_scopes(app: Flask, spec: dict[str, Any]) -> dict[str, Any]:
    """Name on every API operation the permission it needs (`x-scope`, and a line of its
    description): a member's role must grant it, an API key must hold it as a scope."""
    paths = spec.get("paths", {})
    for rule in app.url_map.iter_rules():
        access = route_access(app, rule.endpoint)
        operations = paths.get(_RULE_ARG.sub(r"{\1}", rule.rule))
        if access is None or not operations:
            continue
        kind, permission = access
        for method in rule.methods or ():
            operation = operations.get(method.lower())
            if not isinstance(operation, dict):
                continue
            if kind == "public":
                note = "Open to anyone: no token needed."
            elif kind == "consumer":
                note = "A consumer's bearer token from this brand's sign-in."
            elif permission == Permission.ACCOUNT_USE:
                note = "Any bearer token, and every API key whatever its scopes."
            else:
                note = (
                    f"Needs `{permission}`: the caller's role must grant it; an API key must "
                    "hold it as a scope."
                )
                operation["x-scope"] = str(permission)
            text = operation.get("description", "")
            operation["description"] = f"{text}\n\n{note}" if text else note
    return spec


def init_app(app: Flask, actor_loader: ActorLoader) -> None:
    # One spec processor per app: chain after the one registered before (the error shapes).
    if hasattr(app, "spec_processor"):
        previous = getattr(app, "spec_callback", None)

        def process_spec(spec: dict[str, Any]) -> dict[str, Any]:
            return document_scopes(app, previous(spec) if previous else spec)

        app.spec_processor(process_spec)

    @app.before_request
    def load_actor() -> Any:
        g.actor = actor_loader()
        endpoint = request.endpoint
        if endpoint is None or endpoint == "static":
            return None
        # Closed by default: a route that declares no access is never served.
        if route_access(current_app, endpoint) is None:
            current_app.logger.error("route %s declares neither @require nor @public", endpoint)
            raise NotFound()
        return None

    @app.errorhandler(Unauthorized)
    def unauthorized(error: Unauthorized) -> Any:
        if wants_json():
            return error_body(error.code, error.message), 401, {"WWW-Authenticate": "Bearer"}
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
