"""(stub: being written)"""

from __future__ import annotations


def plug() -> None:
    """Register this module's hooks (stub)."""
