"""Membership pages.

- The consumer's (a shop page, phone first): the member card at `/shop/<brand>/member/` (level,
  progress to the next, member number, links to points, wallet and coupons) and joining at
  `/shop/<brand>/member/join`.
- Store staff's (`MEMBERS_ENROL`): `/members/enrol` joins a walk-in customer by mobile number and
  name at the staff's store.
- HQ's (`MEMBERS_VIEW` to read, `MEMBERS_MANAGE` to change; the brand's own HQ only, anyone else
  a 404): members with search and one member's page, tags, segments with live counts and their
  CSV export, and the programme with the brands that share it, under `/shop/<brand>/hq/`.
"""

from __future__ import annotations

from itertools import islice
from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _

from portal.core import transaction
from portal.core.access import Permission, current_actor, require
from portal.core.errors import DomainError, NotFound, ValidationFailed
from portal.core.pagination import parse_page_args
from portal.members import levels, member_queries, membership, points, segments, tags, wallet
from portal.members.models import JoinChannel, Member, Program
from portal.members.tag_models import TagKind
from portal.network.models import Organization
from portal.policy.consumer_terms import terms_for
from portal.storefront import consumers
from portal.storefront.auth import (
    consumer_required,
    current_consumer,
    shop_next,
    signed_in_consumer,
)
from portal.storefront.shops import shop_brand
from portal.storefront.transitions import STATUS_LABELS

bp = Blueprint("members", __name__)
SAMPLE = 20  # members a segment's page lists (the export holds them all)


@bp.context_processor
def _shop_nav() -> dict[str, Any]:
    """The shop's nav (storefront/base.html) shows who is signed in on the consumer pages."""
    brand_code = (request.view_args or {}).get("brand_code")
    if not brand_code or "/hq/" in request.path:
        return {}
    try:
        return {"shop_consumer": current_consumer(shop_brand(brand_code))}
    except DomainError:
        return {"shop_consumer": None}


# -- the consumer's pages ------------------------------------------------------------------------


@bp.get("/shop/<brand_code>/member/")
@consumer_required
def card(brand_code: str):
    brand = shop_brand(brand_code)
    consumer = signed_in_consumer()
    member = membership.member_in(brand, consumer)
    if member is None:
        return redirect(url_for("members.join", brand_code=brand.code))
    return render_template(
        "members/card.html",
        brand=brand,
        card=member_queries.card(member),
        changes=levels.history(member, limit=5),
        points=points.balance(member),
        wallet_cents=wallet.balance_cents(member),
    )


def _join_page(brand: Organization, status: int = 200, **context: Any):
    consumer = signed_in_consumer()
    program = membership.find_program(brand.id)
    context.setdefault("errors", {})
    context.setdefault("alert", None)
    point = next(
        (
            (a.latitude, a.longitude)
            for a in consumers.list_addresses(consumer)
            if a.is_default and a.latitude is not None and a.longitude is not None
        ),
        None,
    )
    return render_template(
        "members/join.html",
        brand=brand,
        consumer=consumer,
        terms=terms_for(program.lead_brand_id if program else brand.id),
        group=member_queries.program_view(program).brands if program else [],
        stores=member_queries.nearby_stores(brand, point) if point else [],
        next=request.values.get("next", ""),
        **context,
    ), status


@bp.route("/shop/<brand_code>/member/join", methods=["GET", "POST"])
@consumer_required
def join(brand_code: str):
    brand = shop_brand(brand_code)
    consumer = signed_in_consumer()
    if membership.is_member(brand, consumer):
        return redirect(url_for("members.card", brand_code=brand.code))
    if request.method == "GET":
        return _join_page(brand)
    raw = (request.form.get("location_id") or "").strip()
    try:
        if raw and (not raw.isdigit() or len(raw) > 18):
            raise ValidationFailed(fields={"location_id": _("Choose one of the stores, or none.")})
        location_id = membership.check_store(brand, int(raw) if raw else None)
        member = membership.join(consumer, channel=JoinChannel.ONLINE, location_id=location_id)
    except DomainError as error:
        transaction.discard()
        return _join_page(
            brand, 422, errors=error.fields, alert=None if error.fields else error.message
        )
    flash(_("Welcome! Your member number is %(number)s.", number=member.number), "success")
    target = request.form.get("next")
    if target:
        return redirect(shop_next(brand, target))
    return redirect(url_for("members.card", brand_code=brand.code))


# -- store staff: joining a walk-in customer ---------------------------------------------------


