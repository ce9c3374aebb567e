"""Suggestions, rules and runs an actor may see: a buyer its own suggestions, a distributor also
its stores' (before they reach it), HQ its whole brand. Another org's suggestion is a 404."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import selectinload

from portal.catalog.models import Variant
from portal.core.access import Actor, org_visible
from portal.core.errors import NotFound
from portal.core.jobs import JobRun
from portal.core.pagination import Page, paginate
from portal.extensions import db
from portal.inventory.models import Location
from portal.network.models import ChannelLink, Organization
from portal.replenishment.models import (
    LocationSetting,
    ReplenishmentRule,
    Suggestion,
    SuggestionLine,
    SuggestionStatus,
)


def visible_suggestions(actor: Actor) -> Select[Any]:
    stmt = select(Suggestion)
    if actor.is_system:
        return stmt
    return stmt.where(
        or_(
            Suggestion.supplier_org_id == actor.org_id,
            org_visible(actor, Suggestion.buyer_org_id, Suggestion.brand_id),
        )
    )


def list_suggestions(
    actor: Actor,
    *,
    location: Location | None = None,
    status: str | None = None,
    brand_id: int | None = None,
    business_date: date | None = None,
    own_only: bool = False,
    page: int = 1,
    per_page: int = 50,
) -> Page:
    stmt = visible_suggestions(actor).options(
        selectinload(Suggestion.location), selectinload(Suggestion.buyer)
    )
    if location is not None:
        stmt = stmt.where(Suggestion.location_id == location.id)
    if status:
        stmt = stmt.where(Suggestion.status == status)
    if brand_id:
        stmt = stmt.where(Suggestion.brand_id == brand_id)
    if business_date:
        stmt = stmt.where(Suggestion.business_date == business_date)
    if own_only:
        stmt = stmt.where(Suggestion.buyer_org_id == actor.org_id)
    stmt = stmt.order_by(Suggestion.business_date.desc(), Suggestion.id.desc())
    return paginate(stmt, page, per_page)


def get_suggestion(actor: Actor, suggestion_id: int) -> Suggestion:
    suggestion = db.session.execute(
        visible_suggestions(actor)
        .where(Suggestion.id == suggestion_id)
        .options(selectinload(Suggestion.lines).selectinload(SuggestionLine.variant))
    ).scalar_one_or_none()
    if suggestion is None:
        raise NotFound()
    return suggestion


def default_rules(brand_id: int) -> list[ReplenishmentRule]:
    return list(
        db.session.execute(
            select(ReplenishmentRule)
            .where(ReplenishmentRule.brand_id == brand_id, ReplenishmentRule.location_id.is_(None))
            .options(selectinload(ReplenishmentRule.category))
            .order_by(ReplenishmentRule.level, ReplenishmentRule.category_id)
        ).scalars()
    )


def location_rules(location: Location, brand_id: int | None = None) -> list[ReplenishmentRule]:
    stmt = (
        select(ReplenishmentRule)
        .where(ReplenishmentRule.location_id == location.id)
        .options(selectinload(ReplenishmentRule.variant))
        .order_by(ReplenishmentRule.variant_id)
    )
    if brand_id:
        stmt = stmt.where(ReplenishmentRule.brand_id == brand_id)
    return list(db.session.execute(stmt).scalars())


def auto_submit_of(location: Location, brand_id: int) -> bool:
    return bool(
        db.session.execute(
            select(LocationSetting.auto_submit).where(
                LocationSetting.location_id == location.id, LocationSetting.brand_id == brand_id
            )
        ).scalar_one_or_none()
    )


@dataclass(frozen=True)
class OverviewRow:
    """One region or one distributor's network in HQ's overview for a business day."""

    key: str  # region name, or distributor code
    locations: int
    suggestions: int
    units: int
    value_cents: int
    auto_submitted: int
    waiting: int


def overview(brand_id: int, business_date: date, *, by: str = "region") -> list[OverviewRow]:
    """Suggested units and value per region (or per supplier), auto-submitted vs waiting,
    in one grouped query."""
    group = ChannelLink.region if by == "region" else Suggestion.supplier_org_id
    units = (
        select(SuggestionLine.suggestion_id, func.sum(SuggestionLine.qty).label("units"))
        .group_by(SuggestionLine.suggestion_id)
        .subquery()
    )
    stmt = (
        select(
            group.label("key"),
            func.count(func.distinct(Suggestion.location_id)),
            func.count(Suggestion.id),
            func.coalesce(func.sum(units.c.units), 0),
            func.coalesce(func.sum(Suggestion.total_cents), 0),
            func.sum(
                case(
                    (
                        (Suggestion.auto_submit.is_(True))
                        & (Suggestion.status == SuggestionStatus.SUBMITTED),
                        1,
                    ),
                    else_=0,
                )
            ),
            func.sum(case((Suggestion.status == SuggestionStatus.OPEN, 1), else_=0)),
        )
        .join(
            ChannelLink,
            (ChannelLink.buyer_org_id == Suggestion.buyer_org_id)
            & (ChannelLink.brand_id == Suggestion.brand_id),
        )
        .outerjoin(units, units.c.suggestion_id == Suggestion.id)
        .where(
            Suggestion.brand_id == brand_id,
            Suggestion.business_date == business_date,
            Suggestion.status != SuggestionStatus.DISMISSED,
        )
        .group_by(group)
        .order_by(group)
    )
    rows = []
    for key, locations, count, unit_sum, value, auto, waiting in db.session.execute(stmt):
        rows.append(
            OverviewRow(
                str(key or ""),
                int(locations),
                int(count),
                int(unit_sum),
                int(value),
                int(auto or 0),
                int(waiting or 0),
            )
        )
    return rows


def recent_runs(brand_id: int, *, limit: int = 20) -> list[JobRun]:
    """The brand's replenishment runs, newest first, with their status, duration and error."""
    return list(
        db.session.execute(
            select(JobRun)
            .where(JobRun.brand_id == brand_id, JobRun.id.startswith("replenishment:"))
            .order_by(JobRun.created_at.desc())
            .limit(limit)
        ).scalars()
    )


