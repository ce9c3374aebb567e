"""Tags on members (tag_models.py): HQ's own, added and removed by hand, and the automatic ones
the nightly refresh computes from data.

The refresh works a programme at a time and a kind at a time, in SQL: the facts of a kind
(member, value) are one query; tags for values not seen before are made; then one INSERT adds the
member-tag rows missing and one DELETE removes those no longer true. Nothing is read into Python
per member, so a programme of millions costs a few statements per kind. Automatic kinds:

- store: the store of registration (`Member.joined_location_id`);
- channel: how they joined (online, at a store, invited, at a till);
- level: their level now (run after the levels' recount);
- first_tier / first_month: the storefront and the month (UTC) of their first paid order;
- recency: bought in the last 30, 90 and 365 days (a paid order not called off, or a till sale):
  one who bought last week holds all three, so "any of" and "none of" read naturally;
- category: the category of which they bought the most units (ties: the lower category id).
"""

from __future__ import annotations

import importlib
from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    String,
    and_,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    union_all,
)
from sqlalchemy.exc import IntegrityError

from portal.catalog.models import Category, Product, Variant
from portal.core.access import Actor, Permission
from portal.core.db import UTCDateTime, utcnow
from portal.core.errors import Conflict, NotFound, ValidationFailed
from portal.extensions import db
from portal.inventory.models import Location
from portal.members.levels import COUNTED
from portal.members.models import JoinChannel, Member, MemberStatus, Program
from portal.members.tag_models import (
    AUTO_KINDS,
    MemberTag,
    Segment,
    SegmentTag,
    Tag,
    TagKind,
)
from portal.network.models import Organization
from portal.policy.consumer_terms import terms_for
from portal.storefront.models import ConsumerOrder, ConsumerOrderLine, Tier
from portal.storefront.words import say

MAX_NAME = 60
RECENCY_DAYS = (30, 90, 365)
CHANNEL_NAMES = {
    JoinChannel.ONLINE: _l("online"),
    JoinChannel.STORE: _l("at a store"),
    JoinChannel.INVITE: _l("by invitation"),
    JoinChannel.POS: _l("at a till"),
}
TIER_NAMES = {
    Tier.OFFICIAL: _l("the official store"),
    Tier.OUTLET: _l("the outlet"),
    Tier.EMPLOYEE: _l("the employee store"),
}
KIND_NAMES = {
    TagKind.MANUAL: _l("HQ's tags"),
    TagKind.STORE: _l("Store of registration"),
    TagKind.CHANNEL: _l("Joined"),
    TagKind.LEVEL: _l("Level"),
    TagKind.FIRST_TIER: _l("First order in"),
    TagKind.FIRST_MONTH: _l("First order in the month"),
    TagKind.RECENCY: _l("Last purchase"),
    TagKind.CATEGORY: _l("Favourite category"),
}


def label(tag: Tag) -> str:
    """What HQ reads for a tag, in the page's language."""
    kind, value, name = tag.kind, tag.value, tag.name
    if kind == TagKind.MANUAL:
        return name
    if kind == TagKind.STORE:
        return say(_l("Registered at %(store)s"), store=name or value)
    if kind == TagKind.CHANNEL:
        joined = CHANNEL_NAMES.get(JoinChannel(value)) if value in tuple(JoinChannel) else None
        return say(_l("Joined %(how)s"), how=say(joined) if joined is not None else value)
    if kind == TagKind.LEVEL:
        return say(_l("Level: %(level)s"), level=name or value)
    if kind == TagKind.FIRST_TIER:
        tier = TIER_NAMES.get(Tier(value)) if value in tuple(Tier) else None
        return say(_l("First order in %(tier)s"), tier=say(tier) if tier is not None else value)
    if kind == TagKind.FIRST_MONTH:
        return say(_l("First order in %(month)s"), month=value)
    if kind == TagKind.RECENCY:
        return say(_l("Bought in the last %(days)s days"), days=value)
    return say(_l("Favourite category: %(category)s"), category=name or value)


def _sort_key(tag: Tag) -> tuple[int, str, str]:
    order = list(TagKind).index(TagKind(tag.kind))
    number = tag.value.zfill(6) if tag.kind == TagKind.RECENCY else tag.value
    return order, number, tag.name


# -- reading ------------------------------------------------------------------------------------