@bp.route("/members/enrol", methods=["GET", "POST"])
@require(Permission.MEMBERS_ENROL)
def enrol():
    actor = current_actor()
    brands = member_queries.brands_of(actor)
    form = {name: (request.form.get(name) or "").strip() for name in ("phone", "name", "brand")}
    if request.method == "GET":
        return render_template("members/enrol.html", brands=brands, form=form, errors={})
    brand = next((b for b in brands if b.code == form["brand"]), None)
    if brand is None and len(brands) == 1:
        brand = brands[0]
    try:
        if brand is None:
            raise ValidationFailed(fields={"brand": _("Choose the brand they join.")})
        done = membership.enrol_at_store(actor, brand, form["phone"], form["name"])
    except DomainError as error:
        transaction.discard()
        page = render_template("members/enrol.html", brands=brands, form=form, errors=error.fields)
        return page, 422
    values = {"name": done.consumer.name, "number": done.member.number}
    if done.already:
        flash(_("%(name)s is a member already: %(number)s.", **values), "info")
    else:
        flash(_("%(name)s joined: member number %(number)s.", **values), "success")
    return redirect(url_for("members.enrol"))


# -- HQ: members ---------------------------------------------------------------------------------


def _hq() -> tuple[Any, Organization, Program | None]:
    actor = current_actor()
    brand = member_queries.hq_brand(actor, (request.view_args or {})["brand_code"])
    return actor, brand, member_queries.program_or_none(brand)


