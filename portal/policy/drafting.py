"""Writing a policy: what a draft is written from, the checks it passes before anything is
stored, and the drafts themselves (create, edit, start the next version).

A draft is edited freely; a published version never changes, so editing one starts a new draft.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from portal.catalog.models import Category, Product, Variant
from portal.core import audit
from portal.core.access import Actor, Permission
from portal.core.db import utcnow
from portal.core.errors import NotFound, ValidationFailed
from portal.extensions import db
from portal.network.models import Organization
from portal.policy import consumer_terms, queries
from portal.policy.errors import AudienceEmpty, PolicyNotEditable
from portal.policy.floors import check_official_floor
from portal.policy.models import (
    PRICED_SECTIONS,
    AudienceKind,
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
    Section.OFFICIAL: (Scope.SKU, Scope.PRODUCT, Scope.CATEGORY, Scope.ALL),
    Section.OUTLET: (Scope.SKU, Scope.PRODUCT, Scope.CATEGORY, Scope.ALL),
    Section.EMPLOYEE: (Scope.SKU, Scope.PRODUCT, Scope.CATEGORY, Scope.ALL),
}
# The form field (and API name) under which an official price below its floor is reported.


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
    # the consumer programme's terms (policy/consumer_terms.py); {} sets none
    member_terms: dict[str, Any] = field(default_factory=dict)
    rebates: list[dict[str, Any]] = field(default_factory=list)
    rules: list[RuleInput] = field(default_factory=list)


# -- validation ----------------------------------------------------------------------------------


def ensure_brand_hq(actor: Actor, brand_id: int, permission: Permission) -> None:
    """A brand's policies are its HQ's to write: anyone else is told they do not exist (404), and
    an HQ role without `permission` is refused (403)."""
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
    window_start, window_end = _utc(data.order_window_start), _utc(data.order_window_end)
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
    if window_start is not None and window_end is not None and window_end <= window_start:
        errors["order_window_end"] = "The ordering window must end after it starts."
    for name in (
        "min_order_cents",
        "credit_limit_cents",
        "payment_terms_days",
    ):
        value = getattr(data, name)
        if value is not None and value < 0:
            errors[name] = "Must not be negative."
    if data.member_terms:
        if data.audience_kind != AudienceKind.ALL:
            errors["member_terms"] = "Only a policy addressed to everyone sets consumer terms."
        try:
            consumer_terms.parse(data.member_terms)
        except ValidationFailed as error:
            errors.update({f"member_terms.{k}": v for k, v in error.fields.items()})
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
            "order_window_start": window_start,
            "order_window_end": window_end,
            "credit_limit_cents": data.credit_limit_cents,
            "payment_terms_days": data.payment_terms_days,
            "member_terms": dict(data.member_terms or {}),
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
    ids: dict[str, dict[str, int]] = {
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
    if rule.section in PRICED_SECTIONS:
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
    check_official_floor(brand_id, rules)
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
    ensure_brand_hq(actor, brand_id, Permission.POLICY_MANAGE)
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
    ensure_brand_hq(actor, version.brand_id, Permission.POLICY_MANAGE)
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
    ensure_brand_hq(actor, version.brand_id, Permission.POLICY_MANAGE)
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
        member_terms=dict(latest.member_terms or {}),
    )
    db.session.add(draft)  # before anything below can autoflush the policy's versions
    for name in (
        "min_order_cents",
        "order_window_start",
        "order_window_end",
        "credit_limit_cents",
        "payment_terms_days",
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


def add_rules(actor: Actor, version: PolicyVersion, inputs: list[RuleInput]) -> PolicyVersion:
    """Add rule lines to a draft, checked as the editor checks them (a line that repeats one the
    draft has is refused like a line typed twice)."""
    ensure_brand_hq(actor, version.brand_id, Permission.POLICY_MANAGE)
    if not version.is_draft:
        raise PolicyNotEditable()
    added = _build_rules(version.brand_id, inputs)
    have = {(r.section, r.scope, r.variant_id, r.product_id, r.category_id) for r in version.rules}
    for rule in added:
        if (rule.section, rule.scope, rule.variant_id, rule.product_id, rule.category_id) in have:
            raise ValidationFailed(
                fields={"rules": f"The draft already has that {rule.section} line."}
            )
    check_official_floor(version.brand_id, [*version.rules, *added])
    version.rules.extend(added)
    db.session.flush()
    return version
