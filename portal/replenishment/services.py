"""Replenishment use cases: rules, who may run what, writing a run's suggestions, and turning a
suggestion into an order through the normal submit checks. Sell-out reports are in `sales`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from portal.catalog.models import Category, Variant
from portal.core import audit
from portal.core.access import Actor, Permission
from portal.core.db import bulk_insert
from portal.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.inventory import queries as inventory_queries
from portal.inventory.models import Location
from portal.network import queries as network_queries
from portal.network.models import ChannelLink, Organization
from portal.ordering import services as ordering
from portal.ordering.errors import OrderRefused
from portal.ordering.models import Order, OrderKind
from portal.policy import queries as policy_queries
from portal.replenishment.engine import Proposal
from portal.replenishment.models import (
    LocationSetting,
    ReplenishmentRule,
    Suggestion,
    SuggestionLine,
    SuggestionStatus,
)

MAX_RULE_QTY = 1_000_000
MAX_DAYS = 365


# -- rules ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleInput:
    min_qty: int | None = None
    max_qty: int | None = None
    cover_days: int | None = None
    lead_days: int = 0
    safety_qty: int = 0
    review_days: int = 7
    owners_may_override: bool = True


def _check_rule(data: RuleInput) -> None:
    errors: dict[str, str] = {}

    def whole(name: str, value: Any, *, low: int, high: int, optional: bool) -> None:
        if value is None and optional:
            return
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            errors[name] = f"A whole number from {low} to {high}."

    whole("min_qty", data.min_qty, low=0, high=MAX_RULE_QTY, optional=True)
    whole("max_qty", data.max_qty, low=0, high=MAX_RULE_QTY, optional=True)
    whole("cover_days", data.cover_days, low=1, high=MAX_DAYS, optional=True)
    whole("lead_days", data.lead_days, low=0, high=MAX_DAYS, optional=False)
    whole("safety_qty", data.safety_qty, low=0, high=MAX_RULE_QTY, optional=False)
    whole("review_days", data.review_days, low=1, high=MAX_DAYS, optional=False)
    if not errors:
        if data.max_qty is None and data.cover_days is None:
            errors["max_qty"] = "Give a maximum, or days of cover."
        if data.min_qty is not None and data.max_qty is not None and data.max_qty < data.min_qty:
            errors["max_qty"] = "The maximum cannot be below the minimum."
    if errors:
        raise ValidationFailed(fields=errors)


def _apply(rule: ReplenishmentRule, data: RuleInput, actor: Actor) -> None:
    rule.min_qty = data.min_qty
    rule.max_qty = data.max_qty
    rule.cover_days = data.cover_days
    rule.lead_days = data.lead_days
    rule.safety_qty = data.safety_qty
    rule.review_days = data.review_days
    rule.updated_by_user_id = actor.user_id


def set_default_rule(
    actor: Actor,
    brand: Organization,
    *,
    level: str,
    category: Category | None,
    data: RuleInput,
) -> ReplenishmentRule:
    """HQ's default for a store level ("" for every level) and a category (None: every one)."""
    if not actor.is_system:
        actor.ensure(Permission.REPLENISHMENT_MANAGE)
        if not (actor.is_hq and actor.org_id == brand.id):
            raise PermissionDenied("Only the brand's HQ sets default rules.")
    if category is not None and category.brand_id != brand.id:
        raise NotFound()
    _check_rule(data)
    level = (level or "").strip()
    if (
        level
        and not db.session.execute(
            select(ChannelLink.id).where(
                ChannelLink.brand_id == brand.id, ChannelLink.level == level
            )
        ).first()
    ):
        raise ValidationFailed(fields={"level": "No organization of the brand has this level."})
    category_id = category.id if category else None
    same_category = (
        ReplenishmentRule.category_id == category_id
        if category_id
        else ReplenishmentRule.category_id.is_(None)
    )
    rule = db.session.execute(
        select(ReplenishmentRule).where(
            ReplenishmentRule.brand_id == brand.id,
            ReplenishmentRule.location_id.is_(None),
            ReplenishmentRule.level == level,
            same_category,
        )
    ).scalar_one_or_none() or ReplenishmentRule(
        brand_id=brand.id, level=level, category_id=category_id
    )
    _apply(rule, data, actor)
    rule.owners_may_override = data.owners_may_override
    db.session.add(rule)
    db.session.flush()
    audit.record(actor, "replenishment.default_set", brand_id=brand.id, rule_id=rule.id)
    return rule


