"""Stock moves down the tiers by itself (portal/storefront/aging.py): each rule of the brand's
policy (age since launch or since the first receipt, sell-through from the network's ledger,
time in the outlet), and what it never does (pinned SKUs, retired products, moving up, another
brand's SKUs, a second move the same night). Runs are given their moment (`at`) so a test can
be weeks later without waiting."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.catalog.models import ProductStatus
from portal.core.access import Actor
from portal.core.db import utcnow
from portal.extensions import db
from portal.inventory.ledger import MoveLine, apply_moves
from portal.inventory.models import MoveReason
from portal.inventory.services import default_location
from portal.policy import services
from portal.policy.models import PolicyVersion
from portal.storefront import aging, tiers
from portal.storefront.models import SkuTier, Tier, TierMove
from tests.support.policy import Net, build_network
from tests.support.retail import publish_retail

# The runs' moment: an hour ahead, so the policies the tests publish (from now on) are live then.
NOW = utcnow() + timedelta(hours=1)


def today() -> date:
    return aging.business_today(NOW)


def set_terms(net: Net, **tier_moves) -> None:
    """The brand's policy for everyone revised to say these tier moves (the rest: defaults)."""
    live = db.session.execute(
        select(PolicyVersion).where(PolicyVersion.brand_id == net.brand.id)
    ).scalar_one()
    draft = services.revise_policy(net.hq, live)
    draft.member_terms = {"tier_moves": tier_moves}
    draft.effective_from = utcnow()
    services.publish_policy(net.hq, draft)


@pytest.fixture
def net(app) -> Net:
    built = build_network("AG")
    publish_retail(built, official="all 100%", outlet="all 60%", employee="all 40%")
    db.session.flush()
    return built


def launched(net: Net, product_code: str, weeks_ago: int, days: int = 0) -> None:
    product = net.variants[next(s for s in net.variants if s.startswith(product_code))].product
    product.launch_date = today() - timedelta(weeks=weeks_ago, days=days)
    db.session.flush()


def ledger(net: Net, sku: str, reason: str, qty: int, *, org: str = "", weeks_ago: int = 0):
    """One stock move of a SKU at the brand's warehouse (or an org's), `weeks_ago`."""
    owner = net.brand if not org else db.session.get(type(net.brand), net.org_id(org))
    location = default_location(owner)
    apply_moves(
        Actor.system(),
        [MoveLine(location.id, net.variants[sku].id, qty)],
        reason=reason,
        reference=f"test-{reason}",
        occurred_at=NOW - timedelta(weeks=weeks_ago),
    )


def run(net: Net, *, weeks: int = 0, days: int = 0, brands=None) -> aging.RunResult:
    at = NOW + timedelta(weeks=weeks, days=days)
    return aging.move_all(at=at, brand_ids=[net.brand.id] if brands is None else brands)


def tier(net: Net, sku: str) -> str:
    return tiers.tier_of(net.variants[sku].id)


def moves(net: Net, sku: str) -> list[TierMove]:
    return list(
        db.session.execute(
            select(TierMove)
            .where(TierMove.variant_id == net.variants[sku].id)
            .order_by(TierMove.id)
        ).scalars()
    )


def test_skus_move_to_the_outlet_weeks_after_their_products_launch(net, client):
    launched(net, "TEE", 26)  # the default: 26 weeks after launch
    launched(net, "POLO", 25, days=6)
    launched(net, "RUN", 3)
    launched(net, "TOTE", 3)
    result = run(net)
    assert result.moved == {net.brand.id: {"aging": 2}}
    assert (tier(net, "TEE-BLK-M"), tier(net, "TEE-BLK-L")) == (Tier.OUTLET, Tier.OUTLET)
    assert tier(net, "POLO-WHT-M") == Tier.OFFICIAL
    (move,) = moves(net, "TEE-BLK-M")
    launch = today() - timedelta(weeks=26)
    assert (move.reason, move.note) == ("aging", f"launched {launch.isoformat()}, 26 weeks ago")
    assert (move.actor_user_id, move.pinned, move.created_at) == (None, False, NOW)
    current = db.session.get(SkuTier, net.variants["TEE-BLK-M"].id)
    assert (current.tier, current.move_id, current.moved_at) == (Tier.OUTLET, move.id, NOW)
    # The shop's official list no longer shows the tee; the polo is still there.
    page = client.get("/shop/AG/").get_data(as_text=True)
    assert "/shop/AG/p/POLO" in page and "/shop/AG/p/TEE" not in page


