"""SKU tiers: moves are a history, the current tier sits beside it in the same transaction, only
the brand's HQ moves by hand, and a pin holds against automatic moves."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.core.access import Actor
from portal.core.errors import NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.storefront import tiers
from portal.storefront.models import SkuTier, Tier, TierMove
from tests.support.policy import Net, build_network, hq_actor


@pytest.fixture
def net(app) -> Net:
    built = build_network("TR")
    db.session.commit()
    return built


def moves_of(variant_id: int) -> list[TierMove]:
    return list(
        db.session.execute(
            select(TierMove).where(TierMove.variant_id == variant_id).order_by(TierMove.id)
        ).scalars()
    )


def test_a_sku_that_never_moved_is_official(net):
    assert tiers.tier_of(net.variants["TEE-BLK-M"].id) == Tier.OFFICIAL
    assert not tiers.is_pinned(net.variants["TEE-BLK-M"].id)


def test_moving_writes_a_move_per_sku_and_the_current_tier(net):
    tee = [net.variants["TEE-BLK-M"], net.variants["TEE-BLK-L"]]
    moved = tiers.move_tier(net.hq, tee, Tier.OUTLET, pinned=False, reason="hq", note="aged")
    assert len(moved) == 2
    tiers.move_tier(net.hq, tee[:1], Tier.EMPLOYEE, pinned=True, reason="hq", note="")
    history = moves_of(tee[0].id)
    assert [(m.tier, m.pinned, m.note) for m in history] == [
        (Tier.OUTLET, False, "aged"),
        (Tier.EMPLOYEE, True, ""),
    ]
    current = db.session.get(SkuTier, tee[0].id)
    assert (current.tier, current.pinned, current.move_id) == (Tier.EMPLOYEE, True, history[-1].id)
    assert tiers.tier_of(tee[1].id) == Tier.OUTLET
    assert tiers.is_pinned(tee[0].id) and not tiers.is_pinned(tee[1].id)
    assert [m.id for m in tiers.history([tee[0].id])] == [history[1].id, history[0].id]


def test_automatic_moves_leave_pinned_skus_where_hq_put_them(net):
    tee, polo = net.variants["TEE-BLK-M"], net.variants["POLO-WHT-M"]
    tiers.move_tier(net.hq, [tee], Tier.OFFICIAL, pinned=True, reason="hq", note="hero item")
    moved = tiers.move_tier(Actor.system(), [tee, polo], Tier.OUTLET, reason="aging")
    assert [m.variant_id for m in moved] == [polo.id]
    assert tiers.tier_of(tee.id) == Tier.OFFICIAL
    assert tiers.tier_of(polo.id) == Tier.OUTLET
    # HQ itself may still move a pinned SKU, and unpin it by moving it unpinned.
    tiers.move_tier(net.hq, [tee], Tier.OUTLET, pinned=False, reason="hq", note="")
    assert not tiers.is_pinned(tee.id)


def test_only_the_brands_hq_moves_skus(net):
    tee = net.variants["TEE-BLK-M"]
    with pytest.raises(NotFound):
        tiers.move_tier(net.actor("A1"), [tee], Tier.OUTLET, pinned=False, reason="hq", note="")
    other = build_network("TS")
    with pytest.raises(NotFound):
        tiers.move_tier(other.hq, [tee], Tier.OUTLET, pinned=False, reason="hq", note="")
    with pytest.raises(PermissionDenied):
        tiers.move_tier(_no_catalog(net), [tee], Tier.OUTLET, pinned=False, reason="hq", note="")
    assert moves_of(tee.id) == []


def _no_catalog(net: Net) -> Actor:
    actor = hq_actor(net.brand)
    return Actor(
        org_id=actor.org_id,
        org_kind=actor.org_kind,
        permissions=frozenset(p for p in actor.permissions if p.value != "catalog.manage"),
        paths=actor.paths,
        role=actor.role,
        org_code=actor.org_code,
    )


def test_unknown_tier_and_long_note_change_nothing(net):
    tee = net.variants["TEE-BLK-M"]
    with pytest.raises(ValidationFailed):
        tiers.move_tier(net.hq, [tee], "clearance", pinned=False, reason="hq", note="")
    with pytest.raises(ValidationFailed):
        tiers.move_tier(net.hq, [tee], Tier.OUTLET, pinned=False, reason="hq", note="x" * 501)
    assert moves_of(tee.id) == []
    assert db.session.get(SkuTier, tee.id) is None
