"""The nightly membership jobs: every member's level recounted from the rolling 12 months' spend
(levels.py; portal/schedule.py runs it), and when that is done the automatic tags refreshed from
the data (tags.py; after the levels, since a level is a tag: the recount asks for the refresh
when it finishes, keyed by day). Both work a programme at a time in whole batches
(`jobs.in_batches` / `jobs.checkpoint`), so a run killed half way keeps what it did and a second
run finds nothing left to change. Times are the run's start, fixed for the whole run."""

from __future__ import annotations

from sqlalchemy import select

from portal.core import jobs
from portal.core.db import utcnow
from portal.extensions import db
from portal.members import levels, tags
from portal.members.models import Program
from portal.members.tag_models import AUTO_KINDS

BATCH = 1000


def _programs() -> list[Program]:
    return list(db.session.execute(select(Program).order_by(Program.id)).scalars())


@jobs.job(queue=jobs.QUEUE_DEFAULT, title="Recount member levels")
def recount_levels() -> dict[str, int]:
    now = utcnow()
    members = changed = 0
    for program in _programs():
        program_id = program.id
        cursor = 0

        def step(size: int, program_id: int = program_id) -> int:
            nonlocal cursor, changed
            result = levels.recount_batch(program_id, after=cursor, limit=size, now=now)
            cursor = result.last_id
            changed += result.changed
            return result.members

        members += jobs.in_batches(step, BATCH)
    jobs.enqueue(refresh_member_tags, key=f"refresh-member-tags:{now.date().isoformat()}")
    return {"members": members, "changed": changed}


@jobs.job(queue=jobs.QUEUE_DEFAULT, title="Refresh automatic member tags")
def refresh_member_tags() -> dict[str, int]:
    now = utcnow()
    added = removed = 0
    for program in _programs():
        for kind in AUTO_KINDS:
            more, fewer = tags.refresh_kind(program, kind, now)
            jobs.checkpoint()
            added += more
            removed += fewer
    return {"added": added, "removed": removed}