def test_without_a_launch_date_the_first_receipt_counts(net):
    ledger(net, "TEE-BLK-M", MoveReason.RECEIPT, 10)  # the products of this brand have no date
    ledger(net, "TEE-BLK-M", MoveReason.RECEIPT, 10, org="A1")  # later ones do not count
    ledger(net, "TEE-BLK-M", MoveReason.SALE, -10, org="A1")  # all sold: sell-through is fine
    ledger(net, "TEE-BLK-M", MoveReason.SALE, -10)
    assert run(net, weeks=25).total == 0
    result = run(net, weeks=26)
    assert result.moved == {net.brand.id: {"aging": 1}}
    (move,) = moves(net, "TEE-BLK-M")
    assert move.note == (f"first received {today().isoformat()} (no launch date), 26 weeks ago")
    assert tier(net, "TEE-BLK-L") == Tier.OFFICIAL  # nothing ever came in: no date at all


def test_slow_sellers_move_once_out_long_enough(net):
    for product in ("TEE", "POLO", "RUN", "TOTE"):
        launched(net, product, 9)  # past the default 8 weeks, short of 26
    # TEE-BLK-M: 100 in, 20 sold: 20% < 30%.
    ledger(net, "TEE-BLK-M", MoveReason.RECEIPT, 100)
    ledger(net, "TEE-BLK-M", MoveReason.SALE, -20)
    # TEE-BLK-L: 100 in, of which 50 went on to a distributor (shipped, received there again:
    # still 100 received) and 35 were sold there: 35%, stays. Counted twice it would be 23%.
    ledger(net, "TEE-BLK-L", MoveReason.RECEIPT, 100)
    ledger(net, "TEE-BLK-L", MoveReason.SHIPMENT, -50)
    ledger(net, "TEE-BLK-L", MoveReason.RECEIPT, 50, org="A1")
    ledger(net, "TEE-BLK-L", MoveReason.SALE, -35, org="A1")
    # POLO-WHT-M: 40 sold, 15 brought back by consumers: 25 of 100, moves.
    ledger(net, "POLO-WHT-M", MoveReason.RECEIPT, 100)
    ledger(net, "POLO-WHT-M", MoveReason.SALE, -40)
    ledger(net, "POLO-WHT-M", MoveReason.RETURN, 15)
    # RUN-BLK-42: 3 of 10 sold: 30%, not below; TOTE: nothing received, not judged.
    ledger(net, "RUN-BLK-42", MoveReason.RECEIPT, 10)
    ledger(net, "RUN-BLK-42", MoveReason.SALE, -3)
    result = run(net)
    assert result.moved == {net.brand.id: {"sell_through": 2}}
    assert {sku for sku in net.variants if tier(net, sku) == Tier.OUTLET} == {
        "TEE-BLK-M",
        "POLO-WHT-M",
    }
    assert moves(net, "TEE-BLK-M")[0].note == (
        "sell-through 20.0% (20 of 100 units) 9 weeks after launch"
    )
    assert moves(net, "POLO-WHT-M")[0].note == (
        "sell-through 25.0% (25 of 100 units) 9 weeks after launch"
    )


def test_sell_through_waits_for_its_weeks(net):
    launched(net, "TEE", 7)
    ledger(net, "TEE-BLK-M", MoveReason.RECEIPT, 100)
    assert run(net).total == 0
    assert run(net, weeks=1).moved == {net.brand.id: {"sell_through": 1}}
    assert moves(net, "TEE-BLK-M")[0].note == (
        "sell-through 0.0% (0 of 100 units) 8 weeks after launch"
    )


def test_outlet_skus_move_to_the_employee_store_after_their_weeks_there(net):
    launched(net, "TEE", 30)
    assert run(net).moved == {net.brand.id: {"aging": 2}}
    # HQ put the polo in the outlet by hand, unpinned, a week later: its weeks count from then.
    tiers.move_tier(net.hq, [net.variants["POLO-WHT-M"]], Tier.OUTLET, at=NOW + timedelta(weeks=1))
    assert run(net, weeks=25, days=6).total == 0
    result = run(net, weeks=26)
    assert result.moved == {net.brand.id: {"outlet_age": 2}}
    assert (tier(net, "TEE-BLK-M"), tier(net, "POLO-WHT-M")) == (Tier.EMPLOYEE, Tier.OUTLET)
    last = moves(net, "TEE-BLK-M")[-1]
    assert (last.reason, last.note) == (
        "outlet_age",
        f"26 weeks in the outlet (since {today().isoformat()})",
    )
    assert run(net, weeks=27).moved == {net.brand.id: {"outlet_age": 1}}
    assert tier(net, "POLO-WHT-M") == Tier.EMPLOYEE