def load_lines(suggestions: list[Suggestion]) -> None:
    """Load the lines (with their SKUs) and the suppliers of a page of suggestions at once,
    rather than one query per suggestion."""
    ids = [s.id for s in suggestions]
    if ids:
        db.session.execute(
            select(Suggestion)
            .where(Suggestion.id.in_(ids))
            .options(
                selectinload(Suggestion.lines).selectinload(SuggestionLine.variant),
                selectinload(Suggestion.supplier),
            )
        ).scalars().all()


def order_numbers(suggestions: list[Suggestion]) -> dict[int, str]:
    """The number of the order each submitted suggestion became, by suggestion id."""
    from portal.ordering.models import Order

    order_ids = {s.order_id for s in suggestions if s.order_id}
    if not order_ids:
        return {}
    numbers: dict[int, str] = {
        order_id: number
        for order_id, number in db.session.execute(
            select(Order.id, Order.number).where(Order.id.in_(order_ids))
        )
    }
    return {s.id: numbers[s.order_id] for s in suggestions if s.order_id in numbers}


# -- for the pages (portal/replenishment/views.py) -----------------------------------------------


def list_supplied_suggestions(
    actor: Actor, *, status: str | None = None, page: int = 1, per_page: int = 50
) -> Page:
    """Suggestions the actor's org will receive as orders (a distributor's stores'), before they
    reach it."""
    stmt = (
        visible_suggestions(actor)
        .where(Suggestion.supplier_org_id == actor.org_id)
        .options(selectinload(Suggestion.location), selectinload(Suggestion.buyer))
    )
    if status:
        stmt = stmt.where(Suggestion.status == status)
    stmt = stmt.order_by(Suggestion.business_date.desc(), Suggestion.id.desc())
    return paginate(stmt, page, per_page)


