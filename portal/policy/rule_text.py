"""Rules and rebates as people type them (or paste them from a spreadsheet), one per line, and
back again for the editor."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from portal.core.errors import ValidationFailed
from portal.core.money import to_cents
from portal.policy import queries
from portal.policy.drafting import RuleInput
from portal.policy.models import PRICED_SECTIONS, PolicyVersion, Scope, Section


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

    price / floor / official / outlet / employee: ``<scope> <target> <amount or percent>`` e.g.
    ``category TOPS 55%``, ``sku ACME-TEE-BLK-M 89.50``, ``all 60%`` (not for floors);
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
    if section in PRICED_SECTIONS:
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
        if section in PRICED_SECTIONS:
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
