"""Giving coupons out from HQ (the coupons door, portal/members/coupons.py, says the rules):
issuing a template to members typed on the form or to a segment (the segment's coupons go out
in committed batches, by the job in the door), what is common to every giving (a template still
given out, a new coupon's validity, the template's row lock) and the issues' record."""

from __future__ import annotations

import bisect
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from portal.core import audit, jobs
from portal.core.access import Actor
from portal.core.db import utcnow
from portal.core.errors import NotFound, ValidationFailed
from portal.extensions import db
from portal.members import membership, segments
from portal.members.coupon_models import (
    Coupon,
    CouponIssue,
    CouponSource,
    CouponStatus,
    CouponTemplate,
    CouponValidity,
    TemplateStatus,
)
from portal.members.coupon_templates import ensure_hq
from portal.members.models import Member, MemberStatus
from portal.storefront.consumer_fields import normalize_phone
from portal.storefront.words import say

MAX_LIST = 1000  # members typed into one issue; more: a segment, issued by a job


def giving_refusal(template: CouponTemplate, now: datetime) -> str | None:
    """Why no coupon of the template may be given out now (to anyone), or None."""
    if template.status != TemplateStatus.ACTIVE:
        return say(_l("This coupon is no longer given out."))
    if template.validity == CouponValidity.DATES and (
        template.valid_until is None or template.valid_until <= now
    ):
        return say(_l("This coupon's validity has ended."))
    return None


def _validity(template: CouponTemplate, now: datetime) -> tuple[datetime, datetime]:
    if template.validity == CouponValidity.DAYS:
        return now, now + timedelta(days=template.valid_days or 1)
    assert template.valid_from is not None and template.valid_until is not None
    return template.valid_from, template.valid_until


def new_coupon(
    template: CouponTemplate,
    member_id: int,
    seq: int,
    source: str,
    now: datetime,
    issue_id: int | None = None,
) -> Coupon:
    valid_from, valid_until = _validity(template, now)
    coupon = Coupon(
        brand_id=template.brand_id,
        template_id=template.id,
        member_id=member_id,
        seq=seq,
        source=source,
        issue_id=issue_id,
        status=CouponStatus.HELD,
        valid_from=valid_from,
        valid_until=valid_until,
        discount_cents=0,
        created_at=now,
    )
    db.session.add(coupon)
    return coupon