def visible_tags(program_id: int, brand_id: int) -> list[Tag]:
    """The tags a brand's HQ chooses members by: the programme's automatic ones and its own."""
    rows = db.session.execute(
        select(Tag).where(
            Tag.program_id == program_id,
            (Tag.brand_id.is_(None)) | (Tag.brand_id == brand_id),
        )
    ).scalars()
    return sorted(rows, key=_sort_key)


def grouped_tags(
    program_id: int | None, brand_id: int
) -> tuple[dict[str, list[Tag]], dict[int, int]]:
    """The tags the brand's HQ sees, by kind, with how many members hold each (HQ's pages)."""
    visible = visible_tags(program_id, brand_id) if program_id is not None else []
    grouped: dict[str, list[Tag]] = {}
    for tag in visible:
        grouped.setdefault(tag.kind, []).append(tag)
    return grouped, tag_counts([t.id for t in visible])


def tag_counts(tag_ids: list[int]) -> dict[int, int]:
    """How many active members hold each tag (one grouped query)."""
    if not tag_ids:
        return {}
    rows = db.session.execute(
        select(MemberTag.tag_id, func.count())
        .join(Member, Member.id == MemberTag.member_id)
        .where(MemberTag.tag_id.in_(tag_ids), Member.status == MemberStatus.ACTIVE)
        .group_by(MemberTag.tag_id)
    )
    return {tag_id: int(count) for tag_id, count in rows}


def tags_of(member: Member, brand_id: int) -> list[Tag]:
    """The tags the member holds that this brand's HQ sees."""
    rows = db.session.execute(
        select(Tag)
        .join(MemberTag, MemberTag.tag_id == Tag.id)
        .where(
            MemberTag.member_id == member.id,
            (Tag.brand_id.is_(None)) | (Tag.brand_id == brand_id),
        )
    ).scalars()
    return sorted(rows, key=_sort_key)


def get_visible_tag(program_id: int, brand_id: int, tag_id: Any) -> Tag:
    """One tag the brand's HQ may use, else NotFound."""
    if isinstance(tag_id, bool) or not isinstance(tag_id, int):
        raise NotFound()
    found = db.session.execute(
        select(Tag).where(
            Tag.id == tag_id,
            Tag.program_id == program_id,
            (Tag.brand_id.is_(None)) | (Tag.brand_id == brand_id),
        )
    ).scalar_one_or_none()
    if found is None:
        raise NotFound()
    return found


# -- HQ's own tags -------------------------------------------------------------------------------


def _hq(actor: Actor, brand: Organization) -> None:
    actor.ensure(Permission.MEMBERS_MANAGE)
    if not actor.is_system and not (actor.is_hq and actor.org_id == brand.id):
        raise NotFound()


def create_tag(actor: Actor, brand: Organization, program: Program, name: str) -> Tag:
    """A tag of the brand's HQ, to add to members by hand. Names are unique per brand (in any
    case); ValidationFailed names `name`."""
    _hq(actor, brand)
    name = " ".join((name or "").split())
    if not name or len(name) > MAX_NAME:
        raise ValidationFailed(
            fields={"name": say(_l("A name of 1 to %(max)d characters."), max=MAX_NAME)}
        )
    tag = Tag(
        program_id=program.id,
        brand_id=brand.id,
        kind=TagKind.MANUAL,
        key=f"manual:{brand.id}:{name.lower()}",
        value="",
        name=name,
        created_by_user_id=actor.user_id,
    )
    try:
        with db.session.begin_nested():
            db.session.add(tag)
            db.session.flush()
    except IntegrityError:
        raise ValidationFailed(
            fields={"name": say(_l("There is a tag of this name already."))}
        ) from None
    return tag


def delete_tag(actor: Actor, brand: Organization, tag: Tag) -> None:
    """Delete one of HQ's own tags, and every member's holding of it. Refused while a segment
    chooses by it (Conflict naming the segment)."""
    _hq(actor, brand)
    if tag.kind != TagKind.MANUAL or tag.brand_id != brand.id:
        raise NotFound()
    used = db.session.execute(
        select(Segment.name)
        .join(SegmentTag, SegmentTag.segment_id == Segment.id)
        .where(SegmentTag.tag_id == tag.id)
        .limit(1)
    ).scalar_one_or_none()
    if used is not None:
        raise Conflict(
            say(_l("The segment %(segment)s chooses by this tag: change it first."), segment=used)
        )
    db.session.execute(delete(MemberTag).where(MemberTag.tag_id == tag.id))
    db.session.delete(tag)
    db.session.flush()


