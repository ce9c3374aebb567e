"""TODO(helper): periodic jobs."""

from __future__ import annotations