def lock_template(template_id: int) -> CouponTemplate:
    return db.session.execute(
        select(CouponTemplate)
        .where(CouponTemplate.id == template_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def _programme_members(brand_id: int, member_ids: Iterable[int]) -> set[int]:
    """Which of these ids are active members of the programme the brand's consumers join."""
    program = membership.find_program(brand_id)
    ids = list(member_ids)
    if program is None or not ids:
        return set()
    return set(
        db.session.execute(
            select(Member.id).where(
                Member.id.in_(ids),
                Member.program_id == program.id,
                Member.status == MemberStatus.ACTIVE,
            )
        ).scalars()
    )


def _give(template_id: int, member_ids: Sequence[int], issue: CouponIssue) -> dict[str, int]:
    """Issue one coupon of the template to each member who has none issued yet and holds fewer
    than the per-member limit, while the total limit lasts. Under the template's row lock, so
    claims and other issues wait. Returns how many were issued and passed over, by reason."""
    counts = {"issued": 0, "already": 0, "limit": 0, "total": 0, "stopped": 0}
    if not member_ids:
        return counts
    template = lock_template(template_id)
    now = utcnow()
    if giving_refusal(template, now):
        counts["stopped"] = len(member_ids)
        return counts
    ids = list(dict.fromkeys(member_ids))
    issued_before = set(
        db.session.execute(
            select(Coupon.member_id).where(
                Coupon.template_id == template.id,
                Coupon.member_id.in_(ids),
                Coupon.source == CouponSource.ISSUED,
            )
        ).scalars()
    )
    held = {
        member_id: (count, top)
        for member_id, count, top in db.session.execute(
            select(Coupon.member_id, func.count(), func.max(Coupon.seq))
            .where(Coupon.template_id == template.id, Coupon.member_id.in_(ids))
            .group_by(Coupon.member_id)
        ).all()
    }
    room = None if template.total_limit is None else template.total_limit - template.given_count
    for member_id in ids:
        count, top = held.get(member_id, (0, 0))
        if member_id in issued_before:
            counts["already"] += 1
        elif count >= template.per_member_limit:
            counts["limit"] += 1
        elif room is not None and room <= 0:
            counts["total"] += 1
        else:
            new_coupon(template, member_id, top + 1, CouponSource.ISSUED, now, issue.id)
            counts["issued"] += 1
            if room is not None:
                room -= 1
    template.given_count += counts["issued"]
    db.session.flush()
    return counts


def _record(issue: CouponIssue, counts: Mapping[str, int], not_members: int = 0) -> None:
    issue.issued_count += counts.get("issued", 0)
    skipped = dict(issue.skipped or {})  # a new dict: the JSON column sees a new value
    for reason in ("already", "limit", "total", "stopped"):
        if counts.get(reason):
            skipped[reason] = skipped.get(reason, 0) + counts[reason]
    if not_members:
        skipped["not_member"] = skipped.get("not_member", 0) + not_members
    issue.skipped = skipped


def _new_issue(
    actor: Actor,
    template: CouponTemplate,
    token: str | None,
    *,
    segment_id: int | None,
    audience: str,
    member_count: int,
) -> tuple[CouponIssue, bool]:
    """The issue this form's token makes (or made before: then False)."""
    token = (token or "").strip()[:64] or secrets.token_urlsafe(16)
    stmt = select(CouponIssue).where(
        CouponIssue.template_id == template.id, CouponIssue.token == token
    )
    earlier = db.session.execute(stmt).scalar_one_or_none()
    if earlier is not None:
        return earlier, False
    issue = CouponIssue(
        brand_id=template.brand_id,
        template_id=template.id,
        token=token,
        segment_id=segment_id,
        audience=audience[:200],
        status="queued",
        member_count=member_count,
        issued_count=0,
        skipped={},
        last_member_id=0,
        created_by_user_id=actor.user_id,
    )
    try:
        with db.session.begin_nested():
            db.session.add(issue)
            db.session.flush()
    except IntegrityError:  # the same form sent twice at once: the first one's issue
        return db.session.execute(stmt).scalar_one(), False
    return issue, True


def _ensure_givable(template: CouponTemplate) -> None:
    refusal = giving_refusal(template, utcnow())
    if refusal:
        raise ValidationFailed(refusal, fields={"template": refusal})


def issue(
    actor: Actor,
    template: CouponTemplate,
    member_ids: Sequence[int],
    *,
    token: str | None = None,
    audience: str = "",
) -> CouponIssue:
    """Give a coupon of the template to each of these members of the brand's programme, now
    (at most MAX_LIST: a bigger audience is a segment, issued by a job). Members who already
    had one issued, or hold the per-member limit, are passed over, as are all once the total
    limit is reached (the issue says how many, and why). The same `token` again returns the
    first issue and gives nothing more. Raises ValidationFailed naming `member_ids.<i>` for an
    id that is no member of the programme, NotFound for another brand's HQ."""
    ensure_hq(actor, template.brand_id)
    _ensure_givable(template)
    ids = list(dict.fromkeys(int(m) for m in member_ids))
    if not ids:
        raise ValidationFailed(fields={"member_ids": say(_l("Name at least one member."))})
    if len(ids) > MAX_LIST:
        raise ValidationFailed(
            fields={
                "member_ids": say(
                    _l("At most %(count)d members at once: issue to a segment instead."),
                    count=MAX_LIST,
                )
            }
        )
    known = _programme_members(template.brand_id, ids)
    unknown = {
        f"member_ids.{i}": say(_l("Not a member of this brand's programme."))
        for i, member_id in enumerate(member_ids)
        if int(member_id) not in known
    }
    if unknown:
        raise ValidationFailed(say(_l("Some are not members.")), fields=unknown)
    made, new = _new_issue(
        actor, template, token, segment_id=None, audience=audience, member_count=len(ids)
    )
    if not new:
        return made
    made.status = "running"
    _record(made, _give(template.id, ids, made))
    made.status, made.finished_at, made.last_member_id = "done", utcnow(), max(ids)
    audit.record(
        actor,
        "members.coupons_issued",
        brand_id=template.brand_id,
        template_id=template.id,
        issued=made.issued_count,
    )
    db.session.flush()
    return made


def find_members(brand_id: int, typed: str) -> tuple[list[int], dict[str, str]]:
    """Members typed by HQ, one per line (member number, or mobile number in E.164): their ids,
    and `members` naming the lines that are no member of the brand's programme."""
    lines = [line.strip() for line in (typed or "").splitlines() if line.strip()]
    if not lines:
        return [], {"members": say(_l("Type at least one member number or mobile number."))}
    if len(lines) > MAX_LIST:
        return [], {
            "members": say(
                _l("At most %(count)d members at once: issue to a segment instead."),
                count=MAX_LIST,
            )
        }
    program = membership.find_program(brand_id)
    phones = {line: _as_phone(line) for line in lines}
    found: dict[str, int] = {}
    if program is not None:
        by_number: dict[str, int] = {}
        by_phone: dict[str, int] = {}
        for member_id, number, phone in db.session.execute(
            select(Member.id, Member.number, Member.phone).where(
                Member.program_id == program.id,
                Member.status == MemberStatus.ACTIVE,
                or_(
                    Member.number.in_(lines),
                    Member.phone.in_([p for p in phones.values() if p]),
                ),
            )
        ).all():
            by_number[number] = member_id
            if phone:
                by_phone[phone] = member_id
        for line in lines:
            member_id = by_number.get(line) or by_phone.get(phones[line] or "")
            if member_id is not None:
                found[line] = member_id
    missing = [i + 1 for i, line in enumerate(lines) if line not in found]
    if missing:
        shown = ", ".join(str(n) for n in missing[:20])
        return [], {"members": say(_l("No member on line(s) %(lines)s."), lines=shown)}
    return list(dict.fromkeys(found[line] for line in lines)), {}


def _as_phone(typed: str) -> str | None:
    """A typed mobile number in E.164 (a Chinese one without its +86 too), or None."""
    try:
        return normalize_phone(typed)
    except ValidationFailed:
        return None


def open_segment_issue(
    actor: Actor, template: CouponTemplate, segment_id: int, *, token: str | None = None
) -> tuple[CouponIssue, bool]:
    """The issue of the template to one of the brand's segments that this form `token` makes
    (True: new, its job is the caller's to enqueue, `coupons.issue_to_segment`) or made before
    (False). Raises ValidationFailed naming `segment_id` for a segment the brand does not
    have."""
    ensure_hq(actor, template.brand_id)
    _ensure_givable(template)
    chosen = next(
        (s for s in segments.list_segments(template.brand_id) if s.id == segment_id), None
    )
    if chosen is None:
        raise ValidationFailed(
            fields={"segment_id": say(_l("Choose one of the brand's segments."))}
        )
    made, new = _new_issue(
        actor,
        template,
        token,
        segment_id=chosen.id,
        audience=chosen.name,
        member_count=chosen.members,
    )
    if new:
        audit.record(
            actor,
            "members.coupons_issued_to_segment",
            brand_id=template.brand_id,
            template_id=template.id,
            segment_id=chosen.id,
        )
    return made, new


def _issue_row(issue_id: int) -> CouponIssue | None:
    return db.session.execute(
        select(CouponIssue).where(CouponIssue.id == issue_id)
    ).scalar_one_or_none()


def segment_issue_given_up(issue_id: int, *, reason: str) -> None:
    """The job failed for good: the issue says so (what it gave out so far stays given)."""
    run = _issue_row(issue_id)
    if run is not None and run.status != "done":
        run.status, run.error, run.finished_at = "failed", reason[:500], utcnow()


def run_segment_issue(issue_id: int, *, batch_size: int) -> dict[str, int]:
    """The segment job's work (`coupons.issue_coupons_to_segment`): the segment's members in id
    order, `batch_size` at a time, each batch committed whole with how far it got; a retry (or a
    second run) goes on from there, and the per-member rule passes over anyone it reached
    before."""
    found = _issue_row(issue_id)
    if found is None or found.status == "done" or found.segment_id is None:
        return {}
    brand_id, segment_id = found.brand_id, found.segment_id
    try:
        member_ids = sorted(set(segments.segment_member_ids(brand_id, segment_id)))
    except NotFound:
        found.status, found.error = "failed", "the segment no longer exists"
        found.finished_at = utcnow()
        return {}
    found.status, found.member_count = "running", len(member_ids)
    jobs.checkpoint()

    def step(size: int) -> int:
        run = _issue_row(issue_id)
        assert run is not None
        start = bisect.bisect_right(member_ids, run.last_member_id)
        batch = member_ids[start : start + size]
        if not batch:
            return 0
        members = _programme_members(brand_id, batch)
        in_programme = [m for m in batch if m in members]
        _record(run, _give(run.template_id, in_programme, run), len(batch) - len(in_programme))
        run.last_member_id = batch[-1]
        db.session.flush()
        jobs.report_progress(start + len(batch), len(member_ids))
        return len(batch)

    jobs.in_batches(step, batch_size)
    run = _issue_row(issue_id)
    assert run is not None
    run.status, run.finished_at = "done", utcnow()
    return {"issued": run.issued_count, "members": run.member_count}


def list_issues(template: CouponTemplate, *, limit: int = 20) -> list[CouponIssue]:
    return list(
        db.session.execute(
            select(CouponIssue)
            .where(CouponIssue.template_id == template.id)
            .order_by(CouponIssue.id.desc())
            .limit(limit)
        ).scalars()
    )