def add_to_member(actor: Actor, brand: Organization, member: Member, tag: Tag) -> bool:
    """Give the member one of HQ's own tags; False when they hold it already."""
    _hq(actor, brand)
    if tag.kind != TagKind.MANUAL or tag.brand_id != brand.id:
        raise ValidationFailed(fields={"tag_id": say(_l("Only HQ's own tags are added by hand."))})
    if member.program_id != tag.program_id or member.status != MemberStatus.ACTIVE:
        raise NotFound()
    try:
        with db.session.begin_nested():
            db.session.add(
                MemberTag(member_id=member.id, tag_id=tag.id, added_by_user_id=actor.user_id)
            )
            db.session.flush()
    except IntegrityError:
        return False
    return True


def remove_from_member(actor: Actor, brand: Organization, member: Member, tag: Tag) -> bool:
    _hq(actor, brand)
    if tag.kind != TagKind.MANUAL or tag.brand_id != brand.id:
        raise ValidationFailed(
            fields={"tag_id": say(_l("Automatic tags follow the data: they are not removed."))}
        )
    result = db.session.execute(
        delete(MemberTag).where(MemberTag.member_id == member.id, MemberTag.tag_id == tag.id)
    )
    return bool(getattr(result, "rowcount", 0))


# -- the automatic tags --------------------------------------------------------------------------


