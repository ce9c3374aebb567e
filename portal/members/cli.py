"""`flask members ...`: the operator's commands for membership. TODO(helper E): share-program."""

from __future__ import annotations

from flask.cli import AppGroup

members_cli = AppGroup("members", help="Membership programmes.")
