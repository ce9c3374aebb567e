"""Writing and publishing channel policy, and what orgs do with what reaches their inbox.

A draft is edited freely; publishing freezes it, replaces the policy's previous version from the
new version's start, and fans it out to every targeted org through a job on the `push` queue.
Editing a published version starts a new draft: old versions stay readable, never change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, or_, select, update

from portal.catalog.models import Category, Product, Variant
from portal.core import audit, jobs
from portal.core.access import Actor, Permission
from portal.core.db import utcnow
from portal.core.errors import NotFound, ValidationFailed
from portal.core.money import to_cents
from portal.extensions import db
from portal.network.models import Organization
from portal.policy import queries
from portal.policy.delivery import advance_states
from portal.policy.errors import AudienceEmpty, PolicyNotEditable, PolicyOverlap
from portal.policy.jobs import deliver_policy, remind_unacknowledged
from portal.policy.models import (
    AudienceKind,
    Notification,
    Policy,
    PolicyAudience,
    PolicyRule,
    PolicyVersion,
    Scope,
    Section,
    VersionStatus,
)

CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,39}$")
REBATE_PERIODS = ("month", "quarter", "year")

# Which scopes each section accepts.
SECTION_SCOPES: dict[str, tuple[str, ...]] = {
    Section.PRICE: (Scope.SKU, Scope.PRODUCT, Scope.CATEGORY, Scope.ALL),
    Section.ORDER: (Scope.SKU, Scope.PRODUCT, Scope.CATEGORY, Scope.ALL),
    Section.FLOOR: (Scope.SKU, Scope.PRODUCT, Scope.CATEGORY),
    Section.EXCLUDE: (Scope.PRODUCT, Scope.CATEGORY),
}


@dataclass
class RuleInput:
    """One rule as written by a person or an API client; `where` names it in errors."""

    section: str
    scope: str
    target: str = ""
    price_cents: int | None = None
    percent_bp: int | None = None
    moq: int | None = None
    multiple: int | None = None
    where: str = "rules"


@dataclass
class PolicyInput:
    code: str
    name: str
    audience_kind: str = AudienceKind.ALL
    audience_values: list[str] = field(default_factory=list)  # levels, regions or org codes
    effective_from: datetime | None = None
    effective_to: datetime | None = None
    note: str = ""
    min_order_cents: int | None = None
    order_window_start: datetime | None = None
    order_window_end: datetime | None = None
    credit_limit_cents: int | None = None
    payment_terms_days: int | None = None
    outlet_discount_bp: int | None = None
    outlet_after_days: int | None = None
    employee_discount_bp: int | None = None
    per_person_limit: int | None = None
    rebates: list[dict[str, Any]] = field(default_factory=list)
    rules: list[RuleInput] = field(default_factory=list)


# -- parsing what people type --------------------------------------------------------------------


def parse_percent(text: str, where: str) -> int:
    """ "55%" or "55.5%" -> basis points."""
    try:
        value = Decimal(text.strip().rstrip("%"))
    except InvalidOperation as exc:
        raise ValidationFailed(fields={where: f"Not a percentage: {text!r}."}) from exc
    if not value.is_finite() or value <= 0 or value > 1000:
        raise ValidationFailed(fields={where: "A percentage must be above 0 and at most 1000%."})
    basis_points = value * 100
    if basis_points != basis_points.to_integral_value():  # never truncate silently
        raise ValidationFailed(fields={where: "A percentage has at most two decimals."})
    return int(basis_points)


def _amount_or_percent(text: str, where: str) -> tuple[int | None, int | None]:
    if text.strip().endswith("%"):
        return None, parse_percent(text, where)
    try:
        return to_cents(text), None
    except ValidationFailed as exc:
        raise ValidationFailed(fields={where: f"Not an amount: {text!r}."}) from exc


def _whole(text: str, where: str, name: str) -> int:
    try:
        return int(text)
    except ValueError as exc:
        raise ValidationFailed(fields={where: f"{name} must be a whole number."}) from exc


_SPLIT = re.compile(r"[\s,;]+")


def parse_rule_lines(section: str, text: str, *, label: str) -> list[RuleInput]:
    """Rules typed or pasted from a spreadsheet, one per line (tabs, commas or spaces):

    price / floor: ``<scope> <target> <amount or percent>`` e.g. ``category TOPS 55%``,
    ``sku ACME-TEE-BLK-M 89.50``, ``all 60%`` (price only);
    order: ``<scope> <target> <moq> [<multiple>]``; exclude: ``<scope> <target>``.
    Every bad line is reported (as "<label> line <n>"), not only the first.
    """
    rules = []
    errors: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{label} line {number}"
        try:
            rules.append(_parse_rule_line(section, line, where))
        except ValidationFailed as error:
            errors.update(error.fields)
    if errors:
        raise ValidationFailed(fields=errors)
    return rules


def _parse_rule_line(section: str, line: str, where: str) -> RuleInput:
    parts = [p for p in _SPLIT.split(line) if p]
    scope = parts[0].lower()
    if scope not in tuple(Scope):
        raise ValidationFailed(
            fields={where: f"Start with sku, product, category or all, not {parts[0]!r}."}
        )
    if scope == Scope.ALL:
        target, rest = "", parts[1:]
    else:
        target, rest = (parts[1] if len(parts) > 1 else ""), parts[2:]
    rule = RuleInput(section=section, scope=scope, target=target, where=where)
    if section in (Section.PRICE, Section.FLOOR):
        if len(rest) != 1:
            raise ValidationFailed(fields={where: "Give one amount or percentage."})
        rule.price_cents, rule.percent_bp = _amount_or_percent(rest[0], where)
    elif section == Section.ORDER:
        if not 1 <= len(rest) <= 2:
            raise ValidationFailed(fields={where: "Give the MOQ and optionally a multiple."})
        rule.moq = _whole(rest[0], where, "MOQ")
        rule.multiple = _whole(rest[1], where, "The multiple") if len(rest) > 1 else None
    elif rest:
        raise ValidationFailed(fields={where: "An exclusion names only what it excludes."})
    return rule


def parse_rebate_lines(text: str) -> list[dict[str, Any]]:
    """``<purchases above> <percent> <period>`` per line, e.g. ``1000000 2% quarter``."""
    rebates = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        where = f"rebates line {number}"
        parts = [p for p in _SPLIT.split(line) if p]
        if len(parts) != 3:
            raise ValidationFailed(fields={where: "Write: threshold percent period."})
        try:
            threshold = to_cents(parts[0])
        except ValidationFailed as exc:
            raise ValidationFailed(fields={where: f"Not an amount: {parts[0]!r}."}) from exc
        rebates.append(
            {
                "threshold_cents": threshold,
                "percent_bp": parse_percent(parts[1], where),
                "period": parts[2].lower(),
            }
        )
    return rebates


def format_rule_lines(version: PolicyVersion, section: str) -> str:
    """The inverse of parse_rule_lines, to put a version's rules back into the editor."""
    from portal.core.money import from_cents

    lines = []
    rules = [r for r in version.rules if r.section == section]
    targets = queries.rule_targets(rules)
    for rule in rules:
        head = rule.scope if rule.scope == Scope.ALL else f"{rule.scope} {targets[rule.id]}"
        if section in (Section.PRICE, Section.FLOOR):
            value = (
                f"{Decimal(rule.percent_bp) / 100:f}%"
                if rule.percent_bp is not None
                else f"{from_cents(rule.price_cents or 0):f}"
            )
            lines.append(f"{head} {value}")
        elif section == Section.ORDER:
            lines.append(f"{head} {rule.moq or 1}" + (f" {rule.multiple}" if rule.multiple else ""))
        else:
            lines.append(head)
    return "\n".join(lines)


