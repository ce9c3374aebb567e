"""The group buys' periodic job (portal/schedule.py, every minute). (being written)"""

from __future__ import annotations

from typing import Any

from portal.core import jobs


@jobs.job(queue=jobs.QUEUE_DEFAULT, title="Settle group buys whose time ran out")
def settle_buy_groups() -> dict[str, Any]:
    return {}