def test_pinned_skus_stay_where_hq_put_them(net):
    launched(net, "TEE", 60)
    tee_m, tee_l = net.variants["TEE-BLK-M"], net.variants["TEE-BLK-L"]
    tiers.move_tier(net.hq, [tee_m], Tier.OFFICIAL, pinned=True, note="hero item")
    tiers.move_tier(net.hq, [tee_l], Tier.OUTLET, pinned=True, at=NOW - timedelta(weeks=40))
    assert run(net).total == 0
    assert run(net, weeks=30).total == 0
    assert (tier(net, "TEE-BLK-M"), tier(net, "TEE-BLK-L")) == (Tier.OFFICIAL, Tier.OUTLET)
    assert [m.reason for m in moves(net, "TEE-BLK-M")] == ["hq"]
    # Unpinned by HQ, the next night takes them.
    tiers.move_tier(net.hq, [tee_m], Tier.OFFICIAL, pinned=False)
    assert run(net, weeks=30, days=1).moved == {net.brand.id: {"aging": 1}}


def test_retired_products_and_the_employee_store_are_left_alone(net):
    launched(net, "TEE", 60)
    launched(net, "POLO", 60)
    net.variants["TEE-BLK-M"].product.status = ProductStatus.RETIRED
    tiers.move_tier(net.hq, [net.variants["POLO-WHT-M"]], Tier.EMPLOYEE)
    db.session.flush()
    assert run(net, weeks=60).total == 0  # the tees are retired, the polo is as low as it goes
    assert tier(net, "TEE-BLK-M") == Tier.OFFICIAL
    assert tier(net, "POLO-WHT-M") == Tier.EMPLOYEE


def test_a_second_run_the_same_night_moves_nothing(net):
    launched(net, "TEE", 30)
    launched(net, "POLO", 9)
    ledger(net, "POLO-WHT-M", MoveReason.RECEIPT, 10)
    first = run(net)
    assert first.total == 3
    count = db.session.execute(select(func.count(TierMove.id))).scalar_one()
    assert run(net, days=0).total == 0
    later_that_night = aging.move_all(at=NOW + timedelta(minutes=10), brand_ids=[net.brand.id])
    assert later_that_night.total == 0
    assert db.session.execute(select(func.count(TierMove.id))).scalar_one() == count


def test_a_setting_left_empty_turns_its_rule_off(net):
    set_terms(
        net,
        outlet_after_weeks=None,
        sell_through_below_bp=5000,
        sell_through_after_weeks=2,
        employee_after_weeks=None,
    )
    launched(net, "TEE", 60)  # old, but age no longer moves anything
    launched(net, "POLO", 3)
    ledger(net, "POLO-WHT-M", MoveReason.RECEIPT, 10)
    ledger(net, "POLO-WHT-M", MoveReason.SALE, -4)  # 40% < 50%
    assert run(net).moved == {net.brand.id: {"sell_through": 1}}
    assert run(net, weeks=100).total == 0  # nor does time in the outlet
    assert tier(net, "TEE-BLK-M") == Tier.OFFICIAL


def test_each_brand_moves_by_its_own_policy_and_only_its_own_skus(net):
    other = build_network("AH")
    db.session.flush()
    set_terms(net, outlet_after_weeks=4)
    for brand in (net, other):
        for product in ("TEE", "POLO", "RUN", "TOTE"):
            launched(brand, product, 5)
    result = aging.move_all(at=NOW)  # every brand, as the job runs it
    assert result.moved[net.brand.id] == {"aging": 5}
    assert other.brand.id not in result.moved  # its policy says 26 weeks
    assert all(tier(other, sku) == Tier.OFFICIAL for sku in other.variants)
    assert moves(other, "TEE-BLK-M") == []


def test_the_run_is_recorded_for_hq(net):
    launched(net, "TEE", 30)
    result = run(net)
    (found,) = aging.recent_runs(net.brand.id)
    assert (found.at, found.counts, found.total) == (NOW, {"aging": 2}, 2)
    assert aging.find_run(net.brand.id, found.first_move_id) == found
    other = build_network("AI")
    assert aging.find_run(other.brand.id, found.first_move_id) is None
    page = aging.run_moves(net.brand.id, found, reason="aging", page=1, per_page=50)
    assert [m.variant.sku for m in page.items] == ["TEE-BLK-L", "TEE-BLK-M"]
    from portal.core.audit import AuditEvent

    event = db.session.execute(
        select(AuditEvent).where(
            AuditEvent.action == "storefront.tiers_moved_by_policy",
            AuditEvent.brand_id == net.brand.id,
        )
    ).scalar_one()
    assert (event.details["skus"], event.details["aging"]) == (2, 2)
    assert result.by_reason() == {"aging": 2, "sell_through": 0, "outlet_age": 0}


def test_hq_moves_keep_working_beside_the_job(net):
    launched(net, "TEE", 30)
    run(net)
    moved = tiers.move_tier(net.hq, [net.variants["TEE-BLK-M"]], Tier.OFFICIAL, pinned=True)
    assert len(moved) == 1
    assert tier(net, "TEE-BLK-M") == Tier.OFFICIAL and tiers.is_pinned(net.variants["TEE-BLK-M"].id)
    assert run(net, weeks=26).moved == {net.brand.id: {"outlet_age": 1}}  # TEE-BLK-L only
