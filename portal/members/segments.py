"""Segments: members chosen by their tags, counted, used to issue coupons and to export.

A segment is a brand HQ's rule over tags (tag_models.py): the members of the brand's programme
who hold **all of** some tags, **any of** others (at least one) and **none of** the rest; at
least one tag in all. Counting it is one query over `member_tags` (an EXISTS per "all of" tag,
one for "any of", one NOT EXISTS for "none of"), so the counts on HQ's pages are live.
Coupons (helper B) call `list_segments` and `segment_member_ids`; HQ exports a segment as CSV.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, delete, exists, func, select
from sqlalchemy.exc import IntegrityError

from portal.core.access import Actor, Permission
from portal.core.errors import Conflict, NotFound, ValidationFailed
from portal.core.spreadsheets import runs_as_formula
from portal.extensions import db
from portal.members.membership import find_program
from portal.members.models import Member, MemberStatus, Program
from portal.members.tag_models import MemberTag, Segment, SegmentMode, SegmentTag, Tag
from portal.network.models import Organization
from portal.policy.consumer_terms import terms_for
from portal.storefront.words import say

MAX_NAME = 80
MAX_TAGS = 50
EXPORT_BATCH = 2000


@dataclass(frozen=True)
class SegmentSummary:
    id: int
    name: str
    members: int  # how many members it holds now


@dataclass
class SegmentRule:
    all_of: list[int] = field(default_factory=list)
    any_of: list[int] = field(default_factory=list)
    none_of: list[int] = field(default_factory=list)

    @property
    def tag_ids(self) -> list[int]:
        return [*self.all_of, *self.any_of, *self.none_of]


# -- reading ------------------------------------------------------------------------------------


def rule_of(segment: Segment) -> SegmentRule:
    rule = SegmentRule()
    for tag_id, mode in db.session.execute(
        select(SegmentTag.tag_id, SegmentTag.mode)
        .where(SegmentTag.segment_id == segment.id)
        .order_by(SegmentTag.tag_id)
    ):
        {
            SegmentMode.ALL: rule.all_of,
            SegmentMode.ANY: rule.any_of,
            SegmentMode.NONE: rule.none_of,
        }[SegmentMode(mode)].append(tag_id)
    return rule


def members_condition(program_id: int, rule: SegmentRule) -> Any:
    """SQL condition on `members`: an active member of the programme whom the rule chooses."""

    def holds(*condition: Any) -> Any:
        return exists().where(MemberTag.member_id == Member.id, *condition)

    conditions = [Member.program_id == program_id, Member.status == MemberStatus.ACTIVE]
    conditions += [holds(MemberTag.tag_id == tag_id) for tag_id in rule.all_of]
    if rule.any_of:
        conditions.append(holds(MemberTag.tag_id.in_(rule.any_of)))
    if rule.none_of:
        conditions.append(~holds(MemberTag.tag_id.in_(rule.none_of)))
    return and_(*conditions)


def count(program_id: int, rule: SegmentRule) -> int:
    """How many members the rule chooses now: one query."""
    return int(
        db.session.execute(
            select(func.count(Member.id)).where(members_condition(program_id, rule))
        ).scalar_one()
    )


def get_segment(brand_id: int, segment_id: Any) -> Segment:
    """One of the brand's segments, else NotFound (another brand's, or none)."""
    if isinstance(segment_id, bool) or not isinstance(segment_id, int):
        raise NotFound()
    found = db.session.execute(
        select(Segment).where(Segment.id == segment_id, Segment.brand_id == brand_id)
    ).scalar_one_or_none()
    if found is None:
        raise NotFound()
    return found


def brand_segments(brand_id: int) -> list[Segment]:
    """The brand's segments in its current programme, by name."""
    program = find_program(brand_id)
    if program is None:
        return []
    return list(
        db.session.execute(
            select(Segment)
            .where(Segment.brand_id == brand_id, Segment.program_id == program.id)
            .order_by(Segment.name, Segment.id)
        ).scalars()
    )