def format_rebate_lines(version: PolicyVersion) -> str:
    from portal.core.money import from_cents

    return "\n".join(
        f"{from_cents(r['threshold_cents']):f} {Decimal(r['percent_bp']) / 100:f}% {r['period']}"
        for r in version.rebates or []
    )


# -- validation ----------------------------------------------------------------------------------


def _ensure_hq(actor: Actor, brand_id: int, permission: Permission) -> None:
    if not queries.is_brand_hq(actor, brand_id):
        raise NotFound()
    actor.ensure(permission)


def _utc(value: datetime | None) -> datetime | None:
    """Naive datetimes (CLI, seed, scripts) are UTC: never compare naive with aware."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _check_fields(brand_id: int, data: PolicyInput) -> dict[str, Any]:
    """Validate everything but the rules; return the version's column values."""
    errors: dict[str, str] = {}
    start, end = _utc(data.effective_from), _utc(data.effective_to)
    window = (_utc(data.order_window_start), _utc(data.order_window_end))
    if not data.name.strip():
        errors["name"] = "Give the policy a name."
    if data.audience_kind not in tuple(AudienceKind):
        errors["audience_kind"] = "Choose all, level, region or orgs."
    values = sorted({v.strip() for v in data.audience_values if v.strip()})
    if data.audience_kind != AudienceKind.ALL and not values:
        errors["audience_values"] = "Name at least one level, region or org."
    if start is None:
        errors["effective_from"] = "Say when the policy starts."
    elif end is not None and end <= start:
        errors["effective_to"] = "The end must be after the start."
    if all(window) and window[1] <= window[0]:
        errors["order_window_end"] = "The ordering window must end after it starts."
    for name in (
        "min_order_cents",
        "credit_limit_cents",
        "payment_terms_days",
        "outlet_after_days",
    ):
        value = getattr(data, name)
        if value is not None and value < 0:
            errors[name] = "Must not be negative."
    for name in ("outlet_discount_bp", "employee_discount_bp"):
        value = getattr(data, name)
        if value is not None and not 0 <= value <= 10_000:
            errors[name] = "A discount is between 0 and 100%."
    if data.per_person_limit is not None and data.per_person_limit < 1:
        errors["per_person_limit"] = "A per-person limit is at least 1."
    for index, rebate in enumerate(data.rebates):
        if rebate.get("period") not in REBATE_PERIODS:
            errors[f"rebates[{index}]"] = f"The period is one of {', '.join(REBATE_PERIODS)}."
            continue
        try:
            usable = int(rebate["threshold_cents"]) >= 0 and int(rebate["percent_bp"]) > 0
        except (KeyError, TypeError, ValueError):
            usable = False
        if not usable:
            errors[f"rebates[{index}]"] = "A rebate needs a threshold ≥ 0 and a percentage > 0."
    if errors:
        raise ValidationFailed(fields=errors)
    stored_values = values
    if data.audience_kind == AudienceKind.ORGS:
        stored_values = _org_ids(brand_id, values)
    elif data.audience_kind in (AudienceKind.LEVEL, AudienceKind.REGION):
        _check_link_values(brand_id, data.audience_kind, values)
    return {
        "audience_values": stored_values,
        "columns": {
            "audience_kind": data.audience_kind,
            "effective_from": start,
            "effective_to": end,
            "note": data.note.strip(),
            "min_order_cents": data.min_order_cents,
            "order_window_start": window[0],
            "order_window_end": window[1],
            "credit_limit_cents": data.credit_limit_cents,
            "payment_terms_days": data.payment_terms_days,
            "outlet_discount_bp": data.outlet_discount_bp,
            "outlet_after_days": data.outlet_after_days,
            "employee_discount_bp": data.employee_discount_bp,
            "per_person_limit": data.per_person_limit,
            "rebates": [
                {
                    "threshold_cents": int(r["threshold_cents"]),
                    "percent_bp": int(r["percent_bp"]),
                    "period": r["period"],
                }
                for r in data.rebates
            ],
        },
    }


