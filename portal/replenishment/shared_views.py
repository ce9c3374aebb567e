"""Common ground of the replenishment pages: the `replenishment` blueprint they all register on,
the labels of suggestion and run states that templates read, and the words that explain a rule
or why a line was suggested. Routes are in overview_views (lists, HQ's overview, running now),
suggestion_views (one suggestion) and rules_views; `views` imports them all for create_app.
The `_views` suffix puts these modules under the import contract's rule for pages: no other
package may import them.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from flask import Blueprint
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.core.access import Actor
from portal.core.errors import NotFound
from portal.core.jobs import JobStatus
from portal.network.models import ChannelLink
from portal.ordering import queries as ordering_queries
from portal.replenishment.jobs import business_today
from portal.replenishment.models import ReplenishmentRule, SuggestionLine, SuggestionStatus

bp = Blueprint("replenishment", __name__)

STATUS_LABELS = {
    SuggestionStatus.OPEN: _l("Waiting"),
    SuggestionStatus.SUBMITTED: _l("Submitted"),
    SuggestionStatus.DISMISSED: _l("Dismissed"),
}
RUN_LABELS = {
    JobStatus.QUEUED: _l("Queued"),
    JobStatus.STARTED: _l("Running"),
    JobStatus.FINISHED: _l("Finished"),
    JobStatus.FAILED: _l("Failed"),
}


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {"suggestion_labels": STATUS_LABELS, "run_labels": RUN_LABELS}


def today() -> date:
    """The business day the runs are keyed by (the portal's time zone), not UTC's: from 16:00
    UTC Shanghai is already on the next day."""
    return business_today()


def new_token() -> str:
    return str(uuid.uuid4())


def buying_link(actor: Actor, brand_code: str) -> ChannelLink:
    """The actor's org's link for a brand it buys; any other brand is a 404."""
    for link in ordering_queries.buyer_links(actor):
        if link.brand.code == brand_code:
            return link
    raise NotFound()


# -- reasons in words ----------------------------------------------------------------------------


def _number(value: Any, pattern: str = "#,##0.##") -> str:
    return format_decimal(value or 0, pattern)


def rule_words(rule: dict[str, Any]) -> str:
    """A rule (a line's reason, or a rule row's figures) as the buyer reads it."""
    if rule.get("cover_days") is not None:
        return _(
            "%(cover)s days of cover, %(lead)s days lead time, safety stock %(safety)s",
            cover=rule["cover_days"],
            lead=rule.get("lead_days") or 0,
            safety=rule.get("safety") or 0,
        )
    if rule.get("min") is not None:
        return _("Min %(min)s, max %(max)s", min=rule["min"], max=rule.get("max"))
    return _("Up to %(max)s", max=rule.get("max"))


def rule_figures(rule: ReplenishmentRule) -> dict[str, Any]:
    return {
        "min": rule.min_qty,
        "max": rule.max_qty,
        "cover_days": rule.cover_days,
        "lead_days": rule.lead_days,
        "safety": rule.safety_qty,
    }


def reason_words(line: SuggestionLine) -> list[str]:
    """Why the run proposed this line: rule, sales velocity, stock position, target, caps."""
    reason = line.reason or {}
    words = [
        rule_words(reason),
        _("Sells %(velocity)s a day", velocity=_number(reason.get("velocity"))),
        _(
            "On hand %(on_hand)s, reserved %(reserved)s, inbound %(inbound)s: "
            "position %(position)s",
            on_hand=reason.get("on_hand", 0),
            reserved=reason.get("reserved", 0),
            inbound=reason.get("inbound", 0),
            position=reason.get("position", 0),
        ),
        _("Target %(target)s", target=_number(reason.get("target"), "#,##0.#")),
    ]
    needed = reason.get("needed")
    if reason.get("capped"):
        if reason.get("capped_by") == "quota":
            words.append(_("Capped by the quota"))
        else:
            words.append(_("Capped by the supplier's stock"))
    elif needed is not None and line.suggested_qty > needed:
        words.append(
            _(
                "%(needed)s needed, rounded up to whole case packs and order multiples",
                needed=needed,
            )
        )
    return words


def below_min(line: SuggestionLine) -> bool:
    reason = line.reason or {}
    floor = reason.get("min")
    if floor is None:
        floor = reason.get("reorder_point")
    return floor is not None and reason.get("position", 0) < floor
