"""`flask seed ...`: fixed demo data for people and scripts to rely on."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from portal.core.jobs import commit
from portal.extensions import db
from portal.network.models import Organization
from portal.seed.catalog import catalog_summary
from portal.seed.demo import DEMO_PASSWORD, seed_demo
from portal.seed.scale import PRESETS, SCALE_PASSWORD, ScaleRefused, refusal, seed_scale, sizes_from


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
    from portal.seed.storefront import CONSUMER_PASSWORD, CONSUMERS, EMAIL_CONSUMERS

    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    click.echo("Storefronts (consumers):")
    for brand in ("ACME", "LUMI"):
        click.echo(f"  {base}/shop/{brand}/   (members' outlet: {base}/shop/{brand}/outlet/)")
    click.echo("Consumer sign-in by mobile number (in demo mode the code is shown on the page):")
    for phone, name, brand, _address in CONSUMERS:
        click.echo(f"  {phone:<22} {name} ({brand})")
    for email, name, brand in EMAIL_CONSUMERS:
        click.echo(f"  {email:<22} {name} ({brand}), password {CONSUMER_PASSWORD}")
    from portal.seed.members_employees import employee_store_lines

    acme = db.session.execute(select(Organization).where(Organization.code == "ACME")).scalar_one()
    click.echo("Members (ACME and LUMI share one programme):")
    click.echo(f"  {base}/shop/ACME/member/   (coupon link: {base}/shop/ACME/coupons/SHARE50)")
    click.echo(f"  private sale: {base}/shop/ACME/employee/sales/")
    for line in employee_store_lines(acme, base):
        click.echo(line)
    from portal.seed.guides import guide_lines

    click.echo("Store shops and shopping guides:")
    for line in guide_lines(base):
        click.echo(line)
    from portal.seed.campaigns import campaign_lines

    click.echo("Campaigns (ACME):")
    for line in campaign_lines(base):
        click.echo(line)


@seed_cli.command("scale")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default="full", show_default=True)
@click.option("--brands", type=int, help="Brands (full: 24).")
@click.option("--products", type=int, help="Products over all brands (full: 40,000).")
@click.option("--colors", type=int, help="Colors per product (full: 3).")
@click.option("--sizes", type=int, help="Sizes per color (full: 5).")
@click.option("--distributors", type=int, help="Distributors (full: 300).")
@click.option("--stores", type=int, help="Stores (full: 3,000).")
@click.option("--days", type=int, help="Days of order and sales history (full: 90).")
@click.option("--seed", type=int, help="Random seed: the same seed and sizes, the same data.")
@click.option("--force", is_flag=True, help="Erase a database that holds other data.")
@with_appcontext
def scale_command(preset: str, force: bool, **overrides: int | None) -> None:
    """Erase the database and generate the scale network on PostgreSQL (for bench/)."""
    why = refusal(
        current_app.config["SQLALCHEMY_DATABASE_URI"],
        current_app.config["PORTAL_ENV"],
        force=force,
    )
    if why:
        raise click.ClickException(why)
    sizes = sizes_from(preset, overrides)
    click.echo(f"Generating {sizes} ...")
    try:
        counts = seed_scale(sizes, say=click.echo)
    except ScaleRefused as exc:
        raise click.ClickException(str(exc)) from None
    for table in ("organizations", "variants", "stock_levels", "stock_moves", "orders"):
        click.echo(f"  {table:<14} {counts.get(table, 0):>12,}")
    click.echo(
        f"Logins: b01@scale.test (HQ), d0001@scale.test, s00001@scale.test ...; "
        f"password {SCALE_PASSWORD}"
    )