def _check_link_values(brand_id: int, kind: str, values: list[str]) -> None:
    """Every level or region named must exist in the brand's network: a typo ("AA") would
    otherwise be kept silently and target nobody."""
    from portal.network.models import ChannelLink

    column = ChannelLink.level if kind == AudienceKind.LEVEL else ChannelLink.region
    known = set(
        db.session.execute(
            select(column).where(ChannelLink.brand_id == brand_id, column.in_(values)).distinct()
        ).scalars()
    )
    unknown = [v for v in values if v not in known]
    if unknown:
        raise AudienceEmpty(
            fields={"audience_values": f"No distributor or store has {kind} {', '.join(unknown)}."}
        )


def _org_ids(brand_id: int, codes: list[str]) -> list[str]:
    """Named orgs must buy from the brand; stored by id so a renamed code keeps its rules."""
    from portal.network.models import ChannelLink

    wanted = {c.upper() for c in codes}
    rows = db.session.execute(
        select(Organization.code, Organization.id)
        .join(ChannelLink, ChannelLink.buyer_org_id == Organization.id)
        .where(ChannelLink.brand_id == brand_id, Organization.code.in_(wanted))
    ).all()
    found = {code: org_id for code, org_id in rows}
    unknown = sorted(wanted - set(found))
    if unknown:
        raise ValidationFailed(
            fields={"audience_values": f"Not in this brand's network: {', '.join(unknown)}."}
        )
    return sorted(str(found[c]) for c in wanted)


