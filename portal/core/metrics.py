"""Counters of the web process, and gauges read from the database, in Prometheus' text format at
/metrics. Each gunicorn worker counts its own; a scraper adds them up. What workers and schedulers
do shows in the gauges (they serve no HTTP) and in their logs.
"""

from __future__ import annotations

import threading
from collections import Counter

_lock = threading.Lock()
_counters: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()

HELP = {
    "redis_unavailable_total": "Operations of this process that found Redis unavailable",
    "jobs_queued": "Job runs waiting to run",
    "jobs_started": "Job runs running",
    "jobs_in_outbox": "Queued runs not yet handed to Redis (Redis was away)",
    "jobs_with_silent_heartbeat": "Running jobs whose heartbeat stopped (about to be taken over)",
}


def incr(name: str, amount: int = 1, **labels: str) -> None:
    key = (name, tuple(sorted((k, str(v)) for k, v in labels.items())))
    with _lock:
        _counters[key] += amount


def render(gauges: dict[str, int] | None = None) -> str:
    """The counters, and the gauges given, in Prometheus' text exposition format."""
    with _lock:
        items = sorted(_counters.items())
    lines: list[str] = []
    for name, number in sorted((gauges or {}).items()):
        lines += [f"# HELP {name} {HELP.get(name, name)}", f"# TYPE {name} gauge"]
        lines.append(f"{name} {number}")
    seen: set[str] = set()
    for (name, labels), count in items:
        if name not in seen:
            seen.add(name)
            lines.append(f"# HELP {name} {HELP.get(name, name)}")
            lines.append(f"# TYPE {name} counter")
        label_text = ",".join(f'{k}="{v}"' for k, v in labels)
        lines.append(f"{name}{{{label_text}}} {count}" if label_text else f"{name} {count}")
    return "\n".join(lines) + "\n"
