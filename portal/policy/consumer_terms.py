"""The consumer programme's terms, as HQ publishes them in policy (DESIGN §7): member levels,
points, invites, per-person limits, tier moves, and the shopping guides' attribution and
commission.

They live on a policy version for everyone (`PolicyVersion.member_terms`, a JSON object of
sections), so they are published, dated and replaced like the retail prices beside them. The
brand's live version for everyone sets them (publishing allows one such version at a time); a
section it leaves out, or a brand that sets none, gets `DEFAULTS`.

`parse(data)` checks a terms object and names the field of every mistake
(`levels.1.min_spend_cents`); `terms_for(brand_id)` is what the rules read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from portal.core.db import utcnow
from portal.core.errors import ValidationFailed
from portal.extensions import db
from portal.policy.models import AudienceKind, PolicyVersion
from portal.policy.queries.resolution import live_condition

SECTIONS = (
    "levels", "points", "invites", "limits", "tier_moves", "guides", "commission", "campaigns"
)  # fmt: skip
TIERS = ("official", "outlet", "employee")


@dataclass(frozen=True)
class Level:
    """A member level: reached with `min_spend_cents` spent in the last 12 months."""

    code: str
    name: str
    min_spend_cents: int
    outlet_discount_bp: int = 0  # off the outlet price, in basis points (1000 = 10%)
    points_multiplier_bp: int = 10000  # 10000 = points earned as the tier says, 15000 = 1.5x


@dataclass(frozen=True)
class PointsTerms:
    per_yuan: dict[str, int] = field(
        default_factory=lambda: {"official": 1, "outlet": 1, "employee": 0}
    )  # points earned per whole yuan paid, per tier
    category_multiplier_bp: dict[str, int] = field(default_factory=dict)  # category code -> bp
    cents_per_point: int = 1  # what a redeemed point is worth (1: 100 points = 1 yuan)
    redeem_cap_bp: int = 2000  # points pay at most this share of an order's goods
    expire_after_years: int = 1  # points earned in year Y expire at the end of year Y + this


@dataclass(frozen=True)
class InviteTerms:
    quota_per_year: int = 5  # friends an employee may invite in a calendar year
    code_days: int = 30  # a code's life
    code_uses: int = 1  # how many friends one code lets in


@dataclass(frozen=True)
class LimitTerms:
    """Per person, in the employee store (a private sale may set tighter ones of its own)."""

    units_per_sku: int | None = 5
    amount_per_period_cents: int | None = 500_000
    period_days: int = 30


@dataclass(frozen=True)
class TierMoveTerms:
    """When a SKU moves down the tiers by itself (None: never by that rule)."""

    outlet_after_weeks: int | None = 26  # weeks after its product's launch date
    sell_through_below_bp: int | None = 3000  # ... or sold less than this share of what came in
    sell_through_after_weeks: int | None = 8  # ... once it has been out this long
    employee_after_weeks: int | None = 26  # weeks in the outlet before the employee store


BINDINGS = ("none", "first_purchase", "first_visit", "registration")


@dataclass(frozen=True)
class GuideTerms:
    """Which guide a sale counts for: (1) a guide code given at checkout; else (2) the last
    guide link the consumer opened within `window_days`; else (3) the guide they are bound to.
    How a consumer becomes bound (`binding`: none, on their first purchase through a guide's
    link, on the first guide link they open, or at registration with a guide's code) and for
    how long (`binding_days`; empty: until another binding replaces it)."""

    window_days: int = 7
    binding: str = "first_purchase"
    binding_days: int | None = 365
    own_purchase_earns: bool = False  # a guide's own purchases earn them commission
    cross_brand: bool = False  # guides of the brands sharing this membership sell our goods


@dataclass(frozen=True)
class CommissionTerms:
    """What a guide earns on a sale they are credited with, under the selling brand's terms: a
    share of what the consumer paid for the goods, in basis points (the category's rate if set,
    else the tier's, else `rate_bp`), plus `per_unit_cents` for each unit; and
    `new_member_bonus_cents` for each member they sign up."""

    rate_bp: int = 300
    tier_rate_bp: dict[str, int] = field(default_factory=dict)  # tier -> bp
    category_rate_bp: dict[str, int] = field(default_factory=dict)  # category code -> bp
    per_unit_cents: int = 0
    new_member_bonus_cents: int = 0

    def rate_for(self, tier: str, category_code: str | None) -> int:
        if category_code is not None and category_code in self.category_rate_bp:
            return self.category_rate_bp[category_code]
        return self.tier_rate_bp.get(tier, self.rate_bp)


@dataclass(frozen=True)
class CampaignTerms:
    """Which campaign tools the brand uses (some refuse social fission to keep prices stable):
    live-sale events, group buys (拼团) and red packets (红包), each off until the brand turns
    it on; a red packet is split into `red_packet_min_coupons` to `red_packet_max_coupons`
    coupons; a group buy's group has `group_size_max` people at most."""

    live_events: bool = False
    group_buys: bool = False
    red_packets: bool = False
    red_packet_min_coupons: int = 2
    red_packet_max_coupons: int = 100
    group_size_max: int = 10


@dataclass(frozen=True)
class ProgramTerms:
    levels: tuple[Level, ...]
    points: PointsTerms
    invites: InviteTerms
    limits: LimitTerms
    tier_moves: TierMoveTerms
    guides: GuideTerms = GuideTerms()
    commission: CommissionTerms = CommissionTerms()
    campaigns: CampaignTerms = CampaignTerms()

    def level(self, code: str | None) -> Level:
        """The level of that code, or the first (lowest) when it is unknown."""
        for level in self.levels:
            if level.code == code:
                return level
        return self.levels[0]

    def level_for_spend(self, cents: int) -> Level:
        reached = [level for level in self.levels if cents >= level.min_spend_cents]
        return reached[-1] if reached else self.levels[0]

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["levels"] = list(data["levels"])
        return data


DEFAULT_LEVELS = (
    Level("member", "Member", 0, 0, 10000),
    Level("silver", "Silver", 200_000, 500, 12000),
    Level("gold", "Gold", 800_000, 1000, 15000),
)
DEFAULTS = ProgramTerms(DEFAULT_LEVELS, PointsTerms(), InviteTerms(), LimitTerms(), TierMoveTerms())


def terms_for(brand_id: int, at: datetime | None = None) -> ProgramTerms:
    """The brand's terms now: each section from the newest live version for everyone that sets
    it (normally the one live version), else the default."""
    at = at or utcnow()
    rows = db.session.execute(
        select(PolicyVersion.member_terms)
        .where(
            PolicyVersion.brand_id == brand_id,
            PolicyVersion.audience_kind == AudienceKind.ALL,
            live_condition(at),
        )
        .order_by(PolicyVersion.effective_from.desc(), PolicyVersion.id.desc())
    ).scalars()
    merged: dict[str, Any] = {}
    for data in rows:
        for section in SECTIONS:
            if section not in merged and isinstance(data, dict) and section in data:
                merged[section] = data[section]
    if not merged:
        return DEFAULTS
    try:
        return parse(merged)
    except ValidationFailed:
        return DEFAULTS  # published terms were checked when saved; an old shape falls back


def parse(data: Any) -> ProgramTerms:
    """Check a terms object (sections may be missing: their defaults apply). Raises
    ValidationFailed naming every wrong field."""
    errors: dict[str, str] = {}
    if not isinstance(data, dict):
        raise ValidationFailed(fields={"member_terms": "An object of sections."})
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        errors["member_terms"] = f"Unknown sections: {', '.join(unknown)}."
    levels = _levels(data.get("levels"), errors) if "levels" in data else DEFAULTS.levels
    points = _section(data, "points", PointsTerms, errors)
    invites = _section(data, "invites", InviteTerms, errors)
    limits = _section(data, "limits", LimitTerms, errors)
    moves = _section(data, "tier_moves", TierMoveTerms, errors)
    guides = _section(data, "guides", GuideTerms, errors)
    commission = _section(data, "commission", CommissionTerms, errors)
    campaigns = _section(data, "campaigns", CampaignTerms, errors)
    if not errors and campaigns.red_packet_max_coupons < campaigns.red_packet_min_coupons:
        errors["campaigns.red_packet_max_coupons"] = "At least red_packet_min_coupons."
    if errors:
        raise ValidationFailed("The programme terms have mistakes.", fields=errors)
    return ProgramTerms(levels, points, invites, limits, moves, guides, commission, campaigns)


def _int(value: Any, where: str, errors: dict[str, str], *, low: int = 0, high: int = 10**12,
         optional: bool = False) -> int | None:  # fmt: skip
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        errors[where] = f"A whole number from {low} to {high}" + (
            ", or empty." if optional else "."
        )
        return None
    return value


def _levels(value: Any, errors: dict[str, str]) -> tuple[Level, ...]:
    if not isinstance(value, list) or not value or len(value) > 10:
        errors["levels"] = "From 1 to 10 levels."
        return DEFAULTS.levels
    levels: list[Level] = []
    codes: set[str] = set()
    for i, item in enumerate(value):
        where = f"levels.{i}"
        if not isinstance(item, dict):
            errors[where] = "A level is an object."
            continue
        code = str(item.get("code") or "").strip()
        if not code or len(code) > 20 or code in codes:
            errors[f"{where}.code"] = "A short code, different for each level."
        codes.add(code)
        name = str(item.get("name") or code).strip()[:60]
        spend = _int(item.get("min_spend_cents"), f"{where}.min_spend_cents", errors)
        discount = _int(
            item.get("outlet_discount_bp", 0), f"{where}.outlet_discount_bp", errors, high=9000
        )
        multiplier = _int(
            item.get("points_multiplier_bp", 10000),
            f"{where}.points_multiplier_bp",
            errors,
            high=100000,
        )
        levels.append(Level(code, name, spend or 0, discount or 0, multiplier or 0))
    if levels and levels[0].min_spend_cents != 0:
        errors["levels.0.min_spend_cents"] = "The first level starts at 0: every member has one."
    for i in range(1, len(levels)):
        if levels[i].min_spend_cents <= levels[i - 1].min_spend_cents:
            errors[f"levels.{i}.min_spend_cents"] = (
                "Each level needs more spend than the one before."
            )
    return tuple(levels)


_LIMITS: dict[str, tuple[int, int]] = {
    "cents_per_point": (1, 10000),
    "redeem_cap_bp": (0, 10000),
    "expire_after_years": (0, 10),
    "quota_per_year": (0, 1000),
    "code_days": (1, 365),
    "code_uses": (1, 100),
    "units_per_sku": (1, 1000),
    "amount_per_period_cents": (1, 10**10),
    "period_days": (1, 366),
    "outlet_after_weeks": (1, 520),
    "sell_through_below_bp": (1, 10000),
    "sell_through_after_weeks": (1, 520),
    "employee_after_weeks": (1, 520),
    "window_days": (1, 30),
    "binding_days": (1, 3650),
    "rate_bp": (0, 5000),
    "per_unit_cents": (0, 100_000),
    "new_member_bonus_cents": (0, 100_000),
    "red_packet_min_coupons": (1, 1000),
    "red_packet_max_coupons": (1, 1000),
    "group_size_max": (2, 100),
}
_OPTIONAL = {
    "units_per_sku",
    "amount_per_period_cents",
    "outlet_after_weeks",
    "sell_through_below_bp",
    "sell_through_after_weeks",
    "employee_after_weeks",
    "binding_days",
}
_FLAGS = {"own_purchase_earns", "cross_brand", "live_events", "group_buys", "red_packets"}


def _section(data: dict[str, Any], name: str, kind: type, errors: dict[str, str]) -> Any:
    default = getattr(DEFAULTS, name)
    if name not in data:
        return default
    value = data[name]
    if not isinstance(value, dict):
        errors[name] = "An object."
        return default
    values = asdict(default)
    for key, given in value.items():
        where = f"{name}.{key}"
        if key not in values:
            errors[where] = "Unknown setting."
        elif key == "per_yuan":
            values[key] = _per_tier(given, where, errors)
        elif key in ("category_multiplier_bp", "category_rate_bp"):
            high = 5000 if key == "category_rate_bp" else 100000
            values[key] = _per_category(given, where, errors, high=high)
        elif key == "tier_rate_bp":
            values[key] = _rates_per_tier(given, where, errors)
        elif key in _FLAGS:
            if not isinstance(given, bool):
                errors[where] = "true or false."
            else:
                values[key] = given
        elif key == "binding":
            if given not in BINDINGS:
                errors[where] = f"One of: {', '.join(BINDINGS)}."
            else:
                values[key] = given
        else:
            low, high = _LIMITS[key]
            values[key] = _int(given, where, errors, low=low, high=high, optional=key in _OPTIONAL)
    return kind(**values)


def _per_tier(value: Any, where: str, errors: dict[str, str]) -> dict[str, int]:
    if not isinstance(value, dict) or set(value) - set(TIERS):
        errors[where] = "Points per yuan for official, outlet and employee."
        return {}
    return {
        tier: _int(value.get(tier, 0), f"{where}.{tier}", errors, high=100) or 0 for tier in TIERS
    }


def _per_category(
    value: Any, where: str, errors: dict[str, str], *, high: int = 100000
) -> dict[str, int]:
    if not isinstance(value, dict) or len(value) > 200:
        errors[where] = "Category codes and basis points."
        return {}
    return {
        str(code): _int(bp, f"{where}.{code}", errors, high=high) or 0 for code, bp in value.items()
    }


def _rates_per_tier(value: Any, where: str, errors: dict[str, str]) -> dict[str, int]:
    if not isinstance(value, dict) or set(value) - set(TIERS):
        errors[where] = "Basis points for any of official, outlet and employee."
        return {}
    return {tier: _int(bp, f"{where}.{tier}", errors, high=5000) or 0 for tier, bp in value.items()}