def _build_rules(brand_id: int, inputs: list[RuleInput]) -> list[PolicyRule]:
    """Resolve rule targets with one query per kind; refuse unknown codes and bad values,
    naming every bad line or item (nothing is stored unless all are good)."""
    errors: dict[str, str] = {}
    by_scope: dict[str, set[str]] = {Scope.SKU: set(), Scope.PRODUCT: set(), Scope.CATEGORY: set()}
    for rule in inputs:
        if rule.section not in tuple(Section):
            errors[rule.where] = f"Unknown section {rule.section!r}."
        elif rule.scope not in SECTION_SCOPES[rule.section]:
            allowed = ", ".join(SECTION_SCOPES[rule.section])
            errors[rule.where] = f"A {rule.section} rule applies to: {allowed}."
        elif rule.scope != Scope.ALL and not rule.target.strip():
            errors[rule.where] = f"Name the {rule.scope}."
        elif rule.scope != Scope.ALL:
            by_scope[rule.scope].add(rule.target.strip().upper())
    ids = {
        Scope.SKU: _ids(Variant, Variant.sku, brand_id, by_scope[Scope.SKU]),
        Scope.PRODUCT: _ids(Product, Product.code, brand_id, by_scope[Scope.PRODUCT]),
        Scope.CATEGORY: _ids(Category, Category.code, brand_id, by_scope[Scope.CATEGORY]),
    }
    rules: list[PolicyRule] = []
    seen: set[tuple[str, str, str]] = set()
    for rule in inputs:
        if rule.where in errors:
            continue
        target = rule.target.strip().upper() if rule.scope != Scope.ALL else ""
        key = (rule.section, rule.scope, target)
        row = PolicyRule(brand_id=brand_id, section=rule.section, scope=rule.scope)
        try:
            if key in seen:
                named = f"{rule.scope} {target}".strip()
                raise ValidationFailed(
                    fields={rule.where: f"{named} appears twice in {rule.section}."}
                )
            seen.add(key)
            _check_values(rule)
            if rule.scope != Scope.ALL:
                found = ids[rule.scope].get(target)
                if found is None:
                    raise ValidationFailed(fields={rule.where: f"Unknown {rule.scope}: {target}."})
                setattr(row, f"{'variant' if rule.scope == Scope.SKU else rule.scope}_id", found)
        except ValidationFailed as error:
            errors.update(error.fields)
            continue
        row.price_cents, row.percent_bp = rule.price_cents, rule.percent_bp
        row.moq, row.multiple = rule.moq, rule.multiple
        rules.append(row)
    if errors:
        raise ValidationFailed(fields=errors)
    return rules