def may_override(
    actor: Actor, location: Location, brand_id: int, variant: Variant | None = None
) -> bool:
    """HQ always; the location's own org unless HQ's default that applies to it (its level, and
    the SKU's category when there is one) keeps the rules to HQ."""
    if actor.is_system or (actor.is_hq and actor.org_id == brand_id):
        return True
    if actor.org_id != location.org_id or not actor.can(Permission.REPLENISHMENT_MANAGE):
        return False
    level = db.session.execute(
        select(ChannelLink.level).where(
            ChannelLink.brand_id == brand_id, ChannelLink.buyer_org_id == location.org_id
        )
    ).scalar_one_or_none()
    if level is None:
        return False
    categories = [variant.product.category_id] if variant is not None else []
    applying = db.session.execute(
        select(ReplenishmentRule.owners_may_override)
        .where(
            ReplenishmentRule.brand_id == brand_id,
            ReplenishmentRule.location_id.is_(None),
            ReplenishmentRule.level.in_((level, "")),
            or_(
                ReplenishmentRule.category_id.is_(None),
                ReplenishmentRule.category_id.in_(categories),
            ),
        )
        # the most specific default decides, as in the engine
        .order_by(
            (ReplenishmentRule.level == "").asc(), ReplenishmentRule.category_id.is_(None).asc()
        )
        .limit(1)
    ).scalar_one_or_none()
    return applying is not False


def set_location_rule(
    actor: Actor, location: Location, variant: Variant, data: RuleInput
) -> ReplenishmentRule:
    """An override for one SKU at one location."""
    if not may_override(actor, location, variant.brand_id, variant):
        raise PermissionDenied("HQ's rules for this brand cannot be changed here.")
    _check_rule(data)
    rule = db.session.execute(
        select(ReplenishmentRule).where(
            ReplenishmentRule.location_id == location.id,
            ReplenishmentRule.variant_id == variant.id,
        )
    ).scalar_one_or_none() or ReplenishmentRule(
        brand_id=variant.brand_id, location_id=location.id, variant_id=variant.id
    )
    _apply(rule, data, actor)
    db.session.add(rule)
    db.session.flush()
    audit.record(
        actor,
        "replenishment.override_set",
        org_id=location.org_id,
        brand_id=variant.brand_id,
        location=location.code,
        sku=variant.sku,
    )
    return rule


def set_auto_submit(actor: Actor, location: Location, brand_id: int, *, on: bool) -> None:
    if not may_override(actor, location, brand_id):
        raise PermissionDenied("Only the location's org or HQ decides this.")
    setting = db.session.execute(
        select(LocationSetting).where(
            LocationSetting.location_id == location.id, LocationSetting.brand_id == brand_id
        )
    ).scalar_one_or_none() or LocationSetting(location_id=location.id, brand_id=brand_id)
    setting.auto_submit = on
    db.session.add(setting)
    db.session.flush()


def auto_submit_locations(brand_id: int, location_ids: Sequence[int]) -> set[int]:
    return set(
        db.session.execute(
            select(LocationSetting.location_id).where(
                LocationSetting.brand_id == brand_id,
                LocationSetting.location_id.in_(list(location_ids)),
                LocationSetting.auto_submit.is_(True),
            )
        ).scalars()
    )


# -- runs ----------------------------------------------------------------------------------------


def run_code(actor: Actor, brand: Organization, scope: str, code: str) -> str:
    """The canonical code of a run the actor may ask for (the run's key uses it): HQ runs any
    scope of its brand; a distributor or store only its own org's location. An org, location or
    region the caller cannot see in the brand is a 404; one it sees but may not run, a 403."""
    code = code.strip()
    is_hq = policy_queries.is_brand_hq(actor, brand.id)
    if scope == "brand":
        if not is_hq:
            raise PermissionDenied("Only the brand's HQ runs the whole network.")
        return ""
    if not code:
        raise ValidationFailed(fields={"code": f"Name the {scope} to run."})
    if scope == "region":
        if not is_hq:
            raise PermissionDenied("Only the brand's HQ runs a region.")
        known = db.session.execute(
            select(ChannelLink.id)
            .where(ChannelLink.brand_id == brand.id, ChannelLink.region == code)
            .limit(1)
        ).first()
        if known is None:
            raise NotFound(f"No region {code!r} in the network.")
        return code
    org = network_queries.find_org(actor, code)
    if org is None:
        org = inventory_queries.get_location(actor, code).org
    if network_queries.find_link(actor, brand.id, org) is None:
        raise NotFound()
    if not is_hq and org.id != actor.org_id:
        raise PermissionDenied("Run replenishment for your own organization only.")
    return org.code


# -- suggestions ---------------------------------------------------------------------------------


