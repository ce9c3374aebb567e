"""Process-local counters, exposed in Prometheus' text format at /metrics.

Each process (gunicorn worker, RQ worker, scheduler) counts its own; a scraper adds them up. Kept
small on purpose: a counter is a name, a few labels and a number.
"""

from __future__ import annotations

import threading
from collections import Counter

_lock = threading.Lock()
_counters: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()

HELP = {
    "redis_unavailable_total": "Operations that found Redis unavailable and fell back",
    "jobs_relayed_total": "Queued jobs the outbox relay handed to Redis",
    "jobs_recovered_total": "Runs taken over after their worker died",
    "periodic_enqueued_total": "Periodic job slots the scheduler asked for",
}


def incr(name: str, amount: int = 1, **labels: str) -> None:
    key = (name, tuple(sorted((k, str(v)) for k, v in labels.items())))
    with _lock:
        _counters[key] += amount


def value(name: str, **labels: str) -> int:
    key = (name, tuple(sorted((k, str(v)) for k, v in labels.items())))
    with _lock:
        return _counters[key]


def render() -> str:
    """The counters in Prometheus' text exposition format."""
    with _lock:
        items = sorted(_counters.items())
    lines: list[str] = []
    seen: set[str] = set()
    for (name, labels), count in items:
        if name not in seen:
            seen.add(name)
            lines.append(f"# HELP {name} {HELP.get(name, name)}")
            lines.append(f"# TYPE {name} counter")
        label_text = ",".join(f'{k}="{v}"' for k, v in labels)
        lines.append(f"{name}{{{label_text}}} {count}" if label_text else f"{name} {count}")
    return "\n".join(lines) + "\n"