def _check_values(rule: RuleInput) -> None:
    if rule.section in (Section.PRICE, Section.FLOOR):
        if (rule.price_cents is None) == (rule.percent_bp is None):
            raise ValidationFailed(fields={rule.where: "Give either an amount or a percentage."})
        if rule.price_cents is not None and rule.price_cents < 0:
            raise ValidationFailed(fields={rule.where: "A price cannot be below zero."})
        if rule.percent_bp is not None and not 0 < rule.percent_bp <= 100_000:
            raise ValidationFailed(fields={rule.where: "A percentage is above 0 and ≤ 1000%."})
        rule.moq = rule.multiple = None
    elif rule.section == Section.ORDER:
        if rule.moq is None or rule.moq < 1:
            raise ValidationFailed(fields={rule.where: "The MOQ must be at least 1."})
        if rule.multiple is not None and rule.multiple < 1:
            raise ValidationFailed(fields={rule.where: "The order multiple must be at least 1."})
        rule.price_cents = rule.percent_bp = None
    else:
        rule.price_cents = rule.percent_bp = rule.moq = rule.multiple = None


def _ids(model: Any, code_col: Any, brand_id: int, codes: set[str]) -> dict[str, int]:
    if not codes:
        return {}
    found: dict[str, int] = {}
    wanted = sorted(codes)
    for start in range(0, len(wanted), 1000):
        chunk = wanted[start : start + 1000]
        rows = db.session.execute(
            select(code_col, model.id).where(model.brand_id == brand_id, code_col.in_(chunk))
        )
        found.update({code: row_id for code, row_id in rows})
    return found


def _fill(version: PolicyVersion, brand_id: int, data: PolicyInput) -> None:
    """Check everything first, then change the version: a refused draft is left as it was."""
    checked = _check_fields(brand_id, data)
    rules = _build_rules(brand_id, data.rules)
    targets = queries.audience_links_by_values(
        brand_id, data.audience_kind, checked["audience_values"]
    )
    if db.session.execute(targets.limit(1)).first() is None:
        raise AudienceEmpty(fields={"audience_values": AudienceEmpty.message})
    for name, value in checked["columns"].items():
        setattr(version, name, value)
    # Keep the rows of values that stay: the flush inserts before it deletes, so a new row with
    # a value the version already has would break the (version, value) unique constraint.
    existing = {a.value: a for a in version.audience}
    audience = []
    for value in checked["audience_values"] or ["*"]:
        row = existing.get(value) or PolicyAudience(brand_id=brand_id, value=value)
        row.kind = data.audience_kind
        audience.append(row)
    version.audience = audience
    version.rules = rules


# -- writing -------------------------------------------------------------------------------------


def create_policy(actor: Actor, brand_id: int, data: PolicyInput) -> PolicyVersion:
    """Start a policy as a draft (version 1). Codes are unique per brand."""
    _ensure_hq(actor, brand_id, Permission.POLICY_MANAGE)
    code = data.code.strip().upper()
    if not CODE_RE.match(code):
        raise ValidationFailed(fields={"code": "Use letters, digits, - and _ (up to 40)."})
    if queries.find_policy(brand_id, code) is not None:
        raise ValidationFailed(fields={"code": f"The policy {code} already exists."})
    policy = Policy(brand_id=brand_id, code=code, name=data.name.strip())
    version = PolicyVersion(
        policy=policy,
        brand_id=brand_id,
        number=1,
        status=VersionStatus.DRAFT,
        created_by_user_id=actor.user_id,
    )
    _fill(version, brand_id, data)
    db.session.add(policy)
    db.session.flush()
    audit.record(actor, "policy.created", brand_id=brand_id, policy=code, version=1)
    return version


def update_draft(actor: Actor, version: PolicyVersion, data: PolicyInput) -> PolicyVersion:
    """Replace a draft's content. A published version never changes (PolicyNotEditable)."""
    _ensure_hq(actor, version.brand_id, Permission.POLICY_MANAGE)
    if not version.is_draft:
        raise PolicyNotEditable()
    _fill(version, version.brand_id, data)  # checks everything before changing anything
    version.policy.name = data.name.strip() or version.policy.name
    db.session.flush()
    audit.record(
        actor,
        "policy.draft_updated",
        brand_id=version.brand_id,
        policy=version.policy.code,
        version=version.number,
    )
    return version