def _month(column: Any) -> Any:
    """'YYYY-MM' of a UTC timestamp column, on either backend."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM")
    return func.strftime("%Y-%m", column)


def _pos_sale_model() -> Any:
    try:
        module = importlib.import_module("portal.members.ledger_models")
    except ImportError:
        return None
    return getattr(module, "PosSale", None)


def _facts(program_id: int, kind: TagKind, now: datetime) -> Any:
    """A select of (member_id, value, name) for the programme's active members: the facts one
    kind of automatic tag stands for."""
    active = (Member.program_id == program_id, Member.status == MemberStatus.ACTIVE)
    blank = literal("", String()).label("name")
    if kind == TagKind.STORE:
        return (
            select(
                Member.id.label("member_id"),
                cast(Member.joined_location_id, String(60)).label("value"),
                Organization.name.label("name"),
            )
            .join(Location, Location.id == Member.joined_location_id)
            .join(Organization, Organization.id == Location.org_id)
            .where(*active)
        )
    if kind == TagKind.CHANNEL:
        return select(
            Member.id.label("member_id"), Member.joined_channel.label("value"), blank
        ).where(*active)
    if kind == TagKind.LEVEL:
        return select(Member.id.label("member_id"), Member.level.label("value"), blank).where(
            *active, Member.level != ""
        )
    if kind in (TagKind.FIRST_TIER, TagKind.FIRST_MONTH):
        first = (
            select(
                ConsumerOrder.member_id.label("member_id"),
                func.min(ConsumerOrder.id).label("order_id"),
            )
            .join(Member, Member.id == ConsumerOrder.member_id)
            .where(*active, ConsumerOrder.paid_at.isnot(None))
            .group_by(ConsumerOrder.member_id)
            .subquery()
        )
        value = ConsumerOrder.tier if kind == TagKind.FIRST_TIER else _month(ConsumerOrder.paid_at)
        return select(first.c.member_id, value.label("value"), blank).join(
            ConsumerOrder, ConsumerOrder.id == first.c.order_id
        )
    if kind == TagKind.RECENCY:
        bought = [
            select(ConsumerOrder.member_id.label("member_id"), ConsumerOrder.paid_at.label("at"))
            .join(Member, Member.id == ConsumerOrder.member_id)
            .where(
                *active,
                ConsumerOrder.paid_at.isnot(None),
                ConsumerOrder.status.in_([s.value for s in COUNTED]),
            )
        ]
        pos = _pos_sale_model()
        if pos is not None:
            bought.append(
                select(pos.member_id.label("member_id"), pos.occurred_at.label("at"))
                .join(Member, Member.id == pos.member_id)
                .where(*active, pos.amount_cents > pos.refunded_cents)
            )
        every = union_all(*bought).subquery() if len(bought) > 1 else bought[0].subquery()
        last = (
            select(every.c.member_id, func.max(every.c.at).label("last"))
            .group_by(every.c.member_id)
            .subquery()
        )
        return union_all(
            *(
                select(last.c.member_id, literal(str(days), String()).label("value"), blank).where(
                    last.c.last >= literal(now - timedelta(days=days), UTCDateTime())
                )
                for days in RECENCY_DAYS
            )
        )
    units = (
        select(
            ConsumerOrder.member_id.label("member_id"),
            Product.category_id.label("category_id"),
            func.sum(ConsumerOrderLine.qty).label("units"),
        )
        .join(ConsumerOrderLine, ConsumerOrderLine.order_id == ConsumerOrder.id)
        .join(Variant, Variant.id == ConsumerOrderLine.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .join(Member, Member.id == ConsumerOrder.member_id)
        .where(*active, ConsumerOrder.status.in_([s.value for s in COUNTED]))
        .group_by(ConsumerOrder.member_id, Product.category_id)
        .subquery()
    )
    ranked = select(
        units.c.member_id,
        units.c.category_id,
        func.row_number()
        .over(partition_by=units.c.member_id, order_by=(units.c.units.desc(), units.c.category_id))
        .label("rank"),
    ).subquery()
    return (
        select(
            ranked.c.member_id,
            cast(ranked.c.category_id, String(60)).label("value"),
            Category.name.label("name"),
        )
        .join(Category, Category.id == ranked.c.category_id)
        .where(ranked.c.rank == 1)
    )


def _ensure_tags(program: Program, kind: TagKind, facts: Any) -> None:
    """A tag for every value the facts hold (named: a store's, a category's, a level's name)."""
    known = {
        tag.value: tag
        for tag in db.session.execute(
            select(Tag).where(Tag.program_id == program.id, Tag.kind == kind)
        ).scalars()
    }
    levels = (
        {level.code: level.name for level in terms_for(program.lead_brand_id).levels}
        if kind == TagKind.LEVEL
        else {}
    )
    values = db.session.execute(
        select(facts.c.value, func.max(facts.c.name)).group_by(facts.c.value)
    ).all()
    for value, name in values:
        if value is None:
            continue
        value = str(value)
        name = name or levels.get(value, "")
        tag = known.get(value)
        if tag is not None:
            if name and tag.name != name:
                tag.name = name  # a store or category renamed, a level renamed in the terms
            continue
        ref = int(value) if kind in (TagKind.STORE, TagKind.CATEGORY) else None
        try:
            with db.session.begin_nested():
                db.session.add(
                    Tag(
                        program_id=program.id,
                        brand_id=None,
                        kind=kind,
                        key=f"{kind}:{value}",
                        value=value,
                        ref_id=ref,
                        name=name,
                    )
                )
                db.session.flush()
        except IntegrityError:  # a refresh of the same programme beside this one
            pass
    db.session.flush()


def refresh_kind(program: Program, kind: TagKind, now: datetime) -> tuple[int, int]:
    """Bring one automatic kind up to date for a programme: (rows added, rows removed)."""
    facts = _facts(program.id, kind, now).subquery()
    _ensure_tags(program, kind, facts)
    pairs = (
        select(facts.c.member_id.label("member_id"), Tag.id.label("tag_id"))
        .join(
            Tag,
            and_(Tag.program_id == program.id, Tag.kind == kind, Tag.value == facts.c.value),
        )
        .subquery()
    )
    missing = select(pairs.c.member_id, pairs.c.tag_id, literal(now, UTCDateTime())).where(
        ~exists().where(
            MemberTag.member_id == pairs.c.member_id, MemberTag.tag_id == pairs.c.tag_id
        )
    )
    added = db.session.execute(
        insert(MemberTag)
        .from_select(["member_id", "tag_id", "added_at"], missing)
        .execution_options(preserve_rowcount=True)  # an INSERT's count is kept only if asked
    )
    removed = db.session.execute(
        delete(MemberTag)
        .where(
            MemberTag.tag_id.in_(
                select(Tag.id).where(Tag.program_id == program.id, Tag.kind == kind)
            ),
            ~exists()
            .where(pairs.c.member_id == MemberTag.member_id, pairs.c.tag_id == MemberTag.tag_id)
            .correlate(MemberTag),
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(added, "rowcount", 0) or 0), int(getattr(removed, "rowcount", 0) or 0)


def refresh_auto_tags(program: Program, *, now: datetime | None = None) -> dict[str, int]:
    """Every automatic kind of the programme, in turn; how many rows were added and removed."""
    now = now or utcnow()
    added = removed = 0
    for kind in AUTO_KINDS:
        more, fewer = refresh_kind(program, kind, now)
        added += more
        removed += fewer
    return {"added": added, "removed": removed}
