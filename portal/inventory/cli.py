"""`flask inventory ...`: stock commands."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from portal.inventory import services


@click.group("inventory")
def inventory_cli() -> None:
    """Stock commands."""


@inventory_cli.command("check")
@with_appcontext
def check_command() -> None:
    """Prove every stock level equals its ledger's sums and none holds more than it has.

    Exits 1 and lists the rows when they disagree."""
    bad = services.check_ledger()
    if not bad:
        click.echo("Stock levels match the ledger; no level is over-reserved.")
        return
    for row in bad:
        click.echo(
            f"location {row.location_id} variant {row.variant_id} grade {row.grade}: "
            f"level on_hand={row.on_hand} reserved={row.reserved}, "
            f"ledger on_hand={row.ledger_on_hand} reserved={row.ledger_reserved}",
            err=True,
        )
    raise SystemExit(1)