def write_suggestion(
    proposal: Proposal, *, brand_id: int, business_date: date, run_id: str | None
) -> Suggestion | None:
    """Store one location's proposal for the day, or nothing if the day already has one (a
    repeated or resumed run). All of it or none: lines go in with their header."""
    existing = db.session.execute(
        select(Suggestion.id).where(
            Suggestion.location_id == proposal.location.id,
            Suggestion.brand_id == brand_id,
            Suggestion.business_date == business_date,
        )
    ).first()
    if existing:
        return None
    suggestion = Suggestion(
        brand_id=brand_id,
        location_id=proposal.location.id,
        buyer_org_id=proposal.link.buyer_org_id,
        supplier_org_id=proposal.link.supplier_org_id,
        business_date=business_date,
        run_id=run_id,
        total_cents=sum((ln.unit_price_cents or 0) * ln.qty for ln in proposal.lines),
    )
    try:
        with db.session.begin_nested():
            db.session.add(suggestion)
            db.session.flush()
    except IntegrityError:  # another run wrote the same day first
        return None
    # Lines in one bulk statement (COPY on PostgreSQL): a network run writes ~280,000 of them.
    bulk_insert(
        SuggestionLine,
        [
            {
                "suggestion_id": suggestion.id,
                "variant_id": line.variant.id,
                "qty": line.qty,
                "suggested_qty": line.qty,
                "unit_price_cents": line.unit_price_cents,
                "reason": line.reason,
            }
            for line in proposal.lines
        ],
    )
    return suggestion


def may_order(actor: Actor, suggestion: Suggestion) -> bool:
    """Whether the actor may edit, submit or dismiss the suggestion now (pages offer the forms
    only then): the buying org, with a role that orders, while it is open."""
    try:
        ensure_buyer(actor, suggestion)
    except PermissionDenied:
        return False
    return suggestion.status == SuggestionStatus.OPEN


def ensure_buyer(actor: Actor, suggestion: Suggestion) -> None:
    if actor.is_system:
        return
    actor.ensure(Permission.ORDER_PLACE)
    if actor.org_id != suggestion.buyer_org_id:
        raise PermissionDenied("Only the buying organization orders its suggestion.")


def _ensure_open(suggestion: Suggestion) -> None:
    if suggestion.status != SuggestionStatus.OPEN:
        raise Conflict(f"This suggestion is {suggestion.status} already.")


def edit_suggestion(actor: Actor, suggestion: Suggestion, quantities: dict[int, Any]) -> None:
    """The buyer changes quantities ({line id: qty}); 0 drops a line from the order. Any bad
    cell refuses them all, naming it."""
    ensure_buyer(actor, suggestion)
    _ensure_open(suggestion)
    lines = {line.id: line for line in suggestion.lines}
    errors = {}
    clean = {}
    for line_id, raw in quantities.items():
        if line_id not in lines:
            continue
        qty = ordering.whole_number(raw)
        if qty is None or not 0 <= qty <= ordering.MAX_LINE_QTY:
            errors[f"qty_{line_id}"] = "A whole number of units, 0 or more."
        else:
            clean[line_id] = qty
    if errors:
        raise ValidationFailed("Some quantities are not whole numbers.", fields=errors)
    for line_id, qty in clean.items():
        lines[line_id].qty = qty
    suggestion.total_cents = sum((ln.unit_price_cents or 0) * ln.qty for ln in suggestion.lines)
    db.session.flush()


def submit_suggestion(actor: Actor, suggestion: Suggestion) -> Order:
    """Place the suggestion as a replenishment order through every normal submit check."""
    ensure_buyer(actor, suggestion)
    # Under the row lock (PostgreSQL): two submits at once (two tabs, page and API) make one
    # order; the second finds it submitted.
    db.session.execute(
        select(Suggestion.id).where(Suggestion.id == suggestion.id).with_for_update()
    ).scalar_one()
    db.session.refresh(suggestion)
    _ensure_open(suggestion)
    link = db.session.execute(
        select(ChannelLink).where(
            ChannelLink.brand_id == suggestion.brand_id,
            ChannelLink.buyer_org_id == suggestion.buyer_org_id,
        )
    ).scalar_one()
    requests = [
        ordering.LineRequest(line.variant.sku, line.qty, index)
        for index, line in enumerate(suggestion.lines)
        if line.qty > 0
    ]
    order = ordering.place_order(
        actor,
        link,
        requests,
        po_number=f"REPL-{suggestion.business_date:%Y%m%d}",
        kind=OrderKind.REPLENISHMENT,
    )
    suggestion.status = SuggestionStatus.SUBMITTED
    suggestion.order_id = order.id
    suggestion.problem = ""
    db.session.flush()
    return order


def auto_submit(suggestion: Suggestion) -> None:
    """The job submits for a location marked auto-submit; a refusal stays on the suggestion
    for the buyer to see and fix."""
    try:
        submit_suggestion(Actor.system(), suggestion)
    except OrderRefused as error:
        problems = error.extra.get("problems") or [{"message": error.message}]
        suggestion.problem = " ".join(p["message"] for p in problems)[:500]
    else:
        suggestion.auto_submit = True


def dismiss_suggestion(actor: Actor, suggestion: Suggestion) -> None:
    ensure_buyer(actor, suggestion)
    _ensure_open(suggestion)
    suggestion.status = SuggestionStatus.DISMISSED
    db.session.flush()
