"""TODO(helper): API routes; they join `portal.members.api.bp`."""

from __future__ import annotations

from portal.members.api import bp

__all__ = ["bp"]