def list_segments(brand_id: int) -> list[SegmentSummary]:
    """The brand's segments, for a picker (coupon issuing)."""
    return [
        SegmentSummary(s.id, s.name, count(s.program_id, rule_of(s)))
        for s in brand_segments(brand_id)
    ]


def segment_member_ids(brand_id: int, segment_id: int) -> list[int]:
    """The ids of the members a segment of the brand holds now. Raises NotFound for another
    brand's segment."""
    segment = get_segment(brand_id, segment_id)
    return list(
        db.session.execute(
            select(Member.id)
            .where(members_condition(segment.program_id, rule_of(segment)))
            .order_by(Member.id)
        ).scalars()
    )


def iter_members(segment: Segment, batch: int = EXPORT_BATCH) -> Iterator[Member]:
    """The segment's members in id order, read a batch at a time (an export of millions holds
    one batch in memory)."""
    condition = members_condition(segment.program_id, rule_of(segment))
    after = 0
    while True:
        rows = list(
            db.session.execute(
                select(Member).where(condition, Member.id > after).order_by(Member.id).limit(batch)
            ).scalars()
        )
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].id


# -- HQ's form: one choice per tag ----------------------------------------------------------------

_LISTS = {SegmentMode.ALL: "all_of", SegmentMode.ANY: "any_of", SegmentMode.NONE: "none_of"}


