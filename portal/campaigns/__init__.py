"""Campaigns through the guides (issue 22): sharers, tasks and rewards, live-sale events, group
buys, red packets, and the campaign reports. A layer above guides, members and the storefront
(plugs.py joins it to their hooks); nothing below imports it (tests/test_imports.py)."""

from __future__ import annotations


def add_once(registry: list, function: object) -> None:
    """Register `function` in a hook list once, however many apps one process creates."""
    if function not in registry:
        registry.append(function)
