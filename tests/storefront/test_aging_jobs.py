"""The nightly tier moves as HQ meets them: the scheduler's 03:30 entry (replacing the old aged
stock marks), the job on a real RQ worker against committed rows, and the HQ page that lists
each run's moves with their reasons and numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from portal.catalog.models import Product
from portal.core import jobs
from portal.core.jobs import JobRun, JobStatus
from portal.extensions import db
from portal.schedule import DAY, PERIODIC, enqueue_periodic, slot_start
from portal.storefront import aging, tiers
from portal.storefront.jobs import move_tiers
from portal.storefront.models import Tier, TierMove
from tests.support.policy import build_network
from tests.support.processes import stack_app
from tests.support.services import org
from tests.support.workers import empty_redis, run_burst_worker


def age_products(brand_id: int, old_code: str | None = None, weeks: int = 30) -> None:
    """Every product of the brand launched today, but `old_code`, launched `weeks` ago."""
    today = aging.business_today(datetime.now(UTC))
    db.session.execute(
        update(Product).where(Product.brand_id == brand_id).values(launch_date=today)
    )
    if old_code:
        db.session.execute(
            update(Product)
            .where(Product.brand_id == brand_id, Product.code == old_code)
            .values(launch_date=today - timedelta(weeks=weeks))
        )
    db.session.flush()


# -- the schedule --------------------------------------------------------------------------------


def test_the_nightly_entry_moves_tiers_at_half_past_three(app):
    names = {entry.name for entry in PERIODIC}
    assert "mark-aged-stock" not in names
    entry = next(p for p in PERIODIC if p.name == "move-tiers")
    assert (entry.job, entry.every, entry.at) == ("portal.storefront.jobs.move_tiers", DAY, "03:30")
    assert jobs.REGISTRY[entry.job].func is move_tiers
    zone = ZoneInfo("Asia/Shanghai")
    four_in_shanghai = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)
    assert slot_start(entry, DAY, four_in_shanghai, zone) == datetime(
        2026, 12, 3, 19, 30, tzinfo=UTC
    )


def test_the_scheduled_slot_moves_the_skus_and_says_so(app):
    net = build_network("AJ")
    age_products(net.brand.id, "TEE")
    run_id = enqueue_periodic("move-tiers", datetime(2026, 12, 3, 19, 30, tzinfo=UTC))
    run = db.session.get(JobRun, run_id)
    assert run.status == JobStatus.FINISHED, run.error
    assert run.result["aging"] >= 2 and run.result["moved"] >= 2
    assert tiers.tier_of(net.variants["TEE-BLK-M"].id) == Tier.OUTLET
    assert tiers.tier_of(net.variants["POLO-WHT-M"].id) == Tier.OFFICIAL
    assert aging.last_checked() == run.finished_at
    # The same slot asked for again (a second scheduler) is the same run: nothing moves twice.
    assert enqueue_periodic("move-tiers", datetime(2026, 12, 3, 19, 30, tzinfo=UTC)) == run_id


# -- a real worker -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rq_app(own_redis):
    with stack_app("portal_test_tier_jobs", own_redis.url) as app:
        yield app


@pytest.mark.redis
def test_rq_worker_moves_the_aged_skus_and_a_second_run_moves_nothing(rq_app):
    with empty_redis(rq_app), rq_app.app_context():
        net = build_network("AK")
        age_products(net.brand.id, "POLO")
        variant_id = net.variants["POLO-WHT-M"].id
        db.session.commit()
        jobs.enqueue(move_tiers, key="move-tiers:first")
        db.session.commit()

        result = run_burst_worker(rq_app)

        assert result.returncode == 0, result.stderr[-2000:]
        db.session.expire_all()
        run = db.session.get(JobRun, "move-tiers:first")
        assert run.status == JobStatus.FINISHED, run.error
        assert run.result["aging"] >= 1
        assert tiers.tier_of(variant_id) == Tier.OUTLET
        (move,) = db.session.execute(
            select(TierMove).where(TierMove.variant_id == variant_id)
        ).scalars()
        assert move.reason == "aging" and move.note.endswith(", 30 weeks ago")

        jobs.enqueue(move_tiers, key="move-tiers:again")
        db.session.commit()
        result = run_burst_worker(rq_app)
        assert result.returncode == 0, result.stderr[-2000:]
        db.session.expire_all()
        again = db.session.get(JobRun, "move-tiers:again")
        assert again.status == JobStatus.FINISHED, again.error
        assert again.result["moved"] == 0
        db.session.remove()


# -- HQ's page -----------------------------------------------------------------------------------


def english(client) -> None:
    """HQ chose English: pages under /shop/ are Chinese until one chooses."""
    with client.session_transaction() as session:
        session["lang"] = "en"


@pytest.fixture
def acme_moved(app):
    """ACME's tee launched 30 weeks ago and the night's run done: its SKUs are in the outlet."""
    acme = org("ACME")
    age_products(acme.id, "ACME-TEE-001")
    result = aging.move_all(brand_ids=[acme.id])
    assert result.moved[acme.id]["aging"] >= 1
    return result


def test_hq_sees_what_the_night_moved_and_why(client, login, acme_moved):
    acme = org("ACME")
    moved = acme_moved.moved[acme.id]["aging"]
    login("hq@demo.test")
    english(client)
    tiers_page = client.get("/shop/ACME/hq/tiers").get_data(as_text=True)
    assert 'data-testid="tier-runs-link"' in tiers_page
    assert f"The policy moved {moved} SKUs" in tiers_page
    response = client.get("/shop/ACME/hq/tier-moves")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'data-testid="tier-runs"' in page and 'data-testid="tier-rules"' in page
    assert "26 weeks after the product's launch date" in page
    assert page.count('<tr data-sku="ACME-TEE-001') == moved
    assert "Official store" in page and "Outlet" in page and "Time since launch" in page
    assert "30 weeks ago" in page
    first = aging.recent_runs(acme.id)[0].first_move_id
    by_reason = client.get(f"/shop/ACME/hq/tier-moves?run={first}&reason=sell_through")
    assert by_reason.status_code == 200
    assert '<tr data-sku="' not in by_reason.get_data(as_text=True)  # none moved for that


def test_the_page_before_any_run_says_so(client, login):
    login("merch@demo.test")  # the merchandiser manages the shop too
    english(client)
    page = client.get("/shop/ACME/hq/tier-moves").get_data(as_text=True)
    assert 'data-testid="no-tier-runs"' in page
    assert "The nightly job has not run yet." in page


def test_the_page_is_the_brands_own_hq_only(client, login, acme_moved):
    first = aging.recent_runs(org("ACME").id)[0].first_move_id
    login("staff1@demo.test")
    assert client.get("/shop/ACME/hq/tier-moves").status_code == 403
    client.post("/logout")
    login("hq2@demo.test")  # another brand's HQ
    assert client.get("/shop/ACME/hq/tier-moves").status_code == 404
    assert client.get(f"/shop/LUMI/hq/tier-moves?run={first}").status_code == 404
    client.post("/logout")
    login("hq@demo.test")
    assert client.get("/shop/ACME/hq/tier-moves?run=999999999").status_code == 404
    assert client.get("/shop/ACME/hq/tier-moves?run=abc").status_code == 404
    assert client.get("/shop/ACME/hq/tier-moves?run=" + "9" * 30).status_code == 404
    assert client.get(f"/shop/ACME/hq/tier-moves?run={first}").status_code == 200
