"""`flask inventory check`: exit 0 when levels equal the ledger, 1 with the rows when not.

The runner shares the test's app context, so the command reads the test's own transaction."""

from __future__ import annotations

from sqlalchemy import text

from portal.core.access import Actor
from portal.extensions import db
from portal.inventory.models import MoveReason
from portal.inventory.services import MoveLine, apply_moves

TEE = "TEE-BLK-M"


def check(app):
    return app.test_cli_runner().invoke(args=["inventory", "check"])


def test_check_passes_when_levels_equal_the_ledger(app, stock):
    stock.receive(stock.hq_wh, TEE, 10)
    apply_moves(
        Actor.system(),
        [MoveLine(stock.hq_wh.id, stock.variant(TEE).id, reserved_delta=4)],
        reason=MoveReason.RESERVE,
    )
    result = check(app)
    assert result.exit_code == 0, result.output
    assert "match the ledger" in result.output


def test_check_fails_and_names_a_tampered_level(app, stock):
    stock.receive(stock.hq_wh, TEE, 10)
    stock.receive(stock.a1_wh, TEE, 10)
    variant_id = stock.variant(TEE).id
    db.session.execute(
        text("UPDATE stock_levels SET on_hand = 7 WHERE location_id = :loc AND variant_id = :v"),
        {"loc": stock.a1_wh.id, "v": variant_id},
    )
    result = check(app)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [
        f"location {stock.a1_wh.id} variant {variant_id} grade A: "
        "level on_hand=7 reserved=0, ledger on_hand=10 reserved=0"
    ]
