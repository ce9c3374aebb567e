"""The replenishment formula on both backends: below min, above max, days of cover, case pack
rounding, MOQ, quota cap, supplier short, and inbound orders counted."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.core.access import Actor
from portal.core.db import utcnow
from portal.core.errors import ValidationFailed
from portal.inventory import services as stock
from portal.inventory.models import MoveReason
from portal.replenishment import engine, services
from portal.replenishment.services import RuleInput


def rule(shop, short: str, sku: str, **fields):
    return services.set_location_rule(
        shop.hq, shop.locations[short], shop.net.variants[sku], RuleInput(**fields)
    )


def proposal(shop, short: str):
    found = engine.propose(shop.net.brand.id, [shop.locations[short].id])
    return {line.variant.sku: line for p in found for line in p.lines}


def sell(shop, short: str, sku: str, qty: int, days_ago: int = 1) -> None:
    stock.apply_moves(
        Actor.system(),
        [stock.MoveLine(shop.locations[short].id, shop.net.variants[sku].id, -qty)],
        reason=MoveReason.SALE,
    )


def test_below_min_orders_up_to_max(shop):
    shop.receive("S1", "TEE-BLK-M", 3)
    rule(shop, "S1", "TEE-BLK-M", min_qty=4, max_qty=12)
    lines = proposal(shop, "S1")
    assert lines["TEE-BLK-M"].qty == 9
    reason = lines["TEE-BLK-M"].reason
    assert (reason["rule"], reason["on_hand"], reason["target"]) == ("min_max", 3, 12)


def test_above_min_orders_nothing(shop):
    shop.receive("S1", "TEE-BLK-M", 5)
    rule(shop, "S1", "TEE-BLK-M", min_qty=4, max_qty=12)
    assert proposal(shop, "S1") == {}


def test_a_sku_never_stocked_with_a_rule_is_proposed(shop):
    rule(shop, "S1", "TEE-BLK-M", min_qty=0, max_qty=5)
    assert proposal(shop, "S1")["TEE-BLK-M"].qty == 5


def test_days_of_cover_from_sales_velocity(shop):
    shop.receive("S1", "TEE-BLK-M", 30)
    sell(shop, "S1", "TEE-BLK-M", 28)  # 1 a day over the 28-day window
    rule(shop, "S1", "TEE-BLK-M", cover_days=10, lead_days=3, safety_qty=2, max_qty=None)
    lines = proposal(shop, "S1")
    # position 2 <= reorder point 1*3+2=5; target 1*(10+3)+2 = 15 -> 13
    assert lines["TEE-BLK-M"].qty == 13
    assert lines["TEE-BLK-M"].reason["velocity"] == 1.0


def test_inbound_orders_count_as_stock(shop):
    rule(shop, "S1", "TEE-BLK-M", min_qty=4, max_qty=12)
    shop.order("S1", [("TEE-BLK-M", 10)])  # from A1, not yet received
    assert proposal(shop, "S1") == {}


def test_case_pack_and_moq_round_up(shop):
    shop.receive("A1", "RUN-BLK-42", 1)
    rule(shop, "A1", "RUN-BLK-42", min_qty=2, max_qty=8)  # needs 7, case pack 6
    assert proposal(shop, "A1")["RUN-BLK-42"].qty == 12
    shop.net.publish("PO-MOQ", kind="level", values=("A",), order="sku TEE-BLK-L 10")
    rule(shop, "A1", "TEE-BLK-L", min_qty=0, max_qty=3)
    assert proposal(shop, "A1")["TEE-BLK-L"].qty == 10


def test_supplier_short_caps_and_skips(shop):
    rule(shop, "S1", "TEE-BLK-L", min_qty=0, max_qty=5)  # A1 has no TEE-BLK-L
    rule(shop, "S1", "TEE-BLK-M", min_qty=0, max_qty=50)  # A1 has 20
    lines = proposal(shop, "S1")
    assert "TEE-BLK-L" not in lines
    assert lines["TEE-BLK-M"].qty == 20
    assert lines["TEE-BLK-M"].reason["capped_by"] == "supplier"


def test_two_stores_are_not_promised_the_same_units(shop):
    rule(shop, "S1", "TEE-BLK-M", min_qty=0, max_qty=15)
    supply = engine.Supply()
    first = engine.propose(shop.net.brand.id, [shop.locations["S1"].id], supply=supply)
    assert first[0].lines[0].qty == 15
    again = engine.propose(shop.net.brand.id, [shop.locations["S1"].id], supply=supply)
    assert again[0].lines[0].qty == 5  # what A1 had left in this run


def test_quota_caps_an_allocated_sku(shop):
    from portal.ordering import services as ordering

    ordering.push_stock(
        shop.hq,
        shop.net.brand,
        ordering.parse_push_rows("POA1 POLO-WHT-M 4"),
        as_quotas=True,
        expires_at=utcnow() + timedelta(days=5),
    )
    rule(shop, "A1", "POLO-WHT-M", min_qty=0, max_qty=9)
    line = proposal(shop, "A1")["POLO-WHT-M"]
    assert (line.qty, line.reason["capped_by"]) == (4, "quota")


def test_default_rule_by_level_and_category(shop):
    from portal.catalog.models import Category
    from portal.extensions import db

    tops = db.session.query(Category).filter_by(brand_id=shop.net.brand.id, code="TOPS").one()
    services.set_default_rule(
        shop.hq, shop.net.brand, level="", category=None, data=RuleInput(min_qty=0, max_qty=2)
    )
    services.set_default_rule(
        shop.hq, shop.net.brand, level="A", category=tops, data=RuleInput(min_qty=5, max_qty=10)
    )
    shop.receive("S1", "TEE-BLK-M", 1)
    shop.receive("S1", "RUN-BLK-42", 1)
    lines = proposal(shop, "S1")
    assert lines["TEE-BLK-M"].qty == 9  # level A × TOPS
    assert "RUN-BLK-42" not in lines  # every-level default: 1 on hand, max 2, but A1 has none


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"min_qty": 5, "max_qty": 3}, "max_qty"),
        ({"max_qty": 3, "lead_days": -1}, "lead_days"),
        ({"min_qty": 1}, "max_qty"),
        ({"max_qty": 1.5}, "max_qty"),
    ],
)
def test_bad_rules_are_refused(shop, fields, field):
    with pytest.raises(ValidationFailed) as excinfo:
        rule(shop, "S1", "TEE-BLK-M", **fields)
    assert field in excinfo.value.fields
