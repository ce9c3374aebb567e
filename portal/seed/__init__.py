"""`flask seed ...`: fixed demo data for people and scripts to rely on."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from portal.core.jobs import commit
from portal.seed.catalog import catalog_summary
from portal.seed.demo import DEMO_PASSWORD, seed_demo


@click.group("seed")
def seed_cli() -> None:
    """Load demo or scale data."""


@seed_cli.command("demo")
@with_appcontext
def demo_command() -> None:
    """Load the demo network (idempotent: a second run changes nothing)."""
    if current_app.config["PORTAL_ENV"] == "production":
        raise click.ClickException("demo data is refused when PORTAL_ENV=production")
    created = seed_demo()
    commit()
    click.echo(f"Demo data ready ({created} new rows).")
    click.echo(catalog_summary())
    click.echo(f"Demo logins (password for all: {DEMO_PASSWORD}):")
    from portal.seed.demo import DEMO_USERS

    for email, _name, org, role in DEMO_USERS:
        click.echo(f"  {email:<22} {role:<18} {org}")
