"""The periodic list, and the scheduler that runs it: the one place that says what runs when.

`python worker.py` starts the scheduler as a process of its own beside the RQ worker (or
`python worker.py --scheduler` alone). Every tick it asks, for each entry whose slot has come, for
that slot's run (a job keyed by entry and slot start, so several schedulers on several hosts never
run a slot twice: the second one's ask collapses into the first's run), and it relays the outbox:
jobs asked for while Redis was away are handed to it once it answers.

A scheduler that was down over some slots runs only the current one when it is back, and a daily
entry only if its time of day (PORTAL_TIMEZONE) passed less than DAILY_CATCH_UP ago: the nightly
run is never started in the middle of the next business day. A slot whose run failed is not asked
for again; the next slot tries anew.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import select

from portal.core import jobs
from portal.core.db import utcnow, writing
from portal.extensions import db

DAY = 86400
DAILY_CATCH_UP = timedelta(hours=4)
log = logging.getLogger("portal.schedule")


@dataclass(frozen=True)
class Periodic:
    name: str
    job: str  # registered job name
    every: int  # seconds between slots (a config key's value when `every_config` is set)
    at: str | None = None  # "HH:MM" local time, for entries that run once a day
    every_config: str | None = None
    # Run by the scheduler itself rather than handed to a worker: recovery must not wait behind
    # the very jobs whose workers died (and several schedulers running it at once is harmless).
    in_scheduler: bool = False


PERIODIC: tuple[Periodic, ...] = (
    Periodic(
        "recover-stale-jobs",
        "portal.core.jobs.recover_stale_runs",
        30,
        every_config="JOB_RECOVERY_SECONDS",
        in_scheduler=True,
    ),
    Periodic("policy-states", "portal.policy.jobs.advance_policy_states", 60),
    Periodic("expire-quotas", "portal.ordering.jobs.expire_quotas", 300),
    Periodic("prune-expired-tokens", "portal.auth.jobs.prune_expired_tokens", 3600),
    Periodic("prune-idempotency-keys", "portal.ordering.jobs.prune_idempotency_keys", 3600),
    Periodic(
        "nightly-replenishment", "portal.replenishment.jobs.nightly_replenishment", DAY, "02:00"
    ),
    Periodic("move-tiers", "portal.storefront.jobs.move_tiers", DAY, "03:30"),
    Periodic("expire-unpaid-orders", "portal.storefront.jobs.expire_unpaid_orders", 60),
    Periodic(
        "cancel-uncollected-pickups", "portal.storefront.jobs.cancel_uncollected_pickups", 3600
    ),
    Periodic("reroute-unaccepted-orders", "portal.storefront.jobs.reroute_unaccepted_orders", 300),
    Periodic("refund-unaccepted-pickups", "portal.storefront.jobs.refund_unaccepted_pickups", 300),
    Periodic("stock-webhooks", "portal.storefront.jobs.collect_availability_changes", 60),
    Periodic("mature-points", "portal.members.points_jobs.mature_points", 3600),
    Periodic("expire-points", "portal.members.points_jobs.expire_points", DAY, "00:30"),
    Periodic("recount-member-levels", "portal.members.level_jobs.recount_levels", DAY, "01:30"),
    Periodic("close-ended-sales", "portal.members.sale_jobs.close_ended_sales", 300),
    # Daily: only the first run after a month ends makes statements (a second finds them made).
    Periodic("settle-commissions", "portal.guides.jobs.settle_commissions", DAY, "02:00"),
    # Campaigns: groups that did not fill in time are refunded; task results are counted from
    # visits, claims, members and orders, and ended tasks closed with their rewards.
    Periodic("settle-buy-groups", "portal.campaigns.group_jobs.settle_buy_groups", 60),
    Periodic("count-task-results", "portal.campaigns.task_jobs.count_task_results", 300),
)
# Beside the list, every tick: jobs.relay_outbox (the outbox relay) runs in the scheduler itself,
# since it is what hands jobs to Redis in the first place.


def intervals(app: Flask) -> dict[str, int]:
    """Seconds between slots per entry: the list, then JOB_RECOVERY_SECONDS, then any
    SCHEDULE_INTERVALS override ("name=seconds,...")."""
    result = {
        p.name: int(app.config[p.every_config]) if p.every_config else p.every for p in PERIODIC
    }
    for part in str(app.config.get("SCHEDULE_INTERVALS") or "").split(","):
        if not part.strip():
            continue
        name, _, seconds = part.partition("=")
        if name.strip() not in result or not seconds.strip().isdigit() or int(seconds) < 1:
            raise ValueError(f"SCHEDULE_INTERVALS: {part.strip()!r} is not name=seconds")
        result[name.strip()] = int(seconds)
    return result


def slot_start(entry: Periodic, every: int, now: datetime, zone: ZoneInfo) -> datetime:
    """The start of the slot `now` falls in: a multiple of `every` since the epoch, or for a daily
    entry (left at its default interval) the latest local `at` time."""
    if entry.at and every == DAY:
        hour, minute = (int(part) for part in entry.at.split(":"))
        local = now.astimezone(zone)
        start = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if start > local:
            start -= timedelta(days=1)
        return start.astimezone(UTC)
    bucket = int(now.timestamp()) // every
    return datetime.fromtimestamp(bucket * every, UTC)


def slot_key(entry: Periodic, start: datetime) -> str:
    return f"periodic:{entry.name}:{start:%Y%m%dT%H%M%S}"


def enqueue_periodic(name: str, start: datetime | None = None) -> str:
    """Ask for one entry's run of the slot that starts at `start` (now's slot by default).
    Idempotent per slot, across processes and hosts."""
    from flask import current_app

    entry = next(p for p in PERIODIC if p.name == name)
    every = intervals(current_app)[name]
    zone = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    start = start or slot_start(entry, every, utcnow(), zone)
    spec = jobs.REGISTRY[entry.job]
    run = jobs.enqueue(
        spec.func, key=slot_key(entry, start), title=spec.title, requeue_failed=False
    )
    status = run.status
    jobs.commit()
    log.info("asked for %s (%s)", run.id, status)
    return run.id


class Scheduler:
    """Runs the periodic list until stopped. One tick: ask for the due slots, relay the outbox."""

    def __init__(self, app: Flask, *, parent_pid: int | None = None) -> None:
        self.app = app
        self.parent_pid = parent_pid
        self.every = intervals(app)
        self.zone = ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"])
        self.tick_seconds = float(app.config["SCHEDULER_TICK_SECONDS"])
        self.asked: dict[str, datetime] = {}  # entry -> start of the last slot asked for
        self.redis_down = False
        self.stopping = False

    def due(self, now: datetime) -> list[tuple[Periodic, datetime]]:
        found = []
        for entry in PERIODIC:
            every = self.every[entry.name]
            start = slot_start(entry, every, now, self.zone)
            if self.asked.get(entry.name) == start:
                continue
            if entry.at and every == DAY and now - start > DAILY_CATCH_UP:
                self.asked[entry.name] = start  # too late for today's: wait for tomorrow's
                continue
            found.append((entry, start))
        return found

    def tick(self) -> bool:
        """One pass; False when the database did not answer (the loop then backs off)."""
        from redis.exceptions import RedisError
        from sqlalchemy.exc import OperationalError

        # The tick writes (job rows, the outbox): on SQLite its transactions take the write lock
        # up front, so a worker's commit between a read and a write never fails it with
        # "database is locked" (a deferred reader cannot upgrade past a newer commit).
        with self.app.app_context(), writing():
            try:
                db.session.execute(select(1))
            except OperationalError as exc:
                db.session.rollback()
                log.warning("database unavailable (%s): nothing scheduled this tick", exc)
                db.session.remove()
                return False
            try:
                for entry, start in self.due(utcnow()):
                    try:
                        if entry.in_scheduler:
                            jobs.REGISTRY[entry.job].func()
                            jobs.commit()
                        else:
                            enqueue_periodic(entry.name, start)
                        self.asked[entry.name] = start
                    except Exception:  # noqa: BLE001 - logged; the slot is asked for next tick
                        db.session.rollback()
                        log.exception("could not ask for periodic entry %s", entry.name)
                try:
                    sent = jobs.relay_outbox()
                    if self.redis_down:
                        log.info("Redis answers again: the outbox relay is sending")
                    self.redis_down = False
                    if sent:
                        log.info("outbox relay handed %d job(s) to Redis", len(sent))
                except RedisError as exc:
                    db.session.rollback()
                    if not self.redis_down:
                        log.warning("Redis unavailable (%s): jobs wait in the outbox", exc)
                    self.redis_down = True
                except Exception:  # noqa: BLE001 - the database may be away too; try next tick
                    db.session.rollback()
                    log.exception("outbox relay failed")
            finally:
                db.session.remove()
        return True

    def run(self) -> None:
        def stop(signum, frame):  # noqa: ARG001 - signal handler signature
            self.stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.info(
            "scheduler started (pid %d, tick %.1f s): %s",
            os.getpid(),
            self.tick_seconds,
            ", ".join(f"{name} every {seconds} s" for name, seconds in self.every.items()),
        )
        pause = self.tick_seconds
        while not self.stopping:
            began = time.monotonic()
            if self.parent_pid is not None and os.getppid() != self.parent_pid:
                log.info("the worker that started this scheduler is gone: stopping")
                break
            try:
                healthy = self.tick()
            except Exception:  # noqa: BLE001 - a scheduler must outlive any one bad tick
                log.exception("scheduler tick failed")
                healthy = False
            # While the database is away, wait longer between tries (up to 30 s).
            pause = self.tick_seconds if healthy else min(max(pause * 2, 1.0), 30.0)
            remaining = pause - (time.monotonic() - began)
            while remaining > 0 and not self.stopping:
                time.sleep(min(remaining, 0.2))
                remaining = pause - (time.monotonic() - began)
        log.info("scheduler stopped")
