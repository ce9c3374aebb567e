"""What campaigns plug into the layers below, in one place. create_app calls `register()` after
the guides' plugs, so the campaigns' checkout steps run after the members' and the guides'
(a group buy's price and seat, then the campaign channel of the order), and `blueprints()`
for the pages and API.
"""

from __future__ import annotations

from flask import Blueprint

from portal.campaigns import (
    campaign_views,
    event_views,
    events,
    group_buys,
    group_views,
    packet_views,
    red_packets,
    sharer_views,
    sharers,
    task_views,
    tasks,
)


def register() -> None:
    """Idempotent: every app created in one process (the tests make many) registers once."""
    group_buys.plug()
    events.plug()
    red_packets.plug()
    tasks.plug()
    sharers.plug()  # last: the order's campaign channel reads the seat and coupons above


def blueprints() -> tuple[Blueprint, ...]:
    return (
        campaign_views.bp,
        task_views.bp,
        event_views.bp,
        group_views.bp,
        packet_views.bp,
        sharer_views.bp,
    )
