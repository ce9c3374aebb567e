"""`flask members ...`: the operator's commands for membership.

- `share-program LEAD OTHER...`: put brands in one programme (a brand group): the lead brand's
  policy sets the terms, and a person is one member, one level and one balance across them.
  Refused, changing nothing, when another brand already has members of its own programme
  (merging programmes is not supported).
"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from portal.core import jobs
from portal.core.errors import DomainError
from portal.members import member_queries, membership

members_cli = AppGroup("members", help="Membership programmes.")


@members_cli.command("share-program")
@click.argument("lead")
@click.argument("others", nargs=-1, required=True)
def share_program_command(lead: str, others: tuple[str, ...]) -> None:
    """Put the brands OTHERS in the membership programme of the brand LEAD."""
    try:
        lead_brand = membership.find_brand(lead)
        other_brands = [membership.find_brand(code) for code in others]
        program = membership.share_program(lead_brand, other_brands)
        view = member_queries.program_view(program)
    except DomainError as error:  # refused before anything changed
        raise click.ClickException(error.message) from None
    jobs.commit()
    codes = ", ".join(b.code for b in view.brands)
    click.echo(f"Programme {program.code} ({program.name}), led by {lead_brand.code}: {codes}.")