def revise_policy(actor: Actor, version: PolicyVersion) -> PolicyVersion:
    """Start the next version as a draft copy of the latest one (or return the open draft)."""
    _ensure_hq(actor, version.brand_id, Permission.POLICY_MANAGE)
    latest = max(version.policy.versions, key=lambda v: v.number)
    if latest.is_draft:
        return latest
    draft = PolicyVersion(
        policy=latest.policy,  # through the relationship, so policy.versions sees the draft
        brand_id=latest.brand_id,
        number=latest.number + 1,
        status=VersionStatus.DRAFT,
        created_by_user_id=actor.user_id,
        audience_kind=latest.audience_kind,
        effective_from=max(utcnow(), latest.effective_from),
        effective_to=latest.effective_to,
        note="",
        rebates=list(latest.rebates or []),
    )
    db.session.add(draft)  # before anything below can autoflush the policy's versions
    for name in (
        "min_order_cents",
        "order_window_start",
        "order_window_end",
        "credit_limit_cents",
        "payment_terms_days",
        "outlet_discount_bp",
        "outlet_after_days",
        "employee_discount_bp",
        "per_person_limit",
    ):
        setattr(draft, name, getattr(latest, name))
    draft.audience = [
        PolicyAudience(brand_id=a.brand_id, kind=a.kind, value=a.value) for a in latest.audience
    ]
    draft.rules = [
        PolicyRule(
            brand_id=r.brand_id,
            section=r.section,
            scope=r.scope,
            variant_id=r.variant_id,
            product_id=r.product_id,
            category_id=r.category_id,
            price_cents=r.price_cents,
            percent_bp=r.percent_bp,
            moq=r.moq,
            multiple=r.multiple,
        )
        for r in latest.rules
    ]
    db.session.flush()
    audit.record(
        actor,
        "policy.revised",
        brand_id=draft.brand_id,
        policy=latest.policy.code,
        version=draft.number,
    )
    return draft


def _overlapping(version: PolicyVersion, start: datetime) -> PolicyVersion | None:
    """Another policy's published version with the same audience kind, a shared value and an
    overlapping window [start, effective_to): two rules of equal rank would compete, so
    publishing is refused."""
    values = [a.value for a in version.audience]
    far = version.effective_to
    stmt = (
        select(PolicyVersion)
        .join(PolicyAudience, PolicyAudience.version_id == PolicyVersion.id)
        .where(
            PolicyVersion.brand_id == version.brand_id,
            PolicyVersion.policy_id != version.policy_id,
            PolicyVersion.status.in_(queries.LIVE_STATUSES),
            PolicyVersion.audience_kind == version.audience_kind,
            PolicyAudience.value.in_(values),
            or_(
                PolicyVersion.effective_to.is_(None),
                PolicyVersion.effective_to > start,
            ),
        )
    )
    if far is not None:
        stmt = stmt.where(PolicyVersion.effective_from < far)
    return db.session.execute(stmt.limit(1)).scalar_one_or_none()


PUBLISH_LOCK_SPACE = 3  # first key of PostgreSQL advisory locks taken while publishing