def lists_from_form(items: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """The form's `mode-<tag id>` choices (all, any, none; nothing: ignored) as the tag ids of
    each list, for `save_segment`."""
    chosen: dict[str, list[str]] = {name: [] for name in _LISTS.values()}
    for key, mode in items:
        if key.startswith("mode-") and mode in tuple(SegmentMode):
            chosen[_LISTS[SegmentMode(mode)]].append(key[5:])
    return chosen


def modes_of(chosen: SegmentRule | dict[str, list[str]]) -> dict[int, str]:
    """Tag id -> its mode, to show a rule (saved, or as posted) on the form again."""
    lists: dict[str, list[Any]] = (
        {"all_of": chosen.all_of, "any_of": chosen.any_of, "none_of": chosen.none_of}
        if isinstance(chosen, SegmentRule)
        else dict(chosen)
    )
    names = {v: k.value for k, v in _LISTS.items()}
    return {int(i): names[key] for key, ids in lists.items() for i in map(str, ids) if i.isdigit()}


# -- the export ---------------------------------------------------------------------------------


def _csv_line(values: list[Any]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(
        ["'" + v if isinstance(v, str) and runs_as_formula(v) else v for v in values]
    )
    return out.getvalue()


def export_lines(
    segment: Segment, header: list[str], phone: Callable[[str | None], str]
) -> Iterator[str]:
    """The segment's members as CSV lines (the first with a UTF-8 BOM): number, name, phone as
    `phone` shows it, level, day joined. Text a spreadsheet would run as a formula is made inert
    (a leading apostrophe). Read a batch at a time, written as read."""
    level_names = {x.code: x.name for x in terms_for(segment.program.lead_brand_id).levels}
    yield "\ufeff" + _csv_line(header)
    for member in iter_members(segment):
        yield _csv_line(
            [
                member.number,
                member.name,
                phone(member.phone),
                level_names.get(member.level, member.level),
                member.joined_at.date().isoformat(),
            ]
        )


# -- writing ------------------------------------------------------------------------------------


def _hq(actor: Actor, brand: Organization) -> None:
    actor.ensure(Permission.MEMBERS_MANAGE)
    if not actor.is_system and not (actor.is_hq and actor.org_id == brand.id):
        raise NotFound()


def _ids(values: Any, name: str, errors: dict[str, str]) -> list[int]:
    ids: list[int] = []
    for value in values or ():
        text = str(value).strip()
        if not text.isdigit() or len(text) > 18:
            errors[name] = say(_l("Choose tags from the list."))
            continue
        if int(text) not in ids:
            ids.append(int(text))
    return ids


def check_rule(
    program_id: int, brand_id: int, all_of: Any, any_of: Any, none_of: Any
) -> SegmentRule:
    """A rule from the chosen tag ids of each mode: tags the brand's HQ sees, each in one mode
    only, at least one in all. ValidationFailed names `all_of`, `any_of` or `none_of`."""
    errors: dict[str, str] = {}
    rule = SegmentRule(
        _ids(all_of, "all_of", errors),
        _ids(any_of, "any_of", errors),
        _ids(none_of, "none_of", errors),
    )
    wanted = rule.tag_ids
    if not errors and not wanted:
        errors["all_of"] = say(_l("Choose at least one tag."))
    if len(wanted) > MAX_TAGS:
        errors["all_of"] = say(_l("At most %(max)d tags."), max=MAX_TAGS)
    if len(set(wanted)) != len(wanted):
        errors["none_of"] = say(_l("A tag may be in one list only."))
    if wanted and not errors:
        known = set(
            db.session.execute(
                select(Tag.id).where(
                    Tag.id.in_(wanted),
                    Tag.program_id == program_id,
                    (Tag.brand_id.is_(None)) | (Tag.brand_id == brand_id),
                )
            ).scalars()
        )
        for name, ids in (
            ("all_of", rule.all_of),
            ("any_of", rule.any_of),
            ("none_of", rule.none_of),
        ):
            if set(ids) - known:
                errors[name] = say(_l("Choose tags from the list."))
    if errors:
        raise ValidationFailed(say(_l("The segment has mistakes.")), fields=errors)
    return rule


def _name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name or len(name) > MAX_NAME:
        raise ValidationFailed(
            fields={"name": say(_l("A name of 1 to %(max)d characters."), max=MAX_NAME)}
        )
    return name


def _write_rule(segment: Segment, rule: SegmentRule) -> None:
    db.session.execute(delete(SegmentTag).where(SegmentTag.segment_id == segment.id))
    for mode, ids in (
        (SegmentMode.ALL, rule.all_of),
        (SegmentMode.ANY, rule.any_of),
        (SegmentMode.NONE, rule.none_of),
    ):
        for tag_id in ids:
            db.session.add(SegmentTag(segment_id=segment.id, tag_id=tag_id, mode=mode))
    db.session.flush()


def save_segment(
    actor: Actor,
    brand: Organization,
    program: Program,
    *,
    name: str,
    all_of: Any = (),
    any_of: Any = (),
    none_of: Any = (),
    segment: Segment | None = None,
) -> Segment:
    """Make a segment of the brand (or change `segment`): a name unique in the brand and a rule.
    Bad input changes nothing (ValidationFailed naming the field)."""
    _hq(actor, brand)
    errors: dict[str, str] = {}
    try:
        name = _name(name)
    except ValidationFailed as error:
        errors.update(error.fields)
    try:
        rule = check_rule(program.id, brand.id, all_of, any_of, none_of)
    except ValidationFailed as error:
        errors.update(error.fields)
    if errors:
        raise ValidationFailed(say(_l("The segment has mistakes.")), fields=errors)
    try:
        with db.session.begin_nested():
            if segment is None:
                segment = Segment(
                    program_id=program.id,
                    brand_id=brand.id,
                    name=name,
                    created_by_user_id=actor.user_id,
                )
                db.session.add(segment)
            else:
                segment.name = name
            db.session.flush()
    except IntegrityError:
        raise ValidationFailed(
            fields={"name": say(_l("There is a segment of this name already."))}
        ) from None
    _write_rule(segment, rule)
    return segment


def delete_segment(actor: Actor, brand: Organization, segment: Segment) -> None:
    _hq(actor, brand)
    if segment.brand_id != brand.id:
        raise NotFound()
    try:
        with db.session.begin_nested():
            db.session.execute(delete(SegmentTag).where(SegmentTag.segment_id == segment.id))
            db.session.delete(segment)
            db.session.flush()
    except IntegrityError:  # something else (a coupon's issue) still points to it
        raise Conflict(say(_l("The segment is in use, so it stays."))) from None
