"""Stock services called with actors: levels move only with their ledger rows, never below what
orders hold, and the check proves levels equal the ledger's sums."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from portal.core.access import Actor, Role
from portal.core.audit import AuditEvent
from portal.core.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.inventory import services
from portal.inventory.errors import InsufficientStock
from portal.inventory.models import Grade, MoveReason, StockMove
from portal.inventory.services import MAX_QUANTITY, MoveLine, apply_moves, check_ledger
from tests.inventory.conftest import Stock
from tests.support.policy import hq_actor

SYSTEM = Actor.system()
TEE = "TEE-BLK-M"
TEE_L = "TEE-BLK-L"
POLO = "POLO-WHT-M"


def reserve(stock: Stock, location, sku: str, qty: int, *, where: str = "qty"):
    return apply_moves(
        SYSTEM,
        [MoveLine(location.id, stock.variant(sku).id, reserved_delta=qty, where=where)],
        reason=MoveReason.RESERVE,
        reference="PO-1",
    )


# -- apply_moves ---------------------------------------------------------------------------------


def test_receipt_creates_the_level_and_one_ledger_row(stock):
    assert stock.level(stock.hq_wh, TEE) is None
    stock.receive(stock.hq_wh, TEE, 100)
    assert stock.level(stock.hq_wh, TEE) == (100, 0)
    (move,) = stock.moves()
    assert (move.location_id, move.variant_id, move.grade) == (
        stock.hq_wh.id,
        stock.variant(TEE).id,
        Grade.A,
    )
    assert (move.on_hand_delta, move.reserved_delta, move.reason, move.reference) == (
        100,
        0,
        MoveReason.RECEIPT,
        "test-receipt",
    )
    assert move.brand_id == stock.net.brand.id
    assert check_ledger() == []


def test_a_second_receipt_adds_to_the_same_level(stock):
    stock.receive(stock.hq_wh, TEE, 100)
    stock.receive(stock.hq_wh, TEE, 20)
    assert stock.level(stock.hq_wh, TEE) == (120, 0)
    assert [m.on_hand_delta for m in stock.moves()] == [100, 20]


def test_reserve_within_available_holds_the_units(stock):
    stock.receive(stock.hq_wh, TEE, 10)
    (move,) = reserve(stock, stock.hq_wh, TEE, 10)
    assert stock.level(stock.hq_wh, TEE) == (10, 10)
    assert services.available(stock.hq_wh.id, stock.variant(TEE).id) == 0
    assert (move.on_hand_delta, move.reserved_delta, move.reason) == (0, 10, MoveReason.RESERVE)
    assert check_ledger() == []


def test_a_reservation_that_keeps_a_safety_stock_leaves_those_units_behind(stock):
    """An online order keeps a store's safety stock for walk-in customers: of 10 units with 3
    kept, 7 can be held, the 8th is refused naming the 7, and nothing of the refusal stays."""
    stock.receive(stock.hq_wh, TEE, 10)
    variant_id = stock.variant(TEE).id
    apply_moves(
        SYSTEM,
        [MoveLine(stock.hq_wh.id, variant_id, reserved_delta=7, keep=3)],
        reason=MoveReason.RESERVE,
    )
    with pytest.raises(InsufficientStock) as error:
        apply_moves(
            SYSTEM,
            [MoveLine(stock.hq_wh.id, variant_id, reserved_delta=1, keep=3, where="lines.0")],
            reason=MoveReason.RESERVE,
        )
    assert error.value.fields == {"lines.0": "Only 0 available."}
    assert stock.level(stock.hq_wh, TEE) == (10, 7)
    assert check_ledger() == []


def test_reserve_beyond_available_names_the_line_and_the_quantity_available(stock):
    stock.receive(stock.hq_wh, TEE, 10)
    reserve(stock, stock.hq_wh, TEE, 4)
    with pytest.raises(InsufficientStock) as error:
        reserve(stock, stock.hq_wh, TEE, 7, where="lines.2")
    assert error.value.code == "insufficient_stock"
    assert error.value.extra == {"available": 6}
    assert error.value.fields == {"lines.2": "Only 6 available."}
    assert stock.level(stock.hq_wh, TEE) == (10, 4)
    assert len(stock.moves()) == 2  # the receipt and the first hold, nothing for the refused one


def test_a_refused_multi_line_move_leaves_nothing_even_if_the_caller_commits(stock):
    stock.receive(stock.hq_wh, TEE, 5)
    lines = [
        services.MoveLine(stock.hq_wh.id, stock.variant(TEE).id, reserved_delta=2),
        services.MoveLine(stock.hq_wh.id, stock.variant(POLO).id, reserved_delta=1, where="l.2"),
    ]
    with pytest.raises(InsufficientStock):
        services.apply_moves(Actor.system(), lines, reason=MoveReason.RESERVE)
    db.session.commit()  # a caller that collects line errors and goes on
    assert stock.level(stock.hq_wh, TEE) == (5, 0)
    assert check_ledger() == []


def test_reserving_a_sku_never_received_there_reports_zero_available(stock):
    with pytest.raises(InsufficientStock) as error:
        reserve(stock, stock.a1_wh, TEE, 1)
    assert error.value.extra == {"available": 0}
    assert stock.level(stock.a1_wh, TEE) is None
    assert stock.moves() == []


def test_stock_at_another_location_does_not_count(stock):
    stock.receive(stock.hq_wh, TEE, 50)
    with pytest.raises(InsufficientStock):
        reserve(stock, stock.a1_wh, TEE, 1)


def test_release_gives_held_units_back(stock):
    stock.receive(stock.hq_wh, TEE, 10)
    reserve(stock, stock.hq_wh, TEE, 6)
    apply_moves(
        SYSTEM,
        [MoveLine(stock.hq_wh.id, stock.variant(TEE).id, reserved_delta=-6)],
        reason=MoveReason.RELEASE,
        reference="PO-1",
    )
    assert stock.level(stock.hq_wh, TEE) == (10, 0)
    assert check_ledger() == []


def test_releasing_more_than_is_held_is_refused(stock):
    stock.receive(stock.hq_wh, TEE, 10)
    reserve(stock, stock.hq_wh, TEE, 2)
    with pytest.raises(InsufficientStock):
        apply_moves(
            SYSTEM,
            [MoveLine(stock.hq_wh.id, stock.variant(TEE).id, reserved_delta=-3)],
            reason=MoveReason.RELEASE,
        )
    assert stock.level(stock.hq_wh, TEE) == (10, 2)


def test_shipping_held_units_takes_them_off_hand_and_keeps_available(stock):
    stock.receive(stock.hq_wh, TEE, 10)
    reserve(stock, stock.hq_wh, TEE, 4)
    apply_moves(
        SYSTEM,
        [MoveLine(stock.hq_wh.id, stock.variant(TEE).id, on_hand_delta=-4, reserved_delta=-4)],
        reason=MoveReason.SHIPMENT,
        reference="PO-1",
    )
    assert stock.level(stock.hq_wh, TEE) == (6, 0)
    assert services.available(stock.hq_wh.id, stock.variant(TEE).id) == 6
    assert check_ledger() == []


def test_shipping_without_a_hold_cannot_take_units_that_orders_hold(stock):
    stock.receive(stock.hq_wh, TEE, 10)
    reserve(stock, stock.hq_wh, TEE, 8)
    with pytest.raises(InsufficientStock) as error:
        apply_moves(
            SYSTEM,
            [MoveLine(stock.hq_wh.id, stock.variant(TEE).id, on_hand_delta=-3)],
            reason=MoveReason.SHIPMENT,
        )
    assert error.value.extra == {"available": 2}
    assert stock.level(stock.hq_wh, TEE) == (10, 8)


def test_duplicate_lines_in_one_call_are_summed_into_one_ledger_row(stock):
    stock.receive(stock.hq_wh, TEE, 10)
    variant_id = stock.variant(TEE).id
    moves = apply_moves(
        SYSTEM,
        [
            MoveLine(stock.hq_wh.id, variant_id, reserved_delta=3, where="lines.0"),
            MoveLine(stock.hq_wh.id, variant_id, reserved_delta=4, where="lines.1"),
        ],
        reason=MoveReason.RESERVE,
    )
    assert [m.reserved_delta for m in moves] == [7]
    assert stock.level(stock.hq_wh, TEE) == (10, 7)
    assert check_ledger() == []


def test_duplicate_lines_that_each_fit_but_not_together_are_refused(stock):
    stock.receive(stock.hq_wh, TEE, 10)
    variant_id = stock.variant(TEE).id
    with pytest.raises(InsufficientStock) as error:
        apply_moves(
            SYSTEM,
            [
                MoveLine(stock.hq_wh.id, variant_id, reserved_delta=6, where="lines.0"),
                MoveLine(stock.hq_wh.id, variant_id, reserved_delta=6, where="lines.1"),
            ],
            reason=MoveReason.RESERVE,
        )
    assert error.value.extra == {"available": 10}
    assert stock.level(stock.hq_wh, TEE) == (10, 0)


def test_lines_of_several_skus_are_applied_together(stock):
    stock.receive(stock.hq_wh, TEE, 10)
    stock.receive(stock.hq_wh, TEE_L, 5)
    moves = apply_moves(
        SYSTEM,
        [
            MoveLine(stock.hq_wh.id, stock.variant(TEE_L).id, reserved_delta=5),
            MoveLine(stock.hq_wh.id, stock.variant(TEE).id, reserved_delta=2),
        ],
        reason=MoveReason.RESERVE,
    )
    assert len(moves) == 2
    assert stock.level(stock.hq_wh, TEE) == (10, 2)
    assert stock.level(stock.hq_wh, TEE_L) == (5, 5)


def test_lines_that_cancel_out_write_nothing(stock):
    stock.receive(stock.hq_wh, TEE, 10)
    variant_id = stock.variant(TEE).id
    moves = apply_moves(
        SYSTEM,
        [
            MoveLine(stock.hq_wh.id, variant_id, reserved_delta=3),
            MoveLine(stock.hq_wh.id, variant_id, reserved_delta=-3),
        ],
        reason=MoveReason.RESERVE,
    )
    assert moves == []
    assert len(stock.moves()) == 1


@pytest.mark.parametrize("delta", [1.5, 2.0, "3", None, MAX_QUANTITY + 1, -(MAX_QUANTITY + 1)])
def test_apply_moves_refuses_unusable_quantities_naming_the_line(stock, delta):
    stock.receive(stock.hq_wh, TEE, 10)
    with pytest.raises(ValidationFailed) as error:
        apply_moves(
            SYSTEM,
            [
                MoveLine(
                    stock.hq_wh.id, stock.variant(TEE).id, reserved_delta=delta, where="lines.4"
                )
            ],
            reason=MoveReason.RESERVE,
        )
    assert set(error.value.fields) == {"lines.4"}
    assert stock.level(stock.hq_wh, TEE) == (10, 0)
    assert len(stock.moves()) == 1


def test_apply_moves_refuses_an_unknown_grade_sku_or_reason(stock):
    stock.receive(stock.hq_wh, TEE, 10)
    variant_id = stock.variant(TEE).id
    with pytest.raises(ValidationFailed) as error:
        apply_moves(
            SYSTEM, [MoveLine(stock.hq_wh.id, variant_id, 1, grade="C")], reason=MoveReason.RECEIPT
        )
    assert set(error.value.fields) == {"qty"}
    with pytest.raises(ValidationFailed) as error:
        apply_moves(SYSTEM, [MoveLine(stock.hq_wh.id, 10**9, 1)], reason=MoveReason.RECEIPT)
    assert error.value.fields == {"sku": "Unknown SKU."}
    with pytest.raises(ValueError):
        apply_moves(SYSTEM, [MoveLine(stock.hq_wh.id, variant_id, 1)], reason="gift")
    assert stock.level(stock.hq_wh, TEE) == (10, 0)
    assert len(stock.moves()) == 1


def test_each_move_records_its_actor(stock):
    admin = stock.admin("A1")
    services.adjust_stock(
        admin, stock.a1_wh, stock.variant(TEE), delta=5, reason=MoveReason.FOUND, note="Back room"
    )
    (move,) = stock.moves(stock.a1_wh)
    assert (move.actor_org_id, move.reason, move.note) == (
        stock.net.org_id("A1"),
        MoveReason.FOUND,
        "Back room",
    )


# -- adjustments, counts, damage -----------------------------------------------------------------


def test_adjust_stock_adds_and_removes_units_with_a_reason_and_an_audit_event(stock):
    admin = stock.admin("A1")
    variant = stock.variant(TEE)
    services.adjust_stock(admin, stock.a1_wh, variant, delta=12, note="Opening stock")
    services.adjust_stock(admin, stock.a1_wh, variant, delta=-2, note="Lost in transit")
    assert stock.level(stock.a1_wh, TEE) == (10, 0)
    assert [(m.on_hand_delta, m.reason) for m in stock.moves()] == [
        (12, MoveReason.ADJUSTMENT),
        (-2, MoveReason.ADJUSTMENT),
    ]
    events = db.session.execute(
        select(AuditEvent).where(AuditEvent.action == "stock.adjusted").order_by(AuditEvent.id)
    ).scalars()
    assert [(e.org_id, e.details["sku"], e.details["delta"]) for e in events] == [
        (stock.net.org_id("A1"), TEE, 12),
        (stock.net.org_id("A1"), TEE, -2),
    ]


def test_an_adjustment_below_what_orders_hold_is_refused(stock):
    stock.receive(stock.a1_wh, TEE, 10)
    reserve(stock, stock.a1_wh, TEE, 7)
    with pytest.raises(InsufficientStock) as error:
        services.adjust_stock(
            stock.admin("A1"), stock.a1_wh, stock.variant(TEE), delta=-4, note="Shrinkage"
        )
    assert error.value.fields == {"delta": "Only 3 available."}
    assert error.value.extra == {"available": 3}
    assert stock.level(stock.a1_wh, TEE) == (10, 7)
    services.adjust_stock(
        stock.admin("A1"), stock.a1_wh, stock.variant(TEE), delta=-3, note="Shrinkage"
    )
    assert stock.level(stock.a1_wh, TEE) == (7, 7)


def test_an_adjustment_needs_a_note_and_an_adjusting_reason(stock):
    admin, variant = stock.admin("A1"), stock.variant(TEE)
    with pytest.raises(ValidationFailed) as error:
        services.adjust_stock(admin, stock.a1_wh, variant, delta=5, note="   ")
    assert set(error.value.fields) == {"note"}
    with pytest.raises(ValidationFailed) as error:
        services.adjust_stock(
            admin, stock.a1_wh, variant, delta=5, reason=MoveReason.SALE, note="Sold"
        )
    assert set(error.value.fields) == {"reason"}
    assert stock.moves() == []


UNUSABLE = [0, 1.5, 2.0, "3", None, MAX_QUANTITY + 1]


@pytest.mark.parametrize("delta", [*UNUSABLE, -(MAX_QUANTITY + 1)])
def test_adjust_stock_refuses_an_unusable_delta_and_changes_nothing(stock, delta):
    stock.receive(stock.a1_wh, TEE, 10)
    before = stock.move_count()
    with pytest.raises(ValidationFailed) as error:
        services.adjust_stock(
            stock.admin("A1"), stock.a1_wh, stock.variant(TEE), delta=delta, note="Typo"
        )
    assert set(error.value.fields) == {"delta"}
    assert stock.level(stock.a1_wh, TEE) == (10, 0)
    assert stock.move_count() == before


def test_count_stock_writes_the_difference_to_the_ledger(stock):
    admin, variant = stock.admin("A1"), stock.variant(TEE)
    stock.receive(stock.a1_wh, TEE, 10)
    move = services.count_stock(admin, stock.a1_wh, variant, counted=7, grade=Grade.A, note="Q3")
    assert (move.on_hand_delta, move.reserved_delta, move.reason) == (-3, 0, MoveReason.COUNT)
    assert stock.level(stock.a1_wh, TEE) == (7, 0)
    move = services.count_stock(admin, stock.a1_wh, variant, counted=9, grade=Grade.A, note="Q3")
    assert move.on_hand_delta == 2
    assert stock.level(stock.a1_wh, TEE) == (9, 0)
    assert check_ledger() == []


def test_a_count_that_matches_writes_nothing(stock):
    stock.receive(stock.a1_wh, TEE, 10)
    assert (
        services.count_stock(
            stock.admin("A1"), stock.a1_wh, stock.variant(TEE), counted=10, grade="A", note="Q3"
        )
        is None
    )
    assert len(stock.moves()) == 1


def test_counting_a_sku_never_recorded_creates_its_level(stock):
    services.count_stock(
        stock.admin("S1"), stock.s1_shelf, stock.variant(TEE), counted=4, grade="B", note="Q3"
    )
    assert stock.level(stock.s1_shelf, TEE, Grade.B) == (4, 0)
    assert check_ledger() == []


def test_a_count_below_what_orders_hold_is_refused(stock):
    stock.receive(stock.a1_wh, TEE, 10)
    reserve(stock, stock.a1_wh, TEE, 6)
    with pytest.raises(InsufficientStock) as error:
        services.count_stock(
            stock.admin("A1"), stock.a1_wh, stock.variant(TEE), counted=5, grade="A", note="Q3"
        )
    assert set(error.value.fields) == {"counted"}
    assert stock.level(stock.a1_wh, TEE) == (10, 6)


@pytest.mark.parametrize("counted", [-1, 1.5, 2.0, "3", None, MAX_QUANTITY + 1])
def test_count_stock_refuses_an_unusable_count_and_changes_nothing(stock, counted):
    stock.receive(stock.a1_wh, TEE, 10)
    with pytest.raises(ValidationFailed) as error:
        services.count_stock(
            stock.admin("A1"), stock.a1_wh, stock.variant(TEE), counted=counted, grade="A", note="x"
        )
    assert set(error.value.fields) == {"counted"}
    assert stock.level(stock.a1_wh, TEE) == (10, 0)
    assert stock.move_count() == 1


def test_mark_damaged_moves_units_from_grade_a_to_grade_b(stock):
    stock.receive(stock.s1_shelf, TEE, 10)
    moves = services.mark_damaged(
        stock.admin("S1"), stock.s1_shelf, stock.variant(TEE), qty=3, note="Stained"
    )
    assert sorted((m.grade, m.on_hand_delta, m.reason) for m in moves) == [
        (Grade.A, -3, MoveReason.DAMAGE),
        (Grade.B, 3, MoveReason.DAMAGE),
    ]
    assert stock.level(stock.s1_shelf, TEE, Grade.A) == (7, 0)
    assert stock.level(stock.s1_shelf, TEE, Grade.B) == (3, 0)
    assert check_ledger() == []


def test_units_held_by_orders_cannot_be_marked_damaged(stock):
    stock.receive(stock.s1_shelf, TEE, 10)
    reserve(stock, stock.s1_shelf, TEE, 8)
    with pytest.raises(InsufficientStock) as error:
        services.mark_damaged(
            stock.admin("S1"), stock.s1_shelf, stock.variant(TEE), qty=3, note="Stained"
        )
    assert error.value.extra == {"available": 2}
    assert set(error.value.fields) == {"qty"}
    assert stock.level(stock.s1_shelf, TEE, Grade.A) == (10, 8)
    assert stock.level(stock.s1_shelf, TEE, Grade.B) is None


@pytest.mark.parametrize("qty", [*UNUSABLE, -2])
def test_mark_damaged_refuses_an_unusable_quantity_and_changes_nothing(stock, qty):
    stock.receive(stock.s1_shelf, TEE, 10)
    with pytest.raises(ValidationFailed) as error:
        services.mark_damaged(
            stock.admin("S1"), stock.s1_shelf, stock.variant(TEE), qty=qty, note="Stained"
        )
    assert set(error.value.fields) == {"qty"}
    assert stock.level(stock.s1_shelf, TEE, Grade.A) == (10, 0)
    assert stock.level(stock.s1_shelf, TEE, Grade.B) is None
    assert stock.move_count() == 1


# -- who may change stock ------------------------------------------------------------------------


def test_only_the_org_holding_the_stock_adjusts_it(stock):
    stock.receive(stock.a1_wh, TEE, 10)
    stock.receive(stock.s1_shelf, TEE, 10)
    variant = stock.variant(TEE)
    above = [
        (stock.net.hq, stock.a1_wh),  # HQ above its distributor
        (stock.net.hq, stock.s1_shelf),
        (stock.admin("A1"), stock.s1_shelf),  # a distributor above its store
        (stock.admin("A2"), stock.a1_wh),  # a sibling
    ]
    for actor, location in above:
        with pytest.raises(PermissionDenied):
            services.adjust_stock(actor, location, variant, delta=1, note="Not mine")
        with pytest.raises(PermissionDenied):
            services.count_stock(actor, location, variant, counted=1, grade="A", note="Not mine")
        with pytest.raises(PermissionDenied):
            services.mark_damaged(actor, location, variant, qty=1, note="Not mine")
    assert stock.level(stock.a1_wh, TEE) == (10, 0)
    assert stock.level(stock.s1_shelf, TEE) == (10, 0)
    assert stock.move_count() == 2


def test_store_staff_buyers_and_merchandisers_lack_stock_adjust_at_their_own_location(stock):
    variant = stock.variant(TEE)
    for actor, location in [
        (stock.net.actor("S1", Role.STORE_STAFF), stock.s1_shelf),
        (stock.net.actor("A1", Role.DISTRIBUTOR_BUYER), stock.a1_wh),
        (hq_actor(stock.net.brand, Role.HQ_MERCHANDISER), stock.hq_wh),
    ]:
        with pytest.raises(PermissionDenied):
            services.adjust_stock(actor, location, variant, delta=1, note="Found")
        with pytest.raises(PermissionDenied):
            services.mark_damaged(actor, location, variant, qty=1, note="Stained")
    assert stock.moves() == []


def test_the_holding_org_and_the_system_adjust(stock):
    variant = stock.variant(TEE)
    services.adjust_stock(stock.net.hq, stock.hq_wh, variant, delta=5, note="Opening")
    services.adjust_stock(stock.admin("S1"), stock.s1_shelf, variant, delta=2, note="Found")
    services.adjust_stock(SYSTEM, stock.a1_wh, variant, delta=1, note="Migration")
    assert stock.level(stock.hq_wh, TEE) == (5, 0)
    assert stock.level(stock.s1_shelf, TEE) == (2, 0)
    assert stock.level(stock.a1_wh, TEE) == (1, 0)


# -- the ledger ----------------------------------------------------------------------------------


def test_a_stock_move_cannot_be_edited(stock):
    stock.receive(stock.hq_wh, TEE, 10)
    db.session.commit()
    (move,) = stock.moves()
    move.on_hand_delta = 1000
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    assert [m.on_hand_delta for m in stock.moves()] == [10]


def test_a_stock_move_cannot_be_deleted(stock):
    stock.receive(stock.hq_wh, TEE, 10)
    db.session.commit()
    (move,) = stock.moves()
    db.session.delete(move)
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    assert len(stock.moves()) == 1


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE stock_moves SET on_hand_delta = 1000 WHERE brand_id = :brand",
        "DELETE FROM stock_moves WHERE brand_id = :brand",
    ],
    ids=["update", "delete"],
)
def test_the_database_refuses_to_edit_or_delete_a_stock_move_whatever_the_client(stock, statement):
    stock.receive(stock.hq_wh, TEE, 10)
    with pytest.raises(DBAPIError, match="append-only"), db.session.begin_nested():
        db.session.execute(text(statement), {"brand": stock.net.brand.id})
    with pytest.raises(DBAPIError, match="append-only"), db.session.begin_nested():
        db.session.execute(
            update(StockMove)
            .where(StockMove.brand_id == stock.net.brand.id)
            .values(reserved_delta=5)
            .execution_options(synchronize_session=False)
        )
    assert [(m.on_hand_delta, m.reserved_delta) for m in stock.moves()] == [(10, 0)]


def test_levels_equal_the_ledger_sums_after_a_mixed_sequence(stock):
    hq, a1, s1 = stock.net.hq, stock.admin("A1"), stock.admin("S1")
    tee, tee_l = stock.variant(TEE), stock.variant(TEE_L)
    stock.receive(stock.hq_wh, TEE, 100)
    stock.receive(stock.hq_wh, TEE_L, 40)
    reserve(stock, stock.hq_wh, TEE, 30)
    reserve(stock, stock.hq_wh, TEE_L, 10)
    # ship 20 of the 30 held to A1, release the other 10
    apply_moves(
        SYSTEM,
        [
            MoveLine(stock.hq_wh.id, tee.id, -20, -20),
            MoveLine(stock.hq_wh.id, tee.id, 0, -10),
            MoveLine(stock.a1_wh.id, tee.id, 20),
        ],
        reason=MoveReason.TRANSFER,
        reference="PO-1",
    )
    services.mark_damaged(a1, stock.a1_wh, tee, qty=2, note="Torn")
    services.count_stock(a1, stock.a1_wh, tee, counted=17, grade="A", note="Count")
    services.adjust_stock(hq, stock.hq_wh, tee_l, delta=-5, note="Samples")
    apply_moves(SYSTEM, [MoveLine(stock.s1_shelf.id, tee.id, 6)], reason=MoveReason.RECEIPT)
    services.mark_damaged(s1, stock.s1_shelf, tee, qty=1, note="Stained")
    apply_moves(SYSTEM, [MoveLine(stock.s1_shelf.id, tee.id, -4)], reason=MoveReason.SALE)
    db.session.commit()
    with pytest.raises(InsufficientStock):
        reserve(stock, stock.hq_wh, TEE_L, 26)
    db.session.rollback()  # what a boundary does after a refusal: the session is reusable

    assert stock.level(stock.hq_wh, TEE) == (80, 0)
    assert stock.level(stock.hq_wh, TEE_L) == (35, 10)
    assert stock.level(stock.a1_wh, TEE) == (17, 0)
    assert stock.level(stock.a1_wh, TEE, Grade.B) == (2, 0)
    assert stock.level(stock.s1_shelf, TEE) == (1, 0)
    assert stock.level(stock.s1_shelf, TEE, Grade.B) == (1, 0)
    assert check_ledger() == []


def test_a_tampered_level_is_reported_with_its_row(stock):
    stock.receive(stock.hq_wh, TEE, 10)
    stock.receive(stock.hq_wh, TEE_L, 10)
    reserve(stock, stock.hq_wh, TEE, 4)
    db.session.execute(
        text("UPDATE stock_levels SET on_hand = on_hand + 5 WHERE variant_id = :v"),
        {"v": stock.variant(TEE).id},
    )
    assert check_ledger() == [
        services.Disagreement(
            location_id=stock.hq_wh.id,
            variant_id=stock.variant(TEE).id,
            grade="A",
            on_hand=15,
            reserved=4,
            ledger_on_hand=10,
            ledger_reserved=4,
        )
    ]


def test_a_level_deleted_behind_the_ledgers_back_is_reported(stock):
    stock.receive(stock.hq_wh, TEE, 10)
    db.session.execute(
        text("DELETE FROM stock_levels WHERE variant_id = :v"), {"v": stock.variant(TEE).id}
    )
    assert check_ledger() == [
        services.Disagreement(stock.hq_wh.id, stock.variant(TEE).id, "A", 0, 0, 10, 0)
    ]


def test_a_ledger_row_written_without_its_level_change_is_reported(stock):
    stock.receive(stock.hq_wh, TEE, 10)
    db.session.add(
        StockMove(
            brand_id=stock.net.brand.id,
            location_id=stock.hq_wh.id,
            variant_id=stock.variant(TEE).id,
            grade="A",
            on_hand_delta=0,
            reserved_delta=3,
            reason=MoveReason.RESERVE,
        )
    )
    db.session.flush()
    (row,) = check_ledger()
    assert (row.on_hand, row.reserved, row.ledger_on_hand, row.ledger_reserved) == (10, 0, 10, 3)


def test_counts_and_adjustments_refuse_an_unknown_grade_naming_it(stock):
    admin, variant = stock.admin("A1"), stock.variant(TEE)
    with pytest.raises(ValidationFailed) as error:
        services.count_stock(admin, stock.a1_wh, variant, counted=0, grade="C", note="Q3")
    assert set(error.value.fields) == {"grade"}
    with pytest.raises(ValidationFailed) as error:
        services.count_stock(admin, stock.a1_wh, variant, counted=4, grade="C", note="Q3")
    assert set(error.value.fields) == {"grade"}
    with pytest.raises(ValidationFailed) as error:
        services.adjust_stock(admin, stock.a1_wh, variant, delta=4, grade="C", note="Found")
    assert set(error.value.fields) == {"grade"}
    assert stock.moves() == []