def _lock_brand_publishing(brand_id: int) -> None:
    """Publishes of one brand run one at a time, so two overlapping policies published at the
    same moment cannot both pass the overlap check. PostgreSQL: a transaction-scoped advisory
    lock; SQLite: a writing transaction already holds the only write lock."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(func.pg_advisory_xact_lock(PUBLISH_LOCK_SPACE, brand_id)))


def publish_policy(actor: Actor, version: PolicyVersion) -> PolicyVersion:
    """Freeze a draft and push it to its audience (a fan-out job on the push queue).

    Refuses an audience that matches nobody and a window that overlaps another policy with the
    same audience. The policy's earlier versions end where this one starts.
    """
    _ensure_hq(actor, version.brand_id, Permission.POLICY_PUBLISH)
    if not version.is_draft:
        raise PolicyNotEditable("This version is already published.")
    now = utcnow()
    if version.effective_to is not None and version.effective_to <= now:
        raise ValidationFailed(fields={"effective_to": "The window has already ended."})
    names = (*queries.ORDER_FIELDS, "order_window_start", "order_window_end")
    terms = [getattr(version, name) for name in names]
    if not version.rules and not version.rebates and all(value is None for value in terms):
        raise ValidationFailed(fields={"rules": "The policy says nothing yet: add rules or terms."})
    targeted = queries.count_audience(version)
    if targeted == 0:
        raise AudienceEmpty(fields={"audience_values": AudienceEmpty.message})
    # A policy never takes effect in the past: it starts when published at the earliest, and it
    # is that window which must not overlap (a start typed in the past must not collide with a
    # policy that has ended since).
    start = max(version.effective_from, now)
    _lock_brand_publishing(version.brand_id)
    other = _overlapping(version, start)
    if other is not None:
        raise PolicyOverlap(
            f"{other.policy.code} v{other.number} already targets this audience "
            f"({queries.audience_label(other)}) in an overlapping window.",
            fields={"effective_from": "Overlaps " + other.label},
        )
    version.effective_from = start
    version.status = (
        VersionStatus.ACTIVE if version.effective_from <= now else VersionStatus.SCHEDULED
    )
    version.published_at = now
    version.published_by_user_id = actor.user_id
    version.targeted_count = targeted
    # Earlier versions of the same policy stop where this one begins.
    db.session.execute(
        update(PolicyVersion)
        .where(
            PolicyVersion.policy_id == version.policy_id,
            PolicyVersion.id != version.id,
            PolicyVersion.status.in_(queries.LIVE_STATUSES),
            or_(
                PolicyVersion.effective_to.is_(None),
                PolicyVersion.effective_to > version.effective_from,
            ),
        )
        .values(effective_to=version.effective_from)
        .execution_options(synchronize_session="fetch")
    )
    advance_states(now=now, brand_id=version.brand_id)
    run = jobs.enqueue(
        deliver_policy,
        version.id,
        key=f"policy-delivery:{version.id}",
        org_id=actor.org_id,
        brand_id=version.brand_id,
        user_id=actor.user_id,
        title=f"Deliver {version.label}",
    )
    version.fanout_job_id = run.id
    db.session.flush()
    audit.record(
        actor,
        "policy.published",
        brand_id=version.brand_id,
        policy=version.policy.code,
        version=version.number,
        targeted=targeted,
    )
    return version


def mark_read(actor: Actor, notification: Notification) -> Notification:
    """Opening an inbox item marks it read for the org (the first reader is kept)."""
    if notification.org_id != actor.org_id:
        raise NotFound()
    if notification.read_at is None:
        notification.read_at = utcnow()
        notification.read_by_user_id = actor.user_id
    return notification


def acknowledge(actor: Actor, notification: Notification) -> Notification:
    """The org confirms it has taken note of the policy; repeating it changes nothing."""
    if notification.org_id != actor.org_id:
        raise NotFound()
    actor.ensure(Permission.INBOX_ACK)
    mark_read(actor, notification)
    if notification.acknowledged_at is None:
        notification.acknowledged_at = utcnow()
        notification.acknowledged_by_user_id = actor.user_id
        audit.record(
            actor,
            "policy.acknowledged",
            org_id=actor.org_id,
            brand_id=notification.brand_id,
            version_id=notification.version_id,
        )
    return notification


def remind(actor: Actor, version: PolicyVersion) -> jobs.JobRun:
    """E-mail the admins of every org that has not acknowledged yet (a job on the push queue).
    Clicking twice within a minute sends one reminder."""
    _ensure_hq(actor, version.brand_id, Permission.POLICY_PUBLISH)
    if version.is_draft:
        raise PolicyNotEditable("Publish the policy before sending reminders.")
    stamp = utcnow().strftime("%Y%m%dT%H%M")
    audit.record(actor, "policy.reminded", brand_id=version.brand_id, version_id=version.id)
    return jobs.enqueue(
        remind_unacknowledged,
        version.id,
        utcnow().isoformat(),
        key=f"policy-reminder:{version.id}:{stamp}",
        org_id=actor.org_id,
        brand_id=version.brand_id,
        user_id=actor.user_id,
        title=f"Remind {version.label}",
    )
