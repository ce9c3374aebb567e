"""10. Tier moves: the nightly job that moves stock down the tiers by each brand's policy
(`portal.storefront.jobs.move_tiers`, portal/storefront/aging.py) over every SKU of the bench
database (600,000 at full scale), timed in a process of its own with the app built on the bench
database (`python -m bench.tier_moves` prints the figures as JSON; no HTTP, no worker).

The seed has never moved a SKU and launches each season on one day for every brand. The nights
timed (each at 03:30 local time, from the call to its commit, in this order; `move_all` with
the night's moment, which is all the job does with now), with L the newest
season's launch, W the policy's sell-through weeks and E its weeks in the outlet:

1. *catch-up* (L + W weeks - 1 day): the first night the job ever runs on this catalog: every
   SKU of the older seasons moves to the outlet at once. A one-off.
2. *season* (L + W weeks): the newest season crosses its sell-through weeks (the seed's sales
   are slow): a whole season of every brand moves. The heaviest night of a running system.
3. *ordinary* (L + W weeks + 1 day): nothing is due; the job still reads every SKU and the
   ledger. Most nights are this one.
4. *catch-up, outlet* (L + W + E weeks - 1 day): what night 1 moved goes on to the employee
   store (a one-off, like night 1).
5. *season, outlet* (L + W + E weeks): what night 2 moved goes on to the employee store.

Afterwards the bench database is put back: every automatic move is deleted and each SKU's
current tier rebuilt from what is left of the ledger (HQ's hand moves), so the next run and the
shop benchmarks (which list the official storefront) find it as seeded. The moves ledger is
append-only by trigger: that one transaction skips triggers (`session_replication_role`), as
the order floor's cleanup does. The same is done first, should an earlier run have died half
way.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from typing import Any
from zoneinfo import ZoneInfo

from bench import stack
from bench.common import Context, headline, print_figures, write_result

GOAL_S = 30.0
NIGHTS = ("catch_up", "season", "ordinary", "catch_up_outlet", "season_outlet")
# The nights a running system has (the goal's nights); the catch-ups happen once.
RUNNING = ("season", "ordinary", "season_outlet")


def probe() -> dict[str, Any]:
    """Inside the app: the five nights, then the database put back."""
    from flask import current_app
    from sqlalchemy import func, select, text

    from portal import create_app
    from portal.catalog.models import Product, ProductStatus, Variant
    from portal.extensions import db
    from portal.inventory.models import StockMove
    from portal.network.models import Organization
    from portal.policy.consumer_terms import terms_for
    from portal.storefront import aging

    app = create_app()
    with app.app_context():
        zone = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])

        def night(day: date) -> datetime:
            return datetime.combine(day, clock(3, 30), zone).astimezone(UTC)

        def move_at(at: datetime) -> Callable[[], dict[str, Any]]:
            def step() -> dict[str, Any]:
                run = aging.move_all(at=at)
                return {"at": at.isoformat(), "moved": run.total, **run.by_reason()}

            return step

        def timed(step: Callable[[], Any]) -> dict[str, Any]:
            # A day passes between two nights: autovacuum has analysed what the last one moved.
            db.session.execute(text("ANALYZE sku_tiers, sku_tier_moves"))
            db.session.commit()
            started = time.perf_counter()
            value = step()
            db.session.commit()
            return {"seconds": round(time.perf_counter() - started, 2), **value}

        restore()
        skus, newest = db.session.execute(
            select(func.count(Variant.id), func.max(Product.launch_date))
            .join(Product, Product.id == Variant.product_id)
            .where(Product.status == ProductStatus.ACTIVE)
        ).one()
        ledger_rows = db.session.execute(select(func.count(StockMove.id))).scalar_one()
        brands = list(
            db.session.execute(select(Organization.id).where(Organization.kind == "brand"))
            .scalars()
            .all()
        )
        settings = [terms_for(b).tier_moves for b in brands]
        weeks = max((t.sell_through_after_weeks or 0 for t in settings), default=0)
        outlet = max((t.employee_after_weeks or 0 for t in settings), default=0)
        season = newest + timedelta(weeks=weeks)
        second = season + timedelta(weeks=outlet)
        db.session.rollback()
        nights: dict[str, dict[str, Any]] = {}
        try:
            nights["catch_up"] = timed(move_at(night(season - timedelta(days=1))))
            nights["season"] = timed(move_at(night(season)))
            nights["ordinary"] = timed(move_at(night(season + timedelta(days=1))))
            nights["catch_up_outlet"] = timed(move_at(night(second - timedelta(days=1))))
            nights["season_outlet"] = timed(move_at(night(second)))
        finally:
            db.session.rollback()
            restore()
        return {
            "skus": skus,
            "brands": len(brands),
            "ledger_rows": ledger_rows,
            "newest_launch": newest.isoformat(),
            "sell_through_weeks": weeks,
            "outlet_weeks": outlet,
            "nights": nights,
        }


def restore() -> None:
    """Every automatic move deleted, each SKU's current tier rebuilt from the moves left."""
    from sqlalchemy import text

    from portal.extensions import db
    from portal.storefront.aging import REASONS

    automatic = "actor_user_id IS NULL AND reason = ANY(:reasons)"
    reasons = {"reasons": list(REASONS)}
    db.session.execute(text("SET LOCAL session_replication_role = replica"))
    db.session.execute(
        text(
            "DELETE FROM sku_tiers WHERE move_id IN"
            f" (SELECT id FROM sku_tier_moves WHERE {automatic})"
        ),
        reasons,
    )
    db.session.execute(text(f"DELETE FROM sku_tier_moves WHERE {automatic}"), reasons)
    db.session.execute(
        text(
            "INSERT INTO sku_tiers (variant_id, brand_id, tier, pinned, move_id, moved_at)"
            " SELECT DISTINCT ON (m.variant_id) m.variant_id, m.brand_id, m.tier, m.pinned,"
            " m.id, m.created_at FROM sku_tier_moves m"
            " WHERE NOT EXISTS (SELECT 1 FROM sku_tiers t WHERE t.variant_id = m.variant_id)"
            " ORDER BY m.variant_id, m.id DESC"
        )
    )
    db.session.commit()