def _int_arg(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() and len(text) < 19 else None


@bp.get("/shop/<brand_code>/hq/members")
@require(Permission.MEMBERS_VIEW)
def hq_members(brand_code: str):
    actor, brand, program = _hq()
    page_no, per_page = parse_page_args(request.args)
    filters: dict[str, Any] = {
        "q": (request.args.get("q") or "").strip()[:60],
        "level": (request.args.get("level") or "").strip()[:20],
        "tag": _int_arg(request.args.get("tag")),
    }
    page = None
    visible = []
    if program is not None:
        visible = tags.visible_tags(program.id, brand.id)
        tag_id = filters["tag"] if any(t.id == filters["tag"] for t in visible) else None
        page = member_queries.search_members(
            program,
            q=filters["q"],
            level=filters["level"],
            tag_id=tag_id,
            page=page_no,
            per_page=per_page,
        )
    terms = terms_for(program.lead_brand_id if program else brand.id)
    stores = member_queries.store_names(
        {m.joined_location_id for m in (page.items if page else []) if m.joined_location_id}
    )
    return render_template(
        "members/hq/members.html",
        brand=brand,
        program=program,
        page=page,
        filters=filters,
        terms=terms,
        tags=visible,
        label=tags.label,
        stores=stores,
        phone=lambda value: member_queries.shown_phone(actor, value),
    )


def _member(brand: Organization, program: Program | None, number: str) -> Member:
    if program is None:
        raise NotFound()
    return member_queries.get_member(program, number)


@bp.get("/shop/<brand_code>/hq/members/<number>")
@require(Permission.MEMBERS_VIEW)
def hq_member(brand_code: str, number: str):
    actor, brand, program = _hq()
    member = _member(brand, program, number)
    held = tags.tags_of(member, brand.id)
    own = [
        t
        for t in tags.visible_tags(member.program_id, brand.id)
        if t.kind == TagKind.MANUAL and t not in held
    ]
    terms = membership.terms_of(member)
    return render_template(
        "members/hq/member.html",
        brand=brand,
        member=member,
        level=terms.level(member.level),
        terms=terms,
        held=held,
        addable=own,
        label=tags.label,
        accounts=member_queries.accounts_of(member),
        orders=member_queries.orders_of(member, brand.id),
        history=levels.history(member),
        store=member_queries.store_names(
            {member.joined_location_id} if member.joined_location_id else set()
        ).get(member.joined_location_id or 0),
        phone=member_queries.shown_phone(actor, member.phone),
        can_manage=actor.can(Permission.MEMBERS_MANAGE),
        can_see_orders=actor.can(Permission.SHOP_MANAGE),
        status_labels=STATUS_LABELS,
        tier_names=tags.TIER_NAMES,
    )


@bp.post("/shop/<brand_code>/hq/members/<number>/tags")
@require(Permission.MEMBERS_MANAGE)
def hq_member_tag_add(brand_code: str, number: str):
    actor, brand, program = _hq()
    member = _member(brand, program, number)
    tag = tags.get_visible_tag(member.program_id, brand.id, _int_arg(request.form.get("tag_id")))
    try:
        added = tags.add_to_member(actor, brand, member, tag)
    except ValidationFailed as error:
        transaction.discard()
        flash(" ".join(error.fields.values()) or error.message, "error")
    else:
        if added:
            flash(_("Tag added: %(tag)s.", tag=tags.label(tag)), "success")
    return redirect(url_for("members.hq_member", brand_code=brand.code, number=member.number))


@bp.post("/shop/<brand_code>/hq/members/<number>/tags/<int:tag_id>/remove")
@require(Permission.MEMBERS_MANAGE)
def hq_member_tag_remove(brand_code: str, number: str, tag_id: int):
    actor, brand, program = _hq()
    member = _member(brand, program, number)
    tag = tags.get_visible_tag(member.program_id, brand.id, tag_id)
    try:
        tags.remove_from_member(actor, brand, member, tag)
    except ValidationFailed as error:
        transaction.discard()
        flash(" ".join(error.fields.values()) or error.message, "error")
    else:
        flash(_("Tag removed: %(tag)s.", tag=tags.label(tag)), "success")
    return redirect(url_for("members.hq_member", brand_code=brand.code, number=member.number))


# -- HQ: tags ------------------------------------------------------------------------------------


def _tag_context(brand: Organization, program: Program | None) -> dict[str, Any]:
    grouped, counts = tags.grouped_tags(program.id if program else None, brand.id)
    return {
        "grouped": grouped,
        "counts": counts,
        "kind_names": tags.KIND_NAMES,
        "label": tags.label,
        "can_manage": current_actor().can(Permission.MEMBERS_MANAGE),
    }


def _tags_page(brand: Organization, program: Program | None, status: int = 200, **context: Any):
    context.setdefault("errors", {})
    context.setdefault("form", {})
    return render_template(
        "members/hq/tags.html", brand=brand, **_tag_context(brand, program), **context
    ), status


@bp.get("/shop/<brand_code>/hq/tags")
@require(Permission.MEMBERS_VIEW)
def hq_tags(brand_code: str):
    _actor, brand, program = _hq()
    return _tags_page(brand, program)


@bp.post("/shop/<brand_code>/hq/tags")
@require(Permission.MEMBERS_MANAGE)
def hq_tag_add(brand_code: str):
    actor, brand, _program = _hq()
    name = request.form.get("name") or ""
    try:
        tag = tags.create_tag(actor, brand, membership.program_of(brand), name)
    except DomainError as error:
        transaction.discard()
        program = member_queries.program_or_none(brand)
        return _tags_page(brand, program, 422, errors=error.fields, form={"name": name})
    flash(_("Tag made: %(tag)s.", tag=tag.name), "success")
    return redirect(url_for("members.hq_tags", brand_code=brand.code))


@bp.post("/shop/<brand_code>/hq/tags/<int:tag_id>/delete")
@require(Permission.MEMBERS_MANAGE)
def hq_tag_delete(brand_code: str, tag_id: int):
    actor, brand, program = _hq()
    if program is None:
        raise NotFound()
    tag = tags.get_visible_tag(program.id, brand.id, tag_id)
    try:
        tags.delete_tag(actor, brand, tag)
    except DomainError as error:
        transaction.discard()
        return _tags_page(brand, program, error.status, alert=error.message)
    flash(_("Tag deleted."), "success")
    return redirect(url_for("members.hq_tags", brand_code=brand.code))


# -- HQ: segments --------------------------------------------------------------------------------


def _segments_page(brand: Organization, program: Program | None, status: int = 200, **context):
    rows = [
        (s, segments.count(s.program_id, segments.rule_of(s)))
        for s in segments.brand_segments(brand.id)
    ]
    context.setdefault("errors", {})
    context.setdefault("form", {"name": ""})
    context.setdefault("modes", {})
    return render_template(
        "members/hq/segments.html",
        brand=brand,
        program=program,
        rows=rows,
        **_tag_context(brand, program),
        **context,
    ), status


@bp.get("/shop/<brand_code>/hq/segments")
@require(Permission.MEMBERS_VIEW)
def hq_segments(brand_code: str):
    _actor, brand, program = _hq()
    return _segments_page(brand, program)


@bp.post("/shop/<brand_code>/hq/segments")
@require(Permission.MEMBERS_MANAGE)
def hq_segment_add(brand_code: str):
    actor, brand, program = _hq()
    chosen = segments.lists_from_form(request.form.items())
    name = request.form.get("name") or ""
    try:
        if program is None:
            raise ValidationFailed(fields={"all_of": _("No member holds a tag yet.")})
        segment = segments.save_segment(
            actor,
            brand,
            program,
            name=name,
            all_of=chosen["all_of"],
            any_of=chosen["any_of"],
            none_of=chosen["none_of"],
        )
    except DomainError as error:
        transaction.discard()
        return _segments_page(
            brand,
            program,
            422,
            errors=error.fields,
            form={"name": name},
            modes=segments.modes_of(chosen),
        )
    flash(_("Segment saved: %(name)s.", name=segment.name), "success")
    return redirect(url_for("members.hq_segment", brand_code=brand.code, segment_id=segment.id))


def _segment_page(brand: Organization, segment: Any, status: int = 200, **context: Any):
    actor = current_actor()
    rule = segments.rule_of(segment)
    context.setdefault("errors", {})
    context.setdefault("form", {"name": segment.name})
    context.setdefault("modes", segments.modes_of(rule))
    return render_template(
        "members/hq/segment.html",
        brand=brand,
        segment=segment,
        members=segments.count(segment.program_id, rule),
        sample=list(islice(segments.iter_members(segment, batch=SAMPLE), SAMPLE)),
        phone=lambda value: member_queries.shown_phone(actor, value),
        terms=terms_for(segment.program.lead_brand_id),
        **_tag_context(brand, segment.program),
        **context,
    ), status


@bp.get("/shop/<brand_code>/hq/segments/<int:segment_id>")
@require(Permission.MEMBERS_VIEW)
def hq_segment(brand_code: str, segment_id: int):
    _actor, brand, _program = _hq()
    return _segment_page(brand, segments.get_segment(brand.id, segment_id))


@bp.post("/shop/<brand_code>/hq/segments/<int:segment_id>")
@require(Permission.MEMBERS_MANAGE)
def hq_segment_update(brand_code: str, segment_id: int):
    actor, brand, _program = _hq()
    segment = segments.get_segment(brand.id, segment_id)
    program = segment.program
    chosen = segments.lists_from_form(request.form.items())
    name = request.form.get("name") or ""
    try:
        segments.save_segment(
            actor,
            brand,
            program,
            name=name,
            segment=segment,
            all_of=chosen["all_of"],
            any_of=chosen["any_of"],
            none_of=chosen["none_of"],
        )
    except DomainError as error:
        transaction.discard()
        segment = segments.get_segment(brand.id, segment_id)
        return _segment_page(
            brand,
            segment,
            422,
            errors=error.fields,
            form={"name": name},
            modes=segments.modes_of(chosen),
        )
    flash(_("Segment saved: %(name)s.", name=segment.name), "success")
    return redirect(url_for("members.hq_segment", brand_code=brand.code, segment_id=segment.id))


@bp.post("/shop/<brand_code>/hq/segments/<int:segment_id>/delete")
@require(Permission.MEMBERS_MANAGE)
def hq_segment_delete(brand_code: str, segment_id: int):
    actor, brand, _program = _hq()
    segment = segments.get_segment(brand.id, segment_id)
    try:
        segments.delete_segment(actor, brand, segment)
    except DomainError as error:
        transaction.discard()
        flash(error.message, "error")
        return redirect(url_for("members.hq_segment", brand_code=brand.code, segment_id=segment_id))
    flash(_("Segment deleted."), "success")
    return redirect(url_for("members.hq_segments", brand_code=brand.code))


@bp.get("/shop/<brand_code>/hq/segments/<int:segment_id>/export.csv")
@require(Permission.MEMBERS_VIEW)
def hq_segment_export(brand_code: str, segment_id: int):
    """The segment's members as CSV (UTF-8 with BOM, formula triggers made inert), written as it
    is read: a batch of members at a time."""
    actor, brand, _program = _hq()
    segment = segments.get_segment(brand.id, segment_id)
    header = [_("Member number"), _("Name"), _("Mobile"), _("Level"), _("Joined")]
    lines = segments.export_lines(
        segment, header, lambda value: member_queries.shown_phone(actor, value)
    )
    filename = f"{brand.code.lower()}-segment-{segment.id}.csv"
    return Response(
        stream_with_context(lines),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


# -- HQ: the programme ---------------------------------------------------------------------------


@bp.get("/shop/<brand_code>/hq/program")
@require(Permission.MEMBERS_VIEW)
def hq_program(brand_code: str):
    _actor, brand, program = _hq()
    view = member_queries.program_view(program) if program else None
    terms = terms_for(program.lead_brand_id if program else brand.id)
    return render_template("members/hq/program.html", brand=brand, view=view, terms=terms)
