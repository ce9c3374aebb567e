"""Pages of the split settlement (portal/guides/split.py): a month's shares of consumer orders per
party and org, with every row as CSV. HQ sees its brand's whole division (brand, stores, guides'
stores, payment fee); a store owner sees only its own store's shares, in every brand it sells.
Also the order pages' partial (`splits/_order_split.html`), fed by a template function so the
storefront's own views never import this package."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Blueprint, Response, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.core.access import Actor, OrgKind, Permission, current_actor, find_actor, require
from portal.core.errors import NotFound
from portal.core.money import from_cents
from portal.core.spreadsheets import csv_bytes
from portal.finance.statements import CSV_MIMETYPE, portal_timezone
from portal.guides import split
from portal.guides.models import SplitParty
from portal.storefront.models import ConsumerOrder

bp = Blueprint("splits", __name__)

PARTY_LABELS = {
    SplitParty.BRAND: _l("Brand (its price to the store)"),
    SplitParty.FULFILLING_STORE: _l("Fulfilling store"),
    SplitParty.GUIDE_STORE: _l("Guide's store (commission)"),
    SplitParty.PAYMENT_FEE: _l("Payment fee"),
}


def _month() -> tuple[str, datetime, datetime]:
    """The month asked for ("2026-11"), else the current one, in the portal's time zone:
    its label, its first moment and the first moment after it."""
    tz = portal_timezone()
    today = datetime.now(tz).date()
    text = (request.args.get("month") or "").strip()[:7]
    try:
        year, month = (int(part) for part in text.split("-"))
        first = date(year, month, 1)
    except ValueError:
        first = today.replace(day=1)
    after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    start = datetime(first.year, first.month, 1, tzinfo=tz)
    end = datetime(after.year, after.month, 1, tzinfo=tz)
    return f"{first:%Y-%m}", start, end


def _scope(actor: Actor) -> tuple[int | None, int | None]:
    """(brand id, org id) the actor's view is limited to: HQ its brand, a store its org."""
    if actor.is_hq and actor.org_id is not None:
        return actor.org_id, None
    if actor.org_kind == OrgKind.STORE and actor.org_id is not None:
        return None, actor.org_id
    raise NotFound()  # a distributor has no share in a consumer sale


def _label(party: str) -> str:
    return str(PARTY_LABELS.get(SplitParty(party), party))


@bp.app_context_processor
def _order_split() -> dict[str, Any]:
    return {"order_split_lines": order_split_lines, "split_party_label": _label}


def order_split_lines(order: ConsumerOrder) -> list[split.SplitLine]:
    """The order's shares for its page, when the signed-in person may read money: HQ of the
    order's brand sees them all; a store with a share in it (the fulfilling store, the guide's
    store) sees its own only (another store's commission or margin is not its business).
    Nobody else sees any."""
    actor = find_actor()
    if actor is None or not actor.can(Permission.FINANCE_VIEW):
        return []
    if actor.is_hq:
        return split.order_lines(order) if actor.org_id == order.brand_id else []
    if actor.org_id is None:
        return []
    return [line for line in split.order_lines(order) if line.org_id == actor.org_id]


@bp.get("/splits")
@require(Permission.FINANCE_VIEW)
def index():
    actor = current_actor()
    brand_id, org_id = _scope(actor)
    month, start, end = _month()
    rows = split.period_totals(brand_id, start, end, org_id=org_id)
    totals = {
        "sale": sum(r.sale_cents for r in rows),
        "refund": sum(r.refund_cents for r in rows),
        "net": sum(r.net_cents for r in rows),
    }
    return render_template(
        "splits/index.html",
        rows=rows,
        totals=totals,
        month=month,
        is_hq=brand_id is not None,
        party_label=_label,
        brand_codes={k: v[0] for k, v in split.org_names({r.brand_id for r in rows}).items()},
    )


@bp.get("/splits.csv")
@require(Permission.FINANCE_VIEW)
def export():
    """Every share written in the month, one row each (sales and refunds), for reconciling."""
    actor = current_actor()
    brand_id, org_id = _scope(actor)
    month, start, end = _month()
    found = split.period_rows(brand_id, start, end, org_id=org_id)
    names = split.org_names({row.org_id for row, _number in found if row.org_id is not None})
    tz = portal_timezone()
    lines: list[list[Any]] = [
        [_("Date"), _("Order"), _("Party"), _("Org"), _("Kind"), _("Reference"), _("Amount")]
    ]
    for row, number in found:
        lines.append(
            [
                row.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                number,
                _label(row.party),
                names.get(row.org_id or 0, ("", ""))[0],
                row.kind,
                row.reference,
                from_cents(row.amount_cents, row.currency),
            ]
        )
    return Response(
        csv_bytes(lines),
        mimetype=CSV_MIMETYPE,
        headers={"Content-Disposition": f'attachment; filename="splits-{month}.csv"'},
    )