def run(ctx: Context) -> dict[str, Any]:
    log = stack.LOGS / "tier-moves.log"
    stack.LOGS.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as err:
        done = subprocess.run(
            [sys.executable, "-m", "bench.tier_moves"],
            cwd=stack.ROOT,
            env=stack.portal_env(ctx.url),
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    if done.returncode != 0:
        raise RuntimeError(f"tier-move probe exited {done.returncode} (log: {log})")
    return report(ctx, json.loads(done.stdout.strip().splitlines()[-1]))


def report(ctx: Context, measured: dict[str, Any]) -> dict[str, Any]:
    nights = measured["nights"]
    names = {
        "catch_up": "catch-up (the job's first night on this catalog)",
        "season": "season (the newest season crosses its sell-through weeks)",
        "ordinary": "ordinary (the night after: nothing due)",
        "catch_up_outlet": "catch-up, outlet to employee",
        "season_outlet": "season, outlet to employee",
    }
    lines = [
        f"{measured['skus']} active SKUs of {measured['brands']} brands, "
        f"{measured['ledger_rows']} stock moves in the ledger; newest launch "
        f"{measured['newest_launch']}, sell-through after {measured['sell_through_weeks']} "
        f"weeks, employee store after {measured['outlet_weeks']} weeks in the outlet",
    ]
    for key in NIGHTS:
        n = nights[key]
        lines.append(
            f"{names[key]}: {n['seconds']:.2f} s, {n['moved']} moved (aging {n['aging']}, "
            f"sell-through {n['sell_through']}, outlet age {n['outlet_age']})"
        )

    def judged(key: str) -> dict[str, Any]:
        seconds = nights[key]["seconds"]
        return headline(seconds, "s", f"<= {GOAL_S}", seconds <= GOAL_S)

    result = {
        "figures": {
            **{f"{key}_s": judged(key) for key in NIGHTS},
            "moved_on_season_night": headline(nights["season"]["moved"], "SKUs"),
            "moved_on_catch_up": headline(nights["catch_up"]["moved"], "SKUs"),
            "skus": headline(measured["skus"], "SKUs"),
        },
        **measured,
        "notes": [
            "Timed in-process, each night from the call to its commit: aging.move_all at "
            "03:30 local on the night's date (the job calls it with now).",
            "A moved SKU costs two rows (its move and its current tier) and their foreign-key "
            "checks; a night that moves nothing costs the read of every SKU and of the ledger. "
            "The catch-up nights move every older season at once and happen once, when the "
            "job first runs on a catalog that never moved; the goal is meant for the nights of "
            "a running system: " + ", ".join(RUNNING) + ".",
            "Afterwards every automatic move is deleted and the current tiers rebuilt from "
            "what is left of the ledger, so the database is as seeded for the next run.",
        ],
    }
    print_figures("tier_moves", lines)
    write_result(ctx, "tier_moves", result)
    return result


if __name__ == "__main__":
    print(json.dumps(probe(), default=str))