def line_totals(suggestion_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Per suggestion: how many lines and units it proposes (0-unit lines not counted)."""
    if not suggestion_ids:
        return {}
    rows = db.session.execute(
        select(
            SuggestionLine.suggestion_id,
            func.count(SuggestionLine.id),
            func.coalesce(func.sum(SuggestionLine.qty), 0),
        )
        .where(SuggestionLine.suggestion_id.in_(suggestion_ids), SuggestionLine.qty > 0)
        .group_by(SuggestionLine.suggestion_id)
    ).all()
    return {sid: (int(lines), int(units)) for sid, lines, units in rows}


def lines_of(suggestion: Suggestion) -> list[SuggestionLine]:
    """The suggestion's lines with their SKU and product, in one round trip each."""
    return list(
        db.session.execute(
            select(SuggestionLine)
            .where(SuggestionLine.suggestion_id == suggestion.id)
            .options(selectinload(SuggestionLine.variant).selectinload(Variant.product))
            .order_by(SuggestionLine.id)
        ).scalars()
    )


def orgs_by_id(org_ids: Iterable[int]) -> dict[int, Organization]:
    """Brands and suppliers named on the pages (their code, name and currency)."""
    ids = sorted(set(org_ids))
    if not ids:
        return {}
    rows = db.session.execute(select(Organization).where(Organization.id.in_(ids))).scalars()
    return {org.id: org for org in rows}


def find_default_location(org_id: int) -> Location | None:
    """The org's default location if it has one (read-only: the service makes it on first use)."""
    return db.session.execute(
        select(Location).where(Location.org_id == org_id, Location.is_default.is_(True))
    ).scalar_one_or_none()


def regions(brand_id: int) -> list[str]:
    """The regions of the brand's network (HQ runs one at a time)."""
    return list(
        db.session.execute(
            select(ChannelLink.region)
            .where(ChannelLink.brand_id == brand_id, ChannelLink.region != "")
            .distinct()
            .order_by(ChannelLink.region)
        ).scalars()
    )


def levels(brand_id: int) -> list[str]:
    """The store levels of the brand's network (HQ's defaults are per level)."""
    return list(
        db.session.execute(
            select(ChannelLink.level)
            .where(ChannelLink.brand_id == brand_id, ChannelLink.level != "")
            .distinct()
            .order_by(ChannelLink.level)
        ).scalars()
    )


@dataclass(frozen=True)
class BelowMin:
    locations: int  # locations with at least one SKU below its minimum
    lines: int  # suggestion lines whose SKU was below its minimum


def below_min(brand_id: int, business_date: date, *, by: str = "region") -> dict[str, BelowMin]:
    """Per region (or supplier id, as a string, like `overview`): suggestion lines whose stock
    position was under the rule's minimum (days-of-cover rules: under the reorder point)."""
    group = ChannelLink.region if by == "region" else Suggestion.supplier_org_id
    position = SuggestionLine.reason["position"].as_float()
    minimum = func.coalesce(
        SuggestionLine.reason["min"].as_float(), SuggestionLine.reason["reorder_point"].as_float()
    )
    stmt = (
        select(
            group.label("key"),
            func.count(func.distinct(Suggestion.location_id)),
            func.count(SuggestionLine.id),
        )
        .join(SuggestionLine, SuggestionLine.suggestion_id == Suggestion.id)
        .join(
            ChannelLink,
            (ChannelLink.buyer_org_id == Suggestion.buyer_org_id)
            & (ChannelLink.brand_id == Suggestion.brand_id),
        )
        .where(
            Suggestion.brand_id == brand_id,
            Suggestion.business_date == business_date,
            position < minimum,
        )
        .group_by(group)
    )
    return {
        str(key or ""): BelowMin(int(locations), int(lines))
        for key, locations, lines in db.session.execute(stmt)
    }
